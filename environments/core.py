"""Batched, functional environment cores written in TensorFlow ops.

A core is the single definition of a task's dynamics. It is pure: all state lives
in a nested structure of tensors with a leading batch dimension, and every random
draw uses stateless RNG ops seeded from a `key` (an int32 tensor of shape [2]).
That lets a whole unroll of environment and agent run inside one `tf.function`
(`tf.while_loop`), and lets checkpoints hold the environment state exactly.

    state, obs = core.reset(key, batch_size)
    state, out = core.step(key, state, action)      # out: StepOutput
    info = core.task_info(state)                   # ground truth, never fed to agents

`step_autoreset` turns any core into a never-ending stream of episodes by
computing both the step and a fresh reset and selecting per batch element on
`out.last` (the gymnax pattern). `ActionRepeat` wraps a core so that one agent
decision is several primitive steps. The `dm_env.Environment` face for users
lives in `environments.dm_env_face` and wraps the same functions.

A task also declares what is worth measuring about it, once, for training
logs, TensorBoard and evaluation alike:

  StepOutput.metrics    per-step values [B] (e.g. expected `regret`), summed
                        over each episode by the trainers and evaluation;
  derived_metrics()     scalars computed from such episode sums (e.g. reward
                        per trial = return / trials);
  progress_metrics      which logged scalars the progress line shows;
  possible_rewards()    the rewards one step can pay (None: continuous or
                        unknown), against which an agent's one-hot reward
                        input (`reward_values`) is checked.

What experiments do with a task (its comparison policies, the scalar that
ranks agents, its test variant) is the experiment layer's: `meta_rl.task_specs`.
"""

import abc
import itertools
from typing import Any, Dict, Mapping, NamedTuple, Optional, Tuple

from dm_env import specs
import tensorflow as tf
import tree

from environments import metrics as metrics_lib


class StepOutput(NamedTuple):
  """What one batched environment transition produces.

  Attributes:
    reward: float32 [B], reward of the action just taken.
    discount: float32 [B], 0 where the episode terminated, else 1.
    last: bool [B], True where this transition ended the episode.
    observation: dict of [B, ...] tensors, the observation after the transition
      (for `last` elements, the final observation of the ended episode).
    info: dict of [B, ...] tensors, ground truth about the transition for
      evaluation code (e.g. `arm_probs` of the episode), as it was before the
      action. Never fed to agents.
    metrics: dict of float32 [B] per-step values of the task's own measures
      (e.g. `regret`); each is summed over an episode by the trainers and by
      evaluation (see `BatchedCore.derived_metrics`).
  """
  reward: tf.Tensor
  discount: tf.Tensor
  last: tf.Tensor
  observation: Dict[str, tf.Tensor]
  info: Dict[str, tf.Tensor]
  metrics: Mapping[str, tf.Tensor] = {}


class BatchedCore(abc.ABC):
  """Interface of a batched task written in TF ops."""

  name: str = 'core'
  # Logged scalars shown on the training progress line (e.g. 'episode_regret').
  progress_metrics: Tuple[str, ...] = ()
  # True for a core whose observation is a function of its state (e.g. a
  # rendered screen): it then also offers `transition` (a step without the
  # observation) and `observe`, so that `ActionRepeat` renders only the
  # decision's last frame.
  observes_state: bool = False

  @property
  @abc.abstractmethod
  def num_actions(self) -> int:
    """Number of discrete actions."""

  @property
  @abc.abstractmethod
  def episode_length(self) -> int:
    """Maximum number of agent steps in one episode."""

  @abc.abstractmethod
  def observation_spec(self) -> Dict[str, specs.Array]:
    """Per-environment (unbatched) spec of the agent's observation dict."""

  @abc.abstractmethod
  def reset(self, key: tf.Tensor, batch_size: int) -> tuple:
    """Samples `batch_size` new tasks. Returns `(state, observation)`."""

  @abc.abstractmethod
  def step(self, key: tf.Tensor, state: Any, action: tf.Tensor) -> tuple:
    """Applies int32 `action` [B]. Returns `(next_state, StepOutput)`."""

  def task_info(self, state: Any) -> Dict[str, tf.Tensor]:
    """Ground truth of the current episodes (e.g. arm probabilities)."""
    del state
    return {}

  def action_spec(self) -> specs.DiscreteArray:
    return specs.DiscreteArray(self.num_actions, dtype=int, name='action')

  def transition(self, key: tf.Tensor, state: Any, action: tf.Tensor) -> tuple:
    """`step` without the observation (cores with `observes_state`)."""
    raise NotImplementedError(f'{type(self).__name__} does not observe its state')

  def observe(self, state: Any) -> Dict[str, tf.Tensor]:
    """The observation of `state` (cores with `observes_state`)."""
    raise NotImplementedError(f'{type(self).__name__} does not observe its state')

  def possible_rewards(self) -> Optional[Tuple[float, ...]]:
    """Every reward one step can pay (a superset is fine), or None if
    rewards are continuous or unknown (the default)."""
    return None

  def derived_metrics(self, totals: Mapping[str, float]) -> Dict[str, float]:
    """Task scalars from episode sums over a window of finished episodes.

    Args:
      totals: `episodes` (count), `return` (summed episode returns) and, for
        every key of `StepOutput.metrics`, its sum over those episodes.
    Returns:
      Named scalars to log besides the per-episode means, which are logged
      for every metric anyway (e.g. `{'reward_per_trial': ...}`).
    """
    del totals
    return {}


class RenderedCore(BatchedCore):
  """Base of tasks whose observation is a rendered view of their state:
  `pixels`, uint8 [resolution, resolution, 3]. Subclasses set `resolution`
  and define `transition` (the dynamics, observation {}) and `observe`;
  `step` is the two (and `ActionRepeat` renders only a decision's last
  frame)."""

  observes_state = True
  resolution: int

  def observation_spec(self) -> Dict[str, specs.Array]:
    r = self.resolution
    return {'pixels': specs.Array((r, r, 3), 'uint8', name='pixels')}

  def step(self, key, state, action):
    state, out = self.transition(key, state, action)
    return state, out._replace(observation=self.observe(state))


class TrialsCore(BatchedCore):
  """Base of bandit tasks: fixed-length episodes of `num_trials` steps whose
  only observation is `episode_step`, the 0-based trial index (the paper's
  input t), and whose ground truth names every arm's expected reward (so the
  trainers log and evaluation plots expected regret).

  Subclasses keep an int32 [B] trial counter in their state and build each
  `StepOutput` with `end_trial`.
  """

  progress_metrics = ('episode_regret',)

  def __init__(self, num_trials: int):
    if num_trials < 1:
      raise ValueError(f'num_trials must be >= 1, got {num_trials}')
    self.num_trials = num_trials

  @property
  def episode_length(self) -> int:
    return self.num_trials

  def observation_spec(self) -> Dict[str, specs.Array]:
    return {
        'episode_step':
            specs.BoundedArray((), 'int32', 0, self.num_trials - 1,
                               name='episode_step')
    }

  def end_trial(self, episode_step: tf.Tensor, reward: tf.Tensor,
                info: Dict[str, tf.Tensor], action: tf.Tensor):
    """Counts one trial; returns `(next episode_step, StepOutput)`.

    The episode ends (discount 0) after exactly `num_trials` trials; its final
    observation repeats the last valid index. The step's metrics are the
    expected regret and suboptimality of `action` under `info`'s arm means.
    """
    t = episode_step + 1
    last = t >= self.num_trials
    return t, StepOutput(
        reward=reward,
        discount=1.0 - tf.cast(last, tf.float32),
        last=last,
        observation={'episode_step': tf.minimum(t, self.num_trials - 1)},
        info=info,
        metrics=metrics_lib.arm_metrics(info, action))


def select(cond: tf.Tensor, if_true, if_false):
  """Per batch element `tf.where` over matching nests; cond is bool [B]."""

  def _select(a, b):
    c = tf.reshape(cond, [-1] + [1] * (len(a.shape) - 1))
    return tf.where(c, a, b)

  return tree.map_structure(_select, if_true, if_false)


def split_key(key: tf.Tensor, num: int = 2):
  """Splits a stateless RNG key into `num` independent keys."""
  return tf.unstack(tf.random.experimental.stateless_split(key, num))


def fold_in(key: tf.Tensor, data) -> tf.Tensor:
  """Derives a new key from `key` and an integer (e.g. a step counter)."""
  # int32 keys throughout: XLA has no int64-seeded stateless multinomial.
  return tf.cast(tf.random.experimental.stateless_fold_in(
      key, tf.cast(data, tf.int64)), tf.int32)


def make_key(seed: int) -> tf.Tensor:
  """The root key of a seed."""
  return tf.constant([seed % (2**31 - 1), 0x6d72], dtype=tf.int32)


def step_autoreset(core: BatchedCore, key: tf.Tensor, state, action: tf.Tensor):
  """Steps `core` and replaces ended episodes by freshly reset ones.

  Returns `(next_state, StepOutput)` where, for elements whose episode ended,
  `next_state` and `StepOutput.observation` belong to the new episode while
  `reward`, `discount`, `last` and `info` describe the transition that ended the
  old one.
  """
  step_key, reset_key = split_key(key)
  next_state, out = core.step(step_key, state, action)

  def reset_ended():
    reset_state, reset_obs = core.reset(reset_key, tf.shape(action)[0])
    return (select(out.last, reset_state, next_state),
            select(out.last, reset_obs, out.observation))

  # Only pay for a reset on steps where some episode ended.
  next_state, observation = tf.cond(tf.reduce_any(out.last), reset_ended,
                                    lambda: (next_state, out.observation))
  return next_state, out._replace(observation=observation)


def batched_spec(spec: specs.Array, name: str = None) -> tf.TensorSpec:
  """The `tf.TensorSpec` of a batch of values of `spec`."""
  return tf.TensorSpec([None, *spec.shape], tf.as_dtype(spec.dtype),
                       name=name or spec.name)


class ActionRepeat(BatchedCore):
  """One agent decision = `repeat` primitive steps of `core` with one action.

  Rewards and metrics of the primitive steps are summed. An episode that ends
  on a primitive step ends the decision there: the remaining primitive steps
  of that element are not taken. `StepOutput.metrics['frames']` counts the
  primitive steps taken [B] (so an episode's sum is its length in frames);
  `info` is the ground truth before the decision's first primitive step.
  A core with `observes_state` is rendered once per decision.
  `episode_length` is in decisions: ceil(core.episode_length / repeat).
  """

  def __init__(self, core: BatchedCore, repeat: int):
    if repeat < 1:
      raise ValueError(f'action repeat must be >= 1, got {repeat}')
    self.core = core
    self.repeat = int(repeat)
    self.name = core.name
    self.progress_metrics = core.progress_metrics

  @property
  def num_actions(self) -> int:
    return self.core.num_actions

  @property
  def episode_length(self) -> int:
    return -(-self.core.episode_length // self.repeat)

  def observation_spec(self):
    return self.core.observation_spec()

  def reset(self, key, batch_size):
    return self.core.reset(key, batch_size)

  def task_info(self, state):
    return self.core.task_info(state)

  def derived_metrics(self, totals):
    return self.core.derived_metrics(totals)

  # More distinct sums than this: `possible_rewards` gives up (None).
  MAX_REWARD_SUMS = 10_000

  def possible_rewards(self):
    """The sums of `repeat` primitive rewards (0 among them: fewer steps,
    or a step that pays nothing), None if the core's are unknown or there
    are more than `MAX_REWARD_SUMS` sums."""
    base = self.core.possible_rewards()
    if base is None:
      return None
    base = sorted(set(base) | {0.0})
    if len(base) == 1:
      return (0.0,)
    # With a nonzero reward r, the k * r (k = 0..repeat) alone are repeat + 1
    # distinct sums: decided without enumerating (a huge repeat would not end).
    if self.repeat + 1 > self.MAX_REWARD_SUMS:
      return None
    sums = {0.0}
    for _ in range(self.repeat):
      sums = {round(s + r, 9) for s, r in itertools.product(sums, base)}
      if len(sums) > self.MAX_REWARD_SUMS:
        return None
    return tuple(sorted(sums))

  def step(self, key, state, action):
    # A core that renders its state is rendered once, after the last step.
    lazy = self.core.observes_state
    step = self.core.transition if lazy else self.core.step
    state, out = step(fold_in(key, 0), state, action)
    done = out.last
    ones = tf.ones_like(out.reward)
    metrics = dict(out.metrics, frames=out.metrics.get('frames', ones))
    for i in range(1, self.repeat):
      # Elements whose episode ended keep their state; what the core returns
      # for them is discarded with tf.where (never multiplied by 0, which
      # would let a NaN through).
      next_state, nxt = step(fold_in(key, i), state, action)
      active = tf.logical_not(done)
      state = select(active, next_state, state)
      step_metrics = dict(nxt.metrics, frames=nxt.metrics.get('frames', ones))
      metrics = {k: metrics[k] + tf.where(active, step_metrics[k], 0.0)
                 for k in metrics}
      out = out._replace(
          reward=out.reward + tf.where(active, nxt.reward, 0.0),
          discount=tf.where(active, nxt.discount, out.discount),
          observation=select(active, nxt.observation, out.observation))
      done = tf.logical_or(done, nxt.last)
    if lazy:  # an ended episode's state stopped at its last step
      out = out._replace(observation=self.core.observe(state))
    return state, out._replace(last=done, metrics=metrics)


def unwrap(core: BatchedCore) -> BatchedCore:
  """The task under any `ActionRepeat` wrappers."""
  while isinstance(core, ActionRepeat):
    core = core.core
  return core
