"""Issue 13, "progress is never lost to damaged files": damaged checkpoint
index files, checkpoints and config.json, stale temp folders, non-finite
weights and run dirs of runs that failed before their first checkpoint."""

import dataclasses
import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

import environments
from meta_rl.run import errors, loop, rundir
from meta_rl.agent import AgentConfig, make_agent
from meta_rl.training import (A2CConfig, InGraphTrainer, NonFiniteLossError,
                              TrainConfig)

UPDATE = 8 * 10  # env steps of one update of `_trainer`


def _trainer(updates, seed=2):
  core = environments.make_core('easy', num_trials=10)
  agent = make_agent(core.observation_spec(), 2, AgentConfig(seed=seed))
  return InGraphTrainer(core, agent, A2CConfig(),
                        TrainConfig(batch_size=8, unroll_length=10,
                                    total_steps=updates * UPDATE, seed=seed))


def _weights(trainer):
  return [v.numpy() for v in trainer.agent.trainable_variables]


def _ckpts(run_dir):
  return os.path.join(run_dir, 'checkpoints')


def _on_disk(directory):
  """{update: prefix} of the checkpoints with an .index file."""
  return {int(p[:-len('.index')].rsplit('-', 1)[1]): p[:-len('.index')]
          for p in glob.glob(os.path.join(directory, 'ckpt-*.index'))}


def _first_run(run_dir, updates=3):
  loop.run(_trainer(updates), run_dir, checkpoint_every=1,
             log=lambda s: None)
  assert sorted(_on_disk(_ckpts(run_dir))) == [1, 2, 3][:updates]


def _resume(run_dir, updates=5):
  lines = []
  trainer = _trainer(updates)
  result = loop.run(trainer, run_dir, resume=True, checkpoint_every=1,
                      log=lines.append)
  return trainer, result, lines


@pytest.fixture(scope='module')
def straight5():
  trainer = _trainer(5)
  for _ in range(5):
    trainer.train_step()
  return _weights(trainer)


@pytest.mark.parametrize('damage', ['garbled', 'truncated', 'empty',
                                    'missing'])
def test_damaged_index_file_resumes_from_checkpoints_on_disk(
    tmp_path, damage, straight5):
  run_dir = str(tmp_path)
  _first_run(run_dir)
  index = os.path.join(_ckpts(run_dir), 'checkpoint')
  text = open(index).read()
  if damage == 'missing':
    os.remove(index)
  else:
    with open(index, 'w') as f:
      f.write({'garbled': 'model_checkpoint_path: {{{ \x00garbage',
               'truncated': text[:len(text) // 2],
               'empty': ''}[damage])
  trainer, result, lines = _resume(run_dir)
  assert not any('from scratch' in l for l in lines), lines
  assert any(l.endswith('ckpt-3 at update 3') and 'resumed from' in l
             for l in lines), lines
  assert result.num_updates == 5
  # Continued from update 3, not from scratch: same weights as straight.
  for wa, wb in zip(straight5, _weights(trainer)):
    np.testing.assert_array_equal(wa, wb)
  # Rotation works from the repaired index (the latest 3 are kept).
  assert sorted(_on_disk(_ckpts(run_dir))) == [3, 4, 5]
  assert tf.train.latest_checkpoint(_ckpts(run_dir)).endswith('ckpt-5')


def _damage_newest(run_dir, damage, number=3):
  prefix = os.path.join(_ckpts(run_dir), f'ckpt-{number}')
  data = glob.glob(prefix + '.data-*')[0]
  if damage == 'missing_data':
    os.remove(data)
  elif damage == 'missing_index':
    os.remove(prefix + '.index')
  elif damage in ('truncated_data', 'truncated_index'):
    path = data if damage == 'truncated_data' else prefix + '.index'
    size = os.path.getsize(path)
    with open(path, 'r+b') as f:
      f.truncate(size // 2)
  elif damage == 'flipped_data':
    raw = bytearray(open(data, 'rb').read())
    for i in range(len(raw) // 4, len(raw), max(1, len(raw) // 64)):
      raw[i] ^= 0x10
    open(data, 'wb').write(bytes(raw))
  else:
    raise ValueError(damage)


@pytest.mark.parametrize('damage', ['truncated_data', 'flipped_data',
                                    'missing_data', 'missing_index',
                                    'truncated_index'])
def test_damaged_newest_checkpoint_falls_back_to_older(tmp_path, damage,
                                                        straight5):
  run_dir = str(tmp_path)
  _first_run(run_dir)
  _damage_newest(run_dir, damage)
  trainer, result, lines = _resume(run_dir)
  skipped = [l for l in lines if 'skipping damaged checkpoint' in l]
  assert len(skipped) == 1 and 'ckpt-3:' in skipped[0], lines
  assert any(l.endswith('ckpt-2 at update 2') and 'resumed from' in l
             for l in lines), lines
  assert result.num_updates == 5
  for wa, wb in zip(straight5, _weights(trainer)):
    np.testing.assert_array_equal(wa, wb)


def test_no_checkpoint_restores_one_line_error(tmp_path):
  run_dir = str(tmp_path)
  _first_run(run_dir, updates=2)
  _damage_newest(run_dir, 'truncated_data', 2)
  _damage_newest(run_dir, 'missing_data', 1)
  with pytest.raises(errors.RunDirError) as e:
    _resume(run_dir)
  message = str(e.value)
  assert '\n' not in message
  assert 'ckpt-2' in message and 'ckpt-1' in message
  # Nothing was written over the damaged checkpoints.
  assert sorted(_on_disk(_ckpts(run_dir))) == [1, 2]


@pytest.mark.parametrize('content', ['', '{"task": {"name": "eas', '[]',
                                     '{}', '"x"'])
def test_damaged_config_json_is_one_line_error(tmp_path, content):
  config = {'task': {'name': 'easy'}, 'train': {'total_steps': 10}}
  rundir.prepare_run_dir(str(tmp_path), config, resume=False)
  with open(os.path.join(tmp_path, rundir.CONFIG_FILE), 'w') as f:
    f.write(content)
  with pytest.raises(errors.RunDirError) as e:
    rundir.prepare_run_dir(str(tmp_path), config, resume=True)
  assert '\n' not in str(e.value)
  assert 'config.json' in str(e.value)


def test_stale_temp_folders_are_removed_on_resume(tmp_path):
  run_dir = str(tmp_path)
  _first_run(run_dir, updates=2)
  stale = os.path.join(_ckpts(run_dir), 'ckpt-3_temp')
  os.makedirs(stale)
  with open(os.path.join(stale, 'part-00000-of-00001.data-00000-of-00001'),
            'wb') as f:
    f.write(b'\x00' * 100)
  _, result, lines = _resume(run_dir, updates=3)
  assert not os.path.exists(stale)
  assert any('ckpt-3_temp' in l for l in lines), lines
  assert result.num_updates == 3


def _all_checkpoints_finite(run_dir):
  for prefix in _on_disk(_ckpts(run_dir)).values():
    reader = tf.train.load_checkpoint(prefix)
    for key, dtype in reader.get_variable_to_dtype_map().items():
      if dtype.is_floating:
        assert np.isfinite(reader.get_tensor(key)).all(), (prefix, key)


def test_non_finite_weights_are_never_checkpointed(tmp_path):
  run_dir = str(tmp_path)
  trainer = _trainer(2)
  loop.run(trainer, run_dir, checkpoint_every=1, log=lambda s: None)
  # A NaN learning rate: finite loss and gradients, NaN weights after the
  # update; the next update's loss is non-finite.
  trainer.optimizer.learning_rate.assign(float('nan'))
  trainer.config = dataclasses.replace(trainer.config,
                                       total_steps=10 * UPDATE)
  lines = []
  with pytest.raises(NonFiniteLossError):
    loop.run(trainer, run_dir, checkpoint_every=1, log=lines.append)
  assert lines[-1].endswith('last good checkpoint: ' +
                            os.path.join(_ckpts(run_dir), 'ckpt-2')), lines
  assert max(_on_disk(_ckpts(run_dir))) == 2
  _all_checkpoints_finite(run_dir)


def test_non_finite_weights_not_checkpointed_at_exit(tmp_path):
  run_dir = str(tmp_path)
  trainer = _trainer(2)
  loop.run(trainer, run_dir, checkpoint_every=100, log=lambda s: None)
  trainer.optimizer.learning_rate.assign(float('nan'))
  trainer.config = dataclasses.replace(trainer.config, total_steps=3 * UPDATE)
  lines = []
  with pytest.raises(NonFiniteLossError, match='not checkpointed'):
    loop.run(trainer, run_dir, checkpoint_every=100, log=lines.append)
  assert lines[-1].endswith('ckpt-2'), lines
  assert sorted(_on_disk(_ckpts(run_dir))) == [2]
  _all_checkpoints_finite(run_dir)


def test_nan_from_the_start_names_no_checkpoint(tmp_path):
  trainer = _trainer(5)
  trainer.optimizer.learning_rate.assign(float('nan'))
  lines = []
  with pytest.raises(NonFiniteLossError):
    loop.run(trainer, str(tmp_path), checkpoint_every=1, log=lines.append)
  assert lines[-1].endswith('last good checkpoint: none'), lines
  assert not _on_disk(_ckpts(str(tmp_path)))


def test_run_dir_without_progress_can_be_reused(tmp_path):
  config = {'task': {'name': 'easy'}, 'train': {'total_steps': 10}}
  run_dir = str(tmp_path / 'run')
  rundir.prepare_run_dir(run_dir, config, resume=False)
  # What a run that failed before its first checkpoint leaves behind.
  os.makedirs(os.path.join(run_dir, 'tb'))
  open(os.path.join(run_dir, 'tb', 'events.out.tfevents.1'), 'w').close()
  os.makedirs(os.path.join(run_dir, 'checkpoints', 'ckpt-1_temp'))
  os.makedirs(os.path.join(run_dir, 'saved_model'))
  fixed = {'task': {'name': 'easy'}, 'train': {'total_steps': 20}}
  assert rundir.prepare_run_dir(run_dir, fixed, resume=False) is False
  with open(os.path.join(run_dir, rundir.CONFIG_FILE)) as f:
    assert json.load(f) == fixed
  assert not os.path.exists(os.path.join(run_dir, 'tb', 'events.out.tfevents.1'))
  # With a checkpoint or an export (or other files) it is refused.
  for entry in ('checkpoints/ckpt-1.index', 'checkpoints/kept/ckpt-5.index',
                'saved_model/1/saved_model.pb', 'notes.txt'):
    path = os.path.join(run_dir, entry)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, 'w').close()
    with pytest.raises(errors.RunDirError, match='exists'):
      rundir.prepare_run_dir(run_dir, fixed, resume=False)
    os.remove(path)


@pytest.mark.parametrize('content', ['', 'garbage {{{',
                                     'model_checkpoint_path: "ckpt-7"\n'])
def test_index_file_without_checkpoints_starts_from_scratch(tmp_path,
                                                            content):
  os.makedirs(_ckpts(str(tmp_path)))
  with open(os.path.join(_ckpts(str(tmp_path)), 'checkpoint'), 'w') as f:
    f.write(content)
  _, result, lines = _resume(str(tmp_path), updates=2)
  assert any('starting from scratch' in l for l in lines), lines
  assert result.num_updates == 2
  assert tf.train.latest_checkpoint(_ckpts(str(tmp_path))).endswith('ckpt-2')


def test_export_skips_a_damaged_newest_checkpoint(tmp_path):
  """launch/export.py (`experiment.export_checkpoint`, `find_checkpoint`):
  by default the newest checkpoint that is not damaged, saying which was
  skipped and why; a damaged checkpoint asked for is one error line."""
  import shutil  # pylint: disable=g-import-not-at-top
  from meta_rl import experiment  # pylint: disable=g-import-not-at-top
  from test_faults_inputs import (_error_line, _launcher,  # pylint: disable=g-import-not-at-top
                                  _run_all)
  base = str(tmp_path / 'base')
  experiment.train(
      experiment.TaskConfig('easy', {'num_trials': 10}), AgentConfig(seed=2),
      A2CConfig(), TrainConfig(batch_size=8, unroll_length=10,
                               total_steps=3 * UPDATE, seed=2),
      experiment.RunConfig(base, checkpoint_every=1, log_every_secs=0,
                           export=False, handle_signals=False),
      log=lambda s: None)
  assert sorted(_on_disk(_ckpts(base))) == [1, 2, 3]
  runs = {}
  for damage in ('truncated_data', 'flipped_data', 'truncated_index'):
    runs[damage] = str(tmp_path / damage)
    shutil.copytree(base, runs[damage])
    _damage_newest(runs[damage], damage)
  export = _launcher('export.py')
  cases = {d: [export, f'--run_dir={r}'] for d, r in runs.items()}
  cases['asked'] = [export, f'--run_dir={runs["flipped_data"]}',
                    '--checkpoint=3']
  results = _run_all(cases)
  for damage, run_dir in runs.items():
    proc = results[damage]
    assert proc.returncode == 0, proc.stderr[-3000:]
    skipped = [l for l in proc.stderr.splitlines()
               if 'skipping damaged checkpoint' in l]
    assert len(skipped) == 1 and 'ckpt-3: cannot be restored' in skipped[0], (
        proc.stderr)
    assert 'Traceback' not in proc.stderr
    path = proc.stdout.strip()
    assert path == os.path.join(run_dir, 'saved_model', '1')
    with open(os.path.join(path, 'assets.extra', 'meta_rl.json')) as f:
      meta = json.load(f)
    assert meta['checkpoint'] == os.path.join('checkpoints', 'ckpt-2')
    assert meta['num_updates'] == 2
  line = _error_line(results['asked'])
  assert 'ckpt-3: cannot be restored (' in line and 'Checksum' in line, line
  assert not os.path.exists(os.path.join(runs['flipped_data'], 'saved_model',
                                         '2'))


def test_a_full_disk_is_one_clear_error_and_loses_nothing(tmp_path,
                                                           monkeypatch):
  """Issue 26, item 6: no space left while checkpointing -> DiskFullError
  naming the last good checkpoint and the way on; --resume then continues."""
  from meta_rl import experiment  # pylint: disable=g-import-not-at-top
  from meta_rl.agent import AgentConfig  # pylint: disable=g-import-not-at-top
  from meta_rl.training import A2CConfig, TrainConfig  # pylint: disable=g-import-not-at-top
  original = tf.train.CheckpointManager.save

  def save(self, checkpoint_number=None, **kwargs):
    if checkpoint_number and checkpoint_number >= 3:
      raise tf.errors.ResourceExhaustedError(
          None, None, 'ckpt-3_temp/part-00000: No space left on device')
    return original(self, checkpoint_number=checkpoint_number, **kwargs)

  monkeypatch.setattr(tf.train.CheckpointManager, 'save', save)
  run_dir = str(tmp_path / 'run')
  args = (experiment.TaskConfig('easy', {'num_trials': 5}),
          AgentConfig(num_units=4), A2CConfig(),
          TrainConfig(batch_size=2, unroll_length=5, total_steps=50))
  with pytest.raises(errors.DiskFullError) as info:
    experiment.train(*args, experiment.RunConfig(
        run_dir, checkpoint_every=1, log_every_secs=0, handle_signals=False),
                     log=lambda s: None)
  message = str(info.value)
  assert 'no space left on the device' in message and '(`resume`)' in message
  assert f'last good checkpoint is {run_dir}/checkpoints/ckpt-2' in message
  assert isinstance(info.value, ValueError)  # launchers: one line, exit 2
  monkeypatch.undo()
  result = experiment.train(*args, experiment.RunConfig(
      run_dir, resume=True, log_every_secs=0, handle_signals=False),
                            log=lambda s: None)
  assert result.num_updates == 5 and result.saved_model
