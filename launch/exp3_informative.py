"""Exp 3 (Section 3.1.3, Fig 3): does the agent pay to look at the informative arm?

  python launch/exp3_informative.py --run_dir=runs/informative

Tests the run's latest SavedModel frozen on --num_episodes episodes of the
11-armed informative bandit next to Thompson sampling with the true prior,
UCB1 and a random policy. Reports how often the first pull is the informative
arm, the reward per episode against the optimum 20.55 (informative arm, then
the target four times) and writes RUN_DIR/eval/exp3.json and exp3.png (what
each policy pulls on each trial).
"""


from absl import app
from absl import flags

import common

common.start()  # first: Ctrl-C as one line, TensorFlow imported quietly
# pylint: disable=g-import-not-at-top,wrong-import-position
from meta_rl import files
from meta_rl import task_specs
from meta_rl.experiments import informative
from environments import informative_bandit

flags.DEFINE_string('run_dir', None, 'Run dir of an agent trained with '
                    '--task=informative.')
flags.DEFINE_integer('num_episodes', 1000, 'Test episodes.')
flags.DEFINE_integer('seed', 12345, 'Seed of the test episodes.')
flags.DEFINE_list('baselines',
                  list(task_specs.SPECS[informative_bandit.InformativeBandit].baselines),
                  'Baselines on the same test episodes.')
flags.DEFINE_boolean('overwrite', False, 'Replace existing output files.')
FLAGS = flags.FLAGS


def main(argv):
  common.require_analysis()
  common.no_arguments(argv)
  core, policies, paths = common.load_for_analysis(
      FLAGS.run_dir, 'informative', FLAGS.baselines, ['exp3.json', 'exp3.png'],
      FLAGS.overwrite, trained_on=['informative'])
  report, choices = informative.evaluate(core, policies, FLAGS.num_episodes,
                                         FLAGS.seed)
  files.write_json(paths['exp3.json'], {
      'run_dir': FLAGS.run_dir, 'num_episodes': FLAGS.num_episodes,
      'seed': FLAGS.seed, 'optimum': informative.OPTIMUM, 'results': report})
  informative.plot(paths['exp3.png'], report, choices)
  print(informative.table(report))
  print(f'wrote {paths["exp3.json"]} and {paths["exp3.png"]}')


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
