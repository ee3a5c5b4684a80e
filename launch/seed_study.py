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

import os
import sys

from absl import app
from absl import flags

import common

common.start()  # first: Ctrl-C as one line, TensorFlow imported quietly
# pylint: disable=g-import-not-at-top,wrong-import-position
from meta_rl import files
from meta_rl.experiments import seeds

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


def main(argv):
  common.require_analysis()
  common.no_arguments(argv)
  if not FLAGS.runs:
    common.fail('--runs is required')
  if not FLAGS.output_dir:
    common.fail('--output_dir is required')
  try:
    run_dirs = seeds.find_run_dirs(FLAGS.runs)
    missing = [d for d in run_dirs if not os.path.isdir(d)]
    if missing or not run_dirs:
      common.fail(f'--runs: no run dir {missing[0] if missing else FLAGS.runs}')
    common.check_output_dir(FLAGS.output_dir, 'output_dir')
    task = seeds.study_task(run_dirs)
    names = ['seeds.json', 'seeds.md'] + (['exp6_seeds.png']
                                          if task == 'harlow' else [])
    paths = [os.path.join(FLAGS.output_dir, n) for n in names]
    existing = [p for p in paths if os.path.exists(p)]
    if existing and not FLAGS.overwrite:
      common.fail(f'{existing[0]} exists (--overwrite replaces it)')
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    settings = seeds.task_settings(
        task, FLAGS.metric, FLAGS.mode, FLAGS.target, FLAGS.heldout_json)
    report = seeds.study(
        run_dirs, task, settings, FLAGS.stability, FLAGS.running_best_after,
        log=lambda line: print(line, file=sys.stderr, flush=True))
  except ValueError as e:
    common.fail(str(e))
  files.write_json(paths[0], report)
  table = seeds.markdown(report['runs'], task)
  files.write_text(paths[1], table)
  if task == 'harlow':
    seeds.plot(paths[2], report['runs'], settings)
  print(table)
  print('wrote ' + ', '.join(paths))


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
