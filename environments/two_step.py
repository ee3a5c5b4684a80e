"""The two-step task of Section 3.2.1 (Exp 5; Daw et al. 2011, Kool et al. 2016).

Three states: S1 (0, first stage), S2 (1) and S3 (2) (second stage). A trial is
two agent steps:

  at S1:     action 0 leads to S2 with probability `common_prob` (else S3),
             action 1 leads to S3 with probability `common_prob` (else S2);
             reward 0.
  at S2/S3:  either action collects that state's reward, 1 with the state's
             reward probability (else 0), with that step; the next state is
             S1 of the next trial.

Each episode draws uniformly which second-stage state is the good one: it pays
with probability `reward_probs[0]` (0.9), the other with `reward_probs[1]`
(0.1). An episode is `num_trials` trials, i.e. `2 * num_trials` steps, and ends
(discount 0) on the second-stage step of the last trial.

Variant (off by default): with `swap_prob > 0`, after every completed trial the
reward probabilities of S2 and S3 swap with probability `swap_prob`.

The agent observes `state` (int32 0/1/2, one-hot encoded inside the model) and
`episode_step` (the 0-based step within the episode). `task_info` exposes the
current `state` [B], `good_state` [B] (1 or 2) and `reward_probs` [B, 2] (of S2
and S3) to evaluation code.
"""

from typing import Dict, NamedTuple, Sequence

from dm_env import specs
import tensorflow as tf

from environments import core

S1, S2, S3 = 0, 1, 2
NUM_STATES = 3


class TwoStepState(NamedTuple):
  state: tf.Tensor  # int32 [B], current state: 0 = S1, 1 = S2, 2 = S3
  good_state: tf.Tensor  # int32 [B], 1 or 2: the state paying reward_probs[0]
  episode_step: tf.Tensor  # int32 [B], steps done so far in this episode


class TwoStepTask(core.BatchedCore):
  """Batched core of the two-step task."""

  progress_metrics = ('reward_per_trial',)

  def __init__(self, num_trials: int = 10, common_prob: float = 0.75,
               reward_probs: Sequence[float] = (0.9, 0.1),
               swap_prob: float = 0.0):
    if num_trials < 1:
      raise ValueError(f'num_trials must be >= 1, got {num_trials}')
    if len(reward_probs) != 2:
      raise ValueError(f'reward_probs must be (good, bad), got {reward_probs}')
    for name, p in [('common_prob', common_prob), ('swap_prob', swap_prob),
                    ('reward_probs', reward_probs[0]),
                    ('reward_probs', reward_probs[1])]:
      if not 0.0 <= p <= 1.0:
        raise ValueError(f'{name} must be in [0, 1], got {p}')
    self.name = 'two_step'
    self.num_trials = num_trials
    self.common_prob = float(common_prob)
    self.reward_probs = (float(reward_probs[0]), float(reward_probs[1]))
    self.swap_prob = float(swap_prob)

  @property
  def num_actions(self) -> int:
    return 2

  def possible_rewards(self):
    return (0.0, 1.0)

  @property
  def episode_length(self) -> int:
    return 2 * self.num_trials

  def observation_spec(self) -> Dict[str, specs.Array]:
    return {
        'state':
            specs.DiscreteArray(NUM_STATES, dtype='int32', name='state'),
        'episode_step':
            specs.BoundedArray((), 'int32', 0, self.episode_length - 1,
                               name='episode_step'),
    }

  def reset(self, key, batch_size):
    good = tf.random.stateless_uniform([batch_size], key, minval=S2,
                                       maxval=S3 + 1, dtype=tf.int32)
    zeros = tf.zeros([batch_size], tf.int32)
    state = TwoStepState(zeros + S1, good, zeros)
    return state, self._observation(state.state, state.episode_step)

  def step(self, key, state, action):
    info = self.task_info(state)
    # Shapes follow the state's, so the state keeps its static shape in loops.
    shape = tf.shape(state.state)
    action = tf.reshape(tf.cast(action, tf.int32), shape)
    # One uniform each for the transition, the reward and the swap.
    u_transition, u_reward, u_swap = [
        tf.random.stateless_uniform(shape, k)
        for k in core.split_key(key, 3)]
    first_stage = tf.equal(state.state, S1)
    # Action 0 commonly leads to S2, action 1 to S3; rare flips the target.
    rare = tf.cast(u_transition >= self.common_prob, tf.int32)
    after_first = S2 + tf.bitwise.bitwise_xor(action, rare)
    # Second stage: collect the state's reward (the index clamps S1 to S2; the
    # value is discarded there).
    p = tf.gather(info['reward_probs'], tf.maximum(state.state - 1, 0),
                  batch_dims=1)
    reward = tf.where(first_stage, 0.0, tf.cast(u_reward < p, tf.float32))
    next_state = tf.where(first_stage, after_first, S1)
    # A completed trial may swap the second-stage reward probabilities.
    swap = tf.logical_and(tf.logical_not(first_stage), u_swap < self.swap_prob)
    good = tf.where(swap, S2 + S3 - state.good_state, state.good_state)

    t = state.episode_step + 1
    last = t >= self.episode_length
    out = core.StepOutput(
        reward=reward,
        discount=1.0 - tf.cast(last, tf.float32),
        last=last,
        observation=self._observation(
            next_state, tf.minimum(t, self.episode_length - 1)),
        info=info,
        metrics={'trials': 1.0 - tf.cast(first_stage, tf.float32)})
    return TwoStepState(next_state, good, t), out

  def derived_metrics(self, totals):
    """Reward per trial (a trial is a first- and a second-stage step)."""
    if not totals.get('trials'):
      return {}
    return {'reward_per_trial': totals['return'] / totals['trials']}

  def task_info(self, state) -> Dict[str, tf.Tensor]:
    good_first = tf.equal(state.good_state, S2)[:, None]
    good, bad = self.reward_probs
    reward_probs = tf.where(good_first, tf.constant([[good, bad]], tf.float32),
                            tf.constant([[bad, good]], tf.float32))
    return {'state': state.state, 'good_state': state.good_state,
            'reward_probs': reward_probs}

  @staticmethod
  def _observation(state, episode_step):
    return {'state': state, 'episode_step': episode_step}
