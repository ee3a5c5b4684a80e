"""Hyperparameter sweeps as the paper ran them: search spaces, frozen
evaluation of each trained agent, top-k selection on split halves, report.

The paper sampled learning rate, discount and entropy cost at random
(following Mnih et al. 2016), trained 100 settings, chose the top 5 on the
first half of 300 frozen test episodes and reported them on the second half
(Figs 2-7). Ray Tune runs the trials (launch/sweep.py); this module is the
part that needs no Ray:

  parse_space('learning_rate=loguniform:1e-4:1e-2,gamma=uniform:0.7:0.99')
      -> {name: Param}: a search space over a launcher's flags;
  evaluate_trial(saved_model, num_episodes, seed)
      -> the agent's score on each half of the test episodes, by the task's
         own sweep metric (`meta_rl.task_specs`, e.g. expected regret for bandits);
  rank(trials, top_k) and write_report(...)
      -> report.json, report.md (table) and report.png in the sweep dir.

A search-space spec is `name=kind:args` items, separated by commas or
newlines (a file may hold one per line, `#` starts a comment):

  loguniform:LOW:HIGH   log-uniform float in [LOW, HIGH)
  uniform:LOW:HIGH      uniform float in [LOW, HIGH)
  randint:LOW:HIGH      integer in [LOW, HIGH)
  choice:A|B|C          one of the values, uniformly
  grid:A|B|C            every value (each sample of the others runs with
                        each of them, as `tune.grid_search`)
"""

import dataclasses
import importlib.util
import json
import math
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from meta_rl import files
from meta_rl import task_specs

KINDS = ('loguniform', 'uniform', 'randint', 'choice', 'grid')

class SpaceError(ValueError):
  """A search-space spec that cannot be parsed."""


@dataclasses.dataclass(frozen=True)
class Param:
  """One dimension of a search space.

  Attributes:
    name: the launcher flag it sets (e.g. 'learning_rate').
    kind: one of `KINDS`.
    args: (low, high) for loguniform, uniform and randint; the values (as
      written) for choice and grid.
  """
  name: str
  kind: str
  args: Tuple[Any, ...]

  def spec(self) -> str:
    sep = '|' if self.kind in ('choice', 'grid') else ':'
    return f'{self.name}={self.kind}:{sep.join(str(a) for a in self.args)}'

  def to_tune(self):
    """The Ray Tune domain (imports ray.tune)."""
    from ray import tune  # pylint: disable=g-import-not-at-top
    if self.kind == 'loguniform':
      return tune.loguniform(*self.args)
    if self.kind == 'uniform':
      return tune.uniform(*self.args)
    if self.kind == 'randint':
      return tune.randint(*self.args)
    if self.kind == 'choice':
      return tune.choice(list(self.args))
    return tune.grid_search(list(self.args))

  def examples(self) -> List[Any]:
    """Values this dimension can take at its ends (for checking them
    against the launcher's flags before any trial starts)."""
    if self.kind in ('choice', 'grid'):
      return list(self.args)
    if self.kind == 'randint':
      return [self.args[0], self.args[1] - 1]
    return list(self.args)


def _number(text: str, item: str):
  try:
    value = float(text)
  except ValueError:
    raise SpaceError(f'{item}: {text!r} is not a number') from None
  if not math.isfinite(value):
    raise SpaceError(f'{item}: bounds must be finite, got {text}')
  return value


def _param(item: str) -> Param:
  name, eq, rest = item.partition('=')
  name = name.strip()
  kind, colon, args = rest.strip().partition(':')
  if not eq or not name or not colon:
    raise SpaceError(f'bad search-space item {item!r}: expected '
                     'name=kind:args, e.g. learning_rate=loguniform:1e-4:1e-2')
  if kind not in KINDS:
    raise SpaceError(f'{item}: unknown kind {kind!r}; choose one of '
                     f'{", ".join(KINDS)}')
  if kind in ('choice', 'grid'):
    values = [v.strip() for v in args.split('|')]
    if not all(values):
      raise SpaceError(f'{item}: empty value in {args!r}')
    return Param(name, kind, tuple(_typed(v) for v in values))
  bounds = args.split(':')
  if len(bounds) != 2:
    raise SpaceError(f'{item}: {kind} takes LOW:HIGH, got {args!r}')
  low, high = (_number(b, item) for b in bounds)
  if kind == 'randint':
    if low != int(low) or high != int(high):
      raise SpaceError(f'{item}: randint bounds must be integers')
    low, high = int(low), int(high)
  if not low < high:
    raise SpaceError(f'{item}: LOW must be below HIGH')
  if kind == 'loguniform' and low <= 0:
    raise SpaceError(f'{item}: loguniform needs LOW > 0')
  return Param(name, kind, (low, high))


def _typed(text: str):
  """A choice value as int, float or the string itself (e.g. 'adam')."""
  for cast in (int, float):
    try:
      return cast(text)
    except ValueError:
      pass
  return text


def parse_space(text: str) -> Dict[str, Param]:
  """Parses a search-space spec (see the module docstring); a later item for
  the same name replaces an earlier one. Raises SpaceError."""
  params = {}
  for line in text.splitlines():
    line = line.split('#', 1)[0]
    for item in line.split(','):
      if item.strip():
        p = _param(item.strip())
        params[p.name] = p
  return params


def space_spec(space: Mapping[str, Param]) -> str:
  return ','.join(p.spec() for p in space.values())


# --------------------------------------------------------------------------
# Frozen evaluation of a trial's agent.

EVAL_FILE = os.path.join('eval', 'sweep.json')


def save_evaluation(run_dir: str, evaluation: Mapping[str, Any]) -> None:
  path = os.path.join(run_dir, EVAL_FILE)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  files.write_text(path, json.dumps(evaluation, indent=1))


def load_evaluation(run_dir: str) -> Optional[Dict[str, Any]]:
  """A trial's saved evaluation, or None (none yet, or unreadable)."""
  try:
    with open(os.path.join(run_dir, EVAL_FILE)) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def _episode_totals(episodes: Dict[str, np.ndarray], rows) -> Dict[str, float]:
  rewards = episodes['rewards'][rows]
  totals = {'episodes': float(rewards.shape[0]), 'return': float(rewards.sum())}
  for k, v in episodes.items():
    if k.startswith('metric_'):
      totals[k[len('metric_'):]] = float(v[rows].sum())
  return totals


def _score(totals: Mapping[str, float], metric: str, derived) -> Optional[float]:
  from meta_rl import metrics as metrics_lib  # pylint: disable=g-import-not-at-top
  scalars = metrics_lib.summarise(
      {metrics_lib.SUM_PREFIX + k: v for k, v in totals.items()}, 1, derived)
  value = scalars.get(metric)
  return None if value is None else float(value)


def evaluate_trial(saved_model: str, num_episodes: int, seed: int
                   ) -> Dict[str, Any]:
  """Plays `num_episodes` test episodes with the SavedModel's agent frozen
  (actions sampled, as `launch/evaluate.py`), on its training task's test
  variant, and scores each half of them by the task's sweep metric (`meta_rl.task_specs`).

  Returns a JSON-serialisable dict: `metric`, `mode`, `num_episodes`,
  `seed`, `saved_model`, and for 'first' and 'second' half: `score` (the
  metric over the half's episodes, as training logs it), `se` (standard
  error of the per-episode scores) and, for a metric that is an episode sum
  (`episode_<m>`), `curve`: its cumulative mean per step.
  """
  from meta_rl import evaluation  # pylint: disable=g-import-not-at-top
  policy = evaluation.SavedModelPolicy(saved_model)
  core, _ = evaluation.test_core(policy.metadata['task'], policy.metadata)
  policy.check_fits_core(core)
  episodes = evaluation.play_episodes(core, policy, num_episodes, seed=seed)
  metric, mode = task_specs.sweep_metric(core)
  n = episodes['rewards'].shape[0]
  out = {'metric': metric, 'mode': mode, 'num_episodes': int(n), 'seed': seed,
         'saved_model': policy.path}
  column = None
  if metric.startswith('episode_'):
    name = metric[len('episode_'):]
    column = episodes['rewards'] if name == 'return' else episodes.get(
        f'metric_{name}')
  for half, rows in (('first', slice(0, n // 2)), ('second', slice(n // 2, n))):
    score = _score(_episode_totals(episodes, rows), metric, core.derived_metrics)
    per_episode = [_score(_episode_totals(episodes, slice(i, i + 1)), metric,
                          core.derived_metrics)
                   for i in range(*rows.indices(n))]
    per_episode = [v for v in per_episode if v is not None]
    se = (float(np.std(per_episode, ddof=1) / np.sqrt(len(per_episode)))
          if len(per_episode) > 1 else None)
    out[half] = {'score': score, 'se': se}
    if column is not None:
      out[half]['curve'] = np.cumsum(column[rows], axis=1).mean(0).tolist()
  return out


# --------------------------------------------------------------------------
# Selection and report.

@dataclasses.dataclass
class Trial:
  """One trial of a sweep, as the report sees it.

  Attributes:
    trial_id: Ray Tune's id.
    run_dir: its run dir (the Tune trial directory).
    params: the sampled flag values.
    status: 'finished' (trained, exported and evaluated), 'failed' (an
      error, in `error`), 'stopped' (ended early by the scheduler) or
      'unfinished' (interrupted or not started).
    evaluation: `evaluate_trial`'s output for a finished trial.
    error: first line of the error of a failed trial.
    env_steps, seconds: training done (from the last progress report).
    node: id of the Ray node that ran it.
  """
  trial_id: str
  run_dir: str
  params: Dict[str, Any]
  status: str
  evaluation: Optional[Dict[str, Any]] = None
  error: Optional[str] = None
  env_steps: Optional[float] = None
  seconds: Optional[float] = None
  node: Optional[str] = None

  def score(self, half: str) -> Optional[float]:
    if self.evaluation is None:
      return None
    return self.evaluation[half]['score']


def rank(trials: Sequence[Trial], mode: str) -> List[Trial]:
  """Finished trials with a score, best first by their first-half score
  ('min': lowest first)."""
  scored = [t for t in trials if t.status == 'finished'
            and t.score('first') is not None]
  return sorted(scored, key=lambda t: t.score('first'),
                reverse=(mode == 'max'))


def summary(trials: Sequence[Trial], top_k: int, mode: str) -> Dict[str, Any]:
  """The paper's selection: the top k on the first half, reported on the
  second half (mean and standard deviation across the k)."""
  ranked = rank(trials, mode)
  top = ranked[:top_k]
  second = [t.score('second') for t in top]
  counts = {s: sum(t.status == s for t in trials)
            for s in ('finished', 'failed', 'stopped', 'unfinished')}
  return {
      'top_k': top_k,
      'selected': [t.trial_id for t in top],
      'second_half_mean': float(np.mean(second)) if second else None,
      'second_half_sd': float(np.std(second, ddof=1)) if len(second) > 1 else None,
      'best_params': top[0].params if top else None,
      'counts': counts,
  }


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
