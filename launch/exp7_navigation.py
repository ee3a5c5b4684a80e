r"""Exp 7 (Section 3.2.3, Fig 7): one-shot navigation in the I-maze.

  python launch/exp7_navigation.py --run_dir=runs/nav --ff_run_dir=runs/nav_ff \
      [--seed_runs=runs/nav_s1] [--ff_seed_runs=runs/nav_ff_s1]

Plays --num_episodes frozen test episodes (new goal placements and spawns:
--seed) with the stacked-LSTM agent of RUN_DIR (its SavedModel, or
--checkpoint=N: the training checkpoint of update N), the feed-forward agent
of FF_RUN_DIR and a random policy, and reports for each:

  - reward per episode, goal visits per episode, the fraction of episodes
    whose goal was found;
  - latency (agent decisions) of the first visit and of visits 2+ and their
    ratio (Fig 7c; the target: <= 0.5 with memory, > 0.8 without), with SEs
    over visits, and the same on equal terms for trips cut off by the
    episode's end (`matched_*`: trips that began >= --window decisions
    before the end, latencies capped at --window; see
    `meta_rl.analysis.navigation_summary`);
  - latency by visit number 1..10.

--seed_runs / --ff_seed_runs add other seeds of each agent (SavedModel, or
the latest checkpoint of a run stopped early) for the spread over seeds.

Writes RUN_DIR/eval/exp7.json, exp7.png (a: learning curves from TensorBoard,
b: trajectories before and after the first discovery, c: latency by visit
number, e: the value estimate around the first discovery, averaged over
episodes, and along panel b's episode with its goal visits) and
exp7_episode.png (one episode as a strip of first-person frames with the map
inset).
"""

import sys

from absl import app
from absl import flags

import common

common.start()  # first: Ctrl-C as one line, TensorFlow imported quietly
# pylint: disable=g-import-not-at-top,wrong-import-position
from meta_rl import files
from meta_rl.experiments import navigation as exp7

flags.DEFINE_string('run_dir', None, 'Run dir of the stacked-LSTM agent '
                    '(launch/navigation.py, navigation.cfg).')
flags.DEFINE_string('ff_run_dir', None, 'Run dir of the feed-forward agent '
                    '(navigation_ff.cfg) to compare with (optional).')
flags.DEFINE_list('seed_runs', [], 'Run dirs of other seeds of the '
                  'stacked-LSTM agent.')
flags.DEFINE_list('ff_seed_runs', [], 'Run dirs of other seeds of the '
                  'feed-forward agent.')
flags.DEFINE_integer('checkpoint', None, 'Evaluate the training checkpoint of '
                     'this update of RUN_DIR instead of its SavedModel.')
flags.DEFINE_integer('num_episodes', 500, 'Test episodes per agent.')
flags.DEFINE_integer('seed', 12345, 'Seed of the test episodes.')
flags.DEFINE_integer('window', None, 'Decisions of the censoring-matched '
                     'latencies (default: half an episode).')
flags.DEFINE_boolean('random', True, 'Also play a random policy.')
flags.DEFINE_boolean('overwrite', False, 'Replace existing output files.')
FLAGS = flags.FLAGS
NAMES = ['exp7.json', 'exp7.png', 'exp7_episode.png']


def main(argv):
  common.require_analysis()
  common.no_arguments(argv)
  names = list(NAMES)
  if FLAGS.checkpoint is not None:
    names = [n.replace('exp7', f'exp7_ckpt{FLAGS.checkpoint}') for n in names]
  core, policies, paths = common.load_for_analysis(
      FLAGS.run_dir, 'imaze', ['random'] if FLAGS.random else [], names,
      FLAGS.overwrite, trained_on=['imaze'], checkpoint=FLAGS.checkpoint)
  window = FLAGS.window or core.episode_length // 2
  if not 0 < window <= core.episode_length:
    common.fail(f'--window must be in [1, {core.episode_length}], got {window}')
  named = {'agent': policies['agent']}
  for flag, runs, label in (('ff_run_dir', [FLAGS.ff_run_dir], 'ff'),
                            ('seed_runs', FLAGS.seed_runs, 'agent'),
                            ('ff_seed_runs', FLAGS.ff_seed_runs, 'ff')):
    for run_dir in filter(None, runs):
      policy, name = common.run_policy(run_dir, core, 'imaze', flag)
      key = label if label not in named else f'{label}:{name}'
      named[key] = policy
  if 'random' in policies:
    named['random'] = policies['random']

  report, played = exp7.evaluate_run(
      core, named, run_dir=FLAGS.run_dir, ff_run_dir=FLAGS.ff_run_dir,
      checkpoint=FLAGS.checkpoint, num_episodes=FLAGS.num_episodes,
      seed=FLAGS.seed, window=window,
      log=lambda line: print(line, file=sys.stderr, flush=True))
  curves = exp7.learning_curves([FLAGS.run_dir] + FLAGS.seed_runs,
                                [FLAGS.ff_run_dir] + FLAGS.ff_seed_runs)
  files.write_json(paths[names[0]], report)
  exp7.plot(paths[names[1]], core, report, played, curves)
  episodes, trips = played['agent']
  exp7.plot_episode(paths[names[2]], core, episodes, trips,
                    exp7.example_episode(trips), FLAGS.run_dir)
  print(exp7.table(report))
  print('wrote ' + ', '.join(paths[n] for n in names))


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
