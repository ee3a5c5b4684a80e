"""Periodic frozen evaluation during training (`meta_rl.heldout`), the best
checkpoint it keeps and `--export=best`."""

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import launcher
import environments
from meta_rl import evaluation, experiment, export
from meta_rl import task_specs
from meta_rl.run import heldout
from meta_rl.agent import AgentConfig, make_agent
from meta_rl.training import A2CConfig, TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize('task,kwargs', [
    ('independent', {'num_trials': 20}),
    ('two_step', {'num_trials': 10}),
    # Decision-level rules: episodes of 12 to 200 steps (checked below).
    ('harlow', {'resolution': 21, 'num_images': 8, 'max_steps': 200,
                'num_trials': 2, 'split': 'test', 'intertrial_interval': 1,
                'fixation_hold': 1, 'hold_still': False, 'turn_degrees': 8.0,
                'momentum': 0.0}),
])
def test_evaluator_equals_play_episodes(task, kwargs):
  """The held-out scalars are what `play_episodes` + `summarise` give for
  the same seed: the same episodes and action draws, only the first episode
  of each environment (Harlow's end at different steps)."""
  core = environments.make_core(task, **kwargs)
  agent = make_agent(core.observation_spec(), core.num_actions,
                     AgentConfig(num_units=8, seed=3))
  evaluator = heldout.HeldOutEvaluator(core, agent, num_episodes=12, seed=5)
  got = evaluator()
  episodes = evaluation.play_episodes(core, evaluation.AgentPolicy(agent), 12,
                                      seed=5)
  want = evaluation.summarise(episodes, core.derived_metrics)
  if task == 'harlow':  # what the first-episode bookkeeping is tested on
    assert len(set(episodes['valid'].sum(axis=1))) > 3
  assert got['episode_return'] == pytest.approx(
      episodes['rewards'].sum(axis=1).mean(), rel=1e-5)
  # One naming scheme: every held-out scalar is the frozen evaluation's.
  assert set(got) - {'heldout_steps'} <= set(want)
  for key, value in got.items():
    if key != 'heldout_steps':
      assert value == pytest.approx(want[key], rel=1e-5, abs=1e-6), key
  assert got['heldout_steps'] == episodes['valid'].any(axis=0).sum() * 12
  assert evaluator.metric == task_specs.sweep_metric(core)[0]
  # Frozen: the same weights give the same numbers again.
  assert evaluator() == got


def test_better_follows_the_mode():
  core = environments.make_core('independent', num_trials=5)
  agent = make_agent(core.observation_spec(), core.num_actions,
                     AgentConfig(num_units=4))
  evaluator = heldout.HeldOutEvaluator(core, agent, 2)
  assert (evaluator.metric, evaluator.mode) == ('episode_regret', 'min')
  assert evaluator.better(1.0, None) and evaluator.better(1.0, 2.0)
  assert not evaluator.better(2.0, 2.0) and not evaluator.better(None, 2.0)
  assert evaluator.score({'episode_regret': float('nan')}) is None


class _Scripted:
  """Held-out scores in a given order (monkeypatched over the evaluator's
  play), to put the best where a test wants it."""

  def __init__(self, scores):
    self.scores, self.calls = list(scores), 0

  def __call__(self, evaluator):
    score = self.scores[min(self.calls, len(self.scores) - 1)]
    self.calls += 1
    return {'reward_per_trial': score, 'episode_return': 10 * score,
            'heldout_steps': 160.0}


@pytest.mark.parametrize('scores,best_update', [
    ([0.2, 0.9, 0.4, 0.5, 0.3, 0.6, 0.1], 6),  # the best before the end
    ([0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], 20),  # the last update
    ([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], 3),  # ties keep the earliest
])
def test_export_best_is_the_checkpoint_of_the_best_score(
    scores, best_update, tmp_path, monkeypatch):
  scripted = _Scripted(scores)
  monkeypatch.setattr(heldout.HeldOutEvaluator, '__call__',
                      lambda self: scripted(self))
  run_dir = str(tmp_path / 'run')
  task = experiment.TaskConfig('two_step', {'num_trials': 10})
  result = experiment.train(
      task, AgentConfig(num_units=8), A2CConfig(learning_rate=3e-2),
      TrainConfig(batch_size=8, unroll_length=10, total_steps=80 * 20),
      experiment.RunConfig(run_dir, log_every_secs=0, eval_every=3,
                           eval_episodes=16, export_which='best'),
      log=lambda s: None)
  assert scripted.calls == 7  # updates 3, 6, ..., 18 and the last, 20
  best = heldout.read_best(run_dir)
  assert best['update'] == best_update
  meta = export.read_metadata(result.saved_model)
  assert (meta['num_updates'], meta['trained_updates'], meta['selected']) == (
      best_update, 20, 'best')
  assert meta['checkpoint'].endswith(f'ckpt-{best_update}')

  def floats(variables):
    return [v.numpy() for v in variables
            if np.issubdtype(np.asarray(v.numpy()).dtype, np.floating)]
  core = environments.make_core('two_step', num_trials=10)
  saved = floats(tf.saved_model.load(result.saved_model).variables)
  for update, equal in ((best_update, True), (20, best_update == 20)):
    net = evaluation.checkpoint_agent(
        run_dir, os.path.join(run_dir, 'checkpoints', f'ckpt-{update}'), core)
    same = all(np.array_equal(a, b) for a, b in zip(floats(net.variables),
                                                     saved))
    assert same == equal, update


def test_other_held_out_episodes_choose_the_best_anew(tmp_path, monkeypatch):
  """A resume that evaluates on other episodes (another eval_seed) does not
  compare its scores with the old best's."""
  monkeypatch.setattr(heldout.HeldOutEvaluator, '__call__',
                      lambda self: _Scripted([0.9 if self.seed == 1 else 0.1])(
                          self))
  run_dir = str(tmp_path / 'run')
  args = (experiment.TaskConfig('two_step', {'num_trials': 10}),
          AgentConfig(num_units=8), A2CConfig())
  experiment.train(*args, TrainConfig(batch_size=8, unroll_length=10,
                                      total_steps=80 * 3),
                   experiment.RunConfig(run_dir, log_every_secs=0,
                                        eval_every=3), log=lambda s: None)
  assert heldout.read_best(run_dir)['score'] == 0.9
  lines = []
  experiment.train(*args, TrainConfig(batch_size=8, unroll_length=10,
                                      total_steps=80 * 6),
                   experiment.RunConfig(run_dir, resume=True, log_every_secs=0,
                                        eval_every=3, eval_seed=2),
                   log=lines.append)
  assert any('chosen anew' in line for line in lines), lines
  best = heldout.read_best(run_dir)
  assert (best['score'], best['seed'], best['update']) == (0.1, 2, 6)


def _scalars(tb_dir, tag):
  """[(step, value)] of a scalar tag in the event files directly in tb_dir."""
  out = []
  for path in sorted(tf.io.gfile.glob(os.path.join(tb_dir, 'events.*'))):
    for record in tf.data.TFRecordDataset(path):
      event = tf.compat.v1.Event.FromString(record.numpy())
      for v in event.summary.value:
        if v.tag == tag:
          out.append((event.step, float(tf.make_ndarray(v.tensor))))
  return out


@pytest.fixture(scope='module')
def best_run(tmp_path_factory):
  """A short two-step run evaluated every 3 updates, exporting the best."""
  run_dir = str(tmp_path_factory.mktemp('heldout') / 'run')
  task = experiment.TaskConfig('two_step', {'num_trials': 10})
  args = (task, AgentConfig(num_units=8), A2CConfig(learning_rate=3e-2),
          TrainConfig(batch_size=8, unroll_length=10, total_steps=80 * 20))
  lines = []
  result = experiment.train(
      *args, experiment.RunConfig(run_dir, log_every_secs=0, eval_every=3,
                                  eval_episodes=16, export_which='best'),
      log=lines.append)
  return run_dir, args, result, lines


def test_best_checkpoint_is_the_best_held_out_point(best_run):
  run_dir, _, result, lines = best_run
  points = _scalars(os.path.join(run_dir, 'tb', heldout.TB_RUN),
                    'reward_per_trial')
  steps_per_update = 8 * 10
  # Every 3 updates and after the last (update 20).
  assert [s // steps_per_update for s, _ in points] == [
      3, 6, 9, 12, 15, 18, 20]
  values = [v for _, v in points]
  first_max = int(np.argmax(values))
  best = heldout.read_best(run_dir)
  assert best['update'] == points[first_max][0] // steps_per_update
  assert best['score'] == pytest.approx(values[first_max])
  assert best['metric'] == 'reward_per_trial' and best['mode'] == 'max'
  # Only the best's files are in best/.
  names = sorted(os.listdir(heldout.best_dir(run_dir)))
  assert names == ['best.json', f'ckpt-{best["update"]}.data-00000-of-00001',
                   f'ckpt-{best["update"]}.index']
  assert any('kept as the best' in line for line in lines)
  assert any('exporting the best held-out checkpoint' in line
             for line in lines)
  # The training tags are the held-out tags (one chart in TensorBoard).
  assert _scalars(os.path.join(run_dir, 'tb'), 'reward_per_trial')


def test_export_best_exports_the_best_weights(best_run):
  run_dir, _, result, _ = best_run
  best = heldout.read_best(run_dir)
  meta = export.read_metadata(result.saved_model)
  assert meta['selected'] == 'best'
  assert meta['num_updates'] == best['update']
  assert meta['trained_updates'] == 20
  assert meta['heldout']['score'] == pytest.approx(best['score'])
  # The exported weights are the best checkpoint's, not the last update's.
  core = environments.make_core('two_step', num_trials=10)
  net = evaluation.checkpoint_agent(
      run_dir, os.path.join(run_dir, best['checkpoint']), core)
  def weights(variables):  # the float ones (not a seed generator's state)
    return [v.numpy() for v in variables
            if np.issubdtype(np.asarray(v.numpy()).dtype, np.floating)]
  saved = weights(tf.saved_model.load(result.saved_model).variables)
  assert len(saved) == len(weights(net.variables)) >= 4
  for a, b in zip(weights(net.variables), saved):
    np.testing.assert_array_equal(a, b)
  if best['update'] != 20:
    last = evaluation.checkpoint_agent(
        run_dir, os.path.join(run_dir, 'checkpoints', 'ckpt-20'), core)
    assert any(not np.array_equal(a, b)
               for a, b in zip(weights(last.variables), saved))
  # Played again on the same held-out episodes, the export scores its score.
  evaluator = heldout.HeldOutEvaluator(core, net, 16, seed=1)
  assert evaluator()['reward_per_trial'] == pytest.approx(best['score'])


def test_resume_keeps_the_best_and_a_finished_run_finds_its_export(
    best_run, tmp_path):
  import shutil  # pylint: disable=g-import-not-at-top
  args = best_run[1]
  run_dir = str(tmp_path / 'run')  # a copy: the fixture stays as it was
  shutil.copytree(best_run[0], run_dir)
  exported = best_run[2].saved_model.replace(best_run[0], run_dir)
  before = heldout.read_best(run_dir)
  lines = []
  again = experiment.train(
      *args, experiment.RunConfig(run_dir, resume=True, eval_every=3,
                                  eval_episodes=16, export_which='best'),
      log=lines.append)
  assert not again.exported and again.saved_model == exported
  assert heldout.read_best(run_dir) == before
  # Extended: the new evaluations compete with the best of the first start.
  task, agent, a2c, train = args
  longer = TrainConfig(batch_size=8, unroll_length=10, total_steps=80 * 26)
  lines = []
  experiment.train(task, agent, a2c, longer, experiment.RunConfig(
      run_dir, resume=True, eval_every=3, eval_episodes=16,
      export_which='best'), log=lines.append)
  after = heldout.read_best(run_dir)
  assert after['score'] >= before['score']
  if after['update'] == before['update']:
    assert after == before
  assert any(f'best {before["score"]:.3f}' in line for line in lines
             if 'held out at update 21' in line)


def test_damaged_best_json_counts_as_none(tmp_path):
  directory = tmp_path / 'checkpoints' / heldout.BEST_DIR
  directory.mkdir(parents=True)
  (directory / heldout.BEST_FILE).write_text('{"update": 3, "chec')
  assert heldout.read_best(str(tmp_path)) is None
  (directory / heldout.BEST_FILE).write_text(json.dumps(
      {'update': 3, 'checkpoint': 'checkpoints/best/ckpt-3'}))
  assert heldout.read_best(str(tmp_path)) is None  # its files are missing


def test_run_config_checks():
  with pytest.raises(ValueError, match='needs eval_every'):
    experiment.RunConfig('x', export_which='best')
  with pytest.raises(ValueError, match='export_which'):
    experiment.RunConfig('x', export_which='first', eval_every=2)
  with pytest.raises(ValueError, match='eval_every'):
    experiment.RunConfig('x', eval_every=-1)
  assert experiment.RunConfig('x', eval_every=0).eval_every == 0  # never
  with pytest.raises(ValueError, match='needs eval_every'):
    experiment.RunConfig('x', eval_every=0, export_which='best')
  with pytest.raises(ValueError, match='eval_episodes'):
    experiment.RunConfig('x', eval_every=1, eval_episodes=0)


def test_launcher_refuses_export_best_without_evaluations(tmp_path):
  run_dir = tmp_path / 'run'
  proc = launcher.run('two_step.py', f'--run_dir={run_dir}',
                      '--total_steps=100', '--export=best', timeout=120)
  lines = [l for l in proc.stderr.splitlines() if l.strip()]
  assert proc.returncode == 2 and len(lines) == 1, proc.stderr
  assert lines[0].startswith('error: ') and (
      '--export=best needs --eval_every' in lines[0])
  assert not run_dir.exists()


def test_eval_flags_reach_the_run_config():
  from absl import flags  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, os.path.join(ROOT, 'launch'))
  import common  # pylint: disable=g-import-not-at-top
  fv = flags.FlagValues()
  common.define_training_flags(fv)
  fv(['x', '--run_dir=r', '--eval_every=7', '--eval_episodes=9',
      '--eval_seed=4', '--export=best'])
  run = common.configs_from_flags(fv)[3]
  assert (run.eval_every, run.eval_episodes, run.eval_seed,
          run.export_which) == (7, 9, 4, 'best')
  for bad in (['--export=first'], ['--eval_episodes=0', '--eval_every=1']):
    fv2 = flags.FlagValues()
    common.define_training_flags(fv2)
    with pytest.raises(flags.Error):
      fv2(['x', *bad])


def test_seed_study_reports_each_run(best_run, tmp_path):
  """launch/seed_study.py over two runs: one with an analysis output of its
  export (eval/exp6.json), one without (its held-out columns empty)."""
  import shutil  # pylint: disable=g-import-not-at-top
  # The table is of Harlow or I-maze runs: two copies of the two-step run
  # told they are Harlow runs (its training tags stand in).
  run_dir = str(tmp_path / 'run')
  other = tmp_path / 'other_s1'
  for target in (run_dir, other):
    shutil.copytree(best_run[0], target)
    config = json.loads((Path(target) / 'config.json').read_text())
    config['task']['name'] = 'harlow'
    (Path(target) / 'config.json').write_text(json.dumps(config))
  os.makedirs(other / 'eval')
  (other / 'eval' / 'exp6.json').write_text(json.dumps({
      'num_episodes': 1000, 'seed': 12345, 'results': {'agent': {
          'p_correct_later': 0.961, 'p_correct_later_after_win': 0.97,
          'p_correct_later_after_loss': 0.952, 'fixation_rate': 1.0}}}))
  out = tmp_path / 'study'
  proc = launcher.run(
      'seed_study.py', f'--runs={run_dir},{tmp_path}/other_*',
      f'--output_dir={out}', '--metric=reward_per_trial', '--target=0.0',
      '--running_best_after=0', timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  study = json.loads((out / 'seeds.json').read_text())
  assert [r['name'] for r in study['runs']] == ['run', 'other_s1']
  first, second = study['runs']
  # Target 0: reached at the first training window.
  points = _scalars(os.path.join(run_dir, 'tb'), 'reward_per_trial')
  assert first['training']['first_step'] == points[0][0]
  assert first['training']['final_step'] == max(s for s, _ in points)
  assert first['heldout_while_training']['evaluations'] == len(_scalars(
      os.path.join(run_dir, 'tb', heldout.TB_RUN), 'reward_per_trial')) >= 7
  assert first['best_checkpoint']['update'] == heldout.read_best(
      best_run[0])['update']
  returns = [v for _, v in _scalars(os.path.join(run_dir, 'tb'),
                                     'episode_return')]
  worst = min(v / max(returns[:i + 1]) for i, v in enumerate(returns))
  assert first['training']['reward_vs_running_best'] == pytest.approx(worst)
  assert 'export' not in first
  assert second['export']['p_correct_later'] == 0.961
  assert second['export_metadata']['selected'] == 'best'
  rows = (out / 'seeds.md').read_text().splitlines()
  assert len(rows) == 4 and rows[3].endswith('| 0.961 | 0.970 | 0.952 | 1.000 |')
  assert (out / 'exp6_seeds.png').stat().st_size > 10_000
  again = launcher.run('seed_study.py', f'--runs={run_dir}',
                       f'--output_dir={out}', timeout=300)
  assert again.returncode == 2 and 'exists' in again.stderr


def test_export_checkpoint_best(best_run):
  run_dir = best_run[0]
  best = heldout.read_best(run_dir)
  path = experiment.export_checkpoint(run_dir, best=True)
  meta = export.read_metadata(path)
  assert meta['num_updates'] == best['update'] and meta['selected'] == 'best'
  assert meta['checkpoint'] == best['checkpoint']
  with pytest.raises(ValueError, match='not both'):
    experiment.export_checkpoint(run_dir, 3, best=True)


def test_export_checkpoint_best_without_evaluations(tmp_path):
  run = experiment.RunConfig(str(tmp_path / 'run'), log_every_secs=0,
                             export=False)
  experiment.train(experiment.TaskConfig('easy', {'num_trials': 5}),
                   AgentConfig(num_units=4), A2CConfig(),
                   TrainConfig(batch_size=2, unroll_length=5, total_steps=10),
                   run, log=lambda s: None)
  with pytest.raises(experiment.RunDirError, match='no best held-out'):
    experiment.export_checkpoint(run.run_dir, best=True)
