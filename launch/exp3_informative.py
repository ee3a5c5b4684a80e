"""Exp 3 (Section 3.1.3, Fig 3): does the agent pay to look at the informative arm?

  python launch/exp3_informative.py --run_dir=runs/informative

Tests the run's latest SavedModel frozen on --num_episodes episodes of the
11-armed informative bandit next to Thompson sampling with the true prior,
UCB1 and a random policy. Reports how often the first pull is the informative
arm, the reward per episode against the optimum 20.55 (informative arm, then
the target four times) and writes RUN_DIR/eval/exp3.json and exp3.png (what
each policy pulls on each trial).
"""


from absl import app
from absl import flags

import common

common.start()  # first: Ctrl-C as one line, TensorFlow imported quietly
# pylint: disable=g-import-not-at-top,wrong-import-position
from meta_rl import files
from meta_rl import task_specs
from environments import informative_bandit

flags.DEFINE_string('run_dir', None, 'Run dir of an agent trained with '
                    '--task=informative.')
flags.DEFINE_integer('num_episodes', 1000, 'Test episodes.')
flags.DEFINE_integer('seed', 12345, 'Seed of the test episodes.')
flags.DEFINE_list('baselines',
                  list(task_specs.SPECS[informative_bandit.InformativeBandit].baselines),
                  'Baselines on the same test episodes.')
flags.DEFINE_boolean('overwrite', False, 'Replace existing output files.')
FLAGS = flags.FLAGS
OPTIMUM = 20.55


def main(argv):
  common.require_analysis()
  common.no_arguments(argv)
  core, policies, paths = common.load_for_analysis(
      FLAGS.run_dir, 'informative', FLAGS.baselines, ['exp3.json', 'exp3.png'],
      FLAGS.overwrite, trained_on=['informative'])
  import numpy as np  # pylint: disable=g-import-not-at-top
  from meta_rl import evaluation  # pylint: disable=g-import-not-at-top

  info_arm = core.informative_arm
  report, choices = {}, {}
  for name, policy in policies.items():
    ep = evaluation.play_episodes(core, policy, FLAGS.num_episodes, seed=FLAGS.seed)
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
  result = {'run_dir': FLAGS.run_dir, 'num_episodes': FLAGS.num_episodes,
            'seed': FLAGS.seed, 'optimum': OPTIMUM, 'results': report}
  files.write_json(paths['exp3.json'], result)

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
  files.save_figure(fig, paths['exp3.png'], dpi=120)

  print(f'{"policy":<22} {"1st pull informative":>20} {"reward/episode":>16} {"optimal eps":>12}')
  for name, r in report.items():
    print(f'{name:<22} {r["first_pull_informative"]:>20.3f} '
          f'{r["episode_return"]:>9.2f} ± {r["episode_return_se"]:.2f} '
          f'{r["optimal_episodes"]:>12.3f}')
  print(f'optimum reward per episode: {OPTIMUM}')
  print(f'wrote {paths["exp3.json"]} and {paths["exp3.png"]}')


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
