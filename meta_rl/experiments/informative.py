"""Exp 3 (Section 3.1.3, Fig 3): does the agent pay to look at the
informative arm?

`evaluate` plays frozen test episodes of the 11-armed informative bandit
with each policy and measures what it pulls; `plot` draws what each policy
pulls on each trial, `table` is the printed table.
"""

import numpy as np

from meta_rl import files

OPTIMUM = 20.55  # reward per episode: the informative arm, then the target


def evaluate(core, policies, num_episodes, seed):
  """`(report, choices)`: per policy, the numbers of the report (first pull
  informative, reward per episode and its SE, optimal episodes, informative
  pulls per episode) and the fraction of episodes pulling the informative
  arm, the target and another arm on each trial ([3, T])."""
  from meta_rl import evaluation  # pylint: disable=g-import-not-at-top
  info_arm = core.informative_arm
  report, choices = {}, {}
  for name, policy in policies.items():
    ep = evaluation.play_episodes(core, policy, num_episodes, seed=seed)
    target = ep['info_target'][:, 0]
    actions = ep['actions']
    returns = ep['rewards'].sum(1)
    optimal = (actions[:, 0] == info_arm) & (actions[:, 1:] == target[:, None]).all(1)
    n = len(returns)
    report[name] = {
        'first_pull_informative': float((actions[:, 0] == info_arm).mean()),
        'episode_return': float(returns.mean()),
        'episode_return_se': float(returns.std(ddof=1) / np.sqrt(n)),
        'optimal_episodes': float(optimal.mean()),
        'informative_pulls_per_episode': float((actions == info_arm).sum(1).mean()),
    }
    choices[name] = np.stack([(actions == info_arm).mean(0),
                              (actions == target[:, None]).mean(0),
                              ((actions != info_arm) & (actions != target[:, None])).mean(0)])
  return report, choices


def plot(path, report, choices):
  """Fig 3: for each policy, what it pulls on each trial (stacked bars)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  from meta_rl.baselines import display_name  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, len(choices), figsize=(3.2 * len(choices), 3.8),
                           sharey=True, squeeze=False)
  colors = ['tab:blue', 'tab:green', 'lightgray']
  # The paper's note to Fig 3: "suboptimal" arms are those that do not pay
  # most, while the optimal strategy pulls the informative arm on trial 1.
  labels = ['informative arm (the optimal pull on trial 1)',
            'highest-paying arm (target)', 'other arms (suboptimal)']
  for ax, (name, c) in zip(axes[0], choices.items()):
    bottom = np.zeros(c.shape[1])
    trials = np.arange(1, c.shape[1] + 1)
    for row, color, label in zip(c, colors, labels):
      ax.bar(trials, row, bottom=bottom, color=color, label=label)
      bottom += row
    r = report[name]
    ax.set_title(f'{display_name(name)}\nreward {r["episode_return"]:.2f} '
                 f'(optimum {OPTIMUM})', fontsize=9)
    ax.set_xlabel('trial')
    ax.set_xticks(trials)
  axes[0, 0].set_ylabel('fraction of episodes')
  handles, names = axes[0, 0].get_legend_handles_labels()
  fig.legend(handles, names, loc='lower center', ncol=3, fontsize=8,
             frameon=False)
  fig.tight_layout(rect=(0, 0.08, 1, 1))
  files.save_figure(fig, path, dpi=120)


def table(report):
  """The printed table and the optimum."""
  lines = [f'{"policy":<22} {"1st pull informative":>20} '
           f'{"reward/episode":>16} {"optimal eps":>12}']
  for name, r in report.items():
    lines.append(f'{name:<22} {r["first_pull_informative"]:>20.3f} '
                 f'{r["episode_return"]:>9.2f} ± {r["episode_return_se"]:.2f} '
                 f'{r["optimal_episodes"]:>12.3f}')
  lines.append(f'optimum reward per episode: {OPTIMUM}')
  return '\n'.join(lines)
