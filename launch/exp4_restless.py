"""Exp 4 (Section 3.1.4, Fig 4): restless bandit, regret and learning rates.

  python launch/exp4_restless.py --run_dir=runs/restless

Tests the run's latest SavedModel frozen on --num_episodes test episodes
(volatility nu ~ U[0, 6/30], wider than training) next to UCB (chi = 1),
Thompson sampling with a random-walk posterior of fixed volatility and
Rescorla-Wagner learners (alpha 0.2 and 0.8). Fits a Rescorla-Wagner model
(learning rate, inverse temperature) to the agent's choices in each test
episode by maximum likelihood and regresses the learning rate on nu (all
episodes, and the out-of-sample band [2/30, 4/30] alone), with t-tests
between the nu bands; counts the learning rates at the bound 1 and refits
with the bound 2 to see whether it changes R^2. The test task keeps the
run's reading of nu (`--volatility_scale` of launch/bandits.py: variance or
standard deviation of the walk's step). Writes RUN_DIR/eval/exp4.json and
exp4.png (4a: p1 and the agent's choices in six concatenated episodes; 4b:
cumulative regret over the 150 steps of each policy; 4c: learning rate vs
nu).
"""

import sys

from absl import app
from absl import flags

import common

common.start()  # first: Ctrl-C as one line, TensorFlow imported quietly
# pylint: disable=g-import-not-at-top,wrong-import-position
from meta_rl import files
from meta_rl import task_specs
from meta_rl.experiments import restless
from environments import restless_bandit

flags.DEFINE_string('run_dir', None, 'Run dir of an agent trained with '
                    '--task=restless.')
flags.DEFINE_integer('num_episodes', 1000, 'Test episodes.')
flags.DEFINE_integer('seed', 12345, 'Seed of the test episodes.')
flags.DEFINE_list('baselines', list(task_specs.SPECS[restless_bandit.RestlessBandit].baselines),
                  'Baselines on the same episodes.')
common.define_baseline_flags()
flags.DEFINE_boolean('overwrite', False, 'Replace existing output files.')
FLAGS = flags.FLAGS


def main(argv):
  common.require_analysis()
  common.no_arguments(argv)
  core, policies, paths = common.load_for_analysis(
      FLAGS.run_dir, 'restless_test', FLAGS.baselines,
      ['exp4.json', 'exp4.png'], FLAGS.overwrite, trained_on=['restless'])
  episodes, summaries = restless.evaluate(
      core, policies, FLAGS.num_episodes, FLAGS.seed,
      report=lambda line: print(line, flush=True))
  result, fit = restless.fit_learning_rates(
      FLAGS.run_dir, core, episodes, summaries, FLAGS.num_episodes,
      FLAGS.seed, log=lambda line: print(line, file=sys.stderr))
  files.write_json(paths['exp4.json'], result)
  restless.plot(paths['exp4.png'], result, episodes, summaries, fit)
  print(restless.table(result, len(fit['alpha'])))
  print(f'wrote {paths["exp4.json"]} and {paths["exp4.png"]}')


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
