"""Rescorla-Wagner fits and regressions (meta_rl.analysis)."""

import numpy as np
import pytest

from meta_rl import analysis


def _simulate_rw(alpha, beta, n, t, rng):
  p1 = rng.random(n)
  actions = np.zeros((n, t), int)
  rewards = np.zeros((n, t))
  q = np.full((n, 2), 0.5)
  for i in range(t):
    logits = beta * q
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    a = (rng.random(n) > p[:, 0]).astype(int)
    r = (rng.random(n) < np.where(a == 0, p1, 1 - p1)).astype(float)
    actions[:, i], rewards[:, i] = a, r
    q[np.arange(n), a] += alpha * (r - q[np.arange(n), a])
  return actions, rewards


def test_nll_matches_hand_computation():
  # Two steps, alpha 0.5, beta 2: Q0 = (.5, .5) -> P(a=0) = 0.5; reward 1 on
  # arm 0 -> Q = (.75, .5) -> P(a=1) = 1 / (1 + e^{2 * 0.25}).
  nll = analysis.rw_negative_log_likelihood(0.5, 2.0, np.array([[0, 1]]),
                                            np.array([[1.0, 0.0]]))
  expected = -np.log(0.5) - np.log(1 / (1 + np.exp(0.5)))
  np.testing.assert_allclose(nll, [expected], rtol=1e-10)


def test_fit_recovers_learning_rates():
  rng = np.random.default_rng(0)
  fits = {}
  for alpha in (0.1, 0.6):
    a, r = _simulate_rw(alpha, 8.0, 40, 150, rng)
    fits[alpha] = analysis.fit_rescorla_wagner(a, r)['alpha']
  assert abs(np.median(fits[0.1]) - 0.1) < 0.08
  assert abs(np.median(fits[0.6]) - 0.6) < 0.2
  assert np.median(fits[0.6]) > np.median(fits[0.1]) + 0.2


def test_wider_bound_recovers_learning_rates_above_one():
  """A learner that over-corrects (alpha 1.5) piles at the default bound
  1; with alpha_max 2 the fit finds it, and `at_bound` counts the piles."""
  rng = np.random.default_rng(3)
  a, r = _simulate_rw(1.5, 8.0, 30, 150, rng)
  narrow = analysis.fit_rescorla_wagner(a, r)['alpha']
  wide = analysis.fit_rescorla_wagner(a, r, alpha_max=2.0)['alpha']
  assert narrow.max() <= 1.0 and analysis.at_bound(narrow, 1.0) >= 20
  assert abs(np.median(wide) - 1.5) < 0.25
  assert analysis.at_bound(wide, 2.0) < 10
  assert analysis.at_bound([0.2, 0.9995, 1.0, 0.5], 1.0) == 2


def test_regression_and_bands():
  rng = np.random.default_rng(1)
  nu = rng.random(300) * 0.2
  y = 2.0 * nu + rng.normal(0, 0.05, 300)
  reg = analysis.regress(nu, y)
  assert reg['p_value'] < 1e-10 and 0.5 < reg['r_squared'] < 1.0
  bands = analysis.compare_bands(y, nu, [(0, 0.0667), (0.0667, 0.1333),
                                         (0.1333, 0.2)])
  assert [b['n'] for b in bands['bands']] == [
      int(((nu >= lo) & (nu < hi)).sum()) for lo, hi in
      [(0, 0.0667), (0.0667, 0.1333), (0.1333, 0.2)]]
  assert all(t['t'] > 0 and t['p_value'] < 1e-3 for t in bands['ttests'])


def test_two_step_trials_and_stay_probabilities_by_hand():
  # One episode of 4 trials: (a1, s2, reward) =
  # (0, S2 common, 1), (0, S3 rare, 0), (1, S3 common, 0), (1, S2 rare, 1).
  states = np.array([[0, 1, 0, 2, 0, 2, 0, 1]])
  actions = np.array([[0, 1, 0, 0, 1, 1, 1, 0]])
  rewards = np.array([[0, 1, 0, 0, 0, 0, 0, 1]], float)
  t = analysis.two_step_trials({'info_state': states, 'actions': actions,
                                'rewards': rewards})
  np.testing.assert_array_equal(t['a1'], [[0, 0, 1, 1]])
  np.testing.assert_array_equal(t['common'], [[True, False, True, False]])
  np.testing.assert_array_equal(t['reward'], [[1, 0, 0, 1]])
  stay = analysis.stay_probabilities(t)
  # After rewarded-common (trial 1): stayed; after unrewarded-rare (trial 2):
  # switched; after unrewarded-common (trial 3): stayed.
  assert stay['rewarded_common'] == {'p_stay': 1.0, 'n': 1, 'se': 0.0}
  assert stay['unrewarded_rare']['p_stay'] == 0.0
  assert stay['unrewarded_common']['p_stay'] == 1.0
  assert stay['rewarded_rare']['n'] == 0
  import pytest  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match='alternate'):
    analysis.two_step_trials({'info_state': np.zeros((1, 8), int),
                              'actions': actions, 'rewards': rewards})


def test_stay_regression_recovers_a_planted_interaction():
  rng = np.random.default_rng(2)
  n, k = 400, 10
  common = rng.random((n, k)) < 0.75
  reward = (rng.random((n, k)) < 0.5).astype(float)
  a1 = np.zeros((n, k), int)
  a1[:, 0] = rng.integers(0, 2, n)
  for t in range(1, k):
    inter = np.where(reward[:, t - 1] > 0, 1, -1) * np.where(common[:, t - 1], 1, -1)
    p_stay = 1 / (1 + np.exp(-(0.2 + 1.5 * inter)))
    stay = rng.random(n) < p_stay
    a1[:, t] = np.where(stay, a1[:, t - 1], 1 - a1[:, t - 1])
  reg = analysis.stay_regression({'a1': a1, 'common': common, 'reward': reward})
  assert abs(reg['reward_x_transition']['coef'] - 1.5) < 0.2
  assert abs(reg['reward']['coef']) < 0.15
  assert reg['reward_x_transition']['p_value'] < 1e-10
  hist = analysis.stay_regression({'a1': a1, 'common': common,
                                   'reward': reward}, lags=3)
  assert hist['reward_x_transition_lag1']['coef'] > 1.0
  assert abs(hist['reward_x_transition_lag3']['coef']) < 0.3


def test_navigation_trips_and_latencies_by_hand():
  # Episode 0: goal visits at decisions 2 and 5 of 10; episode 1: none.
  visits = np.zeros((2, 10))
  visits[0, [2, 5]] = 1
  episodes = {'metric_goal_visits': visits, 'valid': np.ones((2, 10), bool)}
  trips = analysis.navigation_trips(episodes)
  np.testing.assert_array_equal(trips['start'][0], [0, 3, 6])
  np.testing.assert_array_equal(trips['latency'][0], [3, 3, np.nan])
  np.testing.assert_array_equal(trips['remaining'][0], [10, 7, 4])
  np.testing.assert_array_equal(trips['latency'][1], [np.nan] * 3)
  np.testing.assert_array_equal(analysis.first_discovery(trips), [2, -1])
  rewards = visits * 10
  s = analysis.navigation_summary(trips, rewards, goals=[0, 1], window=5)
  assert s['episode_return'] == 10 and s['visits_per_episode'] == 1
  assert s['p_found'] == 0.5
  assert s['latency_first'] == 3 and s['latency_later'] == 3
  assert s['latency_ratio'] == 1
  # Matched (window 5): goal 0 has a first trip of 3 and a later one of 3
  # (its last trip has only 4 decisions left); goal 1 (first trip capped at
  # 5) has no later trip, so it is left out of both.
  assert s['matched_first'] == 3 and s['matched_later'] == 3
  assert s['matched_ratio'] == 1 and s['matched_goals'] == 1
  assert s['by_visit']['n'][:2] == [1, 1]


def test_matched_latency_removes_the_goal_position_bias():
  """A memoryless agent reaching goal 0 in 10 decisions and goal 1 in 100
  visits goal 0 more often: trips 2+ look faster (raw ratio < 1) although
  nothing was learnt; per goal position the ratio is 1."""
  n, t = 200, 400
  goals = np.arange(n) % 2
  visits = np.zeros((n, t))
  for i in range(n):
    period = 10 if goals[i] == 0 else 100
    visits[i, period - 1::period] = 1
  trips = analysis.navigation_trips({'metric_goal_visits': visits,
                                     'valid': np.ones((n, t), bool)})
  s = analysis.navigation_summary(trips, visits * 10, goals, window=200)
  assert s['latency_ratio'] < 0.5
  assert s['matched_ratio'] == 1.0


def test_regret_curves_draw_the_agent_on_top_with_paper_names():
  """Fig 2b: the agent's curve is not hidden under Bayes-optimal's (it is
  drawn last, above the baselines); legends carry the paper's names in the
  order given."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  from meta_rl import evaluation  # pylint: disable=g-import-not-at-top
  curve = {'cumulative_regret': [0.5, 1.0], 'cumulative_regret_se': [0, 0]}
  results = {'agent': curve, 'bayes_optimal': curve, 'rw_0.2': curve,
             'thompson_informative': curve}
  fig, ax = plt.subplots()
  evaluation.draw_regret_curves(ax, results)
  assert ax.lines[-1].get_label().startswith('LSTM A2C')
  assert ax.lines[-1].get_zorder() > max(l.get_zorder() for l in ax.lines[:-1])
  assert [t.get_text() for t in ax.get_legend().get_texts()] == [
      'LSTM A2C (1.00)', 'Bayes-optimal (1.00)', 'R-W (α=0.2) (1.00)',
      'Thompson sampling (1.00)']
  plt.close(fig)


def test_learning_curve_summary_by_hand():
  steps = [10, 20, 30, 40, 50, 60]
  values = [0.5, 0.96, 0.90, 0.70, 0.97, 0.95]
  wall = [0, 5, 10, 1000, 1005, 1010]  # stopped and resumed after 10 s
  s = analysis.learning_curve_summary(steps, values, wall, 0.95, 'max', 0.85)
  assert s['first_step'] == 20 and s['first_secs'] == 5
  assert s['after_worst'] == 0.70 and s['after_worst_step'] == 40
  # 0.85 * 0.95 = 0.8075: only 0.70 is below.
  assert s['dips'] == 1 and s['stable'] == 0.0
  assert s['train_secs'] == 20  # the 990-s gap is left out
  assert (s['best'], s['best_step'], s['last'], s['final_step']) == (
      0.97, 50, 0.95, 60)
  never = analysis.learning_curve_summary(steps, [0.5] * 6, wall, 0.95)
  assert 'first_step' not in never and never['best'] == 0.5
  # Lower is better: a latency ratio with target 0.5 and bound 0.5 / 0.85.
  low = analysis.learning_curve_summary(
      [1, 2, 3], [0.9, 0.45, 0.55], [0, 1, 2], 0.5, 'min', 0.85)
  assert low['first_step'] == 2 and low['dips'] == 0 and low['stable'] == 1.0
  with pytest.raises(ValueError, match='mode'):
    analysis.learning_curve_summary([1], [1], [1], 1, 'up')
  assert analysis.learning_curve_summary([], [], [], 1) == {'points': 0.0}
