"""Shared by the environment tests: play the same actions on a task's dm_env
face and, with the face's key schedule, on its batched core inside a
tf.function, so the tests can check both faces agree."""

import numpy as np
import tensorflow as tf

from environments import core as core_lib


def face_trace(env, actions):
  """Plays `actions` on a dm_env face (starting new episodes as needed).

  Returns (task info before every step {key: [n, ...]}, rewards [n],
  observations after every step {key: [n, ...]}).
  """
  infos, rewards, observations = [], [], []
  ts = env.reset()
  for a in actions:
    if ts.last():
      ts = env.reset()
    infos.append(env.task_info())
    ts = env.step(a)
    rewards.append(ts.reward)
    observations.append(ts.observation)
  stack = lambda items: {k: np.stack([i[k] for i in items]) for k in items[0]}
  return stack(infos), np.array(rewards), stack(observations)


@tf.function
def graph_trace(core, seed, actions):
  """The face's key schedule replayed in a tf.function on a batch of one:
  the n-th reset/step call uses fold_in(make_key(seed), n)."""
  root = core_lib.make_key(seed)
  n = actions.shape[0]
  calls = tf.constant(1, tf.int64)
  state, obs = core.reset(core_lib.fold_in(root, 0), 1)
  infos = {k: tf.TensorArray(v.dtype, size=n)
           for k, v in core.task_info(state).items()}
  observations = {k: tf.TensorArray(v.dtype, size=n) for k, v in obs.items()}
  rewards = tf.TensorArray(tf.float32, size=n)
  for i in tf.range(n):
    infos = {k: ta.write(i, core.task_info(state)[k][0])
             for k, ta in infos.items()}
    state, out = core.step(core_lib.fold_in(root, calls), state,
                           actions[i:i + 1])
    rewards = rewards.write(i, out.reward[0])
    observations = {k: ta.write(i, out.observation[k][0])
                    for k, ta in observations.items()}
    calls += 1
    if out.last[0]:
      state, _ = core.reset(core_lib.fold_in(root, calls), 1)
      calls += 1
  return ({k: ta.stack() for k, ta in infos.items()}, rewards.stack(),
          {k: ta.stack() for k, ta in observations.items()})


def assert_faces_agree(env, seed, actions):
  """Both faces give the same task info, rewards and observations; returns
  the face's trace."""
  infos, rewards, observations = face_trace(env, actions)
  g_infos, g_rewards, g_obs = graph_trace(env.core, seed, tf.constant(actions))
  assert set(infos) == set(g_infos)
  for k in infos:
    np.testing.assert_array_equal(infos[k], g_infos[k].numpy(), err_msg=k)
  np.testing.assert_array_equal(rewards, g_rewards.numpy())
  for k in observations:
    np.testing.assert_array_equal(observations[k], g_obs[k].numpy(), err_msg=k)
  return infos, rewards, observations


def run_with_and_without_xla(fn):
  """Runs `fn` in a tf.function without and with XLA, twice each; checks
  each mode repeats itself exactly (XLA draws other stateless random numbers
  than the default kernels, so the modes are not compared with each other).
  Returns {jit_compile: list of NumPy results}."""
  results = {}
  for jit in (False, True):
    compiled = tf.function(fn, jit_compile=jit)
    results[jit] = [x.numpy() for x in compiled()]
    np.testing.assert_array_equal(results[jit], [x.numpy() for x in compiled()])
  return results


def conformance_tests(tasks, seed, num_steps, **task_kwargs):
  """`dm_env.test_utils.EnvironmentTestMixin` test classes, one per task
  built with `task_kwargs` (e.g. num_trials), over an action sequence of
  `num_steps` (chosen to cross episode ends).
  Returns {class name: class} for the test module's globals()."""
  import unittest  # pylint: disable=g-import-not-at-top
  from dm_env import test_utils  # pylint: disable=g-import-not-at-top
  import environments  # pylint: disable=g-import-not-at-top

  def make(task):

    class Test(test_utils.EnvironmentTestMixin, unittest.TestCase):

      def make_object_under_test(self):
        return environments.make_environment(task, seed=seed, **task_kwargs)

      def make_action_sequence(self):
        num_actions = self.environment.action_spec().num_values
        for i in range(num_steps):
          yield (3 * i + i // 7) % num_actions

    Test.__name__ = f'DmEnvConformance_{task}'
    return Test

  return {f'DmEnvConformance_{t}': make(t) for t in tasks}
