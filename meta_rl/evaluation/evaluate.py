"""Whole evaluations: an agent next to baselines on the same test episodes.

  `test_core(task, metadata, ...)`                          the core to test
      an exported agent on (the task as trained, or another);
  `evaluate_core(policy, core, num_episodes, ...)`         a project task;
  `evaluate_dm_env(policy, env_factory, num_episodes, ...)` a user's own
      dm_env task (or a dm_env face of a project task), from a factory
      called with `seed=`.
Both evaluations take a SavedModel path, a `MetaRLAgent` or a policy and
return an `Evaluation`: per-policy summaries (`summary.summarise`), the
agent's episodes and the table launch/evaluate.py prints
(`summary.format_table`).
"""

import dataclasses
import importlib
import os
import types
from typing import Any, Callable, Dict, List, Optional, Sequence

import dm_env

import environments
from environments import core as core_lib
from meta_rl import task_specs
from meta_rl.evaluation.policies import (AgentPolicy, SavedModelPolicy,
                                         SignatureMismatchError)
from meta_rl.evaluation.rollout import play_dm_env_episodes, play_episodes
from meta_rl.evaluation.summary import format_table, metric_names, summarise


def load_saved_model(path: str, greedy: bool = False) -> SavedModelPolicy:
  """The SavedModel at `path` as a policy, its metadata checked
  (`SavedModelPolicy.check_metadata`). Raises ValueError with one line
  (`SignatureMismatchError`'s own message) if it cannot be loaded."""
  try:
    policy = SavedModelPolicy(path, greedy=greedy)
  except SignatureMismatchError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    # Missing or damaged files (variables, saved_model.pb, meta_rl.json) give
    # whatever TF's readers raise: OpError, OSError, IndexError, ValueError
    # (json.JSONDecodeError, protobuf's DecodeError), ...
    message = (str(e).strip().splitlines() or [type(e).__name__])[0]
    raise ValueError(f'cannot load SavedModel {path}: {message}') from e
  policy.check_metadata()
  return policy


def project_test_core(metadata: Dict[str, Any], task: Optional[str] = None,
                      **overrides):
  """`test_core` for a SavedModel's `metadata` on `task` (default: the task
  it was trained on), which must be a task of this project: a SavedModel
  without metadata or trained on a user's own task raises ValueError
  saying how to evaluate it (as do bad task arguments: TypeError too).
  Returns `(task, core, kwargs, outside)`, `outside` naming each task
  argument that differs from training: `(name, value, trained value)`."""
  task = task or metadata.get('task')
  if task is None:
    raise ValueError('the SavedModel has no meta_rl metadata (no task): pass '
                     '`task`=TASK, or `env_factory`=module:callable for a '
                     'dm_env task')
  if task not in environments.TASKS:
    raise ValueError(
        f'the SavedModel was trained on {task!r}, which is not one '
        f"of this project's tasks ({', '.join(environments.TASKS)}): "
        'evaluate it on your dm_env task with `env_factory`=module:callable '
        '(called with seed=) or from Python with '
        'meta_rl.evaluation.evaluate_dm_env')
  core, kwargs = test_core(task, metadata, **overrides)
  trained_kwargs = metadata.get('task_kwargs', {})
  outside = [(k, v, trained_kwargs[k]) for k, v in kwargs.items()
             if k in trained_kwargs and trained_kwargs[k] != v]
  return task, core, kwargs, outside


def test_core(task: str, metadata: Dict[str, Any], **overrides):
  """The core to test an exported agent on, and the task arguments used.

  The task as trained (its arguments, e.g. num_trials or swap_prob, and
  action repeat, from the SavedModel's `metadata`) when `task` is the
  training task or its test variant (`meta_rl.task_specs.TEST_VARIANTS`, e.g.
  restless_test of restless); another task keeps only the trained episode
  length (num_trials) and action repeat. Then the task's test variant
  (`meta_rl.task_specs.TEST_KWARGS`, e.g. Harlow's held-out images) and
  `overrides` replace task arguments. Returns `(core, kwargs)`; raises
  ValueError for an unknown task or bad arguments.
  """
  kwargs = dict(metadata.get('task_kwargs', {}))
  trained = metadata.get('task')
  if task != trained and task_specs.TEST_VARIANTS.get(task) != trained:
    kwargs = {k: v for k, v in kwargs.items() if k == 'num_trials'}
  kwargs.update(task_specs.TEST_KWARGS.get(task, {}))
  kwargs.update(overrides)
  core = environments.make_core(
      task, action_repeat=metadata.get('action_repeat', 1), **kwargs)
  return core, kwargs


@dataclasses.dataclass
class Evaluation:
  """An agent and baselines evaluated on the same test episodes.

  Attributes:
    task: the name the outputs go by (the test task, or a user's task).
    results: policy name ('agent' first, then each baseline) -> `summarise`
      output (means and SEs of reward and of every task metric).
    episodes: the agent's episodes (`play_episodes` arrays, with `states`
      when recorded).
    metrics: the task metrics (`metric_names`).
  """
  task: str
  results: Dict[str, Dict[str, Any]]
  episodes: Dict[str, Any]
  metrics: List[str]

  @property
  def summary(self) -> Dict[str, Any]:
    """The agent's summary (`results['agent']`)."""
    return self.results['agent']

  def table(self) -> str:
    return format_table(self.results, self.metrics)


def _as_policy(policy, greedy: bool):
  """A SavedModel path, a `MetaRLAgent` or a policy -> a policy."""
  if isinstance(policy, (str, os.PathLike)):
    return SavedModelPolicy(os.fspath(policy), greedy=greedy)
  if hasattr(policy, 'core_step') and hasattr(policy, 'state_sizes'):
    return AgentPolicy(policy, greedy=greedy)
  return policy


def baseline_names(names: Sequence[str], default: Sequence[str]) -> List[str]:
  """`names` with 'auto' replaced by `default` (empty names dropped)."""
  out = []
  for name in names:
    if name == 'auto':
      out += [d for d in default if d not in out]
    elif name and name not in out:
      out.append(name)
  return out


def evaluate_core(policy, core: core_lib.BatchedCore, num_episodes: int, *,
                  seed: int = 0, baselines: Sequence[str] = ('auto',),
                  baseline_options: Optional[Dict[str, float]] = None,
                  greedy: bool = False, record_states: bool = False,
                  record_episodes: Optional[int] = None,
                  task: Optional[str] = None,
                  log: Optional[Callable[[str], None]] = None) -> Evaluation:
  """Evaluates an agent frozen on a project task, next to baselines.

  Args:
    policy: a SavedModel path (a version dir or a base path), a
      `MetaRLAgent` or a policy (`SavedModelPolicy`, `AgentPolicy`, ...).
    core: the test task (e.g. from `test_core`).
    num_episodes: test episodes, the same for every policy.
    seed: seed of the episodes and the action draws.
    baselines: names of `meta_rl.baselines`; 'auto' is the task's
      `default_baselines`.
    baseline_options: options of the baselines (`baselines.OPTIONS`).
    greedy: argmax actions instead of samples (a path or agent `policy`).
    record_states, record_episodes: see `play_episodes`.
    task: the name of the evaluation (default: the core's name).
    log: called with a line before each policy plays (after every check).
  Returns:
    Evaluation.
  Raises:
    SignatureMismatchError: a SavedModel that does not fit the task.
    ValueError: a baseline that is unknown or does not fit the task.
  """
  from meta_rl import baselines as baselines_lib  # pylint: disable=g-import-not-at-top
  policy = _as_policy(policy, greedy)
  if isinstance(policy, SavedModelPolicy):
    policy.check_fits_core(core)
  names = baseline_names(baselines, task_specs.default_baselines(core))
  bases = [baselines_lib.make_baseline(b, core, **(baseline_options or {}))
           for b in names]
  task = task or core.name
  log = log or (lambda line: None)
  log(f'{task}: agent, {num_episodes} episodes')
  episodes = play_episodes(core, policy, num_episodes, seed=seed,
                           record_states=record_states,
                           record_episodes=record_episodes)
  results = {'agent': summarise(episodes, core.derived_metrics)}
  for name, b in zip(names, bases):
    log(f'{task}: {name}, {num_episodes} episodes')
    results[name] = summarise(play_episodes(core, b, num_episodes, seed=seed),
                              core.derived_metrics)
  return Evaluation(task, results, episodes, metric_names(episodes))


# Baselines that need nothing of a task but its number of actions, so also
# play a user's own dm_env task.
class EnvFactoryError(Exception):
  """A user's env factory (`load_env_factory`) failed to make an
  environment; the message is one line naming it."""


def load_env_factory(spec: str) -> Callable[..., dm_env.Environment]:
  """The `module:callable` factory `spec` (`evaluate_dm_env`'s
  `env_factory`), wrapped so that its failures are one line naming it
  (`EnvFactoryError`); named after the callable. Raises ValueError if
  `spec` does not name a callable."""
  module, sep, name = spec.partition(':')
  if not sep or not module or not name:
    raise ValueError(f'`env_factory` must be module:callable, got {spec!r}')
  try:
    factory = getattr(importlib.import_module(module), name)
  except (ImportError, AttributeError) as e:
    raise ValueError(f'cannot load `env_factory` {spec}: {e}') from e
  if not callable(factory):
    raise ValueError(f'`env_factory` {spec} is not callable')

  def make(seed):
    try:
      return factory(seed=seed)
    except Exception as e:  # pylint: disable=broad-except
      message = (str(e).splitlines() or [''])[0]
      raise EnvFactoryError(f'`env_factory` {spec}(seed={seed}) failed: '
                            f'{type(e).__name__}: {message}') from e

  make.__name__ = name
  return make


TASK_AGNOSTIC_BASELINES = ('random', 'ucb1', 'ucb', 'rw_0.2', 'rw_0.8')


def evaluate_dm_env(policy, env_factory: Callable[..., dm_env.Environment],
                    num_episodes: int, *, seed: int = 0, num_envs: int = 16,
                    baselines: Sequence[str] = ('auto',),
                    baseline_options: Optional[Dict[str, float]] = None,
                    greedy: bool = False, record_states: bool = False,
                    record_episodes: Optional[int] = None,
                    task: Optional[str] = None,
                    max_steps: int = 100_000,
                    log: Optional[Callable[[str], None]] = None) -> Evaluation:
  """Evaluates an agent frozen on a user's own dm_env task, next to
  baselines where they apply.

      result = evaluation.evaluate_dm_env('runs/mine/saved_model', MyEnv, 200)
      result.summary['episode_return']; print(result.table())

  Args:
    policy: a SavedModel path (a version dir or a base path), a
      `MetaRLAgent` or a policy; a SavedModel is checked against the
      environments' observation and action specs.
    env_factory: called as `env_factory(seed=s)`, returns a
      `dm_env.Environment` with dict observations (the keys the agent was
      trained on) and a `DiscreteArray` action spec; `step_metrics()` and
      `task_info()` are used where the environment has them (see
      `play_dm_env_episodes`).
    num_episodes: test episodes for each policy.
    seed: the environments get seeds seed, seed + 1, ..., seed + num_envs - 1
      (made afresh for each policy, so all meet the same seeds); also the
      seed of the action draws.
    num_envs: environments stepped in lockstep.
    baselines: baseline names. On a dm_env face of a project task (an
      environment with a `core`, e.g. `environments.make_environment`) any
      baseline of that task, 'auto' being its `default_baselines`; on a
      user's task only `TASK_AGNOSTIC_BASELINES`, 'auto' being 'random'.
    baseline_options, greedy, record_states, record_episodes: as
      `evaluate_core`.
    task: the name of the evaluation (default: the factory's name).
    max_steps: an episode running longer raises RuntimeError.
    log: called with a line before each policy plays (after every check).
  Returns:
    Evaluation.
  Raises:
    SignatureMismatchError: a SavedModel that does not fit the environments.
    ValueError: environments without dict observations or discrete actions,
      or a baseline that does not apply.
  """
  from meta_rl import baselines as baselines_lib  # pylint: disable=g-import-not-at-top
  if num_envs < 1:
    raise ValueError(f'num_envs must be >= 1, got {num_envs}')
  task = task or getattr(env_factory, '__name__', type(env_factory).__name__)

  def make_envs():
    return [env_factory(seed=seed + i) for i in range(num_envs)]

  envs = make_envs()
  missing = [m for m in ('reset', 'step', 'observation_spec', 'action_spec')
             if not callable(getattr(envs[0], m, None))]
  if missing:
    raise ValueError(f'{task}: the environment factory returned '
                     f'{type(envs[0]).__name__!r}, not a dm_env.Environment '
                     f'(no {missing[0]}())')
  spec = envs[0].observation_spec()
  if not isinstance(spec, dict):
    raise ValueError(f'{task}: observation_spec() must be a dict of specs '
                     f'(the agent\'s inputs by name), got {type(spec).__name__}')
  num_actions = getattr(envs[0].action_spec(), 'num_values', None)
  if num_actions is None:
    raise ValueError(f'{task}: action_spec() must be a dm_env '
                     'specs.DiscreteArray (a number of discrete actions)')
  policy = _as_policy(policy, greedy)
  if isinstance(policy, SavedModelPolicy):
    policy.check_fits(spec, int(num_actions), task)
  core = getattr(envs[0], 'core', None)  # a face of a project task
  if core is not None:
    names = baseline_names(baselines, task_specs.default_baselines(core))
  else:
    names = baseline_names(baselines, ('random',))
    other = [n for n in names if n not in TASK_AGNOSTIC_BASELINES]
    if other:
      raise ValueError(
          f'baseline {other[0]!r} needs one of this project\'s tasks; on a '
          f'user\'s dm_env task only {", ".join(TASK_AGNOSTIC_BASELINES)} '
          'apply')
    core = types.SimpleNamespace(name=task, num_actions=int(num_actions))
  bases = [baselines_lib.make_baseline(b, core, **(baseline_options or {}))
           for b in names]
  derived = getattr(core, 'derived_metrics', None)
  log = log or (lambda line: None)
  log(f'{task}: agent, {num_episodes} episodes')
  episodes = play_dm_env_episodes(envs, policy, num_episodes, seed=seed,
                                  record_states=record_states,
                                  record_episodes=record_episodes,
                                  max_steps=max_steps)
  results = {'agent': summarise(episodes, derived)}
  for name, b in zip(names, bases):
    log(f'{task}: {name}, {num_episodes} episodes')
    results[name] = summarise(play_dm_env_episodes(
        make_envs(), b, num_episodes, seed=seed, max_steps=max_steps), derived)
  return Evaluation(task, results, episodes, metric_names(episodes))
