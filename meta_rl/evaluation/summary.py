"""Statistics and the table of an evaluation: `summarise` turns the episodes
of `rollout.play_episodes` into means and standard errors of the reward and
of every task metric, `format_table` lays out the summaries of several
policies, and `headline_scalars` picks the scalars worth a chart.
"""

from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np


def metric_names(episodes: Dict[str, Any]) -> List[str]:
  return sorted(k[len('metric_'):] for k in episodes if k.startswith('metric_'))


def episode_sums(episodes: Dict[str, Any]) -> Dict[str, np.ndarray]:
  """The per-step values [N, T] of each episode sum of `episodes`, by the
  sum's name (`meta_rl.metrics`): `return` (the rewards) and every task
  metric."""
  out = {'return': np.asarray(episodes['rewards'])}
  for m in metric_names(episodes):
    out[m] = np.asarray(episodes[f'metric_{m}'])
  return out


def summarise(episodes: Dict[str, Any],
              derived: Optional[Callable[[Dict[str, float]], Dict[str, float]]] = None
              ) -> Dict[str, Any]:
  """Means and standard errors of an evaluation, named as training logs them
  (`meta_rl.metrics`).

  For every episode sum s (`return`, then each task metric, e.g. `regret`):
  `episode_<s>` (its mean per episode) and `episode_<s>_se`, the curves
  `cumulative_<s>` and `cumulative_<s>_se` (cumulative mean and SE per
  step) and `<s>_per_step` (mean over episodes per step). `derived` (a
  core's `derived_metrics`) adds the task's own scalars from the sums over
  all episodes; `num_episodes` counts them.
  """
  n = episodes['actions'].shape[0]
  summary = {'num_episodes': int(n)}
  totals = {'episodes': float(n)}
  for name, values in episode_sums(episodes).items():
    cum = np.cumsum(values, axis=1)
    mean, se = cum.mean(0), cum.std(axis=0, ddof=1) / np.sqrt(n)
    summary.update({f'episode_{name}': float(mean[-1]),
                    f'episode_{name}_se': float(se[-1]),
                    f'cumulative_{name}': mean.tolist(),
                    f'cumulative_{name}_se': se.tolist(),
                    f'{name}_per_step': values.mean(0).tolist()})
    totals[name] = float(values.sum())
  if derived is not None:
    summary.update(derived(totals))
  return summary


def format_table(results: Dict[str, Dict[str, Any]],
                 metrics: Sequence[str]) -> str:
  """The evaluation table: a row per policy, the mean +- SE per episode of
  the reward and of every task metric in `metrics`; column widths come from
  the content (long baseline names, large values), the +- of a column
  aligned."""
  header = ['policy', 'return', *metrics]
  keys = ['episode_return', *(f'episode_{m}' for m in metrics)]
  rows = [[(f'{s[k]:.2f}', f'{s[f"{k}_se"]:.2f}') for k in keys]
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
  """The scalars of a `summarise` output (the per-episode means, their
  SEs and the derived metrics), without the curves and `num_episodes`."""
  return {k: float(v) for k, v in summary.items()
          if isinstance(v, float) and k != 'num_episodes'}
