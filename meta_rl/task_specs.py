"""What the experiment layer knows of each task, beside its dynamics.

A task (`environments`) defines its dynamics, its metrics
(`StepOutput.metrics`, `derived_metrics`, `progress_metrics`) and the rewards
it can pay. What an *experiment* does with it lives here, as bsuite keeps its
experiments' settings beside its environments:

  TaskSpec           per task class: the comparison policies evaluation runs
                     by default (`baselines`; `repeat_baselines` under
                     `ActionRepeat`) and the logged scalar that ranks agents
                     (`sweep_metric`, 'min' or 'max': the sweeps' score and
                     the held-out evaluation's best checkpoint);
  spec(core)         the TaskSpec of a core (its class or nearest base class
                     in `SPECS`; a user's own task gets the defaults, or
                     `register` its own);
  LAUNCHER_TASKS     the tasks each training launcher offers (`--task`);
  TEST_VARIANTS      test tasks that are a variant of a training task;
  TEST_KWARGS        arguments that turn a training task into its test
                     variant (Harlow's held-out images);
  SEARCH_SPACES      the documented default sweep space per launcher.
"""

import dataclasses
import types
from typing import Mapping, Tuple, Type

from environments import bandits
from environments import core as core_lib
from environments import harlow
from environments import informative_bandit
from environments import maze
from environments import restless_bandit
from environments import two_step


@dataclasses.dataclass(frozen=True)
class TaskSpec:
  """What evaluation and sweeps use of a task.

  Attributes:
    baselines: names of `meta_rl.baselines` policies evaluation compares
      the agent with by default.
    repeat_baselines: those that decide per agent decision, so that they also
      fit the task under `ActionRepeat`.
    sweep_metric: the logged scalar (an `episode_<sum>` or a derived metric)
      that ranks agents of the task.
    sweep_mode: 'min' or 'max': which end of `sweep_metric` is best.
  """
  baselines: Tuple[str, ...] = ('random',)
  repeat_baselines: Tuple[str, ...] = ('random',)
  sweep_metric: str = 'episode_return'
  sweep_mode: str = 'max'

  def __post_init__(self):
    if self.sweep_mode not in ('min', 'max'):
      raise ValueError(f"sweep_mode must be 'min' or 'max', got "
                       f'{self.sweep_mode!r}')

  def baselines_for(self, action_repeat: int) -> Tuple[str, ...]:
    """The default baselines of the task played at `action_repeat`."""
    return self.baselines if action_repeat == 1 else self.repeat_baselines


# Keyed by task class; a subclass without its own entry has its nearest base
# class's spec.
SPECS = {
    core_lib.BatchedCore: TaskSpec(),
    core_lib.TrialsCore: TaskSpec(sweep_metric='episode_regret',
                                  sweep_mode='min'),
    bandits.BernoulliBandit: TaskSpec(
        baselines=('bayes_optimal', 'gittins', 'thompson', 'ucb1', 'random'),
        sweep_metric='episode_regret', sweep_mode='min'),
    informative_bandit.InformativeBandit: TaskSpec(
        baselines=('thompson_informative', 'ucb1', 'random'),
        sweep_metric='episode_regret', sweep_mode='min'),
    restless_bandit.RestlessBandit: TaskSpec(
        baselines=('ucb', 'thompson_restless', 'rw_0.2', 'rw_0.8', 'random'),
        sweep_metric='episode_regret', sweep_mode='min'),
    two_step.TwoStepTask: TaskSpec(
        baselines=('model_based', 'model_free', 'model_free_canonical',
                   'random'),
        sweep_metric='reward_per_trial', sweep_mode='max'),
    harlow.HarlowTask: TaskSpec(
        baselines=('ideal', 'random'), repeat_baselines=('ideal', 'random'),
        sweep_metric='p_correct_later', sweep_mode='max'),
    maze.MazeTask: TaskSpec(),
}


def register(task_class: Type[core_lib.BatchedCore], task_spec: TaskSpec
             ) -> None:
  """Gives a user's task class (and its subclasses) its own spec."""
  if not (isinstance(task_class, type) and
          issubclass(task_class, core_lib.BatchedCore)):
    raise TypeError(f'{task_class!r} is not a BatchedCore class')
  SPECS[task_class] = task_spec


def spec(core: core_lib.BatchedCore) -> TaskSpec:
  """The TaskSpec of `core` (through `ActionRepeat`): that of its class or
  nearest base class in `SPECS`."""
  for cls in type(core_lib.unwrap(core)).__mro__:
    if cls in SPECS:
      return SPECS[cls]
  raise TypeError(f'{type(core).__name__} is not a BatchedCore')


def default_baselines(core: core_lib.BatchedCore) -> Tuple[str, ...]:
  """The baselines evaluation compares with on `core` by default."""
  repeat = core.repeat if isinstance(core, core_lib.ActionRepeat) else 1
  return spec(core).baselines_for(repeat)


def sweep_metric(core: core_lib.BatchedCore) -> Tuple[str, str]:
  """(scalar, 'min' or 'max') that ranks agents on `core`."""
  s = spec(core)
  return s.sweep_metric, s.sweep_mode


LAUNCHER_TASKS: Mapping[str, Tuple[str, ...]] = types.MappingProxyType({
    'bandits': bandits.DISTRIBUTIONS + ('informative', 'restless'),
    'two_step': ('two_step',),
    'harlow': ('harlow',),
    'navigation': ('imaze',),
})

# {test task: training task}: an agent trained on the training task is
# tested on the variant with all its task arguments (e.g. the restless
# bandit's `volatility_scale`), not only its episode length.
TEST_VARIANTS: Mapping[str, str] = types.MappingProxyType(
    {'restless_test': 'restless'})

# Arguments that turn a training task into its test variant.
TEST_KWARGS: Mapping[str, Mapping[str, object]] = types.MappingProxyType(
    {'harlow': types.MappingProxyType({'split': 'test'})})

# The documented default search spaces, per training launcher: the paper's
# log-uniform learning rate, discount and entropy cost, plus the seed,
# centred on the values of the shipped flagfiles.
SEARCH_SPACES: Mapping[str, str] = types.MappingProxyType({
    'bandits': ('learning_rate=loguniform:1e-3:1e-2,'
                'gamma=uniform:0.7:0.99,'
                'beta_e=loguniform:0.005:0.1,'
                'seed=randint:0:1000000'),
    'two_step': ('learning_rate=loguniform:1e-3:1e-2,'
                 'gamma=uniform:0.7:0.99,'
                 'beta_e=loguniform:0.005:0.1,'
                 'seed=randint:0:1000000'),
    'harlow': ('learning_rate=loguniform:1e-4:2e-3,'
               'gamma=uniform:0.8:0.99,'
               'beta_e=loguniform:0.001:0.05,'
               'seed=randint:0:1000000'),
    'navigation': ('learning_rate=loguniform:1e-4:2e-3,'
                   'gamma=uniform:0.9:0.995,'
                   'beta_e=loguniform:0.001:0.05,'
                   'seed=randint:0:1000000'),
})
