"""One process per run dir (`rundir.RunDirLock`): a second launcher on a run
dir in use refuses at once; a lock left by a dead process is taken over."""

import os
import subprocess
import sys

import pytest

import launcher
from meta_rl import experiment
from meta_rl.run import errors, rundir
from meta_rl.agent import AgentConfig
from meta_rl.training import A2CConfig, TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ['--task=easy', '--num_trials=10', '--batch_size=8',
        '--unroll_length=10', '--log_every_secs=0', '--total_steps=160']


def _tiny_run(run_dir, resume=False):
  lines = []
  result = experiment.train(
      experiment.TaskConfig('easy', {'num_trials': 5}),
      AgentConfig(num_units=4), A2CConfig(),
      TrainConfig(batch_size=2, unroll_length=5, total_steps=20),
      experiment.RunConfig(str(run_dir), resume=resume, log_every_secs=0,
                           handle_signals=False), log=lines.append)
  return result, lines


def test_a_second_launcher_refuses_a_run_dir_in_use(tmp_path):
  run_dir = tmp_path / 'run'
  with rundir.RunDirLock(str(run_dir)):  # this process holds it
    proc = launcher.run('bandits.py', f'--run_dir={run_dir}', *TINY,
                        timeout=300)
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith('error: run dir') and (
        f'in use by process {os.getpid()}' in lines[0])
    assert os.listdir(run_dir) == [rundir.LOCK_FILE]  # nothing written
    # In the same process too (a sweep's trials, a notebook).
    with pytest.raises(errors.RunDirError, match='in use'):
      _tiny_run(run_dir)
  assert not os.path.exists(run_dir / rundir.LOCK_FILE)  # released


def test_the_lock_is_held_through_the_run_and_released(tmp_path):
  run_dir = tmp_path / 'run'
  refused = []

  def try_to_take(update, scalars):
    del update, scalars
    with pytest.raises(errors.RunDirError, match=f'process {os.getpid()}'):
      rundir.RunDirLock(str(run_dir))
    refused.append(True)

  result = experiment.train(
      experiment.TaskConfig('easy', {'num_trials': 5}),
      AgentConfig(num_units=4), A2CConfig(),
      TrainConfig(batch_size=2, unroll_length=5, total_steps=20),
      experiment.RunConfig(str(run_dir), log_every_secs=0,
                           handle_signals=False),
      log=lambda s: None, on_log=try_to_take)
  assert refused  # while training, the run dir was held
  assert result.saved_model and not os.path.exists(
      run_dir / rundir.LOCK_FILE)
  assert sorted(os.listdir(run_dir)) == ['checkpoints', 'config.json',
                                         'saved_model', 'tb']


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
  run_dir = tmp_path / 'run'
  os.makedirs(run_dir)
  dead = subprocess.Popen([sys.executable, '-c', 'pass'])
  dead.wait()
  (run_dir / rundir.LOCK_FILE).write_text(f'{dead.pid}\n')
  result, lines = _tiny_run(run_dir)
  assert result.saved_model
  assert any(f'taking over the lock of process {dead.pid}' in l and
             'it ended' in l for l in lines), lines


def test_a_refused_resume_leaves_no_dir_behind(tmp_path):
  with pytest.raises(errors.RunDirError, match='no config.json'):
    _tiny_run(tmp_path / 'missing', resume=True)
  assert not os.path.exists(tmp_path / 'missing')
