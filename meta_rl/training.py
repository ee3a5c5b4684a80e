"""A2C training of the meta-RL agent: an in-graph driver and a dm_env driver.

`InGraphTrainer` runs B copies of a batched TF core (the synchronous
equivalent of the paper's threads). One `tf.function` plays an unroll of K
steps of environment and agent with core and heads on a gradient tape, then
applies the A2C gradient. The observation encoder is differentiated once on
all K*B frames after the loop, not step by step inside it (see
`InGraphTrainer._unroll_and_update`); the gradient equals that of recomputing
the recorded unroll with `agent.unroll`, as seed_rl's learner does.
Environment state, agent state, the previous action/reward and running
episode sums live in `tf.Variable`s, carry across unrolls (truncated BPTT)
and are checkpointed, so a resumed run continues exactly where it stopped.

`PythonEnvTrainer` trains the same agent on a list of B user-supplied
`dm_env.Environment`s, stepping them from Python and learning from the
recorded unroll with `agent.unroll` (the encoder once on all (K+1)*B
observations).

Both expose `train_step() -> dict of floats` (see `meta_rl.metrics` for the
`sum/` keys), `checkpoint`, `num_updates`, `total_updates`, `env_steps`,
`frames`, `progress_metrics`, `derived_metrics`, `episode_metric_names` and
`histograms()`; `meta_rl.loop.run` drives either.

Histograms come out of the same compiled update as the scalars, at no extra
pass: the update also returns the policy logits [K, B, A] and values [K, B]
it computed for the loss (kept as tensors, read only when `histograms()` is
called) and each layer's gradient norm (a vector of L floats, which
`train_step` collects); see `histograms`.
"""

import collections
import dataclasses
import functools
import math
import numbers
import re
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import dm_env
import keras
import numpy as np
import tensorflow as tf
import tree

from environments import core as core_lib
from meta_rl import losses
from meta_rl import metrics as metrics_lib
from meta_rl import agent as agent_lib
from meta_rl.agent import MetaRLAgent, sample_action


OPTIMIZERS = ('adam', 'rmsprop')
# The range of an adapted beta_e (`A2CConfig.target_entropy`).
BETA_E_MIN, BETA_E_MAX = 1e-5, 1.0


@dataclasses.dataclass(frozen=True)
class A2CConfig:
  """A2C hyperparameters (Table 1).

  Attributes:
    gamma: discount factor.
    beta_v: value loss coefficient.
    beta_e: entropy coefficient at the start of training.
    beta_e_final: if set, beta_e is annealed linearly to this value over
      training (Exps 3-4 anneal 1 -> 0); None keeps it constant.
    learning_rate: initial learning rate.
    learning_rate_final: if set, decayed linearly to this value over training.
    optimizer: 'adam' or 'rmsprop' (see `OPTIMIZERS`).
    rmsprop_rho, rmsprop_epsilon: RMSProp decay and epsilon (A3C: 0.99, 0.1).
    adam_epsilon: Adam epsilon.
    max_grad_norm: global-norm gradient clipping (0 disables).
    target_entropy: if set (nats), beta_e is not scheduled but adapted to
      keep the mean policy entropy of an update near this target, as
      Soft Actor-Critic tunes its temperature (Haarnoja et al. 2018): after
      each update, log(beta_e) += beta_e_lr * (target_entropy - entropy),
      starting from `beta_e` and kept in [BETA_E_MIN, BETA_E_MAX]. A policy
      more random than the target gets less entropy bonus (no drift towards
      uniform once advantages vanish), one less random gets more (no
      premature determinism).
    beta_e_lr: step size of that adaptation (per update, in log space).
    popart_beta: for an agent with PopArt (`AgentConfig.popart`), the step
      size of the running first and second moments of the returns, per
      update (each update's mean over its B x K returns); about 1 /
      popart_beta updates of memory.
  """
  gamma: float = 0.9
  beta_v: float = 0.05
  beta_e: float = 0.05
  beta_e_final: Optional[float] = None
  learning_rate: float = 3e-3
  learning_rate_final: Optional[float] = None
  optimizer: str = 'adam'
  rmsprop_rho: float = 0.99
  rmsprop_epsilon: float = 0.1
  adam_epsilon: float = 1e-7
  max_grad_norm: float = 1.0
  target_entropy: Optional[float] = None
  beta_e_lr: float = 0.02
  popart_beta: float = 3e-3

  def __post_init__(self):
    for name, (low, high, low_open, text) in A2C_RANGES.items():
      value = getattr(self, name)
      if value is None and name in A2C_OPTIONAL:
        continue
      if not in_range(value, low, high, low_open):
        raise ValueError(f'{name} must be {text}, got {value!r}')
    if self.target_entropy is not None:
      if self.beta_e_final is not None:
        raise ValueError('give either target_entropy (adapted beta_e) or '
                         'beta_e_final (scheduled beta_e), not both')
      if not BETA_E_MIN <= self.beta_e <= BETA_E_MAX:
        raise ValueError(f'with target_entropy, beta_e (its start) must be in '
                         f'[{BETA_E_MIN}, {BETA_E_MAX}], got {self.beta_e}')
    if self.optimizer not in OPTIMIZERS:
      raise ValueError(f'unknown optimizer {self.optimizer!r}; choose one of '
                       f'{", ".join(OPTIMIZERS)}')


# The valid values of A2CConfig's numbers (the launchers' flags check the
# same): name -> (low, high, low excluded, the range in words).
A2C_RANGES = {
    'gamma': (0, 1, False, 'in [0, 1]'),
    'beta_v': (0, math.inf, False, 'a finite number >= 0'),
    'beta_e': (0, math.inf, False, 'a finite number >= 0'),
    'beta_e_final': (0, math.inf, False, 'a finite number >= 0'),
    'learning_rate': (0, 1, True, 'a finite number in (0, 1]'),
    'learning_rate_final': (0, 1, False, 'a finite number in [0, 1]'),
    'rmsprop_rho': (0, 1, False, 'in [0, 1]'),
    'rmsprop_epsilon': (0, 1, True, 'a finite number in (0, 1]'),
    'adam_epsilon': (0, 1, True, 'a finite number in (0, 1]'),
    'max_grad_norm': (0, math.inf, False, 'a finite number >= 0 (0: off)'),
    'target_entropy': (0, math.inf, False, 'a finite number >= 0'),
    'beta_e_lr': (0, math.inf, True, 'a finite number > 0'),
    'popart_beta': (0, 1, True, 'a finite number in (0, 1]'),
}
A2C_OPTIONAL = ('beta_e_final', 'learning_rate_final', 'target_entropy')


def in_range(value, low, high, low_open=False) -> bool:
  """Whether `value` is a finite number in [low, high] (low excluded if
  `low_open`)."""
  if isinstance(value, bool) or not isinstance(value, numbers.Real):
    return False
  if not math.isfinite(value) or value > high:
    return False
  return value > low if low_open else value >= low


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """How to train.

  Attributes:
    batch_size: number of environments B stepped in lockstep.
    unroll_length: agent steps K per update (truncated BPTT length).
    total_steps: agent steps (decisions) to train for, B * K per update; it
      sets the length of the learning-rate and entropy schedules unless
      `schedule_steps` is given.
    schedule_steps: agent steps the learning-rate and entropy schedules run
      over (None: `total_steps`); past them both stay at their final values.
      A resumed run that is extended (a larger `total_steps`) keeps the
      schedules of its first `total_steps` this way.
    seed: seed of environment, action sampling and initialisation streams.
    jit_compile: compile the update with XLA.
    jit_env: compile only the environment's step (with its resets) with XLA
      inside an update that is not (e.g. Harlow's task: its many small ops
      per primitive step fuse; the conv encoder stays on oneDNN, which is
      faster than XLA's convolutions on CPU). XLA draws other stateless random
      numbers than the default kernels, so the episodes differ from those of
      the same seed without it.
  """
  batch_size: int = 128
  unroll_length: int = 100
  total_steps: int = 10_000_000
  seed: int = 0
  jit_compile: bool = False
  jit_env: bool = False
  schedule_steps: Optional[int] = None

  def __post_init__(self):
    for name in ('batch_size', 'unroll_length', 'total_steps'):
      if getattr(self, name) < 1:
        raise ValueError(f'{name} must be >= 1, got {getattr(self, name)}')
    if self.schedule_steps is not None and self.schedule_steps < 1:
      raise ValueError(f'schedule_steps must be >= 1 or None, got '
                       f'{self.schedule_steps}')

  def _updates(self, steps: int) -> int:
    return max(1, -(-steps // (self.batch_size * self.unroll_length)))

  @property
  def total_updates(self) -> int:
    return self._updates(self.total_steps)

  @property
  def schedule_updates(self) -> int:
    """Updates the learning-rate and entropy schedules run over."""
    return self._updates(self.schedule_steps or self.total_steps)


class NonFiniteLossError(RuntimeError):
  """The loss or gradient became NaN/inf; the update was not applied."""


def make_optimizer(config: A2CConfig, schedule_updates: int):
  lr = config.learning_rate
  if config.learning_rate_final is not None:
    lr = keras.optimizers.schedules.PolynomialDecay(
        config.learning_rate, schedule_updates, config.learning_rate_final,
        power=1.0)
  if config.optimizer == 'adam':
    return keras.optimizers.Adam(lr, epsilon=config.adam_epsilon)
  if config.optimizer == 'rmsprop':
    return keras.optimizers.RMSprop(lr, rho=config.rmsprop_rho,
                                    epsilon=config.rmsprop_epsilon)
  raise ValueError(f'unknown optimizer {config.optimizer!r}; choose one of '
                   f'{", ".join(OPTIMIZERS)}')


# Keys of `_train_step` outputs that are kept as tensors for histograms
# rather than converted to floats every update.
HIST_PREFIX = 'hist/'
# Updates whose per-layer gradient norms `histograms` keeps at most.
MAX_NORM_WINDOW = 10_000


def layer_names(variables: Sequence[tf.Variable]) -> List[str]:
  """The Keras layer of each variable, as a name stable across processes.

  A variable's layer is its path without the last part (e.g.
  `core/lstm/kernel` -> `core/lstm`). Keras numbers auto-named layers across
  the whole process (`conv2d`, `conv2d_1`, ... continue with `conv2d_2` in
  the next agent built), so within each parent the `NAME_<n>` children are
  renumbered in order of first appearance: the first agent of a process and
  a later one get the same names, so runs and sweep trials line up in
  TensorBoard.
  """
  renamed = {}  # (canonical parent, raw child) -> canonical child
  counts = collections.defaultdict(int)  # (canonical parent, base) -> count
  out = []
  for v in variables:
    parts = v.path.split('/')[:-1]
    parent = ''
    for raw in parts:
      key = (parent, raw)
      if key not in renamed:
        base = re.sub(r'_\d+$', '', raw)
        n = counts[(parent, base)]
        counts[(parent, base)] += 1
        renamed[key] = base if n == 0 else f'{base}_{n}'
      parent = f'{parent}/{renamed[key]}' if parent else renamed[key]
    out.append(parent or v.path)
  return out


def _sums(prefix_free: Mapping[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
  return {metrics_lib.SUM_PREFIX + k: v for k, v in prefix_free.items()}


class _A2CLearner:
  """What both drivers share: optimizer, schedules, counters, learning step."""

  def __init__(self, agent: MetaRLAgent, a2c: A2CConfig, train: TrainConfig):
    self.agent = agent
    self.a2c = a2c
    self.config = train
    self.optimizer = make_optimizer(a2c, train.schedule_updates)
    self.optimizer.build(agent.trainable_variables)
    self._num_updates = tf.Variable(0, dtype=tf.int64, trainable=False,
                                    name='num_updates')
    # Primitive environment frames (more than agent steps under ActionRepeat).
    self._frames = tf.Variable(0, dtype=tf.int64, trainable=False,
                               name='frames')
    self._root_key = core_lib.make_key(train.seed)
    # The adapted entropy coefficient (`A2CConfig.target_entropy`), in log
    # space; checkpointed (`checkpoint_items`) only when it is used.
    self._log_beta_e = tf.Variable(math.log(a2c.beta_e) if a2c.beta_e > 0
                                   else math.log(BETA_E_MIN),
                                   dtype=tf.float32, trainable=False,
                                   name='log_beta_e')
    # Gradient norms per Keras layer (see `layer_names`).
    per_variable = layer_names(agent.trainable_variables)
    self.layer_names = list(dict.fromkeys(per_variable))
    self._layer_index = {id(v): self.layer_names.index(name) for v, name in
                         zip(agent.trainable_variables, per_variable)}
    self._norm_window = collections.deque(maxlen=MAX_NORM_WINDOW)
    self._last_hist = {}

  @property
  def compiled(self) -> bool:
    """Whether the update's tf.function has been traced (its first call
    compiles it and takes longer)."""
    return self._update_function().experimental_get_tracing_count() > 0

  def _update_function(self):
    raise NotImplementedError

  @property
  def episode_metric_names(self) -> List[str]:
    """The per-episode scalars the run loop logs from this trainer
    (`episode_return`, `episode_<metric>` of the task, then the task's
    derived metrics); empty until the metrics are known (a
    `PythonEnvTrainer` learns them in its first update)."""
    keys = getattr(self, '_episode_keys', None)
    if not keys:
      return []
    names = [f'episode_{k}' for k in keys if k != 'episodes']
    if self.derived_metrics is not None:
      try:
        names += sorted(self.derived_metrics({k: 1.0 for k in keys}))
      except (ArithmeticError, KeyError, ValueError):
        pass
    return names

  @property
  def total_updates(self) -> int:
    """Updates the run trains for."""
    return self.config.total_updates

  @property
  def num_updates(self) -> int:
    return int(self._num_updates.numpy())

  @property
  def env_steps_per_update(self) -> int:
    return self.config.batch_size * self.config.unroll_length

  @property
  def env_steps(self) -> int:
    """Agent steps (decisions) taken so far."""
    return self.num_updates * self.env_steps_per_update

  @property
  def frames(self) -> int:
    """Primitive environment frames taken so far."""
    return int(self._frames.numpy())

  def checkpoint_items(self) -> Dict[str, tf.Variable]:
    """What both drivers' checkpoints hold besides agent, optimizer and
    counters: the adapted beta_e, if the run adapts it."""
    if self.a2c.target_entropy is None:
      return {}
    return {'log_beta_e': self._log_beta_e}

  def _adapt_beta_e(self, entropy):
    """One step of the entropy-target adaptation (after an update)."""
    if self.a2c.target_entropy is None:
      return
    step = self.a2c.beta_e_lr * (self.a2c.target_entropy -
                                 tf.stop_gradient(entropy))
    self._log_beta_e.assign(tf.clip_by_value(
        self._log_beta_e + step, math.log(BETA_E_MIN), math.log(BETA_E_MAX)))

  def _beta_e(self):
    if self.a2c.target_entropy is not None:
      return tf.exp(self._log_beta_e)
    if self.a2c.beta_e_final is None:
      return tf.constant(self.a2c.beta_e, tf.float32)
    frac = tf.minimum(
        tf.cast(self._num_updates, tf.float32) /
        float(self.config.schedule_updates), 1.0)
    return self.a2c.beta_e + frac * (self.a2c.beta_e_final - self.a2c.beta_e)

  def _learn(self, inputs, first, initial_state, actions, rewards, discounts):
    """Learns from a recorded unroll by recomputing the network over it
    (`agent.unroll`: the encoder once on all (K+1)*B observations).

    Args:
      inputs: agent inputs [K+1, B, ...]: the K steps acted on and the step
        after them (whose value is the bootstrap).
      first: bool [K+1, B], True where an episode starts.
      initial_state: agent state before step 0, dict of [B, n].
      actions: int32 [K, B]; rewards: float32 [K, B]; discounts: float32
        [K, B], 0 where an episode ended.
    Returns:
      See `_apply`.
    """
    variables = self.agent.trainable_variables
    with tf.GradientTape() as tape:
      out, _ = self.agent.unroll(inputs, first, initial_state)
      loss, extra = self._loss(out.logits[:-1], out.value[:-1], actions,
                               rewards, discounts, out.value[-1])
    metrics = self._apply(loss, extra, tape.gradient(loss, variables),
                          variables, rewards)
    metrics.update(_histogram_outputs(out.logits[:-1], out.value[:-1]))
    return metrics

  def _loss(self, logits, values, actions, rewards, discounts, bootstrap_value):
    """The A2C loss with this update's entropy coefficient."""
    return losses.a2c_loss(logits, values, actions, rewards, discounts,
                           tf.stop_gradient(bootstrap_value), self.a2c.gamma,
                           self.a2c.beta_v, self._beta_e(),
                           value_scale=self.agent.value_scale())

  def _update_popart(self, returns):
    """PopArt's statistics step (after the update's gradient step): the
    moments of the returns move by `popart_beta` towards this update's, and
    the value head's weights are rescaled so that its values in reward units
    stay exactly what they were (van Hasselt et al. 2016, Algorithm 1)."""
    agent, beta = self.agent, self.a2c.popart_beta
    mu, nu = agent.popart_mu, agent.popart_nu
    sigma = agent.value_scale()
    new_mu = (1 - beta) * mu + beta * tf.reduce_mean(returns)
    new_nu = (1 - beta) * nu + beta * tf.reduce_mean(tf.square(returns))
    new_sigma = agent_lib.popart_sigma(new_mu, new_nu)
    head = agent.value_head
    head.kernel.assign(head.kernel * sigma / new_sigma)
    head.bias.assign((sigma * head.bias + mu - new_mu) / new_sigma)
    mu.assign(new_mu)
    nu.assign(new_nu)

  def _apply(self, loss, extra, grads, variables, rewards):
    """Applies clipped gradients if loss and gradient are finite.

    Returns:
      dict of scalar tensors: loss and its parts, grad_norm, schedules, mean
      reward, and `finite` (0.0 if the update was skipped); and
      `layer_grad_norms` float32 [L]: the norm of each layer's gradient
      before clipping (`layer_names` order).
    """
    beta_e = self._beta_e()  # read before the update counts itself
    # The global norm as `tf.linalg.global_norm` computes it (same ops, same
    # bits), from per-variable half squared norms that also give each
    # layer's norm.
    present = [(g, v) for g, v in zip(grads, variables) if g is not None]
    half = tf.stack([tf.nn.l2_loss(g) for g, _ in present])  # [V]
    grad_norm = tf.sqrt(tf.reduce_sum(half) * 2.0)
    layer_grad_norms = tf.sqrt(2.0 * tf.math.unsorted_segment_sum(
        half, [self._layer_index[id(v)] for _, v in present],
        len(self.layer_names)))  # [L]
    if self.a2c.max_grad_norm > 0:
      grads, _ = tf.clip_by_global_norm(grads, self.a2c.max_grad_norm,
                                        use_norm=grad_norm)
    finite = tf.math.is_finite(loss) & tf.math.is_finite(grad_norm)

    def apply():
      self.optimizer.apply_gradients(zip(grads, variables))
      self._num_updates.assign_add(1)
      self._adapt_beta_e(extra.entropy)
      if self.agent.config.popart:
        self._update_popart(extra.returns)
      return tf.constant(True)

    # A non-finite update is not applied at all (no optimizer step, no moment
    # update); the Python shell then stops the run without checkpointing.
    tf.cond(finite, apply, lambda: tf.constant(False))
    return {
        'loss': loss,
        'policy_loss': extra.policy_loss,
        'value_loss': extra.value_loss,
        'entropy': extra.entropy,
        'grad_norm': grad_norm,
        'beta_e': beta_e,
        'learning_rate': tf.convert_to_tensor(self.optimizer.learning_rate,
                                              tf.float32),
        'mean_reward': tf.reduce_mean(rewards),
        'finite': tf.cast(finite, tf.float32),
        'layer_grad_norms': layer_grad_norms,
        **({'value_scale': self.agent.value_scale(),
            'value_shift': tf.convert_to_tensor(self.agent.popart_mu)}
           if self.agent.config.popart else {}),
    }

  def train_step(self) -> Dict[str, float]:
    """One update; raises NonFiniteLossError (update not applied) on NaN/inf."""
    out = dict(self._train_step())
    self._last_hist = {k[len(HIST_PREFIX):]: out.pop(k) for k in list(out)
                       if k.startswith(HIST_PREFIX)}
    norms = out.pop('layer_grad_norms', None)
    metrics = {k: float(v) for k, v in out.items()}
    if norms is not None and metrics.get('finite') == 1.0:
      self._norm_window.append(norms.numpy())
    if metrics.pop('finite') != 1.0:
      raise NonFiniteLossError(
          f'non-finite loss {metrics["loss"]} or gradient norm '
          f'{metrics["grad_norm"]} at update {self.num_updates}; update skipped')
    return metrics

  def histograms(self) -> Dict[str, np.ndarray]:
    """Data for TensorBoard histograms; cheap, for a low rate.

    `logits` [K, B, A] and `values` [K, B]: what the policy and value heads
    computed in the latest update (the tensors the update returned, read
    now); `grad_norm/<layer>` [n]: the norm of that layer's gradient (before
    clipping) in each of the n updates since the previous call (at most
    `MAX_NORM_WINDOW`, the latest). Empty before the first update.
    """
    out = {k: v.numpy() for k, v in self._last_hist.items()}
    if self._norm_window:
      norms = np.stack(self._norm_window)  # [n, L]
      out.update({f'grad_norm/{name}': norms[:, i]
                  for i, name in enumerate(self.layer_names)})
      self._norm_window.clear()
    return out


def _histogram_outputs(logits, values):
  """The update's outputs kept for `histograms`: logits [K, B, A], values
  [K, B]."""
  return {HIST_PREFIX + 'logits': logits, HIST_PREFIX + 'values': values}


def _variables_like(structure, name):
  return tree.map_structure_with_path(
      lambda path, x: tf.Variable(
          x, trainable=False,
          name=name + '_' + '_'.join(str(p) for p in path)), structure)


def _assign(variables, values):
  tree.map_structure(lambda v, x: v.assign(x), variables, values)


def _read(variables):
  return tree.map_structure(lambda v: v.read_value(), variables)


class InGraphTrainer(_A2CLearner):
  """Trains on B copies of a batched TF core with the unroll in the graph."""

  def __init__(self, core: core_lib.BatchedCore, agent: MetaRLAgent,
               a2c: A2CConfig = A2CConfig(), train: TrainConfig = TrainConfig(),
               stages: Sequence[Tuple[int, core_lib.BatchedCore]] = (),
               log: Optional[Callable[[str], None]] = None):
    """Args:
      core, agent, a2c, train: the task, the agent and how to train it.
      stages: a curriculum (`meta_rl.curriculum`): `(start update, core)`
        pairs, starts increasing and >= 1. The first update whose index
        (`num_updates` before it) is at or past a start trains on that
        stage's core, with every episode restarted there; the core before
        the first start is `core`. Every stage must have `core`'s
        observation spec, actions and metrics.
      log: where a line goes when a stage begins (None: nowhere).
    """
    super().__init__(agent, a2c, train)
    self.progress_metrics = core.progress_metrics
    self.derived_metrics = core.derived_metrics
    b = train.batch_size
    env_state, obs = core.reset(core_lib.fold_in(self._root_key, -1), b)
    self._episode_keys, self._has_frames = self._metric_keys(core, env_state)
    self._stages = [(0, core)] + [(int(u), c) for u, c in stages]
    for i, (start, stage_core) in enumerate(self._stages[1:], 1):
      if start <= self._stages[i - 1][0]:
        raise ValueError('curriculum stages must start at increasing updates '
                         f'>= 1, got {[u for u, _ in self._stages[1:]]}')
      self._check_stage(core, stage_core, b, start)
    self._stage = 0
    self._log = log
    self._feature_size = int(agent.encode(obs).shape[-1])
    running = metrics_lib.zero_episode_sums(self._episode_keys, b)
    # Everything an unroll carries over to the next one, as variables.
    self._carry = {
        'env_state': _variables_like(env_state, 'env_state'),
        'observation': _variables_like(obs, 'obs'),
        'agent_state': _variables_like(agent.initial_state(b), 'agent_state'),
        'prev_action': tf.Variable(-tf.ones([b], tf.int32), trainable=False),
        'prev_reward': tf.Variable(tf.zeros([b]), trainable=False),
        'first': tf.Variable(tf.ones([b], tf.bool), trainable=False),
        'episode_sums': tf.Variable(running, trainable=False,
                                    name='episode_sums'),
    }
    self.checkpoint = tf.train.Checkpoint(
        agent=agent, optimizer=self.optimizer, num_updates=self._num_updates,
        frames=self._frames, carry=tf.Module(), **self.checkpoint_items())
    for k, v in self._carry.items():
      setattr(self.checkpoint.carry, k, v)
    self._use_core(core)

  def _use_core(self, core):
    """Trains on `core` from the next update (compiled anew)."""
    self.core = core
    train = self.config
    self._env_step = functools.partial(core_lib.step_autoreset, core)
    if train.jit_env and not train.jit_compile:
      self._env_step = tf.function(self._env_step, jit_compile=True,
                                   autograph=False)
    self._train_step = tf.function(self._unroll_and_update,
                                   jit_compile=train.jit_compile)

  def _metric_keys(self, core, env_state):
    """The task's episode metric names (and whether it counts frames), from
    one throw-away step."""
    b = self.config.batch_size
    _, probe = core.step(core_lib.fold_in(self._root_key, -2), env_state,
                         tf.zeros([b], tf.int32))
    return metrics_lib.episode_keys(probe.metrics), 'frames' in probe.metrics

  def _check_stage(self, core, stage_core, b, start):
    problem = None
    if stage_core.num_actions != core.num_actions:
      problem = (f'{stage_core.num_actions} actions instead of '
                 f'{core.num_actions}')
    elif stage_core.observation_spec() != core.observation_spec():
      problem = (f'observations {stage_core.observation_spec()} instead of '
                 f'{core.observation_spec()}')
    else:
      state, _ = stage_core.reset(core_lib.fold_in(self._root_key, -1), b)
      if self._metric_keys(stage_core, state) != (self._episode_keys,
                                                  self._has_frames):
        problem = 'other episode metrics'
    if problem:
      raise ValueError(f'the curriculum stage from update {start} changes '
                       f'what the agent sees or does: {problem}')

  @property
  def final_core(self) -> core_lib.BatchedCore:
    """The core of the last stage: the task the run ends on."""
    return self._stages[-1][1]

  @property
  def stage(self) -> int:
    """The curriculum stage of the latest update (0: the first core)."""
    return self._stage

  def _enter_stage(self):
    """Before an update: the core of the stage its index falls in. At the
    stage's first update every episode restarts; a trainer restored past
    that update (a resumed run) carries on the episodes it restored."""
    update = self.num_updates
    i = max(j for j, (start, _) in enumerate(self._stages) if start <= update)
    if i == self._stage:
      return
    start, core = self._stages[i]
    self._use_core(core)
    self._stage = i
    if update == start:
      self._restart_episodes(core, i)
    if self._log:
      self._log(f'curriculum stage {i} from update {start} '
                f'({start * self.env_steps_per_update} decisions)'
                + ('' if update == start else f', resumed at update {update}'))

  def _restart_episodes(self, core, stage):
    b = self.config.batch_size
    env_state, obs = core.reset(core_lib.fold_in(self._root_key, -2 - stage),
                                b)
    c = self._carry
    _assign(c['env_state'], env_state)
    _assign(c['observation'], obs)
    _assign(c['agent_state'], self.agent.initial_state(b))
    c['prev_action'].assign(-tf.ones([b], tf.int32))
    c['prev_reward'].assign(tf.zeros([b]))
    c['first'].assign(tf.ones([b], tf.bool))
    c['episode_sums'].assign(
        metrics_lib.zero_episode_sums(self._episode_keys, b))

  def train_step(self) -> Dict[str, float]:
    if len(self._stages) == 1:
      return super().train_step()
    self._enter_stage()
    return dict(super().train_step(), curriculum_stage=float(self._stage))

  def _update_function(self):
    return self._train_step

  def _unroll_and_update(self):
    """Acts K steps and learns from them in one taped pass.

    Core and heads are taped step by step while acting (one forward pass, as
    the paper's A3C). The encoder is not: inside the loop its features enter
    the core through `stop_gradient(features) + z_t`, where z [K, B, F] is a
    watched zero tensor, so the loss gradient with respect to z is the
    gradient at the features of every step; after the loop the encoder runs
    once on all K*B observations and receives that gradient
    (`output_gradients`). A conv encoder is thus differentiated on one batch
    of K*B frames instead of K batches of B inside the loop. Tasks whose
    encoder has no weights (bandits, two-step) skip this.
    """
    c = self._carry
    k, b = self.config.unroll_length, self.config.batch_size
    key = core_lib.fold_in(self._root_key, self._num_updates)
    env_key, act_key = core_lib.split_key(key)
    env_state = _read(c['env_state'])
    obs = _read(c['observation'])
    agent_state = _read(c['agent_state'])
    prev_action = c['prev_action'].read_value()
    prev_reward = c['prev_reward'].read_value()
    first = c['first'].read_value()
    running = c['episode_sums'].read_value()
    totals = metrics_lib.zero_episode_sums(self._episode_keys, b)
    frames = tf.constant(0.0)
    encoder_vars = self.agent.encoder.trainable_variables
    encoder_ids = {id(v) for v in encoder_vars}
    other_vars = [v for v in self.agent.trainable_variables
                  if id(v) not in encoder_ids]

    # Autograph tracks loop variables by Python name: one local per array.
    logits_ta = tf.TensorArray(tf.float32, size=k)
    values_ta = tf.TensorArray(tf.float32, size=k)
    actions_ta = tf.TensorArray(tf.int32, size=k)
    rewards_ta = tf.TensorArray(tf.float32, size=k)
    discounts_ta = tf.TensorArray(tf.float32, size=k)
    obs_ta = ({name: tf.TensorArray(x.dtype, size=k) for name, x in obs.items()}
              if encoder_vars else {})
    with tf.GradientTape() as tape:
      if encoder_vars:
        z = tf.zeros([k, b, self._feature_size])
        tape.watch(z)
        z_ta = tf.TensorArray(tf.float32, size=k).unstack(z)
      for t in tf.range(k):
        if encoder_vars:
          obs_ta = {name: ta.write(t, obs[name]) for name, ta in obs_ta.items()}
        inputs = dict(obs, prev_action=prev_action, prev_reward=prev_reward)
        inputs, agent_state = self.agent.reset_where(first, inputs, agent_state)
        features = self.agent.encode(inputs)
        if encoder_vars:
          features = tf.stop_gradient(features) + z_ta.read(t)
        out, agent_state = self.agent.core_step(
            features, inputs['prev_action'], inputs['prev_reward'], agent_state)
        action = sample_action(out.logits, core_lib.fold_in(act_key, t))
        # No gradient flows through the task (an XLA-compiled step must not
        # be rewritten for one).
        env_state, step = tree.map_structure(tf.stop_gradient, self._env_step(
            core_lib.fold_in(env_key, t), env_state, action))
        running, totals = metrics_lib.track_episodes(
            running, totals, step.reward, step.metrics, step.last)
        if self._has_frames:
          frames += tf.reduce_sum(step.metrics['frames'])
        logits_ta = logits_ta.write(t, out.logits)
        values_ta = values_ta.write(t, out.value)
        actions_ta = actions_ta.write(t, action)
        rewards_ta = rewards_ta.write(t, step.reward)
        # Returns never cross an episode end, also where an episode was cut
        # by a time limit (LAST with discount 1): that is treated as terminal.
        discounts_ta = discounts_ta.write(
            t, step.discount * (1.0 - tf.cast(step.last, tf.float32)))
        prev_action, prev_reward, first = action, step.reward, step.last
        obs = step.observation
      # Bootstrap from V of the state after the unroll (no gradient).
      inputs = dict(obs, prev_action=prev_action, prev_reward=prev_reward)
      inputs, boot_state = self.agent.reset_where(first, inputs, agent_state)
      bootstrap_value = self.agent.step(inputs, boot_state)[0].value
      rewards = rewards_ta.stack()  # [K, B]
      logits, values = logits_ta.stack(), values_ta.stack()  # [K, B, A], [K, B]
      loss, extra = self._loss(logits, values, actions_ta.stack(), rewards,
                               discounts_ta.stack(), bootstrap_value)
    grads = tape.gradient(loss, other_vars + ([z] if encoder_vars else []))
    if encoder_vars:
      dz = grads.pop()  # [K, B, F]
      flat = {name: tf.reshape(ta.stack(), [k * b, *obs[name].shape[1:]])
              for name, ta in obs_ta.items()}
      with tf.GradientTape() as encoder_tape:
        features = self.agent.encode(flat)  # [K*B, F]
      grads += encoder_tape.gradient(
          features, encoder_vars,
          output_gradients=tf.reshape(dz, [k * b, self._feature_size]))
    metrics = self._apply(loss, extra, grads, other_vars + encoder_vars,
                          rewards)
    metrics.update(_histogram_outputs(logits, values))
    self._frames.assign_add(tf.cast(frames, tf.int64) if self._has_frames
                            else k * b)
    _assign(c['env_state'], env_state)
    _assign(c['observation'], obs)
    _assign(c['agent_state'], tree.map_structure(tf.stop_gradient, agent_state))
    c['episode_sums'].assign(running)
    for name, value in [('prev_action', prev_action), ('prev_reward', prev_reward),
                        ('first', first)]:
      c[name].assign(value)
    metrics.update(_sums(metrics_lib.sum_over_batch(self._episode_keys, totals)))
    return metrics


class PythonEnvTrainer(_A2CLearner):
  """Trains on B Python `dm_env.Environment`s (e.g. a user's own task).

  Each environment's `observation_spec()` must be a dict matching the agent's.
  An environment that has a `step_metrics()` method (returning the same
  float keys after every step, e.g. `{'regret': ...}`, as the dm_env faces of
  this project's tasks do) gets them summed per episode and logged.
  Environment state is not checkpointed: a resumed run restarts episodes.
  """

  def __init__(self, envs: List[dm_env.Environment], agent: MetaRLAgent,
               a2c: A2CConfig = A2CConfig(), train: TrainConfig = TrainConfig()):
    if len(envs) != train.batch_size:
      raise ValueError(f'got {len(envs)} environments for batch_size '
                       f'{train.batch_size}')
    super().__init__(agent, a2c, train)
    self.envs = envs
    # A dm_env face of a project task brings its task's declarations.
    task = getattr(envs[0], 'core', None)
    self.progress_metrics = getattr(task, 'progress_metrics', ())
    self.derived_metrics = getattr(task, 'derived_metrics', None)
    self._keys = sorted(agent.observation_spec)
    self._obs = [self._observation(env.reset()) for env in envs]
    self._first = np.ones(len(envs), bool)
    self._prev_action = -np.ones(len(envs), np.int32)
    self._prev_reward = np.zeros(len(envs), np.float32)
    self._agent_state = agent.initial_state(len(envs))
    self._running = None  # episode sums, once the metrics are known
    self._episode_keys = None
    self._track = tf.function(self._track_unroll)
    self.checkpoint = tf.train.Checkpoint(
        agent=agent, optimizer=self.optimizer, num_updates=self._num_updates,
        frames=self._frames, **self.checkpoint_items())
    self._act = tf.function(self._act_fn)
    self._learn_fn = tf.function(self._learn, jit_compile=train.jit_compile)

  def _update_function(self):
    return self._learn_fn

  def _observation(self, timestep):
    return {k: np.asarray(timestep.observation[k]) for k in self._keys}

  def _act_fn(self, inputs, first, state, key):
    inputs, state = self.agent.reset_where(first, inputs, state)
    out, state = self.agent.step(inputs, state)
    return sample_action(out.logits, key), state

  def _inputs(self):
    inputs = {k: np.stack([o[k] for o in self._obs]) for k in self._keys}
    inputs['prev_action'] = self._prev_action.copy()
    inputs['prev_reward'] = self._prev_reward.copy()
    return inputs

  def _step_metrics(self, env):
    metrics = getattr(env, 'step_metrics', None)
    return {k: float(v) for k, v in metrics().items()} if metrics else {}

  @staticmethod
  def _track_unroll(running, rewards, metrics, lasts):
    """Episode bookkeeping over a recorded unroll ([K, B] inputs) in one call."""
    totals = tf.zeros_like(running)
    for t in tf.range(tf.shape(rewards)[0]):
      running, totals = metrics_lib.track_episodes(
          running, totals, rewards[t], {k: v[t] for k, v in metrics.items()},
          lasts[t])
    return running, totals

  def _train_step(self):
    k, b = self.config.unroll_length, len(self.envs)
    key = core_lib.fold_in(self._root_key, self._num_updates)
    initial_state = self._agent_state
    steps, step_metrics_k, lasts_k = [], [], []
    for t in range(k):
      inputs, first = self._inputs(), self._first.copy()
      actions, self._agent_state = self._act(
          inputs, first, self._agent_state, core_lib.fold_in(key, t))
      actions = actions.numpy()
      rewards = np.zeros(b, np.float32)
      discounts = np.ones(b, np.float32)
      lasts = np.zeros(b, bool)
      step_metrics = []
      for i, env in enumerate(self.envs):
        ts = env.step(int(actions[i]))
        step_metrics.append(self._step_metrics(env))
        # Returns never cross an episode end (time-limit truncation included).
        rewards[i] = ts.reward
        discounts[i] = 0.0 if ts.last() else ts.discount
        lasts[i] = ts.last()
        if ts.last():
          ts = env.reset()
        self._obs[i] = self._observation(ts)
        self._first[i] = ts.first()
      step_metrics_k.append(
          {name: np.array([m[name] for m in step_metrics], np.float32)
           for name in step_metrics[0]})
      lasts_k.append(lasts)
      steps.append((inputs, first, actions, rewards, discounts))
      self._prev_action, self._prev_reward = actions, rewards
    inputs, first, actions, rewards, discounts = [
        tree.map_structure(lambda *x: np.stack(x), *items) for items in zip(*steps)]
    # The step after the unroll, for the bootstrap value.
    inputs = tree.map_structure(lambda x, y: np.concatenate([x, y[None]]),
                                inputs, self._inputs())
    first = np.concatenate([first, self._first[None]])
    step_metrics = {name: np.stack([m[name] for m in step_metrics_k])
                    for name in step_metrics_k[0]}  # [K, B] each
    if self._running is None:
      self._episode_keys = metrics_lib.episode_keys(step_metrics)
      self._running = metrics_lib.zero_episode_sums(self._episode_keys, b)
    self._running, totals = self._track(self._running, rewards, step_metrics,
                                        np.stack(lasts_k))
    self._frames.assign_add(int(step_metrics['frames'].sum())
                            if 'frames' in step_metrics else k * b)
    metrics = dict(self._learn_fn(inputs, first, initial_state, actions,
                                  rewards, discounts))
    metrics.update(_sums(metrics_lib.sum_over_batch(self._episode_keys,
                                                    totals)))
    return metrics
