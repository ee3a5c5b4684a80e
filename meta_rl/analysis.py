"""Behavioural analyses of the paper's bandit and two-step experiments.

Rescorla-Wagner model fits (Section 3.1.4, Fig 4c): in each episode, the
agent's choices are fit by maximum likelihood with

    Q_0 = (0.5, ..., 0.5),   P(a_t) = softmax(beta * Q_t)[a_t],
    Q_{t+1}[a_t] = Q_t[a_t] + alpha * (r_t - Q_t[a_t])

(learning rate alpha in [0, alpha_max], by default [0, 1]; inverse
temperature beta in [0, BETA_MAX]). The fit is a vectorised grid search over
all episodes at once, refined per episode with scipy's bounded L-BFGS-B.
A learning rate above 1 over-corrects (Q jumps past the last reward); a
fit that piles at alpha = 1 may be refit with a wider `alpha_max` to see
whether the bound shapes a result (`at_bound`).
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
                        grid: Tuple[int, int] = (41, 41),
                        alpha_max: float = 1.0) -> Dict[str, np.ndarray]:
  """Per-episode maximum-likelihood (alpha, beta); actions/rewards [N, T];
  alpha in [0, alpha_max], beta in [0, BETA_MAX].

  Returns dict of [N] arrays: alpha, beta, nll.
  """
  actions = np.asarray(actions)
  n = actions.shape[0]
  alphas = np.linspace(0.0, alpha_max, grid[0])
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
        bounds=[(0.0, alpha_max), (0.0, BETA_MAX)])
    if res.fun < out['nll'][i]:
      out['alpha'][i], out['beta'][i] = res.x
      out['nll'][i] = res.fun
  return out


def at_bound(values, bound: float, tolerance: float = 1e-3) -> int:
  """How many fitted `values` lie at the upper `bound` (within
  `tolerance`)."""
  return int((np.asarray(values) >= bound - tolerance).sum())


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


# ----------------------------------------------------------------------------
# Two-step task (Section 3.2.1, Fig 5; Daw et al. 2011).


def two_step_trials(episodes) -> Dict[str, np.ndarray]:
  """Per-trial arrays [N, K] from `evaluation.play_episodes` on the two-step
  task: first-stage action `a1`, second-stage state `s2` (1 or 2), `common`
  transition (bool), `reward` (0/1)."""
  states = np.asarray(episodes['info_state'])  # [N, 2K]
  actions = np.asarray(episodes['actions'])
  rewards = np.asarray(episodes['rewards'])
  if not ((states[:, 0::2] == 0).all() and (states[:, 1::2] >= 1).all()):
    raise ValueError('not two-step episodes: states must alternate S1, S2/S3')
  a1, s2 = actions[:, 0::2], states[:, 1::2]
  return {'a1': a1, 's2': s2, 'common': (s2 - 1) == a1,
          'reward': rewards[:, 1::2]}


def stay_probabilities(trials) -> Dict[str, Dict[str, float]]:
  """P(repeat the first-stage action) after common/rare x rewarded/unrewarded
  trials (Fig 5b-c), with standard errors and counts."""
  stay = trials['a1'][:, 1:] == trials['a1'][:, :-1]
  common = trials['common'][:, :-1]
  rewarded = trials['reward'][:, :-1] > 0
  out = {}
  for r_name, r_mask in (('rewarded', rewarded), ('unrewarded', ~rewarded)):
    for t_name, t_mask in (('common', common), ('rare', ~common)):
      x = stay[r_mask & t_mask]
      p = float(x.mean()) if x.size else float('nan')
      out[f'{r_name}_{t_name}'] = {
          'p_stay': p, 'n': int(x.size),
          'se': float(np.sqrt(p * (1 - p) / x.size)) if x.size else float('nan')}
  return out


def stay_regression(trials, lags: int = 1) -> Dict[str, Dict[str, float]]:
  """Logistic regression of first-stage choices on previous trials.

  lags=1 (Daw et al. 2011): stay_t ~ 1 + reward_{t-1} + transition_{t-1} +
  reward_{t-1} x transition_{t-1}, predictors coded +-1 (rewarded, common =
  +1). A model-free learner loads on reward, a model-based one on the
  interaction.
  lags > 1 (trial-history regression): the outcome is choosing a1 = 0 at
  trial t; for each lag l, the reward, transition and interaction of trial
  t - l, each signed by the choice made at t - l (+1 for a1 = 0), and that
  signed choice itself; a positive coefficient pushes towards repeating it.
  Fit with statsmodels Logit. Returns, per coefficient: coef, se, z, p_value
  (NaN, with an `error`, when the choices are separable and no finite
  maximum-likelihood estimate exists).
  """
  import statsmodels.api as sm  # pylint: disable=g-import-not-at-top
  a1 = trials['a1']
  r = np.where(trials['reward'] > 0, 1.0, -1.0)
  c = np.where(trials['common'], 1.0, -1.0)
  k = a1.shape[1]
  if k <= lags:
    raise ValueError(f'need more than {lags} trials per episode')
  # Choice coded +-1; a predictor for lag l pushes towards repeating a1_{t-l}.
  choice = np.where(a1 == 0, 1.0, -1.0)
  y = (a1[:, lags:] == 0).astype(float).ravel()
  columns, names = [np.ones(y.size)], ['intercept']
  for l in range(1, lags + 1):
    sl = slice(lags - l, k - l)
    ch = choice[:, sl]
    for name, x in (('reward', r[:, sl]), ('transition', c[:, sl]),
                    ('reward_x_transition', r[:, sl] * c[:, sl])):
      columns.append((ch * x).ravel())
      names.append(f'{name}_lag{l}' if lags > 1 else name)
    if lags > 1:
      columns.append(ch.ravel())
      names.append(f'choice_lag{l}')
  if lags == 1:
    # Stay formulation of Daw et al. (2011): outcome is staying.
    y = (a1[:, 1:] == a1[:, :-1]).astype(float).ravel()
    columns = [np.ones(y.size), r[:, :-1].ravel(), c[:, :-1].ravel(),
               (r[:, :-1] * c[:, :-1]).ravel()]
  import warnings  # pylint: disable=g-import-not-at-top
  try:
    with warnings.catch_warnings(), np.errstate(all='ignore'):
      warnings.simplefilter('ignore')
      fit = sm.Logit(y, np.stack(columns, 1)).fit(disp=0)
    values = zip(fit.params, fit.bse, fit.tvalues, fit.pvalues)
  except (np.linalg.LinAlgError, ValueError) as e:
    # (Quasi-)separation, e.g. a near-deterministic policy: no finite MLE.
    nan = float('nan')
    return {n: {'coef': nan, 'se': nan, 'z': nan, 'p_value': nan,
                'error': f'{type(e).__name__}: {e}'} for n in names}
  return {n: {'coef': float(b), 'se': float(se), 'z': float(z), 'p_value': float(p)}
          for n, (b, se, z, p) in zip(names, values)}


# ----------------------------------------------------------------------------
# Harlow's task (Section 3.2.2, Fig 6).


def harlow_trials(episodes) -> Dict[str, np.ndarray]:
  """Per-trial arrays [N, K] (K = most trials in an episode) from
  `evaluation.play_episodes` on Harlow's task (under any action repeat):
  `correct` (1/0; NaN where the episode had no such trial), `decisions` and
  `frames` (agent steps and primitive steps since the previous selection, or
  since the episode's start, up to and including this one's), and `first`
  (trial 1's outcome per episode, [N], NaN without a trial)."""
  selected = np.asarray(episodes['metric_trials']) > 0  # [N, T]
  correct = np.asarray(episodes['metric_correct'])
  frames = np.asarray(episodes.get('metric_frames',
                                   np.ones_like(correct)), np.float64)
  valid = np.asarray(episodes['valid'])
  if (selected.sum(1) > selected.shape[1]).any():
    raise ValueError('not Harlow episodes')
  n = selected.shape[0]
  k = max(int(selected.sum(1).max()), 1)
  out = {key: np.full((n, k), np.nan) for key in ('correct', 'decisions',
                                                  'frames')}
  steps = np.cumsum(valid, 1)
  cum_frames = np.cumsum(frames * valid, 1)
  for i in range(n):
    at = np.nonzero(selected[i])[0]
    out['correct'][i, :len(at)] = correct[i, at]
    out['decisions'][i, :len(at)] = np.diff(np.concatenate([[0], steps[i, at]]))
    out['frames'][i, :len(at)] = np.diff(np.concatenate([[0], cum_frames[i, at]]))
  out['first'] = out['correct'][:, 0]
  return out


def _rate(x) -> Dict[str, float]:
  x = np.asarray(x, np.float64)
  x = x[~np.isnan(x)]
  p = float(x.mean()) if x.size else float('nan')
  se = float(np.sqrt(p * (1 - p) / x.size)) if x.size > 1 else float('nan')
  return {'p': p, 'se': se, 'n': int(x.size)}


def choice_by_trial(trials) -> Dict[str, Dict[str, list]]:
  """P(choose the rewarded image) by trial number 1..K (Fig 6f), overall and
  split by trial 1's outcome (`after_win`, `after_loss`): for each split,
  lists `p`, `se` (binomial) and `n` over trial numbers."""
  correct, first = trials['correct'], trials['first']
  out = {}
  for name, rows in (('all', np.ones(len(first), bool)),
                     ('after_win', first == 1), ('after_loss', first == 0)):
    rates = [_rate(correct[rows, j]) for j in range(correct.shape[1])]
    out[name] = {key: [r[key] for r in rates] for key in ('p', 'se', 'n')}
  return out


def harlow_summary(trials) -> Dict[str, float]:
  """The targets' numbers: P(correct) on trial 1, on trials 2..K overall and
  after a rewarded / unrewarded trial 1 (with SEs and counts), the mean
  decisions and frames per trial, and the trials completed per episode."""
  correct, first = trials['correct'], trials['first']
  later = correct[:, 1:]
  out = {}
  for name, x in (('trial_1', correct[:, 0]), ('later', later),
                  ('later_after_win', later[first == 1]),
                  ('later_after_loss', later[first == 0])):
    r = _rate(np.ravel(x))
    out.update({f'p_correct_{name}': r['p'], f'p_correct_{name}_se': r['se'],
                f'n_{name}': r['n']})
  out['decisions_per_trial'] = float(np.nanmean(trials['decisions']))
  out['frames_per_trial'] = float(np.nanmean(trials['frames']))
  out['trials_per_episode'] = float(np.mean((~np.isnan(correct)).sum(1)))
  return out


# ----------------------------------------------------------------------------
# One-shot navigation (Section 3.2.3, Fig 7).


def navigation_trips(episodes) -> Dict[str, np.ndarray]:
  """Per-trip arrays from `evaluation.play_episodes` on the I-maze (under any
  action repeat). A trip runs from the episode's start, or from the decision
  after a goal visit (the respawn), to the next visit or the episode's end.

  Returns arrays [N, K] (K = most trips in an episode; NaN where an episode
  had fewer): `start` (decision index where the trip began), `latency`
  (decisions to the goal, including the one that reached it; NaN for the
  unfinished last trip), `remaining` (decisions from the trip's start to the
  episode's end); and `length` [N], the decisions of each episode.
  """
  visits = np.asarray(episodes['metric_goal_visits']) > 0  # [N, T]
  valid = np.asarray(episodes['valid'])
  length = valid.sum(1)
  n = visits.shape[0]
  k = int(visits.sum(1).max()) + 1
  out = {key: np.full((n, k), np.nan) for key in ('start', 'latency',
                                                  'remaining')}
  for i in range(n):
    at = np.nonzero(visits[i] & valid[i])[0]
    starts = np.concatenate([[0], at + 1])
    starts = starts[starts < length[i]] if len(at) else starts
    out['start'][i, :len(starts)] = starts
    out['remaining'][i, :len(starts)] = length[i] - starts
    out['latency'][i, :len(at)] = at + 1 - starts[:len(at)]
  out['length'] = length.astype(np.float64)
  return out


def _mean_se(x) -> Tuple[float, float, int]:
  x = np.asarray(x, np.float64)
  x = x[~np.isnan(x)]
  if not x.size:
    return float('nan'), float('nan'), 0
  se = float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else float('nan')
  return float(x.mean()), se, int(x.size)


def navigation_summary(trips, rewards, goals, window: int,
                       max_visits: int = 10) -> Dict[str, float]:
  """Fig 7c's numbers from `navigation_trips`, the episodes' rewards [N, T]
  and goal indices [N].

  `latency_first` / `latency_later`: mean decisions to the goal on the first
  trip and on trips 2+ (each finished trip counts once), with SEs over trips,
  and their ratio `latency_ratio` (the issue's measure). Two things make this
  ratio fall below 1 even for an agent without memory: a later trip counts
  only if it ends in the time left, and episodes whose goal the agent
  happens to reach quickly contribute more later trips. `matched_first` /
  `matched_later` / `matched_ratio` compare on equal terms: only trips that
  began at least `window` decisions before the end, latencies capped at
  `window`, averaged per goal position and then over the positions that have
  both first and later trips (`matched_goals` of them; a memoryless agent
  scores 1 up to noise). `by_visit` lists the mean latency
  of visit 1..`max_visits` (with SE and count).
  """
  latency, remaining = trips['latency'], trips['remaining']
  goals = np.asarray(goals)
  out = {}
  rewards = np.asarray(rewards, np.float64).sum(1)
  out['episode_return'], out['episode_return_se'], out['episodes'] = _mean_se(
      rewards)
  finished = ~np.isnan(latency)
  out['visits_per_episode'] = float(finished.sum(1).mean())
  out['p_found'] = float(finished[:, 0].mean())
  for name, x in (('first', latency[:, :1]), ('later', latency[:, 1:])):
    m, se, n = _mean_se(np.ravel(x))
    out.update({f'latency_{name}': m, f'latency_{name}_se': se,
                f'n_{name}': n})
  out['latency_ratio'] = out['latency_later'] / out['latency_first']
  # Matched: trips with at least `window` decisions left, capped at it,
  # averaged within each goal position that has both kinds of trip, then
  # over those positions.
  capped = np.where(finished, np.minimum(latency, window), window)
  capped = np.where(remaining >= window, capped, np.nan)
  per_goal = {name: [_mean_se(np.ravel(x[goals == g]))
                     for g in np.unique(goals)]
              for name, x in (('first', capped[:, :1]),
                              ('later', capped[:, 1:]))}
  both = [f[2] > 0 and l[2] > 0 for f, l in zip(per_goal['first'],
                                                 per_goal['later'])]
  for name, goal_stats in per_goal.items():
    used = [st for st, ok in zip(goal_stats, both) if ok]
    ses = [se for _, se, n in used if n > 1]
    out[f'matched_{name}'] = (float(np.mean([m for m, _, _ in used]))
                              if used else float('nan'))
    out[f'matched_{name}_se'] = (float(np.sqrt(np.sum(np.square(ses)))
                                       / len(ses)) if ses else float('nan'))
    out[f'matched_n_{name}'] = int(sum(n for _, _, n in used))
  out['matched_goals'] = int(sum(both))
  out['matched_ratio'] = out['matched_later'] / out['matched_first']
  out['window'] = int(window)
  by_visit = [_mean_se(latency[:, j]) for j in range(min(max_visits,
                                                          latency.shape[1]))]
  out['by_visit'] = {'mean': [b[0] for b in by_visit],
                     'se': [b[1] for b in by_visit],
                     'n': [b[2] for b in by_visit]}
  return out


def first_discovery(trips) -> np.ndarray:
  """Decision index of each episode's first goal visit [N] (-1 if none)."""
  first = trips['latency'][:, 0]
  return np.where(np.isnan(first), -1, first - 1).astype(int)


def learning_curve_summary(steps, values, wall_times, target: float,
                           mode: str = 'max', stability: float = 0.85,
                           max_gap_secs: float = 300.0) -> Dict[str, float]:
  """When a training curve first reached a target, and how it held it.

  Args:
    steps: [P] agent steps of the curve's points (progress windows), in the
      order logged; a resumed run may log a step again (it restarted from an
      earlier checkpoint): each point is kept where it was logged.
    values: [P] the metric at those points (e.g. P(correct) on trials 2-10).
    wall_times: [P] seconds (event wall times).
    target: the target value; reached where `values >= target` ('max') or
      `<= target` ('min').
    mode: 'max' or 'min'.
    stability: a point after the first target counts as a dip where it falls
      below `stability * target` ('max'; 'min': above `target / stability`).
    max_gap_secs: gaps between consecutive points longer than this (a run
      stopped and resumed later) are left out of the wall time.
  Returns:
    `points`, `final_step`, `train_secs` (wall time of training, gaps left
    out), `last` (the last point's value), `best` and `best_step`; and if
    the target was reached: `first_step`, `first_secs`, `after_worst` (the
    worst point from the first target on), `after_worst_step`, `dips` (points
    past the stability bound after it) and `stable` (1.0 if none, else 0.0).
  """
  steps = np.asarray(steps, np.float64)
  values = np.asarray(values, np.float64)
  wall = np.asarray(wall_times, np.float64)
  if mode not in ('max', 'min'):
    raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
  if not len(steps) == len(values) == len(wall):
    raise ValueError('steps, values and wall_times differ in length')
  out = {'points': float(len(steps))}
  if not len(steps):
    return out
  gaps = np.diff(wall, prepend=wall[0])
  elapsed = np.cumsum(np.where(gaps > max_gap_secs, 0.0, gaps))
  sign = 1.0 if mode == 'max' else -1.0
  best = int(np.argmax(sign * values))
  out.update(final_step=float(steps.max()), train_secs=float(elapsed[-1]),
             last=float(values[-1]), best=float(values[best]),
             best_step=float(steps[best]))
  reached = np.flatnonzero(sign * values >= sign * target)
  if not len(reached):
    return out
  first = int(reached[0])
  after = values[first:]
  worst = first + int(np.argmin(sign * after))
  bound = stability * target if mode == 'max' else target / stability
  dips = int(np.sum(sign * after < sign * bound))
  out.update(first_step=float(steps[first]), first_secs=float(elapsed[first]),
             after_worst=float(values[worst]),
             after_worst_step=float(steps[worst]), dips=float(dips),
             stable=float(dips == 0))
  return out
