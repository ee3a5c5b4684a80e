"""The batched Gymnasium VectorEnv (`environments.gym_vector`): Gymnasium's
registration and checks, step-by-step agreement with the single-env face and
with the core, NEXT_STEP autoreset at episode ends, info as Gymnasium's
vector envs lay it out, seeding, refused actions, and the previous
action/reward wrapper."""

import numpy as np
import pytest
import tensorflow as tf
import tree

gymnasium = pytest.importorskip('gymnasium')
from gymnasium.vector import AutoresetMode, VectorEnv  # pylint: disable=g-import-not-at-top

import environments  # pylint: disable=g-import-not-at-top
from environments import core as core_lib  # pylint: disable=g-import-not-at-top
from environments import gym_adapter  # pylint: disable=g-import-not-at-top
from environments import gym_vector  # pylint: disable=g-import-not-at-top

TASK_IDS = gym_adapter.TASK_IDS
# Short episodes of every task (the pixel tasks end by a frame count).
KWARGS = {
    'harlow': {'resolution': 16, 'num_images': 10, 'max_steps': 15},
    'imaze': {'resolution': 16, 'episode_frames': 12},
}
SHORT = {'num_trials': 4}  # bandits and the two-step task


def _kwargs(task):
  if task in KWARGS:
    return KWARGS[task]
  return SHORT


def _make_vec(env_id, num_envs, **kwargs):
  task = TASK_IDS[env_id]
  return gymnasium.make_vec(env_id, num_envs=num_envs,
                            vectorization_mode='vector_entry_point',
                            **{**_kwargs(task), **kwargs})


def _single_infos(vec, infos_list):
  """The vector info Gymnasium would build from per-env infos."""
  out = {}
  for i, info in enumerate(infos_list):
    out = VectorEnv._add_info(vec, out, info, i)  # pylint: disable=protected-access
  return out


def _in_space(envs, obs):
  """Core observations as members of the vector env's observation space."""
  return {k: v.numpy().astype(envs.observation_space[k].dtype)
          for k, v in obs.items()}


def _assert_same(a, b, path=''):
  if isinstance(a, dict):
    assert set(a) == set(b), (path, sorted(a), sorted(b))
    for k in a:
      _assert_same(a[k], b[k], f'{path}/{k}')
  else:
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, (path, a.dtype, b.dtype,
                                                       a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=path)


@pytest.mark.parametrize('env_id', sorted(TASK_IDS))
def test_make_vec_gives_the_batched_env_with_its_spaces(env_id):
  envs = _make_vec(env_id, 3)
  single = gymnasium.make(env_id, **_kwargs(TASK_IDS[env_id]))
  assert isinstance(envs.unwrapped, gym_vector.TaskVectorEnv)
  assert envs.num_envs == 3
  assert envs.metadata['autoreset_mode'] == AutoresetMode.NEXT_STEP
  assert envs.single_observation_space == single.observation_space
  assert envs.single_action_space == single.action_space
  assert envs.observation_space == gymnasium.vector.utils.batch_space(
      single.observation_space, 3)
  obs, _ = envs.reset(seed=1)
  assert envs.observation_space.contains(obs)
  for _ in range(3):
    obs, reward, terminated, truncated, _ = envs.step(
        envs.action_space.sample())
    assert envs.observation_space.contains(obs)
    assert reward.shape == (3,) and reward.dtype == np.float32
    assert terminated.dtype == bool and truncated.dtype == bool


@pytest.mark.parametrize('env_id', sorted(TASK_IDS))
def test_sub_env_0_agrees_with_the_single_env_face(env_id):
  """Sub-environment 0 of `reset(seed=s)` plays the single face's episodes
  after `reset(seed=s)`, across episode ends (NEXT_STEP: the step after an
  end is the single face's `reset()`), observations, rewards, flags and
  info; every sub-env's info is laid out as `VectorEnv._add_info` does."""
  task = TASK_IDS[env_id]
  envs = _make_vec(env_id, 4)
  single = gymnasium.make(env_id, **_kwargs(task))
  rng = np.random.default_rng(3)
  obs, info = envs.reset(seed=11)
  s_obs, s_info = single.reset(seed=11)
  _assert_same({k: v[0] for k, v in obs.items()}, s_obs)
  steps, episodes, single_done = 0, 0, False
  while episodes < 2 and steps < 300:
    actions = rng.integers(envs.single_action_space.n, size=4)
    obs, reward, terminated, truncated, info = envs.step(actions)
    steps += 1
    if single_done:  # the single face's next call is its reset
      s_obs, s_info = single.reset()
      s_reward, s_term, s_trunc = 0.0, False, False
      single_done = False
    else:
      s_obs, s_reward, s_term, s_trunc, s_info = single.step(int(actions[0]))
      single_done = s_term or s_trunc
      episodes += single_done
    _assert_same({k: v[0] for k, v in obs.items()}, s_obs)
    assert reward[0] == np.float32(s_reward)
    assert (terminated[0], truncated[0]) == (s_term, s_trunc)
    # Info: sub-env 0's entries are the single face's, masks as Gymnasium's.
    expected = _single_infos(envs.unwrapped, [s_info])
    first = lambda nest: tree.map_structure(lambda x: np.asarray(x)[:1], nest)
    for key in expected:
      _assert_same(first(info[key]), first(expected[key]), key)
    for key in set(info) - set(expected):  # other sub-envs' entries only
      assert key.startswith('_') or not info[f'_{key}'][0], key
  assert episodes == 2


def test_the_batch_is_the_core_stepped_with_the_face_key_schedule():
  """Every sub-environment (not only the first) is the core's batch element,
  reset and stepped with `fold_in(make_key(seed), n)` at the n-th call."""
  core = environments.make_core('two_step', num_trials=3)
  envs = gym_vector.CoreVectorEnv(core, 5)
  root = core_lib.make_key(21)
  obs, _ = envs.reset(seed=21)
  state, want = core.reset(core_lib.fold_in(root, 0), 5)
  _assert_same(obs, _in_space(envs, want))
  rng = np.random.default_rng(0)
  for n in range(1, 6):  # within the first episode (6 steps)
    actions = rng.integers(core.num_actions, size=5)
    obs, reward, terminated, _, _ = envs.step(actions)
    state, out = core.step(core_lib.fold_in(root, n), state,
                           tf.constant(actions, tf.int32))
    np.testing.assert_array_equal(reward, out.reward.numpy())
    np.testing.assert_array_equal(terminated, out.last.numpy())
    _assert_same(obs, _in_space(envs, out.observation))


def test_next_step_autoreset_at_episode_ends():
  """A bandit of 4 trials: every sub-env ends at step 4 (terminated, discount
  0, metrics present), then step 5 ignores the actions and returns the new
  episodes' first observation with reward 0, no flags and no metrics."""
  envs = gym_vector.TaskVectorEnv('independent', 6, num_trials=4)
  obs, info = envs.reset(seed=0)
  first_probs = info['task_info']['arm_probs'].copy()
  for t in range(1, 5):
    obs, reward, terminated, truncated, info = envs.step(np.ones(6, int))
    assert np.all(terminated == (t == 4)) and not truncated.any()
    assert info['_metrics'].all() and info['metrics']['regret'].shape == (6,)
    np.testing.assert_array_equal(info['discount'], 0.0 if t == 4 else 1.0)
  assert np.all(obs['episode_step'] == 3)
  obs, reward, terminated, truncated, info = envs.step(np.full(6, 7 % 2))
  assert np.all(obs['episode_step'] == 0)
  assert not reward.any() and not terminated.any() and not truncated.any()
  assert not info['_metrics'].any() and not info['_discount'].any()
  assert info['_task_info'].all()
  assert not np.allclose(info['task_info']['arm_probs'], first_probs)
  # The new episodes run their full length again.
  for t in range(1, 5):
    _, _, terminated, _, _ = envs.step(np.zeros(6, int))
    assert np.all(terminated == (t == 4))


def test_regret_in_info_is_the_bandit_truth():
  envs = gym_vector.TaskVectorEnv('independent', 64, num_trials=5)
  _, info = envs.reset(seed=4)
  probs = info['task_info']['arm_probs']
  actions = np.random.default_rng(1).integers(2, size=64)
  _, _, _, _, step_info = envs.step(actions)
  np.testing.assert_allclose(
      step_info['metrics']['regret'],
      probs.max(1) - probs[np.arange(64), actions], atol=1e-6)


def test_seeding_is_reproducible_and_seeds_differ():
  def play(seed, n=20):
    envs = gym_vector.TaskVectorEnv('two_step', 8, num_trials=5)
    out = [envs.reset(seed=seed)[0]['state']]
    rng = np.random.default_rng(0)
    for _ in range(n):
      obs, reward, *_ = envs.step(rng.integers(2, size=8))
      out += [obs['state'], reward]
    return np.concatenate([np.ravel(x).astype(float) for x in out])

  np.testing.assert_array_equal(play(5), play(5))
  assert not np.array_equal(play(5), play(6))


def test_unseeded_reset_draws_a_seed_then_continues():
  envs = gym_vector.TaskVectorEnv('independent', 4, num_trials=3)
  envs.reset()
  a = envs.reset()[1]['task_info']['arm_probs']
  b = envs.reset()[1]['task_info']['arm_probs']
  assert not np.allclose(a, b)  # fresh episodes on the same stream


@pytest.mark.parametrize('actions, message', [
    (np.zeros(3, int), 'shape (4,)'),
    (np.zeros((4, 1), int), 'shape (4,)'),
    (np.array([0, 1, 2, 0]), 'in [0, 1]'),
    (np.array([0, -1, 0, 0]), 'in [0, 1]'),
    (np.array([0.5, 0, 0, 0]), 'integers'),
    (np.array(['a'] * 4), 'integers'),
])
def test_bad_actions_are_refused_before_any_work(actions, message):
  envs = gym_vector.TaskVectorEnv('independent', 4, num_trials=3)
  envs.reset(seed=0)
  with pytest.raises(ValueError, match=message.replace('(', r'\(').replace(
      ')', r'\)').replace('[', r'\[').replace(']', r'\]')):
    envs.step(actions)
  # Nothing moved: the next good step is the first of the episode.
  obs, *_ = envs.step(np.zeros(4, int))
  assert np.all(obs['episode_step'] == 1)


def test_step_before_reset_and_bad_arguments():
  envs = gym_vector.TaskVectorEnv('independent', 2, num_trials=3)
  with pytest.raises(gymnasium.error.ResetNeeded):
    envs.step(np.zeros(2, int))
  with pytest.raises(ValueError, match='num_envs'):
    gym_vector.TaskVectorEnv('independent', 0)
  with pytest.raises(ValueError, match='render_mode'):
    gym_vector.TaskVectorEnv('independent', 2, render_mode='rgb_array')
  with pytest.raises(ValueError):
    gym_vector.TaskVectorEnv('bogus', 2)


def test_render_gives_the_batch_of_frames():
  envs = gym_vector.TaskVectorEnv('harlow', 3, render_mode='rgb_array',
                                  **KWARGS['harlow'])
  obs, _ = envs.reset(seed=0)
  frames = envs.render()
  assert frames.shape == (3, 16, 16, 3) and frames.dtype == np.uint8
  np.testing.assert_array_equal(frames, obs['pixels'])


def test_xla_is_reproducible():
  def play():
    envs = gym_vector.TaskVectorEnv('two_step', 4, num_trials=3,
                                    jit_compile=True)
    envs.reset(seed=2)
    return [envs.step(np.array([0, 1, 0, 1]))[1] for _ in range(8)]

  np.testing.assert_array_equal(play(), play())


def test_previous_action_reward_wrapper():
  envs = gym_vector.PreviousActionReward(
      gym_vector.TaskVectorEnv('independent', 3, num_trials=2))
  obs, _ = envs.reset(seed=0)
  assert envs.observation_space.contains(obs)
  assert list(obs['prev_action']) == [0, 0, 0]
  assert list(obs['prev_reward']) == [0, 0, 0]
  actions = np.array([1, 0, 1])
  obs, reward, *_ = envs.step(actions)
  np.testing.assert_array_equal(obs['prev_action'], actions)
  np.testing.assert_array_equal(obs['prev_reward'], reward)
  obs, reward, terminated, *_ = envs.step(np.array([0, 1, 1]))
  assert terminated.all()  # the episodes of 2 trials ended
  obs, *_ = envs.step(np.array([1, 1, 1]))  # the autoreset step
  assert list(obs['prev_action']) == [0, 0, 0]
  assert list(obs['prev_reward']) == [0, 0, 0]
  assert envs.observation_space.contains(obs)


def test_the_numpy_example_learns():
  """docs/examples/vector_ucb_bandits.py: UCB1 through the wrapper's
  previous action and reward beats random play by far."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
      __file__))), 'docs', 'examples', 'vector_ucb_bandits.py')
  spec = importlib.util.spec_from_file_location('vector_ucb_bandits', path)
  example = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(example)
  envs = gym_vector.PreviousActionReward(
      gym_vector.TaskVectorEnv('independent', 256, num_trials=100))
  random_regret = example.play(envs, example.random_policy, 1, seed=0)
  ucb_regret = example.play(envs, example.ucb1, 1, seed=0)
  assert 14 < random_regret < 20  # chance: 100 * E|p1 - p2| / 2 = 16.7
  assert ucb_regret < 0.5 * random_regret
