"""Replay a run's updates one at a time from one of its checkpoints.

  R=runs/harlow_clip_s1
  python launch/replay_updates.py --run_dir=$R --checkpoint=4500 --updates=150
  # smaller steps from the checkpoint on:
  python launch/replay_updates.py --run_dir=$R --checkpoint=4500 --updates=150 --learning_rate=2.5e-4

A diagnostic for collapses (README, Exp 6: "Seed 1's collapse, replayed").
The replay writes nothing into the run dir. Per update it prints the
gradient norm before clipping, the entropy, the unroll's mean reward and,
per layer, the largest and the RMS weight change in learning rates
(`meta_rl.replay`).
"""

from absl import app
from absl import flags

import common

common.start()  # first: Ctrl-C as one line, TensorFlow imported quietly
# pylint: disable=g-import-not-at-top,wrong-import-position

flags.DEFINE_string('run_dir', None, 'Run dir of a training run.')
flags.DEFINE_integer('checkpoint', None, 'Update of the checkpoint to start '
                     'from (one of the kept or latest ones); default: the '
                     'latest.')
flags.DEFINE_integer('updates', 100, 'Updates to replay.', lower_bound=1)
flags.DEFINE_float('learning_rate', None, "Replace the run's learning rate "
                   'from the checkpoint on (default: the run\'s).')
flags.register_validator(
    'learning_rate', lambda v: v is None or 0 < v <= 1,
    message='--learning_rate must be in (0, 1]')
flags.mark_flag_as_required('run_dir')
FLAGS = flags.FLAGS


def main(argv):
  common.no_arguments(argv)
  from meta_rl import replay  # pylint: disable=g-import-not-at-top
  try:
    for r in replay.replay_updates(FLAGS.run_dir, FLAGS.checkpoint,
                                   FLAGS.updates, FLAGS.learning_rate):
      layers = ' '.join(f'{k.split("/")[-1]} {m:.1f}/{rms:.2f}'
                        for k, (m, rms) in r['layers'].items())
      print(f'update {r["update"]}  grad norm {r["grad_norm"]:.2f}  entropy '
            f'{r["entropy"]:.3f}  reward {r["mean_reward"]:.3f}  |  '
            f'{layers}', flush=True)
  except (OSError, ValueError) as e:  # RunDirError is a ValueError
    common.fail(str(e).splitlines()[0])


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
