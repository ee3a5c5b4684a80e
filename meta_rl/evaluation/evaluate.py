"""Frozen evaluation: play test episodes with a fixed policy, on any task.

Policies:
  `SavedModelPolicy`  an exported agent, loaded with plain `tf.saved_model.load`
                      (no code of this project runs inside the model);
  `AgentPolicy`       an in-memory `MetaRLAgent` (during training, in tests);
  baselines           NumPy policies of `meta_rl.baselines`.
All follow one protocol: `initial_state(batch_size)` and
`step(inputs, state, rng) -> (action int32 [B], state)` on NumPy arrays, where
`inputs` holds `prev_action` (-1 on the first step), `prev_reward` (0 on the
first step) and the observation keys. The two TF policies also offer
`tf_initial_state` and `tf_step(inputs, state, key)` for graph code.

Tasks:
  `play_episodes(core, policy, ...)`        a batched TF core. With a TF
      policy the whole episode loop runs in one `tf.function` (environment and
      network in the graph); with a NumPy policy, one Python step per time
      step. The environment draws the same random numbers either way (step t
      uses `fold_in(make_key(seed), t)`), so all policies meet the same tasks.
  `play_dm_env_episodes(envs, policy, ...)` any `dm_env.Environment`s (a
      user's own task), stepped from Python.
Both return the same dict of per-episode, per-step arrays; `summarise` turns
it into means and standard errors of reward and of every task metric.

Whole evaluations, an agent next to baselines on the same episodes:
  `evaluate_core(policy, core, num_episodes, ...)`         a project task;
  `evaluate_dm_env(policy, env_factory, num_episodes, ...)` a user's own
      dm_env task (or a dm_env face of a project task), from a factory
      called with `seed=`.
Both take a SavedModel path or a policy and return an `Evaluation`:
per-policy summaries, the agent's episodes and the table launch/evaluate.py
prints (`format_table`); `write_tensorboard` writes its headline numbers.
"""

import dataclasses
import itertools
import json
import os
import types
from typing import Any, Callable, Dict, List, Optional, Sequence

import dm_env
import numpy as np
import tensorflow as tf

import environments
from environments import core as core_lib
from meta_rl import export as export_lib
from meta_rl import files
from meta_rl.files import write_json, write_text  # pylint: disable=unused-import
from meta_rl.agent import sample_action


class SignatureMismatchError(ValueError):
  """A SavedModel's signature does not fit the task."""


def _key_from(rng: np.random.Generator) -> tf.Tensor:
  return tf.constant(rng.integers(0, 2**31 - 1, size=2), tf.int32)


class TFPolicy:
  """Base of policies computed by TF: subclasses define `_network(inputs,
  state) -> (logits, value, next state)` and `state_names`; actions are
  drawn by `meta_rl.agent.sample_action` (stateless, keyed) or taken
  greedily."""

  greedy: bool = False
  state_names: List[str] = []

  def _network(self, inputs, state):
    raise NotImplementedError

  def tf_initial_state(self, batch_size) -> Dict[str, tf.Tensor]:
    raise NotImplementedError

  def tf_step(self, inputs, state, key):
    """Graph-side step: (action int32 [B], next state) with a [2] int32 key."""
    action, _, state = self.tf_step_with_value(inputs, state, key)
    return action, state

  def tf_step_with_value(self, inputs, state, key):
    """`tf_step` that also returns the value estimate float32 [B]."""
    logits, value, state = self._network(inputs, state)
    return sample_action(logits, key, self.greedy), value, state

  def initial_state(self, batch_size: int) -> Dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in self.tf_initial_state(batch_size).items()}

  def step(self, inputs, state, rng):
    action, state = self.tf_step(inputs, state, _key_from(rng))
    return action.numpy(), {k: v.numpy() for k, v in state.items()}


class _SpecView:
  """The fields of a spec as `export.spec_to_json` wrote them."""

  def __init__(self, d):
    if 'num_values' in d:
      d = dict(d, minimum=0, maximum=d['num_values'] - 1)
    self.minimum, self.maximum = d.get('minimum'), d.get('maximum')


def _spec_range(spec):
  """(min, max) over a bounded spec's elements, or None if unbounded."""
  if getattr(spec, 'minimum', None) is None:
    return None
  return (float(np.min(spec.minimum)), float(np.max(spec.maximum)))


class SavedModelPolicy(TFPolicy):
  """The exported agent as an evaluation policy (weights frozen)."""

  def __init__(self, path: str, greedy: bool = False):
    self.path = export_lib.latest_version_dir(path)
    self._model = tf.saved_model.load(self.path)
    sigs = self._model.signatures
    for name in ('step', 'initial_state'):
      if name not in sigs:
        raise SignatureMismatchError(
            f'{self.path} has no {name!r} signature; not a meta_rl agent')
    self._step = sigs['step']
    self._initial_state = sigs['initial_state']
    self.input_specs = dict(self._step.structured_input_signature[1])
    self.state_names = sorted(self._initial_state.structured_outputs)
    self.num_actions = int(self._step.structured_outputs['logits'].shape[-1])
    self.metadata = export_lib.read_metadata(self.path)
    self.greedy = greedy

  def check_fits(self, observation_spec: Dict[str, Any], num_actions: int,
                 task: str) -> None:
    """Raises SignatureMismatchError unless the signature fits a task with
    this observation spec and number of actions."""
    expected = {'prev_action', 'prev_reward', *self.state_names}
    for key, spec in observation_spec.items():
      expected.add(key)
      if key not in self.input_specs:
        raise SignatureMismatchError(
            f'SavedModel {self.path} has no input {key!r} for task '
            f'{task} (its inputs: {", ".join(sorted(self.input_specs))})')
      got = self.input_specs[key]
      if got.dtype != tf.as_dtype(spec.dtype) or list(
          got.shape[1:]) != list(spec.shape):
        raise SignatureMismatchError(
            f'SavedModel input {key!r} is {got.dtype.name}{got.shape[1:]}, '
            f'task {task} gives {np.dtype(spec.dtype).name}'
            f'{list(spec.shape)}')
    extra = set(self.input_specs) - expected
    if extra:
      raise SignatureMismatchError(
          f'SavedModel {self.path} needs inputs {sorted(extra)} that task '
          f'{task} does not provide')
    if self.num_actions != num_actions:
      raise SignatureMismatchError(
          f'SavedModel {self.path} has {self.num_actions} actions, task '
          f'{task} has {num_actions}')
    trained = self.metadata.get('observation_spec', {})
    for key, spec in observation_spec.items():
      lo_hi = _spec_range(spec)
      known = trained.get(key)
      if lo_hi is None or not known:
        continue
      model = _spec_range(_SpecView(known))
      if model is not None and (lo_hi[0] < model[0] or lo_hi[1] > model[1]):
        raise SignatureMismatchError(
            f'task {task} gives {key} in [{lo_hi[0]:g}, {lo_hi[1]:g}], outside '
            f'the [{model[0]:g}, {model[1]:g}] the SavedModel {self.path} was '
            'trained on and accepts (e.g. longer episodes: set num_trials to '
            'at most the trained length)')

  def check_fits_core(self, core: core_lib.BatchedCore) -> None:
    self.check_fits(core.observation_spec(), core.num_actions, core.name)

  def tf_initial_state(self, batch_size):
    return dict(self._initial_state(batch_size=tf.constant(batch_size, tf.int32)))

  def _network(self, inputs, state):
    feed = {k: tf.cast(v, self.input_specs[k].dtype)
            for k, v in dict(inputs, **state).items() if k in self.input_specs}
    out = self._step(**feed)
    return out['logits'], out['value'], {k: out[k] for k in self.state_names}


class AgentPolicy(TFPolicy):
  """An in-memory `MetaRLAgent` as an evaluation policy."""

  def __init__(self, agent, greedy: bool = False):
    self.agent = agent
    self.greedy = greedy
    self.state_names = sorted(agent.state_sizes)
    self.num_actions = agent.num_actions

  def tf_initial_state(self, batch_size):
    return self.agent.initial_state(batch_size)

  def _network(self, inputs, state):
    inputs = {k: tf.convert_to_tensor(v) for k, v in inputs.items()}
    out, state = self.agent.step(inputs, state)
    return out.logits, out.value, state


def checkpoint_agent(run_dir: str, checkpoint: str,
                     core: core_lib.BatchedCore):
  """The agent of one of a run's training checkpoints (e.g. one kept with
  `keep_every`, see `runner.kept_checkpoints`): the network is rebuilt from
  RUN_DIR/config.json for `core`'s observations and its weights restored
  from the checkpoint prefix `checkpoint`.

  Raises ValueError if the checkpoint does not hold this agent's weights.
  """
  from meta_rl import agent as agent_lib  # pylint: disable=g-import-not-at-top
  with open(os.path.join(run_dir, 'config.json')) as f:
    fields = json.load(f)['agent']
  config = agent_lib.AgentConfig(**{
      k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
  net = agent_lib.make_agent(core.observation_spec(), core.num_actions, config)
  try:
    tf.train.Checkpoint(agent=net).restore(
        checkpoint).expect_partial().assert_existing_objects_matched()
  except (AssertionError, ValueError, tf.errors.NotFoundError) as e:
    raise ValueError(f'checkpoint {checkpoint} does not fit the agent of '
                     f'{run_dir}: {str(e).splitlines()[0]}') from e
  return net


def saved_model_agent(path: str, observation_spec, num_actions: int):
  """An exported agent rebuilt with this version's code: the network of the
  SavedModel's `agent_config` (its metadata) for these observations and
  actions, with the SavedModel's weights copied in (e.g. to fine-tune it, or
  to check that the current agent code computes what the export did).

  Raises ValueError if the SavedModel has no agent config or its weights do
  not fit the rebuilt network (compared in tracking order, by shape).
  """
  from meta_rl import agent as agent_lib  # pylint: disable=g-import-not-at-top
  path = export_lib.latest_version_dir(path)
  fields = export_lib.read_metadata(path).get('agent_config')
  if not fields:
    raise ValueError(f'{path}: no agent_config in its metadata')
  config = agent_lib.AgentConfig(**{
      k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
  net = agent_lib.make_agent(observation_spec, num_actions, config)
  saved = tf.saved_model.load(path).variables
  if [tuple(v.shape) for v in saved] != [tuple(v.shape) for v in net.variables]:
    raise ValueError(f'the weights of {path} do not fit a {config.core} agent '
                     'of its agent_config')
  for target, value in zip(net.variables, saved):
    target.assign(value)
  return net


def checkpoint_policy(run_dir: str, checkpoint: str, core: core_lib.BatchedCore,
                      greedy: bool = False) -> AgentPolicy:
  """`checkpoint_agent` as a frozen policy."""
  return AgentPolicy(checkpoint_agent(run_dir, checkpoint, core), greedy)


def test_core(task: str, metadata: Dict[str, Any], **overrides):
  """The core to test an exported agent on, and the task arguments used.

  The task as trained (its arguments, e.g. num_trials or swap_prob, and
  action repeat, from the SavedModel's `metadata`) when `task` is the
  training task or its test variant (`environments.TEST_VARIANTS`, e.g.
  restless_test of restless); another task keeps only the trained episode
  length (num_trials) and action repeat. Then the task's test variant
  (`environments.TEST_KWARGS`, e.g. Harlow's held-out images) and
  `overrides` replace task arguments. Returns `(core, kwargs)`; raises
  ValueError for an unknown task or bad arguments.
  """
  kwargs = dict(metadata.get('task_kwargs', {}))
  trained = metadata.get('task')
  if task != trained and environments.TEST_VARIANTS.get(task) != trained:
    kwargs = {k: v for k, v in kwargs.items() if k == 'num_trials'}
  kwargs.update(environments.TEST_KWARGS.get(task, {}))
  kwargs.update(overrides)
  core = environments.make_core(
      task, action_repeat=metadata.get('action_repeat', 1), **kwargs)
  return core, kwargs


def _episodes_dict(columns: Dict[str, np.ndarray], states, record_states):
  """Assembles the output of `play_episodes` from time-major columns."""
  out = {k: np.swapaxes(v, 0, 1) for k, v in columns.items()}
  if record_states:
    out['states'] = {k: np.swapaxes(v, 0, 1) for k, v in states.items()}
  return out


def play_episodes(core: core_lib.BatchedCore, policy, num_episodes: int,
                  seed: int = 0, record_states: bool = False,
                  record_episodes: Optional[int] = None) -> Dict[str, Any]:
  """Plays `num_episodes` episodes of `core` (one each, batched).

  Returns a dict of arrays [N, T] (T = core.episode_length): `actions`,
  `rewards` and `valid` (False after an episode ended); `info_<key>`
  [N, T, ...] for every key of the task's ground truth before each step (e.g.
  `info_arm_probs`); `metric_<name>` [N, T] for every task metric (e.g.
  `metric_regret`, zero after the episode ended); for a TF policy (the
  agent), `values` [N, T]: its value estimate at each step; with `record_states`,
  `states` maps each state name to [R, T, n] (the policy state after each
  step) for the first R = `record_episodes` episodes (default: all).
  """
  n, horizon = num_episodes, core.episode_length
  record_n = n if record_episodes is None else min(n, record_episodes)
  if isinstance(policy, TFPolicy):
    columns, states = _play_in_graph(core, policy, n, horizon, seed, record_n,
                                     record_states)
  else:
    columns, states = _play_in_python(core, policy, n, horizon, seed, record_n,
                                      record_states)
  return _episodes_dict(columns, states, record_states)


def _play_in_graph(core, policy, n, horizon, seed, record_n, record_states):
  """The episode loop of a TF policy in one tf.function; time-major output."""

  @tf.function
  def play():
    root = core_lib.make_key(seed)
    act_root = core_lib.fold_in(root, -2)
    env_state, obs = core.reset(core_lib.fold_in(root, -1), n)
    state = policy.tf_initial_state(n)
    prev_action = -tf.ones([n], tf.int32)
    prev_reward = tf.zeros([n], tf.float32)
    alive = tf.ones([n], tf.bool)
    # Shapes of what a step produces, for the TensorArrays.
    _, probe = core.step(root, env_state, prev_action + 1)
    # Known element shapes: steps after every episode ended are never
    # written and stack as zeros (the loop stops early then).
    def array(dtype, shape):
      return tf.TensorArray(dtype, size=horizon, element_shape=shape)

    columns = {'actions': array(tf.int32, [n]),
               'rewards': array(tf.float32, [n]),
               'values': array(tf.float32, [n]),
               'valid': array(tf.bool, [n])}
    columns.update({f'info_{k}': array(v.dtype, v.shape)
                    for k, v in core.task_info(env_state).items()})
    columns.update({f'metric_{k}': array(tf.float32, [n])
                    for k in probe.metrics})
    states = ({k: array(tf.float32, [record_n, v.shape[-1]])
               for k, v in state.items()} if record_states else {})
    for t in tf.range(horizon):
      if not tf.reduce_any(alive):
        break
      inputs = dict(obs, prev_action=prev_action, prev_reward=prev_reward)
      action, value, state = policy.tf_step_with_value(
          inputs, state, core_lib.fold_in(act_root, t))
      info = core.task_info(env_state)
      env_state, step = core.step(core_lib.fold_in(root, t), env_state, action)
      mask = tf.cast(alive, tf.float32)
      values = {'actions': action, 'rewards': step.reward * mask,
                'values': value * mask, 'valid': alive}
      values.update({f'info_{k}': v for k, v in info.items()})
      values.update({f'metric_{k}': tf.cast(v, tf.float32) * mask
                     for k, v in step.metrics.items()})
      columns = {k: ta.write(t, values[k]) for k, ta in columns.items()}
      states = {k: ta.write(t, state[k][:record_n]) for k, ta in states.items()}
      alive = tf.logical_and(alive, tf.logical_not(step.last))
      obs, prev_action, prev_reward = step.observation, action, step.reward
    return ({k: ta.stack() for k, ta in columns.items()},
            {k: ta.stack() for k, ta in states.items()})

  columns, states = play()
  return ({k: v.numpy() for k, v in columns.items()},
          {k: v.numpy() for k, v in states.items()})


def _play_in_python(core, policy, n, horizon, seed, record_n, record_states):
  """The episode loop of a NumPy policy, one eager core step per time step."""
  rng = np.random.default_rng(seed)
  root = core_lib.make_key(seed)
  env_state, obs = core.reset(core_lib.fold_in(root, -1), n)
  state = policy.initial_state(n)
  inputs = {k: v.numpy() for k, v in obs.items()}
  inputs['prev_action'] = -np.ones(n, np.int32)
  inputs['prev_reward'] = np.zeros(n, np.float32)
  alive = np.ones(n, bool)
  rows, states = [], []
  wants_info = getattr(policy, 'uses_task_info', False)
  for t in range(horizon):
    info = core.task_info(env_state)
    if wants_info:
      inputs['task_info'] = {k: v.numpy() for k, v in info.items()}
    action, state = policy.step(inputs, state, rng)
    env_state, step = core.step(core_lib.fold_in(root, t),
                                env_state, tf.constant(action, tf.int32))
    mask = alive.astype(np.float32)
    row = {'actions': np.asarray(action, np.int32),
           'rewards': step.reward.numpy() * mask, 'valid': alive.copy()}
    row.update({f'info_{k}': v.numpy() for k, v in info.items()})
    row.update({f'metric_{k}': v.numpy() * mask
                for k, v in step.metrics.items()})
    rows.append(row)
    if record_states:
      states.append({k: np.asarray(v)[:record_n] for k, v in state.items()})
    alive &= ~step.last.numpy()
    if not alive.any():  # the remaining steps are all zeros
      break
    inputs = {k: v.numpy() for k, v in step.observation.items()}
    inputs['prev_action'] = np.asarray(action, np.int32)
    inputs['prev_reward'] = step.reward.numpy()

  def stack(items):  # [t, ...] padded with zeros to [horizon, ...]
    x = np.stack(items)
    return np.concatenate([x, np.zeros((horizon - len(x),) + x.shape[1:],
                                       x.dtype)])

  columns = {k: stack([r[k] for r in rows]) for k in rows[0]}
  states = ({k: stack([s[k] for s in states]) for k in states[0]}
            if states and states[0] else {})
  return columns, states


def play_dm_env_episodes(envs: Sequence[dm_env.Environment], policy,
                         num_episodes: int, seed: int = 0,
                         record_states: bool = False,
                         record_episodes: Optional[int] = None,
                         max_steps: int = 100_000) -> Dict[str, Any]:
  """Plays `num_episodes` episodes on Python `dm_env.Environment`s.

  The B = len(envs) environments play in lockstep, one episode each per
  round, until `num_episodes` episodes are done; observations must be dicts
  with the keys the policy needs. Per-step ground truth comes from an
  environment's `task_info()` and metrics from its `step_metrics()`, where it
  has these methods (this project's dm_env faces do). Returns the arrays of
  `play_episodes`, with T the longest episode. Raises RuntimeError if an
  episode runs past `max_steps`.
  """
  rng = np.random.default_rng(seed)
  b = len(envs)
  episodes, states_out = [], []
  record_n = num_episodes if record_episodes is None else record_episodes
  while len(episodes) < num_episodes:
    m = min(b, num_episodes - len(episodes))
    active = list(envs[:m])
    timesteps = [env.reset() for env in active]
    state = policy.initial_state(m)
    prev_action = -np.ones(m, np.int32)
    prev_reward = np.zeros(m, np.float32)
    alive = np.ones(m, bool)
    rows, states = [], []
    for _ in range(max_steps):
      inputs = {k: np.stack([np.asarray(ts.observation[k]) for ts in timesteps])
                for k in timesteps[0].observation}
      inputs.update(prev_action=prev_action, prev_reward=prev_reward)
      infos = [env.task_info() if hasattr(env, 'task_info') else {}
               for env in active]
      if getattr(policy, 'uses_task_info', False) and infos[0]:
        inputs['task_info'] = {k: np.stack([np.asarray(x[k]) for x in infos])
                               for k in infos[0]}
      action, state = policy.step(inputs, state, rng)
      action = np.asarray(action, np.int32)
      row = {'actions': action, 'rewards': np.zeros(m, np.float32),
             'valid': alive.copy()}
      metrics = []
      for i, env in enumerate(active):
        if alive[i]:
          timesteps[i] = env.step(int(action[i]))
        get = getattr(env, 'step_metrics', None)
        metrics.append(get() if get and alive[i] else {})
        row['rewards'][i] = timesteps[i].reward if alive[i] else 0.0
      for k in (infos[0] or {}):
        row[f'info_{k}'] = np.stack([np.asarray(x[k]) for x in infos])
      for k in next((x for x in metrics if x), {}):
        row[f'metric_{k}'] = np.array([x.get(k, 0.0) for x in metrics],
                                      np.float32)
      rows.append(row)
      if record_states and len(episodes) * b < record_n:
        states.append(dict(state))
      prev_action, prev_reward = action, row['rewards'].copy()
      alive &= np.array([not ts.last() for ts in timesteps])
      if not alive.any():
        break
    else:
      raise RuntimeError(f'an episode ran past max_steps={max_steps}')
    columns = {k: np.stack([r.get(k, np.zeros_like(rows[-1][k])) for r in rows])
               for k in rows[-1]}
    episodes.append(_episodes_dict(columns, {}, False))
    if record_states and len(episodes) * b < record_n + b:
      states_out.append({k: np.swapaxes(np.stack([s[k] for s in states]), 0, 1)
                         for k in state})
  horizon = max(e['actions'].shape[1] for e in episodes)

  def pad(x):
    width = [(0, 0), (0, horizon - x.shape[1])] + [(0, 0)] * (x.ndim - 2)
    return np.pad(x, width)

  out = {k: np.concatenate([pad(e[k]) for e in episodes])[:num_episodes]
         for k in episodes[0]}
  if record_states:
    out['states'] = {k: np.concatenate([pad(s[k]) for s in states_out])[:record_n]
                     for k in states_out[0]}
  return out


def write_recording(path: str, task: str, episodes: Dict[str, Any],
                    num_episodes: int) -> None:
  """Writes the first `num_episodes` of `play_episodes`' output to the
  compressed .npz `path` (`task`, every per-step array, `state_<name>` for
  recorded states), whole or not at all (`files.atomic_file`): a kill while
  writing leaves no truncated file behind."""
  states = episodes.get('states', {})
  kept = {k: v[:num_episodes] for k, v in episodes.items() if k != 'states'}
  with files.atomic_file(path, 'wb') as f:
    np.savez_compressed(f, task=np.array(task), **kept,
                        **{f'state_{k}': v for k, v in states.items()})


def metric_names(episodes: Dict[str, Any]) -> List[str]:
  return sorted(k[len('metric_'):] for k in episodes if k.startswith('metric_'))


def summarise(episodes: Dict[str, Any],
              derived: Optional[Callable[[Dict[str, float]], Dict[str, float]]] = None
              ) -> Dict[str, Any]:
  """Means and standard errors of an evaluation.

  Reward: `episode_reward_mean/se`, `cumulative_reward_mean/se` per step.
  Every task metric m (e.g. regret): `final_<m>_mean/se` (its episode sum),
  `cumulative_<m>_mean/se` and `<m>_per_step` (mean over episodes per step).
  `derived` (a core's `derived_metrics`) adds the task's own scalars from the
  sums over all episodes.
  """
  n = episodes['actions'].shape[0]

  def curve(x):  # [N, T] -> cumulative mean and SE per step
    cum = np.cumsum(x, axis=1)
    return cum.mean(0), cum.std(axis=0, ddof=1) / np.sqrt(n)

  reward_mean, reward_se = curve(episodes['rewards'])
  summary = {'num_episodes': int(n),
             'cumulative_reward_mean': reward_mean.tolist(),
             'cumulative_reward_se': reward_se.tolist(),
             'episode_reward_mean': float(reward_mean[-1]),
             'episode_reward_se': float(reward_se[-1])}
  totals = {'episodes': float(n), 'return': float(episodes['rewards'].sum())}
  for m in metric_names(episodes):
    values = episodes[f'metric_{m}']
    mean, se = curve(values)
    summary.update({f'cumulative_{m}_mean': mean.tolist(),
                    f'cumulative_{m}_se': se.tolist(),
                    f'final_{m}_mean': float(mean[-1]),
                    f'final_{m}_se': float(se[-1]),
                    f'{m}_per_step': values.mean(0).tolist()})
    totals[m] = float(values.sum())
  if derived is not None:
    summary.update(derived(totals))
  return summary


def format_table(results: Dict[str, Dict[str, Any]],
                 metrics: Sequence[str]) -> str:
  """The evaluation table: a row per policy, the mean +- SE per episode of
  the reward and of every task metric in `metrics`; column widths come from
  the content (long baseline names, large values), the +- of a column
  aligned."""
  header = ['policy', 'reward', *metrics]
  keys = ['episode_reward', *(f'final_{m}' for m in metrics)]
  rows = [[(f'{s[f"{k}_mean"]:.2f}', f'{s[f"{k}_se"]:.2f}') for k in keys]
          for s in results.values()]
  width_mean = [max(len(r[i][0]) for r in rows) for i in range(len(keys))]
  width_se = [max(len(r[i][1]) for r in rows) for i in range(len(keys))]
  width = [max(len(h), m + 3 + e)
           for h, m, e in zip(header[1:], width_mean, width_se)]
  name_width = max(len(n) for n in [header[0], *results])
  lines = ['  '.join([f'{header[0]:<{name_width}}'] +
                     [f'{h:>{w}}' for h, w in zip(header[1:], width)])]
  for name, row in zip(results, rows):
    cells = [f'{mean:>{m}} ± {se:>{e}}'.rjust(w)
             for (mean, se), m, e, w in zip(row, width_mean, width_se, width)]
    lines.append('  '.join([f'{name:<{name_width}}'] + cells))
  return '\n'.join(lines)


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
  names = baseline_names(baselines, core.default_baselines)
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
      result.summary['episode_reward_mean']; print(result.table())

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
    names = baseline_names(baselines, core.default_baselines)
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


def headline_scalars(summary: Dict[str, Any]) -> Dict[str, float]:
  """The scalars of a `summarise` output: `episode_reward` and its `_se`,
  each task metric's mean per episode and its `_se`, derived metrics."""
  out = {'episode_reward': summary['episode_reward_mean'],
         'episode_reward_se': summary['episode_reward_se']}
  for k, v in summary.items():
    if k.startswith('final_') and k.endswith('_mean'):
      out[k[len('final_'):-len('_mean')]] = v
    elif k.startswith('final_') and k.endswith('_se'):
      out[k[len('final_'):]] = v
    elif (isinstance(v, float) and not k.startswith(('final_', 'episode_'))
          and k != 'num_episodes'):
      out[k] = v  # a derived metric, e.g. reward_per_trial
  return out


def write_tensorboard(logdir: str, evaluation: Evaluation, step: int,
                      header: str = '') -> None:
  """Writes an evaluation's headline numbers to TensorBoard.

  One run per policy, `logdir/<policy>/` (so one chart overlays the agent
  and the baselines), with scalars `eval/<task>/<name>` for each of
  `headline_scalars` (`episode_reward`, `episode_reward_se`, `<metric>`,
  `<metric>_se`, derived metrics) at `step` (the env steps the agent was
  trained for, so that evaluations of successive SavedModels form a
  curve), and in the agent's run the table (`format_table`, after
  `header`) as the text summary `eval/<task>/table`.
  """
  task = evaluation.task
  for name, summary in evaluation.results.items():
    writer = tf.summary.create_file_writer(os.path.join(logdir, name))
    with writer.as_default(step=int(step)):
      for k, v in headline_scalars(summary).items():
        tf.summary.scalar(f'eval/{task}/{k}', float(v))
      if name == 'agent':
        text = (header + '\n\n' if header else '') + '\n'.join(
            '    ' + line for line in evaluation.table().splitlines())
        tf.summary.text(f'eval/{task}/table', text)
    writer.close()


def draw_regret_curves(ax, results: Dict[str, Dict[str, Any]],
                       xlabel: Optional[str] = None) -> None:
  """Draws on `ax` the cumulative expected regret per trial (mean +- SE) of
  each policy of `results` (`summarise` outputs by name), or the cumulative
  reward for tasks without regret. Policies carry the paper's names
  (`baselines.display_name`, the final value in the legend); the agent is
  drawn last, on top of the baselines whose curves it may cover
  (Bayes-optimal); the legend keeps the order of `results`."""
  from meta_rl.baselines import display_name  # pylint: disable=g-import-not-at-top
  others = itertools.cycle(['black', 'tab:blue', 'tab:orange', 'tab:purple',
                            'tab:brown', 'dimgray', 'tab:olive', 'silver'])
  key = ('cumulative_regret' if all('cumulative_regret_mean' in s
                                    for s in results.values())
         else 'cumulative_reward')
  styles = {name: dict(color=next(others), ls='--', lw=1.5, zorder=2)
            for name in results if name != 'agent'}
  styles['agent'] = dict(color='tab:green', lw=2.4, zorder=3)
  lines = {}
  for name in sorted(results, key=lambda name: name == 'agent'):
    mean = np.asarray(results[name][f'{key}_mean'])
    se = np.asarray(results[name][f'{key}_se'])
    trials = np.arange(1, len(mean) + 1)
    style = styles[name]
    lines[name], = ax.plot(trials, mean,
                           label=f'{display_name(name)} ({mean[-1]:.2f})',
                           **style)
    ax.fill_between(trials, mean - se, mean + se, color=style['color'],
                    alpha=0.2, lw=0, zorder=style['zorder'])
  ax.set_xlabel(xlabel or ('trial' if key == 'cumulative_regret' else 'step'))
  ax.set_ylabel('cumulative expected regret' if key == 'cumulative_regret'
                else 'cumulative reward')
  ax.legend(handles=[lines[n] for n in results], frameon=False)
  ax.grid(alpha=0.3)


def plot_regret(path: str, results: Dict[str, Dict[str, Any]], title: str,
                suboptimal: Optional[np.ndarray] = None) -> None:
  """Cumulative regret curves of each policy (`draw_regret_curves`) and,
  given `suboptimal` [N, T] of the agent, its suboptimal pulls (Fig 2a-e)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  ncols = 2 if suboptimal is not None else 1
  fig, axes = plt.subplots(1, ncols, figsize=(6 * ncols, 4.2), squeeze=False)
  draw_regret_curves(axes[0, 0], results)
  axes[0, 0].set_title(title)
  if suboptimal is not None:
    ax = axes[0, 1]
    shown = suboptimal[:300]
    ax.imshow(shown, aspect='auto', cmap='Greys', interpolation='nearest',
              extent=[0.5, shown.shape[1] + 0.5, shown.shape[0], 0])
    ax.set_xlabel('trial')
    ax.set_ylabel('test episode')
    ax.set_title(f'agent: suboptimal pulls (black), {len(shown)} episodes')
  fig.tight_layout()
  files.save_figure(fig, path, dpi=120)
  plt.close(fig)
