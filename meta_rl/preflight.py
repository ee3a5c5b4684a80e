"""Checks of a training run against its task, before anything is created.

`check_config(task_kwargs, agent_config, train)` (first, before the task and
the agent are built) refuses settings whose lower-bound memory alone is
more than the machine has (`config_memory`).
`check_run(core, agent, train)` (called by `experiment.train` before the
trainer and the run dir exist) refuses, with a one-line ValueError, a run
that would otherwise fail at or after its first update, or train a
degenerate agent:

  int32 sizes   TensorFlow builds some shapes of the update's gradient in
                int32: a tensor of one unroll ([K, B] rewards, [K, B, A]
                logits, the [K*B, H, W, C] frames of a conv encoder and its
                activations) with more than 2**31 - 1 elements fails when the
                update is traced (`int32_sizes`).
  memory        `update_memory` estimates the bytes one update holds at its
                peak; more than the machine's memory (`memory_limit`) would
                end the run out of memory at its first update.
  reward inputs an agent that one-hot encodes the previous reward over
                `reward_values` none of which the task can pay sees all
                zeros, i.e. no reward at all (`check_reward_values`).
"""

import os
from typing import Dict, Optional

import numpy as np
import tensorflow as tf

from environments import core as core_lib
from meta_rl.agent import REWARD_TOLERANCE, MetaRLAgent
from meta_rl.training import TrainConfig

INT32_MAX = 2**31 - 1

# What the process holds besides the update: Python, TensorFlow and Keras
# (0.6 GiB resident after import), the runtime, the traced graphs and the
# task's tables (Harlow's image bank, the maze's): 1.0 GiB measured at small
# batches; with a margin.
BASE_BYTES = 5 << 28  # 1.25 GiB
# Floats that one agent step keeps for the gradient of the core, per unit of
# core state (an LSTM of H units computes about 25 H floats of gates and
# products per step, 12.5 per unit of its 2 H state, and keeps part of
# them: about 4.5 per unit measured with LSTM 48).
CORE_FLOATS_PER_STATE_UNIT = 6
# Bytes per pixel of the frames of an unroll while the conv encoder takes
# their gradient: the uint8 frame cast to float32 and scaled (the other
# copies are counted separately: 2 bytes per pixel for the uint8 frames, 8
# bytes per conv activation for the activation and its gradient).
ENCODER_INPUT_BYTES = 6
ACTIVATION_BYTES = 8


def _elements(shape) -> int:
  return int(np.prod(shape, dtype=np.int64)) if len(shape) else 1


def _conv_activations(agent: MetaRLAgent) -> Dict[str, int]:
  """{observation key: floats per frame output by the layers of its conv
  stack} (the encoder's `conv_<key>` stacks; flat inputs have none)."""
  out = {}
  for key, spec in agent.observation_spec.items():
    stack = getattr(agent.encoder, f'conv_{key}', None)
    if stack is None:
      continue
    shape, total = (1, *spec.shape), 0
    for layer in stack.layers:
      shape = tuple(layer.compute_output_shape(shape))
      total += _elements(shape[1:])
    out[key] = total
  return out


def _per_env_bytes(structure) -> int:
  """Bytes of one batch element of a nest of [1, ...] tensors."""
  return sum(_elements(x.shape[1:]) * x.dtype.size
             for x in tf.nest.flatten(structure))


def int32_sizes(core: core_lib.BatchedCore, agent: MetaRLAgent,
                train: TrainConfig) -> Dict[str, int]:
  """{description: element count} of the largest tensors of one update of
  `InGraphTrainer` whose size TensorFlow handles in int32."""
  k, b = train.unroll_length, train.batch_size
  features = int(agent.encode(agent.dummy_inputs(1)).shape[-1])
  sizes = {'`batch_size` * `unroll_length` (the [K, B] rewards)': k * b,
           f'`batch_size` * `unroll_length` * {agent.num_actions} actions '
           '(the [K, B, A] logits)': k * b * agent.num_actions,
           f'`batch_size` * `unroll_length` * {features} features (their '
           '[K, B, F] gradient)': k * b * features}
  activations = _conv_activations(agent)
  for key, spec in agent.observation_spec.items():
    if key in activations:
      n = _elements(spec.shape)
      shape = 'x'.join(map(str, spec.shape))
      sizes[f'`batch_size` * `unroll_length` * {n} (the {shape} frames '
            f'{key!r} of an unroll)'] = k * b * n
  return sizes


def update_memory(core: core_lib.BatchedCore, agent: MetaRLAgent,
                  train: TrainConfig) -> Dict[str, int]:
  """An upper-ish estimate of the memory one update of `InGraphTrainer`
  holds at its peak, in bytes per part (sum them for the total).

  With K = unroll_length, B = batch_size:
    base         `BASE_BYTES` (the process, graphs, the task's tables);
    weights      parameters x 5 (weights, gradients, clipped gradients, two
                 optimizer slots), 4 bytes each;
    carry        B x (environment state + observation + agent state): the
                 variables carried between updates;
    env_steps    B x 24 x observation bytes: one step of B environments
                 (a step and a reset of each) and the encoder on their
                 frames, freed after the step;
    core         K x B x 4 bytes x (core input + 3 features + 6 per unit of
                 core state + core output + 8 per action + 16): what each
                 step keeps for the core's and heads' gradient (the LSTM's
                 gates and products; the features, their zero offset z and
                 its gradient; the logits and the loss's softmaxes);
    frames       K x B x (2 x observation bytes + 6 per image pixel + 8 per
                 conv activation): the observations of the unroll (their
                 TensorArray and its stack), the float copy the conv
                 encoder reads, its activations and their gradients
                 (only for an encoder with weights, i.e. images).
  The total is 1.3-1.5 times the peak resident memory measured on CPU
  (2 threads) for LSTM 48 bandits (B 128 and 4096), Harlow at 42 px (B 32,
  256) and 84 px (B 32, 128) and the maze at 84 px (B 32); the parts
  scale with B and K as measured between those batch sizes.
  """
  k, b = train.unroll_length, train.batch_size
  spec = agent.observation_spec
  obs_bytes = sum(_elements(s.shape) * np.dtype(s.dtype).itemsize
                  for s in spec.values())
  state, _ = core.reset(core_lib.make_key(0), 1)
  state_units = sum(agent.state_sizes.values())
  features = int(agent.encode(agent.dummy_inputs(1)).shape[-1])
  core_input = (features + agent.num_actions +
                max(1, len(agent.config.reward_values)))
  params = sum(_elements(v.shape) for v in agent.trainable_variables)
  parts = {
      'base': BASE_BYTES,
      'weights': 5 * 4 * params,
      'carry': b * (_per_env_bytes(state) + obs_bytes + 4 * state_units + 16),
      'env_steps': b * 24 * obs_bytes,
      'core': k * b * 4 * (core_input + 3 * features +
                           CORE_FLOATS_PER_STATE_UNIT * state_units +
                           agent.core.output_size +
                           8 * agent.num_actions + 16),
      'frames': 0,
  }
  activations = _conv_activations(agent)
  if agent.encoder.trainable_variables:
    pixels = sum(_elements(spec[key].shape) for key in activations)
    parts['frames'] = k * b * (2 * obs_bytes + ENCODER_INPUT_BYTES * pixels +
                               ACTIVATION_BYTES * sum(activations.values()))
  return parts


def memory_limit() -> int:
  """The memory this process may use at most: the machine's physical
  memory, or the cgroup's limit (a container's) where that is lower.

  Physical memory, not the memory available now: what other processes hold
  comes and goes, and a check that depends on it would refuse the same run
  at one moment and accept it at the next; a run bigger than the machine
  can never fit.
  """
  limit = os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
  for path in ('/sys/fs/cgroup/memory.max',
               '/sys/fs/cgroup/memory/memory.limit_in_bytes'):
    try:
      with open(path) as f:
        text = f.read().strip()
    except OSError:
      continue
    if text.isdigit():
      limit = min(limit, int(text))
  return limit


def _gib(n: int) -> str:
  return f'{n / 2**30:.1f} GiB'


def possible_rewards(core: core_lib.BatchedCore):
  """The rewards one step of `core` can pay (`possible_rewards()` of the
  core, a superset), or None where the core does not say (continuous or
  unknown rewards)."""
  method = getattr(core, 'possible_rewards', None)
  return method() if method is not None else None


def check_reward_values(core: core_lib.BatchedCore, agent: MetaRLAgent):
  """ValueError if the agent one-hot encodes the previous reward over
  `reward_values` none of which the task can pay: its reward input would
  be all zeros on every step. Values that the task never pays next to some
  that it does are allowed (an input that stays zero costs nothing, and one
  list may serve variants of a task, e.g. informative bandits with fewer
  arms)."""
  values = agent.config.reward_values
  rewards = possible_rewards(core)
  if not values or rewards is None or not agent.config.use_reward_input:
    return
  if any(abs(v - r) < REWARD_TOLERANCE for v in values for r in rewards):
    return
  rewards = sorted(set(rewards))
  shown = ', '.join(f'{r:g}' for r in rewards[:20])
  if len(rewards) > 20:
    shown += ', ...'
  raise ValueError(
      f'`reward_values` {",".join(f"{v:g}" for v in values)}: none is a '
      f'reward of the task {core.name!r} (it pays {shown}); the one-hot '
      'reward input would always be zeros')


def config_memory(task_kwargs, agent_config, train: TrainConfig
                  ) -> Dict[str, int]:
  """Lower bounds, in bytes, of what a run of these configurations
  allocates, computed from the settings alone (nothing is built), so that a
  run far too big for the machine is refused before its first allocation:

    core weights   an LSTM of n units holds a recurrent kernel of 4 n x n
                   floats (a feed-forward core: n at least); with its
                   gradient and at least one optimizer slot, 3 copies of 4
                   bytes;
    frames         a rendered task (`resolution` among its arguments) keeps
                   the K x B frames of an unroll, R x R x 3 bytes each;
    image set      Harlow's images are resized to 34 x R / 84 pixels as
                   float32, `num_images` of them.
  """
  core = agent_config.core
  if core == 'stacked_lstm':
    units = [int(u) for u in agent_config.stacked_units]
  else:
    units = [int(agent_config.num_units)]
  if core in ('lstm', 'stacked_lstm'):
    params = sum(4 * u * u for u in units)
  else:
    params = sum(units)
  parts = {'core weights': 3 * 4 * params}
  resolution = task_kwargs.get('resolution')
  if isinstance(resolution, (int, np.integer)) and resolution > 0:
    parts['frames'] = (train.unroll_length * train.batch_size * 3 *
                       int(resolution) ** 2)
    if 'num_images' in task_kwargs or 'image_seed' in task_kwargs:
      side = 34 * int(resolution) // 84
      parts['image set'] = 4 * 3 * side * side * int(
          task_kwargs.get('num_images', 1000))
  return parts


def check_config(task_kwargs, agent_config, train: TrainConfig,
                 limit: Optional[int] = None) -> None:
  """ValueError (one line) if `config_memory`'s lower bounds exceed
  `limit` (default `memory_limit()`): refused before the task or the agent
  is built (a huge `num_units` or `resolution` would otherwise fail in the
  middle of an allocation of many GB)."""
  limit = memory_limit() if limit is None else limit
  parts = config_memory(task_kwargs, agent_config, train)
  need = sum(parts.values())
  if need > limit:
    biggest = max(parts, key=parts.get)
    settings = {'core weights': ('`stacked_units`' if agent_config.core ==
                                 'stacked_lstm' else '`num_units`'),
                'frames': '`resolution`, `batch_size` or `unroll_length`',
                'image set': '`resolution` or `num_images`'}[biggest]
    raise ValueError(
        f'this run needs at least {_gib(need)} of memory ({biggest}: '
        f'{_gib(parts[biggest])}), more than the {_gib(limit)} of this '
        f'machine; lower {settings}')


def check_run(core: core_lib.BatchedCore, agent: MetaRLAgent,
              train: TrainConfig, limit: Optional[int] = None):
  """Raises ValueError (one line) if one update of `InGraphTrainer` on
  `core` would have a tensor beyond int32 sizes or need more than `limit`
  bytes (default `memory_limit()`), or if the agent's `reward_values` match
  no reward of the task. Cheap: builds nothing of batch size B."""
  check_reward_values(core, agent)
  for what, n in int32_sizes(core, agent, train).items():
    if n > INT32_MAX:
      raise ValueError(
          f'{what} = {n} elements at `batch_size`={train.batch_size} '
          f'`unroll_length`={train.unroll_length}: more than {INT32_MAX} '
          '(2**31 - 1), the int32 limit of TensorFlow on the size of a '
          'tensor; lower `batch_size` or `unroll_length`')
  limit = memory_limit() if limit is None else limit
  parts = update_memory(core, agent, train)
  need = sum(parts.values())
  if need > limit:
    biggest = max(parts, key=parts.get)
    raise ValueError(
        f'one update at `batch_size`={train.batch_size} '
        f'`unroll_length`={train.unroll_length} needs about {_gib(need)} '
        f'of memory (estimate; most for {biggest}: {_gib(parts[biggest])}), '
        f'more than the {_gib(limit)} of this machine; lower `batch_size` or '
        '`unroll_length`')
