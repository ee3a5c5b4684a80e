"""Exp 5 (Section 3.2.1, Fig 5): is the trained agent model-based?

  python launch/exp5_two_step.py --run_dir=runs/two_step [--ablation_run_dir=runs/two_step_noreward]

Plays --num_episodes frozen test episodes of the two-step task with the run's
agent and with simulated model-free (TD(1)) and model-based learners
(`meta_rl/baselines/two_step.py`: the reward-maximising ones, and the
canonical model-free prediction of Fig 5b at a moderate inverse temperature),
and reports for each: stay probabilities after common/rare x
rewarded/unrewarded trials (Fig 5b-c), the Daw et al. (2011) logistic
regression of staying on the previous trial's reward, transition and their
interaction (coefficients, standard errors, p-values), a 5-trial history
regression, and the reward per trial. Writes RUN_DIR/eval/exp5.json and
exp5.png.
"""

import os

from absl import app
from absl import flags

import common

common.start()  # first: Ctrl-C as one line, TensorFlow imported quietly
# pylint: disable=g-import-not-at-top,wrong-import-position
from meta_rl import evaluation
from meta_rl import files
from meta_rl import spec
from meta_rl import task_specs
from meta_rl.experiments import two_step as exp5
from environments import two_step

flags.DEFINE_string('run_dir', None, 'Run dir of an agent trained with '
                    'launch/two_step.py.')
flags.DEFINE_string('ablation_run_dir', None, 'Optional run dir of an agent '
                    'trained with --noreward_input.')
flags.DEFINE_integer('num_episodes', 1000, 'Test episodes.')
flags.DEFINE_integer('seed', 12345, 'Seed of the test episodes.')
flags.DEFINE_list('baselines', list(task_specs.SPECS[two_step.TwoStepTask].baselines),
                  'Simulated agents on the same test episodes.')
flags.DEFINE_integer('lags', 5, 'Trials back in the history regression.')
flags.DEFINE_boolean('overwrite', False, 'Replace existing output files.')
FLAGS = flags.FLAGS


def main(argv):
  common.require_analysis()
  common.no_arguments(argv)
  core, policies, paths = common.load_for_analysis(
      FLAGS.run_dir, 'two_step', FLAGS.baselines, ['exp5.json', 'exp5.png'],
      FLAGS.overwrite, trained_on=['two_step'])
  if FLAGS.ablation_run_dir:
    try:
      ablated = evaluation.SavedModelPolicy(
          os.path.join(FLAGS.ablation_run_dir, 'saved_model'))
      ablated.check_fits_core(core)
      if (ablated.metadata.get('task') != 'two_step' or
          spec.RunSpec.from_metadata(ablated.metadata).agent.use_reward_input):
        common.fail(f'--ablation_run_dir {FLAGS.ablation_run_dir} is not a '
                    'two-step agent trained with --noreward_input')
    except (OSError, ValueError) as e:
      common.fail(f'--ablation_run_dir {FLAGS.ablation_run_dir}: '
                  f'{str(e).splitlines()[0]}')
    policies['agent_no_reward_input'] = ablated

  report = exp5.evaluate(core, policies, FLAGS.num_episodes, FLAGS.seed,
                         FLAGS.lags)
  files.write_json(paths['exp5.json'], {
      'run_dir': FLAGS.run_dir, 'num_episodes': FLAGS.num_episodes,
      'seed': FLAGS.seed, 'results': report})
  exp5.plot(paths['exp5.png'], report)
  print(exp5.table(report))
  print(f'wrote {paths["exp5.json"]} and {paths["exp5.png"]}')


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
