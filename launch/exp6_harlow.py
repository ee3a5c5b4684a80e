"""Exp 6 (Section 3.2.2, Fig 6): one-shot learning in Harlow's task.

  python launch/exp6_harlow.py --run_dir=runs/harlow [--seed_runs=runs/h1,runs/h2]
  python launch/exp6_harlow.py --run_dir=runs/harlow --image_dir=DIR  # own photos

Plays --num_episodes frozen test episodes on held-out images (the procedural
test set, or IMAGE_DIR/test/) with the run's agent (its SavedModel, or
--checkpoint=N: the training checkpoint of update N, also of a run stopped
before it exported) and, on the same
episodes, the scripted ideal player and a random policy. Reports, for each:
P(choose the rewarded image) by trial number 1-10 (Fig 6f), the same after a
rewarded and after an unrewarded trial 1, trials 2-10 overall, fixation
completion, decisions and primitive frames per trial. Fig 6f's curves over
training come from the run's kept checkpoints (--keep_every while training),
--checkpoint_episodes each; Fig 6d's from its TensorBoard events; Fig 6e
ranks the final performance of the runs given by --seed_runs (other seeds),
--seed_episodes each.

Writes RUN_DIR/eval/exp6<tag>.json, exp6<tag>.png (Fig 6d-f) and
exp6<tag>_episode.png (the frames of one test episode, with actions and
rewards); <tag> is empty, or _<folder name> with --image_dir.
"""

import os
import sys

from absl import app
from absl import flags

import common

common.start()  # first: Ctrl-C as one line, TensorFlow imported quietly
# pylint: disable=g-import-not-at-top,wrong-import-position
from meta_rl import files
from meta_rl import task_specs
from meta_rl.experiments import harlow as exp6
from environments import harlow

flags.DEFINE_string('run_dir', None, 'Run dir of an agent trained with '
                    'launch/harlow.py.')
flags.DEFINE_integer('checkpoint', None, 'Evaluate the training checkpoint of '
                     'this update instead of the exported SavedModel.')
flags.DEFINE_string('image_dir', None, 'Test on IMAGE_DIR/test/ instead of '
                    'the procedural held-out images.')
flags.DEFINE_integer('num_episodes', 1000, 'Test episodes.')
flags.DEFINE_integer('checkpoint_episodes', 200, 'Test episodes of each kept '
                     'checkpoint for the curves over training (0: none).')
flags.DEFINE_list('seed_runs', [], 'Run dirs of other seeds (same task) for '
                  'the learning curves and the ranking of final performance.')
flags.DEFINE_integer('seed_episodes', 300, 'Test episodes per --seed_runs run.')
flags.DEFINE_integer('seed', 12345, 'Seed of the test episodes.')
flags.DEFINE_list('baselines', list(task_specs.SPECS[harlow.HarlowTask].baselines),
                  'Baselines on the same test episodes.')
flags.DEFINE_boolean('overwrite', False, 'Replace existing output files.')
FLAGS = flags.FLAGS


def main(argv):
  common.require_analysis()
  common.no_arguments(argv)
  tag = ''
  overrides = {}
  if FLAGS.image_dir:
    tag = '_' + os.path.basename(os.path.normpath(FLAGS.image_dir))
    overrides['image_dir'] = FLAGS.image_dir
  if FLAGS.checkpoint is not None:
    tag += f'_ckpt{FLAGS.checkpoint}'
  names = [f'exp6{tag}.json', f'exp6{tag}.png', f'exp6{tag}_episode.png']
  core, policies, paths = common.load_for_analysis(
      FLAGS.run_dir, 'harlow', FLAGS.baselines, names, FLAGS.overwrite,
      trained_on=['harlow'], task_overrides=overrides,
      checkpoint=FLAGS.checkpoint)

  def log(message):
    print(message, file=sys.stderr, flush=True)

  try:
    report, agent_episodes = exp6.evaluate_run(
        FLAGS.run_dir, core, policies, checkpoint=FLAGS.checkpoint,
        image_dir=FLAGS.image_dir, num_episodes=FLAGS.num_episodes,
        seed=FLAGS.seed, checkpoint_episodes=FLAGS.checkpoint_episodes, log=log)
  except (OSError, ValueError) as e:  # a checkpoint that cannot be restored
    common.fail(str(e).splitlines()[0])
  curves = {os.path.basename(os.path.normpath(FLAGS.run_dir)):
            common.tensorboard_curve(FLAGS.run_dir, 'p_correct_later')}
  for run_dir in FLAGS.seed_runs:
    policy, name = common.run_policy(run_dir, core, 'harlow', 'seed_runs')
    log(f'[exp6] run {name}: {FLAGS.seed_episodes} episodes')
    report['runs'][name], _ = exp6.evaluate(core, policy, FLAGS.seed_episodes,
                                            FLAGS.seed)
    curves[name] = common.tensorboard_curve(run_dir, 'p_correct_later')

  files.write_json(paths[names[0]], report)
  exp6.plot(paths[names[1]], report, curves)
  exp6.plot_episode(paths[names[2]], core, agent_episodes)
  print(exp6.table(report))
  print('wrote ' + ', '.join(paths[n] for n in names))


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
