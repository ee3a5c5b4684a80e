"""A small synthetic pixel task for tests and benchmarks (not in the paper).

`CueBandit`: a two-armed bandit whose good arm is shown on the screen. Each
trial draws which arm pays (1 for it, 0 for the other) and renders an RGB
frame [size, size, 3] of uniform noise with a bright square in the left or
right half marking the good arm. Episodes are `num_trials` trials; the agent
sees `pixels` only, so it can do better than chance only by learning the conv
encoder (or by its recurrence, if it has one, which does not help here). Ground
truth: `arm_means` [B, 2], so regret is logged as for the bandits.
"""

from typing import NamedTuple

from dm_env import specs
import tensorflow as tf

from environments import core


class CueState(NamedTuple):
  good_arm: tf.Tensor  # int32 [B]
  pixels: tf.Tensor  # uint8 [B, H, W, 3]
  episode_step: tf.Tensor  # int32 [B]


class CueBandit(core.TrialsCore):
  """Batched core of the cue bandit."""

  def __init__(self, num_trials: int = 10, size: int = 84):
    super().__init__(num_trials)
    self.size = size
    self.name = 'cue_bandit'

  @property
  def num_actions(self) -> int:
    return 2

  def possible_rewards(self):
    return (0.0, 1.0)

  def observation_spec(self):
    return {'pixels': specs.Array((self.size, self.size, 3), 'uint8',
                                  name='pixels')}

  def _trial(self, key, batch_size):
    arm_key, noise_key = core.split_key(key)
    good = tf.random.stateless_uniform([batch_size], arm_key, 0, 2, tf.int32)
    noise = tf.random.stateless_uniform(
        [batch_size, self.size, self.size, 3], noise_key, 0, 128, tf.int32)
    half = self.size // 2
    cols = tf.range(self.size)[None, :]  # [1, W]
    # The square sits in the middle of the left half for arm 0, of the right
    # half for arm 1.
    shift = good[:, None] * half  # [B, 1]
    col_mask = tf.logical_and(cols >= half // 4 + shift,
                              cols < half // 4 + half // 2 + shift)  # [B, W]
    rows = tf.range(self.size)
    row_mask = (rows >= self.size // 4) & (rows < 3 * self.size // 4)  # [H]
    mask = row_mask[None, :, None] & col_mask[:, None, :]  # [B, H, W]
    pixels = tf.where(mask[..., None], 255, noise)
    return good, tf.cast(pixels, tf.uint8)

  def reset(self, key, batch_size):
    good, pixels = self._trial(key, batch_size)
    state = CueState(good, pixels, tf.zeros([batch_size], tf.int32))
    return state, {'pixels': pixels}

  def step(self, key, state, action):
    info = self.task_info(state)
    reward = tf.cast(tf.equal(tf.cast(action, tf.int32), state.good_arm),
                     tf.float32)
    t, out = self.end_trial(state.episode_step, reward, info, action)
    good, pixels = self._trial(key, tf.shape(action)[0])
    return CueState(good, pixels, t), out._replace(observation={'pixels': pixels})

  def task_info(self, state):
    return {'arm_means': tf.one_hot(state.good_arm, 2)}
