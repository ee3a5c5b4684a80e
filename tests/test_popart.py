"""PopArt (van Hasselt et al. 2016): the A2C loss in units of the returns'
scale, the agent's value in reward units, the statistics step that preserves
the value head's outputs, checkpoints and exports."""

import os

import numpy as np
import pytest
import tensorflow as tf

import environments
from meta_rl import export
from meta_rl import losses
from meta_rl.agent import AgentConfig, make_agent, popart_sigma
from meta_rl.training import A2CConfig, InGraphTrainer, TrainConfig


def _unroll(seed=0, t=6, b=4, a=3):
  rng = np.random.default_rng(seed)
  return dict(
      logits=rng.normal(size=(t, b, a)).astype(np.float32),
      values=rng.normal(size=(t, b)).astype(np.float32),
      actions=rng.integers(0, a, size=(t, b)).astype(np.int32),
      rewards=rng.normal(size=(t, b)).astype(np.float32),
      discounts=(rng.random((t, b)) > 0.2).astype(np.float32),
      bootstrap_value=rng.normal(size=(b,)).astype(np.float32))


def test_the_scaled_loss_does_not_depend_on_the_size_of_the_rewards():
  """Rewards, values and scale all times c: the same loss, advantages and
  gradient with respect to the (normalised) values."""
  u = _unroll()
  base, base_extra = losses.a2c_loss(**u, gamma=0.9, beta_v=0.5, beta_e=0.01,
                                     value_scale=2.0)
  for c in (10.0, 1e3):
    scaled = dict(u, values=u['values'] * c, rewards=u['rewards'] * c,
                  bootstrap_value=u['bootstrap_value'] * c)
    loss, extra = losses.a2c_loss(**scaled, gamma=0.9, beta_v=0.5,
                                  beta_e=0.01, value_scale=2.0 * c)
    np.testing.assert_allclose(loss, base, rtol=1e-5)
    np.testing.assert_allclose(extra.advantages, base_extra.advantages,
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(extra.returns, base_extra.returns * c,
                               rtol=1e-5)


def test_scale_one_is_the_plain_loss_and_a_scale_divides_errors():
  u = _unroll(1)
  plain, plain_extra = losses.a2c_loss(**u, gamma=0.9, beta_v=0.5, beta_e=0.1)
  one, _ = losses.a2c_loss(**u, gamma=0.9, beta_v=0.5, beta_e=0.1,
                           value_scale=1.0)
  assert float(one) == float(plain)
  _, extra = losses.a2c_loss(**u, gamma=0.9, beta_v=0.5, beta_e=0.1,
                             value_scale=4.0)
  np.testing.assert_allclose(extra.advantages, plain_extra.advantages / 4,
                             rtol=1e-6)
  np.testing.assert_allclose(extra.value_loss, plain_extra.value_loss / 16,
                             rtol=1e-6)
  np.testing.assert_allclose(extra.policy_loss, plain_extra.policy_loss / 4,
                             rtol=1e-5)


def _agent(popart=True):
  core = environments.make_core('easy', num_trials=10)
  return core, make_agent(core.observation_spec(), 2,
                          AgentConfig(seed=3, popart=popart))


def _inputs(agent, b=5, seed=0):
  rng = np.random.default_rng(seed)
  inputs = agent.dummy_inputs(b)
  inputs['prev_reward'] = tf.constant(rng.random(b), tf.float32)
  inputs['episode_step'] = tf.constant(rng.integers(0, 10, b), tf.int32)
  state = {k: tf.constant(rng.normal(size=v.shape), tf.float32)
           for k, v in agent.initial_state(b).items()}
  return inputs, state


def test_the_agent_returns_values_in_reward_units():
  _, agent = _agent()
  inputs, state = _inputs(agent)
  agent.popart_mu.assign(3.0)
  agent.popart_nu.assign(3.0 ** 2 + 2.0 ** 2)  # sigma 2
  np.testing.assert_allclose(agent.value_scale(), 2.0, rtol=1e-6)
  value = agent.step(inputs, state)[0].value
  # The same network without PopArt has the same weights (same seeds): its
  # value is the normalised one.
  twin = make_agent(agent.observation_spec, 2, AgentConfig(seed=3))
  np.testing.assert_allclose(value, 2.0 * twin.step(inputs, state)[0].value
                             + 3.0, rtol=1e-5, atol=1e-5)
  assert float(popart_sigma(0.0, 0.0)) == pytest.approx(1e-4)  # clipped


def test_the_statistics_step_preserves_the_values_and_follows_the_returns():
  core, agent = _agent()
  trainer = InGraphTrainer(core, agent, A2CConfig(popart_beta=0.5),
                           TrainConfig(batch_size=4, unroll_length=5))
  inputs, state = _inputs(agent)
  before = agent.step(inputs, state)[0].value.numpy()
  returns = tf.constant(np.random.default_rng(0).normal(20.0, 5.0, (5, 4)),
                        tf.float32)
  for _ in range(3):
    trainer._update_popart(returns)  # pylint: disable=protected-access
    np.testing.assert_allclose(agent.step(inputs, state)[0].value, before,
                               rtol=1e-4, atol=1e-4)
  mean, square = float(tf.reduce_mean(returns)), float(
      tf.reduce_mean(returns ** 2))
  # Three steps of 0.5 from (0, 1): 7/8 of the way.
  assert float(agent.popart_mu) == pytest.approx(mean * 7 / 8, rel=1e-5)
  assert float(agent.popart_nu) == pytest.approx(1 / 8 + square * 7 / 8,
                                                 rel=1e-5)


def test_training_moves_the_statistics_and_logs_them():
  core, agent = _agent()
  trainer = InGraphTrainer(core, agent, A2CConfig(popart_beta=0.1),
                           TrainConfig(batch_size=16, unroll_length=10,
                                       seed=1))
  for _ in range(30):
    metrics = trainer.train_step()
  # Returns of 0/1 rewards at gamma 0.9 over 10-trial episodes: mean and
  # spread between 0 and 10.
  assert 0.2 < float(agent.popart_mu) < 8
  assert 0.05 < metrics['value_scale'] < 5
  assert metrics['value_scale'] == pytest.approx(float(agent.value_scale()))
  assert metrics['value_shift'] == pytest.approx(float(agent.popart_mu))
  _, plain = _agent(popart=False)
  plain_trainer = InGraphTrainer(core, plain, A2CConfig(),
                                 TrainConfig(batch_size=16, unroll_length=10))
  assert 'value_scale' not in plain_trainer.train_step()


def test_checkpoint_and_export_keep_the_statistics(tmp_path):
  core, agent = _agent()
  agent.popart_mu.assign(5.0)
  agent.popart_nu.assign(34.0)  # sigma 3
  inputs, state = _inputs(agent)
  value = agent.step(inputs, state)[0].value.numpy()
  prefix = tf.train.Checkpoint(agent=agent).save(str(tmp_path / 'ckpt'))
  _, other = _agent()
  tf.train.Checkpoint(agent=other).restore(
      prefix).assert_existing_objects_matched()
  assert float(other.popart_mu) == 5.0 and float(other.popart_nu) == 34.0
  np.testing.assert_allclose(other.step(inputs, state)[0].value, value,
                             rtol=1e-6)
  path = export.export_agent(agent, core.observation_spec(),
                             str(tmp_path / 'saved_model'), {})
  step = tf.saved_model.load(path).signatures['step']
  out = step(**inputs, **state)
  np.testing.assert_allclose(out['value'], value, rtol=1e-5)
  assert os.path.isdir(path)
