"""The Gymnasium face (`environments.gym_adapter`): Gymnasium's env checker on
every registered id, the id table against `environments.TASKS`, seeding,
agreement with the dm_env face step by step, ground truth in `info`, episode
ends, spaces, rendering, vector environments, a user's own dm_env task, and
`environments` importing without Gymnasium."""

import os
import re
import subprocess
import sys
import warnings

import dm_env
from dm_env import specs
import numpy as np
import pytest

gymnasium = pytest.importorskip('gymnasium')
from gymnasium import spaces  # pylint: disable=g-import-not-at-top
from gymnasium.utils import env_checker  # pylint: disable=g-import-not-at-top

import environments  # pylint: disable=g-import-not-at-top
from environments import gym_adapter  # pylint: disable=g-import-not-at-top

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASK_IDS = gym_adapter.TASK_IDS
# Small renders and short episodes keep the pixel tasks at seconds (their
# episodes end by a frame count: Harlow's step limit, the maze's length).
KWARGS = {
    'harlow': {'resolution': 16, 'num_images': 10, 'max_steps': 15},
    'imaze': {'resolution': 16, 'episode_frames': 12},
}


def _make(env_id, **kwargs):
  return gymnasium.make(env_id, **{**KWARGS.get(TASK_IDS[env_id], {}), **kwargs})


def _gym_warnings(caught):
  """Gymnasium's own warnings (its logger prefixes them with 'WARN:')."""
  return [str(w.message) for w in caught if 'WARN:' in str(w.message)]


def _play(env, seed, actions):
  """Plays `actions` from `reset(seed=seed)`, starting the next episodes with
  `reset()`; returns every (obs, reward, terminated, truncated, info)."""
  obs, info = env.reset(seed=seed)
  records = [(obs, None, False, False, info)]
  for a in actions:
    if records[-1][2] or records[-1][3]:
      obs, info = env.reset()
      records.append((obs, None, False, False, info))
    records.append(env.step(a))
  return records


def _actions(env_id, n, seed=0):
  num_actions = _make(env_id).action_space.n
  return [int(a) for a in np.random.default_rng(seed).integers(num_actions, size=n)]


# ------------------------------------------------------------------ the ids


def test_ids_cover_every_task():
  assert sorted(TASK_IDS.values()) == sorted(environments.TASKS)
  for env_id, task in TASK_IDS.items():
    assert re.fullmatch(r'meta_rl/[A-Za-z]+-v0', env_id), env_id
    spec = gymnasium.spec(env_id)
    assert spec.kwargs == {'task': task}
    # The tasks end themselves: no TimeLimit.
    assert spec.max_episode_steps is None
    assert isinstance(_make(env_id).unwrapped, gym_adapter.TaskEnv)


def test_registering_again_changes_nothing():
  before = {env_id: gymnasium.spec(env_id) for env_id in TASK_IDS}
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    gym_adapter.register()
  assert not _gym_warnings(caught)
  assert all(gymnasium.spec(env_id) is before[env_id] for env_id in TASK_IDS)


@pytest.mark.parametrize('env_id', sorted(TASK_IDS))
def test_gymnasium_env_checker(env_id):
  env = _make(env_id)
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    # The made env (its PassiveEnvChecker sees the first reset and step) ...
    env.reset(seed=0)
    env.step(env.action_space.sample())
    # ... and the env itself, as check_env asks (it also makes the id again
    # for every render mode the env declares, and closes it twice).
    env_checker.check_env(env.unwrapped)
  assert not _gym_warnings(caught)


def test_spaces():
  bandit = _make('meta_rl/IndependentBandit-v0', num_trials=7)
  assert bandit.observation_space == spaces.Dict(
      {'episode_step': spaces.Box(0, 6, (), np.int32)})
  assert bandit.action_space == spaces.Discrete(2)
  two_step = _make('meta_rl/TwoStep-v0', num_trials=4)
  assert two_step.observation_space == spaces.Dict({
      'state': spaces.Discrete(3),
      'episode_step': spaces.Box(0, 7, (), np.int32)})
  assert list(two_step.observation_space.spaces) == ['state', 'episode_step']
  assert _make('meta_rl/InformativeBandit-v0').action_space == spaces.Discrete(11)
  for env_id, num_actions in [('meta_rl/Harlow-v0', 3), ('meta_rl/IMaze-v0', 6)]:
    env = _make(env_id)
    assert env.observation_space == spaces.Dict(
        {'pixels': spaces.Box(0, 255, (16, 16, 3), np.uint8)})
    assert env.action_space == spaces.Discrete(num_actions)


def test_spec_to_space_by_hand():
  to_space = gym_adapter.spec_to_space
  assert to_space(specs.Array((2,), np.float32)) == spaces.Box(
      -np.inf, np.inf, (2,), np.float32)
  assert to_space(specs.Array((), np.int16)) == spaces.Box(-32768, 32767, (),
                                                          np.int16)
  assert to_space(specs.Array((3,), bool)) == spaces.Box(0, 1, (3,), bool)
  assert to_space(specs.BoundedArray((2,), np.float64, [0.0, -1.0], 1.0)) == (
      spaces.Box(np.array([0.0, -1.0]), np.array([1.0, 1.0]), (2,), np.float64))
  assert to_space(specs.DiscreteArray(4)) == spaces.Discrete(4)
  nest = [specs.DiscreteArray(2), {'x': specs.Array((), np.float32)}]
  assert to_space(nest) == spaces.Tuple([
      spaces.Discrete(2),
      spaces.Dict({'x': spaces.Box(-np.inf, np.inf, (), np.float32)})])
  with pytest.raises(ValueError, match='no Gymnasium space'):
    to_space(specs.StringArray(()))


# ------------------------------------------------------------------- seeding


@pytest.mark.parametrize('env_id', sorted(TASK_IDS))
def test_same_seed_same_trajectories(env_id):
  actions = _actions(env_id, 30)
  first = _play(_make(env_id), 7, actions)
  env = _make(env_id)
  _play(env, 3, actions[:5])  # another seed first: reseeding rebuilds the stream
  assert env_checker.data_equivalence(_play(env, 7, actions), first, exact=True)
  assert env_checker.data_equivalence(_play(_make(env_id), 7, actions), first,
                                      exact=True)


def test_reset_without_seed_continues_the_stream():
  env = _make('meta_rl/IndependentBandit-v0', num_trials=3)
  probs = [env.reset(seed=4)[1]['task_info']['arm_probs']]
  probs += [env.reset()[1]['task_info']['arm_probs'] for _ in range(3)]
  # Fresh episodes, as the dm_env face draws them from seed 4.
  face = environments.make_environment('independent', seed=4, num_trials=3)
  for p in probs:
    face.reset()
    np.testing.assert_array_equal(p, face.task_info()['arm_probs'])
  assert len({tuple(p) for p in probs}) == 4
  # A first reset without a seed draws one: two such envs differ.
  unseeded = [tuple(_make('meta_rl/IndependentBandit-v0').reset()[1]['task_info']
                    ['arm_probs']) for _ in range(2)]
  assert unseeded[0] != unseeded[1]


# ------------------------------------------------------ the dm_env face agrees


@pytest.mark.parametrize('env_id', sorted(TASK_IDS))
def test_agrees_with_dm_env_face(env_id):
  task = TASK_IDS[env_id]
  env = _make(env_id)
  face = environments.make_environment(task, seed=11, **KWARGS.get(task, {}))
  episode_length = env.unwrapped.core.episode_length
  actions = _actions(env_id, 2 * episode_length + 3, seed=1)
  obs, info = env.reset(seed=11)
  timestep = face.reset()
  ends = 0
  for a in actions:
    for k, v in timestep.observation.items():
      np.testing.assert_array_equal(obs[k], v, err_msg=k)
      assert obs[k].dtype == env.observation_space[k].dtype
    assert env_checker.data_equivalence(info['task_info'], face.task_info(),
                                        exact=True)
    if timestep.last():
      obs, info = env.reset()
      timestep = face.reset()
      continue
    obs, reward, terminated, truncated, info = env.step(a)
    timestep = face.step(a)
    assert reward == timestep.reward and isinstance(reward, float)
    assert info['discount'] == timestep.discount
    assert (terminated, truncated) == (timestep.last(), False)
    assert env_checker.data_equivalence(info['metrics'], face.step_metrics(),
                                        exact=True)
    ends += terminated
  assert ends == 2


def test_bandit_ground_truth_in_info():
  env = _make('meta_rl/IndependentBandit-v0', num_trials=20)
  face = environments.make_environment('independent', seed=2, num_trials=20)
  _, info = env.reset(seed=2)
  face.reset()
  probs = info['task_info']['arm_probs']
  np.testing.assert_array_equal(probs, face.task_info()['arm_probs'])
  for a in [0, 1] * 10:
    _, _, _, _, info = env.step(a)
    face.step(a)
    # The episode's arms, and the expected regret of the pull by hand.
    np.testing.assert_array_equal(info['task_info']['arm_probs'], probs)
    assert info['metrics']['regret'] == pytest.approx(max(probs) - probs[a])
    assert info['metrics']['suboptimal'] == float(probs[a] < max(probs))
    assert info['metrics'] == face.step_metrics()


def test_info_is_fresh_data():
  env = _make('meta_rl/IndependentBandit-v0')
  _, info = env.reset(seed=0)
  info['task_info']['arm_probs'][:] = -1.0
  _, _, _, _, info = env.step(0)
  assert np.all(info['task_info']['arm_probs'] >= 0.0)


# -------------------------------------------------------------- episode ends


def test_independent_bandit_terminates_after_num_trials():
  env = gymnasium.make('meta_rl/IndependentBandit-v0')
  assert env.unwrapped.core.num_trials == 100
  obs, _ = env.reset(seed=5)
  assert obs['episode_step'] == 0
  for t in range(1, 101):
    obs, _, terminated, truncated, info = env.step(t % 2)
    assert (terminated, truncated) == (t == 100, False), t
    assert obs['episode_step'] == min(t, 99)
  assert info['discount'] == 0.0
  with pytest.raises(gymnasium.error.ResetNeeded):
    env.step(0)
  obs, _ = env.reset()
  assert obs['episode_step'] == 0


@pytest.mark.parametrize('env_id,kwargs,length', [
    ('meta_rl/Harlow-v0', {}, 15),  # its step limit: before any selection
    ('meta_rl/IMaze-v0', {}, 12),
    ('meta_rl/IMaze-v0', {'action_repeat': 4}, 3),  # 12 frames in decisions
])
def test_pixel_tasks_end_by_frames_terminated(env_id, kwargs, length):
  env = _make(env_id, **kwargs)
  env.reset(seed=0)
  frames = 0
  for t in range(1, length + 1):
    _, _, terminated, truncated, info = env.step(0)
    frames += info['metrics']['frames']
    assert (terminated, truncated) == (t == length, False)
  assert frames == (12 if 'IMaze' in env_id else 15)
  if 'Harlow' in env_id:
    assert info['task_info']['trial'] < env.unwrapped.core.config.num_trials


@pytest.mark.parametrize('env_id', sorted(TASK_IDS))
def test_observations_in_space_for_a_random_episode(env_id):
  env = _make(env_id)
  env.action_space.seed(3)
  obs, _ = env.reset(seed=3)
  assert env.observation_space.contains(obs)
  steps, done = 0, False
  while not done:
    obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs), (steps, obs)
    done = terminated or truncated
    steps += 1
  assert steps == env.unwrapped.core.episode_length


# ----------------------------------------------------------------- rendering


def test_render_pixel_tasks():
  env = _make('meta_rl/Harlow-v0', render_mode='rgb_array', action_repeat=4)
  assert env.unwrapped.metadata == {'render_modes': ['rgb_array'],
                                    'render_fps': 15.0}
  obs, _ = env.reset(seed=0)
  frame = env.render()
  assert frame.dtype == np.uint8 and frame.shape == (16, 16, 3)
  np.testing.assert_array_equal(frame, obs['pixels'])
  frame[:] = 0  # a copy: the next render is untouched
  np.testing.assert_array_equal(env.render(), obs['pixels'])
  for a in [0, 1, 2]:
    obs, *_ = env.step(a)
    np.testing.assert_array_equal(env.render(), obs['pixels'])
  maze = _make('meta_rl/IMaze-v0')
  maze.reset(seed=0)
  assert maze.render() is None  # render_mode None


def test_render_mode_needs_pixels():
  with pytest.raises(ValueError, match='render_mode'):
    gymnasium.make('meta_rl/TwoStep-v0', render_mode='rgb_array')
  assert _make('meta_rl/TwoStep-v0').unwrapped.metadata['render_modes'] == []


def test_bad_task_kwargs():
  with pytest.raises(ValueError, match='num_trials'):
    gymnasium.make('meta_rl/TwoStep-v0', num_trials=0)
  with pytest.raises(ValueError, match='independent'):
    gymnasium.make('meta_rl/IndependentBandit-v0', no_such_argument=1)


def test_vector_env():
  envs = gymnasium.make_vec('meta_rl/TwoStep-v0', num_envs=3,
                            vectorization_mode='sync', num_trials=2)
  obs, info = envs.reset(seed=0)
  assert obs['state'].shape == (3,)
  assert info['task_info']['reward_probs'].shape == (3, 2)
  for _ in range(4):
    obs, rewards, terminated, truncated, info = envs.step(np.array([0, 1, 0]))
  assert rewards.shape == (3,) and info['metrics']['trials'].shape == (3,)
  assert terminated.all() and not truncated.any()  # 2 trials = 4 steps
  envs.close()


# -------------------------------------------------------- a user's dm_env task


class _Corridor(dm_env.Environment):
  """A user's task: walk right along a corridor of `length` cells to a reward
  (termination); `max_steps` steps end it by truncation (discount 1). The
  observation holds a seeded float noise and an unbounded int count."""

  def __init__(self, seed: int, length: int = 4, max_steps: int = 6):
    self._rng = np.random.default_rng(seed)
    self._length, self._max_steps = length, max_steps
    self._position = self._steps = 0

  def _observation(self):
    return {'position': np.int32(self._position),
            'noise': self._rng.normal(size=2).astype(np.float32),
            'count': np.int64(self._steps)}

  def reset(self):
    self._position = self._steps = 0
    return dm_env.restart(self._observation())

  def step(self, action):
    self._position = max(0, self._position + (1 if action == 1 else -1))
    self._steps += 1
    if self._position == self._length - 1:
      return dm_env.termination(1.0, self._observation())
    if self._steps == self._max_steps:
      return dm_env.truncation(0.0, self._observation())
    return dm_env.transition(0.0, self._observation())

  def observation_spec(self):
    return {'position': specs.BoundedArray((), np.int32, 0, self._length - 1),
            'noise': specs.Array((2,), np.float32),
            'count': specs.Array((), np.int64)}

  def action_spec(self):
    return specs.DiscreteArray(2, name='action')


def test_user_dm_env_from_a_factory():
  env = gym_adapter.DmEnvAdapter(_Corridor)
  assert env.observation_space == spaces.Dict({
      'position': spaces.Box(0, 3, (), np.int32),
      'noise': spaces.Box(-np.inf, np.inf, (2,), np.float32),
      'count': spaces.Box(np.iinfo(np.int64).min, np.iinfo(np.int64).max, (),
                          np.int64)})
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    env_checker.check_env(env)
  # Only the unbounded float noise draws a warning; no spec: no render modes
  # to try.
  assert all('infinity' in m or 'spec' in m for m in _gym_warnings(caught)), (
      _gym_warnings(caught))
  # Seeded: the factory's environment with that seed.
  obs, info = env.reset(seed=9)
  assert info == {}
  np.testing.assert_array_equal(obs['noise'],
                                _Corridor(9).reset().observation['noise'])
  assert not np.array_equal(env.reset(seed=10)[0]['noise'], obs['noise'])
  # Walking right terminates, with the reward.
  env.reset(seed=9)
  records = [env.step(1) for _ in range(3)]
  assert [r[1:4] for r in records] == [(0.0, False, False), (0.0, False, False),
                                       (1.0, True, False)]
  assert records[-1][4] == {'discount': 0.0}
  # Walking left is cut off by its step limit: truncated, discount 1.
  env.reset()
  records = [env.step(0) for _ in range(6)]
  assert records[-1][2:4] == (False, True) and records[-1][4]['discount'] == 1.0
  assert all(env.observation_space.contains(r[0]) for r in records)


class _CorridorWithTruth(_Corridor):
  """The corridor offering ground truth and metrics the way `CoreEnvironment`
  does, from objects it keeps (so the adapter must copy them)."""

  def __init__(self, seed: int):
    super().__init__(seed)
    self._truth = {'goal': np.array([3])}
    self._metrics = {'distance': np.float32(0.0)}

  def task_info(self):
    return self._truth

  def step_metrics(self):
    self._metrics['distance'] = np.float32(3 - self._position)
    return self._metrics


def test_user_dm_env_ground_truth():
  env = gym_adapter.DmEnvAdapter(_CorridorWithTruth)
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    env_checker.check_env(env)  # also: no two calls share info data
  assert all('infinity' in m or 'spec' in m for m in _gym_warnings(caught))
  _, info = env.reset(seed=0)
  assert info == {'task_info': {'goal': np.array([3])}}
  info['task_info']['goal'][0] = -1
  _, _, _, _, info = env.step(1)
  assert info['task_info']['goal'][0] == 3
  assert info['metrics'] == {'distance': 2.0} and info['discount'] == 1.0


def test_user_dm_env_instance():
  corridor = _Corridor(seed=0)
  env = gym_adapter.DmEnvAdapter(corridor)
  assert env.environment is corridor
  with pytest.raises(gymnasium.error.ResetNeeded):
    env.step(1)
  obs, _ = env.reset()
  assert obs['position'] == 0
  with pytest.raises(ValueError, match='not in'):
    env.step(2)
  with pytest.raises(ValueError, match='reseeded'):
    env.reset(seed=1)
  with pytest.raises(ValueError, match='options'):
    env.reset(options={'start': 2})
  with pytest.raises(ValueError, match='render_mode'):
    gym_adapter.DmEnvAdapter(corridor, render_mode='rgb_array')
  with pytest.raises(TypeError, match='factory'):
    gym_adapter.DmEnvAdapter(3)


# -------------------------------------------------- optional, and module:id


def test_environments_without_gymnasium_and_module_id_syntax():
  code = '\n'.join([
      'import sys',
      "sys.modules['gymnasium'] = None  # as if it were not installed",
      'import environments, importlib, pkgutil',
      '# every module of the package but the Gymnasium faces works without it',
      'for m in pkgutil.iter_modules(environments.__path__):',
      "  if m.name not in ('gym_adapter', 'gym_vector'):",
      "    importlib.import_module('environments.' + m.name)",
      "environments.make_environment('two_step', seed=0).reset()",
      "assert not [m for m in sys.modules",
      "            if m.startswith('gymnasium') and sys.modules[m]]",
      "del sys.modules['gymnasium']",
      'import gymnasium',
      "env = gymnasium.make('environments.gym_adapter:meta_rl/TwoStep-v0',",
      "                     num_trials=2)",
      'obs, info = env.reset(seed=0)',
      "print(sorted(obs), sorted(info['task_info']))",
  ])
  out = subprocess.run([sys.executable, '-c', code], cwd=ROOT,
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONPATH=ROOT))
  assert out.returncode == 0, out.stderr[-3000:]
  assert out.stdout.split('\n')[-2] == (
      "['episode_step', 'state'] ['good_state', 'reward_probs', 'state']")


def test_action_repeat_below_one_is_refused():
  """Issue 26, item 11: not silently taken as 1."""
  import gymnasium  # pylint: disable=g-import-not-at-top
  for bad in (0, -2, 1.5):
    with pytest.raises(ValueError, match='action_repeat must be an integer'):
      gymnasium.make('meta_rl/IndependentBandit-v0', action_repeat=bad)
