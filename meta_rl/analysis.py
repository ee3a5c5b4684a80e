"""Behavioural analyses of the paper's bandit experiments.

Rescorla-Wagner model fits (Section 3.1.4, Fig 4c): in each episode, the
agent's choices are fit by maximum likelihood with

    Q_0 = (0.5, ..., 0.5),   P(a_t) = softmax(beta * Q_t)[a_t],
    Q_{t+1}[a_t] = Q_t[a_t] + alpha * (r_t - Q_t[a_t])

(learning rate alpha in [0, 1], inverse temperature beta in [0, BETA_MAX]).
The fit is a vectorised grid search over all episodes at once, refined per
episode with scipy's bounded L-BFGS-B.
"""

from typing import Dict, Sequence, Tuple

import numpy as np
from scipy import optimize, stats

BETA_MAX = 50.0


def rw_negative_log_likelihood(alpha, beta, actions, rewards, num_actions=2):
  """NLL of choices under Rescorla-Wagner + softmax, summed over time.

  Args:
    alpha, beta: scalars, [G] (G parameter pairs for every episode) or [N, G].
    actions: int [N, T] choices; rewards: float [N, T].
  Returns:
    float [N, G] ([N] when alpha and beta are scalars).
  """
  actions = np.asarray(actions)
  rewards = np.asarray(rewards, np.float64)
  n, t_max = actions.shape
  scalar = np.ndim(alpha) == 0 and np.ndim(beta) == 0

  def as_ng(x):
    x = np.asarray(x, np.float64)
    return x.reshape(1, -1) if x.ndim <= 1 else x

  alpha, beta = np.broadcast_arrays(as_ng(alpha), as_ng(beta))
  g = alpha.shape[1]
  alpha = np.broadcast_to(alpha, (n, g))
  beta = np.broadcast_to(beta, (n, g))
  q = np.full((n, g, num_actions), 0.5)
  nll = np.zeros((n, g))
  rows = np.arange(n)[:, None]
  cols = np.arange(g)[None, :]
  for t in range(t_max):
    a_t = np.broadcast_to(actions[:, t][:, None], (n, g))
    r_t = rewards[:, t][:, None]
    logits = beta[..., None] * q
    logits = logits - logits.max(-1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll -= log_p[rows, cols, a_t]
    q[rows, cols, a_t] += alpha * (r_t - q[rows, cols, a_t])
  return nll[:, 0] if scalar else nll


def fit_rescorla_wagner(actions, rewards, num_actions=2,
                        grid: Tuple[int, int] = (41, 41)) -> Dict[str, np.ndarray]:
  """Per-episode maximum-likelihood (alpha, beta); actions/rewards [N, T].

  Returns dict of [N] arrays: alpha, beta, nll.
  """
  actions = np.asarray(actions)
  n = actions.shape[0]
  alphas = np.linspace(0.0, 1.0, grid[0])
  betas = np.concatenate([[0.0], np.geomspace(0.1, BETA_MAX, grid[1] - 1)])
  ga, gb = np.meshgrid(alphas, betas, indexing='ij')
  ga, gb = ga.ravel(), gb.ravel()  # [G]
  nll = rw_negative_log_likelihood(ga, gb, actions, rewards, num_actions)  # [N, G]
  best = nll.argmin(-1)
  out = {'alpha': ga[best].copy(), 'beta': gb[best].copy(),
         'nll': nll[np.arange(n), best].copy()}
  for i in range(n):
    res = optimize.minimize(
        lambda x: float(rw_negative_log_likelihood(
            x[0], x[1], actions[i:i + 1], rewards[i:i + 1], num_actions)[0]),
        x0=[out['alpha'][i], out['beta'][i]], method='L-BFGS-B',
        bounds=[(0.0, 1.0), (0.0, BETA_MAX)])
    if res.fun < out['nll'][i]:
      out['alpha'][i], out['beta'][i] = res.x
      out['nll'][i] = res.fun
  return out


def regress(x, y) -> Dict[str, float]:
  """Linear regression y ~ x (scipy.stats.linregress): slope, R^2, p, n."""
  r = stats.linregress(np.asarray(x, np.float64), np.asarray(y, np.float64))
  return {'slope': float(r.slope), 'intercept': float(r.intercept),
          'r_squared': float(r.rvalue ** 2), 'p_value': float(r.pvalue),
          'n': int(len(x))}


def compare_bands(values, volatility, bands: Sequence[Tuple[float, float]]):
  """Means of `values` in volatility bands and Welch t-tests between
  neighbouring bands."""
  values, volatility = np.asarray(values), np.asarray(volatility)
  masks = [(volatility >= lo) & (volatility < hi) for lo, hi in bands]
  out = {'bands': [{'range': [float(lo), float(hi)], 'n': int(m.sum()),
                    'mean': float(values[m].mean()) if m.any() else None,
                    'se': float(values[m].std(ddof=1) / np.sqrt(m.sum()))
                          if m.sum() > 1 else None}
                   for (lo, hi), m in zip(bands, masks)],
         'ttests': []}
  for i in range(len(bands) - 1):
    a, b = values[masks[i]], values[masks[i + 1]]
    if len(a) > 1 and len(b) > 1:
      t = stats.ttest_ind(b, a, equal_var=False)
      out['ttests'].append({'higher_band': list(bands[i + 1]),
                            'lower_band': list(bands[i]),
                            't': float(t.statistic), 'p_value': float(t.pvalue)})
  return out
