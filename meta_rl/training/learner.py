"""What both trainers share: the A2C update of an unroll (loss, PopArt,
clipped gradients, the entropy cost's schedule or adaptation), the
counters a run loop reads, and histograms out of the same compiled
update."""

import collections
import math
import re
from typing import Dict, List, Mapping, Sequence

import numpy as np
import tensorflow as tf
import tree

from environments import core as core_lib
from meta_rl import losses
from meta_rl import metrics as metrics_lib
from meta_rl import agent as agent_lib
from meta_rl.agent import MetaRLAgent
from meta_rl.training.config import (BETA_E_MAX, BETA_E_MIN, A2CConfig,
                                     TrainConfig, make_optimizer)


class NonFiniteLossError(RuntimeError):
  """The loss or gradient became NaN/inf; the update was not applied."""


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


def as_sums(prefix_free: Mapping[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
  return {metrics_lib.SUM_PREFIX + k: v for k, v in prefix_free.items()}


class A2CLearner:
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
    metrics.update(histogram_outputs(out.logits[:-1], out.value[:-1]))
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


def histogram_outputs(logits, values):
  """The update's outputs kept for `histograms`: logits [K, B, A], values
  [K, B]."""
  return {HIST_PREFIX + 'logits': logits, HIST_PREFIX + 'values': values}


def variables_like(structure, name):
  return tree.map_structure_with_path(
      lambda path, x: tf.Variable(
          x, trainable=False,
          name=name + '_' + '_'.join(str(p) for p in path)), structure)


def assign_values(variables, values):
  tree.map_structure(lambda v, x: v.assign(x), variables, values)


def read_values(variables):
  return tree.map_structure(lambda v: v.read_value(), variables)
