"""Resuming, extending and stopping runs (issue 13): `--resume` with a larger
`--total_steps` extends a run with its schedules unchanged, a finished run
resumed exports nothing new, and Ctrl-C at any moment gives one truthful line
(no traceback, no claim of a checkpoint that was not written)."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from meta_rl import experiment, export
from meta_rl.run import checkpoints, errors
from meta_rl.agent import AgentConfig
from meta_rl.training import A2CConfig, TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
STEPS = 8 * 10  # env steps of one update (batch 8, unroll 10)
TASK = experiment.TaskConfig('easy', {'num_trials': 10})
# Both schedules on: the extended run must keep them as they were.
A2C = A2CConfig(learning_rate=0.01, learning_rate_final=0.002, beta_e=0.05,
                beta_e_final=0.01)


def _train(run_dir, total_updates, resume=False, schedule_updates=None,
           lines=None, logged=None, checkpoint_every=1, **run):
  train = TrainConfig(batch_size=8, unroll_length=10,
                      total_steps=total_updates * STEPS, seed=3,
                      schedule_steps=schedule_updates and schedule_updates * STEPS)
  return experiment.train(
      TASK, AgentConfig(seed=3), A2C, train,
      experiment.RunConfig(str(run_dir), resume=resume,
                           checkpoint_every=checkpoint_every,
                           log_every_secs=0.0, histogram_every_secs=None,
                           **run),
      log=(lines.append if lines is not None else lambda s: None),
      on_log=(lambda u, s: logged.append((u, s))) if logged is not None
      else None)


def _weights(saved_model):
  """The float variables (weights) of a SavedModel, in a fixed order."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  found = tf.saved_model.load(saved_model).variables
  return [v.numpy() for v in sorted(found, key=lambda v: v.name)
          if v.dtype.is_floating]


def test_extending_a_run_keeps_its_schedules(tmp_path):
  short = _train(tmp_path / 'run', 3)
  lines, logged = [], []
  longer = _train(tmp_path / 'run', 6, resume=True, lines=lines,
                  logged=logged)
  assert (longer.num_updates, longer.exported) == (6, True)
  assert any('total_steps 240 -> 480' in l and 'keep their length (240 steps)'
             in l for l in lines), lines
  # The same weights as one run of 6 updates whose schedules last 3.
  straight = _train(tmp_path / 'straight', 6, schedule_updates=3)
  for a, b in zip(_weights(longer.saved_model),
                  _weights(straight.saved_model)):
    np.testing.assert_array_equal(a, b)
  # ... and not those of a 6-update run with 6-update schedules (the test
  # can fail).
  plain = _train(tmp_path / 'plain', 6)
  assert any(not np.array_equal(a, b) for a, b in zip(
      _weights(longer.saved_model), _weights(plain.saved_model)))
  # Past the schedules: their final values.
  last = dict(logged)[6]
  assert last['learning_rate'] == pytest.approx(0.002)
  assert last['beta_e'] == pytest.approx(0.01)
  config = json.load(open(tmp_path / 'run' / 'config.json'))
  assert config['train']['total_steps'] == 6 * STEPS
  assert config['train']['schedule_steps'] == 3 * STEPS
  assert short.saved_model != longer.saved_model
  # Extending again keeps the first schedules; the same total resumes as
  # a finished run; an explicit other schedule is refused.
  again = _train(tmp_path / 'run', 8, resume=True)
  assert again.num_updates == 8
  assert json.load(open(tmp_path / 'run' / 'config.json'))['train'][
      'schedule_steps'] == 3 * STEPS
  with pytest.raises(errors.RunDirError, match='schedule_steps'):
    _train(tmp_path / 'run', 9, resume=True, schedule_updates=4)


def test_shortening_a_run_ends_it_sooner(tmp_path):
  _train(tmp_path / 'run', 2)
  result = _train(tmp_path / 'run', 4, resume=True)
  assert result.num_updates == 4
  # Fewer steps than done: finished; nothing trained or exported.
  lines = []
  result = _train(tmp_path / 'run', 3, resume=True, lines=lines)
  assert (result.num_updates, result.exported) == (4, False)
  assert any('finished already' in l for l in lines), lines


def test_resuming_a_finished_run_exports_nothing_new(tmp_path):
  first = _train(tmp_path / 'run', 2)
  lines = []
  again = _train(tmp_path / 'run', 2, resume=True, lines=lines)
  assert again.exported is False and again.saved_model == first.saved_model
  assert export.complete_versions(str(tmp_path / 'run' / 'saved_model'))[0] == [1]
  assert any('finished already: update 2 of 2' in l for l in lines), lines
  assert any(f'its SavedModel is {first.saved_model}' in l for l in lines)
  # Its export gone (e.g. deleted): the finished run exports again.
  import shutil  # pylint: disable=g-import-not-at-top
  shutil.rmtree(first.saved_model)
  again = _train(tmp_path / 'run', 2, resume=True)
  assert again.exported and os.path.exists(
      os.path.join(again.saved_model, 'saved_model.pb'))


def test_interrupt_stops_after_the_update_and_says_what_was_saved(
    tmp_path, monkeypatch):
  """SIGINT (Ctrl-C) during an update, the compiling first one included:
  the update finishes, is checkpointed, and the lines say so."""
  from meta_rl import training  # pylint: disable=g-import-not-at-top
  original = training.InGraphTrainer.train_step

  def interrupted_step(self):
    os.kill(os.getpid(), signal.SIGINT)  # arrives during the (first) update
    return original(self)

  monkeypatch.setattr(training.InGraphTrainer, 'train_step', interrupted_step)
  lines = []
  result = _train(tmp_path / 'run', 5, lines=lines, checkpoint_every=100)
  assert result.stopped_by == signal.SIGINT and result.num_updates == 1
  assert result.saved_model is None
  ckpt = os.path.join(tmp_path, 'run', 'checkpoints', 'ckpt-1')
  assert result.checkpoint == ckpt and os.path.exists(ckpt + '.index')
  assert any('stopping after the current update' in l for l in lines)
  assert f'checkpointed {ckpt}' in lines[-1], lines
  # Checkpointed in the loop already: the line says which one holds it.
  lines = []
  _train(tmp_path / 'run2', 5, lines=lines)
  assert lines[-1].endswith('checkpoints/ckpt-1 already holds update 1'), lines


def test_interrupt_before_any_update_claims_no_checkpoint(tmp_path,
                                                          monkeypatch):
  """Without signal handling (a notebook, a Ray worker) Ctrl-C is a
  KeyboardInterrupt; before the first update nothing is saved and the last
  line says so."""
  from meta_rl import training  # pylint: disable=g-import-not-at-top

  def interrupted_step(self):
    raise KeyboardInterrupt

  monkeypatch.setattr(training.InGraphTrainer, 'train_step', interrupted_step)
  lines = []
  result = _train(tmp_path / 'run', 5, lines=lines, handle_signals=False)
  assert result.stopped_by == signal.SIGINT and result.checkpoint is None
  assert lines[-1].endswith('nothing checkpointed: no update was made'), lines
  assert not checkpoints.disk_checkpoints(str(tmp_path / 'run' / 'checkpoints'))
  # The run dir holds no progress: the same command may use it again.
  monkeypatch.undo()
  assert _train(tmp_path / 'run', 1).num_updates == 1


def _launch_and_interrupt(args, after_line=None):
  """Starts bandits.py, sends SIGINT once `after_line` appeared on stderr
  (if None, after 1.5 s: while TensorFlow is being imported, which takes
  longer); returns (returncode, stderr)."""
  # Ctrl-C's default disposition in the child, as in a terminal: a test
  # suite started in the background (`cmd &` in a script) ignores SIGINT,
  # and its children inherit that.
  proc = subprocess.Popen(
      [sys.executable, os.path.join(ROOT, 'launch', 'bandits.py'), *args],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
      cwd=ROOT,
      preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
  seen = ''
  if after_line:
    while after_line not in seen:
      line = proc.stderr.readline()
      assert line, seen
      seen += line
  else:
    time.sleep(1.5)
  proc.send_signal(signal.SIGINT)
  _, rest = proc.communicate(timeout=300)
  return proc.returncode, seen + rest


def test_ctrl_c_in_a_launcher(tmp_path):
  tiny = ['--task=easy', '--num_trials=10', '--batch_size=8',
          '--unroll_length=10', '--total_steps=800', '--log_every_secs=0']
  run = str(tmp_path / 'starting')
  rc, err = _launch_and_interrupt([*tiny, f'--run_dir={run}'])
  assert rc == 130, err
  assert err.strip() == 'interrupted (Ctrl-C) while starting; nothing was done'
  assert not os.path.exists(run)
  run = str(tmp_path / 'compiling')
  rc, err = _launch_and_interrupt([*tiny, f'--run_dir={run}'],
                                  after_line='compiling')
  assert rc == 130 and 'Traceback' not in err, err
  ckpt = os.path.join(run, 'checkpoints', 'ckpt-1')
  assert f'checkpointed {ckpt}' in err and os.path.exists(ckpt + '.index')
  assert f'stopped at update 1 (latest checkpoint: {ckpt})' in err


def test_sigterm_during_export_cleans_up_and_exits_143(tmp_path):
  """Issue 26, item 10: SIGTERM while launch/export.py writes a version is
  handled as Ctrl-C is: its temporary folder is removed, exit 143."""
  run = tmp_path / 'run'
  _train(run, 2, export=False)
  base = run / 'saved_model'
  proc = subprocess.Popen(
      [sys.executable, os.path.join(ROOT, 'launch', 'export.py'),
       f'--run_dir={run}'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True, env=ENV, cwd=ROOT)
  deadline = time.time() + 120
  while time.time() < deadline and proc.poll() is None:
    if base.exists() and any(p.startswith('.tmp-') for p in os.listdir(base)):
      break
    time.sleep(0.002)
  assert proc.poll() is None, 'the export ended before it could be signalled'
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 143, err
  assert err.strip().endswith('terminated (SIGTERM)'), err
  assert 'Traceback' not in err
  assert os.listdir(base) == []  # no partial version, no temporary folder
