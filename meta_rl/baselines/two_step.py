"""Baselines of the two-step task (Exp 5, Section 3.2.1): the model-free and
model-based learners of Daw et al. (2011) whose stay probabilities Fig 5b
compares with the agent's."""

from typing import Dict, Optional

import numpy as np

from meta_rl.baselines import common

# The canonical model-free learner of Fig 5b: a moderate inverse temperature,
# so that staying grows with the previous reward but is far from certain.
CANONICAL_ALPHA = 0.5
CANONICAL_BETA = 5.0


class TwoStepLearner:
  """Model-free and model-based learners of the two-step task (Daw et al.
  2011; Section 3.2.1, Fig 5b), learning within each episode.

  Both keep second-stage values Q2[s, a] (s in {S2, S3}), updated after each
  second-stage reward: Q2[s, a] += alpha (r - Q2[s, a]), and state values
  V2[s] += alpha (r - V2[s]) (either action at S2/S3 collects the state's
  reward, so the state value is what a planner needs).
    model-free (TD(1) / Q-learning with eligibility 1): first-stage values
      Q1[a1] += alpha (r - Q1[a1]) from the trial's final reward;
    model-based: first-stage values from the known transition structure,
      Q_MB(a1) = p_common V2[common(a1)] + (1 - p_common) V2[rare(a1)].
  Choices are softmax(beta * Q). Values start at 0.5. Observations need the
  two-step task's `state` (0 = S1, 1 = S2, 2 = S3).

  Defaults alpha 0.3, beta 50 earn (within noise) the most reward per trial on
  the paper's task for both learners (grid alpha in {0.3, 0.5, 0.7, 1}, beta
  in {5, 10, 20, 50}; 1000 episodes): model-based 0.670, model-free 0.611.
  At such a high beta the model-free learner's choices after a reward are
  nearly deterministic; the canonical model-free prediction drawn in Fig 5b
  (and in Daw et al. 2011) is that of a learner at a moderate inverse
  temperature (`CANONICAL_ALPHA`, `CANONICAL_BETA`: 'model_free_canonical').
  """

  def __init__(self, model_based: bool, alpha: float = 0.3, beta: float = 50.0,
               common_prob: float = 0.75, name: Optional[str] = None):
    self.model_based = model_based
    self.alpha, self.beta, self.common_prob = alpha, beta, common_prob
    self.name = name or ('model_based' if model_based else 'model_free')
    self.num_actions = 2

  def initial_state(self, batch_size: int) -> Dict[str, np.ndarray]:
    return {'q1': np.full((batch_size, 2), 0.5),
            'q2': np.full((batch_size, 2, 2), 0.5),
            'v2': np.full((batch_size, 2), 0.5),
            'last_state': np.full(batch_size, -1),
            'first_action': np.full(batch_size, -1)}

  def step(self, inputs, state, rng):
    s_now = np.asarray(inputs['state'])
    a_prev = np.asarray(inputs['prev_action'])
    r = np.asarray(inputs['prev_reward'], np.float64)
    q1, q2, v2 = state['q1'].copy(), state['q2'].copy(), state['v2'].copy()
    last, first = state['last_state'], state['first_action']
    # Learn from the second-stage step just taken.
    rows = np.nonzero((last >= 1) & (a_prev >= 0))[0]
    s2, a2 = last[rows] - 1, a_prev[rows]
    q2[rows, s2, a2] += self.alpha * (r[rows] - q2[rows, s2, a2])
    v2[rows, s2] += self.alpha * (r[rows] - v2[rows, s2])
    if not self.model_based:
      a1 = first[rows]
      q1[rows, a1] += self.alpha * (r[rows] - q1[rows, a1])
    # Values of the current choice.
    if self.model_based:
      c = self.common_prob
      stage1 = np.stack([c * v2[:, 0] + (1 - c) * v2[:, 1],
                         (1 - c) * v2[:, 0] + c * v2[:, 1]], -1)
    else:
      stage1 = q1
    stage2 = q2[np.arange(len(s_now)), np.clip(s_now - 1, 0, 1)]
    values = np.where((s_now == 0)[:, None], stage1, stage2)
    action = common.sample_action(self.beta * values, rng)
    first = np.where(s_now == 0, action, first)
    return action, {'q1': q1, 'q2': q2, 'v2': v2, 'last_state': s_now.copy(),
                    'first_action': first}
