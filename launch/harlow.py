"""Train the meta-RL agent on Harlow's one-shot visual task (Exp 6, Section 3.2.2).

  python launch/harlow.py --flagfile=launch/configs/harlow.cfg --run_dir=runs/harlow

The agent sees only a rendered screen (`pixels`, RESOLUTION x RESOLUTION RGB)
plus its previous action (left, right, no-op) and reward; the task is rendered
inside the training graph. Episodes draw a pair of images from the training
set (procedural, or IMAGE_DIR/train/); evaluation uses the held-out set
(launch/exp6_harlow.py, launch/evaluate.py --task=harlow). The geometry flags
default to the paper's rules (environments/harlow.py documents each). Same run
dir, checkpoints, TensorBoard and SavedModel contract as launch/bandits.py.
"""

from absl import app
from absl import flags

import common

common.start()  # first: Ctrl-C as one line, TensorFlow imported quietly
# pylint: disable=g-import-not-at-top,wrong-import-position
import environments
from meta_rl import experiment

TASK_FLAGS = ('resolution', 'num_trials', 'max_steps', 'fixation_hold',
              'hold_still', 'intertrial_interval', 'momentum', 'turn_degrees',
              'num_images', 'image_seed')


def define_flags(fv):
  """Defines this launcher's flags on `fv` (launch/sweep.py reuses it)."""
  in_task = common.group('task', fv)
  config = environments.HarlowConfig()
  flags.DEFINE_integer('resolution', config.resolution,
                       'Side of the rendered view in pixels (84: the paper).',
                       **in_task)
  flags.DEFINE_string('image_dir', None, 'Folder with train/ and test/ '
                      'subfolders of images (PNG/JPEG, any size) to use '
                      'instead of the procedural image sets.', **in_task)
  flags.DEFINE_integer('num_images', 1000, 'Images per set (at most, for '
                       '--image_dir).', **in_task)
  flags.DEFINE_integer('image_seed', 0, 'Seed of the procedural image sets.',
                       **in_task)
  flags.DEFINE_integer('num_trials', config.num_trials, 'Trials per episode.',
                       **in_task)
  flags.DEFINE_integer('max_steps', config.max_steps,
                       'Primitive steps per episode at most.', **in_task)
  flags.DEFINE_integer('fixation_hold', config.fixation_hold, 'Primitive '
                       'steps the gaze must stay on the cross.',
                       **in_task)
  flags.DEFINE_integer('intertrial_interval', config.intertrial_interval,
                       'Blank primitive steps between trials.', **in_task)
  flags.DEFINE_boolean('hold_still', config.hold_still, 'Only no-op steps on '
                       'the cross count towards the fixation hold.',
                       **in_task)
  flags.DEFINE_float('momentum', config.momentum, 'Fraction of a turn '
                     'carried into the next primitive step.', **in_task)
  flags.DEFINE_float('turn_degrees', config.turn_degrees,
                     'Degrees turned per primitive step.', **in_task)
  common.define_training_flags(fv, num_units=256, batch_size=32,
                               beta_e=0.001, beta_v=0.4, learning_rate=5e-4,
                               total_steps=20_000_000, action_repeat=4)


def make_task(fv):
  """The task of the flags in `fv`."""
  kwargs = {k: fv[k].value for k in TASK_FLAGS}
  if fv.image_dir:
    kwargs['image_dir'] = fv.image_dir
  return experiment.TaskConfig('harlow', kwargs)


def main(argv):
  common.no_arguments(argv)
  common.train(make_task)


if __name__ == '__main__':
  define_flags(flags.FLAGS)
  app.run(main, flags_parser=common.parse_flags)
