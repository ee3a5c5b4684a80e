"""The recurrent agent: inputs, resets, ablation, cores, encoders, unroll."""

from dm_env import specs
import numpy as np
import pytest
import tensorflow as tf

import environments
from meta_rl.agent import AgentConfig, make_agent

OBS_SPEC = environments.make_core('independent').observation_spec()


def _inputs(b, prev_action, prev_reward, step):
  return {'prev_action': tf.constant(prev_action, tf.int32),
          'prev_reward': tf.constant(prev_reward, tf.float32),
          'episode_step': tf.constant(step, tf.int32)}


def test_shapes_and_state_names():
  agent = make_agent(OBS_SPEC, 2)
  state = agent.initial_state(3)
  assert set(state) == {'lstm_h', 'lstm_c'}
  assert state['lstm_h'].shape == (3, 48)
  out, new_state = agent.step(_inputs(3, [0, 1, -1], [1, 0, 0], [1, 2, 0]), state)
  assert out.logits.shape == (3, 2) and out.value.shape == (3,)
  assert set(new_state) == set(state)


def test_reward_input_matters_unless_ablated():
  for use_reward, should_differ in [(True, True), (False, False)]:
    agent = make_agent(OBS_SPEC, 2, AgentConfig(use_reward_input=use_reward))
    state = {k: tf.random.stateless_normal(v.shape, [1, 2])
             for k, v in agent.initial_state(2).items()}
    a, _ = agent.step(_inputs(2, [0, 1], [0.0, 0.0], [5, 5]), state)
    b, _ = agent.step(_inputs(2, [0, 1], [1.0, 1.0], [5, 5]), state)
    assert (not np.allclose(a.logits, b.logits)) == should_differ


def test_episode_step_and_prev_action_are_inputs():
  agent = make_agent(OBS_SPEC, 2)
  state = {k: tf.random.stateless_normal(v.shape, [3, 4])
           for k, v in agent.initial_state(1).items()}
  base, _ = agent.step(_inputs(1, [0], [1.0], [3]), state)
  other_t, _ = agent.step(_inputs(1, [0], [1.0], [60]), state)
  other_a, _ = agent.step(_inputs(1, [1], [1.0], [3]), state)
  assert not np.allclose(base.logits, other_t.logits)
  assert not np.allclose(base.logits, other_a.logits)


def test_reset_where_starts_fresh_episodes_only_where_first():
  agent = make_agent(OBS_SPEC, 2)
  state = {k: tf.ones(v.shape) for k, v in agent.initial_state(2).items()}
  inputs, state = agent.reset_where(tf.constant([True, False]),
                                    _inputs(2, [1, 1], [1.0, 1.0], [0, 4]),
                                    state)
  np.testing.assert_array_equal(inputs['prev_action'], [-1, 1])
  np.testing.assert_array_equal(inputs['prev_reward'], [0.0, 1.0])
  np.testing.assert_array_equal(state['lstm_h'][0], 0.0)
  np.testing.assert_array_equal(state['lstm_h'][1], 1.0)


@pytest.mark.parametrize('core', ['lstm', 'stacked_lstm', 'feedforward'])
def test_unroll_equals_stepping_with_resets(core):
  spec = {'image': specs.Array((36, 36, 3), np.uint8, name='image'),
          **OBS_SPEC}
  agent = make_agent(spec, 2, AgentConfig(core=core, num_units=16,
                                          stacked_units=(16, 8)))
  t, b = 6, 3
  rng = np.random.default_rng(0)
  inputs = {'prev_action': tf.constant(rng.integers(0, 2, (t, b)), tf.int32),
            'prev_reward': tf.constant(rng.random((t, b)), tf.float32),
            'episode_step': tf.constant(rng.integers(0, 100, (t, b)), tf.int32),
            'image': tf.constant(rng.integers(0, 256, (t, b, 36, 36, 3)),
                                 tf.uint8)}
  first = tf.constant(rng.random((t, b)) < 0.3)
  state = {k: tf.random.stateless_normal(v.shape, [5, 6])
           for k, v in agent.initial_state(b).items()}
  out, final = tf.function(agent.unroll)(inputs, first, state)
  s = state
  for i in range(t):
    step_in, s = agent.reset_where(first[i], {k: v[i] for k, v in inputs.items()}, s)
    o, s = agent.step(step_in, s)
    np.testing.assert_allclose(out.logits[i], o.logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out.value[i], o.value, rtol=1e-5, atol=1e-5)
  assert set(final) == set(s)
  for k in s:
    np.testing.assert_allclose(final[k], s[k], rtol=1e-5, atol=1e-5)


def test_same_seed_same_weights():
  a = make_agent(OBS_SPEC, 2, AgentConfig(seed=3))
  b = make_agent(OBS_SPEC, 2, AgentConfig(seed=3))
  c = make_agent(OBS_SPEC, 2, AgentConfig(seed=4))
  for va, vb in zip(a.trainable_variables, b.trainable_variables):
    np.testing.assert_array_equal(va.numpy(), vb.numpy())
  assert not np.allclose(a.trainable_variables[0].numpy(),
                         c.trainable_variables[0].numpy())


IMAGE_SPEC = {'image': specs.Array((84, 84, 3), np.uint8, name='image'),
              'state': specs.DiscreteArray(3, name='state')}


def _image_inputs(images, prev_action=(0, 2), prev_reward=(0.0, 1.0)):
  return {'prev_action': tf.constant(prev_action),
          'prev_reward': tf.constant(prev_reward),
          'image': tf.constant(images, tf.uint8), 'state': tf.constant([0, 2])}


def test_conv_encoder_pixels_change_the_policy():
  agent = make_agent(IMAGE_SPEC, 3)
  assert any('conv' in v.path for v in agent.trainable_variables)
  rng = np.random.default_rng(1)
  state = agent.initial_state(2)
  images = rng.integers(0, 256, (2, 84, 84, 3))
  a, _ = agent.step(_image_inputs(images), state)
  b, _ = agent.step(_image_inputs(255 - images), state)
  c, _ = agent.step(_image_inputs(images), state)
  assert a.logits.shape == (2, 3)
  np.testing.assert_array_equal(a.logits, c.logits)
  assert np.abs(a.logits - b.logits).min() > 1e-4
  assert np.abs(a.value - b.value).min() > 1e-5


def test_stacked_core_wiring_of_fig_1c():
  """LSTM 1 sees the observation and the previous reward, not the previous
  action; LSTM 2 sees the previous action."""
  agent = make_agent(IMAGE_SPEC, 3, AgentConfig(core='stacked_lstm',
                                                stacked_units=(32, 16)))
  assert agent.state_sizes == {'lstm0_h': 32, 'lstm0_c': 32, 'lstm1_h': 16,
                               'lstm1_c': 16}
  images = np.random.default_rng(2).integers(0, 256, (2, 84, 84, 3))
  state = agent.initial_state(2)
  _, base = agent.step(_image_inputs(images), state)
  _, other_action = agent.step(_image_inputs(images, prev_action=(1, 0)), state)
  _, other_reward = agent.step(_image_inputs(images, prev_reward=(1.0, 0.0)),
                               state)
  np.testing.assert_array_equal(base['lstm0_h'], other_action['lstm0_h'])
  assert not np.allclose(base['lstm1_h'], other_action['lstm1_h'])
  assert not np.allclose(base['lstm0_h'], other_reward['lstm0_h'])
  with pytest.raises(ValueError, match='unknown `core`'):
    make_agent(IMAGE_SPEC, 3, AgentConfig(core='gru'))


def test_feedforward_core_sees_only_the_observation():
  agent = make_agent(IMAGE_SPEC, 3, AgentConfig(core='feedforward',
                                                num_units=32))
  assert agent.state_sizes == {} and agent.initial_state(2) == {}
  images = np.random.default_rng(3).integers(0, 256, (2, 84, 84, 3))
  a, state = agent.step(_image_inputs(images), {})
  b, _ = agent.step(_image_inputs(images, (1, 1), (5.0, -1.0)), {})
  c, _ = agent.step(_image_inputs(255 - images), {})
  assert state == {}
  np.testing.assert_array_equal(a.logits, b.logits)
  assert not np.allclose(a.logits, c.logits)


def test_one_hot_reward_encoding():
  agent = make_agent(OBS_SPEC, 2, AgentConfig(reward_values=(0.1, 1.0, 5.0)))
  enc = agent._encode_reward(tf.constant([0.0, 0.1, 1.0, 5.0, 0.3]))
  np.testing.assert_array_equal(enc, [[0, 0, 0], [1, 0, 0], [0, 1, 0],
                                      [0, 0, 1], [0, 0, 0]])
  state = {k: tf.random.stateless_normal(v.shape, [1, 2])
           for k, v in agent.initial_state(2).items()}
  a, _ = agent.step(_inputs(2, [0, 1], [1.0, 1.0], [2, 2]), state)
  b, _ = agent.step(_inputs(2, [0, 1], [5.0, 5.0], [2, 2]), state)
  assert not np.allclose(a.logits, b.logits)
  ablated = make_agent(OBS_SPEC, 2, AgentConfig(reward_values=(0.1, 1.0, 5.0),
                                                use_reward_input=False))
  np.testing.assert_array_equal(ablated._encode_reward(tf.constant([5.0])), [[0, 0, 0]])


def test_too_small_an_image_is_a_clear_error():
  spec = {'pixels': specs.Array((16, 16, 3), np.uint8, name='pixels')}
  with pytest.raises(ValueError, match='16x16; the conv encoder needs at '
                     'least 20x20'):
    make_agent(spec, 3)
  make_agent({'pixels': specs.Array((20, 20, 3), np.uint8)}, 3)  # fits
