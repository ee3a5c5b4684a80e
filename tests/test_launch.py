"""The launchers as a user runs them: train, refuse, resume, evaluate, errors."""

import json
import os
import signal
import subprocess
import sys
import time

from dm_env import specs
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
TINY = ['--num_trials=10', '--batch_size=8', '--unroll_length=10',
        '--log_every_secs=0', '--checkpoint_every=2']


def _launch(script, *args, check=None):
  proc = subprocess.run([sys.executable, os.path.join(ROOT, 'launch', script),
                         *args], capture_output=True, text=True, env=ENV,
                        cwd=ROOT)
  if check is not None:
    assert proc.returncode == check, proc.stderr[-3000:]
  return proc


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
  assert config['task'] == 'easy' and config['batch_size'] == 8
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
  assert 'exists' in _error_line(proc)
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


def test_resume_after_kill_9(tmp_path):
  run = str(tmp_path / 'killed')
  args = ['--task=easy', f'--run_dir={run}', *TINY, '--checkpoint_every=20']
  log = open(tmp_path / 'stderr.txt', 'w')
  proc = subprocess.Popen(
      [sys.executable, os.path.join(ROOT, 'launch', 'bandits.py'),
       '--total_steps=100000000', *args], env=ENV, cwd=ROOT,
      stdout=subprocess.DEVNULL, stderr=log)
  ckpt = os.path.join(run, 'checkpoints', 'checkpoint')
  deadline = time.time() + 120
  while not os.path.exists(ckpt) and time.time() < deadline:
    time.sleep(0.2)
  time.sleep(1.0)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert os.path.exists(ckpt), 'no checkpoint written before the kill'
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  latest = tf.train.latest_checkpoint(os.path.dirname(ckpt))
  done = int(latest.rsplit('-', 1)[1])
  logged = [int(l.split('update ')[1].split('/')[0])
            for l in (tmp_path / 'stderr.txt').read_text().splitlines()
            if '] update ' in l]
  # At most one checkpoint interval is lost.
  assert done >= 1 and logged and 0 <= logged[-1] - done < 20
  # Resume (total_steps may grow) and finish 20 more updates.
  total = (done + 20) * 80
  proc = _launch('bandits.py', f'--total_steps={total}', '--resume', *args,
                 check=0)
  assert f'resumed from {latest}' in proc.stderr
  assert f'update {done + 20}/{done + 20}' in proc.stderr


def test_evaluate_writes_json_png_and_refuses_overwrite(run_dir):
  sm = os.path.join(run_dir, 'saved_model')
  record = os.path.join(run_dir, 'eval', 'record.npz')
  proc = _launch('evaluate.py', f'--saved_model={sm}', '--num_episodes=50',
                 f'--record={record}', check=0)
  assert 'thompson' in proc.stdout and 'agent' in proc.stdout
  report = json.load(open(os.path.join(run_dir, 'eval', 'easy.json')))
  agent = report['results']['agent']
  assert report['task'] == 'easy' and agent['num_episodes'] == 50
  assert len(agent['cumulative_regret_mean']) == 10
  assert len(agent['cumulative_regret_se']) == 10
  assert len(agent['suboptimal_pulls_per_trial']) == 10
  assert set(report['results']) == {'agent', 'thompson', 'ucb1', 'random'}
  png = os.path.join(run_dir, 'eval', 'easy.png')
  assert open(png, 'rb').read(8) == b'\x89PNG\r\n\x1a\n'
  import numpy as np  # pylint: disable=g-import-not-at-top
  rec = np.load(record)
  assert rec['state_lstm_h'].shape == (50, 10, 48)
  assert rec['arm_probs'].shape == (50, 2)
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
      '{"task": "two_step"})\n' % (ROOT, str(tmp_path / 'other')))
  subprocess.run([sys.executable, '-c', code], check=True, env=ENV)
  proc = _launch('evaluate.py', f'--saved_model={tmp_path / "other"}',
                 '--task=independent', check=2)
  assert "'state'" in _error_line(proc)
  proc = _launch('evaluate.py', f'--saved_model={tmp_path / "other"}', check=2)
  assert 'two_step' in _error_line(proc)
