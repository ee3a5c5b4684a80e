"""Exp 4 (Section 3.1.4, Fig 4): the restless bandit, regret and learning
rates.

`evaluate` plays frozen test episodes with each policy (regret over the
episode); `fit_learning_rates` fits a Rescorla-Wagner model to the agent's
choices in each episode and relates its learning rate to the volatility nu
(`meta_rl.analysis`); `plot` draws Fig 4a-c, `table` is what is printed
after it.
"""

import numpy as np

import environments
from environments import restless_bandit
from meta_rl import files

# The wider bound of the learning rate in the second Rescorla-Wagner fit.
WIDE_ALPHA_MAX = 2.0


def evaluate(core, policies, num_episodes, seed, report):
  """Each policy on the same `num_episodes` test episodes; `report(line)`
  gives its regret. Returns `(episodes, summaries)`, name -> each."""
  from meta_rl import evaluation  # pylint: disable=g-import-not-at-top
  episodes, summaries = {}, {}
  for name, policy in policies.items():
    ep = evaluation.play_episodes(core, policy, num_episodes, seed=seed)
    s = evaluation.summarise(ep)
    episodes[name], summaries[name] = ep, s
    report(f'{name:<20} regret {s["episode_regret"]:7.2f} ± '
           f'{s["episode_regret_se"]:.2f}')
  return episodes, summaries


def _in_training(nu):
  """Whether each volatility is in the training bands."""
  return np.any([(nu >= lo) & (nu < hi)
                 for lo, hi in restless_bandit.TRAIN_BANDS], axis=0)


def fit_learning_rates(run_dir, core, episodes, summaries, num_episodes, seed,
                       log):
  """The Rescorla-Wagner fits of the agent's episodes (`episodes['agent']`)
  and what they say of the learning rate against nu: regressions (all
  episodes, out-of-sample band), t-tests between bands, rates at the bound
  1 and a refit with the bound WIDE_ALPHA_MAX. `log(line)` reports
  progress. Returns `(result, fit)`: the report (with each policy's regret
  from `summaries`) and the per-episode fit."""
  from meta_rl import analysis  # pylint: disable=g-import-not-at-top
  regrets = {name: [s['episode_regret'], s['episode_regret_se']]
             for name, s in summaries.items()}
  ep = episodes['agent']
  nu = ep['info_volatility'][:, 0]
  scale = environments.unwrap(core).volatility_scale
  log(f'fitting Rescorla-Wagner to {len(nu)} agent episodes...')
  fit = analysis.fit_rescorla_wagner(ep['actions'], ep['rewards'])
  out_of_sample = ~_in_training(nu)
  # Learning rates piling at the bound 1: refit with a wider bound (a rate
  # above 1 over-corrects) and see whether the regression changes.
  log(f'refitting with learning rates up to {WIDE_ALPHA_MAX:g}...')
  wide = analysis.fit_rescorla_wagner(ep['actions'], ep['rewards'],
                                      alpha_max=WIDE_ALPHA_MAX)
  result = {
      'run_dir': run_dir, 'num_episodes': num_episodes,
      'seed': seed, 'volatility_scale': scale,
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
  return result, fit


def plot(path, result, episodes, summaries, fit):
  """Fig 4: a) p1 and the agent's choices in six concatenated episodes,
  b) cumulative regret over the episode of each policy, c) the fitted
  learning rate against nu."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  from meta_rl import evaluation  # pylint: disable=g-import-not-at-top
  ep = episodes['agent']
  nu = ep['info_volatility'][:, 0]
  in_training = _in_training(nu)
  out_of_sample = ~in_training
  scale = result['volatility_scale']
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
  ax.set_title(f'(b) cumulative regret, {result["num_episodes"]} test episodes',
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
  files.save_figure(fig, path, dpi=120)


def table(result, num_fitted):
  """The regressions, t-tests and bound counts of `fit_learning_rates`
  (over `num_fitted` agent episodes), as printed."""
  reg = result['learning_rate_vs_volatility']
  oos = result['learning_rate_vs_volatility_out_of_sample']
  lines = [f'learning rate vs nu: R^2 = {reg["r_squared"]:.3f}, p = '
           f'{reg["p_value"]:.2e} (n = {reg["n"]})',
           f'out-of-sample band: R^2 = {oos["r_squared"]:.3f}, '
           f'p = {oos["p_value"]:.2e}']
  for t in result['bands']['ttests']:
    lines.append(f'band {t["higher_band"]} vs {t["lower_band"]}: '
                 f't = {t["t"]:.2f}, p = {t["p_value"]:.2e}')
  w = result['wider_bound']
  lines.append(
      f'learning rates at the bound 1: {result["learning_rate_at_bound_1"]} '
      f'of {num_fitted}; with the bound {WIDE_ALPHA_MAX:g}: {w["above_1"]} '
      f'above 1, {w["at_bound"]} at {WIDE_ALPHA_MAX:g}, R^2 = '
      f'{w["learning_rate_vs_volatility"]["r_squared"]:.3f} (p = '
      f'{w["learning_rate_vs_volatility"]["p_value"]:.2e}), out-of-sample '
      f'band R^2 = '
      f'{w["learning_rate_vs_volatility_out_of_sample"]["r_squared"]:.3f}')
  return '\n'.join(lines)
