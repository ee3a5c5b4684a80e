"""Bandit with an informative arm of Section 3.1.3 (Exp 3, "dependent arms II").

Eleven arms (by default) with deterministic payouts. Each episode draws a target
index k uniformly from the first `num_arms - 1` arms:

  target arm k:               pays 5
  other non-informative arms: pay 1
  informative arm (the last): pays (k + 1) / 10

so a reward of 0.2 from the informative arm says that arm index 1 (the paper's
a_2) is the target. On the first trial the informative arm's expected payout is
0.55 and every other arm's is 1.4; the long-run optimal play over 5 trials is
informative arm first, then the target four times (expected return 20.55).

The agent observes only `episode_step`; the payouts are exposed to evaluation
code through `task_info` as `arm_means` [B, num_arms] and `target` [B].
"""

from typing import NamedTuple

import tensorflow as tf

from environments import core

TARGET_PAYOUT = 5.0
NON_TARGET_PAYOUT = 1.0


class InformativeState(NamedTuple):
  target: tf.Tensor  # int32 [B], index of the arm paying TARGET_PAYOUT
  episode_step: tf.Tensor  # int32 [B], trials done so far in this episode


class InformativeBandit(core.TrialsCore):
  """Batched core of the informative-arm bandit (deterministic payouts)."""


  def __init__(self, num_arms: int = 11, num_trials: int = 5):
    if num_arms < 3:
      raise ValueError(f'num_arms must be >= 3, got {num_arms}')
    super().__init__(num_trials)
    self.num_arms = num_arms
    self.informative_arm = num_arms - 1
    self.name = 'informative'
    self._informative_payouts = tf.constant(
        [(k + 1) / 10 for k in range(num_arms - 1)], tf.float32)

  @property
  def num_actions(self) -> int:
    return self.num_arms

  def possible_rewards(self):
    return (TARGET_PAYOUT, NON_TARGET_PAYOUT,
            *((k + 1) / 10 for k in range(self.num_arms - 1)))

  def arm_means(self, target: tf.Tensor) -> tf.Tensor:
    """Payouts float32 [B, num_arms] of episodes with the given targets."""
    target = tf.cast(target, tf.int32)
    rest = tf.one_hot(target, self.num_arms - 1,
                      on_value=TARGET_PAYOUT, off_value=NON_TARGET_PAYOUT,
                      dtype=tf.float32)
    # A table, not (target + 1) / 10: graph rewrites turn the division into a
    # multiplication by 0.1, which differs from eager results by an ulp.
    informative = tf.gather(self._informative_payouts, target)
    return tf.concat([rest, informative[:, None]], axis=-1)

  def reset(self, key, batch_size):
    target = tf.random.stateless_uniform(
        [batch_size], key, minval=0, maxval=self.num_arms - 1, dtype=tf.int32)
    state = InformativeState(target, tf.zeros([batch_size], tf.int32))
    return state, {'episode_step': state.episode_step}

  def step(self, key, state, action):
    del key  # Payouts are deterministic.
    info = self.task_info(state)
    reward = tf.gather(info['arm_means'], tf.cast(action, tf.int32),
                       batch_dims=1)
    t, out = self.end_trial(state.episode_step, reward, info, action)
    return InformativeState(state.target, t), out

  def task_info(self, state):
    return {'arm_means': self.arm_means(state.target), 'target': state.target}
