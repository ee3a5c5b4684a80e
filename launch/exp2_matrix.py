r"""Exp 2 (Section 3.1.2, Fig 2f): train/test regret matrix over the five
two-armed distributions, with each test distribution's Bayes-optimal regret.

  python launch/exp2_matrix.py --output_dir=runs/exp2 \
      --runs=independent=runs/independent,uniform=runs/uniform,easy=runs/easy,medium=runs/medium,hard=runs/hard \
      [--ablation_runs=independent=runs/noreward_independent,...]

Each run dir's latest SavedModel is tested frozen on every distribution
(--num_episodes each, the same test episodes for every agent). Writes
OUTPUT_DIR/exp2_matrix.json, exp2_matrix.md (table) and exp2_matrix.png
(heat map).
"""

import os

from absl import app
from absl import flags

import common

common.start()  # first: Ctrl-C as one line, TensorFlow imported quietly
# pylint: disable=g-import-not-at-top,wrong-import-position
from meta_rl import files
from meta_rl.experiments import matrix

flags.DEFINE_list('runs', None, 'train_task=RUN_DIR pairs (trained agents).')
flags.DEFINE_list('ablation_runs', [], 'train_task=RUN_DIR pairs of agents '
                  'trained without the reward input.')
flags.DEFINE_integer('num_episodes', 1000, 'Test episodes per cell.')
flags.DEFINE_integer('seed', 12345, 'Seed of the test episodes.')
flags.DEFINE_list('reference_baselines', ['bayes_optimal', 'thompson'],
                  'Baselines run on every test distribution.')
flags.DEFINE_string('output_dir', None, 'Where to write the results.')
flags.DEFINE_boolean('overwrite', False, 'Replace existing output files.')
FLAGS = flags.FLAGS


def main(argv):
  common.require_analysis()
  common.no_arguments(argv)
  if not FLAGS.runs or not FLAGS.output_dir:
    common.fail('--runs and --output_dir are required')
  try:
    runs = matrix.parse_runs(FLAGS.runs, 'runs')
    ablations = matrix.parse_runs(FLAGS.ablation_runs, 'ablation_runs')
  except ValueError as e:
    common.fail(str(e))
  paths = {e: os.path.join(FLAGS.output_dir, f'exp2_matrix.{e}')
           for e in ('json', 'md', 'png')}
  for p in paths.values():
    if os.path.exists(p) and not FLAGS.overwrite:
      common.fail(f'{p} exists; pass --overwrite or choose --output_dir')
  try:
    result = matrix.regret_matrix(
        runs, ablations, FLAGS.reference_baselines, FLAGS.num_episodes,
        FLAGS.seed, report=lambda line: print(line, flush=True))
  except ValueError as e:  # an unknown baseline
    common.fail(str(e))
  os.makedirs(FLAGS.output_dir, exist_ok=True)
  files.write_json(paths['json'], result)
  table = matrix.markdown(result)
  files.write_text(paths['md'], table)
  print(table)
  matrix.plot_matrix(paths['png'], result)
  print(f'wrote {paths["json"]}, {paths["md"]} and {paths["png"]}')


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
