"""Task-level metrics computed from ground truth the agent never sees."""

import tensorflow as tf


def expected_regret(info, action):
  """Expected regret max_a p_a - p_{a_t} of one step, float32 [B].

  Args:
    info: the core's `task_info` / `StepOutput.info`; needs `arm_probs` [B, A].
    action: int32 [B].
  Returns:
    float32 [B], or None when the task has no arm probabilities.
  """
  if 'arm_probs' not in info:
    return None
  probs = tf.convert_to_tensor(info['arm_probs'], tf.float32)
  chosen = tf.gather(probs, tf.cast(action, tf.int32), batch_dims=1)
  return tf.reduce_max(probs, axis=-1) - chosen


def is_suboptimal(info, action):
  """1.0 where `action` is not an arm of maximal probability, float32 [B]."""
  if 'arm_probs' not in info:
    return None
  probs = tf.convert_to_tensor(info['arm_probs'], tf.float32)
  chosen = tf.gather(probs, tf.cast(action, tf.int32), batch_dims=1)
  return tf.cast(chosen < tf.reduce_max(probs, axis=-1), tf.float32)
