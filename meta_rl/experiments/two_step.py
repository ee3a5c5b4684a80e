"""Exp 5 (Section 3.2.1, Fig 5): is the agent trained on the two-step task
model-based?

`evaluate` plays frozen test episodes with each policy and measures its
stay probabilities and the Daw et al. (2011) regressions
(`meta_rl.analysis`); `plot` draws Fig 5b-c, `table` is the printed table.
"""

import numpy as np

from meta_rl import files

CONDITIONS = ['rewarded_common', 'rewarded_rare', 'unrewarded_common',
              'unrewarded_rare']


def evaluate(core, policies, num_episodes, seed, lags):
  """Per policy: reward per trial and its SE, stay probabilities after
  each condition, the one-trial regression and the `lags`-trial history
  regression."""
  from meta_rl import analysis, evaluation  # pylint: disable=g-import-not-at-top
  report = {}
  for name, policy in policies.items():
    trials = analysis.two_step_trials(evaluation.play_episodes(
        core, policy, num_episodes, seed=seed))
    per_trial = trials['reward'].mean()
    report[name] = {
        'reward_per_trial': float(per_trial),
        'reward_per_trial_se': float(trials['reward'].mean(1).std(ddof=1) /
                                     np.sqrt(len(trials['reward']))),
        'stay': analysis.stay_probabilities(trials),
        'regression': analysis.stay_regression(trials, lags=1),
        'history_regression': analysis.stay_regression(trials, lags=lags),
    }
  return report


def plot(path, report):
  """Fig 5b-c: each policy's stay probabilities after rewarded and
  unrewarded, common and rare trials."""
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
  files.save_figure(fig, path, dpi=120)


def table(report):
  """The printed table: reward per trial, stay probabilities and the
  reward x transition coefficient of each policy."""
  lines = [f'{"policy":<24} {"reward/trial":>12}  ' + '  '.join(
      f'{c:>17}' for c in CONDITIONS) + '   reward x transition (Daw)']
  for name, r in report.items():
    inter = r['regression']['reward_x_transition']
    lines.append(
        f'{name:<24} {r["reward_per_trial"]:>12.3f}  ' + '  '.join(
            f'{r["stay"][c]["p_stay"]:>17.3f}' for c in CONDITIONS) +
        f'   {inter["coef"]:+.3f} ± {inter["se"]:.3f} '
        f'(p = {inter["p_value"]:.1e})')
  return '\n'.join(lines)
