"""Train the meta-RL agent on two-armed bandits (Exps 1-2, Sections 3.1.1-2).

  python launch/bandits.py --flagfile=launch/configs/bandits_independent.cfg \
      --run_dir=runs/independent

Trains with the environment in the graph, checkpoints into RUN_DIR, writes
TensorBoard events to RUN_DIR/tb and exports RUN_DIR/saved_model/<version>/.
Prints the SavedModel path on stdout.
"""

from absl import app
from absl import flags

import common

flags.DEFINE_enum('task', 'independent',
                  ['independent', 'uniform', 'easy', 'medium', 'hard'],
                  'Arm distribution (Section 3.1.2).')
flags.DEFINE_integer('num_trials', 100, 'Trials per episode.')
common.add_flag_names('task', 'num_trials')
common.define_training_flags()
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    common.fail(f'unexpected arguments: {" ".join(argv[1:])}')
  common.import_tensorflow()
  import environments  # pylint: disable=g-import-not-at-top
  core = environments.make_core(FLAGS.task, num_trials=FLAGS.num_trials)
  common.train_and_export(core, FLAGS.task, {'num_trials': FLAGS.num_trials})


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
