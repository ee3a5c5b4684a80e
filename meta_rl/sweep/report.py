"""A sweep's report: SWEEP_DIR/report.md (table), report.json and
report.png."""

import dataclasses
import importlib.util
import json
import os
from typing import Dict, Mapping, Sequence

import numpy as np

from meta_rl import files
from meta_rl.sweep.space import Param, space_spec
from meta_rl.sweep.trials import Trial, rank, summary

def _fmt(v, digits=4):
  if v is None:
    return ''
  if isinstance(v, float):
    return f'{v:.{digits}g}'
  return str(v)


def report_table(trials: Sequence[Trial], top_k: int, metric: str,
                 mode: str) -> str:
  """A Markdown table: ranked finished trials (top k marked), then the
  others with their status and error."""
  names = sorted({k for t in trials for k in t.params})
  nodes = len({t.node for t in trials if t.node}) > 1
  head = (['rank', 'trial'] + names +
          [f'{metric} first half', f'{metric} second half (± se)',
           'env steps'] + (['node'] if nodes else []) + ['status'])
  rows = []
  ranked = rank(trials, mode)
  for i, t in enumerate(ranked):
    ev = t.evaluation
    second = f'{ev["second"]["score"]:.4g}'
    if ev['second'].get('se') is not None:
      second += f' ± {ev["second"]["se"]:.2g}'
    rows.append([f'{i + 1}' + (' *' if i < top_k else ''), t.trial_id] +
                [_fmt(t.params.get(k)) for k in names] +
                [f'{ev["first"]["score"]:.4g}', second, _fmt(t.env_steps, 3)] +
                ([(t.node or '')[:8]] if nodes else []) + ['finished'])
  for t in trials:
    if t not in ranked:
      status = t.status + (f': {t.error}' if t.error else '')
      rows.append(['', t.trial_id] + [_fmt(t.params.get(k)) for k in names] +
                  ['', '', _fmt(t.env_steps, 3)] +
                  ([(t.node or '')[:8]] if nodes else []) +
                  [status.replace('|', '/')])
  lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
  lines += ['| ' + ' | '.join(r) + ' |' for r in rows]
  return '\n'.join(lines)


def write_report(sweep_dir: str, trials: Sequence[Trial], top_k: int,
                 metric: str, mode: str, title: str,
                 space: Mapping[str, Param]) -> Dict[str, str]:
  """Writes report.json, report.md and report.png into `sweep_dir` (each
  written to a temporary file and renamed into place; the figure only if
  matplotlib, of the `analysis` extra, is installed). Returns their paths."""
  s = summary(trials, top_k, mode)
  paths = {k: os.path.join(sweep_dir, f'report.{k}')
           for k in ('json', 'md', 'png')}
  data = {'metric': metric, 'mode': mode, 'title': title, 'summary': s,
          'space': space_spec(space),
          'trials': [dataclasses.asdict(t) for t in trials]}
  files.write_text(paths['json'], json.dumps(data, indent=1))
  better = 'lower' if mode == 'min' else 'higher'
  mean = s['second_half_mean']
  lines = [f'# {title}', '',
           f'Metric: `{metric}` ({better} is better), frozen agents. Top '
           f'{top_k} chosen on the first half of the test episodes, '
           'reported on the second half.', '',
           f'Trials: {s["counts"]["finished"]} finished, '
           f'{s["counts"]["failed"]} failed, {s["counts"]["stopped"]} '
           f'stopped early, {s["counts"]["unfinished"]} unfinished.', '']
  if mean is not None:
    sd = s['second_half_sd']
    lines += [f'Top {len(s["selected"])} on the second half: '
              f'**{mean:.4g}**' + (f' (sd {sd:.2g} across them)' if sd else '')
              + '; best setting: `' + ' '.join(
                  f'--{k}={_fmt(v)}' for k, v in sorted(
                      s['best_params'].items())) + '`', '']
  lines += [f'Search space: `{space_spec(space)}`', '',
            report_table(trials, top_k, metric, mode), '']
  files.write_text(paths['md'], '\n'.join(lines))
  if importlib.util.find_spec('matplotlib') is None:
    del paths['png']
  else:
    plot_report(paths['png'], trials, top_k, metric, mode, title, space)
  return paths


def plot_report(path: str, trials: Sequence[Trial], top_k: int, metric: str,
                mode: str, title: str, space: Mapping[str, Param]) -> None:
  """(a) The top k on the second half: the metric's cumulative curve over
  the episode (mean, range across the k, each trial) or, for a metric
  without one, each trial's score with its standard error; (b) all finished
  trials ranked by their first-half score, with their second-half scores
  (as Fig 6e); (c...) the first-half score against each sampled numeric
  hyperparameter."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  ranked = rank(trials, mode)
  top = ranked[:top_k]
  from matplotlib import ticker  # pylint: disable=g-import-not-at-top
  numeric = [p for p in space.values()
             if p.kind in ('loguniform', 'uniform', 'randint')
             and p.name != 'seed'][:3]
  # Row 1: (a) and (b); row 2: one panel per sampled hyperparameter.
  rows = 2 if numeric else 1
  fig = plt.figure(figsize=(12, 4.2 * rows))
  grid = fig.add_gridspec(rows, 6)
  axes = [fig.add_subplot(grid[0, :3]), fig.add_subplot(grid[0, 3:])]
  axes += [fig.add_subplot(grid[1, 2 * i:2 * i + 2])
           for i in range(len(numeric))]
  label = metric.replace('episode_', '')
  ax = axes[0]
  curves = [t.evaluation['second'].get('curve') for t in top]
  if top and all(c is not None for c in curves):
    c = np.array(curves)
    x = np.arange(1, c.shape[1] + 1)
    for row in c:
      ax.plot(x, row, color='tab:blue', lw=0.6, alpha=0.5)
    ax.fill_between(x, c.min(0), c.max(0), color='tab:blue', alpha=0.15,
                    label=f'range across top {len(top)}')
    ax.plot(x, c.mean(0), color='tab:blue', lw=2, label=f'mean of top {len(top)}')
    ax.set_xlabel('step of the episode')
    ax.set_ylabel(f'cumulative {label}')
    ax.legend(fontsize=8, loc='upper left')
  elif top:
    scores = [t.score('second') for t in top]
    errs = [t.evaluation['second'].get('se') or 0.0 for t in top]
    ax.errorbar(np.arange(1, len(top) + 1), scores, yerr=errs, fmt='o',
                color='tab:blue')
    ax.axhline(np.mean(scores), color='tab:blue', lw=1, ls='--',
               label=f'mean {np.mean(scores):.3g}')
    ax.set_xlabel('rank (first half)')
    ax.set_ylabel(label)
    ax.legend(fontsize=8)
  ax.set_title(f'(a) top {len(top)}, second half', fontsize=10)

  ax = axes[1]
  if ranked:
    x = np.arange(1, len(ranked) + 1)
    ax.plot(x, [t.score('first') for t in ranked], 'o', mfc='none',
            color='gray', label='first half (selection)')
    colors = ['tab:blue' if i < top_k else 'tab:orange'
              for i in range(len(ranked))]
    ax.scatter(x, [t.score('second') for t in ranked], c=colors, s=18,
               zorder=3, label='second half (top k blue)')
    ax.set_xlabel('trial rank')
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.set_ylabel(label)
    ax.legend(fontsize=8)
  others = len(trials) - len(ranked)
  ax.set_title(f'(b) {len(ranked)} trials ranked' +
               (f' ({others} not finished)' if others else ''), fontsize=10)

  for ax, p in zip(axes[2:], numeric):
    xs = [t.params.get(p.name) for t in ranked]
    ax.scatter(xs, [t.score('first') for t in ranked],
               c=['tab:blue' if i < top_k else 'gray'
                  for i in range(len(ranked))], s=18)
    if p.kind == 'loguniform':
      ax.set_xscale('log')
      ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_xlabel(p.name)
    ax.set_ylabel(f'{label} (first half)')
    ax.set_title(f'({chr(ord("c") + numeric.index(p))}) {p.name}',
                 fontsize=10)
  fig.suptitle(title, fontsize=11)
  fig.tight_layout()
  files.save_figure(fig, path, dpi=110)
  plt.close(fig)
