"""Informative-arm (Exp 3) and restless (Exp 4) bandits: dm_env conformance,
both faces agree, hand-computed dynamics, statistics, and XLA compilation."""


import dm_env
import numpy as np
import pytest
from scipy import stats
import tensorflow as tf

import environments
from environments import core as core_lib
from environments.informative_bandit import InformativeBandit, InformativeState
from environments.restless_bandit import (ANALYSIS_BANDS, BAND_WIDTH,
                                          TEST_RANGE, TRAIN_BANDS,
                                          RestlessBandit, reflect,
                                          sample_volatility)
from environments import metrics

import traces

TASKS = ['informative', 'restless', 'restless_test']


# Episodes of 4 trials; 15 steps cross three episode ends.
globals().update(traces.conformance_tests(TASKS, seed=3, num_trials=4,
                                          num_steps=15))


# ---------------------------------------------------------------- both faces


@pytest.mark.parametrize('task', TASKS)
def test_faces_agree(task):
  env = environments.make_environment(task, seed=5, num_trials=6)
  actions = np.random.default_rng(1).integers(
      0, env.core.num_actions, size=26).astype(np.int32)
  infos, _, _ = traces.assert_faces_agree(env, 5, actions)
  # Several episodes with different tasks were played.
  key = 'target' if task == 'informative' else 'volatility'
  assert len(np.unique(infos[key])) >= 3


@pytest.mark.parametrize('task', TASKS)
@pytest.mark.parametrize('num_trials', [1, 3, 5])
def test_episodes_end_after_exactly_num_trials(task, num_trials):
  env = environments.make_environment(task, seed=2, num_trials=num_trials)
  assert env.core.episode_length == num_trials
  assert env.observation_spec()['episode_step'].maximum == num_trials - 1
  for _ in range(2):
    ts = env.reset()
    assert ts.first() and set(ts.observation) == {'episode_step'}
    steps = 0
    while not ts.last():
      assert ts.observation['episode_step'] == steps
      assert ts.discount is None or steps == 0 or ts.discount == 1.0
      ts = env.step(steps % env.core.num_actions)
      steps += 1
    assert steps == num_trials and ts.discount == 0.0
  assert env.step(0).step_type == dm_env.StepType.FIRST


def test_registered_tasks_and_defaults():
  informative = environments.make_core('informative')
  assert (informative.num_arms, informative.informative_arm,
          informative.num_trials, informative.name) == (11, 10, 5, 'informative')
  assert environments.make_core('restless').name == 'restless'
  assert environments.make_core('restless_test').name == 'restless_test'
  assert environments.make_core('restless').episode_length == 150
  assert RestlessBandit(0.01).name == 'restless_0.01'
  with pytest.raises(ValueError, match='unknown volatility'):
    RestlessBandit('bogus')
  with pytest.raises(ValueError, match='num_trials'):
    InformativeBandit(num_trials=0)


# -------------------------------------------------------------- informative


def _informative_step(core, targets, action):
  """Rewards of pulling `action` in episodes with the given targets."""
  targets = tf.constant(targets, tf.int32)
  state = InformativeState(targets, tf.zeros_like(targets))
  actions = tf.fill(tf.shape(targets), action)
  return core.step(core_lib.make_key(0), state, actions)[1].reward.numpy()


def test_informative_payouts_by_hand():
  core = InformativeBandit()
  targets = np.arange(10)
  for arm in range(10):
    expected = np.where(targets == arm, 5.0, 1.0)
    np.testing.assert_array_equal(_informative_step(core, targets, arm),
                                  expected)
  np.testing.assert_allclose(_informative_step(core, targets, 10),
                             [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
                             rtol=1e-6)
  # The paper's example: a reward of 0.2 on a_11 means a_2 (index 1) is target.
  assert _informative_step(core, [1], 10)[0] == pytest.approx(0.2)
  # First-trial expected payouts over a uniform target: 0.55 and 1.4.
  means = core.task_info(InformativeState(tf.constant(targets),
                                          tf.zeros(10, tf.int32)))['arm_means']
  np.testing.assert_allclose(means.numpy().mean(axis=0),
                             [1.4] * 10 + [0.55], rtol=1e-6)


def test_informative_optimal_return_is_20_55():
  env = environments.make_environment('informative', seed=9)
  returns, targets = [], []
  for _ in range(60):
    env.reset()
    targets.append(env.task_info()['target'])
    ts = env.step(env.core.informative_arm)
    total = ts.reward
    decoded = int(round(ts.reward * 10)) - 1
    while not ts.last():
      ts = env.step(decoded)
      total += ts.reward
    returns.append(total)
  targets = np.array(targets)
  np.testing.assert_allclose(returns, 20.0 + (targets + 1) / 10, rtol=1e-6)
  assert len(np.unique(targets)) >= 8
  # Averaged over the (uniform) target: 0.55 + 4 * 5.
  np.testing.assert_allclose(np.mean(20.0 + (np.arange(10) + 1) / 10), 20.55)


def test_informative_target_is_uniform_over_non_informative_arms():
  core = InformativeBandit()
  state, obs = core.reset(core_lib.make_key(4), 50000)
  counts = np.bincount(state.target.numpy(), minlength=11)
  assert counts[10] == 0 and counts.sum() == 50000
  assert stats.chisquare(counts[:10]).pvalue > 1e-3
  np.testing.assert_array_equal(obs['episode_step'].numpy(), 0)


# ----------------------------------------------------------------- restless


def _reflect_by_hand(x):
  while not 0.0 <= x <= 1.0:
    x = -x if x < 0.0 else 2.0 - x
  return x


def test_reflection_is_exact():
  xs = np.array([0.0, 0.3, 1.0, -0.3, 1.2, 2.5, -1.7, 3.2, -4.25, 7.9])
  np.testing.assert_allclose(
      reflect(tf.constant(xs, tf.float32)).numpy(),
      [0.0, 0.3, 1.0, 0.3, 0.8, 0.5, 0.3, 0.8, 0.25, 0.1], atol=1e-6)
  rand = np.random.default_rng(0).normal(0.5, 3.0, size=2000)
  np.testing.assert_allclose(reflect(tf.constant(rand, tf.float32)).numpy(),
                             [_reflect_by_hand(x) for x in rand], atol=2e-6)


def _walk(core, key, batch_size, num_steps, actions=None):
  """Runs `core` for `num_steps`; returns p1 [T + 1, B], rewards, actions."""
  state, _ = core.reset(key, batch_size)
  p1, rewards, taken = [state.p1.numpy()], [], []
  for t in range(num_steps):
    a = (tf.zeros([batch_size], tf.int32) if actions is None
         else tf.constant(actions[t], tf.int32))
    state, out = core.step(core_lib.fold_in(key, t + 1), state, a)
    np.testing.assert_array_equal(out.info['arm_probs'][:, 0].numpy(), p1[-1])
    p1.append(state.p1.numpy())
    rewards.append(out.reward.numpy())
    taken.append(a.numpy())
  return np.array(p1), np.array(rewards), np.array(taken)


@pytest.mark.parametrize('nu', [6 / 30, 1.0, 25.0])
def test_reflection_keeps_p1_in_unit_interval(nu):
  p1, _, _ = _walk(RestlessBandit(nu, num_trials=100), core_lib.make_key(1),
                   500, 40)
  assert p1.min() >= 0.0 and p1.max() <= 1.0
  assert np.abs(np.diff(p1, axis=0)).max() > 0.1  # The walk does move.


def test_walk_increments_have_variance_nu():
  nu = 1e-4  # Steps of sd 0.01: reflection at 0.1 from a boundary is 10 sd away.
  p1, _, _ = _walk(RestlessBandit(nu, num_trials=100), core_lib.make_key(2),
                   4000, 5)
  before, inc = p1[:-1].ravel(), np.diff(p1, axis=0).ravel()
  inc = inc[(before > 0.1) & (before < 0.9)].astype(np.float64)
  n = inc.size
  assert n > 10000
  # Known mean 0: sum of squares / nu ~ chi2(n); two-sided test.
  chi2 = float(np.sum(inc**2) / nu)
  p = 2 * min(stats.chi2.cdf(chi2, n), stats.chi2.sf(chi2, n))
  assert p > 1e-3, (np.var(inc), nu)
  assert stats.kstest(inc / np.sqrt(nu), 'norm').pvalue > 1e-3
  # A zero volatility walk stands still.
  p1, _, _ = _walk(RestlessBandit(0.0, num_trials=10), core_lib.make_key(2),
                   10, 3)
  np.testing.assert_array_equal(p1, np.broadcast_to(p1[0], p1.shape))


def test_std_reading_steps_have_standard_deviation_nu():
  """volatility_scale='std': nu is the step's standard deviation, so the
  same nu walks as sqrt(nu) does under the literal (variance) reading; an
  agent's reading reaches its test task, and the Thompson baseline's fixed
  volatility follows it."""
  nu = 0.01  # sd 0.01 (variance reading: sd 0.1)
  p1, _, _ = _walk(RestlessBandit(nu, num_trials=100, volatility_scale='std'),
                   core_lib.make_key(2), 4000, 5)
  before, inc = p1[:-1].ravel(), np.diff(p1, axis=0).ravel()
  inc = inc[(before > 0.1) & (before < 0.9)].astype(np.float64)
  chi2 = float(np.sum(inc**2) / nu**2)
  p = 2 * min(stats.chi2.cdf(chi2, inc.size), stats.chi2.sf(chi2, inc.size))
  assert p > 1e-3, (np.std(inc), nu)
  # The same draws as the variance reading at nu**2.
  same, _, _ = _walk(RestlessBandit(nu**2, num_trials=100),
                     core_lib.make_key(2), 4000, 5)
  np.testing.assert_allclose(p1, same, atol=1e-6)
  with pytest.raises(ValueError, match='volatility_scale'):
    RestlessBandit('train', volatility_scale='sd')
  from meta_rl import baselines, evaluation  # pylint: disable=g-import-not-at-top
  meta = {'task': 'restless',
          'task_kwargs': {'num_trials': 150, 'volatility_scale': 'std'}}
  test, kwargs = evaluation.test_core('restless_test', meta)
  assert test.name == 'restless_test' and test.volatility_scale == 'std'
  assert kwargs == meta['task_kwargs']
  # Another task keeps only the episode length.
  _, kwargs = evaluation.test_core('easy', meta)
  assert kwargs == {'num_trials': 150}
  thompson = baselines.make_baseline('thompson_restless', test,
                                     restless_volatility=0.1)
  assert thompson.volatility == pytest.approx(0.01)
  assert baselines.make_baseline(
      'thompson_restless', environments.make_core('restless_test'),
      restless_volatility=0.1).volatility == pytest.approx(0.1)


def test_volatility_distributions():
  assert BAND_WIDTH == 2 / 30
  assert TRAIN_BANDS == ((0, 2 / 30), (4 / 30, 6 / 30))
  assert TEST_RANGE == (0, 6 / 30)
  assert ANALYSIS_BANDS == ((0, 2 / 30), (2 / 30, 4 / 30), (4 / 30, 6 / 30))
  key, n, band = core_lib.make_key(6), 40000, np.float32(BAND_WIDTH)
  train = sample_volatility('train', key, n).numpy()
  assert all(np.any([(train >= np.float32(lo)) & (train <= np.float32(hi))
                     for lo, hi in TRAIN_BANDS], axis=0))
  assert train.min() >= 0.0 and train.max() <= 3 * band
  assert not np.any((train > band) & (train < 2 * band))  # Never in the gap.
  upper = train >= 2 * band
  assert stats.binomtest(int(upper.sum()), n, 0.5).pvalue > 1e-3
  # Each band uniform: fold both onto [0, 1].
  folded = np.where(upper, train / band - 2.0, train / band)
  assert stats.kstest(folded, 'uniform').pvalue > 1e-3
  test = sample_volatility('test', key, n).numpy()
  assert test.min() >= 0.0 and test.max() <= 3 * band
  assert stats.kstest(test / (3 * band), 'uniform').pvalue > 1e-3
  assert np.mean((test > band) & (test < 2 * band)) == pytest.approx(1 / 3,
                                                                     abs=0.02)
  # The cores draw nu per episode and p1_0 ~ U[0, 1].
  state, _ = RestlessBandit('train').reset(key, n)
  assert not np.any((state.volatility.numpy() > band) &
                    (state.volatility.numpy() < 2 * band))
  assert stats.kstest(state.p1.numpy(), 'uniform').pvalue > 1e-3
  np.testing.assert_array_equal(
      RestlessBandit(0.05).reset(key, 3)[0].volatility.numpy(),
      np.float32(0.05))


def test_reward_frequencies_match_p1():
  n, steps = 20000, 3
  rng = np.random.default_rng(3)
  actions = rng.integers(0, 2, size=(steps, n))
  p1, rewards, taken = _walk(RestlessBandit(0.01, num_trials=10),
                             core_lib.make_key(8), n, steps, actions)
  p = np.where(taken == 0, p1[:-1], 1.0 - p1[:-1]).ravel().astype(np.float64)
  r = rewards.ravel()
  assert set(np.unique(r)) <= {0.0, 1.0}
  # Overall: sum of rewards vs sum of probabilities (normal approximation).
  z = (r.sum() - p.sum()) / np.sqrt(np.sum(p * (1 - p)))
  assert abs(z) < 4.0
  # Calibration in deciles of p: chi-square over the bins.
  edges = np.quantile(p, np.linspace(0, 1, 11))
  bins = np.clip(np.searchsorted(edges, p, side='right') - 1, 0, 9)
  observed = np.bincount(bins, weights=r, minlength=10)
  expected = np.bincount(bins, weights=p, minlength=10)
  var = np.bincount(bins, weights=p * (1 - p), minlength=10)
  assert stats.chi2.sf(np.sum((observed - expected)**2 / var), 10) > 1e-4


# ---------------------------------------------------------- graph and XLA


def _run_autoreset(core, seed, batch_size, num_steps):
  """Unrolls `core` with step_autoreset in a tf.while_loop."""
  key = core_lib.make_key(seed)
  state, _ = core.reset(key, batch_size)

  def body(t, state, total, episodes, low, high):
    step_key = core_lib.fold_in(key, t + 1)
    action = tf.random.stateless_uniform([batch_size], step_key, 0,
                                         core.num_actions, dtype=tf.int32)
    state, out = core_lib.step_autoreset(core, step_key, state, action)
    means = metrics.arm_means(out.info)
    return (t + 1, state, total + tf.reduce_sum(out.reward),
            episodes + tf.reduce_sum(tf.cast(out.last, tf.int32)),
            tf.minimum(low, tf.reduce_min(means)),
            tf.maximum(high, tf.reduce_max(means)))

  _, _, total, episodes, low, high = tf.while_loop(
      lambda t, *_: t < num_steps, body,
      (tf.constant(0), state, tf.constant(0.0), tf.constant(0),
       tf.constant(np.inf, tf.float32), tf.constant(-np.inf, tf.float32)))
  return total, episodes, low, high


@pytest.mark.parametrize('task', TASKS)
def test_runs_in_tf_function_and_under_xla(task):
  core = environments.make_core(task, num_trials=7)
  batch_size, num_steps = 16, 30
  results = traces.run_with_and_without_xla(
      lambda: _run_autoreset(core, 4, batch_size, num_steps))
  for total, episodes, low, high in results.values():
    assert episodes == batch_size * (num_steps // 7)
    assert low >= 0.0 and high <= (5.0 if task == 'informative' else 1.0)
    assert total > 0.0
