"""Two-step task (Exp 5): dm_env conformance, both faces agree, hand-checked
dynamics, transition/reward/swap statistics, and XLA compilation."""


import dm_env
import numpy as np
import pytest
from scipy import stats
import tensorflow as tf

import environments
from environments import core as core_lib
from environments.two_step import TwoStepState, TwoStepTask

import traces


# Episodes of 6 steps; 20 steps cross three episode ends.
globals().update(traces.conformance_tests(['two_step'], seed=3, num_trials=3,
                                          num_steps=20))


def _binomial_ok(successes, n, p):
  return stats.binomtest(int(successes), int(n), p).pvalue > 1e-3


# ---------------------------------------------------------------- both faces


@pytest.mark.parametrize('swap_prob', [0.0, 0.3])
def test_faces_agree(swap_prob):
  env = environments.make_environment('two_step', seed=5, num_trials=3,
                                      swap_prob=swap_prob)
  actions = np.random.default_rng(1).integers(0, 2, size=60).astype(np.int32)
  infos, _, observations = traces.assert_faces_agree(env, 5, actions)
  assert set(infos) == {'state', 'good_state', 'reward_probs'}
  states = observations['state']
  # Both good states and both kinds of transition occurred.
  assert set(infos['good_state']) == {1, 2}
  assert set(states) == {0, 1, 2}


# ----------------------------------------------------------- hand-checked


def test_registered_task_and_defaults():
  core = environments.make_core('two_step')
  assert isinstance(core, TwoStepTask) and core.name == 'two_step'
  assert (core.num_trials, core.episode_length, core.num_actions) == (10, 20, 2)
  assert (core.common_prob, core.reward_probs, core.swap_prob) == (
      0.75, (0.9, 0.1), 0.0)
  spec = core.observation_spec()
  assert set(spec) == {'state', 'episode_step'}
  assert spec['state'].num_values == 3 and spec['state'].dtype == np.int32
  assert (spec['episode_step'].minimum, spec['episode_step'].maximum) == (0, 19)
  assert environments.make_core('two_step', num_trials=4).episode_length == 8
  with pytest.raises(ValueError, match='num_trials'):
    TwoStepTask(num_trials=0)
  with pytest.raises(ValueError, match='swap_prob'):
    TwoStepTask(swap_prob=1.5)
  with pytest.raises(ValueError, match='common_prob'):
    TwoStepTask(common_prob=-0.1)


@pytest.mark.parametrize('num_trials', [1, 3, 10])
def test_episodes_alternate_stages_and_end_after_two_steps_a_trial(num_trials):
  env = environments.make_environment('two_step', seed=2,
                                      num_trials=num_trials)
  assert env.core.episode_length == 2 * num_trials
  rng = np.random.default_rng(0)
  for _ in range(3):
    ts = env.reset()
    assert ts.first() and ts.observation['state'] == 0
    steps = 0
    while not ts.last():
      assert ts.observation['episode_step'] == steps
      info = env.task_info()
      assert info['state'] == ts.observation['state']
      first_stage = steps % 2 == 0
      assert (ts.observation['state'] == 0) == first_stage
      ts = env.step(int(rng.integers(2)))
      steps += 1
      if first_stage:  # Reward only on second-stage steps.
        assert ts.reward == 0.0 and ts.observation['state'] in (1, 2)
      else:
        assert ts.reward in (0.0, 1.0) and ts.observation['state'] == 0
      assert ts.discount == (0.0 if steps == 2 * num_trials else 1.0)
    assert steps == 2 * num_trials
  assert env.step(0).step_type == dm_env.StepType.FIRST


def _state(states, good, episode_step=0):
  states = tf.constant(states, tf.int32)
  return TwoStepState(states, tf.broadcast_to(tf.constant(good, tf.int32),
                                              states.shape),
                      tf.fill(states.shape, episode_step))


def test_deterministic_transitions_and_rewards_by_hand():
  # common_prob 1 and reward probabilities 1 / 0 make every draw certain.
  core = TwoStepTask(num_trials=2, common_prob=1.0, reward_probs=(1.0, 0.0))
  key = core_lib.make_key(0)
  state, out = core.step(key, _state([0, 0, 0, 0], [1, 1, 2, 2]),
                         tf.constant([0, 1, 0, 1]))
  np.testing.assert_array_equal(state.state, [1, 2, 1, 2])
  np.testing.assert_array_equal(out.reward, 0.0)
  np.testing.assert_array_equal(out.observation['state'], [1, 2, 1, 2])
  np.testing.assert_array_equal(out.observation['episode_step'], 1)
  np.testing.assert_array_equal(out.info['reward_probs'],
                                [[1, 0], [1, 0], [0, 1], [0, 1]])
  state, out = core.step(key, state, tf.constant([1, 0, 0, 1]))
  np.testing.assert_array_equal(out.reward, [1.0, 0.0, 0.0, 1.0])
  np.testing.assert_array_equal(state.state, 0)
  np.testing.assert_array_equal(state.good_state, [1, 1, 2, 2])
  assert not out.last.numpy().any()
  # common_prob 0: every transition is rare; the last step ends the episode.
  core = TwoStepTask(num_trials=2, common_prob=0.0)
  state, out = core.step(key, _state([0, 0], [1, 2], episode_step=2),
                         tf.constant([0, 1]))
  np.testing.assert_array_equal(state.state, [2, 1])
  state, out = core.step(key, state, tf.constant([0, 0]))
  np.testing.assert_array_equal(out.last, True)
  np.testing.assert_array_equal(out.discount, 0.0)
  np.testing.assert_array_equal(out.observation['episode_step'], 3)


# -------------------------------------------------------------- statistics


def test_common_transitions_have_probability_common_prob():
  core, n = TwoStepTask(), 40000
  actions = np.arange(n) % 2
  state, _ = core.step(core_lib.make_key(1), _state(np.zeros(n), 1),
                       tf.constant(actions, tf.int32))
  common = state.state.numpy() == actions + 1
  for a in (0, 1):
    assert _binomial_ok(common[actions == a].sum(), n // 2, 0.75), a
  assert set(np.unique(state.state.numpy())) == {1, 2}


def test_reward_frequencies_of_good_and_bad_states():
  core, n = TwoStepTask(), 40000
  rng = np.random.default_rng(2)
  states = rng.integers(1, 3, size=n)
  good = rng.integers(1, 3, size=n)
  state = _state(states, good)
  info = core.task_info(state)
  expected = np.where(good[:, None] == [1, 2], 0.9, 0.1).astype(np.float32)
  np.testing.assert_array_equal(info['reward_probs'], expected)
  next_state, out = core.step(core_lib.make_key(3), state,
                              tf.constant(rng.integers(0, 2, size=n), tf.int32))
  reward = out.reward.numpy()
  assert set(np.unique(reward)) == {0.0, 1.0}
  is_good = states == good
  assert _binomial_ok(reward[is_good].sum(), is_good.sum(), 0.9)
  assert _binomial_ok(reward[~is_good].sum(), (~is_good).sum(), 0.1)
  np.testing.assert_array_equal(next_state.state, 0)


def test_good_state_is_uniform_across_episodes():
  core, n = TwoStepTask(), 40000
  state, obs = core.reset(core_lib.make_key(4), n)
  good = state.good_state.numpy()
  assert set(np.unique(good)) == {1, 2}
  assert _binomial_ok((good == 1).sum(), n, 0.5)
  np.testing.assert_array_equal(obs['state'], 0)
  np.testing.assert_array_equal(obs['episode_step'], 0)
  # Successive episodes of one environment draw it afresh.
  env = environments.make_environment('two_step', seed=7, num_trials=1)
  goods = []
  for _ in range(200):
    env.reset()
    goods.append(env.task_info()['good_state'])
    env.step(0)
  assert _binomial_ok(np.sum(np.array(goods) == 1), 200, 0.5)


def _run_good_states(core, batch_size, num_steps, seed):
  """good_state before every step [T + 1, B], the states and the rewards."""
  key = core_lib.make_key(seed)
  state, _ = core.reset(key, batch_size)
  good, states, rewards, probs = [state.good_state.numpy()], [], [], []
  step = tf.function(core.step)
  for t in range(num_steps):
    action = tf.random.stateless_uniform([batch_size], core_lib.fold_in(key, t),
                                         0, 2, dtype=tf.int32)
    states.append(state.state.numpy())
    state, out = step(core_lib.fold_in(key, t + 1), state, action)
    good.append(state.good_state.numpy())
    rewards.append(out.reward.numpy())
    probs.append(out.info['reward_probs'].numpy())
  return np.array(good), np.array(states), np.array(rewards), np.array(probs)


@pytest.mark.parametrize('swap_prob', [0.0, 0.1])
def test_swaps_happen_at_rate_swap_prob_per_trial(swap_prob):
  core = TwoStepTask(num_trials=40, swap_prob=swap_prob)
  good, states, rewards, probs = _run_good_states(core, 1000, 40, seed=5)
  changed = good[1:] != good[:-1]  # [T, B]
  second_stage = states != 0
  assert not changed[~second_stage].any()  # Never within a trial.
  num_trials = second_stage.sum()
  assert num_trials == 1000 * 20
  if swap_prob == 0.0:
    assert not changed.any()
  else:
    assert _binomial_ok(changed.sum(), num_trials, swap_prob)
  # Rewards follow the current (possibly swapped) probabilities.
  p = np.take_along_axis(probs, np.maximum(states - 1, 0)[..., None],
                         axis=-1)[..., 0][second_stage].astype(np.float64)
  r = rewards[second_stage]
  z = (r.sum() - p.sum()) / np.sqrt(np.sum(p * (1 - p)))
  assert abs(z) < 4.0
  assert not rewards[~second_stage].any()


# ---------------------------------------------------------- graph and XLA


def _run_autoreset(core, seed, batch_size, num_steps):
  """Unrolls `core` with step_autoreset in a tf.while_loop."""
  key = core_lib.make_key(seed)
  state, _ = core.reset(key, batch_size)

  def body(t, state, total, first_stage_reward, episodes, max_state):
    step_key = core_lib.fold_in(key, t + 1)
    action = tf.random.stateless_uniform([batch_size], step_key, 0,
                                         core.num_actions, dtype=tf.int32)
    state, out = core_lib.step_autoreset(core, step_key, state, action)
    at_first = tf.cast(tf.equal(out.info['state'], 0), tf.float32)
    return (t + 1, state, total + tf.reduce_sum(out.reward),
            first_stage_reward + tf.reduce_sum(out.reward * at_first),
            episodes + tf.reduce_sum(tf.cast(out.last, tf.int32)),
            tf.maximum(max_state, tf.reduce_max(out.observation['state'])))

  _, _, *results = tf.while_loop(
      lambda t, *_: t < num_steps, body,
      (tf.constant(0), state, tf.constant(0.0), tf.constant(0.0),
       tf.constant(0), tf.constant(0)))
  return results


@pytest.mark.parametrize('swap_prob', [0.0, 0.2])
def test_runs_in_tf_function_and_under_xla(swap_prob):
  core = environments.make_core('two_step', num_trials=3, swap_prob=swap_prob)
  batch_size, num_steps = 16, 40
  results = traces.run_with_and_without_xla(
      lambda: _run_autoreset(core, 4, batch_size, num_steps))
  for total, first_stage_reward, episodes, max_state in results.values():
    assert episodes == batch_size * (num_steps // 6)
    assert first_stage_reward == 0.0 and max_state == 2
    assert 0.0 < total <= batch_size * num_steps / 2
