"""A seed study: every run of a configuration, how and whether it learned
(Harlow, Exp 6; the I-maze, Exp 7).

For each run dir `study_run` reads the training curve of the task's metric
from TensorBoard, the held-out evaluations made while training, the best
checkpoint and the held-out evaluation of the run's export written by its
analysis launcher (RUN_DIR/eval/exp6.json, exp7.json); `study` does so for
every run; `markdown` is the table (one row per run, failures included) and
`plot` Fig 6e as the paper draws it (Harlow).
"""

import glob
import json
import os

from meta_rl import files
from meta_rl.run import progress

# Fig 6e: fractions of 100 seeds at ceiling in the paper.
PAPER_AT_CEILING = {'lstm': 0.26, 'stacked_lstm': 0.43}
CORE_NAMES = {'lstm': 'Conv-LSTM (Fig 1b)', 'stacked_lstm': 'stacked LSTM '
              '(Fig 1c)', 'feedforward': 'feed-forward'}
# Per task: the training target, the analysis output of an export and its
# held-out numbers reported (key: column title).
TASKS = {
    'harlow': dict(metric='p_correct_later', mode='max', target=0.95,
                   heldout_json='exp6.json', keys={
                       'p_correct_later': 'trials 2-10',
                       'p_correct_later_after_win': 'after a win',
                       'p_correct_later_after_loss': 'after a loss',
                       'fixation_rate': 'fixations'}),
    'imaze': dict(metric='latency_ratio', mode='min', target=0.5,
                  heldout_json='exp7.json', keys={
                      'episode_return': 'reward per episode',
                      'latency_first': 'first latency',
                      'latency_later': 'later latency',
                      'latency_ratio': 'later/first',
                      'matched_ratio': 'matched ratio'}),
}



def task_settings(task, metric=None, mode=None, target=None,
                  heldout_json=None):
  """The study's settings of `task` (metric, mode, target, heldout_json):
  those given, else the task's defaults in TASKS."""
  given = dict(metric=metric, mode=mode, target=target,
               heldout_json=heldout_json)
  return {k: TASKS[task][k] if v is None else v for k, v in given.items()}


def find_run_dirs(patterns):
  """The run dirs of `patterns` (globs allowed), each once, in order; a
  glob that matches no directory raises ValueError."""
  dirs = []
  for pattern in patterns:
    found = ([d for d in sorted(glob.glob(pattern)) if os.path.isdir(d)]
             if glob.has_magic(pattern) else [pattern])
    if not found:
      raise ValueError(f'`runs`: {pattern} matches no run dir')
    for d in found:
      if d not in dirs:
        dirs.append(d)
  return dirs


def study_task(run_dirs):
  """The one task of TASKS that all `run_dirs` were trained on; ValueError
  otherwise."""
  tasks = {run_spec(d).task.name for d in run_dirs}
  if len(tasks) != 1 or not tasks <= set(TASKS):
    raise ValueError(f'`runs`: runs of one task of {", ".join(TASKS)} (got '
                     f'{", ".join(sorted(map(str, tasks)))})')
  return tasks.pop()


def study(run_dirs, task, settings, stability, running_best_after, log):
  """The seeds.json report: the settings and `study_run` of each run dir
  (`log(line)` before each)."""
  entries = []
  for d in run_dirs:
    log(f'[seed_study] {d}')
    entries.append(study_run(d, task, settings, stability, running_best_after))
  return {'task': task, 'metric': settings['metric'], 'mode': settings['mode'],
          'target': settings['target'], 'stability': stability,
          'runs': entries}


def study_run(run_dir, task, settings, stability, running_best_after):
  """The seeds-table entry of one run dir of `task` (`settings`: from
  `task_settings`). Raises ValueError for a run dir without a readable
  config or with a damaged analysis output."""
  from meta_rl import analysis  # pylint: disable=g-import-not-at-top
  from meta_rl.run import heldout  # pylint: disable=g-import-not-at-top
  spec = run_spec(run_dir)
  entry = {'run_dir': run_dir, 'name': os.path.basename(os.path.normpath(run_dir)),
           'task': spec.task.name, 'core': spec.agent.core,
           'seed': spec.train.seed, 'total_steps': spec.train.total_steps,
           'resolution': spec.task.kwargs.get('resolution')}
  metric, mode = settings['metric'], settings['mode']
  steps, values, wall = progress.tensorboard_curve(run_dir, metric,
                                                   wall_times=True)
  entry['training'] = analysis.learning_curve_summary(
      steps, values, wall, settings['target'], mode, stability)
  # A collapse: the lowest training reward as a fraction of its best so far.
  running, worst = -float('inf'), None
  for step, value in zip(*progress.tensorboard_curve(run_dir,
                                                     'episode_return')):
    running = max(running, value)
    if step >= running_best_after and running > 0:
      worst = value / running if worst is None else min(worst, value / running)
  if worst is not None:
    entry['training']['reward_vs_running_best'] = worst
  h_steps, h_values = progress.tensorboard_curve(run_dir, metric,
                                                 sub=heldout.TB_RUN)
  if h_steps:
    sign = 1 if mode == 'max' else -1
    i = max(range(len(h_values)), key=lambda j: sign * h_values[j])
    entry['heldout_while_training'] = {
        'evaluations': len(h_steps), 'best': h_values[i],
        'best_step': h_steps[i], 'last': h_values[-1]}
  best = heldout.read_best(run_dir)
  if best:
    entry['best_checkpoint'] = {k: best[k] for k in
                                ('update', 'env_steps', 'score', 'metric')}
  path = os.path.join(run_dir, 'eval', settings['heldout_json'])
  if os.path.exists(path):
    try:
      with open(path) as f:
        report = json.load(f)
      if not isinstance(report, dict):
        raise ValueError('not a JSON object')
    except (OSError, ValueError) as e:
      raise ValueError(f'{path} is not an analysis output ({e}); rerun its '
                       'analysis launcher') from e
    agent_result = report.get('results', {}).get('agent', {})
    entry['export'] = {k: agent_result[k] for k in TASKS[task]['keys']
                       if k in agent_result}
    entry['export'].update(num_episodes=report.get('num_episodes'),
                           seed=report.get('seed'))
    entry['export_metadata'] = _export_metadata(run_dir)
  return entry


def run_spec(run_dir):
  """The `RunSpec` of a run dir (its config.json); ValueError naming it if
  it has none that can be read."""
  from meta_rl import spec  # pylint: disable=g-import-not-at-top
  try:
    return spec.RunSpec.load(run_dir)
  except ValueError as e:
    raise ValueError(f'`runs` {run_dir}: {str(e).splitlines()[0]}') from e


def _export_metadata(run_dir):
  from meta_rl import export  # pylint: disable=g-import-not-at-top
  try:
    path = export.latest_version_dir(os.path.join(run_dir, 'saved_model'))
    meta = export.read_metadata(path)
  except (OSError, ValueError):
    return {}
  return {'path': path, 'num_updates': meta.get('num_updates'),
          'env_steps': meta.get('env_steps'),
          'selected': meta.get('selected', 'last'),
          'trained_updates': meta.get('trained_updates')}


def _fmt(x, spec='.3f'):
  return '' if x is None else format(x, spec)


def _millions(x):
  return '' if x is None else f'{x / 1e6:.2f}M'


def _minutes(x):
  return '' if x is None else f'{x / 60:.0f} min'


def markdown(entries, task):
  """One row per run: the training curve's target and stability, the best
  held-out evaluation while training, the export and its held-out numbers."""
  keys = TASKS[task]['keys']
  head = ('| run | core | seed | trained | first at target (training) | wall '
          'time to it | worst after it | dips | lowest reward / running best '
          'after 5M | best held out while training | exported (selected) | '
          + ' | '.join(keys.values()) + ' |')
  lines = [head, '|' + '---|' * (head.count('|') - 1)]
  for e in entries:
    t = e['training']
    h = e.get('heldout_while_training', {})
    x = e.get('export', {})
    m = e.get('export_metadata', {})
    exported = ''
    if m:
      exported = f'{_millions(m.get("env_steps"))} ({m.get("selected")})'
    lines.append(
        f'| {e["name"]} | {e["core"]} | {e["seed"]} | '
        f'{_millions(t.get("final_step"))} | '
        f'{_millions(t.get("first_step")) or "not reached"} | '
        f'{_minutes(t.get("first_secs"))} | {_fmt(t.get("after_worst"))} | '
        f'{"" if "dips" not in t else int(t["dips"])} | '
        f'{_fmt(t.get("reward_vs_running_best"), ".2f")} | '
        f'{_fmt(h.get("best"))} | {exported} | '
        + ' | '.join(_fmt(x.get(k)) for k in keys) + ' |')
  return '\n'.join(lines) + '\n'


def plot(path, entries, settings):
  """Fig 6e: per core, the seeds' held-out performance in decreasing order
  against the fraction of seeds, with the paper's at-ceiling fractions
  (`settings`: Harlow's, from `task_settings`)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  colours = {'lstm': 'tab:blue', 'stacked_lstm': 'tab:orange',
             'feedforward': 'tab:gray'}
  fig, ax = plt.subplots(figsize=(6.4, 4.4))
  by_core = {}
  for e in entries:
    value = e.get('export', {}).get('p_correct_later')
    if value is not None:
      by_core.setdefault(e['core'], []).append(value)
  for core, vals in sorted(by_core.items()):
    vals = sorted(vals, reverse=True)
    n = len(vals)
    x = (np.arange(n) + 0.5) / n * 100
    at = sum(v >= settings['target'] for v in vals)
    c = colours.get(core, 'k')
    ax.plot(x, vals, marker='o', color=c, lw=1.5,
            label=f'{CORE_NAMES.get(core, core)}: {at} of {n} seeds '
            f'>= {settings["target"]:g}')
    if core in PAPER_AT_CEILING:
      ax.axvline(PAPER_AT_CEILING[core] * 100, color=c, ls='--', lw=1,
                 label=f'paper: {PAPER_AT_CEILING[core]:.0%} of 100 seeds '
                 'at ceiling')
  ax.axhline(settings['target'], color='k', ls=':', lw=1)
  ax.axhline(0.5, color='gray', ls=':', lw=1)
  ax.text(1, 0.51, 'chance', color='gray', fontsize=8)
  ax.set(xlim=(0, 100), ylim=(0.3, 1.02),
         xlabel='seeds, in decreasing order of performance (%)',
         ylabel='P(correct), trials 2-10\n(held-out images, exported agent)',
         title='Harlow: final performance per seed (Fig 6e)')
  ax.grid(alpha=0.3)
  if by_core:
    ax.legend(frameon=False, fontsize=8, loc='lower left')
  else:
    ax.text(50, 0.7, f'no run has a held-out evaluation of its export\n'
            f'(RUN_DIR/eval/{settings["heldout_json"]})',
            ha='center')
  fig.tight_layout()
  files.save_figure(fig, path, dpi=120)
  plt.close(fig)
