"""Train the meta-RL agent on the two-step task (Exp 5, Section 3.2.1).

  python launch/two_step.py --flagfile=launch/configs/two_step.cfg --run_dir=runs/two_step

A trial is two steps: at S1 the action picks the transition (common 0.75 /
rare 0.25) to S2 or S3; at S2/S3 either action collects that state's reward
(0.9 in the good state, 0.1 in the other; which is good is drawn per episode).
Observations: `state` (0 = S1, 1 = S2, 2 = S3; one-hot inside the model) and
`episode_step`. Same run dir, checkpoints, TensorBoard and SavedModel contract
as launch/bandits.py.
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
  flags.DEFINE_integer('num_trials', 10, 'Trials (two steps each) per '
                       'episode.', **in_task)
  flags.DEFINE_float('swap_prob', 0.0, 'Probability per trial that the two '
                     'second-stage reward probabilities swap (0: the paper).',
                     **in_task)
  common.define_training_flags(fv, unroll_length=20)


def make_task(fv):
  """The task of the flags in `fv`."""
  return experiment.TaskConfig(
      'two_step', {'num_trials': fv.num_trials, 'swap_prob': fv.swap_prob})


def main(argv):
  common.no_arguments(argv)
  common.train(make_task)


if __name__ == '__main__':
  define_flags(flags.FLAGS)
  app.run(main, flags_parser=common.parse_flags)
