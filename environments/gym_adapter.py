"""A Gymnasium face for dm_env environments, every task of `TASKS` included.

`DmEnvAdapter` turns any `dm_env.Environment` into a `gymnasium.Env`;
`TaskEnv` is a task of "Learning to Reinforcement Learn" (Wang et al. 2016,
Section 3: the bandits of 3.1, the two-step task of 3.2.1, Harlow's task of
3.2.2, the I-maze of 3.2.3) through it, built on the task's dm_env face
(`CoreEnvironment`), so the dynamics are those of the batched core that the
in-graph trainer runs. Importing this module registers one Gymnasium id per
task (`TASK_IDS`), so that

    import gymnasium
    import environments.gym_adapter  # registers the meta_rl/ ids
    env = gymnasium.make('meta_rl/TwoStep-v0', num_trials=5)

or, without the import (Gymnasium's module:id syntax),
`gymnasium.make('environments.gym_adapter:meta_rl/TwoStep-v0')`. The same ids
give the batched vector env of `environments.gym_vector` (one compiled step
for all sub-environments):
`gymnasium.make_vec('meta_rl/TwoStep-v0', num_envs=256,
vectorization_mode='vector_entry_point')`.
Keyword arguments of `gymnasium.make` are the task's (those of
`environments.make_core`, `action_repeat` included); `split='test'` gives
Harlow's held-out images.

The conversion:

  observation_space  the dm_env observation spec as a space: a dict of specs
                     becomes `spaces.Dict` (keys in the spec's order), a
                     `DiscreteArray` `Discrete` (values as np.int64), a
                     `BoundedArray` a `Box` with its bounds and dtype, an
                     `Array` a `Box` over its dtype's range (floats: -inf to
                     inf; uint8 pixels: 0 to 255).
  action_space       `Discrete(num_actions)` (any action spec is converted
                     the same way).
  reset(seed=s)      rebuilds the dm_env environment with seed s (the same
                     seed gives the same episodes as the dm_env face
                     `environments.make_environment(task, seed=s)`);
                     `reset()` continues the stream of episodes; the first
                     `reset()` without a seed draws one from `np_random`
                     (OS entropy), as Gymnasium does.
  step(a)            `(obs, reward, terminated, truncated, info)`: an episode's
                     last step (dm_env `LAST`) is `terminated` where its
                     discount is 0 and `truncated` where it is not.
  info               `task_info`: the ground truth of the state the next action
                     acts on (`env.task_info()` of the dm_env face, e.g.
                     `arm_probs`); after a step also `metrics`: the step's
                     measures (`step_metrics()`, e.g. `regret`), and
                     `discount`. They are two dicts because their names may
                     meet (the I-maze has `frames` and `goal_visits` in both).
  render()           with `render_mode='rgb_array'`, the last observation's
                     `pixels` (Harlow, I-maze; uint8 [H, W, 3]); tasks without
                     pixels take only `render_mode=None`. `render_fps` is
                     60 (DeepMind Lab's frame rate) over the action repeat.

Every task of this project ends its episodes with discount 0, so their ends
are `terminated`: an episode is one sampled task (arm probabilities, image
pair, goal position) of the fixed length the paper defines, and the project's
A2C stops its returns there; nothing after the end belongs to that task.
This holds also where the length is counted in frames: Harlow's `max_steps`
(3600 frames; the episode then ended before its `num_trials` selections, which
`info['task_info']['trial']` shows) and the I-maze's `episode_frames` (1800),
which are rules of those tasks. No `max_episode_steps` is registered: the
tasks end themselves, after `episode_length` steps at most, which depends on
their keyword arguments.
"""

import copy
import functools
from typing import Any, Callable, Dict, Optional, Union

import dm_env
from dm_env import specs
import gymnasium
from gymnasium import spaces
import numpy as np

import environments
from environments import core as core_lib
from environments import dm_env_face

# Gymnasium id -> task of `environments.TASKS` (named after the paper).
TASK_IDS = {
    'meta_rl/IndependentBandit-v0': 'independent',  # Exp 1 (Section 3.1.1)
    'meta_rl/UniformBandit-v0': 'uniform',  # Exp 2 (Section 3.1.2)
    'meta_rl/EasyBandit-v0': 'easy',
    'meta_rl/MediumBandit-v0': 'medium',
    'meta_rl/HardBandit-v0': 'hard',
    'meta_rl/InformativeBandit-v0': 'informative',  # Exp 3 (Section 3.1.3)
    'meta_rl/RestlessBandit-v0': 'restless',  # Exp 4 (Section 3.1.4)
    'meta_rl/RestlessBanditTest-v0': 'restless_test',  # Exp 4, test volatility
    'meta_rl/TwoStep-v0': 'two_step',  # Exp 5 (Section 3.2.1)
    'meta_rl/Harlow-v0': 'harlow',  # Exp 6 (Section 3.2.2)
    'meta_rl/IMaze-v0': 'imaze',  # Exp 7 (Section 3.2.3)
}

# Frames per second of the paper's pixel tasks (DeepMind Lab's default); one
# step of the face is `action_repeat` frames.
FRAMES_PER_SECOND = 60.0

# Seeds drawn for an unseeded first reset lie in [0, 2**31 - 1), the range
# `core.make_key` distinguishes.
SEED_RANGE = 2**31 - 1


def spec_to_space(spec) -> spaces.Space:
  """The Gymnasium space of a dm_env spec, or of a dict/list/tuple of specs.

  Raises ValueError for a spec without a space (e.g. `StringArray`).
  """
  if isinstance(spec, dict):
    return spaces.Dict({k: spec_to_space(v) for k, v in spec.items()},
                       sort_keys=False)
  if isinstance(spec, (list, tuple)):
    return spaces.Tuple([spec_to_space(s) for s in spec])
  if isinstance(spec, specs.DiscreteArray):  # always a scalar
    return spaces.Discrete(spec.num_values)
  if not isinstance(spec, specs.Array) or isinstance(spec, specs.StringArray):
    raise ValueError(f'no Gymnasium space for the spec {spec!r}')
  dtype = np.dtype(spec.dtype)
  if isinstance(spec, specs.BoundedArray):
    low, high = spec.minimum, spec.maximum
  elif dtype.kind == 'f':
    low, high = -np.inf, np.inf
  elif dtype.kind in 'iu':  # an integer array's honest bounds: its dtype's
    low, high = np.iinfo(dtype).min, np.iinfo(dtype).max
  elif dtype.kind == 'b':
    low, high = 0, 1
  else:
    raise ValueError(f'no Gymnasium space for the spec {spec!r}')
  return spaces.Box(np.broadcast_to(np.asarray(low, dtype), spec.shape),
                    np.broadcast_to(np.asarray(high, dtype), spec.shape),
                    spec.shape, dtype)


def _to_space(space: spaces.Space, value):
  """A dm_env value as a fresh member of `space` (np.int64 for `Discrete`,
  arrays of the space's dtype for `Box`; never a view of `value`)."""
  if isinstance(space, spaces.Dict):
    return {k: _to_space(s, value[k]) for k, s in space.spaces.items()}
  if isinstance(space, spaces.Tuple):
    return tuple(_to_space(s, v) for s, v in zip(space.spaces, value))
  if isinstance(space, spaces.Discrete):
    return np.int64(value)
  return np.array(value, dtype=space.dtype, copy=True)


def _to_dm_env(space: spaces.Space, action):
  """A member of the action space as the dm_env environment's action."""
  if isinstance(space, spaces.Dict):
    return {k: _to_dm_env(s, action[k]) for k, s in space.spaces.items()}
  if isinstance(space, spaces.Tuple):
    return tuple(_to_dm_env(s, a) for s, a in zip(space.spaces, action))
  if isinstance(space, spaces.Discrete):
    return int(action)
  return np.asarray(action, dtype=space.dtype)


def image_key(spec, key: str = 'pixels') -> Optional[str]:
  """`key` if the observation spec is a dict holding an RGB image under it
  (uint8 [H, W, 3]), else None."""
  if not isinstance(spec, dict) or key not in spec:
    return None
  image = spec[key]
  if (isinstance(image, specs.Array) and np.dtype(image.dtype) == np.uint8 and
      len(image.shape) == 3 and image.shape[-1] == 3):
    return key
  return None


class DmEnvAdapter(gymnasium.Env):
  """A `dm_env.Environment` as a `gymnasium.Env` (see the module docstring).

  Give it a factory, a callable taking `seed=` that returns a new
  environment (as `launch/evaluate.py --env_factory` takes), and `reset(seed=s)`
  rebuilds the environment with that seed: the factory's environments must
  be deterministic given their seed for Gymnasium's seeding contract to hold.
  A factory is called once on construction (with seed 0) to read the specs.
  An environment instance is wrapped as it is; it cannot be reseeded, and
  `reset(seed=...)` raises ValueError.

  The environment's own `task_info()` and `step_metrics()` methods, where it
  has them, fill `info['task_info']` and `info['metrics']`. `render_mode`
  'rgb_array' needs an observation dict holding a uint8 [H, W, 3] image under
  `pixels_key`; `render()` then returns the last observation's image.
  """

  # What `gymnasium.make` accepts; an instance narrows `render_modes` to
  # [] where its observation has no image.
  metadata = {'render_modes': ['rgb_array'], 'render_fps': FRAMES_PER_SECOND}

  def __init__(self,
               env: Union[dm_env.Environment,
                          Callable[..., dm_env.Environment]],
               *,
               render_mode: Optional[str] = None,
               render_fps: float = FRAMES_PER_SECOND,
               pixels_key: str = 'pixels'):
    if isinstance(env, dm_env.Environment):
      self._factory, self._env, probe = None, env, env
    elif callable(env):
      self._factory, self._env = env, None
      probe = env(seed=0)
    else:
      raise TypeError(f'expected a dm_env.Environment or a factory taking '
                      f'seed=, got {type(env).__name__}')
    self._observation_spec = probe.observation_spec()
    self.observation_space = spec_to_space(self._observation_spec)
    self.action_space = spec_to_space(probe.action_spec())
    if probe is not self._env:
      probe.close()
    self._pixels_key = image_key(self._observation_spec, pixels_key)
    self.metadata = {
        'render_modes': ['rgb_array'] if self._pixels_key else [],
        'render_fps': render_fps,
    }
    if (render_mode is not None and
        render_mode not in self.metadata['render_modes']):
      raise ValueError(
          f'render_mode {render_mode!r} not supported; this environment takes '
          f'{self.metadata["render_modes"] + [None]} (rgb_array needs a uint8 '
          f'[H, W, 3] observation {pixels_key!r})')
    self.render_mode = render_mode
    self._frame = None  # the last observed image, for render()
    self._needs_reset = True

  @property
  def environment(self) -> Optional[dm_env.Environment]:
    """The dm_env environment now played (None before a factory's first
    reset)."""
    return self._env

  def reset(self, *, seed: Optional[int] = None,
            options: Optional[Dict[str, Any]] = None):
    """Starts an episode; with `seed`, of a fresh environment built with it.

    Args:
      seed: None continues the stream of episodes (the first time: of an
        environment built with a seed drawn from `np_random`).
      options: none are taken; a non-empty dict raises ValueError.
    Returns:
      `(observation, info)`, info holding `task_info` where the environment
      offers it.
    """
    super().reset(seed=seed)
    if options:
      raise ValueError(f'reset takes no options, got {sorted(options)}')
    if self._factory is None:
      if seed is not None:
        raise ValueError(
            'this DmEnvAdapter wraps one environment instance, which cannot be '
            'reseeded; give DmEnvAdapter a factory called with seed= instead')
    elif seed is not None or self._env is None:
      if seed is None:
        seed = int(self.np_random.integers(SEED_RANGE))
      if self._env is not None:
        self._env.close()
      self._env = self._factory(seed=seed)
    timestep = self._env.reset()
    self._needs_reset = False
    return self._observe(timestep.observation), self._info()

  def step(self, action):
    """Takes `action`, a member of `action_space`.

    Returns:
      `(observation, reward, terminated, truncated, info)`: reward a float;
      on the episode's last step `terminated` if its discount is 0, else
      `truncated`; info as after `reset` plus `metrics` (the environment's
      `step_metrics()`, where it has them) and `discount` (float).
    Raises:
      gymnasium.error.ResetNeeded: before `reset` or after an episode ended.
      ValueError: an action outside `action_space`.
    """
    if self._needs_reset:
      raise gymnasium.error.ResetNeeded(
          'call reset() before step(), and again after an episode ended')
    if not self.action_space.contains(action):
      raise ValueError(f'action {action!r} is not in {self.action_space}')
    timestep = self._env.step(_to_dm_env(self.action_space, action))
    discount = 1.0 if timestep.discount is None else float(timestep.discount)
    last = timestep.last()
    self._needs_reset = last
    info = self._info()
    step_metrics = getattr(self._env, 'step_metrics', None)
    if callable(step_metrics):
      info['metrics'] = copy.deepcopy(step_metrics())
    info['discount'] = discount
    return (self._observe(timestep.observation), float(timestep.reward),
            last and discount == 0.0, last and discount != 0.0, info)

  def render(self) -> Optional[np.ndarray]:
    """The last observation's image, uint8 [H, W, 3], with render_mode
    'rgb_array'; None with render_mode None."""
    if self.render_mode is None:
      return None
    if self._frame is None:
      raise gymnasium.error.ResetNeeded('call reset() before render()')
    return self._frame.copy()

  def close(self):
    if self._env is not None:
      self._env.close()
    if self._factory is not None:
      self._env = None
    self._needs_reset = True

  def _observe(self, observation):
    if self.render_mode == 'rgb_array':
      self._frame = np.array(observation[self._pixels_key], np.uint8)
    return _to_space(self.observation_space, observation)

  def _info(self) -> Dict[str, Any]:
    task_info = getattr(self._env, 'task_info', None)
    truth = task_info() if callable(task_info) else None
    return {} if truth is None else {'task_info': copy.deepcopy(truth)}


def _frames_per_step(core: core_lib.BatchedCore) -> int:
  """Primitive steps of one agent step: the product of `ActionRepeat`s."""
  frames = 1
  while isinstance(core, core_lib.ActionRepeat):
    frames *= core.repeat
    core = core.core
  return frames


class TaskEnv(DmEnvAdapter):
  """A task of `environments.TASKS` as a `gymnasium.Env`: `DmEnvAdapter` of
  its dm_env face `CoreEnvironment`, the core built once.

  Args:
    task: a name of `environments.TASKS`.
    render_mode: None, or 'rgb_array' for the pixel tasks (harlow, imaze).
    **kwargs: the task's keyword arguments (`environments.make_core`, e.g.
      `num_trials`, `resolution`, `action_repeat`).
  Raises:
    ValueError: an unknown task, arguments the task does not take, or a
      render mode it does not support.
  """

  def __init__(self, task: str, render_mode: Optional[str] = None, **kwargs):
    self.task = task
    self.core = environments.make_core(task, **kwargs)
    super().__init__(functools.partial(dm_env_face.CoreEnvironment, self.core),
                     render_mode=render_mode,
                     render_fps=FRAMES_PER_SECOND / _frames_per_step(self.core))


def register() -> None:
  """Registers every id of `TASK_IDS` with Gymnasium, the single-env face
  `TaskEnv` as its entry point and the batched `gym_vector.TaskVectorEnv`
  as its vector entry point; ids already registered are left as they are
  (so importing or calling this again is harmless)."""
  for env_id, task in TASK_IDS.items():
    if env_id not in gymnasium.registry:
      gymnasium.register(
          env_id, entry_point='environments.gym_adapter:TaskEnv',
          vector_entry_point='environments.gym_vector:TaskVectorEnv',
          kwargs={'task': task})


register()
