"""Bandit tasks: dm_env conformance, both faces agree, dynamics and statistics."""

import dm_env
import numpy as np
import pytest
from scipy import stats
import tensorflow as tf

import environments
from environments import core as core_lib
from environments.bandits import BernoulliBandit, sample_arm_probs

import traces

TASKS = ['independent', 'uniform', 'easy', 'medium', 'hard']


# Episodes of 5 trials; 13 steps cross two episode ends.
globals().update(traces.conformance_tests(TASKS, seed=7, num_trials=5,
                                          num_steps=13))


@pytest.mark.parametrize('task', TASKS)
def test_faces_agree(task):
  actions = np.random.default_rng(0).integers(0, 2, size=25).astype(np.int32)
  env = environments.make_environment(task, seed=11, num_trials=10)
  infos, _, _ = traces.assert_faces_agree(env, 11, actions)
  probs = infos['arm_probs']
  assert len(np.unique(probs[:, 0])) >= 2 or task in ('easy', 'medium', 'hard')


@pytest.mark.parametrize('num_trials', [1, 3, 100])
def test_episode_ends_after_exactly_num_trials(num_trials):
  env = environments.make_environment('independent', seed=0,
                                      num_trials=num_trials)
  for _ in range(2):
    ts = env.reset()
    assert ts.first() and ts.observation['episode_step'] == 0
    steps = 0
    while not ts.last():
      assert ts.observation['episode_step'] == steps
      ts = env.step(steps % 2)
      steps += 1
    assert steps == num_trials
    assert ts.discount == 0.0
  # Stepping after LAST starts a new episode.
  assert env.step(0).step_type == dm_env.StepType.FIRST


def test_batched_core_last_and_autoreset():
  core = BernoulliBandit('independent', num_trials=4)
  key = core_lib.make_key(3)
  state, obs = core.reset(key, 5)
  first_probs = state.arm_probs.numpy()
  steps = []
  for t in range(6):
    state, out = core_lib.step_autoreset(core, core_lib.fold_in(key, t), state,
                                         tf.zeros([5], tf.int32))
    steps.append((out.last.numpy().copy(), out.observation['episode_step'].numpy(),
                  out.discount.numpy()))
    if t < 3:
      np.testing.assert_array_equal(state.arm_probs.numpy(), first_probs)
  lasts = np.array([s[0] for s in steps])
  np.testing.assert_array_equal(lasts.all(axis=1), [0, 0, 0, 1, 0, 0])
  np.testing.assert_array_equal(steps[3][1], 0)  # new episode observed at t=0
  np.testing.assert_array_equal(steps[3][2], 0.0)
  np.testing.assert_array_equal(steps[4][1], 1)
  assert not np.allclose(state.arm_probs.numpy(), first_probs)


def test_distributions_have_the_papers_support():
  key = core_lib.make_key(0)
  n = 20000
  for task, support in [('easy', {0.1, 0.9}), ('medium', {0.25, 0.75}),
                        ('hard', {0.4, 0.6})]:
    p = sample_arm_probs(task, key, n).numpy()
    np.testing.assert_allclose(p[:, 1], 1.0 - p[:, 0], atol=1e-6)
    values, counts = np.unique(np.round(p[:, 0].astype(np.float64), 4),
                               return_counts=True)
    assert set(values.tolist()) == support
    assert stats.binomtest(int(counts[0]), n, 0.5).pvalue > 1e-3
  p = sample_arm_probs('uniform', key, n).numpy()
  np.testing.assert_allclose(p[:, 1], 1.0 - p[:, 0], atol=1e-6)
  assert stats.kstest(p[:, 0], 'uniform').pvalue > 1e-3
  p = sample_arm_probs('independent', key, n).numpy()
  assert stats.kstest(p[:, 0], 'uniform').pvalue > 1e-3
  assert stats.kstest(p[:, 1], 'uniform').pvalue > 1e-3
  assert abs(stats.pearsonr(p[:, 0], p[:, 1])[0]) < 0.03
  with pytest.raises(ValueError, match='unknown bandit distribution'):
    sample_arm_probs('bogus', key, 2)


@pytest.mark.parametrize('task', ['easy', 'independent'])
def test_reward_frequency_matches_p(task):
  core = BernoulliBandit(task, num_trials=100)
  n = 40000
  key = core_lib.make_key(5)
  state, _ = core.reset(key, n)
  action = tf.constant(np.arange(n) % 2, tf.int32)
  _, out = core.step(core_lib.fold_in(key, 1), state, action)
  p = tf.gather(state.arm_probs, action, batch_dims=1).numpy()
  r = out.reward.numpy()
  assert set(np.unique(r)) <= {0.0, 1.0}
  # Within bins of p, the reward frequency matches p (binomial test).
  for lo in np.arange(0.0, 1.0, 0.1):
    sel = (p >= lo) & (p < lo + 0.1)
    if sel.sum() < 100:
      continue
    k = int(r[sel].sum())
    expected = float(p[sel].mean())
    assert stats.binomtest(k, int(sel.sum()), expected).pvalue > 1e-4, (lo, k)


def test_task_info_is_not_an_observation():
  env = environments.make_environment('medium', seed=1)
  ts = env.reset()
  assert set(ts.observation) == {'episode_step'}
  assert env.task_info()['arm_probs'].shape == (2,)
  assert set(env.observation_spec()) == {'episode_step'}
