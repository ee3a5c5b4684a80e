r"""Train the meta-RL agent on bandit tasks (Exps 1-4, Sections 3.1.1-3.1.4).

  python launch/bandits.py --flagfile=launch/configs/bandits_independent.cfg \
      --run_dir=runs/independent

Trains with the environment in the graph, checkpoints into RUN_DIR, writes
TensorBoard events to RUN_DIR/tb and exports RUN_DIR/saved_model/<version>/.
Prints the SavedModel path on stdout.
"""

from absl import app
from absl import flags

import common

common.start()  # first: Ctrl-C as one line, TensorFlow imported quietly
# pylint: disable=g-import-not-at-top,wrong-import-position
from meta_rl import experiment


def define_flags(fv):
  """Defines this launcher's flags on `fv` (launch/sweep.py reuses it)."""
  in_task = common.group('task', fv)
  common.define_task_flag(
      'bandits', 'independent',
      'Two-armed distributions of Exps 1-2 (Section 3.1.2), the 11-armed '
      'informative bandit (Exp 3) or the restless bandit (Exp 4, trained on '
      'its training volatilities).', fv=fv)
  flags.DEFINE_integer('num_trials', None, 'Trials per episode (default: the '
                       "task's, 100 / 5 / 150).", **in_task)
  flags.DEFINE_enum('volatility_scale', None, ['variance', 'std'],
                    'Restless bandit only: nu is the variance of the random '
                    "walk's step (the paper's text; the default) or its "
                    'standard deviation (a smoother walk, closer to Fig 4a).',
                    **in_task)
  common.define_training_flags(fv)


def make_task(fv):
  """The task of the flags in `fv`; ValueError for flags that do not fit
  the task."""
  kwargs = {} if fv.num_trials is None else {'num_trials': fv.num_trials}
  if fv.volatility_scale is not None:
    if fv.task != 'restless':
      raise ValueError('--volatility_scale applies to --task=restless only, '
                       f'not --task={fv.task}')
    kwargs['volatility_scale'] = fv.volatility_scale
  return experiment.TaskConfig(fv.task, kwargs)


def main(argv):
  common.no_arguments(argv)
  common.train(make_task)


if __name__ == '__main__':
  define_flags(flags.FLAGS)
  app.run(main, flags_parser=common.parse_flags)
