"""The launchers as a user runs them: train, refuse, resume, evaluate, errors."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import launcher

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
TINY = ['--num_trials=10', '--batch_size=8', '--unroll_length=10',
        '--log_every_secs=0', '--checkpoint_every=2']


def _launch(script, *args, check=None, env=None):
  """`python launch/<script> ARGS` as a user runs it (a forked process of
  its own: tests/launcher.py)."""
  return launcher.run(script, *args, check=check, env=env)


def _error_line(proc):
  lines = [l for l in proc.stderr.splitlines() if l.strip()]
  assert len(lines) == 1, proc.stderr
  assert lines[0].startswith('error: ')
  return lines[0]


def _tree(path):
  return sorted((os.path.relpath(os.path.join(d, f), path),
                 os.path.getmtime(os.path.join(d, f)))
                for d, _, files in os.walk(path) for f in files)


@pytest.fixture(scope='module')
def run_dir(tmp_path_factory):
  run = str(tmp_path_factory.mktemp('runs') / 'easy')
  proc = _launch('bandits.py', '--task=easy', f'--run_dir={run}',
                 '--total_steps=800', *TINY, check=0)
  assert proc.stdout.strip() == os.path.join(run, 'saved_model', '1')
  assert 'update 10/10' in proc.stderr and 'steps/s' in proc.stderr
  return run


def test_run_dir_layout(run_dir):
  config = json.load(open(os.path.join(run_dir, 'config.json')))
  assert config['task'] == {'name': 'easy', 'kwargs': {'num_trials': 10},
                            'action_repeat': 1, 'curriculum': []}
  assert config['train']['batch_size'] == 8
  assert config['a2c']['learning_rate'] == 0.003
  assert os.path.exists(os.path.join(run_dir, 'checkpoints', 'checkpoint'))
  assert any(f.startswith('events.out.tfevents')
             for f in os.listdir(os.path.join(run_dir, 'tb')))
  meta = json.load(open(os.path.join(run_dir, 'saved_model', '1',
                                     'assets.extra', 'meta_rl.json')))
  assert meta['task'] == 'easy' and meta['num_updates'] == 10
  assert meta['flags']['learning_rate'] == 0.003


def test_existing_run_dir_is_refused_untouched(run_dir):
  before = _tree(run_dir)
  proc = _launch('bandits.py', '--task=easy', f'--run_dir={run_dir}',
                 '--total_steps=800', *TINY, check=2)
  # The library's `resume` is the launcher's flag (`common.as_flags`).
  assert 'exists; resume it (--resume) or choose another' in _error_line(proc)
  assert _tree(run_dir) == before


@pytest.mark.parametrize('args, message', [
    (['--task=bogus'], 'task'),
    (['--flagfile=/no/such/file.cfg'], 'file.cfg'),
    (['--batch_size=0'], 'batch_size'),
    (['--run_dir='], 'run_dir'),
])
def test_bad_flags_exit_2_with_one_line(args, message, tmp_path):
  proc = _launch('bandits.py', f'--run_dir={tmp_path / "r"}', *args, check=2)
  assert message in _error_line(proc)


def test_resume_mismatch_and_missing(run_dir, tmp_path):
  proc = _launch('bandits.py', '--task=easy', f'--run_dir={run_dir}',
                 '--total_steps=800', '--resume', '--gamma=0.5', *TINY, check=2)
  assert 'gamma' in _error_line(proc)
  proc = _launch('bandits.py', f'--run_dir={tmp_path / "none"}', '--resume',
                 check=2)
  assert 'cannot resume' in _error_line(proc)


def _start(args, log_path):
  return subprocess.Popen(
      [sys.executable, os.path.join(ROOT, 'launch', 'bandits.py'), *args],
      env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(log_path, 'w'))


def _wait_for(path, timeout=120):
  deadline = time.time() + timeout
  while not os.path.exists(path) and time.time() < deadline:
    time.sleep(0.1)
  assert os.path.exists(path), f'{path} never appeared'


def test_resume_after_kill_9(tmp_path):
  run = str(tmp_path / 'killed')
  # 3000 tiny updates take several seconds; kill long before the end.
  args = ['--task=easy', f'--run_dir={run}', *TINY, '--checkpoint_every=50',
          '--total_steps=240000']
  proc = _start(args, tmp_path / 'stderr.txt')
  ckpt = os.path.join(run, 'checkpoints', 'checkpoint')
  # Killed right after its second checkpoint (update 100) is on disk: what
  # the run has done then does not depend on the machine's speed.
  _wait_for(os.path.join(run, 'checkpoints', 'ckpt-100.index'))
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  # The newest checkpoint on disk (the `checkpoint` index file may lag it:
  # the kill can fall between the two writes; --resume reads the disk).
  done = max(int(name[len('ckpt-'):-len('.index')]) for name in
             os.listdir(os.path.dirname(ckpt)) if name.endswith('.index'))
  latest = os.path.join(os.path.dirname(ckpt), f'ckpt-{done}')
  logged = [int(l.split('update ')[1].split('/')[0])
            for l in (tmp_path / 'stderr.txt').read_text().splitlines()
            if '] update ' in l]
  # At most one checkpoint interval is lost (the kill may fall between a
  # checkpoint and its progress line).
  assert 100 <= done < 3000 and logged and -1 <= logged[-1] - done < 50
  assert not os.path.exists(os.path.join(run, 'saved_model'))
  # Resumed to 20 updates past the checkpoint (a resume may move
  # --total_steps), so the test does not wait for the rest of the 3000.
  end = done + 20
  args[-1] = f'--total_steps={end * 80}'
  proc = _launch('bandits.py', '--resume', *args, check=0)
  assert f'resumed from {latest} at update {done}' in proc.stderr
  assert f'update {end}/{end}' in proc.stderr
  assert os.path.exists(os.path.join(run, 'saved_model', '1'))


def test_sigterm_checkpoints_and_does_not_export(tmp_path):
  run = str(tmp_path / 'term')
  args = ['--task=easy', f'--run_dir={run}', *TINY, '--checkpoint_every=100',
          '--total_steps=8000000']
  proc = _start(args, tmp_path / 'stderr.txt')
  _wait_for(os.path.join(run, 'checkpoints', 'checkpoint'))  # update 100
  time.sleep(0.5)
  proc.send_signal(signal.SIGTERM)
  assert proc.wait(timeout=60) == 128 + signal.SIGTERM
  err = (tmp_path / 'stderr.txt').read_text()
  assert 'continue with --resume' in err
  assert not os.path.exists(os.path.join(run, 'saved_model'))
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  latest = tf.train.latest_checkpoint(os.path.join(run, 'checkpoints'))
  stopped = int(err.split('stopped at update ')[1].split()[0])
  assert latest.endswith(f'ckpt-{stopped}')


def test_resume_of_a_run_killed_before_its_first_checkpoint(tmp_path):
  run = tmp_path / 'early'
  args = ['--task=easy', f'--run_dir={run}', *TINY, '--total_steps=800']
  proc = _launch('bandits.py', *args, check=0)
  import shutil  # pylint: disable=g-import-not-at-top
  shutil.rmtree(run / 'checkpoints')
  shutil.rmtree(run / 'saved_model')
  proc = _launch('bandits.py', '--resume', *args, check=0)
  assert 'starting from scratch' in proc.stderr


def test_evaluate_writes_json_png_and_refuses_overwrite(run_dir):
  sm = os.path.join(run_dir, 'saved_model')
  record = os.path.join(run_dir, 'eval', 'record.npz')
  proc = _launch('evaluate.py', f'--saved_model={sm}', '--num_episodes=50',
                 f'--record={record}', check=0)
  assert 'thompson' in proc.stdout and 'agent' in proc.stdout
  # The table's columns line up whatever the names' and values' widths.
  table = [l for l in proc.stdout.splitlines() if '±' in l]
  assert len(table) == 6 and len({len(l) for l in table}) == 1
  assert len({tuple(i for i, c in enumerate(l) if c == '±')
              for l in table}) == 1
  # Headline numbers in TensorBoard at the env steps trained (10 x 80),
  # one run per policy under RUN_DIR/tb/eval.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  events = {}
  for policy in ('agent', 'bayes_optimal', 'random'):
    for path in tf.io.gfile.glob(os.path.join(run_dir, 'tb', 'eval', policy,
                                              'events.out.tfevents.*')):
      for e in tf.compat.v1.train.summary_iterator(path):
        for v in e.summary.value:
          events[policy, v.tag] = (e.step, tf.make_ndarray(v.tensor))
  report = json.load(open(os.path.join(run_dir, 'eval', 'easy.json')))
  agent = report['results']['agent']
  assert report['task'] == 'easy' and agent['num_episodes'] == 50
  assert len(agent['cumulative_regret']) == 10
  assert len(agent['cumulative_regret_se']) == 10
  assert len(agent['suboptimal_per_step']) == 10
  assert agent['episode_suboptimal'] == pytest.approx(
      sum(agent['suboptimal_per_step']), rel=1e-5)
  for policy in ('agent', 'bayes_optimal', 'random'):
    summary = report['results'][policy]
    for key in ('episode_return', 'episode_regret', 'episode_regret_se'):
      step, value = events[policy, f'eval/easy/{key}']
      assert step == 800 and float(value) == pytest.approx(summary[key])
  step, text = events['agent', 'eval/easy/table']
  assert step == 800 and 'bayes_optimal' in text.item().decode()
  assert set(report['results']) == {'agent', 'bayes_optimal', 'gittins',
                                    'thompson', 'ucb1', 'random'}
  png = os.path.join(run_dir, 'eval', 'easy.png')
  assert open(png, 'rb').read(8) == b'\x89PNG\r\n\x1a\n'
  import numpy as np  # pylint: disable=g-import-not-at-top
  rec = np.load(record)
  assert rec['state_lstm_h'].shape == (50, 10, 48)
  assert rec['info_arm_probs'].shape == (50, 10, 2)
  proc = _launch('evaluate.py', f'--saved_model={sm}', '--num_episodes=50',
                 check=2)
  assert 'exists' in _error_line(proc)
  # Cross-testing on another distribution is allowed.
  _launch('evaluate.py', f'--saved_model={sm}', '--num_episodes=20',
          '--task=hard', '--baselines=', check=0)


def test_evaluate_rejects_bad_input(tmp_path):
  proc = _launch('evaluate.py', f'--saved_model={tmp_path}/missing', check=2)
  assert 'SavedModel' in _error_line(proc)
  # A SavedModel of another task (needs a 'state' observation).
  code = (
      'import sys; sys.path.insert(0, %r)\n'
      'from dm_env import specs\n'
      'from meta_rl import agent, export\n'
      'spec = {"state": specs.DiscreteArray(3, name="state"),\n'
      '        "episode_step": specs.BoundedArray((), "int32", 0, 19, '
      'name="episode_step")}\n'
      'export.export_agent(agent.make_agent(spec, 2), spec, %r, '
      '{"task": "maze_nav"})\n' % (ROOT, str(tmp_path / 'other')))
  subprocess.run([sys.executable, '-c', code], check=True, env=ENV)
  proc = _launch('evaluate.py', f'--saved_model={tmp_path / "other"}',
                 '--task=independent', check=2)
  assert "'state'" in _error_line(proc)
  proc = _launch('evaluate.py', f'--saved_model={tmp_path / "other"}', check=2)
  assert 'maze_nav' in _error_line(proc)


def test_same_seed_and_flags_same_weights_across_processes(tmp_path):
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  values = []
  for name in ('a', 'b'):
    run = str(tmp_path / name)
    _launch('bandits.py', '--task=medium', f'--run_dir={run}',
            '--total_steps=1600', '--seed=3', *TINY, check=0)
    reader = tf.train.load_checkpoint(os.path.join(run, 'checkpoints'))
    # Everything: weights, optimizer moments, carried env and LSTM state.
    names = sorted(n for n in reader.get_variable_to_shape_map()
                   if n != '_CHECKPOINTABLE_OBJECT_GRAPH')
    values.append([reader.get_tensor(n) for n in names])
  assert len(values[0]) >= 20
  for x, y in zip(*values):
    np.testing.assert_array_equal(x, y)


@pytest.fixture(scope='module')
def tiny_runs(tmp_path_factory):
  root = tmp_path_factory.mktemp('tiny')
  runs = {}
  for task, trials in (('informative', 5), ('restless', 150), ('medium', 10)):
    runs[task] = str(root / task)
    # The restless agent on the other reading of nu (steps of s.d. nu).
    extra = ['--volatility_scale=std'] if task == 'restless' else []
    _launch('bandits.py', f'--task={task}', f'--run_dir={runs[task]}',
            f'--num_trials={trials}', '--batch_size=8',
            f'--unroll_length={trials}', f'--total_steps={8 * trials * 2}',
            '--log_every_secs=0', *extra, check=0)
  return runs


def test_exp3_and_exp4_analyses_from_a_run_dir(tiny_runs):
  proc = _launch('exp3_informative.py', f'--run_dir={tiny_runs["informative"]}',
                 '--num_episodes=30', check=0)
  assert 'optimum reward per episode: 20.55' in proc.stdout
  r = json.load(open(os.path.join(tiny_runs['informative'], 'eval', 'exp3.json')))
  assert set(r['results']) == {'agent', 'thompson_informative', 'ucb1', 'random'}
  # Thompson with the true prior never pays to look; random looks 1 in 11.
  assert r['results']['thompson_informative']['first_pull_informative'] == 0.0
  assert r['results']['random']['first_pull_informative'] < 0.35
  _launch('exp3_informative.py', f'--run_dir={tiny_runs["informative"]}',
          '--num_episodes=30', check=2)  # refuses to overwrite
  proc = _launch('exp4_restless.py', f'--run_dir={tiny_runs["restless"]}',
                 '--num_episodes=30', check=0)
  r = json.load(open(os.path.join(tiny_runs['restless'], 'eval', 'exp4.json')))
  assert set(r['regret_at_150']) == {'agent', 'ucb', 'thompson_restless',
                                     'rw_0.2', 'rw_0.8', 'random'}
  assert r['learning_rate_vs_volatility']['n'] == 30
  assert len(r['bands']['ttests']) == 2
  # Tested on the reading of nu it was trained on.
  assert r['volatility_scale'] == 'std'
  assert 0 <= r['learning_rate_at_bound_1'] <= 30
  wide = r['wider_bound']
  assert wide['alpha_max'] == 2.0 and wide['above_1'] <= 30
  assert wide['learning_rate_vs_volatility']['n'] == 30
  png = os.path.join(tiny_runs['restless'], 'eval', 'exp4.png')
  assert open(png, 'rb').read(4) == b'\x89PNG'
  # An agent of the wrong task is refused.
  proc = _launch('exp3_informative.py', f'--run_dir={tiny_runs["medium"]}',
                 check=2)
  assert "trained on 'medium'" in _error_line(proc)
  # The reading of nu is a flag of the restless task only.
  proc = _launch('bandits.py', '--task=easy', '--volatility_scale=std',
                 f'--run_dir={tiny_runs["medium"]}_x', check=2)
  assert '--volatility_scale applies to --task=restless' in _error_line(proc)
  assert not os.path.exists(f'{tiny_runs["medium"]}_x')


def test_exp2_matrix_and_posterior_decoding(tiny_runs, tmp_path):
  out = str(tmp_path / 'exp2')
  run = tiny_runs['medium']
  _launch('exp2_matrix.py', f'--output_dir={out}', '--num_episodes=20',
          f'--runs=medium={run},easy={run}', f'--ablation_runs=hard={run}',
          '--reference_baselines=bayes_optimal', check=0)
  r = json.load(open(os.path.join(out, 'exp2_matrix.json')))
  assert set(r['agents']) == {'medium', 'easy'} and set(r['ablations']) == {'hard'}
  assert set(r['agents']['medium']) == {'independent', 'uniform', 'easy',
                                        'medium', 'hard'}
  assert os.path.exists(os.path.join(out, 'exp2_matrix.png'))
  with open(os.path.join(out, 'exp2_matrix.md')) as f:
    table = f.read()
  assert '| *Bayes-optimal* |' in table and 'hard (no reward input)' in table
  proc = _launch('exp2_matrix.py', f'--output_dir={out}', '--runs=bogus=x',
                 check=2)
  assert 'TASK=RUN_DIR' in _error_line(proc)
  record = str(tmp_path / 'rec.npz')
  _launch('evaluate.py', f'--saved_model={run}/saved_model', '--baselines=',
          '--num_episodes=40', f'--record={record}',
          f'--output_dir={tmp_path}', check=0)
  # Outside the run dir, TensorBoard goes to OUTPUT_DIR/tb.
  assert os.listdir(tmp_path / 'tb') == ['agent']
  proc = _launch('decode_posterior.py', f'--record={record}', check=2)
  assert "task 'medium'" in _error_line(proc)
  record = str(tmp_path / 'rec_ind.npz')
  _launch('evaluate.py', f'--saved_model={run}/saved_model', '--baselines=',
          '--task=independent', '--num_episodes=40', f'--record={record}',
          f'--output_dir={tmp_path}', '--overwrite', check=0)
  _launch('decode_posterior.py', f'--record={record}', check=0)
  d = json.load(open(str(tmp_path / 'rec_ind_decoding.json')))
  assert len(d['r2_posterior_mean_arm']) == 2 and d['episodes'] == 40


def test_two_step_launcher_and_exp5_analysis(tmp_path):
  run = str(tmp_path / 'two_step')
  _launch('two_step.py', f'--run_dir={run}', '--num_trials=10',
          '--batch_size=8', '--total_steps=320', '--log_every_secs=0', check=0)
  meta = json.load(open(os.path.join(run, 'saved_model', '1', 'assets.extra',
                                     'meta_rl.json')))
  assert meta['task'] == 'two_step'
  assert set(meta['observation_spec']) == {'state', 'episode_step'}
  proc = _launch('exp5_two_step.py', f'--run_dir={run}', '--num_episodes=60',
                 check=0)
  r = json.load(open(os.path.join(run, 'eval', 'exp5.json')))['results']
  assert set(r) == {'agent', 'model_based', 'model_free',
                    'model_free_canonical', 'random'}
  # The canonical model-free learner stays after rewards whatever the
  # transition, less surely than the reward-maximising one (beta 50).
  canon = r['model_free_canonical']['stay']
  assert canon['rewarded_common']['p_stay'] < r['model_free']['stay'][
      'rewarded_common']['p_stay']
  assert set(r['agent']['stay']) == {'rewarded_common', 'rewarded_rare',
                                     'unrewarded_common', 'unrewarded_rare'}
  assert 'reward_x_transition' in r['agent']['regression']
  assert 'reward_x_transition_lag5' in r['agent']['history_regression']
  proc = _launch('two_step.py', f'--run_dir={tmp_path / "x"}',
                 '--swap_prob=2', check=2)
  assert 'swap_prob' in _error_line(proc)
  # A bandit SavedModel does not fit the two-step task.
  proc = _launch('evaluate.py', f'--saved_model={run}/saved_model',
                 '--task=independent', check=2)
  assert "'state'" in _error_line(proc)


def test_evaluate_on_a_users_dm_env(run_dir, tmp_path):
  """--env_factory: a user's dm_env module, stepped from Python, seeded from
  --seed; --record keeps the first --record_episodes episodes."""
  (tmp_path / 'my_env.py').write_text(
      'import environments\n'
      'def make_env(seed):\n'
      '  assert seed >= 7\n'
      '  return environments.make_environment("easy", seed=seed, num_trials=10)\n')
  record = str(tmp_path / 'rec.npz')
  proc = _launch(
      'evaluate.py', f'--saved_model={run_dir}/saved_model',
      '--env_factory=my_env:make_env', '--num_episodes=12', '--env_batch=5',
      '--seed=7', f'--output_dir={tmp_path}', f'--record={record}',
      '--record_episodes=4', env=dict(ENV, PYTHONPATH=str(tmp_path)))
  assert proc.returncode == 0, proc.stderr[-2000:]
  report = json.load(open(tmp_path / 'make_env.json'))
  agent = report['results']['agent']
  # A dm_env face of a project task: that task's baselines apply.
  assert set(report['results']) == {'agent', 'bayes_optimal', 'gittins',
                                    'thompson', 'ucb1', 'random'}
  assert agent['num_episodes'] == 12
  assert agent['episode_regret'] == pytest.approx(
      0.8 * agent['episode_suboptimal'], rel=1e-4)
  import numpy as np  # pylint: disable=g-import-not-at-top
  rec = np.load(record)
  assert rec['actions'].shape == (4, 10)
  assert rec['state_lstm_h'].shape == (4, 10, 48)
  proc = _launch('evaluate.py', f'--saved_model={run_dir}/saved_model',
                 '--env_factory=no_such_module:make', check=2)
  assert 'no_such_module' in _error_line(proc)


def test_evaluate_an_agent_of_a_users_own_task(tmp_path):
  """A SavedModel of a task this project does not know: one error line
  naming the way (--env_factory, or the Python API); with --env_factory the
  same outputs as a project task, with the baselines that apply."""
  from dm_env import specs  # pylint: disable=g-import-not-at-top
  from meta_rl import agent, export  # pylint: disable=g-import-not-at-top
  spec = {'episode_step': specs.BoundedArray((), 'int32', 0, 9,
                                             name='episode_step')}
  export.export_agent(agent.make_agent(spec, 2), spec,
                      str(tmp_path / 'mine' / 'saved_model'),
                      {'task': 'mine', 'env_steps': 4000})
  sm = f'--saved_model={tmp_path / "mine" / "saved_model"}'
  line = _error_line(_launch('evaluate.py', sm, check=2))
  for part in ("'mine'", "not one of this project's tasks",
               '--env_factory=module:callable', 'seed=', 'evaluate_dm_env'):
    assert part in line
  (tmp_path / 'my_task.py').write_text(
      'import dm_env, numpy as np\n'
      'from dm_env import specs\n'
      'class MyEnv(dm_env.Environment):\n'
      '  def __init__(self, seed):\n'
      '    self._t = 0\n'
      '  def reset(self):\n'
      '    self._t = 0\n'
      '    return dm_env.restart({"episode_step": np.int32(0)})\n'
      '  def step(self, action):\n'
      '    self._t += 1\n'
      '    obs = {"episode_step": np.int32(min(self._t, 9))}\n'
      '    r = np.float32(action == 1)\n'
      '    return (dm_env.termination(r, obs) if self._t == 10 else\n'
      '            dm_env.transition(r, obs))\n'
      '  def observation_spec(self):\n'
      '    return {"episode_step": specs.BoundedArray((), np.int32, 0, 9,\n'
      '                                               name="episode_step")}\n'
      '  def action_spec(self):\n'
      '    return specs.DiscreteArray(2, name="action")\n')
  env = dict(ENV, PYTHONPATH=str(tmp_path))

  def launch(*args):
    return _launch('evaluate.py', sm, '--env_factory=my_task:MyEnv',
                   '--num_episodes=8', '--env_batch=4', *args, env=env)

  proc = launch('--baselines=auto,ucb')
  assert proc.returncode == 0, proc.stderr[-2000:]
  report = json.load(open(tmp_path / 'mine' / 'eval' / 'mine.json'))
  assert report['trained_on'] == 'mine'
  assert list(report['results']) == ['agent', 'random', 'ucb']
  assert report['results']['ucb']['episode_return'] == 9.0
  assert os.path.exists(tmp_path / 'mine' / 'eval' / 'mine.png')
  assert sorted(os.listdir(tmp_path / 'mine' / 'tb' / 'eval')) == [
      'agent', 'random', 'ucb']
