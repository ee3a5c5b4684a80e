"""`PythonEnvTrainer`: A2C on a list of B user `dm_env.Environment`s,
stepped from Python (the path for tasks without a TF core)."""

from typing import List

import dm_env
import numpy as np
import tensorflow as tf
import tree

from environments import core as core_lib
from meta_rl import metrics as metrics_lib
from meta_rl.agent import MetaRLAgent, sample_action
from meta_rl.training.config import A2CConfig, TrainConfig
from meta_rl.training.learner import A2CLearner, as_sums


class PythonEnvTrainer(A2CLearner):
  """Trains on B Python `dm_env.Environment`s (e.g. a user's own task).

  Each environment's `observation_spec()` must be a dict matching the agent's.
  An environment that has a `step_metrics()` method (returning the same
  float keys after every step, e.g. `{'regret': ...}`, as the dm_env faces of
  this project's tasks do) gets them summed per episode and logged.
  Environment state is not checkpointed: a resumed run restarts episodes.
  """

  def __init__(self, envs: List[dm_env.Environment], agent: MetaRLAgent,
               a2c: A2CConfig = A2CConfig(), train: TrainConfig = TrainConfig()):
    if len(envs) != train.batch_size:
      raise ValueError(f'got {len(envs)} environments for batch_size '
                       f'{train.batch_size}')
    super().__init__(agent, a2c, train)
    self.envs = envs
    # A dm_env face of a project task brings its task's declarations.
    task = getattr(envs[0], 'core', None)
    self.progress_metrics = getattr(task, 'progress_metrics', ())
    self.derived_metrics = getattr(task, 'derived_metrics', None)
    self._keys = sorted(agent.observation_spec)
    self._obs = [self._observation(env.reset()) for env in envs]
    self._first = np.ones(len(envs), bool)
    self._prev_action = -np.ones(len(envs), np.int32)
    self._prev_reward = np.zeros(len(envs), np.float32)
    self._agent_state = agent.initial_state(len(envs))
    self._running = None  # episode sums, once the metrics are known
    self._episode_keys = None
    self._track = tf.function(self._track_unroll)
    self.checkpoint = tf.train.Checkpoint(
        agent=agent, optimizer=self.optimizer, num_updates=self._num_updates,
        frames=self._frames, **self.checkpoint_items())
    self._act = tf.function(self._act_fn)
    self._learn_fn = tf.function(self._learn, jit_compile=train.jit_compile)

  def _update_function(self):
    return self._learn_fn

  def _observation(self, timestep):
    return {k: np.asarray(timestep.observation[k]) for k in self._keys}

  def _act_fn(self, inputs, first, state, key):
    inputs, state = self.agent.reset_where(first, inputs, state)
    out, state = self.agent.step(inputs, state)
    return sample_action(out.logits, key), state

  def _inputs(self):
    inputs = {k: np.stack([o[k] for o in self._obs]) for k in self._keys}
    inputs['prev_action'] = self._prev_action.copy()
    inputs['prev_reward'] = self._prev_reward.copy()
    return inputs

  def _step_metrics(self, env):
    metrics = getattr(env, 'step_metrics', None)
    return {k: float(v) for k, v in metrics().items()} if metrics else {}

  @staticmethod
  def _track_unroll(running, rewards, metrics, lasts):
    """Episode bookkeeping over a recorded unroll ([K, B] inputs) in one call."""
    totals = tf.zeros_like(running)
    for t in tf.range(tf.shape(rewards)[0]):
      running, totals = metrics_lib.track_episodes(
          running, totals, rewards[t], {k: v[t] for k, v in metrics.items()},
          lasts[t])
    return running, totals

  def _train_step(self):
    k, b = self.config.unroll_length, len(self.envs)
    key = core_lib.fold_in(self._root_key, self._num_updates)
    initial_state = self._agent_state
    steps, step_metrics_k, lasts_k = [], [], []
    for t in range(k):
      inputs, first = self._inputs(), self._first.copy()
      actions, self._agent_state = self._act(
          inputs, first, self._agent_state, core_lib.fold_in(key, t))
      actions = actions.numpy()
      rewards = np.zeros(b, np.float32)
      discounts = np.ones(b, np.float32)
      lasts = np.zeros(b, bool)
      step_metrics = []
      for i, env in enumerate(self.envs):
        ts = env.step(int(actions[i]))
        step_metrics.append(self._step_metrics(env))
        # Returns never cross an episode end (time-limit truncation included).
        rewards[i] = ts.reward
        discounts[i] = 0.0 if ts.last() else ts.discount
        lasts[i] = ts.last()
        if ts.last():
          ts = env.reset()
        self._obs[i] = self._observation(ts)
        self._first[i] = ts.first()
      step_metrics_k.append(
          {name: np.array([m[name] for m in step_metrics], np.float32)
           for name in step_metrics[0]})
      lasts_k.append(lasts)
      steps.append((inputs, first, actions, rewards, discounts))
      self._prev_action, self._prev_reward = actions, rewards
    inputs, first, actions, rewards, discounts = [
        tree.map_structure(lambda *x: np.stack(x), *items) for items in zip(*steps)]
    # The step after the unroll, for the bootstrap value.
    inputs = tree.map_structure(lambda x, y: np.concatenate([x, y[None]]),
                                inputs, self._inputs())
    first = np.concatenate([first, self._first[None]])
    step_metrics = {name: np.stack([m[name] for m in step_metrics_k])
                    for name in step_metrics_k[0]}  # [K, B] each
    if self._running is None:
      self._episode_keys = metrics_lib.episode_keys(step_metrics)
      self._running = metrics_lib.zero_episode_sums(self._episode_keys, b)
    self._running, totals = self._track(self._running, rewards, step_metrics,
                                        np.stack(lasts_k))
    self._frames.assign_add(int(step_metrics['frames'].sum())
                            if 'frames' in step_metrics else k * b)
    metrics = dict(self._learn_fn(inputs, first, initial_state, actions,
                                  rewards, discounts))
    metrics.update(as_sums(metrics_lib.sum_over_batch(self._episode_keys,
                                                    totals)))
    return metrics
