"""What a run and an evaluation tell the user: progress lines without the
compile time, TensorBoard HParams and histograms, evaluation results in
TensorBoard, the evaluation table, and evaluation on a user's dm_env task."""

import dataclasses
import json
import os
import re
import shutil
import time

import dm_env
from dm_env import specs
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.plugins.hparams import metadata as hp_metadata

import environments
from environments.testing import CueBandit
from meta_rl import evaluation, experiment, export, training
from meta_rl.run import loop, rundir
from meta_rl.agent import AgentConfig, make_agent
from meta_rl.training import A2CConfig, InGraphTrainer, TrainConfig


class _SlowFirstUpdate:
  """A trainer whose first update in a process is slow, as the compilation
  of a tf.function makes it; 100 decisions of 2 frames per update."""

  progress_metrics = ('episode_regret',)
  derived_metrics = None
  episode_metric_names = ['episode_return', 'episode_regret']
  env_steps_per_update = 100

  def __init__(self, total_updates, compile_secs=0.6, step_secs=0.004):
    self.total_updates = total_updates
    self._secs = (compile_secs, step_secs)
    self._updates = tf.Variable(0, dtype=tf.int64)
    self.checkpoint = tf.train.Checkpoint(updates=self._updates)
    self.agent = self.optimizer = tf.Module()  # no weights
    self._calls = 0

  @property
  def compiled(self):
    return self._calls > 0

  def histograms(self):
    return {}

  @property
  def num_updates(self):
    return int(self._updates.numpy())

  @property
  def env_steps(self):
    return self.num_updates * 100

  @property
  def frames(self):
    return 2 * self.env_steps

  def train_step(self):
    time.sleep(self._secs[0] if self._calls == 0 else self._secs[1])
    self._calls += 1
    self._updates.assign_add(1)
    return {'loss': 1.0, 'entropy': 0.5, 'sum/episodes': 2.0,
            'sum/return': 3.0, 'sum/regret': 1.0}


def _count(text):
  scale = {'k': 1e3, 'M': 1e6, 'G': 1e9}
  return float(text[:-1]) * scale[text[-1]] if text[-1] in scale else float(text)


def _rates(line):
  """(steps/s, frames/s, ETA) of a progress line."""
  steps = re.search(r' (\S+) steps/s', line).group(1)
  frames = re.search(r'\((\S+) frames/s\)', line).group(1)
  return _count(steps), _count(frames), line.rsplit('ETA ', 1)[1]


def test_compile_time_is_announced_and_left_out_of_rates_and_eta(tmp_path):
  """The first update (0.6 s) must neither drag down steps/s and frames/s
  (100 steps in ~4 ms: ~20k/s, > 500/s on a loaded machine; with the
  compilation: < 170/s) nor lengthen the ETA (the remaining updates take
  ~20 ms, not 0.6 s each); after a resume, which compiles again, likewise."""
  lines = []
  loop.run(_SlowFirstUpdate(6), str(tmp_path), log_every_secs=0,
             log=lines.append)
  assert 'compiling' in lines[0]
  progress = [l for l in lines if '] update ' in l]
  assert len(progress) == 5 and 'update 2/6' in progress[0]
  for line in progress:
    steps, frames, eta = _rates(line)
    assert steps > 500 and frames > 1000 and eta == '0m00s', line
  lines.clear()
  loop.run(_SlowFirstUpdate(12), str(tmp_path), resume=True,
             log_every_secs=0, log=lines.append)
  assert 'resumed from' in lines[0] and 'compiling' in lines[1]
  for line in lines[2:]:
    steps, frames, eta = _rates(line)
    assert steps > 500 and frames > 1000 and eta == '0m00s', line


def test_a_run_of_one_update_has_no_rate(tmp_path):
  lines, logged = [], []
  loop.run(_SlowFirstUpdate(1, compile_secs=0.0), str(tmp_path),
             log_every_secs=0, log=lines.append,
             on_log=lambda u, s: logged.append(s))
  assert '? steps/s (? frames/s)' in lines[-1] and 'ETA 0m00s' in lines[-1]
  assert 'env_steps_per_sec' not in logged[-1] and logged[-1]['loss'] == 1.0


def _events(directory):
  """Every (step, value) of the event files directly in `directory`."""
  out = []
  for path in sorted(tf.io.gfile.glob(
      os.path.join(directory, 'events.out.tfevents.*'))):
    for e in tf.compat.v1.train.summary_iterator(path):
      out += [(e.step, v) for v in e.summary.value]
  return out


def _hparams(directory):
  """(session hparams {name: value}, experiment proto, number of sessions)."""
  sessions, experiments = [], []
  for _, v in _events(directory):
    if v.metadata.plugin_data.plugin_name != hp_metadata.PLUGIN_NAME:
      continue
    content = v.metadata.plugin_data.content
    if v.tag == hp_metadata.SESSION_START_INFO_TAG:
      info = hp_metadata.parse_session_start_info_plugin_data(content)
      sessions.append({k: getattr(x, x.WhichOneof('kind'))
                       for k, x in info.hparams.items()})
    elif v.tag == hp_metadata.EXPERIMENT_TAG:
      experiments.append(hp_metadata.parse_experiment_plugin_data(content))
  return sessions, experiments


def test_hparams_hold_the_run_configuration_once(tmp_path):
  """The run's config.json, flattened, with the task's metrics declared;
  a resumed run does not write it again."""
  task = experiment.TaskConfig('easy', {'num_trials': 5})
  agent = AgentConfig(num_units=8, stacked_units=(16, 8))
  a2c = A2CConfig(learning_rate=2e-3)
  train = TrainConfig(batch_size=4, unroll_length=5, total_steps=40)
  run_dir = str(tmp_path / 'run')
  experiment.train(task, agent, a2c, train,
                   experiment.RunConfig(run_dir, export=False,
                                        log_every_secs=0),
                   log=lambda s: None)
  # A second start of the same run (the first one's checkpoints gone).
  shutil.rmtree(os.path.join(run_dir, 'checkpoints'))
  loop.run(_SlowFirstUpdate(99, compile_secs=0), run_dir, resume=True,
             log=lambda s: None, log_every_secs=0)
  sessions, experiments = _hparams(os.path.join(run_dir, 'tb'))
  assert len(sessions) == 1 and len(experiments) == 1
  hparams = sessions[0]
  assert hparams['task.name'] == 'easy'
  assert hparams['task.kwargs.num_trials'] == 5
  assert hparams['a2c.learning_rate'] == pytest.approx(2e-3)
  assert hparams['agent.stacked_units'] == '16,8'  # lists as strings
  assert hparams['agent.use_reward_input'] is True
  assert hparams['train.batch_size'] == 4
  assert 'a2c.beta_e_final' not in hparams  # None: unset
  config = json.load(open(os.path.join(run_dir, 'config.json')))
  assert set(hparams) == {k for k, v in rundir.flatten(config).items()
                          if v is not None}
  declared = {(m.name.group, m.name.tag) for m in experiments[0].metric_infos}
  assert {('', 'episode_return'), ('', 'episode_regret'),
          ('', 'episode_suboptimal'), ('eval/agent', 'eval/easy/episode_return'),
          ('eval/agent', 'eval/easy/episode_regret')} <= declared
  assert {h.name for h in experiments[0].hparam_infos} == set(hparams)


def _histograms(directory):
  """{tag: {step: (number of samples, [min, max])}} of histogram events."""
  out = {}
  for step, v in _events(directory):
    if v.metadata.plugin_data.plugin_name == 'histograms':
      buckets = tf.make_ndarray(v.tensor)  # [k, 3]: left, right, count
      out.setdefault(v.tag, {})[step] = (
          buckets[:, 2].sum(), [buckets[:, 0].min(), buckets[:, 1].max()])
  return out


def test_histograms_at_a_low_rate_from_the_update_itself(tmp_path):
  core = environments.make_core('easy', num_trials=10)
  agent = make_agent(core.observation_spec(), 2)
  trainer = InGraphTrainer(core, agent, A2CConfig(), TrainConfig(
      batch_size=8, unroll_length=10, total_steps=5 * 80))
  # What the update returned: the logits behind its entropy, and layer
  # norms that make up its global gradient norm.
  m = trainer.train_step()
  h = trainer.histograms()
  assert h['logits'].shape == (10, 8, 2) and h['values'].shape == (10, 8)
  log_pi = tf.nn.log_softmax(h['logits'])
  assert m['entropy'] == pytest.approx(
      float(tf.reduce_mean(-tf.reduce_sum(tf.exp(log_pi) * log_pi, -1))),
      rel=1e-5)
  assert trainer.layer_names == ['core/lstm', 'policy', 'value']
  norms = [h[f'grad_norm/{n}'] for n in trainer.layer_names]
  assert all(n.shape == (1,) for n in norms)
  assert m['grad_norm'] == pytest.approx(
      float(np.sqrt(sum(n[0] ** 2 for n in norms))), rel=1e-5)
  assert trainer.histograms().keys() == {'logits', 'values'}  # window read
  # Rate: at the first progress line, then >= histogram_every_secs apart,
  # and at the last one; each layer's norms of every update since.
  lines = []
  loop.run(trainer, str(tmp_path / 'a'), log_every_secs=0,
             histogram_every_secs=3600, log=lines.append)
  assert 'compiling' not in lines[0]  # compiled by the update above
  hist = _histograms(tmp_path / 'a' / 'tb')
  assert set(hist) == {'logits', 'values', 'grad_norm/core/lstm',
                       'grad_norm/policy', 'grad_norm/value'}
  # Update 2 gave the first line; 3, 4 and 5 the last one.
  assert {s: n for s, (n, _) in hist['grad_norm/core/lstm'].items()} == {
      160: 1, 400: 3}
  assert {s: n for s, (n, _) in hist['logits'].items()} == {160: 160, 400: 160}
  trainer.config = dataclasses.replace(trainer.config, total_steps=8 * 80)
  loop.run(trainer, str(tmp_path / 'b'), log_every_secs=0,
             histogram_every_secs=0, log=lambda s: None)
  assert set(_histograms(tmp_path / 'b' / 'tb')['values']) == {480, 560, 640}
  trainer.config = dataclasses.replace(trainer.config, total_steps=10 * 80)
  loop.run(trainer, str(tmp_path / 'c'), log_every_secs=0,
             histogram_every_secs=None, log=lambda s: None)
  assert not _histograms(tmp_path / 'c' / 'tb')


def test_layer_names_are_the_same_for_every_agent_of_a_process():
  core = CueBandit(num_trials=4, size=36)
  names = [training.layer_names(make_agent(
      core.observation_spec(), 2, AgentConfig(num_units=8)).trainable_variables)
           for _ in range(2)]
  assert names[0] == names[1]
  assert names[0][:2] == ['encoder/conv_pixels/conv2d'] * 2
  assert 'encoder/conv_pixels/conv2d_1' in names[0]


def test_format_table_aligns_long_names_and_wide_values():
  def summary(reward, regret, se=0.5):
    return {'episode_return': reward, 'episode_return_se': se,
            'episode_regret': regret, 'episode_regret_se': se,
            'episode_first_pull_informative': 0.25,
            'episode_first_pull_informative_se': 0.01}
  results = {'agent': summary(64.5, 2.1),
             'thompson_informative': summary(1234.56, 15.0, se=12.5),
             'bayes_optimal': summary(-3.0, 0.0)}
  table = evaluation.format_table(results, ['regret', 'first_pull_informative'])
  lines = table.splitlines()
  assert [l.split()[0] for l in lines] == ['policy', 'agent',
                                           'thompson_informative',
                                           'bayes_optimal']
  assert len({len(l) for l in lines}) == 1  # one width for every row
  # Every column's +- at one place, and each header right-aligned above it.
  plus = [[i for i, c in enumerate(l) if c == '±'] for l in lines[1:]]
  assert len(plus[0]) == 3 and plus.count(plus[0]) == 3
  ends = [m.end() for m in re.finditer(r'\S+', lines[0])][1:]
  for line in lines[1:]:
    assert [m.end() for m in re.finditer(r'± *\S+', line)] == ends
  assert '1234.56 ± 12.50' in lines[2]


class _AlwaysRightArm(dm_env.Environment):
  """A user's own task: action 1 pays 1, action 0 pays 0; 10 steps."""

  def __init__(self, seed=0):
    self._t = 0
    del seed

  def reset(self):
    self._t = 0
    return dm_env.restart({'episode_step': np.int32(0)})

  def step(self, action):
    self._t += 1
    obs = {'episode_step': np.int32(min(self._t, 9))}
    reward = np.float32(action == 1)
    return (dm_env.termination(reward, obs) if self._t >= 10
            else dm_env.transition(reward, obs))

  def observation_spec(self):
    return {'episode_step': specs.BoundedArray((), np.int32, 0, 9,
                                               'episode_step')}

  def action_spec(self):
    return specs.DiscreteArray(2, name='action')


def test_evaluate_dm_env_on_a_users_task_and_tensorboard(tmp_path):
  """One call evaluates an exported agent of the user's own task next to
  the baselines that apply; its numbers go to TensorBoard."""
  env = _AlwaysRightArm()
  net = make_agent(env.observation_spec(), 2)
  path = export.export_agent(net, env.observation_spec(),
                             str(tmp_path / 'saved_model'), {'task': 'mine'})
  result = evaluation.evaluate_dm_env(str(tmp_path / 'saved_model'),
                                      _AlwaysRightArm, 20, num_envs=4,
                                      baselines=['auto', 'ucb1'])
  assert result.task == '_AlwaysRightArm'
  assert list(result.results) == ['agent', 'random', 'ucb1']
  assert result.summary['num_episodes'] == 20
  assert result.results['random']['episode_return'] == pytest.approx(
      5, abs=1.5)
  assert result.results['ucb1']['episode_return'] >= 8  # 1 wrong pull
  with pytest.raises(ValueError, match='only random, ucb1'):
    evaluation.evaluate_dm_env(path, _AlwaysRightArm, 4, baselines=['gittins'])
  with pytest.raises(evaluation.SignatureMismatchError, match="no input 'state'"):
    evaluation.evaluate_dm_env(
        path, lambda seed: environments.make_environment(
            'two_step', seed=seed, num_trials=3), 4)
  evaluation.write_tensorboard(str(tmp_path / 'tb'), result, step=1234,
                               header='trained on mine')
  for policy in ('agent', 'random', 'ucb1'):
    scalars = {v.tag: (step, float(tf.make_ndarray(v.tensor)))
               for step, v in _events(tmp_path / 'tb' / policy)
               if v.metadata.plugin_data.plugin_name == 'scalars'}
    summary = result.results[policy]
    assert scalars == {
        'eval/_AlwaysRightArm/episode_return':
            (1234, pytest.approx(summary['episode_return'])),
        'eval/_AlwaysRightArm/episode_return_se':
            (1234, pytest.approx(summary['episode_return_se']))}
  texts = [tf.make_ndarray(v.tensor).item().decode()
           for _, v in _events(tmp_path / 'tb' / 'agent')
           if v.metadata.plugin_data.plugin_name == 'text']
  assert len(texts) == 1 and texts[0].startswith('trained on mine')
  assert '    ucb1 ' in texts[0]  # the table, as a Markdown code block


def test_evaluate_core_matches_play_episodes():
  core = environments.make_core('easy', num_trials=10)
  agent = make_agent(core.observation_spec(), 2)
  result = evaluation.evaluate_core(agent, core, 30, seed=3,
                                    baselines=['random'])
  direct = evaluation.summarise(evaluation.play_episodes(
      core, evaluation.AgentPolicy(agent), 30, seed=3))
  assert result.summary['episode_regret'] == direct['episode_regret']
  assert result.metrics == ['regret', 'suboptimal']
  scalars = evaluation.headline_scalars(result.summary)
  assert set(scalars) == {'episode_return', 'episode_return_se',
                          'episode_regret', 'episode_regret_se',
                          'episode_suboptimal', 'episode_suboptimal_se'}
