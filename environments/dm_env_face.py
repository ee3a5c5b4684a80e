"""`dm_env.Environment` face of a batched TF core, for batch size 1.

The face holds no dynamics of its own: `reset` and `step` call the core's
functions (eagerly) on a batch of one and convert the result to NumPy, so the
in-graph trainer and users of `dm_env` see exactly the same task.

Random keys follow one schedule that a graph-side driver can reproduce: the
n-th call to `reset` or `step` (n = 0, 1, ...) uses `core.fold_in(root, n)` with
`root = core.make_key(seed)`.
"""

from typing import Dict, Optional

import dm_env
from dm_env import specs
import numpy as np
import tensorflow as tf

from environments import core as core_lib


class CoreEnvironment(dm_env.Environment):
  """A single environment backed by a `BatchedCore`."""

  def __init__(self, core: core_lib.BatchedCore, *, seed: int):
    self._core = core
    self._root = core_lib.make_key(seed)
    self._num_calls = 0
    self._state = None
    self._metrics = {}
    self._reset_next_step = True

  @property
  def core(self) -> core_lib.BatchedCore:
    return self._core

  def _next_key(self):
    key = core_lib.fold_in(self._root, self._num_calls)
    self._num_calls += 1
    return key

  def reset(self) -> dm_env.TimeStep:
    self._state, obs = self._core.reset(self._next_key(), 1)
    self._metrics = {}
    self._reset_next_step = False
    return dm_env.restart(self._to_numpy(obs))

  def step(self, action) -> dm_env.TimeStep:
    if self._reset_next_step:
      return self.reset()
    action = tf.constant([int(action)], tf.int32)
    self._state, out = self._core.step(self._next_key(), self._state, action)
    self._metrics = {k: np.float32(v.numpy()[0]) for k, v in out.metrics.items()}
    obs = self._to_numpy(out.observation)
    reward = np.float32(out.reward.numpy()[0])
    discount = np.float32(out.discount.numpy()[0])
    if bool(out.last.numpy()[0]):
      self._reset_next_step = True
      return dm_env.TimeStep(dm_env.StepType.LAST, reward, discount, obs)
    return dm_env.TimeStep(dm_env.StepType.MID, reward, discount, obs)

  def task_info(self) -> Optional[Dict[str, np.ndarray]]:
    """Ground truth of the current episode (e.g. `arm_probs` [A]); not an
    observation, agents never see it. None before the first reset."""
    if self._state is None:
      return None
    return {k: v.numpy()[0] for k, v in self._core.task_info(self._state).items()}

  def step_metrics(self) -> Dict[str, np.float32]:
    """The task's measures of the last step (`StepOutput.metrics`, e.g.
    `regret`); trainers and evaluation sum them over episodes. A user's own
    environment may offer this method too."""
    return dict(self._metrics)

  def observation_spec(self):
    return self._core.observation_spec()

  def action_spec(self):
    return self._core.action_spec()

  def reward_spec(self):
    return specs.Array((), np.float32, name='reward')

  def discount_spec(self):
    return specs.BoundedArray((), np.float32, 0.0, 1.0, name='discount')

  @staticmethod
  def _to_numpy(obs):
    return {k: v.numpy()[0] for k, v in obs.items()}
