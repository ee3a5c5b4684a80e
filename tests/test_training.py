"""Training: learning, determinism, exact resume, non-finite loss, dm_env driver."""

import dataclasses
import os
import re

import dm_env
from dm_env import specs
import numpy as np
import pytest
import tensorflow as tf

import environments
from meta_rl import baselines, evaluation
from meta_rl.run import loop
from meta_rl.agent import AgentConfig, make_agent
from meta_rl.training import (A2CConfig, InGraphTrainer, NonFiniteLossError,
                              PythonEnvTrainer, TrainConfig)


def _trainer(task='easy', seed=0, batch_size=8, unroll=10, num_trials=10,
             total_steps=10_000, **a2c):
  core = environments.make_core(task, num_trials=num_trials)
  agent = make_agent(core.observation_spec(), 2, AgentConfig(seed=seed))
  return InGraphTrainer(core, agent, A2CConfig(**a2c),
                        TrainConfig(batch_size=batch_size, unroll_length=unroll,
                                    total_steps=total_steps, seed=seed))


def _weights(trainer):
  return [v.numpy() for v in trainer.agent.trainable_variables]


@pytest.mark.parametrize('popart', [False, True])
def test_short_seeded_run_learns_easy_task(popart):
  """Regret on the easy task must fall clearly below chance (40 per episode).

  Regret bounces during training, so evaluate repeatedly and pass on the
  first good frozen evaluation within a generous budget. With PopArt too
  (the loss in units of the returns' scale).
  """
  core = environments.make_core('easy')
  agent = make_agent(core.observation_spec(), 2, AgentConfig(seed=1,
                                                             popart=popart))
  trainer = InGraphTrainer(core, agent, A2CConfig(learning_rate=3e-3),
                           TrainConfig(batch_size=64, unroll_length=100,
                                       total_steps=10**9, seed=1))
  policy = evaluation.AgentPolicy(agent)
  chance = evaluation.summarise(evaluation.play_episodes(
      core, baselines.RandomPolicy(), 300, seed=9))['episode_regret']
  assert 35 < chance < 45
  untrained = evaluation.summarise(evaluation.play_episodes(
      core, policy, 300, seed=9))['episode_regret']
  assert untrained > 20  # the test can fail: an untrained agent is near chance
  history = []
  for _ in range(12):
    for _ in range(150):
      trainer.train_step()
    regret = evaluation.summarise(evaluation.play_episodes(
        core, policy, 300, seed=9))['episode_regret']
    history.append(round(regret, 2))
    if regret < 8.0:
      break
  assert min(history) < 8.0, history


# unroll 7 with 10-trial episodes: state and previous action/reward carry
# across unrolls, episodes end mid-unroll and bootstraps happen mid-episode.
@pytest.mark.parametrize('unroll', [10, 7])
def test_same_seed_same_result(unroll):
  a, b, c = (_trainer(seed=4, unroll=unroll), _trainer(seed=4, unroll=unroll),
             _trainer(seed=5, unroll=unroll))
  ma = [a.train_step() for _ in range(3)]
  mb = [b.train_step() for _ in range(3)]
  c.train_step()
  assert ma == mb
  for wa, wb in zip(_weights(a), _weights(b)):
    np.testing.assert_array_equal(wa, wb)
  assert not np.allclose(_weights(a)[0], _weights(c)[0])


@pytest.mark.parametrize('unroll', [10, 7])
def test_resume_continues_exactly(tmp_path, unroll):
  five = 5 * 8 * unroll  # env steps of five updates
  straight = _trainer(seed=2, unroll=unroll, total_steps=five)
  for _ in range(5):
    straight.train_step()
  # A run stopped after two updates (constant schedules: same updates).
  first = _trainer(seed=2, unroll=unroll, total_steps=2 * 8 * unroll)
  loop.run(first, str(tmp_path), checkpoint_every=1, log=lambda s: None)
  resumed = _trainer(seed=2, unroll=unroll, total_steps=five)
  result = loop.run(resumed, str(tmp_path), resume=True,
                      checkpoint_every=1, log=lambda s: None)
  assert result.num_updates == 5
  for wa, wb in zip(_weights(straight), _weights(resumed)):
    np.testing.assert_array_equal(wa, wb)
  # The carried environment and LSTM state were restored too.
  for va, vb in zip(tf.nest.flatten(straight._carry),
                    tf.nest.flatten(resumed._carry)):
    np.testing.assert_array_equal(va.numpy(), vb.numpy())


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  trainer = _trainer(seed=3, total_steps=2 * 80)
  loop.run(trainer, str(tmp_path), checkpoint_every=1, log=lambda s: None)
  good = tf.train.latest_checkpoint(os.path.join(tmp_path, 'checkpoints'))
  kernel = trainer.agent.value_head.trainable_variables[0]
  kernel.assign(np.full(kernel.shape, np.nan, np.float32))
  before = _weights(trainer)
  lines = []
  trainer.config = dataclasses.replace(trainer.config, total_steps=10 * 80)
  with pytest.raises(NonFiniteLossError):
    loop.run(trainer, str(tmp_path), checkpoint_every=1, log=lines.append)
  # The bad update was not applied: no optimizer step, weights untouched.
  assert trainer.num_updates == 2
  for wa, wb in zip(before, _weights(trainer)):
    np.testing.assert_array_equal(wa, wb)
  assert tf.train.latest_checkpoint(os.path.join(tmp_path, 'checkpoints')) == good
  assert 'last good checkpoint' in lines[-1]
  restored = _trainer(seed=3)
  restored.checkpoint.restore(good)
  assert all(np.isfinite(w).all() for w in _weights(restored))


def test_progress_and_tensorboard(tmp_path):
  trainer = _trainer(seed=0, total_steps=5 * 80)
  lines, logged = [], []
  loop.run(trainer, str(tmp_path), log_every_secs=0.0, log=lines.append,
             on_log=lambda u, scalars: logged.append(scalars))
  # The compiling update is announced, then folded into the next line.
  assert len(lines) == 5 and 'compiling' in lines[0]
  assert [l.split('update ')[1].split()[0] for l in lines[1:]] == [
      '2/5', '3/5', '4/5', '5/5']
  for field in ('update 5/5', 'steps/s', 'episode reward', 'regret', 'ETA'):
    assert field in lines[-1]
  assert 'frames' not in lines[-1]  # no action repeat: frames = steps
  events = tf.io.gfile.glob(os.path.join(tmp_path, 'tb', 'events.out.tfevents.*'))
  assert events
  tags, steps = set(), set()
  for e in tf.compat.v1.train.summary_iterator(events[0]):
    scalars = [v for v in e.summary.value
               if v.metadata.plugin_data.plugin_name == 'scalars']
    tags.update(v.tag for v in scalars)
    if scalars:
      steps.add(e.step)
  # Every scalar the trainer gives, including the task's own metrics.
  assert {'loss', 'policy_loss', 'value_loss', 'entropy', 'grad_norm',
          'beta_e', 'learning_rate', 'mean_reward', 'episode_return',
          'episode_regret', 'episode_suboptimal', 'env_steps_per_sec',
          'frames_per_sec'} <= tags
  assert steps == {80 * u for u in range(2, 6)}  # x axis: env steps
  # One 10-trial episode per environment per update: 8 episodes an update,
  # each with at most 10 suboptimal pulls costing 0.8 each (easy task).
  for scalars in logged:
    assert 0 <= scalars['episode_suboptimal'] <= 10
    assert scalars['episode_regret'] == pytest.approx(
        0.8 * scalars['episode_suboptimal'], abs=1e-4)


class _AlwaysRightArm(dm_env.Environment):
  """A user's own task in plain Python: action 1 pays 1, action 0 pays 0."""

  def __init__(self, length=10):
    self._length, self._t = length, 0

  def reset(self):
    self._t = 0
    return dm_env.restart({'episode_step': np.int32(0)})

  def step(self, action):
    self._t += 1
    obs = {'episode_step': np.int32(min(self._t, self._length - 1))}
    reward = np.float32(action == 1)
    if self._t >= self._length:
      return dm_env.termination(reward, obs)
    return dm_env.transition(reward, obs)

  def observation_spec(self):
    return {'episode_step': specs.BoundedArray((), np.int32, 0,
                                               self._length - 1, 'episode_step')}

  def action_spec(self):
    return specs.DiscreteArray(2, name='action')


def test_python_dm_env_driver_learns_a_users_task():
  envs = [_AlwaysRightArm() for _ in range(8)]
  agent = make_agent(envs[0].observation_spec(), 2)
  trainer = PythonEnvTrainer(envs, agent, A2CConfig(learning_rate=1e-2),
                             TrainConfig(batch_size=8, unroll_length=10,
                                         total_steps=10**6))
  rewards = [trainer.train_step()['mean_reward'] for _ in range(60)]
  assert np.mean(rewards[:5]) < 0.75
  assert np.mean(rewards[-5:]) > 0.9, rewards


def test_python_driver_logs_regret_on_bandit_faces():
  envs = [environments.make_environment('easy', seed=i, num_trials=5)
          for i in range(4)]
  agent = make_agent(envs[0].observation_spec(), 2)
  trainer = PythonEnvTrainer(envs, agent, train=TrainConfig(
      batch_size=4, unroll_length=5))
  m = trainer.train_step()
  assert m['sum/episodes'] == 4
  # On the easy task every suboptimal pull costs exactly 0.9 - 0.1.
  assert m['sum/suboptimal'] == int(m['sum/suboptimal'])
  assert m['sum/regret'] == pytest.approx(0.8 * m['sum/suboptimal'], abs=1e-4)
  assert trainer.frames == trainer.env_steps == 20


def test_xla_compiled_update_is_reproducible():
  """XLA draws other random numbers than the default kernels for the same
  stateless seed (so XLA and non-XLA runs differ), but an XLA run is
  reproducible."""
  def make():
    t = _trainer(seed=6, unroll=7)
    return InGraphTrainer(t.core, t.agent, t.a2c,
                          TrainConfig(batch_size=8, unroll_length=7,
                                      total_steps=10_000, seed=6,
                                      jit_compile=True))
  a, b = make(), make()
  ma = [a.train_step() for _ in range(3)]
  mb = [b.train_step() for _ in range(3)]
  assert ma == mb and all(np.isfinite(m['loss']) for m in ma)
  for wa, wb in zip(_weights(a), _weights(b)):
    np.testing.assert_array_equal(wa, wb)


def _entropy_trainer(target, beta_e=0.05, lr=0.5):
  core = environments.make_core('easy', num_trials=5)
  agent = make_agent(core.observation_spec(), core.num_actions,
                     AgentConfig(num_units=8, seed=1))
  return InGraphTrainer(core, agent, A2CConfig(
      beta_e=beta_e, target_entropy=target, beta_e_lr=lr),
                        TrainConfig(batch_size=4, unroll_length=5, seed=1))


@pytest.mark.parametrize('target', [0.0, 1.5])
def test_target_entropy_adapts_beta_e_by_the_entropy_gap(target):
  """log beta_e += beta_e_lr * (target - entropy of the update): two actions
  have at most ln 2 = 0.69 nats, so a target of 1.5 raises beta_e at every
  update and a target of 0 lowers it."""
  trainer = _entropy_trainer(target)
  log_beta = np.log(0.05)
  for _ in range(3):
    m = trainer.train_step()
    assert m['beta_e'] == pytest.approx(np.exp(log_beta), rel=1e-5)
    log_beta += 0.5 * (target - m['entropy'])
    assert float(trainer._log_beta_e.numpy()) == pytest.approx(  # pylint: disable=protected-access
        log_beta, rel=1e-5)
  assert (np.exp(log_beta) > 0.05) == (target > 0)


def test_adapted_beta_e_is_checkpointed_and_bounded(tmp_path):
  trainer = _entropy_trainer(1.5, beta_e=0.9, lr=10.0)
  trainer.train_step()
  assert trainer.train_step()['beta_e'] == pytest.approx(1.0)  # BETA_E_MAX
  path = trainer.checkpoint.save(str(tmp_path / 'ckpt'))
  again = _entropy_trainer(1.5, beta_e=0.9, lr=10.0)
  again.checkpoint.restore(path).assert_consumed()
  assert float(again._log_beta_e.numpy()) == pytest.approx(0.0)  # pylint: disable=protected-access
  # Without a target, nothing extra is checkpointed (older checkpoints
  # restore as before).
  def saved_names(t, name):
    return [n for n, _ in tf.train.list_variables(
        t.checkpoint.save(str(tmp_path / name)))]
  assert any(n.startswith('log_beta_e/') for n in saved_names(trainer, 't'))
  plain = _entropy_trainer(None)
  assert not any('log_beta_e' in n for n in saved_names(plain, 'plain'))
  for bad, message in [
      (dict(target_entropy=-1.0), 'target_entropy'),
      (dict(target_entropy=float('nan')), 'target_entropy'),
      (dict(target_entropy=0.5, beta_e_final=0.0), 'not both'),
      (dict(target_entropy=0.5, beta_e=0.0), 'beta_e'),
      (dict(beta_e_lr=0.0), 'beta_e_lr')]:
    with pytest.raises(ValueError, match=message):
      A2CConfig(**bad)


@pytest.mark.parametrize('kwargs,message', [
    (dict(learning_rate=-1.0), 'learning_rate must be a finite number in (0, 1]'),
    (dict(learning_rate=float('nan')), 'learning_rate must be'),
    (dict(learning_rate_final=2.0), 'learning_rate_final must be'),
    (dict(beta_v=float('inf')), 'beta_v must be a finite number >= 0'),
    (dict(beta_e=-0.1), 'beta_e must be'),
    (dict(beta_e_final=-1.0), 'beta_e_final must be'),
    (dict(adam_epsilon=0.0), 'adam_epsilon must be'),
    (dict(rmsprop_rho=1.5), 'rmsprop_rho must be in [0, 1]'),
    (dict(gamma=1.01), 'gamma must be in [0, 1]'),
    (dict(max_grad_norm=-1.0), 'max_grad_norm must be'),
    (dict(popart_beta=0.0), 'popart_beta must be'),
    (dict(beta_v='0.5'), 'beta_v must be'),
])
def test_a2c_config_refuses_values_out_of_range_from_python(kwargs, message):
  """The same ranges as the launchers' flags (one table), for Python users."""
  with pytest.raises(ValueError, match=re.escape(message)):
    A2CConfig(**kwargs)
