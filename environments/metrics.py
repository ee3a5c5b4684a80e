"""Per-step measures of bandit tasks from ground truth the agent never sees.

A bandit's ground truth (`task_info`) names the expected reward of each arm
`arm_means` [B, A]; Bernoulli bandits name it `arm_probs` (the same thing).
Bandit cores put `arm_metrics` into `StepOutput.metrics`, so trainers and
evaluation sum them per episode (Fig 2's cumulative regret).
"""

import tensorflow as tf


def arm_means(info):
  """Expected reward of every arm [B, A] from task info, or None."""
  if 'arm_means' in info:
    return info['arm_means']
  return info.get('arm_probs')


def expected_regret(info, action):
  """Expected regret max_a mu_a - mu_{a_t} of one step, float32 [B].

  Args:
    info: the core's `task_info` / `StepOutput.info` with `arm_means` or
      `arm_probs` [B, A].
    action: int32 [B].
  Returns:
    float32 [B], or None when the task has no arm means.
  """
  means = arm_means(info)
  if means is None:
    return None
  means = tf.convert_to_tensor(means, tf.float32)
  chosen = tf.gather(means, tf.cast(action, tf.int32), batch_dims=1)
  return tf.reduce_max(means, axis=-1) - chosen


def is_suboptimal(info, action):
  """1.0 where `action` is not an arm of maximal mean, float32 [B]."""
  means = arm_means(info)
  if means is None:
    return None
  means = tf.convert_to_tensor(means, tf.float32)
  chosen = tf.gather(means, tf.cast(action, tf.int32), batch_dims=1)
  return tf.cast(chosen < tf.reduce_max(means, axis=-1), tf.float32)


def arm_metrics(info, action):
  """`{'regret': [B], 'suboptimal': [B]}` of one step of a bandit task."""
  regret = expected_regret(info, action)
  # max - chosen > 0 exactly where chosen < max: `is_suboptimal` from regret.
  return {'regret': regret, 'suboptimal': tf.cast(regret > 0.0, tf.float32)}
