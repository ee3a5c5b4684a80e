"""The general engine: action repeat, task metrics, the learner's gradient,
evaluation on any task, and the library entry point."""

import os

from dm_env import specs
import numpy as np
import pytest
import tensorflow as tf

import environments
from environments import core as core_lib
from environments.testing import CueBandit
from meta_rl import evaluation, experiment, metrics
from meta_rl import task_specs
from meta_rl.run import loop
from meta_rl.agent import AgentConfig, make_agent, sample_action
from meta_rl.training import A2CConfig, InGraphTrainer, PythonEnvTrainer, TrainConfig


def test_action_repeat_by_hand():
  """Informative bandit (deterministic payouts), 5 trials, repeat 2: three
  decisions of 2, 2 and 1 primitive steps; rewards and regrets summed."""
  base = environments.make_core('informative', num_trials=5)
  core = environments.make_core('informative', action_repeat=2, num_trials=5)
  assert core.episode_length == 3 and core.num_actions == 11
  key = core_lib.make_key(0)
  state, obs = core.reset(key, 2)
  target = state.target.numpy()
  # Row 0 pulls the target (5 per trial), row 1 the informative arm.
  action = tf.constant([target[0], 10], tf.int32)
  clue = (target[1] + 1) / 10
  expected = [(2, [10.0, 2 * clue], [0.0, 2 * (5 - clue)], False, 2),
              (2, [10.0, 2 * clue], [0.0, 2 * (5 - clue)], False, 4),
              (1, [5.0, clue], [0.0, 5 - clue], True, 4)]
  for i, (frames, reward, regret, last, step) in enumerate(expected):
    state, out = core.step(core_lib.fold_in(key, i), state, action)
    np.testing.assert_array_equal(out.metrics['frames'], [frames, frames])
    np.testing.assert_allclose(out.reward, reward, rtol=1e-6)
    np.testing.assert_allclose(out.metrics['regret'], regret, rtol=1e-6)
    np.testing.assert_array_equal(out.last, [last, last])
    np.testing.assert_array_equal(out.observation['episode_step'], [step, step])
    np.testing.assert_array_equal(out.discount, [0.0 if last else 1.0] * 2)
  assert base.episode_length == 5


def test_action_repeat_stops_at_episode_end_per_element():
  """Episodes of 3 trials with repeat 2: the second decision takes one frame
  and ends the episode; autoreset then starts a new one."""
  core = environments.make_core('easy', action_repeat=2, num_trials=3)
  key = core_lib.make_key(1)
  state, _ = core.reset(key, 4)
  frames, lasts = [], []
  for i in range(4):
    state, out = core_lib.step_autoreset(core, core_lib.fold_in(key, i), state,
                                         tf.zeros([4], tf.int32))
    frames.append(out.metrics['frames'].numpy())
    lasts.append(out.last.numpy())
  np.testing.assert_array_equal(np.array(frames)[:, 0], [2, 1, 2, 1])
  np.testing.assert_array_equal(np.array(lasts)[:, 0], [0, 1, 0, 1])


def test_nested_action_repeat_counts_every_frame_and_baselines_refuse():
  inner = environments.make_core('easy', action_repeat=2, num_trials=12)
  core = environments.ActionRepeat(inner, 3)
  assert environments.unwrap(core).name == 'bandit_easy'
  state, _ = core.reset(core_lib.make_key(0), 2)
  _, out = core.step(core_lib.make_key(1), state, tf.zeros([2], tf.int32))
  np.testing.assert_array_equal(out.metrics['frames'], [6, 6])
  np.testing.assert_array_equal(out.observation['episode_step'], [6, 6])
  assert task_specs.default_baselines(inner) == ('random',)
  from meta_rl import baselines  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match='action repeat'):
    baselines.make_baseline('bayes_optimal', inner)
  baselines.make_baseline('random', inner)


def test_dm_env_face_step_metrics_restart_with_the_episode():
  env = environments.make_environment('easy', seed=0, num_trials=2)
  env.reset()
  assert env.step_metrics() == {}
  env.step(0)
  assert set(env.step_metrics()) == {'regret', 'suboptimal'}
  env.step(1)
  env.reset()
  assert env.step_metrics() == {}


def test_trainer_counts_frames_under_action_repeat(tmp_path):
  core = environments.make_core('easy', action_repeat=3, num_trials=9)
  agent = make_agent(core.observation_spec(), 2)
  trainer = InGraphTrainer(core, agent, train=TrainConfig(
      batch_size=4, unroll_length=3, total_steps=2 * 12))
  lines = []
  result = loop.run(trainer, str(tmp_path), log_every_secs=0,
                      log=lines.append)
  # 9-trial episodes are 3 decisions of 3 frames: exactly one episode each.
  assert result.env_steps == 24 and result.frames == 72
  assert '(72 frames)' in lines[-1] and 'frames/s' in lines[-1]
  assert result.last_log['episode_frames'] == 9.0


def test_track_episodes_and_summarise():
  keys = metrics.episode_keys(['regret'])
  assert keys == ('episodes', 'return', 'regret')
  running = totals = metrics.zero_episode_sums(keys, 2)
  steps = [([1.0, 0.0], [0.5, 0.0], [False, True]),
           ([2.0, 1.0], [0.0, 0.25], [True, False]),
           ([4.0, 8.0], [1.0, 1.0], [False, True])]
  for reward, regret, last in steps:
    running, totals = metrics.track_episodes(
        running, totals, tf.constant(reward), {'regret': tf.constant(regret)},
        tf.constant(last))
  # Finished: env 0 after step 2 (return 3, regret 0.5); env 1 after step 1
  # (0, 0) and step 3 (9, 1.25). Env 0 is running with 4 and 1.
  np.testing.assert_allclose(totals, [[1, 3, 0.5], [2, 9, 1.25]])
  np.testing.assert_allclose(running, [[0, 4, 1], [0, 0, 0]])
  summed = metrics.sum_over_batch(keys, totals)
  assert {k: float(v) for k, v in summed.items()} == {
      'episodes': 3.0, 'return': 12.0, 'regret': 1.75}
  with pytest.raises(ValueError, match='reserved'):
    metrics.episode_keys(['return'])
  window = {'loss': 3.0, 'sum/episodes': 3.0, 'sum/return': 12.0,
            'sum/regret': 1.75}
  out = metrics.summarise(window, 2, lambda t: {'per_ep': t['return'] / 3})
  assert out == {'loss': 1.5, 'episode_return': 4.0,
                 'episode_regret': pytest.approx(1.75 / 3), 'per_ep': 4.0}
  assert metrics.summarise({'loss': 1.0, 'sum/episodes': 0.0}, 1) == {'loss': 1.0}


class _GradientTrainer(InGraphTrainer):
  """Returns the raw gradients of its update as well."""

  def _apply(self, loss, extra, grads, variables, rewards):
    out = super()._apply(loss, extra, grads, variables, rewards)
    out.update({f'grad:{v.path}': g for g, v in zip(grads, variables)})
    return out


def _reference_gradients(trainer, update):
  """The trainer's next update replayed eagerly, learning as seed_rl does:
  record the unroll, then recompute it with `agent.unroll`."""
  core, agent, k = trainer.core, trainer.agent, trainer.config.unroll_length
  c = {name: tf.nest.map_structure(lambda v: v.read_value(), v)
       for name, v in trainer._carry.items()}  # pylint: disable=protected-access
  env_key, act_key = core_lib.split_key(
      core_lib.fold_in(core_lib.make_key(trainer.config.seed), update))
  env_state, obs, state = c['env_state'], c['observation'], c['agent_state']
  initial_state = state
  prev_action, prev_reward, first = c['prev_action'], c['prev_reward'], c['first']
  steps = []
  for t in range(k):
    inputs = dict(obs, prev_action=prev_action, prev_reward=prev_reward)
    steps.append((inputs, first))
    act_in, state = agent.reset_where(first, inputs, state)
    out, state = agent.step(act_in, state)
    action = sample_action(out.logits, core_lib.fold_in(act_key, t))
    env_state, step = core_lib.step_autoreset(core, core_lib.fold_in(env_key, t),
                                              env_state, action)
    steps[-1] += (action, step.reward,
                  step.discount * (1 - tf.cast(step.last, tf.float32)))
    prev_action, prev_reward, first = action, step.reward, step.last
    obs = step.observation
  steps.append((dict(obs, prev_action=prev_action, prev_reward=prev_reward),
                first))
  inputs = tf.nest.map_structure(lambda *x: tf.stack(x), *[s[0] for s in steps])
  firsts = tf.stack([s[1] for s in steps])
  actions, rewards, discounts = [tf.stack([s[i] for s in steps[:-1]])
                                 for i in (2, 3, 4)]
  variables = agent.trainable_variables
  with tf.GradientTape() as tape:
    out, _ = agent.unroll(inputs, firsts, initial_state)
    loss, _ = trainer._loss(out.logits[:-1], out.value[:-1], actions,  # pylint: disable=protected-access
                            rewards, discounts, out.value[-1])
  return float(loss), {v.path: g for v, g in zip(variables,
                                                  tape.gradient(loss, variables))}


@pytest.mark.parametrize('task, config', [
    ('cue', AgentConfig(core='lstm', num_units=16)),
    ('cue', AgentConfig(core='feedforward', num_units=16)),
    ('independent', AgentConfig(core='stacked_lstm', stacked_units=(12, 8))),
])
def test_one_pass_gradient_equals_recomputed_unroll(task, config):
  """The in-graph trainer acts and learns in one pass, with the encoder
  differentiated once on all K*B frames; its gradient must be the gradient of
  the same loss recomputed over the recorded unroll. 4-trial episodes and
  unroll 7: episodes end inside unrolls, and the second update starts from
  the first one's carried state, previous action and reward mid-episode."""
  core = (CueBandit(num_trials=4, size=36) if task == 'cue' else
          environments.make_core(task, num_trials=4))
  agent = make_agent(core.observation_spec(), 2, config)
  trainer = _GradientTrainer(core, agent, A2CConfig(), TrainConfig(
      batch_size=3, unroll_length=7, seed=5))
  for update in range(2):
    ref_loss, ref_grads = _reference_gradients(trainer, update)
    out = trainer._train_step()  # pylint: disable=protected-access
    assert float(out['loss']) == pytest.approx(ref_loss, rel=1e-5)
    grads = {k[len('grad:'):]: v for k, v in out.items()
             if k.startswith('grad:')}
    assert set(grads) == set(ref_grads)
    if task == 'cue':
      assert any('conv' in name for name in grads)
    for name, g in grads.items():
      np.testing.assert_allclose(g, ref_grads[name], rtol=2e-4, atol=1e-6,
                                 err_msg=f'{name}, update {update}')
      assert np.abs(g.numpy()).max() > 0, name


def test_learns_from_pixels_only():
  """The cue bandit can only be solved through the conv encoder: training
  must take the reward per trial from chance (0.5) to clearly above it."""
  core = CueBandit(num_trials=5, size=36)
  agent = make_agent(core.observation_spec(), 2,
                     AgentConfig(core='feedforward', num_units=32, seed=1))
  trainer = InGraphTrainer(core, agent, A2CConfig(learning_rate=3e-3),
                           TrainConfig(batch_size=16, unroll_length=5,
                                       total_steps=10**6, seed=1))
  rewards = [trainer.train_step()['mean_reward'] for _ in range(40)]
  assert rewards[0] < 0.7  # 80 trials of an untrained agent: near chance
  assert np.mean(rewards[-10:]) > 0.9, rewards


class _NumpyPolicy:
  """A TF policy hidden behind the NumPy protocol (Python evaluation path)."""

  def __init__(self, policy):
    self.initial_state, self.step = policy.initial_state, policy.step


def test_graph_and_python_evaluation_play_the_same_episodes():
  core = environments.make_core('independent', num_trials=20)
  agent = make_agent(core.observation_spec(), 2, AgentConfig(seed=3))
  greedy = evaluation.AgentPolicy(agent, greedy=True)
  graph = evaluation.play_episodes(core, greedy, 50, seed=4,
                                   record_states=True, record_episodes=7)
  python = evaluation.play_episodes(core, _NumpyPolicy(greedy), 50, seed=4,
                                    record_states=True, record_episodes=7)
  for key in ('actions', 'rewards', 'valid', 'info_arm_probs',
              'metric_regret', 'metric_suboptimal'):
    np.testing.assert_allclose(graph[key], python[key], rtol=1e-6, err_msg=key)
  assert graph['states']['lstm_h'].shape == (7, 20, 48)
  np.testing.assert_allclose(graph['states']['lstm_c'],
                             python['states']['lstm_c'], rtol=1e-5, atol=1e-6)
  # Regret by hand from the ground truth and the actions.
  p = graph['info_arm_probs']
  chosen = np.take_along_axis(p, graph['actions'][..., None], -1)[..., 0]
  np.testing.assert_allclose(graph['metric_regret'], p.max(-1) - chosen,
                             rtol=1e-6, atol=1e-7)
  summary = evaluation.summarise(graph)
  assert summary['episode_regret'] == pytest.approx(
      (p.max(-1) - chosen).sum(1).mean(), rel=1e-5)
  # Sampled actions are reproducible per seed and differ across seeds.
  sampled = evaluation.AgentPolicy(agent)
  a = evaluation.play_episodes(core, sampled, 50, seed=4)['actions']
  np.testing.assert_array_equal(
      a, evaluation.play_episodes(core, sampled, 50, seed=4)['actions'])
  assert (a != evaluation.play_episodes(core, sampled, 50, seed=5)['actions']).any()


def test_dm_env_evaluation_on_faces_and_derived_metrics():
  envs = [environments.make_environment('two_step', seed=i, num_trials=3)
          for i in range(4)]
  agent = make_agent(envs[0].observation_spec(), 2)
  episodes = evaluation.play_dm_env_episodes(
      envs, evaluation.AgentPolicy(agent), 10, seed=0, record_states=True,
      record_episodes=6)
  assert episodes['actions'].shape == (10, 6)
  assert episodes['valid'].all()
  assert episodes['states']['lstm_h'].shape == (6, 6, 48)
  # A trial ends on every second step.
  np.testing.assert_array_equal(episodes['metric_trials'][0], [0, 1] * 3)
  np.testing.assert_array_equal(episodes['info_state'][:, 0::2], 0)
  summary = evaluation.summarise(episodes, envs[0].core.derived_metrics)
  assert summary['reward_per_trial'] == pytest.approx(
      episodes['rewards'].sum() / 30)


def test_experiment_train_entry_point(tmp_path):
  task = experiment.TaskConfig('easy', {'num_trials': 5})
  agent, a2c = AgentConfig(num_units=8), A2CConfig()
  train = TrainConfig(batch_size=4, unroll_length=5, total_steps=40)
  run = experiment.RunConfig(str(tmp_path / 'run'), log_every_secs=0)
  result = experiment.train(task, agent, a2c, train, run, log=lambda s: None)
  assert result.saved_model == str(tmp_path / 'run' / 'saved_model' / '1')
  assert (result.num_updates, result.env_steps) == (2, 40)
  policy = evaluation.SavedModelPolicy(result.saved_model)
  assert policy.metadata['task_kwargs'] == {'num_trials': 5}
  with pytest.raises(experiment.RunDirError,
                     match=r'exists; resume it \(`resume`\)'):
    experiment.train(task, agent, a2c, train, run)
  with pytest.raises(experiment.RunDirError, match='a2c.gamma was 0.9'):
    experiment.train(task, agent, A2CConfig(gamma=0.5), train,
                     experiment.RunConfig(run.run_dir, resume=True))
  for bad, message in [
      (lambda: dict(task=experiment.TaskConfig('bogus')), 'unknown task'),
      (lambda: dict(task=experiment.TaskConfig('easy', {'num_trails': 5})),
       'num_trails'),
      (lambda: dict(a2c=A2CConfig(optimizer='sgd')), 'unknown optimizer'),
      (lambda: dict(train_config=TrainConfig(batch_size=0)), 'batch_size'),
      (lambda: dict(agent=AgentConfig(core='gru')), 'unknown `core`')]:
    with pytest.raises(ValueError, match=message):
      args = dict(task=task, agent=agent, a2c=a2c, train_config=train,
                  run=experiment.RunConfig(str(tmp_path / 'bad')))
      args.update(bad())
      experiment.train(**args)
    assert not os.path.exists(tmp_path / 'bad')  # nothing written


def test_python_driver_xla_computes_the_same_loss():
  """The dm_env driver acts outside XLA, so with and without XLA it records
  the same unroll, and the compiled update must compute the same loss."""
  losses = []
  for jit in (False, True):
    envs = [environments.make_environment('easy', seed=i, num_trials=5)
            for i in range(4)]
    agent = make_agent(envs[0].observation_spec(), 2, AgentConfig(seed=2))
    trainer = PythonEnvTrainer(envs, agent, A2CConfig(), TrainConfig(
        batch_size=4, unroll_length=5, jit_compile=jit, seed=2))
    losses.append(trainer.train_step()['loss'])
  assert losses[1] == pytest.approx(losses[0], rel=1e-5)


def test_initialiser_seeds_do_not_collide_with_many_observation_keys():
  """Eleven and more observation keys (the old seed*1000 + offset scheme
  collided there): every weight tensor is initialised differently."""
  spec = {f'image{i:02d}': specs.Array((36, 36, 3), np.uint8, name=f'image{i:02d}')
          for i in range(12)}
  agent = make_agent(spec, 2, AgentConfig(num_units=8))
  seen = {}
  for v in agent.trainable_variables:
    x = v.numpy()
    if not x.any():
      continue  # biases start at zero
    key = (x.shape, x.tobytes())
    assert key not in seen, (v.path, seen.get(key))
    seen[key] = v.path
  assert len(seen) >= 12 * 3 + 4
