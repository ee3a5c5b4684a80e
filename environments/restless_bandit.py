"""Restless two-armed bandit of Section 3.1.4 (Exp 4).

Each episode draws a volatility nu and a start probability p1 ~ U[0, 1]. Actions
0 and 1 pay 1 with probabilities p1 and 1 - p1 (else 0). After every pull, p1
takes a step of a Gaussian random walk with variance nu, i.e. standard deviation
sqrt(nu) (the paper's text says "variance nu"), reflected into [0, 1]:

    p1 <- reflect(p1 + sqrt(nu) * N(0, 1)),   reflect(x) = 1 - |(x mod 2) - 1|

With `volatility_scale='std'` nu is the step's standard deviation instead,

    p1 <- reflect(p1 + nu * N(0, 1)),

the other reading of the paper: its Fig 4a shows a smooth drift, which steps
of standard deviation up to 0.2 fit better than the literal reading's up to
sqrt(0.2) = 0.45. The bands below are in units of nu under either reading.

The triangle-wave fold reflects exactly at both boundaries any number of times,
so even steps larger than 1 stay inside [0, 1].

Volatility distributions:
  'train': nu ~ U([0, 2/30] U [4/30, 6/30])   (name 'restless', TRAIN_BANDS)
  'test':  nu ~ U[0, 6/30]                    (name 'restless_test', TEST_RANGE)
  a float: nu fixed at that value             (name 'restless_<nu>')
The test range falls into three bands of width BAND_WIDTH = 2/30
(ANALYSIS_BANDS): the two seen in training and the held-out middle one.

The agent observes only `episode_step`; `task_info` exposes the current
`arm_probs` [B, 2] = [p1, 1 - p1] and `volatility` [B] = nu.
"""

from typing import NamedTuple, Union

import tensorflow as tf

from environments import core

VOLATILITIES = ('train', 'test')
# What nu is of the walk's Gaussian step: its variance (the paper's text, the
# default) or its standard deviation.
VOLATILITY_SCALES = ('variance', 'std')

# Volatility bands (per-step variance nu), as (low, high) pairs.
BAND_WIDTH = 2.0 / 30.0
# nu of the training episodes: either band with probability 1/2, then uniform.
TRAIN_BANDS = ((0.0, BAND_WIDTH), (2 * BAND_WIDTH, 3 * BAND_WIDTH))
# nu of the test episodes: uniform over the whole range, the gap included.
TEST_RANGE = (0.0, 3 * BAND_WIDTH)
# The test range in bands of BAND_WIDTH (Exp 4 analysis): the low and high
# bands are the training bands, the middle one lies between them.
ANALYSIS_BANDS = ((0.0, BAND_WIDTH), (BAND_WIDTH, 2 * BAND_WIDTH),
                  (2 * BAND_WIDTH, 3 * BAND_WIDTH))


class RestlessState(NamedTuple):
  p1: tf.Tensor  # float32 [B], reward probability of action 0
  volatility: tf.Tensor  # float32 [B], nu of the walk's steps
  episode_step: tf.Tensor  # int32 [B], trials done so far in this episode


def reflect(x: tf.Tensor) -> tf.Tensor:
  """Folds x into [0, 1] as reflections at 0 and 1 would (a triangle wave)."""
  return 1.0 - tf.abs(tf.math.floormod(x, 2.0) - 1.0)


def sample_volatility(volatility: Union[str, float], key: tf.Tensor,
                      batch_size) -> tf.Tensor:
  """Draws nu float32 [B] from 'train', 'test' or a fixed float."""
  if not isinstance(volatility, str):
    return tf.fill([batch_size], tf.cast(volatility, tf.float32))
  if volatility == 'test':
    return tf.random.stateless_uniform([batch_size], key, *TEST_RANGE)
  if volatility != 'train':
    raise ValueError(f'unknown volatility {volatility!r}; choose one of '
                     f'{", ".join(VOLATILITIES)} or a float')
  # Pick a band with probability 1/2, then uniform in it: nu = (u + start) *
  # BAND_WIDTH with each band's start in band widths (0 and 2).
  (low, _), (high, _) = TRAIN_BANDS
  u = tf.random.stateless_uniform([batch_size, 2], key)
  start = tf.where(u[:, 0] < 0.5, high / BAND_WIDTH, low / BAND_WIDTH)
  return (u[:, 1] + start) * BAND_WIDTH


class RestlessBandit(core.TrialsCore):
  """Batched core of the restless two-armed bandit."""


  def __init__(self, volatility: Union[str, float] = 'train',
               num_trials: int = 150, volatility_scale: str = 'variance'):
    if volatility_scale not in VOLATILITY_SCALES:
      raise ValueError(f'unknown volatility_scale {volatility_scale!r}; '
                       f'choose one of {", ".join(VOLATILITY_SCALES)}')
    if isinstance(volatility, str):
      if volatility not in VOLATILITIES:
        raise ValueError(f'unknown volatility {volatility!r}; choose one of '
                         f'{", ".join(VOLATILITIES)} or a float')
      self.name = 'restless' if volatility == 'train' else 'restless_test'
    else:
      if not volatility >= 0:
        raise ValueError(f'volatility must be >= 0, got {volatility}')
      volatility = float(volatility)
      self.name = f'restless_{volatility:g}'
    super().__init__(num_trials)
    self.volatility = volatility
    self.volatility_scale = volatility_scale

  def step_std(self, volatility):
    """The standard deviation of the walk's step for volatility nu."""
    return volatility if self.volatility_scale == 'std' else tf.sqrt(volatility)

  @property
  def num_actions(self) -> int:
    return 2

  def possible_rewards(self):
    return (0.0, 1.0)

  def reset(self, key, batch_size):
    nu_key, p_key = core.split_key(key)
    state = RestlessState(
        p1=tf.random.stateless_uniform([batch_size], p_key),
        volatility=sample_volatility(self.volatility, nu_key, batch_size),
        episode_step=tf.zeros([batch_size], tf.int32))
    return state, {'episode_step': state.episode_step}

  def step(self, key, state, action):
    reward_key, walk_key = core.split_key(key)
    info = self.task_info(state)
    p = tf.gather(info['arm_probs'], tf.cast(action, tf.int32), batch_dims=1)
    u = tf.random.stateless_uniform(tf.shape(p), reward_key)
    reward = tf.cast(u < p, tf.float32)
    noise = tf.random.stateless_normal(tf.shape(p), walk_key)
    p1 = reflect(state.p1 + self.step_std(state.volatility) * noise)
    t, out = self.end_trial(state.episode_step, reward, info, action)
    return RestlessState(p1, state.volatility, t), out

  def task_info(self, state):
    return {'arm_probs': tf.stack([state.p1, 1.0 - state.p1], axis=-1),
            'volatility': state.volatility}
