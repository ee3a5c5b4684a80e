"""Baselines of the two-armed Bernoulli bandits (Exps 1 and 2).

Sections 3.1.1 and 3.1.2 of Wang et al. (2016), tasks of
`environments.bandits`: Thompson sampling on Beta(1, 1) posteriors, the exact
Bayes-optimal finite-horizon policy by dynamic programming over posterior
counts (independent arms, and the four dependent distributions p2 = 1 - p1),
and Gittins indices of Beta-Bernoulli arms (the paper's optimal reference in
Fig 2). `ThompsonSampling` and `Gittins` work for any number of arms.
"""

import functools
from typing import Tuple

import numpy as np
from scipy import special

from environments import bandits as bandits_lib
from meta_rl.baselines import common

# Default discount of the Gittins index: near the best one for the 100-trial
# tasks (see `Gittins`).
GITTINS_DISCOUNT = 0.98


class ThompsonSampling(common.CountingPolicy):
  """Thompson (1933): sample p_a ~ Beta(1 + s_a, 1 + f_a), pull the argmax."""
  name = 'thompson'

  def choose(self, s, f, rng):
    return np.argmax(rng.beta(1.0 + s, 1.0 + f), axis=-1)


# ----------------------------------------------------------------------------
# Bayes-optimal policy (Sections 3.1.1, 3.1.2).


def _decide(q0, q1):
  """Optimal arm of each state: 0 or 1, or 2 where Q_0 and Q_1 tie."""
  return np.where(q0 > q1 + common.TIE_TOL, 0,
                  np.where(q1 > q0 + common.TIE_TOL, 1, 2)).astype(np.int8)


@functools.lru_cache(maxsize=8)
def independent_bayes_tables(horizon: int) -> Tuple[float, Tuple[np.ndarray, ...]]:
  """Bayes-optimal policy of the two-armed bandit with independent U[0, 1] arms.

  Dynamic programming over the posterior counts (s1, f1, s2, f2) of the two
  Beta(1, 1) priors, backwards in t = s1 + f1 + s2 + f2 (f2 implied by t):

    V_T = 0,  V_t = max(Q_0, Q_1),
    Q_0 = m_1 (1 + V_{t+1}(s1 + 1, f1, s2)) + (1 - m_1) V_{t+1}(s1, f1 + 1, s2)
    m_a = (s_a + 1) / (s_a + f_a + 2)   (posterior predictive of arm a)

  and likewise Q_1.

  Args:
    horizon: number of trials T.
  Returns:
    (V_0, decisions): the Bayes-optimal expected total reward from the prior,
    and per t < T an int8 array [t+1, t+1, t+1] indexed [s1, f1, s2] with 0 or
    1 (the optimal arm) or 2 (both optimal); entries with s1+f1+s2 > t unused.
  """
  v_next = np.zeros((horizon + 1,) * 3)
  decisions = [None] * horizon
  for t in range(horizon - 1, -1, -1):
    i = np.arange(t + 1, dtype=np.float64)
    s1, f1, s2 = i[:, None, None], i[None, :, None], i[None, None, :]
    n2 = t - s1 - f1
    valid = s2 <= n2
    with np.errstate(divide='ignore', invalid='ignore'):
      m1 = (s1 + 1.0) / (s1 + f1 + 2.0)
      m2 = np.where(valid, (s2 + 1.0) / (n2 + 2.0), 0.0)
    q0 = (m1 * (1.0 + v_next[1:t + 2, :t + 1, :t + 1])
          + (1.0 - m1) * v_next[:t + 1, 1:t + 2, :t + 1])
    q1 = (m2 * (1.0 + v_next[:t + 1, :t + 1, 1:t + 2])
          + (1.0 - m2) * v_next[:t + 1, :t + 1, :t + 1])
    decisions[t] = _decide(q0, q1)
    v_next = np.where(valid, np.maximum(q0, q1), 0.0)
  return float(v_next[0, 0, 0]), tuple(decisions)


def dependent_posterior_mean(distribution: str, consistent, inconsistent):
  """E[p1 | c, d] under p2 = 1 - p1 for a dependent distribution.

  With p2 = 1 - p1, an arm-0 success and an arm-1 failure both have likelihood
  p1 ("consistent" outcomes, c of them) and the other two have 1 - p1
  (d of them), so the posterior over p1 is prior(p1) p1^c (1 - p1)^d.

  Args:
    distribution: 'uniform', 'easy', 'medium' or 'hard'.
    consistent, inconsistent: arrays of counts c and d (same shape).
  Returns:
    float64 array of posterior means of p1.
  """
  c = np.asarray(consistent, np.float64)
  d = np.asarray(inconsistent, np.float64)
  support = bandits_lib.DEPENDENT_SUPPORT[distribution]
  if support is None:  # U[0, 1] prior: Beta(c + 1, d + 1) posterior.
    return (c + 1.0) / (c + d + 2.0)
  lo, hi = sorted(support)
  log_odds_hi = c * np.log(hi / lo) + d * np.log((1.0 - hi) / (1.0 - lo))
  return lo + (hi - lo) * special.expit(log_odds_hi)


@functools.lru_cache(maxsize=16)
def dependent_bayes_tables(distribution: str,
                           horizon: int) -> Tuple[float, np.ndarray]:
  """Bayes-optimal policy of the two-armed bandit with p2 = 1 - p1.

  The posterior depends only on (c, d) (see `dependent_posterior_mean`), with
  c + d = t; with m = E[p1 | c, d]:

    Q_0 = m (1 + V_{t+1}(c + 1)) + (1 - m) V_{t+1}(c)       (c + 1: d unchanged)
    Q_1 = (1 - m) (1 + V_{t+1}(c)) + m V_{t+1}(c + 1)

  Both arms lead to the same posterior transitions (each outcome of either arm
  is equally informative about p1), so Q_0 - Q_1 = 2m - 1 and the DP confirms
  that the greedy policy on the posterior mean is Bayes-optimal here.

  Returns:
    (V_0, decisions int8 [T, T]): decisions[t, c] is 0, 1 or 2 (tie), for
    c <= t.
  """
  v_next = np.zeros(horizon + 1)
  decisions = np.full((horizon, horizon), 2, np.int8)
  for t in range(horizon - 1, -1, -1):
    c = np.arange(t + 1, dtype=np.float64)
    m = dependent_posterior_mean(distribution, c, t - c)
    up, down = v_next[1:t + 2], v_next[:t + 1]
    q0 = m * (1.0 + up) + (1.0 - m) * down
    q1 = (1.0 - m) * (1.0 + down) + m * up
    decisions[t, :t + 1] = _decide(q0, q1)
    v_next = np.maximum(q0, q1)
  return float(v_next[0]), decisions


def bayes_optimal_value(distribution: str, horizon: int) -> float:
  """Expected total reward of the Bayes-optimal policy over `horizon` trials."""
  if distribution == 'independent':
    return independent_bayes_tables(horizon)[0]
  return dependent_bayes_tables(distribution, horizon)[0]


def bayes_optimal_regret(distribution: str, horizon: int) -> float:
  """Expected cumulative regret T E[max(p1, p2)] - V_0 of the Bayes-optimal
  policy (E[max] = 2/3 for independent arms, E[max(p, 1 - p)] otherwise)."""
  if distribution == 'independent':
    best = 2.0 / 3.0
  else:
    support = bandits_lib.DEPENDENT_SUPPORT[distribution]
    best = 0.75 if support is None else max(support)
  return horizon * best - bayes_optimal_value(distribution, horizon)


class BayesOptimal(common.CountingPolicy):
  """Exact Bayes-optimal policy of a two-armed Bernoulli bandit distribution.

  Acts greedily on the Q values of the finite-horizon DP
  (`independent_bayes_tables`, `dependent_bayes_tables`), ties at random. The
  tables are computed once per (distribution, horizon): about 0.3 s and 27 MB
  for the independent prior at T = 100.
  """
  name = 'bayes_optimal'

  def __init__(self, distribution: str = 'independent', horizon: int = 100):
    super().__init__(2)
    if distribution not in bandits_lib.DISTRIBUTIONS:
      raise ValueError(f'unknown bandit distribution {distribution!r}')
    self.distribution = distribution
    self.horizon = horizon
    if distribution == 'independent':
      self._tables = independent_bayes_tables(horizon)[1]
    else:
      self._table = dependent_bayes_tables(distribution, horizon)[1]

  def choose(self, s, f, rng):
    si, fi = np.rint(s).astype(np.int64), np.rint(f).astype(np.int64)
    t = si.sum(-1) + fi.sum(-1)
    if t.max() >= self.horizon:
      raise ValueError(f'{self.name} was built for {self.horizon} trials')
    if self.distribution == 'independent':
      decision = np.empty(len(t), np.int8)
      for step in np.unique(t):
        rows = t == step
        decision[rows] = self._tables[step][si[rows, 0], fi[rows, 0], si[rows, 1]]
    else:
      decision = self._table[t, si[:, 0] + fi[:, 1]]
    coin = rng.integers(0, 2, size=len(t))
    return np.where(decision == 2, coin, decision)


# ----------------------------------------------------------------------------
# Gittins indices of Beta-Bernoulli arms.


def _pull_value(m, v_next, discount):
  """Value [n+1, G] of pulling once more from the states of a layer.

  Args:
    m: posterior means [n+1] of the layer's states, ordered by successes.
    v_next: values [n+2, G] of the next layer (index s + 1 after a success,
      s after a failure).
  """
  m = m[:, None]
  return m * (1.0 + discount * v_next[1:]) + (1.0 - m) * discount * v_next[:-1]


def gittins_index(successes: int, failures: int, discount: float,
                  depth: int = 300, tol: float = 1e-7) -> float:
  """Gittins index of a Beta(1 + s, 1 + f) Bernoulli arm by calibration.

  Bisection on the per-step retirement reward lambda: the index is the lambda
  at which pulling (then continuing optimally with the option to retire for
  lambda / (1 - discount)) is worth exactly as much as retiring now. The
  optimal-stopping DP is truncated `depth` pulls ahead, where the value is
  approximated by max(lambda, posterior mean) / (1 - discount).
  """
  n0 = successes + failures
  lo, hi = (successes + 1.0) / (n0 + 2.0), 1.0
  while hi - lo > tol:
    lam = 0.5 * (lo + hi)
    retire = lam / (1.0 - discount)
    m = (successes + np.arange(depth + 1) + 1.0) / (n0 + depth + 2.0)
    v = np.maximum(lam, m)[:, None] / (1.0 - discount)
    for k in range(depth - 1, -1, -1):
      cont = _pull_value((successes + np.arange(k + 1) + 1.0) / (n0 + k + 2.0),
                         v, discount)
      v = np.maximum(retire, cont)
    if cont[0, 0] > retire:
      lo = lam
    else:
      hi = lam
  return 0.5 * (lo + hi)


@functools.lru_cache(maxsize=8)
def gittins_table(discount: float, horizon: int, depth: int = 200,
                  grid_size: int = 4001) -> np.ndarray:
  """Gittins indices of Beta(1 + s, 1 + f) arms for all s + f <= horizon.

  The calibration method vectorised over states: the optimal-stopping DP (see
  `gittins_index`) is solved once for every retirement reward on a grid of
  `grid_size` values in [0, 1], for all states of the lattice s + f <=
  horizon + depth at once (states at layer n look horizon + depth - n >= depth
  pulls ahead). A state's index is the root of its advantage (continue minus
  retire), which decreases in lambda: bracketed on the grid and located by
  linear interpolation (the value is piecewise linear in lambda).

  Returns:
    float64 [horizon + 1, horizon + 1] indexed [s, f]; NaN where s + f > horizon.
  """
  lam = np.linspace(0.0, 1.0, grid_size)
  retire = lam / (1.0 - discount)
  top = horizon + depth
  s = np.arange(top + 1)
  v = np.maximum(lam[None], ((s + 1.0) / (top + 2.0))[:, None]) / (1.0 - discount)
  table = np.full((horizon + 1, horizon + 1), np.nan)
  for n in range(top - 1, -1, -1):
    cont = _pull_value((s[:n + 1] + 1.0) / (n + 2.0), v, discount)  # [n+1, G]
    if n <= horizon:
      adv = cont - retire
      k = np.minimum((adv >= 0).sum(-1) - 1, grid_size - 2)  # last adv >= 0
      rows = np.arange(n + 1)
      a0, a1 = adv[rows, k], adv[rows, k + 1]
      table[rows, n - rows] = lam[k] + (lam[1] - lam[0]) * a0 / (a0 - a1)
    v = np.maximum(retire, cont)
  return table


class Gittins(common.CountingPolicy):
  """Gittins index policy for Beta(1, 1)-prior Bernoulli arms.

  Pulls the arm of largest Gittins index (Gittins 1979; the paper's optimal
  reference in Fig 2). The index is for geometric discounting while the task
  has a 100-trial horizon; the default discount `GITTINS_DISCOUNT` (0.98) is
  near the best one for it: evaluated exactly by DP over the count lattice, the
  expected regret over 100 trials on independent arms is 1.98, 1.85, 1.80,
  1.772, 1.770, 1.778, 1.82 at discounts 0.9, 0.95, 0.97, 0.98, 0.985, 0.99,
  0.995 (Bayes-optimal 1.748).
  """
  name = 'gittins'

  def __init__(self, num_actions: int = 2, horizon: int = 100,
               discount: float = GITTINS_DISCOUNT):
    super().__init__(num_actions)
    self.discount = discount
    self._table = gittins_table(discount, horizon)
    self.horizon = horizon

  def choose(self, s, f, rng):
    si = np.minimum(np.rint(s).astype(np.int64), self.horizon)
    fi = np.minimum(np.rint(f).astype(np.int64), self.horizon - si)
    return common.argmax_random_ties(self._table[si, fi], rng)
