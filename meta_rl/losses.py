"""Advantage actor-critic loss (Mnih et al. 2016; Mirowski et al. 2017).

Pure functions of time-major tensors [T, B, ...]; they return the loss and its
parts, never touch variables.

    G_t = r_t + gamma * d_t * G_{t+1},   G_T = V(s_T)   (bootstrap)
    A_t = G_t - V(s_t)                    (no gradient)
    L   = L_pi + beta_v * L_v - beta_e * H
    L_pi = -mean_t,b[ log pi(a_t | s_t) * A_t ]
    L_v  = mean_t,b[ 0.5 * (G_t - V(s_t))^2 ]
    H    = mean_t,b[ entropy of pi(. | s_t) ]

where d_t is the discount of step t, 0 where an episode ended (the drivers
pass 0 for every last step, time-limit truncations included), so returns never
cross episode boundaries. With a `value_scale` sigma (PopArt, van Hasselt et
al. 2016: the scale of the returns), advantages and value errors are measured
in units of sigma: A_t = (G_t - V(s_t)) / sigma and
L_v = mean[ 0.5 * ((G_t - V(s_t)) / sigma)^2 ], so that neither the policy's
nor the value's gradient grows with the size of the task's rewards.
"""

from typing import NamedTuple

import tensorflow as tf


class A2CExtra(NamedTuple):
  policy_loss: tf.Tensor  # scalar
  value_loss: tf.Tensor  # scalar
  entropy: tf.Tensor  # scalar, mean policy entropy (nats)
  advantages: tf.Tensor  # [T, B]
  returns: tf.Tensor  # [T, B]


def discounted_returns(r_t, discount_t, bootstrap_value):
  """n-step bootstrapped returns G_t = r_t + discount_t * G_{t+1}.

  Args:
    r_t: float32 [T, B] rewards.
    discount_t: float32 [T, B], gamma times the environment discount.
    bootstrap_value: float32 [B], V of the state after the last step.
  Returns:
    float32 [T, B].
  """
  r_t = tf.convert_to_tensor(r_t, tf.float32)
  discount_t = tf.convert_to_tensor(discount_t, tf.float32)
  r_t.shape.assert_has_rank(2)
  discount_t.shape.assert_has_rank(2)
  return tf.scan(lambda g, x: x[0] + x[1] * g, (r_t, discount_t),
                 initializer=tf.convert_to_tensor(bootstrap_value, tf.float32),
                 reverse=True)


def a2c_loss(logits, values, actions, rewards, discounts, bootstrap_value,
             gamma, beta_v, beta_e, value_scale=1.0):
  """The A2C loss of one unroll.

  Args:
    logits: float32 [T, B, A] policy logits.
    values: float32 [T, B] state values V(s_t).
    actions: int32 [T, B] actions taken.
    rewards: float32 [T, B] rewards r_t following the actions.
    discounts: float32 [T, B] discounts without gamma (0 where an episode
      ended).
    bootstrap_value: float32 [B] V(s_T) of the state after the unroll.
    gamma: discount factor (scalar).
    beta_v: value loss coefficient (scalar).
    beta_e: entropy bonus coefficient (scalar).
    value_scale: sigma > 0, the scale of the returns (scalar, no gradient):
      advantages and value errors are divided by it (PopArt); 1 is the
      plain A2C loss. `A2CExtra.advantages` are the scaled ones, `returns`
      are in reward units.
  Returns:
    `(loss, A2CExtra)`.
  """
  logits = tf.convert_to_tensor(logits, tf.float32)
  logits.shape.assert_has_rank(3)
  values = tf.convert_to_tensor(values, tf.float32)
  values.shape.assert_has_rank(2)
  returns = discounted_returns(
      rewards, gamma * tf.convert_to_tensor(discounts, tf.float32),
      tf.stop_gradient(bootstrap_value))
  returns = tf.stop_gradient(returns)
  scale = tf.stop_gradient(tf.convert_to_tensor(value_scale, tf.float32))
  errors = (returns - values) / scale  # [T, B], in units of the scale
  advantages = tf.stop_gradient(errors)
  log_pi = tf.nn.log_softmax(logits)  # [T, B, A]
  log_pi_a = tf.gather(log_pi, tf.cast(actions, tf.int32), batch_dims=2)
  policy_loss = -tf.reduce_mean(log_pi_a * advantages)
  value_loss = tf.reduce_mean(0.5 * tf.square(errors))
  entropy = tf.reduce_mean(-tf.reduce_sum(tf.exp(log_pi) * log_pi, axis=-1))
  loss = policy_loss + beta_v * value_loss - beta_e * entropy
  return loss, A2CExtra(policy_loss, value_loss, entropy, advantages, returns)
