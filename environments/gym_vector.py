"""Batched Gymnasium `VectorEnv`s over the in-graph cores, for any framework.

`CoreVectorEnv` steps `num_envs` episodes of a `BatchedCore` together with
the core's own batched `step`, compiled once (`tf.function`; XLA with
`jit_compile=True`), NumPy arrays in and out; `TaskVectorEnv` is a task of
`environments.TASKS` through it. Importing `environments.gym_adapter`
registers each task's id with this class as its vector entry point:

    import gymnasium
    import environments.gym_adapter  # registers the meta_rl/ ids
    envs = gymnasium.make_vec('meta_rl/TwoStep-v0', num_envs=256,
                              vectorization_mode='vector_entry_point')
    obs, info = envs.reset(seed=0)
    obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())

The conventions, those of `gymnasium.vector` (1.x):

  spaces             `single_observation_space` and `single_action_space` as
                     the single-env face (`gym_adapter.TaskEnv`) has them;
                     `observation_space` and `action_space` their batches
                     (`gymnasium.vector.utils.batch_space`: a `Discrete`
                     becomes `MultiDiscrete`, a `Box` gains a leading axis).
  autoreset          `AutoresetMode.NEXT_STEP` (Gymnasium's default; in
                     `metadata['autoreset_mode']`): the step after an episode
                     of sub-environment i ended (terminated or truncated)
                     resets it, ignoring its action, and returns the new
                     episode's first observation with reward 0 and neither
                     flag set.
  seeding            `reset(seed=s)` makes the run reproducible: the n-th call
                     to `reset` or `step` draws with the key
                     `core.fold_in(core.make_key(s), n)`, the schedule of the
                     single-env face, and sub-environment 0 plays exactly the
                     episodes that the single-env face plays after
                     `reset(seed=s)` given the same actions (the cores draw
                     element 0 of a batch as they draw a batch of one; the
                     other sub-environments are further independent episodes
                     of the same key). `reset()` without a seed draws one
                     from `np_random` the first time and then starts fresh
                     episodes on the stream. With `jit_compile=True` XLA draws
                     other random numbers for the same key: reproducible, but
                     not equal to the single-env face.
  info               the single-env face's info, vectorised as Gymnasium's
                     vector envs do it (`VectorEnv._add_info`): each key holds
                     an array over sub-environments with a boolean mask
                     `_key`; `task_info` (the ground truth of the state the
                     next action acts on, e.g. `arm_probs` [N, A]), and, for
                     sub-environments that stepped (not those just reset),
                     `metrics` (the step's measures, e.g. `regret` [N]) and
                     `discount` [N].
  actions            an integer array of shape (num_envs,) inside the action
                     space; anything else raises ValueError before any work.

Every task ends its episodes with discount 0 (`terminated`); `truncated` is
set where a core ends an episode with discount > 0.

`PreviousActionReward` (a `gymnasium.vector.VectorWrapper`) adds the previous
action and reward, which a meta-RL agent takes as input, to the observation
(as RL^2 does): zero at each episode's first step.
"""

from typing import Any, Dict, Optional

import gymnasium
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space
import numpy as np
import tensorflow as tf

import environments
from environments import core as core_lib
from environments import gym_adapter



class CoreVectorEnv(gymnasium.vector.VectorEnv):
  """`num_envs` episodes of a `BatchedCore` as a Gymnasium `VectorEnv`
  (see the module docstring).

  Args:
    core: the batched core (e.g. `environments.make_core(...)`, or a user's).
    num_envs: sub-environments stepped together (>= 1).
    jit_compile: compile `reset` and `step` with XLA (faster for some
      tasks; other random draws than the single-env face).
    render_mode: None, or 'rgb_array' for a core with a uint8 [H, W, 3]
      `pixels` observation: `render()` returns the last frames [N, H, W, 3].
  """

  metadata = {'autoreset_mode': AutoresetMode.NEXT_STEP,
              'render_modes': ['rgb_array']}

  def __init__(self, core: core_lib.BatchedCore, num_envs: int = 1, *,
               jit_compile: bool = False, render_mode: Optional[str] = None):
    if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
      raise ValueError(f'num_envs must be an integer >= 1, got {num_envs!r}')
    self.core = core
    self.num_envs = int(num_envs)
    spec = core.observation_spec()
    self.single_observation_space = gym_adapter.spec_to_space(spec)
    self.single_action_space = gym_adapter.spec_to_space(core.action_spec())
    self.observation_space = batch_space(self.single_observation_space,
                                         self.num_envs)
    self.action_space = batch_space(self.single_action_space, self.num_envs)
    pixels = gym_adapter.image_key(spec)
    self.metadata = dict(self.metadata,
                         render_modes=['rgb_array'] if pixels else [])
    if render_mode is not None and render_mode not in self.metadata[
        'render_modes']:
      raise ValueError(
          f'render_mode {render_mode!r} not supported; this environment takes '
          f'{self.metadata["render_modes"] + [None]}')
    self.render_mode = render_mode
    self._pixels = pixels
    self._reset_fn = tf.function(self._reset_graph, jit_compile=jit_compile)
    self._step_fn = tf.function(self._step_graph, jit_compile=jit_compile)
    self._root = None  # the key of the seed, set by the first reset
    self._calls = 0
    self._state = None
    self._needs_reset = np.zeros(self.num_envs, bool)
    self._obs = None

  # The compiled parts: pure functions of tensors.

  def _reset_graph(self, root, call):
    state, obs = self.core.reset(core_lib.fold_in(root, call), self.num_envs)
    return state, obs, self.core.task_info(state)

  def _step_graph(self, root, call, state, needs_reset, action):
    key = core_lib.fold_in(root, call)
    next_state, out = self.core.step(key, state, action)

    def reset_some():  # the same key as the single-env face's reset call
      fresh_state, fresh_obs = self.core.reset(key, self.num_envs)
      return (core_lib.select(needs_reset, fresh_state, next_state),
              core_lib.select(needs_reset, fresh_obs, out.observation))

    next_state, obs = tf.cond(tf.reduce_any(needs_reset), reset_some,
                              lambda: (next_state, out.observation))
    stepped = tf.logical_not(needs_reset)
    reward = tf.where(stepped, out.reward, 0.0)
    ended = tf.logical_and(stepped, out.last)
    discount = tf.where(stepped, out.discount, 1.0)
    return (next_state, obs, reward, ended, discount, dict(out.metrics),
            self.core.task_info(next_state))

  # The Gymnasium API.

  def reset(self, *, seed: Optional[int] = None,
            options: Optional[Dict[str, Any]] = None):
    """Starts `num_envs` fresh episodes; with `seed`, a new key stream.

    Returns:
      `(observations, info)`: observations a member of `observation_space`,
      info `{'task_info': {...}, '_task_info': mask}`.
    """
    super().reset(seed=seed)
    if options:
      raise ValueError(f'reset takes no options, got {sorted(options)}')
    if seed is not None or self._root is None:
      if seed is None:
        seed = int(self.np_random.integers(gym_adapter.SEED_RANGE))
      self._root, self._calls = core_lib.make_key(int(seed)), 0
    state, obs, task_info = self._reset_fn(self._root, self._next_call())
    self._state = state
    self._needs_reset[:] = False
    everyone = np.ones(self.num_envs, bool)
    return self._observe(obs), self._info(task_info, everyone)

  def step(self, actions):
    """Steps every sub-environment (NEXT_STEP autoreset).

    Args:
      actions: integers of shape (num_envs,), each in the action space.
    Returns:
      `(observations, rewards, terminations, truncations, infos)`, arrays
      over the sub-environments (rewards float32, flags bool).
    Raises:
      gymnasium.error.ResetNeeded: before the first `reset`.
      ValueError: actions of another shape, not integers, or out of range.
    """
    if self._state is None:
      raise gymnasium.error.ResetNeeded('call reset() before step()')
    actions = self._check_actions(actions)
    needs_reset = self._needs_reset.copy()
    (self._state, obs, reward, ended, discount, metrics,
     task_info) = self._step_fn(self._root, self._next_call(), self._state,
                                tf.constant(needs_reset),
                                tf.constant(actions, tf.int32))
    ended, discount = ended.numpy(), discount.numpy()
    terminated = ended & (discount == 0.0)
    truncated = ended & (discount != 0.0)
    self._needs_reset = ended
    stepped = ~needs_reset
    infos = self._info(task_info, np.ones(self.num_envs, bool))
    infos['metrics'] = {}
    for k, v in metrics.items():
      infos['metrics'][k] = np.where(stepped, v.numpy(), 0).astype(np.float32)
      infos['metrics'][f'_{k}'] = stepped.copy()
    infos['_metrics'] = stepped.copy()
    infos['discount'] = np.where(stepped, discount, 0.0).astype(np.float64)
    infos['_discount'] = stepped.copy()
    return (self._observe(obs), reward.numpy(), terminated, truncated, infos)

  def render(self) -> Optional[np.ndarray]:
    """With render_mode 'rgb_array', the last observations' frames
    uint8 [N, H, W, 3]; None with render_mode None."""
    if self.render_mode is None:
      return None
    if self._obs is None:
      raise gymnasium.error.ResetNeeded('call reset() before render()')
    return np.array(self._obs[self._pixels], copy=True)

  # Helpers.

  def _next_call(self) -> tf.Tensor:
    call = tf.constant(self._calls, tf.int64)
    self._calls += 1
    return call

  def _check_actions(self, actions) -> np.ndarray:
    a = np.asarray(actions)
    if a.shape != (self.num_envs,):
      raise ValueError(f'actions must have shape ({self.num_envs},), one per '
                       f'sub-environment; got shape {a.shape}')
    if a.dtype.kind not in 'iu' and not (
        a.dtype.kind == 'f' and np.all(np.isfinite(a)) and
        np.all(a == np.round(a))):
      raise ValueError(f'actions must be integers, got dtype {a.dtype}')
    n = self.core.num_actions
    if np.any(a < 0) or np.any(a >= n):
      bad = a[(a < 0) | (a >= n)]
      raise ValueError(f'actions must be in [0, {n - 1}]; got {bad[:5].tolist()}')
    return a.astype(np.int32)

  def _observe(self, obs) -> Dict[str, np.ndarray]:
    out = {k: np.asarray(obs[k].numpy(), dtype=space.dtype)
           for k, space in self.observation_space.spaces.items()}
    self._obs = out
    return out

  def _info(self, task_info, mask) -> Dict[str, Any]:
    if not task_info:
      return {}
    truth = {}
    for k, v in task_info.items():
      truth[k] = v.numpy()
      truth[f'_{k}'] = mask.copy()
    return {'task_info': truth, '_task_info': mask.copy()}


class TaskVectorEnv(CoreVectorEnv):
  """A task of `environments.TASKS` as a `CoreVectorEnv` (the vector entry
  point of the registered ids).

  Args:
    task: a name of `environments.TASKS`.
    num_envs: sub-environments stepped together.
    jit_compile, render_mode: as `CoreVectorEnv`.
    **kwargs: the task's keyword arguments (`environments.make_core`, e.g.
      `num_trials`, `resolution`, `action_repeat`; `split='test'` for
      Harlow's held-out images).
  """

  def __init__(self, task: str, num_envs: int = 1, *, jit_compile: bool = False,
               render_mode: Optional[str] = None, **kwargs):
    self.task = task
    super().__init__(environments.make_core(task, **kwargs), num_envs,
                     jit_compile=jit_compile, render_mode=render_mode)


class PreviousActionReward(gymnasium.vector.VectorWrapper):
  """Adds `prev_action` (int64, the sub-environment's previous action, 0 at
  an episode's first step) and `prev_reward` (float32, its reward, 0 at an
  episode's first step) to a Dict observation, the inputs a meta-RL agent
  (RL^2, "Learning to Reinforcement Learn") takes besides the observation.
  Follows the wrapped env's NEXT_STEP autoreset: the step that starts a new
  episode gives zeros."""

  def __init__(self, env: gymnasium.vector.VectorEnv):
    super().__init__(env)
    single = env.single_observation_space
    if not isinstance(single, spaces.Dict):
      raise ValueError('PreviousActionReward needs a Dict observation space, '
                       f'got {single}')
    if not isinstance(env.single_action_space, spaces.Discrete):
      raise ValueError('PreviousActionReward needs a Discrete action space, '
                       f'got {env.single_action_space}')
    extra = {'prev_action': spaces.Discrete(env.single_action_space.n),
             'prev_reward': spaces.Box(-np.inf, np.inf, (), np.float32)}
    self.single_observation_space = spaces.Dict(
        {**single.spaces, **extra}, sort_keys=False)
    self.observation_space = batch_space(self.single_observation_space,
                                         env.num_envs)
    self._ended = np.zeros(env.num_envs, bool)

  def reset(self, *, seed=None, options=None):
    obs, info = self.env.reset(seed=seed, options=options)
    self._ended[:] = False
    zeros = np.zeros(self.num_envs)
    return self._add(obs, zeros, zeros), info

  def step(self, actions):
    obs, reward, terminated, truncated, info = self.env.step(actions)
    fresh = self._ended  # these sub-environments were reset by this step
    self._ended = terminated | truncated
    prev_action = np.where(fresh, 0, np.asarray(actions))
    prev_reward = np.where(fresh, 0.0, reward)
    return (self._add(obs, prev_action, prev_reward), reward, terminated,
            truncated, info)

  @staticmethod
  def _add(obs, prev_action, prev_reward):
    return {**obs, 'prev_action': np.asarray(prev_action, np.int64),
            'prev_reward': np.asarray(prev_reward, np.float32)}
