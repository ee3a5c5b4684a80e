"""Baselines of the informative-arm bandit (Exp 3, Section 3.1.3).

The task (`environments.informative_bandit`): arms 0..K-1 are candidates, one
of them the target; the informative arm K names the target through its payout.
`ThompsonInformative` is the paper's Thompson sampling with the true prior;
`OptimalInformative` is the Bayes-optimal "informative arm, then target"
policy.
"""

from typing import Dict

import numpy as np

from environments import informative_bandit as informative_lib
from meta_rl.baselines import common


class _InformativePolicy:
  """Base: posterior over the target arm of the informative bandit.

  Arms 0..K-1 (K = num_arms - 1) are candidates; the target pays
  `TARGET_PAYOUT` (5), the others `NON_TARGET_PAYOUT` (1); the informative arm
  K pays (k + 1) / 10 for target k (`environments.informative_bandit`). All
  payouts are deterministic, so the posterior is uniform on the candidates not
  yet ruled out (state `possible` [B, K]).
  """

  name = 'informative'

  def __init__(self, num_arms: int = 11):
    self.num_actions = num_arms
    self.informative_arm = num_arms - 1
    self._threshold = 0.5 * (informative_lib.TARGET_PAYOUT +
                             informative_lib.NON_TARGET_PAYOUT)
    self._clues = (np.arange(num_arms - 1) + 1.0) / 10.0

  def initial_state(self, batch_size: int) -> Dict[str, np.ndarray]:
    return {'possible': np.ones((batch_size, self.informative_arm), np.float32)}

  def step(self, inputs, state, rng):
    rows, a, r = common.update_rows(inputs)
    possible = state['possible'].copy()
    k = self.informative_arm
    info = a == k
    # The informative arm names the target; a candidate arm is the target iff
    # it paid the high reward.
    clue = np.argmin(np.abs(r[:, None] - self._clues[None]), axis=-1)
    target = np.where(info, clue, a)
    found = info | (r > self._threshold)
    one_hot = (np.arange(k) == target[:, None]).astype(np.float32)
    ruled_out = possible[rows] * (1.0 - one_hot)
    possible[rows] = np.where(found[:, None], one_hot, ruled_out)
    return self.choose(possible, inputs, rng).astype(np.int32), {
        'possible': possible}

  def choose(self, possible, inputs, rng):
    raise NotImplementedError


class ThompsonInformative(_InformativePolicy):
  """Thompson sampling with the true prior (uniform target among the K
  candidates): sample a target from the posterior and pull it. Never pulls the
  informative arm (its expected reward is below every candidate's); finds the
  target within K pulls."""
  name = 'thompson_informative'

  def choose(self, possible, inputs, rng):
    u = rng.random((len(possible), 1)) * possible.sum(-1, keepdims=True)
    return np.minimum((u >= np.cumsum(possible, -1)).sum(-1), possible.shape[1] - 1)


class OptimalInformative(_InformativePolicy):
  """Bayes-optimal policy of the informative bandit: the informative arm on the
  first trial, then the target (expected reward 0.55 + 5 (T - 1), 20.55 at
  T = 5)."""
  name = 'optimal_informative'

  def choose(self, possible, inputs, rng):
    first = np.asarray(inputs['prev_action']) < 0
    return np.where(first, self.informative_arm, np.argmax(possible, -1))
