"""Test episodes: a policy (`meta_rl.evaluation.policies`) plays a task.

  `play_episodes(core, policy, ...)`        a batched TF core. With a TF
      policy the whole episode loop runs in one `tf.function` (environment and
      network in the graph); with a NumPy policy, one Python step per time
      step. The environment draws the same random numbers either way (step t
      uses `fold_in(make_key(seed), t)`), so all policies meet the same tasks.
  `play_dm_env_episodes(envs, policy, ...)` any `dm_env.Environment`s (a
      user's own task), stepped from Python.
Both return the same dict of per-episode, per-step arrays (`summary.summarise`
turns it into means and standard errors); `write_recording` saves them.
"""

from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence, Tuple

import dm_env
import numpy as np
import tensorflow as tf

from environments import core as core_lib
from meta_rl import files
from meta_rl.evaluation.policies import TFPolicy


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


class Transition(NamedTuple):
  """One step of `in_graph_episodes`, handed to its `collect`."""
  info: Dict[str, tf.Tensor]  # the task's ground truth before the step
  action: tf.Tensor  # int32 [N]
  value: tf.Tensor  # float32 [N], the policy's value estimate
  state: Dict[str, tf.Tensor]  # the policy state after the step
  step: Any  # the core's `Step` (reward, metrics, last, observation, ...)
  alive: tf.Tensor  # bool [N]: the environment's first episode still runs


def in_graph_episodes(core: core_lib.BatchedCore, policy: TFPolicy, n: int,
                      seed: int, collect: Callable[[tf.Tensor, Any, Transition],
                                                   Any], carry: Any,
                      with_info: bool = False) -> Tuple[Any, tf.Tensor]:
  """The in-graph episode loop of evaluation: a TF policy plays the first
  episode of each of `n` environments of `core`, frozen, inside the caller's
  `tf.function`.

  Step t draws the task from `fold_in(make_key(seed), t)` (the reset from
  `fold_in(root, -1)`, actions from `fold_in(root, -2)` folded with t), as
  `_play_in_python` does, so every policy meets the same tasks. After each
  step, `carry = collect(t, carry, Transition(...))` (`info` is empty unless
  `with_info`). The loop stops when every first episode has ended; a finished
  environment is stepped on, `alive` False, until then. Returns
  `(carry, steps taken)`.
  """
  root = core_lib.make_key(seed)
  act_root = core_lib.fold_in(root, -2)
  env_state, obs = core.reset(core_lib.fold_in(root, -1), n)
  state = policy.tf_initial_state(n)
  prev_action = -tf.ones([n], tf.int32)
  prev_reward = tf.zeros([n], tf.float32)
  alive = tf.ones([n], tf.bool)
  steps = tf.constant(0)
  for t in tf.range(core.episode_length):
    if not tf.reduce_any(alive):
      break
    inputs = dict(obs, prev_action=prev_action, prev_reward=prev_reward)
    action, value, state = policy.tf_step_with_value(
        inputs, state, core_lib.fold_in(act_root, t))
    info = core.task_info(env_state) if with_info else {}
    env_state, step = core.step(core_lib.fold_in(root, t), env_state, action)
    carry = collect(t, carry, Transition(info, action, value, state, step,
                                         alive))
    alive = tf.logical_and(alive, tf.logical_not(step.last))
    obs, prev_action, prev_reward = step.observation, action, step.reward
    steps = t + 1
  return carry, steps


def _play_in_graph(core, policy, n, horizon, seed, record_n, record_states):
  """`in_graph_episodes` recording every step; time-major output."""

  @tf.function
  def play():
    root = core_lib.make_key(seed)
    env_state, _ = core.reset(core_lib.fold_in(root, -1), n)
    # Shapes of what a step produces, for the TensorArrays.
    _, probe = core.step(root, env_state, tf.zeros([n], tf.int32))
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
               for k, v in policy.tf_initial_state(n).items()}
              if record_states else {})

    def collect(t, carry, tr):
      columns, states = carry
      mask = tf.cast(tr.alive, tf.float32)
      values = {'actions': tr.action, 'rewards': tr.step.reward * mask,
                'values': tr.value * mask, 'valid': tr.alive}
      values.update({f'info_{k}': v for k, v in tr.info.items()})
      values.update({f'metric_{k}': tf.cast(v, tf.float32) * mask
                     for k, v in tr.step.metrics.items()})
      return ({k: ta.write(t, values[k]) for k, ta in columns.items()},
              {k: ta.write(t, tr.state[k][:record_n])
               for k, ta in states.items()})

    (columns, states), _ = in_graph_episodes(
        core, policy, n, seed, collect, (columns, states), with_info=True)
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
