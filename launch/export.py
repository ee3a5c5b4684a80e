"""Export one of a run's training checkpoints as a SavedModel.

  python launch/export.py --run_dir=runs/harlow                  # the latest
  python launch/export.py --run_dir=runs/harlow --checkpoint=3000
  python launch/export.py --run_dir=runs/harlow --best   # best held out

A run exports its agent when it reaches --total_steps; a run stopped before
(Ctrl-C, SIGTERM, a time limit) exports nothing, and an earlier checkpoint
(e.g. one kept with --keep_every) may be the one to study. This writes the
agent of the chosen checkpoint as the next version of RUN_DIR/saved_model/
(the same contract as a finished run's; its metadata names the checkpoint)
and prints the path, for launch/evaluate.py, the analysis launchers and TF
Serving.
"""

import sys

from absl import app
from absl import flags

import common

common.start()  # first: Ctrl-C as one line, TensorFlow imported quietly
# pylint: disable=g-import-not-at-top,wrong-import-position
from meta_rl import experiment

flags.DEFINE_string('run_dir', None, 'Run dir of a training run.')
flags.DEFINE_integer('checkpoint', None, 'Update of the checkpoint to export '
                     '(one of the kept or latest ones); default: the latest.')
flags.DEFINE_boolean('best', False, 'Export the best held-out checkpoint '
                     '(RUN_DIR/checkpoints/best, kept by --eval_every while '
                     'training) instead.')
flags.register_multi_flags_validator(
    ['best', 'checkpoint'], lambda v: not (v['best'] and v['checkpoint']
                                           is not None),
    message='give either --checkpoint or --best, not both')
FLAGS = flags.FLAGS


def main(argv):
  common.no_arguments(argv)
  if not FLAGS.run_dir:
    common.fail('--run_dir is required')
  try:
    path = experiment.export_checkpoint(FLAGS.run_dir, FLAGS.checkpoint,
                                               best=FLAGS.best)
  except (OSError, ValueError) as e:  # RunDirError is a ValueError
    common.fail(str(e).splitlines()[0])
  print(f'exported {path}', file=sys.stderr)
  print(path)


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
