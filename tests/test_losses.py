"""A2C loss against hand-computed values on a tiny trajectory."""

import numpy as np
import pytest
import tensorflow as tf

from meta_rl import losses

GAMMA, BETA_V, BETA_E = 0.9, 0.5, 0.01
# One environment (B=1), three steps; the episode terminates at step 2.
REWARDS = [[1.0], [0.0], [2.0]]
DISCOUNTS = [[1.0], [1.0], [0.0]]
VALUES = [[0.5], [1.0], [1.5]]
BOOTSTRAP = [5.0]
ACTIONS = [[0], [1], [1]]
LOGITS = [[[0.0, 0.0]], [[np.log(3.0), 0.0]], [[0.0, np.log(4.0)]]]


def _expected():
  g2 = 2.0 + 0.9 * 0.0 * 5.0  # terminal: no bootstrap
  g1 = 0.0 + 0.9 * g2
  g0 = 1.0 + 0.9 * g1
  returns = np.array([g0, g1, g2])  # 2.62, 1.8, 2.0
  values = np.array([0.5, 1.0, 1.5])
  adv = returns - values
  # log pi(a_t): step 0 uniform; step 1 p = (3/4, 1/4), a=1; step 2 (1/5, 4/5), a=1.
  log_pi_a = np.log([0.5, 0.25, 0.8])
  policy_loss = -np.mean(log_pi_a * adv)
  value_loss = np.mean(0.5 * adv**2)

  def h(p):
    return -sum(x * np.log(x) for x in p)

  entropy = np.mean([h([0.5, 0.5]), h([0.75, 0.25]), h([0.2, 0.8])])
  total = policy_loss + BETA_V * value_loss - BETA_E * entropy
  return returns, adv, policy_loss, value_loss, entropy, total


def _loss(fn=losses.a2c_loss):
  return fn(tf.constant(LOGITS, tf.float32), tf.constant(VALUES),
            tf.constant(ACTIONS), tf.constant(REWARDS), tf.constant(DISCOUNTS),
            tf.constant(BOOTSTRAP), GAMMA, BETA_V, BETA_E)


@pytest.mark.parametrize('mode', ['eager', 'graph', 'xla'])
def test_a2c_loss_matches_hand_computation(mode):
  fn = {'eager': losses.a2c_loss,
        'graph': tf.function(losses.a2c_loss),
        'xla': tf.function(losses.a2c_loss, jit_compile=True)}[mode]
  loss, extra = _loss(fn)
  returns, adv, pl, vl, ent, total = _expected()
  np.testing.assert_allclose(extra.returns.numpy()[:, 0], returns, rtol=1e-6)
  np.testing.assert_allclose(extra.returns.numpy()[:, 0], [2.62, 1.8, 2.0],
                             rtol=1e-6)
  np.testing.assert_allclose(extra.advantages.numpy()[:, 0], adv, rtol=1e-6)
  np.testing.assert_allclose(extra.policy_loss.numpy(), pl, rtol=1e-5)
  np.testing.assert_allclose(extra.value_loss.numpy(), vl, rtol=1e-5)
  np.testing.assert_allclose(extra.entropy.numpy(), ent, rtol=1e-5)
  np.testing.assert_allclose(loss.numpy(), total, rtol=1e-5)


def test_bootstrap_used_when_not_terminal():
  g = losses.discounted_returns([[1.0], [2.0]], [[0.9], [0.9]], [10.0])
  np.testing.assert_allclose(g.numpy()[:, 0],
                             [1 + 0.9 * 2 + 0.9**2 * 10, 2 + 0.9 * 10],
                             rtol=1e-6)


def test_gradients_do_not_flow_through_targets():
  values = tf.Variable(VALUES)
  logits = tf.Variable(LOGITS, dtype=tf.float32)
  bootstrap = tf.Variable(BOOTSTRAP)
  with tf.GradientTape() as tape:
    loss, _ = losses.a2c_loss(logits, values, ACTIONS, REWARDS,
                              [[1.0], [1.0], [1.0]], bootstrap, GAMMA, BETA_V,
                              BETA_E)
  g_values, g_logits, g_boot = tape.gradient(loss, [values, logits, bootstrap])
  assert g_boot is None  # bootstrap value is a fixed target
  # Values receive only the value-loss gradient: beta_v * -(G - V) / N.
  returns = losses.discounted_returns(REWARDS, [[0.9]] * 3, BOOTSTRAP).numpy()
  np.testing.assert_allclose(g_values.numpy(),
                             BETA_V * -(returns - np.array(VALUES)) / 3,
                             rtol=1e-5)
  # Policy gradient of step 0 (uniform policy, action 0): -(A/N) * (1{a} - pi).
  adv0 = returns[0, 0] - VALUES[0][0]
  ent_grad = 0.0  # entropy is maximal at the uniform policy
  np.testing.assert_allclose(g_logits.numpy()[0, 0],
                             [-(adv0 / 3) * 0.5 + ent_grad,
                              (adv0 / 3) * 0.5 + ent_grad], rtol=1e-5)


def test_rank_is_checked():
  with pytest.raises(ValueError):
    losses.a2c_loss(tf.zeros([3, 2]), tf.zeros([3]), tf.zeros([3], tf.int32),
                    tf.zeros([3]), tf.zeros([3]), tf.zeros([]), 0.9, 0.5, 0.01)
