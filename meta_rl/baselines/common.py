"""Policy helpers shared by the baselines, and the policies that fit any bandit.

Every baseline is a batched NumPy policy (see `meta_rl.baselines`). This module
holds what the task families share: random tie-breaking, the rows a step
updates, softmax sampling of actions for NumPy policies (`sample_action`; agents,
in TF, sample with `meta_rl.agent.sample_action`), the count-keeping base `CountingPolicy`, and the policies
that need nothing of a task but its number of arms: `RandomPolicy`, `UCB` and
`UCB1`, and the Rescorla-Wagner learners of Section 3.1.4 of Wang et al.
(2016).
"""

from typing import Dict

import numpy as np

# Inverse temperature of the Rescorla-Wagner learners: a Q difference of 0.2
# gives 88% choice of the better arm (the paper does not state its value).
RW_BETA = 10.0

# Values within this of the largest count as ties.
TIE_TOL = 1e-9


def argmax_random_ties(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """argmax over the last axis [B, A] -> [B], ties (within 1e-9) broken at random."""
  best = x >= x.max(axis=-1, keepdims=True) - TIE_TOL
  return np.argmax(best * (1.0 + rng.random(x.shape)), axis=-1)


def update_rows(inputs):
  """The rows of a step's `inputs` that have a previous trial (not the first
  trial of an episode): row indices, their previous actions and rewards
  (float64)."""
  a = np.asarray(inputs['prev_action'])
  rows = np.nonzero(a >= 0)[0]
  return rows, a[rows], np.asarray(inputs['prev_reward'], np.float64)[rows]


def sample_action(logits: np.ndarray, rng: np.random.Generator,
                  greedy: bool = False) -> np.ndarray:
  """Samples int32 actions [B] from logits [B, A] (or takes the argmax)."""
  if greedy:
    return np.argmax(logits, axis=-1).astype(np.int32)
  z = logits - logits.max(axis=-1, keepdims=True)
  p = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
  u = rng.random((len(p), 1))
  return (u > np.cumsum(p, axis=-1)[:, :-1]).sum(-1).astype(np.int32)


class CountingPolicy:
  """Base: keeps per-arm pull counts and reward sums.

  For Bernoulli rewards `successes` is the number of rewards of 1 and
  `failures` the number of 0s; for real-valued rewards `successes` is the sum of
  rewards and `successes + failures` still counts the pulls.
  """

  name = 'counting'

  def __init__(self, num_actions: int = 2):
    self.num_actions = num_actions

  def initial_state(self, batch_size: int) -> Dict[str, np.ndarray]:
    z = np.zeros((batch_size, self.num_actions), np.float64)
    return {'successes': z, 'failures': z.copy()}

  def step(self, inputs, state, rng):
    rows, a, r = update_rows(inputs)
    s, f = state['successes'].copy(), state['failures'].copy()
    s[rows, a] += r
    f[rows, a] += 1.0 - r
    state = {'successes': s, 'failures': f}
    return self.choose(s, f, rng).astype(np.int32), state

  def choose(self, s, f, rng):
    """Actions [B] from successes and failures [B, A]."""
    raise NotImplementedError


class RandomPolicy(CountingPolicy):
  """Uniformly random arm (chance)."""
  name = 'random'

  def choose(self, s, f, rng):
    return rng.integers(0, self.num_actions, size=s.shape[0])


class UCB(CountingPolicy):
  """UCB with exploration parameter chi: untried arms first, then the argmax of
  mean_a + sqrt(chi ln n / n_a) (n pulls in all, n_a of arm a).

  chi = 1 is the paper's setting (Section 3.1.4, "near the highest performing
  value"); chi = 2 is UCB1 of Auer et al. (2002). Works for any number of arms
  and real-valued rewards (the mean is the average reward of the arm).
  """
  name = 'ucb'

  def __init__(self, num_actions: int = 2, chi: float = 1.0):
    super().__init__(num_actions)
    self.chi = chi

  def choose(self, s, f, rng):
    n_a = s + f
    n = n_a.sum(axis=-1, keepdims=True)
    with np.errstate(divide='ignore', invalid='ignore'):
      index = s / n_a + np.sqrt(self.chi * np.log(np.maximum(n, 1.0)) / n_a)
    index = np.where(n_a == 0, np.inf, index)
    return argmax_random_ties(index, rng)


class UCB1(UCB):
  """UCB1 (Auer et al. 2002): mean_a + sqrt(2 ln n / n_a)."""
  name = 'ucb1'

  def __init__(self, num_actions: int = 2):
    super().__init__(num_actions, chi=2.0)


class RescorlaWagner:
  """Rescorla-Wagner learner with softmax choice (Section 3.1.4).

    Q_0 = 0.5,   Q[a_t] <- Q[a_t] + alpha (r_t - Q[a_t]),
    pi(a) = softmax(beta Q)(a).

  beta defaults to `RW_BETA` (10).
  """

  def __init__(self, num_actions: int = 2, alpha: float = 0.2,
               beta: float = RW_BETA):
    self.num_actions = num_actions
    self.alpha = alpha
    self.beta = beta
    self.name = f'rw_{alpha:g}'

  def initial_state(self, batch_size: int) -> Dict[str, np.ndarray]:
    return {'q': np.full((batch_size, self.num_actions), 0.5)}

  def step(self, inputs, state, rng):
    rows, a, r = update_rows(inputs)
    q = state['q'].copy()
    q[rows, a] += self.alpha * (r - q[rows, a])
    return sample_action(self.beta * q, rng), {'q': q}
