"""Statistics and the table of an evaluation: `summarise` turns the episodes
of `rollout.play_episodes` into means and standard errors of the reward and
of every task metric, `format_table` lays out the summaries of several
policies, and `headline_scalars` picks the scalars worth a chart.
"""

from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np


def metric_names(episodes: Dict[str, Any]) -> List[str]:
  return sorted(k[len('metric_'):] for k in episodes if k.startswith('metric_'))


def summarise(episodes: Dict[str, Any],
              derived: Optional[Callable[[Dict[str, float]], Dict[str, float]]] = None
              ) -> Dict[str, Any]:
  """Means and standard errors of an evaluation.

  Reward: `episode_reward_mean/se`, `cumulative_reward_mean/se` per step.
  Every task metric m (e.g. regret): `final_<m>_mean/se` (its episode sum),
  `cumulative_<m>_mean/se` and `<m>_per_step` (mean over episodes per step).
  `derived` (a core's `derived_metrics`) adds the task's own scalars from the
  sums over all episodes.
  """
  n = episodes['actions'].shape[0]

  def curve(x):  # [N, T] -> cumulative mean and SE per step
    cum = np.cumsum(x, axis=1)
    return cum.mean(0), cum.std(axis=0, ddof=1) / np.sqrt(n)

  reward_mean, reward_se = curve(episodes['rewards'])
  summary = {'num_episodes': int(n),
             'cumulative_reward_mean': reward_mean.tolist(),
             'cumulative_reward_se': reward_se.tolist(),
             'episode_reward_mean': float(reward_mean[-1]),
             'episode_reward_se': float(reward_se[-1])}
  totals = {'episodes': float(n), 'return': float(episodes['rewards'].sum())}
  for m in metric_names(episodes):
    values = episodes[f'metric_{m}']
    mean, se = curve(values)
    summary.update({f'cumulative_{m}_mean': mean.tolist(),
                    f'cumulative_{m}_se': se.tolist(),
                    f'final_{m}_mean': float(mean[-1]),
                    f'final_{m}_se': float(se[-1]),
                    f'{m}_per_step': values.mean(0).tolist()})
    totals[m] = float(values.sum())
  if derived is not None:
    summary.update(derived(totals))
  return summary


def format_table(results: Dict[str, Dict[str, Any]],
                 metrics: Sequence[str]) -> str:
  """The evaluation table: a row per policy, the mean +- SE per episode of
  the reward and of every task metric in `metrics`; column widths come from
  the content (long baseline names, large values), the +- of a column
  aligned."""
  header = ['policy', 'reward', *metrics]
  keys = ['episode_reward', *(f'final_{m}' for m in metrics)]
  rows = [[(f'{s[f"{k}_mean"]:.2f}', f'{s[f"{k}_se"]:.2f}') for k in keys]
          for s in results.values()]
  width_mean = [max(len(r[i][0]) for r in rows) for i in range(len(keys))]
  width_se = [max(len(r[i][1]) for r in rows) for i in range(len(keys))]
  width = [max(len(h), m + 3 + e)
           for h, m, e in zip(header[1:], width_mean, width_se)]
  name_width = max(len(n) for n in [header[0], *results])
  lines = ['  '.join([f'{header[0]:<{name_width}}'] +
                     [f'{h:>{w}}' for h, w in zip(header[1:], width)])]
  for name, row in zip(results, rows):
    cells = [f'{mean:>{m}} ± {se:>{e}}'.rjust(w)
             for (mean, se), m, e, w in zip(row, width_mean, width_se, width)]
    lines.append('  '.join([f'{name:<{name_width}}'] + cells))
  return '\n'.join(lines)


def headline_scalars(summary: Dict[str, Any]) -> Dict[str, float]:
  """The scalars of a `summarise` output: `episode_reward` and its `_se`,
  each task metric's mean per episode and its `_se`, derived metrics."""
  out = {'episode_reward': summary['episode_reward_mean'],
         'episode_reward_se': summary['episode_reward_se']}
  for k, v in summary.items():
    if k.startswith('final_') and k.endswith('_mean'):
      out[k[len('final_'):-len('_mean')]] = v
    elif k.startswith('final_') and k.endswith('_se'):
      out[k[len('final_'):]] = v
    elif (isinstance(v, float) and not k.startswith(('final_', 'episode_'))
          and k != 'num_episodes'):
      out[k] = v  # a derived metric, e.g. reward_per_trial
  return out
