"""Tasks of "Learning to Reinforcement Learn" as batched TF cores + dm_env faces."""

import functools
import operator

from environments.bandits import BernoulliBandit, DISTRIBUTIONS as BANDIT_TASKS
from environments.core import (ActionRepeat, BatchedCore, RenderedCore,
                               StepOutput, TrialsCore, batched_spec, fold_in,
                               make_key, select, split_key, step_autoreset,
                               unwrap)
from environments.dm_env_face import CoreEnvironment
from environments.harlow import HarlowConfig, HarlowTask
from environments.informative_bandit import InformativeBandit
from environments.maze import MazeConfig, MazeTask
from environments.restless_bandit import RestlessBandit
from environments.two_step import TwoStepTask

TASKS = {name: functools.partial(BernoulliBandit, name) for name in BANDIT_TASKS}
TASKS.update({
    'informative': InformativeBandit,  # Exp 3 (Section 3.1.3)
    'restless': lambda **kw: RestlessBandit('train', **kw),  # Exp 4
    'restless_test': lambda **kw: RestlessBandit('test', **kw),
    'two_step': TwoStepTask,  # Exp 5 (Section 3.2.1)
    'harlow': HarlowTask,  # Exp 6 (Section 3.2.2); split='test': held out
    'imaze': MazeTask,  # Exp 7 (Section 3.2.3)
})


def make_core(task: str, action_repeat: int = 1, **kwargs) -> BatchedCore:
  """The batched core of a named task (see `TASKS`), built with the task's
  keyword arguments and wrapped in `ActionRepeat` if `action_repeat` > 1.

  Raises ValueError for an unknown task, arguments the task does not take or
  an `action_repeat` that is not an integer >= 1.
  """
  if task not in TASKS:
    raise ValueError(f'unknown task {task!r}; choose one of {", ".join(TASKS)}')
  try:
    repeat = operator.index(action_repeat)  # ints, NumPy ints
  except TypeError:
    repeat = 0
  if repeat < 1:
    raise ValueError(f'action_repeat must be an integer >= 1, got '
                     f'{action_repeat!r}')
  try:
    core = TASKS[task](**kwargs)
  except TypeError as e:
    raise ValueError(f'task {task!r}: {e}') from e
  return ActionRepeat(core, repeat) if repeat > 1 else core


def make_environment(task: str, *, seed: int, **kwargs) -> CoreEnvironment:
  """The `dm_env.Environment` face (batch size 1) of a named task.

  `seed` is required: environments built with the same seed produce the same
  tasks and rewards, so give each of several environments its own seed.
  """
  return CoreEnvironment(make_core(task, **kwargs), seed=seed)


__all__ = [
    # Writing a task: the interface, its bases and helpers.
    'BatchedCore', 'RenderedCore', 'TrialsCore', 'StepOutput', 'ActionRepeat',
    'unwrap', 'step_autoreset', 'make_key', 'fold_in', 'split_key', 'select',
    'batched_spec', 'CoreEnvironment',
    # The paper's tasks.
    'BernoulliBandit', 'InformativeBandit', 'RestlessBandit', 'TwoStepTask',
    'HarlowConfig', 'HarlowTask', 'MazeConfig', 'MazeTask', 'BANDIT_TASKS',
    'TASKS', 'make_core', 'make_environment',
]
