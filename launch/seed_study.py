"""A seed study: every run of a configuration, how and whether it learned
(Harlow, Exp 6; the I-maze, Exp 7).

  python launch/exp6_harlow.py --run_dir=runs/harlow_s0 --checkpoint_episodes=0 \
      --baselines=                                  # each run: its export, held out
  python launch/seed_study.py --runs='runs/harlow_s*,runs/harlow_stacked_s*' \
      --output_dir=docs                              # table + Fig 6e
  python launch/exp7_navigation.py --run_dir=runs/nav_s0 ...   # each I-maze run
  python launch/seed_study.py --runs='runs/nav_s*' --output_dir=runs/nav_study

For each run dir (globs allowed; all of one task) it reads the training curve
of --metric from TensorBoard (the progress windows, RUN_DIR/tb), the held-out
evaluations made while training (RUN_DIR/tb/heldout, `--eval_every`), the best
checkpoint (`checkpoints/best/best.json`) and the held-out evaluation of the
run's export written by launch/exp6_harlow.py (RUN_DIR/eval/exp6.json: 1000
test episodes of held-out images) or launch/exp7_navigation.py (exp7.json); a
run without it is listed with its held-out columns empty. It reports:
decisions and wall time to the first training window at the target (Harlow:
P(correct) on trials 2-10 >= 0.95; the I-maze: later/first latency <= 0.5),
the worst window after it and how many passed the stability bound, the
lowest training episode reward after --running_best_after decisions as a
fraction of its running best (a collapse), the best held-out evaluation while
training, and the export's held-out numbers.

Writes OUTPUT_DIR/seeds.json, seeds.md (a Markdown table, one row per run,
failures included) and, for Harlow, exp6_seeds.png (Fig 6e as the paper draws it: for each
core, each seed's held-out performance at the end in decreasing order, with
the paper's at-ceiling fractions marked: 26% of single-LSTM and 43% of
stacked-LSTM seeds).
"""

import glob
import json
import os
import sys

from absl import app
from absl import flags

import common

common.start()  # first: Ctrl-C as one line, TensorFlow imported quietly
# pylint: disable=g-import-not-at-top,wrong-import-position
from meta_rl import files

flags.DEFINE_list('runs', [], 'Run dirs (globs allowed) of one task.')
flags.DEFINE_string('output_dir', None, 'Where to write seeds.json, seeds.md '
                    'and exp6_seeds.png.')
flags.DEFINE_string('metric', None, 'Training scalar of the target '
                    '(TensorBoard tag); default by task: Harlow '
                    'p_correct_later, the I-maze latency_ratio.')
flags.DEFINE_enum('mode', None, ['max', 'min'], 'Whether higher (max) or '
                  'lower (min) values of --metric are better (default by '
                  'task).')
flags.DEFINE_float('target', None, 'The target of --metric (default by task: '
                   '0.95 for Harlow, 0.5 for the I-maze).')
flags.DEFINE_float('stability', 0.85, 'After the first target, a window '
                   'below this fraction of it (above target / this for '
                   '--mode=min) counts as a dip.')
flags.DEFINE_float('running_best_after', 5e6, 'Also report the lowest '
                   'training episode reward, as a fraction of its running '
                   'best, from this many decisions on (a collapse).')
flags.DEFINE_string('heldout_json', None, 'The analysis output of each run '
                    '(RUN_DIR/eval/...) with its export\'s held-out numbers '
                    '(default by task: exp6.json, exp7.json).')
flags.DEFINE_boolean('overwrite', False, 'Replace existing output files.')
FLAGS = flags.FLAGS

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


def _setting(name, task):
  value = FLAGS[name].value
  return TASKS[task][name] if value is None else value


def _run_dirs(patterns):
  dirs = []
  for pattern in patterns:
    found = ([d for d in sorted(glob.glob(pattern)) if os.path.isdir(d)]
             if glob.has_magic(pattern) else [pattern])
    if not found:
      common.fail(f'--runs: {pattern} matches no run dir')
    for d in found:
      if d not in dirs:
        dirs.append(d)
  return dirs


def study_run(run_dir, task):
  """The seeds-table entry of one run dir of `task`."""
  from meta_rl import analysis  # pylint: disable=g-import-not-at-top
  from meta_rl.run import heldout  # pylint: disable=g-import-not-at-top
  spec = _spec(run_dir)
  entry = {'run_dir': run_dir, 'name': os.path.basename(os.path.normpath(run_dir)),
           'task': spec.task.name, 'core': spec.agent.core,
           'seed': spec.train.seed, 'total_steps': spec.train.total_steps,
           'resolution': spec.task.kwargs.get('resolution')}
  metric, mode = _setting('metric', task), _setting('mode', task)
  steps, values, wall = common.tensorboard_curve(run_dir, metric,
                                                 wall_times=True)
  entry['training'] = analysis.learning_curve_summary(
      steps, values, wall, _setting('target', task), mode, FLAGS.stability)
  # A collapse: the lowest training reward as a fraction of its best so far.
  running, worst = -float('inf'), None
  for step, value in zip(*common.tensorboard_curve(run_dir, 'episode_return')):
    running = max(running, value)
    if step >= FLAGS.running_best_after and running > 0:
      worst = value / running if worst is None else min(worst, value / running)
  if worst is not None:
    entry['training']['reward_vs_running_best'] = worst
  h_steps, h_values = common.tensorboard_curve(run_dir, metric,
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
  path = os.path.join(run_dir, 'eval', _setting('heldout_json', task))
  if os.path.exists(path):
    try:
      with open(path) as f:
        report = json.load(f)
      if not isinstance(report, dict):
        raise ValueError('not a JSON object')
    except (OSError, ValueError) as e:
      common.fail(f'{path} is not an analysis output ({e}); rerun its '
                  'analysis launcher')
    agent_result = report.get('results', {}).get('agent', {})
    entry['export'] = {k: agent_result[k] for k in TASKS[task]['keys']
                       if k in agent_result}
    entry['export'].update(num_episodes=report.get('num_episodes'),
                           seed=report.get('seed'))
    entry['export_metadata'] = _export_metadata(run_dir)
  return entry


def _spec(run_dir):
  from meta_rl import spec  # pylint: disable=g-import-not-at-top
  try:
    return spec.RunSpec.load(run_dir)
  except ValueError as e:
    common.fail(f'--runs {run_dir}: {str(e).splitlines()[0]}')


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


def plot(path, entries):
  """Fig 6e: per core, the seeds' held-out performance in decreasing order
  against the fraction of seeds, with the paper's at-ceiling fractions."""
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
    at = sum(v >= _setting('target', 'harlow') for v in vals)
    c = colours.get(core, 'k')
    ax.plot(x, vals, marker='o', color=c, lw=1.5,
            label=f'{CORE_NAMES.get(core, core)}: {at} of {n} seeds '
            f'>= {_setting("target", "harlow"):g}')
    if core in PAPER_AT_CEILING:
      ax.axvline(PAPER_AT_CEILING[core] * 100, color=c, ls='--', lw=1,
                 label=f'paper: {PAPER_AT_CEILING[core]:.0%} of 100 seeds '
                 'at ceiling')
  ax.axhline(_setting('target', 'harlow'), color='k', ls=':', lw=1)
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
            f'(RUN_DIR/eval/{_setting("heldout_json", "harlow")})',
            ha='center')
  fig.tight_layout()
  files.save_figure(fig, path, dpi=120)
  plt.close(fig)


def main(argv):
  common.require_analysis()
  common.no_arguments(argv)
  if not FLAGS.runs:
    common.fail('--runs is required')
  if not FLAGS.output_dir:
    common.fail('--output_dir is required')
  run_dirs = _run_dirs(FLAGS.runs)
  missing = [d for d in run_dirs if not os.path.isdir(d)]
  if missing or not run_dirs:
    common.fail(f'--runs: no run dir {missing[0] if missing else FLAGS.runs}')
  common.check_output_dir(FLAGS.output_dir, 'output_dir')
  tasks = {_spec(d).task.name for d in run_dirs}
  if len(tasks) != 1 or not tasks <= set(TASKS):
    common.fail(f'--runs: runs of one task of {", ".join(TASKS)} (got '
                f'{", ".join(sorted(map(str, tasks)))})')
  task = tasks.pop()
  names = ['seeds.json', 'seeds.md'] + (['exp6_seeds.png'] if task == 'harlow'
                                        else [])
  paths = [os.path.join(FLAGS.output_dir, n) for n in names]
  existing = [p for p in paths if os.path.exists(p)]
  if existing and not FLAGS.overwrite:
    common.fail(f'{existing[0]} exists (--overwrite replaces it)')
  os.makedirs(FLAGS.output_dir, exist_ok=True)
  entries = []
  for d in run_dirs:
    print(f'[seed_study] {d}', file=sys.stderr, flush=True)
    entries.append(study_run(d, task))
  files.write_json(paths[0], {
      'task': task, 'metric': _setting('metric', task),
      'mode': _setting('mode', task), 'target': _setting('target', task),
      'stability': FLAGS.stability, 'runs': entries})
  table = markdown(entries, task)
  files.write_text(paths[1], table)
  if task == 'harlow':
    plot(paths[2], entries)
  print(table)
  print('wrote ' + ', '.join(paths))


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
