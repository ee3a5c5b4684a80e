"""Train the meta-RL agent on bandit tasks (Exps 1-4, Sections 3.1.1-3.1.4).

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
                  ['independent', 'uniform', 'easy', 'medium', 'hard',
                   'informative', 'restless'],
                  'Two-armed distributions of Exps 1-2 (Section 3.1.2), the '
                  '11-armed informative bandit (Exp 3) or the restless bandit '
                  '(Exp 4, trained on its training volatilities).')
flags.DEFINE_integer('num_trials', None, 'Trials per episode (default: the '
                     "task's, 100 / 5 / 150).")
common.add_flag_names('task', 'num_trials')
common.define_training_flags()
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    common.fail(f'unexpected arguments: {" ".join(argv[1:])}')
  common.import_tensorflow()
  import environments  # pylint: disable=g-import-not-at-top
  task_kwargs = {}
  if FLAGS.num_trials is not None:
    task_kwargs['num_trials'] = FLAGS.num_trials
  try:
    core = environments.make_core(FLAGS.task, **task_kwargs)
  except ValueError as e:
    common.fail(str(e))
  common.train_and_export(core, FLAGS.task,
                          dict(task_kwargs, num_trials=core.episode_length))


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
