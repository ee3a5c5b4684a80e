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
from meta_rl import files
from meta_rl import task_specs
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
CONDITIONS = ['rewarded_common', 'rewarded_rare', 'unrewarded_common',
              'unrewarded_rare']


def main(argv):
  common.require_analysis()
  common.no_arguments(argv)
  core, policies, paths = common.load_for_analysis(
      FLAGS.run_dir, 'two_step', FLAGS.baselines, ['exp5.json', 'exp5.png'],
      FLAGS.overwrite, trained_on=['two_step'])
  import numpy as np  # pylint: disable=g-import-not-at-top
  from meta_rl import analysis, evaluation  # pylint: disable=g-import-not-at-top
  if FLAGS.ablation_run_dir:
    try:
      ablated = evaluation.SavedModelPolicy(
          os.path.join(FLAGS.ablation_run_dir, 'saved_model'))
      ablated.check_fits_core(core)
      from meta_rl import spec  # pylint: disable=g-import-not-at-top
      if (ablated.metadata.get('task') != 'two_step' or
          spec.RunSpec.from_metadata(ablated.metadata).agent.use_reward_input):
        common.fail(f'--ablation_run_dir {FLAGS.ablation_run_dir} is not a '
                    'two-step agent trained with --noreward_input')
    except (OSError, ValueError) as e:
      common.fail(f'--ablation_run_dir {FLAGS.ablation_run_dir}: '
                  f'{str(e).splitlines()[0]}')
    policies['agent_no_reward_input'] = ablated

  report = {}
  for name, policy in policies.items():
    trials = analysis.two_step_trials(evaluation.play_episodes(
        core, policy, FLAGS.num_episodes, seed=FLAGS.seed))
    per_trial = trials['reward'].mean()
    report[name] = {
        'reward_per_trial': float(per_trial),
        'reward_per_trial_se': float(trials['reward'].mean(1).std(ddof=1) /
                                     np.sqrt(len(trials['reward']))),
        'stay': analysis.stay_probabilities(trials),
        'regression': analysis.stay_regression(trials, lags=1),
        'history_regression': analysis.stay_regression(trials, lags=FLAGS.lags),
    }
  files.write_json(paths['exp5.json'], {
      'run_dir': FLAGS.run_dir, 'num_episodes': FLAGS.num_episodes,
      'seed': FLAGS.seed, 'results': report})

  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  from meta_rl.baselines import display_name  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, len(report), figsize=(2.9 * len(report), 3.7),
                           sharey=True, squeeze=False)
  for ax, (name, r) in zip(axes[0], report.items()):
    for i, (reward_kind, x) in enumerate((('rewarded', 0), ('unrewarded', 1))):
      for j, trans in enumerate(('common', 'rare')):
        s = r['stay'][f'{reward_kind}_{trans}']
        ax.bar(x * 3 + j, s['p_stay'], yerr=s['se'],
               color='tab:blue' if trans == 'common' else 'tab:red',
               label=trans if i == 0 else None)
    ax.set_xticks([0.5, 3.5], ['rewarded', 'unrewarded'])
    title = display_name(name).replace(' (', '\n(', 1)
    if '\n' not in title:
      title += '\n'
    ax.set_title(f'{title}\nreward/trial {r["reward_per_trial"]:.3f}',
                 fontsize=9)
    ax.set_ylim(0, 1)
  axes[0, 0].set_ylabel('P(stay with first-stage action)')
  handles, names = axes[0, 0].get_legend_handles_labels()
  fig.legend(handles, [f'{n} transition' for n in names], loc='lower center',
             ncol=2, fontsize=8, frameon=False)
  fig.tight_layout(rect=(0, 0.07, 1, 1))
  files.save_figure(fig, paths['exp5.png'], dpi=120)

  print(f'{"policy":<24} {"reward/trial":>12}  ' + '  '.join(
      f'{c:>17}' for c in CONDITIONS) + '   reward x transition (Daw)')
  for name, r in report.items():
    inter = r['regression']['reward_x_transition']
    print(f'{name:<24} {r["reward_per_trial"]:>12.3f}  ' + '  '.join(
        f'{r["stay"][c]["p_stay"]:>17.3f}' for c in CONDITIONS) +
          f'   {inter["coef"]:+.3f} ± {inter["se"]:.3f} (p = {inter["p_value"]:.1e})')
  print(f'wrote {paths["exp5.json"]} and {paths["exp5.png"]}')


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
