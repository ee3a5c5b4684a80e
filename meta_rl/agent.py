"""The meta-RL agents of Figure 1 (Wang et al. 2016).

    observation --encoder--> features --+
    prev_action (one-hot) --------------+--> core --+--> policy logits [A]
    prev_reward (scalar or one-hot) ----+           +--> value []

The observation encoder is built from the task's observation spec, so a task
needs no agent code: `episode_step` (a bounded integer) becomes the scalar
t / episode_length, a `DiscreteArray` becomes a one-hot vector, a uint8 image
[H, W, C] goes through the conv encoder of Figure 1 (16 8x8/4, 32 4x4/2, 256
ReLU), other arrays are flattened.

A core receives the encoded observation, the previous action and the previous
reward as three separate inputs and wires them as its architecture says:

  lstm          Fig 1a/1b: one LSTM on [features, prev_action, prev_reward]
                (with an image observation this is the Conv-LSTM of Fig 1b).
  stacked_lstm  Fig 1c (Mirowski et al. 2017, "Nav A3C"): LSTM 1 on
                [features, prev_reward]; LSTM 2 on [features, LSTM 1 output,
                prev_action]; the policy and value read LSTM 2.
  feedforward   Fig 7's "FF A3C": a ReLU layer on the current observation
                only (previous action and reward ignored); no state.

A core's state is a dict of named float32 [B, n] tensors (these names are the
SavedModel's state tensor names); a feed-forward core's dict is empty.

Episode boundaries: pass `prev_action = -1` (one-hot of -1 is all zeros) and
`prev_reward = 0` on the first step of an episode, with the core state from
`initial_state`; `reset_where` does that inside the graph.

Acting and learning: `step` runs the whole network for one time step
(`encode`, then `core_step`: core and heads). `unroll` runs it over a
time-major sequence [T, B] with the encoder applied once to all T*B
observations and the heads once to all T*B core outputs, so that only the
core is stepped in the loop (seed_rl's learner). The in-graph trainer, which
acts and learns in one pass, uses `encode` and `core_step` directly (see
`meta_rl.training`).
"""

import dataclasses
import numbers
import zlib
from typing import Dict, NamedTuple, Optional, Tuple

from dm_env import specs
import keras
import numpy as np
import tensorflow as tf

State = Dict[str, tf.Tensor]

# A previous reward within this of one of `reward_values` is encoded as it.
REWARD_TOLERANCE = 1e-4


@dataclasses.dataclass(frozen=True)
class AgentConfig:
  """Architecture of the agent.

  Attributes:
    core: a name of `CORES`: 'lstm', 'stacked_lstm' or 'feedforward'.
    num_units: LSTM size for core='lstm' (48 in Table 1, Exps 1-5), hidden
      layer size for core='feedforward'.
    stacked_units: sizes of the two LSTMs for core='stacked_lstm'.
    use_reward_input: False removes the previous reward from the input (the
      paper's ablation); the `prev_reward` input is still accepted and ignored.
    reward_values: if non-empty, the previous reward is one-hot encoded over
      these values inside the model (Exp 3); a reward matching none of them
      (e.g. 0 on the first step) gives all zeros. Clients still send a float.
    seed: seed of the weight initialisers.
    popart: the value head predicts values normalised by running statistics
      of the returns (PopArt, van Hasselt et al. 2016: `popart_mu`,
      `popart_nu`, non-trainable; the learner updates them and rescales the
      head so that its outputs are preserved); the agent's `value` is still
      in reward units.
  """
  core: str = 'lstm'
  num_units: int = 48
  stacked_units: Tuple[int, int] = (256, 64)
  use_reward_input: bool = True
  reward_values: Tuple[float, ...] = ()
  seed: int = 0
  popart: bool = False

  def __post_init__(self):
    # JSON gives lists: back to the tuples a frozen config holds.
    for name in ('stacked_units', 'reward_values'):
      object.__setattr__(self, name, tuple(getattr(self, name)))
    if self.core not in CORES:
      raise ValueError(f'unknown `core` {self.core!r}; choose one of '
                       f'{", ".join(CORES)}')
    if isinstance(self.num_units, bool) or not isinstance(
        self.num_units, numbers.Integral) or self.num_units < 1:
      raise ValueError(f'`num_units` must be an integer >= 1, got '
                       f'{self.num_units!r}')
    if len(self.stacked_units) != 2 or not all(
        isinstance(u, numbers.Integral) and not isinstance(u, bool) and u >= 1
        for u in self.stacked_units):
      raise ValueError(f'`stacked_units` must be two integers >= 1, got '
                       f'{self.stacked_units!r}')
    if not all(isinstance(v, numbers.Real) and not isinstance(v, bool)
               for v in self.reward_values):
      raise ValueError(f'`reward_values` must be numbers, got '
                       f'{self.reward_values!r}')


class AgentOutput(NamedTuple):
  logits: tf.Tensor  # float32 [B, A] (or [T, B, A] from `unroll`)
  value: tf.Tensor  # float32 [B] (or [T, B])


class Seeds:
  """Distinct initialiser seeds for the named layers of one agent.

  A layer's seed is drawn from `numpy.random.SeedSequence((seed, crc32(name)))`,
  so it depends only on the agent seed and the layer's name (adding a layer
  leaves the others' weights unchanged); seeds repeated within one agent are
  refused.
  """

  def __init__(self, seed: int):
    self.seed = int(seed)
    self._used = {}

  def __call__(self, name: str) -> int:
    entropy = (self.seed % 2**63, zlib.crc32(name.encode()))
    value = int(np.random.SeedSequence(entropy).generate_state(1)[0] >> 1)
    if self._used.setdefault(value, name) != name:
      raise ValueError(f'initialiser seeds of {name!r} and '
                       f'{self._used[value]!r} collide')
    return value

  def glorot(self, name: str):
    return keras.initializers.GlorotUniform(seed=self(name))

  def orthogonal(self, name: str):
    return keras.initializers.Orthogonal(seed=self(name))


def sample_action(logits: tf.Tensor, key: Optional[tf.Tensor] = None,
                  greedy: bool = False) -> tf.Tensor:
  """Actions int32 [B] from logits [B, A]: the one sampler of TF policies
  (training, export, evaluation; NumPy baselines use
  `meta_rl.baselines.common.sample_action`).

  With a `key` (int32 [2]) the draw is stateless and reproducible (training,
  evaluation); without one it is fresh on every call (the exported `action`
  output). `greedy` takes the argmax instead.
  """
  if greedy:
    return tf.argmax(logits, axis=-1, output_type=tf.int32)
  if key is None:
    return tf.random.categorical(logits, 1, dtype=tf.int32)[:, 0]
  return tf.random.stateless_categorical(logits, 1, key, dtype=tf.int32)[:, 0]


# Smallest image side the conv encoder takes (8x8 stride 4, then 4x4 stride 2).
MIN_IMAGE_SIDE = 20


def _is_image(spec: specs.Array) -> bool:
  return len(spec.shape) == 3 and spec.dtype == np.uint8


class ObservationEncoder(keras.layers.Layer):
  """Turns an observation dict of [N, ...] tensors into features [N, F]."""

  def __init__(self, observation_spec: Dict[str, specs.Array], seeds: Seeds,
               **kwargs):
    super().__init__(**kwargs)
    self._spec = dict(sorted(observation_spec.items()))
    # Each conv stack is an attribute of its own (not held in a dict), so
    # that TF checkpoints track it under encoder/conv_<key>: a checkpoint of
    # the agent alone then restores the encoder too.
    self._conv_keys = []
    for key, spec in self._spec.items():
      if _is_image(spec):
        if min(spec.shape[:2]) < MIN_IMAGE_SIDE:
          raise ValueError(
              f'observation {key!r} is {spec.shape[0]}x{spec.shape[1]}; the '
              f'conv encoder needs at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}')
        name = f'conv_{key}'
        self._conv_keys.append(key)
        setattr(self, name, keras.Sequential([
            keras.layers.Conv2D(16, 8, strides=4, activation='relu',
                                kernel_initializer=seeds.glorot(f'{name}/0')),
            keras.layers.Conv2D(32, 4, strides=2, activation='relu',
                                kernel_initializer=seeds.glorot(f'{name}/1')),
            keras.layers.Flatten(),
            keras.layers.Dense(256, activation='relu',
                               kernel_initializer=seeds.glorot(f'{name}/2')),
        ], name=name))

  def call(self, observation: Dict[str, tf.Tensor]) -> tf.Tensor:
    features = []
    for key, spec in self._spec.items():
      x = observation[key]
      if key in self._conv_keys:
        conv = getattr(self, f'conv_{key}')
        features.append(conv(tf.cast(x, tf.float32) / 255.0))
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


class Core(keras.layers.Layer):
  """Interface of a core: `call(features, prev_action, prev_reward, state)
  -> (output [B, output_size], next state)`.

  Inputs: encoded observation [B, F], one-hot previous action [B, A],
  encoded previous reward [B, R]. `state_sizes` names the state tensors
  ({} for a core without state).
  """

  state_sizes: Dict[str, int] = {}
  output_size: int

  def initial_state(self, batch_size) -> State:
    return {k: tf.zeros([batch_size, n], tf.float32)
            for k, n in self.state_sizes.items()}


def _lstm(units: int, seeds: Seeds, name: str) -> keras.layers.LSTMCell:
  return keras.layers.LSTMCell(
      units, kernel_initializer=seeds.glorot(f'{name}/kernel'),
      recurrent_initializer=seeds.orthogonal(f'{name}/recurrent'), name=name)


class LSTMCore(Core):
  """Fig 1a/1b: one LSTM on all three inputs; state {'lstm_h', 'lstm_c'}."""

  def __init__(self, num_units: int, seeds: Seeds, **kwargs):
    super().__init__(**kwargs)
    self.cell = _lstm(num_units, seeds, 'lstm')
    self.state_sizes = {'lstm_h': num_units, 'lstm_c': num_units}
    self.output_size = num_units

  def call(self, features, prev_action, prev_reward, state):
    x = tf.concat([features, prev_action, prev_reward], axis=-1)
    h, (h, c) = self.cell(x, [state['lstm_h'], state['lstm_c']])
    return h, {'lstm_h': h, 'lstm_c': c}


class StackedLSTMCore(Core):
  """Fig 1c: LSTM 1 sees the observation and previous reward; LSTM 2 sees the
  observation, LSTM 1's output and the previous action.

  State {'lstm0_h', 'lstm0_c', 'lstm1_h', 'lstm1_c'}.
  """

  def __init__(self, units: Tuple[int, int], seeds: Seeds, **kwargs):
    super().__init__(**kwargs)
    if len(units) != 2:
      raise ValueError(f'stacked_lstm has two LSTMs, got sizes {units}')
    # One attribute per LSTM (not a list) so that TF checkpoints track them.
    self.lstm0, self.lstm1 = [_lstm(n, seeds, f'lstm{i}')
                              for i, n in enumerate(units)]
    self.state_sizes = {}
    for i, n in enumerate(units):
      self.state_sizes[f'lstm{i}_h'] = n
      self.state_sizes[f'lstm{i}_c'] = n
    self.output_size = units[-1]

  def call(self, features, prev_action, prev_reward, state):
    h0, (h0, c0) = self.lstm0(tf.concat([features, prev_reward], -1),
                              [state['lstm0_h'], state['lstm0_c']])
    h1, (h1, c1) = self.lstm1(tf.concat([features, h0, prev_action], -1),
                              [state['lstm1_h'], state['lstm1_c']])
    return h1, {'lstm0_h': h0, 'lstm0_c': c0, 'lstm1_h': h1, 'lstm1_c': c1}


class FeedForwardCore(Core):
  """Fig 7's "FF A3C": a ReLU layer on the current observation only; the
  previous action and reward are ignored and there is no state."""

  def __init__(self, num_units: int, seeds: Seeds, **kwargs):
    super().__init__(**kwargs)
    self.hidden = keras.layers.Dense(num_units, activation='relu',
                                     kernel_initializer=seeds.glorot('hidden'),
                                     name='hidden')
    self.state_sizes = {}
    self.output_size = num_units

  def call(self, features, prev_action, prev_reward, state):
    del prev_action, prev_reward
    return self.hidden(features), dict(state)


CORES = {
    'lstm': lambda cfg, seeds: LSTMCore(cfg.num_units, seeds, name='core'),
    'stacked_lstm': lambda cfg, seeds: StackedLSTMCore(
        tuple(cfg.stacked_units), seeds, name='core'),
    'feedforward': lambda cfg, seeds: FeedForwardCore(cfg.num_units, seeds,
                                                      name='core'),
}


class MetaRLAgent(keras.layers.Layer):
  """Actor-critic taking (observation, prev action, prev reward) and a state."""

  def __init__(self, observation_spec: Dict[str, specs.Array],
               num_actions: int, config: AgentConfig = AgentConfig(),
               **kwargs):
    super().__init__(**kwargs)
    for key in observation_spec:
      if key in ('prev_action', 'prev_reward'):
        raise ValueError(f'observation key {key!r} clashes with an input name')
    self.config = config
    self.num_actions = num_actions
    self.observation_spec = dict(observation_spec)
    seeds = Seeds(config.seed)
    self.encoder = ObservationEncoder(observation_spec, seeds, name='encoder')
    self.core = CORES[config.core](config, seeds)
    self.policy_head = keras.layers.Dense(
        num_actions, kernel_initializer=seeds.glorot('policy'), name='policy')
    self.value_head = keras.layers.Dense(
        1, kernel_initializer=seeds.glorot('value'), name='value')
    if config.popart:
      # First and second moments of the returns (sigma 1 at the start).
      self.popart_mu = self.add_weight(shape=(), initializer='zeros',
                                       trainable=False, name='popart_mu')
      self.popart_nu = self.add_weight(shape=(), initializer='ones',
                                       trainable=False, name='popart_nu')
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

  def _encode_action(self, action):
    """int [N] -> one-hot [N, A] (-1: all zeros)."""
    return tf.one_hot(tf.cast(action, tf.int32), self.num_actions)

  def _encode_reward(self, reward):
    """float [N] -> [N, 1] scalar, or [N, len(reward_values)] one-hot."""
    reward = tf.cast(reward, tf.float32)
    values = self.config.reward_values
    if values:
      match = tf.abs(reward[:, None] -
                     tf.constant(values, tf.float32)[None]) < REWARD_TOLERANCE
      encoded = tf.cast(match, tf.float32)
    else:
      encoded = reward[:, None]
    if not self.config.use_reward_input:
      encoded = tf.zeros_like(encoded)
    return encoded

  def _heads(self, h):
    value = tf.squeeze(self.value_head(h), -1)
    if self.config.popart:  # normalised -> reward units
      value = self.value_scale() * value + self.popart_mu
    return AgentOutput(self.policy_head(h), value)

  def value_scale(self) -> tf.Tensor:
    """PopArt's sigma (the scale of the returns); 1 without PopArt."""
    if not self.config.popart:
      return tf.constant(1.0)
    return popart_sigma(self.popart_mu, self.popart_nu)

  def encode(self, observation: Dict[str, tf.Tensor]) -> tf.Tensor:
    """Observation dict of [N, ...] tensors -> features float32 [N, F]."""
    return self.encoder({k: observation[k] for k in self.observation_spec})

  def core_step(self, features: tf.Tensor, prev_action: tf.Tensor,
                prev_reward: tf.Tensor,
                state: State) -> Tuple[AgentOutput, State]:
    """Core and heads for one step from encoded observations [B, F], the
    previous action int32 [B] and reward float32 [B]."""
    h, new_state = self.core(features, self._encode_action(prev_action),
                             self._encode_reward(prev_reward), state)
    return self._heads(h), new_state

  def step(self, inputs: Dict[str, tf.Tensor],
           state: State) -> Tuple[AgentOutput, State]:
    """One step for acting.

    Args:
      inputs: `prev_action` int32 [B], `prev_reward` float32 [B] and every
        observation key ([B, ...]).
      state: dict of [B, n].
    Returns:
      (AgentOutput with logits [B, A] and value [B], next state).
    """
    return self.core_step(self.encode(inputs), inputs['prev_action'],
                          inputs['prev_reward'], state)

  def call(self, inputs, state):
    return self.step(inputs, state)

  def reset_where(self, first: tf.Tensor, inputs: Dict[str, tf.Tensor],
                  state: State):
    """Where `first` [B] is True, starts a new episode: initial state, no
    previous action (-1) and zero previous reward."""
    init = self.initial_state(tf.shape(first)[0])
    mask = first[:, None]
    state = {k: tf.where(mask, init[k], v) for k, v in state.items()}
    inputs = dict(inputs)
    inputs['prev_action'] = tf.where(first, -1, inputs['prev_action'])
    inputs['prev_reward'] = tf.where(first, 0.0, inputs['prev_reward'])
    return inputs, state

  def unroll(self, inputs: Dict[str, tf.Tensor], first: tf.Tensor,
             state: State) -> Tuple[AgentOutput, State]:
    """The network over a time-major sequence, for learning.

    Equivalent to `reset_where` + `step` at every t, but the encoder runs
    once on all T*B observations and the heads once on all T*B core outputs;
    only the core is stepped in a loop (and not even that without state).

    Args:
      inputs: as for `step`, each [T, B, ...].
      first: bool [T, B], True where an episode starts.
      state: the state before the first step, dict of [B, n].
    Returns:
      (AgentOutput with logits [T, B, A] and value [T, B], final state).
    """
    shape = tf.shape(first)
    length, batch = shape[0], shape[1]

    def flat(x):  # [T, B, ...] -> [T*B, ...]
      return tf.reshape(x, tf.concat([[length * batch], tf.shape(x)[2:]], 0))

    def unflat(x):  # [T*B, ...] -> [T, B, ...]
      return tf.reshape(x, tf.concat([[length, batch], tf.shape(x)[1:]], 0))

    features = unflat(self.encode(
        {k: flat(inputs[k]) for k in self.observation_spec}))  # [T, B, F]
    prev_action = unflat(self._encode_action(
        flat(tf.where(first, -1, inputs['prev_action']))))  # [T, B, A]
    prev_reward = unflat(self._encode_reward(
        flat(tf.where(first, 0.0, inputs['prev_reward']))))  # [T, B, R]
    if not self.state_sizes:
      h, _ = self.core(flat(features), flat(prev_action), flat(prev_reward), {})
      out = self._heads(h)
      return AgentOutput(unflat(out.logits), unflat(out.value)), dict(state)
    # Per-step reads from TensorArrays: slicing a captured tensor in the loop
    # would make the gradient build a [T, B, ...] tensor at every step.
    xs = [tf.TensorArray(x.dtype, size=length).unstack(x)
          for x in (features, prev_action, prev_reward, first)]
    init = self.initial_state(batch)
    h_ta = tf.TensorArray(tf.float32, size=length)
    for t in tf.range(length):
      f_t, a_t, r_t, first_t = [x.read(t) for x in xs]
      state = {k: tf.where(first_t[:, None], init[k], v)
               for k, v in state.items()}
      h, state = self.core(f_t, a_t, r_t, state)
      h_ta = h_ta.write(t, h)
    out = self._heads(flat(h_ta.stack()))  # [T*B, A], [T*B]
    return AgentOutput(unflat(out.logits), unflat(out.value)), state


# PopArt's sigma is kept in [POPART_SIGMA_MIN, POPART_SIGMA_MAX].
POPART_SIGMA_MIN, POPART_SIGMA_MAX = 1e-4, 1e6


def popart_sigma(mu, nu):
  """sqrt(nu - mu^2), the standard deviation of the returns, clipped."""
  mu, nu = tf.convert_to_tensor(mu), tf.convert_to_tensor(nu)
  return tf.clip_by_value(tf.sqrt(tf.maximum(nu - tf.square(mu), 0.0)),
                          POPART_SIGMA_MIN, POPART_SIGMA_MAX)


def make_agent(observation_spec, num_actions,
               config: AgentConfig = AgentConfig()) -> MetaRLAgent:
  return MetaRLAgent(observation_spec, num_actions, config, name='agent')
