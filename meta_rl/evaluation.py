"""Frozen evaluation: play test episodes of a batched task with a fixed policy.

A policy is anything with `initial_state(batch_size)` and
`step(inputs, state, rng) -> (action int32 [B], state)`: the exported agent
(`SavedModelPolicy`, loaded with plain `tf.saved_model.load`) or a baseline of
`meta_rl.baselines`. Episodes run batched: one call per time step for all
episodes, the environment stepping through its TF core eagerly.
"""

import itertools
import json
import os
from typing import Any, Dict, Optional

import numpy as np
import tensorflow as tf

from environments import core as core_lib
from meta_rl import export as export_lib
from meta_rl import metrics as metrics_lib


class SignatureMismatchError(ValueError):
  """A SavedModel's signature does not fit the task."""


class SavedModelPolicy:
  """The exported agent as an evaluation policy (weights frozen).

  Actions are sampled from the returned logits with the evaluation's own
  seeded `rng` (so evaluations are reproducible), or taken greedily.
  """

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
    self.last_outputs = None

  def check_fits(self, core: core_lib.BatchedCore) -> None:
    """Raises SignatureMismatchError unless the signature fits `core`."""
    expected = {'prev_action', 'prev_reward', *self.state_names}
    for key, spec in core.observation_spec().items():
      expected.add(key)
      if key not in self.input_specs:
        raise SignatureMismatchError(
            f'SavedModel {self.path} has no input {key!r} for task '
            f'{core.name} (its inputs: {", ".join(sorted(self.input_specs))})')
      got = self.input_specs[key]
      if got.dtype != tf.as_dtype(spec.dtype) or list(
          got.shape[1:]) != list(spec.shape):
        raise SignatureMismatchError(
            f'SavedModel input {key!r} is {got.dtype.name}{got.shape[1:]}, '
            f'task {core.name} gives {np.dtype(spec.dtype).name}'
            f'{list(spec.shape)}')
    extra = set(self.input_specs) - expected
    if extra:
      raise SignatureMismatchError(
          f'SavedModel {self.path} needs inputs {sorted(extra)} that task '
          f'{core.name} does not provide')
    if self.num_actions != core.num_actions:
      raise SignatureMismatchError(
          f'SavedModel {self.path} has {self.num_actions} actions, task '
          f'{core.name} has {core.num_actions}')

  def initial_state(self, batch_size: int):
    out = self._initial_state(batch_size=tf.constant(batch_size, tf.int32))
    return {k: v.numpy() for k, v in out.items()}

  def step(self, inputs, state, rng):
    feed = {k: tf.convert_to_tensor(np.asarray(v), self.input_specs[k].dtype)
            for k, v in dict(inputs, **state).items() if k in self.input_specs}
    out = self._step(**feed)
    self.last_outputs = {k: v.numpy() for k, v in out.items()}
    action = sample_action(self.last_outputs['logits'], rng, self.greedy)
    return action, {k: self.last_outputs[k] for k in self.state_names}


class AgentPolicy:
  """An in-memory `MetaRLAgent` as an evaluation policy (e.g. during
  training or in tests); same sampling as `SavedModelPolicy`."""

  def __init__(self, agent, greedy: bool = False):
    self.agent = agent
    self.greedy = greedy
    self.state_names = sorted(agent.state_sizes)
    self.num_actions = agent.num_actions
    self._step = tf.function(agent.step)

  def initial_state(self, batch_size: int):
    return {k: v.numpy() for k, v in self.agent.initial_state(batch_size).items()}

  def step(self, inputs, state, rng):
    out, state = self._step({k: tf.convert_to_tensor(v) for k, v in inputs.items()},
                            {k: tf.convert_to_tensor(v) for k, v in state.items()})
    action = sample_action(out.logits.numpy(), rng, self.greedy)
    return action, {k: v.numpy() for k, v in state.items()}


def sample_action(logits: np.ndarray, rng: np.random.Generator,
                  greedy: bool = False) -> np.ndarray:
  """Samples int32 actions [B] from logits [B, A] (or takes the argmax)."""
  if greedy:
    return np.argmax(logits, axis=-1).astype(np.int32)
  z = logits - logits.max(axis=-1, keepdims=True)
  p = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
  u = rng.random((len(p), 1))
  return (u > np.cumsum(p, axis=-1)[:, :-1]).sum(-1).astype(np.int32)


def play_episodes(core: core_lib.BatchedCore, policy, num_episodes: int,
                  seed: int = 0, record_states: bool = False) -> Dict[str, Any]:
  """Plays `num_episodes` episodes of `core` (one each, batched).

  Returns a dict of arrays [N, T] (T = core.episode_length): `actions`,
  `rewards`, `valid` (False after an episode ended); `info_<key>` [N, T, ...]
  for every key of the task's ground truth before each step (e.g.
  `info_arm_probs`); for tasks with arm means, `regret` (expected) and
  `suboptimal`; with `record_states`, `states` maps each state name to
  [N, T, n] (the policy state after each step).
  """
  rng = np.random.default_rng(seed)
  root = core_lib.make_key(seed)
  n, horizon = num_episodes, core.episode_length
  env_state, obs = core.reset(core_lib.fold_in(root, -1), n)
  state = policy.initial_state(n)
  inputs = {k: v.numpy() for k, v in obs.items()}
  inputs['prev_action'] = -np.ones(n, np.int32)
  inputs['prev_reward'] = np.zeros(n, np.float32)
  alive = np.ones(n, bool)
  out = {'actions': np.zeros((n, horizon), np.int32),
         'rewards': np.zeros((n, horizon), np.float32),
         'valid': np.zeros((n, horizon), bool)}
  states = {}
  for t in range(horizon):
    action, state = policy.step(inputs, state, rng)
    info = core.task_info(env_state)
    for k, v in info.items():
      v = v.numpy()
      out.setdefault(f'info_{k}', np.zeros((n, horizon, *v.shape[1:]), v.dtype))[:, t] = v
    regret = metrics_lib.expected_regret(info, action)
    if regret is not None:
      out.setdefault('regret', np.zeros((n, horizon), np.float32))[:, t] = (
          regret.numpy() * alive)
      out.setdefault('suboptimal', np.zeros((n, horizon), np.float32))[:, t] = (
          metrics_lib.is_suboptimal(info, action).numpy() * alive)
    env_state, step = core.step(core_lib.fold_in(root, t), env_state,
                                tf.constant(action))
    out['actions'][:, t] = action
    out['rewards'][:, t] = step.reward.numpy() * alive
    out['valid'][:, t] = alive
    if record_states:
      for k, v in state.items():
        states.setdefault(k, np.zeros((n, horizon, v.shape[-1]), np.float32))[:, t] = v
    alive &= ~step.last.numpy()
    inputs = {k: v.numpy() for k, v in step.observation.items()}
    inputs['prev_action'] = action
    inputs['prev_reward'] = step.reward.numpy()
    if not alive.any():
      break
  if record_states:
    out['states'] = states
  return out


def summarise(episodes: Dict[str, Any]) -> Dict[str, Any]:
  """Per-trial means and standard errors of an evaluation."""
  n = episodes['actions'].shape[0]
  cum_reward = np.cumsum(episodes['rewards'], axis=1)
  summary = {'num_episodes': int(n),
             'cumulative_reward_mean': cum_reward.mean(0).tolist(),
             'cumulative_reward_se': (cum_reward.std(axis=0, ddof=1) /
                                      np.sqrt(n)).tolist(),
             'episode_reward_mean': float(episodes['rewards'].sum(1).mean()),
             'episode_reward_se': float(episodes['rewards'].sum(1).std(ddof=1) / np.sqrt(n))}
  if 'regret' in episodes:
    cum = np.cumsum(episodes['regret'], axis=1)  # [N, T]
    se = cum.std(axis=0, ddof=1) / np.sqrt(n)
    summary.update(
        cumulative_regret_mean=cum.mean(0).tolist(),
        cumulative_regret_se=se.tolist(),
        final_regret_mean=float(cum[:, -1].mean()),
        final_regret_se=float(se[-1]),
        suboptimal_pulls_per_trial=episodes['suboptimal'].mean(0).tolist(),
        suboptimal_pulls_total_mean=float(episodes['suboptimal'].sum(1).mean()))
  return summary


def write_json(path: str, data: Dict[str, Any]) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, 'w') as f:
    json.dump(data, f, indent=1)


def plot_regret(path: str, results: Dict[str, Dict[str, Any]], title: str,
                suboptimal: Optional[np.ndarray] = None) -> None:
  """Cumulative expected regret per trial (mean +- SE) of each policy (or
  cumulative reward, for tasks without arm means), and,
  given `suboptimal` [N, T] of the agent, its suboptimal pulls (Fig 2a-b)."""
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt
  ncols = 2 if suboptimal is not None else 1
  fig, axes = plt.subplots(1, ncols, figsize=(6 * ncols, 4.2), squeeze=False)
  ax = axes[0, 0]
  styles = {'agent': dict(color='tab:green', lw=2.2)}
  others = itertools.cycle(['black', 'tab:blue', 'tab:orange', 'tab:purple',
                            'tab:brown', 'dimgray', 'tab:olive', 'silver'])
  # Regret where the task defines it, else cumulative reward.
  key = ('cumulative_regret' if all('cumulative_regret_mean' in s
                                    for s in results.values())
         else 'cumulative_reward')
  for name, s in results.items():
    mean = np.asarray(s[f'{key}_mean'])
    se = np.asarray(s[f'{key}_se'])
    trials = np.arange(1, len(mean) + 1)
    style = styles.get(name, dict(color=next(others), ls='--', lw=1.5))
    ax.plot(trials, mean, label=f'{name} ({mean[-1]:.2f})', **style)
    ax.fill_between(trials, mean - se, mean + se, color=style['color'], alpha=0.2)
  ax.set_xlabel('trial' if key == 'cumulative_regret' else 'step')
  ax.set_ylabel('cumulative expected regret' if key == 'cumulative_regret'
                else 'cumulative reward')
  ax.set_title(title)
  ax.legend(frameon=False)
  ax.grid(alpha=0.3)
  if suboptimal is not None:
    ax = axes[0, 1]
    shown = suboptimal[:300]
    ax.imshow(shown, aspect='auto', cmap='Greys', interpolation='nearest',
              extent=[0.5, shown.shape[1] + 0.5, shown.shape[0], 0])
    ax.set_xlabel('trial')
    ax.set_ylabel('test episode')
    ax.set_title(f'agent: suboptimal pulls (black), {len(shown)} episodes')
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
