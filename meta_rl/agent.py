"""The recurrent meta-RL agent of Figure 1a (Wang et al. 2016).

    observation --encoder--+
    prev_action (one-hot) -+--concat--> core (LSTM) --+--> policy logits [A]
    prev_reward (scalar) --+                          +--> value []

The observation encoder is built from the task's observation spec, so a task
needs no agent code: `episode_step` (a bounded integer) becomes the scalar
t / episode_length, a `DiscreteArray` becomes a one-hot vector, a uint8 image
[H, W, C] goes through the conv encoder of Figure 1 (16 8x8/4, 32 4x4/2, 256
ReLU), other arrays are flattened. The core is any `RecurrentCore`; its state is
a dict of named float32 [B, n] tensors (these names are the SavedModel's state
tensor names).

Episode boundaries: pass `prev_action = -1` (one-hot of -1 is all zeros) and
`prev_reward = 0` on the first step of an episode, with the core state from
`initial_state`; `reset_where` does that inside the graph.
"""

import dataclasses
from typing import Dict, NamedTuple, Tuple

from dm_env import specs
import keras
import numpy as np
import tensorflow as tf

State = Dict[str, tf.Tensor]


@dataclasses.dataclass(frozen=True)
class AgentConfig:
  """Architecture of the agent.

  Attributes:
    core: 'lstm' (one LSTM) or 'stacked_lstm' (LSTMs of `stacked_units`).
    num_units: LSTM size for core='lstm' (48 in Table 1, Exps 1-5).
    stacked_units: sizes of the LSTMs for core='stacked_lstm'.
    use_reward_input: False removes the previous reward from the input (the
      paper's ablation); the `prev_reward` input is still accepted and ignored.
    reward_values: if non-empty, the previous reward is one-hot encoded over
      these values inside the model (Exp 3); a reward matching none of them
      (e.g. 0 on the first step) gives all zeros. Clients still send a float.
    seed: seed of the weight initialisers.
  """
  core: str = 'lstm'
  num_units: int = 48
  stacked_units: Tuple[int, ...] = (256, 64)
  use_reward_input: bool = True
  reward_values: Tuple[float, ...] = ()
  seed: int = 0


class AgentOutput(NamedTuple):
  logits: tf.Tensor  # float32 [B, A]
  value: tf.Tensor  # float32 [B]


def _init(seed, offset, kind='glorot'):
  if kind == 'orthogonal':
    return keras.initializers.Orthogonal(seed=seed * 1000 + offset)
  return keras.initializers.GlorotUniform(seed=seed * 1000 + offset)


class ObservationEncoder(keras.layers.Layer):
  """Turns an observation dict into one float32 feature vector [B, F]."""

  def __init__(self, observation_spec: Dict[str, specs.Array], seed: int = 0,
               **kwargs):
    super().__init__(**kwargs)
    self._spec = dict(sorted(observation_spec.items()))
    self._convs = {}
    for i, (key, spec) in enumerate(self._spec.items()):
      if _is_image(spec):
        self._convs[key] = keras.Sequential([
            keras.layers.Conv2D(16, 8, strides=4, activation='relu',
                                kernel_initializer=_init(seed, 10 * i + 1)),
            keras.layers.Conv2D(32, 4, strides=2, activation='relu',
                                kernel_initializer=_init(seed, 10 * i + 2)),
            keras.layers.Flatten(),
            keras.layers.Dense(256, activation='relu',
                               kernel_initializer=_init(seed, 10 * i + 3)),
        ], name=f'conv_{key}')

  def call(self, observation: Dict[str, tf.Tensor]) -> tf.Tensor:
    features = []
    for key, spec in self._spec.items():
      x = observation[key]
      if key in self._convs:
        features.append(self._convs[key](tf.cast(x, tf.float32) / 255.0))
      elif isinstance(spec, specs.DiscreteArray):
        features.append(tf.one_hot(tf.cast(x, tf.int32), spec.num_values))
      elif isinstance(spec, specs.BoundedArray) and np.issubdtype(
          spec.dtype, np.integer) and spec.shape == ():
        # A bounded counter such as episode_step: scaled to [0, 1).
        span = float(np.max(spec.maximum) - np.min(spec.minimum) + 1)
        features.append(
            ((tf.cast(x, tf.float32) - float(np.min(spec.minimum))) /
             span)[:, None])
      else:
        x = tf.cast(x, tf.float32)
        features.append(tf.reshape(x, [tf.shape(x)[0], -1]))
    return tf.concat(features, axis=-1)


def _is_image(spec: specs.Array) -> bool:
  return len(spec.shape) == 3 and spec.dtype == np.uint8


class RecurrentCore(keras.layers.Layer):
  """Interface: a recurrent core with a named dict state."""

  state_sizes: Dict[str, int]

  def initial_state(self, batch_size) -> State:
    return {k: tf.zeros([batch_size, n], tf.float32)
            for k, n in self.state_sizes.items()}


class LSTMCore(RecurrentCore):
  """One LSTM; state {'lstm_h', 'lstm_c'}."""

  def __init__(self, num_units: int = 48, seed: int = 0, **kwargs):
    super().__init__(**kwargs)
    self.cell = keras.layers.LSTMCell(
        num_units, kernel_initializer=_init(seed, 101),
        recurrent_initializer=_init(seed, 102, 'orthogonal'), name='lstm')
    self.state_sizes = {'lstm_h': num_units, 'lstm_c': num_units}
    self.output_size = num_units

  def call(self, x, state):
    h, (h, c) = self.cell(x, [state['lstm_h'], state['lstm_c']])
    return h, {'lstm_h': h, 'lstm_c': c}


class StackedLSTMCore(RecurrentCore):
  """LSTMs in sequence; state {'lstm<i>_h', 'lstm<i>_c'} for i = 0, 1, ..."""

  def __init__(self, units=(256, 64), seed: int = 0, **kwargs):
    super().__init__(**kwargs)
    self.cells = [
        keras.layers.LSTMCell(
            n, kernel_initializer=_init(seed, 110 + i),
            recurrent_initializer=_init(seed, 120 + i, 'orthogonal'),
            name=f'lstm{i}') for i, n in enumerate(units)
    ]
    self.state_sizes = {}
    for i, n in enumerate(units):
      self.state_sizes[f'lstm{i}_h'] = n
      self.state_sizes[f'lstm{i}_c'] = n
    self.output_size = units[-1]

  def call(self, x, state):
    new_state = {}
    for i, cell in enumerate(self.cells):
      x, (h, c) = cell(x, [state[f'lstm{i}_h'], state[f'lstm{i}_c']])
      new_state[f'lstm{i}_h'], new_state[f'lstm{i}_c'] = h, c
    return x, new_state


CORES = {
    'lstm': lambda cfg: LSTMCore(cfg.num_units, seed=cfg.seed, name='core'),
    'stacked_lstm': lambda cfg: StackedLSTMCore(cfg.stacked_units,
                                                seed=cfg.seed, name='core'),
}


class MetaRLAgent(keras.layers.Layer):
  """Recurrent actor-critic taking (observation, prev action, prev reward)."""

  def __init__(self, observation_spec: Dict[str, specs.Array],
               num_actions: int, config: AgentConfig = AgentConfig(),
               **kwargs):
    super().__init__(**kwargs)
    if config.core not in CORES:
      raise ValueError(f'unknown core {config.core!r}; choose one of '
                       f'{", ".join(CORES)}')
    self.config = config
    self.num_actions = num_actions
    self.observation_spec = dict(observation_spec)
    self.encoder = ObservationEncoder(observation_spec, seed=config.seed,
                                      name='encoder')
    self.core = CORES[config.core](config)
    self.policy_head = keras.layers.Dense(
        num_actions, kernel_initializer=_init(config.seed, 201), name='policy')
    self.value_head = keras.layers.Dense(
        1, kernel_initializer=_init(config.seed, 202), name='value')
    self.step(self.dummy_inputs(1), self.initial_state(1))  # build weights
    self.built = True

  @property
  def state_sizes(self) -> Dict[str, int]:
    return dict(self.core.state_sizes)

  def initial_state(self, batch_size) -> State:
    return self.core.initial_state(batch_size)

  def dummy_inputs(self, batch_size: int) -> Dict[str, tf.Tensor]:
    inputs = {'prev_action': -tf.ones([batch_size], tf.int32),
              'prev_reward': tf.zeros([batch_size], tf.float32)}
    for key, spec in self.observation_spec.items():
      inputs[key] = tf.zeros([batch_size, *spec.shape], spec.dtype)
    return inputs

  def step(self, inputs: Dict[str, tf.Tensor],
           state: State) -> Tuple[AgentOutput, State]:
    """One step. `inputs`: prev_action int32 [B], prev_reward float32 [B] and
    the observation keys ([B, ...]); `state`: dict of [B, n]."""
    obs = {k: inputs[k] for k in self.observation_spec}
    x = tf.concat([
        self.encoder(obs),
        tf.one_hot(tf.cast(inputs['prev_action'], tf.int32), self.num_actions),
        self._encode_reward(tf.cast(inputs['prev_reward'], tf.float32)),
    ], axis=-1)
    h, new_state = self.core(x, state)
    logits = self.policy_head(h)
    value = tf.squeeze(self.value_head(h), -1)
    return AgentOutput(logits, value), new_state

  def call(self, inputs, state):
    return self.step(inputs, state)

  def _encode_reward(self, reward):
    """[B] -> [B, 1] scalar, or [B, len(reward_values)] one-hot."""
    values = self.config.reward_values
    if values:
      match = tf.abs(reward[:, None] - tf.constant(values, tf.float32)[None]) < 1e-4
      encoded = tf.cast(match, tf.float32)
    else:
      encoded = reward[:, None]
    if not self.config.use_reward_input:
      encoded = tf.zeros_like(encoded)
    return encoded

  def reset_where(self, first: tf.Tensor, inputs: Dict[str, tf.Tensor],
                  state: State):
    """Where `first` [B] is True, starts a new episode: zero state, no previous
    action (-1) and zero previous reward."""
    init = self.initial_state(tf.shape(first)[0])
    mask = first[:, None]
    state = {k: tf.where(mask, init[k], v) for k, v in state.items()}
    inputs = dict(inputs)
    inputs['prev_action'] = tf.where(first, -1, inputs['prev_action'])
    inputs['prev_reward'] = tf.where(first, 0.0, inputs['prev_reward'])
    return inputs, state

  def unroll(self, inputs: Dict[str, tf.Tensor], first: tf.Tensor,
             state: State) -> Tuple[AgentOutput, State]:
    """Runs `step` over time-major inputs [T, B, ...] with resets where
    `first` [T, B] is True. Returns outputs [T, B, ...] and the final state."""
    length = tf.shape(first)[0]
    logits_ta = tf.TensorArray(tf.float32, size=length)
    value_ta = tf.TensorArray(tf.float32, size=length)
    for t in tf.range(length):
      step_inputs = tf.nest.map_structure(lambda x: x[t], inputs)
      step_inputs, state = self.reset_where(first[t], step_inputs, state)
      out, state = self.step(step_inputs, state)
      logits_ta = logits_ta.write(t, out.logits)
      value_ta = value_ta.write(t, out.value)
    return AgentOutput(logits_ta.stack(), value_ta.stack()), state


def make_agent(observation_spec, num_actions, config: AgentConfig = AgentConfig()):
  return MetaRLAgent(observation_spec, num_actions, config, name='agent')
