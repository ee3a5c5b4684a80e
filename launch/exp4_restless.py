"""Exp 4 (Section 3.1.4, Fig 4): restless bandit, regret and learning rates.

  python launch/exp4_restless.py --run_dir=runs/restless

Tests the run's latest SavedModel frozen on --num_episodes test episodes
(volatility nu ~ U[0, 6/30], wider than training) next to UCB (chi = 1),
Thompson sampling with a random-walk posterior of fixed volatility and
Rescorla-Wagner learners (alpha 0.2 and 0.8). Fits a Rescorla-Wagner model
(learning rate, inverse temperature) to the agent's choices in each test
episode by maximum likelihood and regresses the learning rate on nu (all
episodes, and the out-of-sample band [2/30, 4/30] alone), with t-tests
between the nu bands; counts the learning rates at the bound 1 and refits
with the bound 2 to see whether it changes R^2. The test task keeps the
run's reading of nu (`--volatility_scale` of launch/bandits.py: variance or
standard deviation of the walk's step). Writes RUN_DIR/eval/exp4.json and
exp4.png (4a: p1 and the agent's choices in six concatenated episodes; 4b:
cumulative regret over the 150 steps of each policy; 4c: learning rate vs
nu).
"""


from absl import app
from absl import flags

import common

common.start()  # first: Ctrl-C as one line, TensorFlow imported quietly
# pylint: disable=g-import-not-at-top,wrong-import-position
import environments
from meta_rl import files
from meta_rl import task_specs
from environments import restless_bandit

flags.DEFINE_string('run_dir', None, 'Run dir of an agent trained with '
                    '--task=restless.')
flags.DEFINE_integer('num_episodes', 1000, 'Test episodes.')
flags.DEFINE_integer('seed', 12345, 'Seed of the test episodes.')
flags.DEFINE_list('baselines', list(task_specs.SPECS[restless_bandit.RestlessBandit].baselines),
                  'Baselines on the same episodes.')
common.define_baseline_flags()
flags.DEFINE_boolean('overwrite', False, 'Replace existing output files.')
FLAGS = flags.FLAGS
# The wider bound of the learning rate in the second Rescorla-Wagner fit.
WIDE_ALPHA_MAX = 2.0


def main(argv):
  common.require_analysis()
  common.no_arguments(argv)
  core, policies, paths = common.load_for_analysis(
      FLAGS.run_dir, 'restless_test', FLAGS.baselines,
      ['exp4.json', 'exp4.png'], FLAGS.overwrite, trained_on=['restless'])
  import sys  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from meta_rl import analysis, evaluation  # pylint: disable=g-import-not-at-top

  regrets, episodes, summaries = {}, {}, {}
  for name, policy in policies.items():
    ep = evaluation.play_episodes(core, policy, FLAGS.num_episodes, seed=FLAGS.seed)
    s = evaluation.summarise(ep)
    regrets[name] = [s['episode_regret'], s['episode_regret_se']]
    episodes[name], summaries[name] = ep, s
    print(f'{name:<20} regret {s["episode_regret"]:7.2f} ± '
          f'{s["episode_regret_se"]:.2f}', flush=True)

  ep = episodes['agent']
  nu = ep['info_volatility'][:, 0]
  scale = environments.unwrap(core).volatility_scale
  print(f'fitting Rescorla-Wagner to {len(nu)} agent episodes...', file=sys.stderr)
  fit = analysis.fit_rescorla_wagner(ep['actions'], ep['rewards'])
  in_training = np.any([(nu >= lo) & (nu < hi)
                        for lo, hi in restless_bandit.TRAIN_BANDS], axis=0)
  out_of_sample = ~in_training
  # Learning rates piling at the bound 1: refit with a wider bound (a rate
  # above 1 over-corrects) and see whether the regression changes.
  print(f'refitting with learning rates up to {WIDE_ALPHA_MAX:g}...',
        file=sys.stderr)
  wide = analysis.fit_rescorla_wagner(ep['actions'], ep['rewards'],
                                      alpha_max=WIDE_ALPHA_MAX)
  result = {
      'run_dir': FLAGS.run_dir, 'num_episodes': FLAGS.num_episodes,
      'seed': FLAGS.seed, 'volatility_scale': scale,
      'regret_at_150': regrets,
      'learning_rate_vs_volatility': analysis.regress(nu, fit['alpha']),
      'learning_rate_vs_volatility_out_of_sample':
          analysis.regress(nu[out_of_sample], fit['alpha'][out_of_sample]),
      'bands': analysis.compare_bands(fit['alpha'], nu,
                                      restless_bandit.ANALYSIS_BANDS),
      'rw_fit_median': {'alpha': float(np.median(fit['alpha'])),
                        'beta': float(np.median(fit['beta']))},
      'learning_rate_at_bound_1': analysis.at_bound(fit['alpha'], 1.0),
      'wider_bound': {
          'alpha_max': WIDE_ALPHA_MAX,
          'above_1': int((wide['alpha'] > 1.0 + 1e-3).sum()),
          'at_bound': analysis.at_bound(wide['alpha'], WIDE_ALPHA_MAX),
          'learning_rate_vs_volatility': analysis.regress(nu, wide['alpha']),
          'learning_rate_vs_volatility_out_of_sample': analysis.regress(
              nu[out_of_sample], wide['alpha'][out_of_sample]),
      },
  }
  files.write_json(paths['exp4.json'], result)

  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  nu_text = {'variance': 'ν = variance of the step of p1',
             'std': 'ν = s.d. of the step of p1'}[scale]
  fig = plt.figure(figsize=(15, 4.4))
  ax = fig.add_subplot(1, 3, 1)
  shown = np.argsort(nu)[np.linspace(0, len(nu) - 1, 6).astype(int)]
  t0 = 0
  horizon = ep['actions'].shape[1]
  for i in shown:
    t = np.arange(t0, t0 + horizon)
    ax.plot(t, ep['info_arm_probs'][i, :, 0], color='black', lw=1)
    ax.scatter(t, 1.0 - ep['actions'][i], s=4, color='tab:red', zorder=3)
    ax.axvline(t0, color='gray', lw=0.5)
    ax.text(t0 + 3, 1.04, f'ν={nu[i]:.3f}', fontsize=7)
    t0 += horizon
  ax.set_ylim(-0.08, 1.12)
  ax.set_xlabel('step (six test episodes, increasing ν)')
  ax.set_ylabel('p1 (line); choice: a1 (pays p1) at 1, a2 at 0')
  ax.set_title(f'(a) p1 and the agent\'s choices ({nu_text})', fontsize=10)
  ax = fig.add_subplot(1, 3, 2)
  evaluation.draw_regret_curves(ax, summaries, xlabel='step')
  ax.set_title(f'(b) cumulative regret, {FLAGS.num_episodes} test episodes',
               fontsize=10)
  ax = fig.add_subplot(1, 3, 3)
  ax.scatter(nu[in_training], fit['alpha'][in_training], s=6, color='black',
             label='ν in training range')
  ax.scatter(nu[out_of_sample], fit['alpha'][out_of_sample], s=6,
             color='tab:red', label='ν out of sample')
  reg = result['learning_rate_vs_volatility']
  xs = np.linspace(*restless_bandit.TEST_RANGE, 10)
  ax.plot(xs, reg['intercept'] + reg['slope'] * xs, color='tab:blue',
          label=f'R²={reg["r_squared"]:.2f}, p={reg["p_value"]:.1e}')
  ax.set_xlabel(f'volatility ν ({nu_text[4:]})')
  ax.set_ylabel('fitted R-W learning rate')
  ax.set_title('(c) learning rate vs volatility', fontsize=10)
  ax.legend(fontsize=7)
  fig.tight_layout()
  files.save_figure(fig, paths['exp4.png'], dpi=120)
  print(f'learning rate vs nu: R^2 = {reg["r_squared"]:.3f}, p = '
        f'{reg["p_value"]:.2e} (n = {reg["n"]})')
  oos = result['learning_rate_vs_volatility_out_of_sample']
  print(f'out-of-sample band: R^2 = {oos["r_squared"]:.3f}, p = {oos["p_value"]:.2e}')
  for t in result['bands']['ttests']:
    print(f'band {t["higher_band"]} vs {t["lower_band"]}: t = {t["t"]:.2f}, '
          f'p = {t["p_value"]:.2e}')
  w = result['wider_bound']
  print(f'learning rates at the bound 1: {result["learning_rate_at_bound_1"]} '
        f'of {len(nu)}; with the bound {WIDE_ALPHA_MAX:g}: {w["above_1"]} above '
        f'1, {w["at_bound"]} at {WIDE_ALPHA_MAX:g}, R^2 = '
        f'{w["learning_rate_vs_volatility"]["r_squared"]:.3f} (p = '
        f'{w["learning_rate_vs_volatility"]["p_value"]:.2e}), out-of-sample '
        f'band R^2 = '
        f'{w["learning_rate_vs_volatility_out_of_sample"]["r_squared"]:.3f}')
  print(f'wrote {paths["exp4.json"]} and {paths["exp4.png"]}')


if __name__ == '__main__':
  app.run(main, flags_parser=common.parse_flags)
