"""Two-armed Bernoulli bandits of Sections 3.1.1 and 3.1.2 (Exps 1 and 2).

Each episode draws arm probabilities (p1, p2) from a task distribution and keeps
them for `num_trials` pulls; pulling arm a pays 1 with probability p_a, else 0.

Distributions (Wang et al. 2016, Section 3.1.2):
  independent: p1, p2 ~ U[0, 1] independently            (D_i)
  uniform:     p1 ~ U[0, 1],          p2 = 1 - p1          (D_u)
  easy:        p1 ~ U({0.1, 0.9}),    p2 = 1 - p1          (D_e)
  medium:      p1 ~ U({0.25, 0.75}),  p2 = 1 - p1          (D_m)
  hard:        p1 ~ U({0.4, 0.6}),    p2 = 1 - p1          (D_h)

The agent observes only `episode_step` (the 0-based trial index, the paper's
input t); the arm probabilities are exposed to evaluation code through
`task_info` / `StepOutput.info['arm_probs']`.
"""

from typing import NamedTuple

import tensorflow as tf

from environments import core

# Dependent distributions (p2 = 1 - p1): the two values p1 is drawn from with
# probability 1/2 each, or None for p1 ~ U[0, 1].
DEPENDENT_SUPPORT = {
    'uniform': None,
    'easy': (0.1, 0.9),
    'medium': (0.25, 0.75),
    'hard': (0.4, 0.6),
}
# All task distributions by name.
DISTRIBUTIONS = ('independent',) + tuple(DEPENDENT_SUPPORT)


class BanditState(NamedTuple):
  arm_probs: tf.Tensor  # float32 [B, 2]
  episode_step: tf.Tensor  # int32 [B], trials done so far in this episode


def sample_arm_probs(distribution: str, key: tf.Tensor,
                     batch_size) -> tf.Tensor:
  """Draws arm probabilities float32 [B, 2] from a named distribution."""
  if distribution == 'independent':
    return tf.random.stateless_uniform([batch_size, 2], key)
  if distribution not in DEPENDENT_SUPPORT:
    raise ValueError(f'unknown bandit distribution {distribution!r}; '
                     f'choose one of {", ".join(DISTRIBUTIONS)}')
  support = DEPENDENT_SUPPORT[distribution]
  if support is None:
    p1 = tf.random.stateless_uniform([batch_size], key)
  else:
    pick = tf.random.stateless_uniform([batch_size], key) < 0.5
    p1 = tf.where(pick, support[0], support[1])
  return tf.stack([p1, 1.0 - p1], axis=-1)


class BernoulliBandit(core.TrialsCore):
  """Batched two-armed Bernoulli bandit core."""


  def __init__(self, distribution: str = 'independent', num_trials: int = 100):
    if distribution not in DISTRIBUTIONS:
      raise ValueError(f'unknown bandit distribution {distribution!r}; '
                       f'choose one of {", ".join(DISTRIBUTIONS)}')
    super().__init__(num_trials)
    self.distribution = distribution
    self.name = f'bandit_{distribution}'

  @property
  def num_actions(self) -> int:
    return 2

  def possible_rewards(self):
    return (0.0, 1.0)

  def reset(self, key, batch_size):
    probs = sample_arm_probs(self.distribution, key, batch_size)
    state = BanditState(probs, tf.zeros([batch_size], tf.int32))
    return state, self._observation(state)

  def step(self, key, state, action):
    action = tf.cast(action, tf.int32)
    p = tf.gather(state.arm_probs, action, batch_dims=1)  # [B]
    u = tf.random.stateless_uniform(tf.shape(p), key)
    reward = tf.cast(u < p, tf.float32)
    t, out = self.end_trial(state.episode_step, reward, self.task_info(state),
                           action)
    return BanditState(state.arm_probs, t), out

  def task_info(self, state):
    return {'arm_probs': state.arm_probs}

  def _observation(self, state):
    return {'episode_step': state.episode_step}
