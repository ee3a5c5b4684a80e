"""Harlow's launchers as a user runs them: train on a tiny render, kept
checkpoints, exp6 analysis and evaluate.py on held-out and folder images,
bad image folders."""

import json
import os

import numpy as np
import pytest

from test_launch import ROOT, _error_line, _launch

TESTDATA = os.path.join(ROOT, 'testdata', 'harlow_images')
# A 24x24 render, 4 images, short episodes: seconds per update.
TINY = ['--resolution=24', '--num_images=4', '--max_steps=120',
        '--batch_size=4', '--unroll_length=10', '--num_units=16',
        '--log_every_secs=0', '--checkpoint_every=2', '--keep_every=4']


@pytest.fixture(scope='module')
def harlow_run(tmp_path_factory):
  run = str(tmp_path_factory.mktemp('harlow') / 'lstm')
  proc = _launch('harlow.py', f'--run_dir={run}', '--total_steps=320', *TINY,
                 check=0)
  assert 'update 8/8' in proc.stderr and 'frames/s' in proc.stderr
  assert 'p correct later' in proc.stderr or 'fixation rate' in proc.stderr
  return run


def test_run_metadata_and_kept_checkpoints(harlow_run):
  meta = json.load(open(os.path.join(harlow_run, 'saved_model', '1',
                                     'assets.extra', 'meta_rl.json')))
  assert meta['task'] == 'harlow' and meta['action_repeat'] == 4
  assert meta['task_kwargs']['resolution'] == 24
  assert set(meta['observation_spec']) == {'pixels'}
  kept = sorted(os.listdir(os.path.join(harlow_run, 'checkpoints', 'kept')))
  assert [k for k in kept if k.endswith('.index')] == ['ckpt-4.index',
                                                       'ckpt-8.index']


def test_exp6_analysis_with_checkpoints_and_folder_images(harlow_run):
  proc = _launch('exp6_harlow.py', f'--run_dir={harlow_run}',
                 '--num_episodes=12', '--checkpoint_episodes=4', check=0)
  assert 'trials 2-10' in proc.stdout
  report = json.load(open(os.path.join(harlow_run, 'eval', 'exp6.json')))
  assert set(report['results']) == {'agent', 'ideal', 'random'}
  # Kept (4, 8) and the manager's latest three (4, 6, 8).
  assert set(report['checkpoints']) == {'4', '6', '8'}
  ideal = report['results']['ideal']
  assert ideal['p_correct_later'] == 1.0 and ideal['fixation_rate'] == 1.0
  assert len(ideal['by_trial']['all']['p']) >= 2
  for name in ('exp6.png', 'exp6_episode.png'):
    assert os.path.getsize(os.path.join(harlow_run, 'eval', name)) > 10_000
  # Refuses to overwrite; a checkpoint that is not there is one error line.
  _error_line(_launch('exp6_harlow.py', f'--run_dir={harlow_run}', check=2))
  proc = _launch('exp6_harlow.py', f'--run_dir={harlow_run}',
                 '--checkpoint=5', check=2)
  assert 'no checkpoint of update 5' in _error_line(proc)
  # The checkpoint of update 4 on a user's folder of images.
  _launch('exp6_harlow.py', f'--run_dir={harlow_run}', '--checkpoint=4',
          f'--image_dir={TESTDATA}', '--num_episodes=6',
          '--checkpoint_episodes=0', '--baselines=', check=0)
  report = json.load(open(os.path.join(
      harlow_run, 'eval', 'exp6_harlow_images_ckpt4.json')))
  assert report['test_images'] == 2 and report['checkpoint'] == 4


def test_evaluate_uses_held_out_images(harlow_run, tmp_path):
  out = str(tmp_path / 'eval')
  proc = _launch('evaluate.py', f'--saved_model={harlow_run}/saved_model',
                 '--num_episodes=6', f'--output_dir={out}', '--record',
                 str(tmp_path / 'rec.npz'), check=0)
  report = json.load(open(os.path.join(out, 'harlow.json')))
  assert report['task_kwargs']['split'] == 'test'
  assert set(report['results']) == {'agent', 'ideal', 'random'}
  assert 'p_correct_later' in report['results']['ideal']
  rec = np.load(str(tmp_path / 'rec.npz'))
  assert rec['state_lstm_h'].shape[2] == 16 and 'info_gaze' in rec
  del proc


@pytest.mark.parametrize('folder, message', [
    ('missing', 'does not exist'),
    ('empty', 'at least 2'),
    ('bad', 'cannot read image'),
])
def test_bad_image_folders_exit_2_with_one_line(tmp_path, folder, message):
  root = tmp_path / 'images'
  if folder != 'missing':
    (root / 'train').mkdir(parents=True)
    if folder == 'bad':
      for name in ('a.png', 'b.png'):
        (root / 'train' / name).write_bytes(b'\x89PNG broken')
  proc = _launch('harlow.py', f'--run_dir={tmp_path / "run"}',
                 f'--image_dir={root}', *TINY, check=2)
  assert message in _error_line(proc)
  assert not os.path.exists(tmp_path / 'run')


def test_saved_model_runs_in_the_cpp_loader_on_pixels(harlow_run, tmp_path):
  """The C++ loader of TF Serving (saved_model_cli run) on a uint8 frame."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  from test_launch import ENV  # pylint: disable=g-import-not-at-top
  cli = os.path.join(os.path.dirname(sys.executable), 'saved_model_cli')
  npz = tmp_path / 'in.npz'
  rng = np.random.default_rng(0)
  np.savez(npz, prev_action=np.array([-1, 2], np.int32),
           prev_reward=np.array([0, 0.2], np.float32),
           pixels=rng.integers(0, 256, (2, 24, 24, 3)).astype(np.uint8),
           lstm_h=np.zeros((2, 16), np.float32),
           lstm_c=np.zeros((2, 16), np.float32))
  inputs = ';'.join(f'{k}={npz}[{k}]' for k in
                    ('prev_action', 'prev_reward', 'pixels', 'lstm_h', 'lstm_c'))
  out = tmp_path / 'out'
  subprocess.run([cli, 'run', '--dir', os.path.join(harlow_run, 'saved_model',
                                                    '1'),
                  '--tag_set', 'serve', '--signature_def', 'step', '--inputs',
                  inputs, '--outdir', str(out)], check=True, env=ENV,
                 capture_output=True)
  logits = np.load(out / 'logits.npy')
  assert logits.shape == (2, 3) and np.isfinite(logits).all()
  assert set(np.load(out / 'action.npy').tolist()) <= {0, 1, 2}


def test_learning_curves_read_every_tensorboard_point(tmp_path, monkeypatch):
  """Fig 6d and 7c read every point of a run's curve (TensorBoard's loader keeps
  a sample of 10 tensor events unless told otherwise)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  monkeypatch.syspath_prepend(os.path.join(ROOT, 'launch'))
  import common  # pylint: disable=g-import-not-at-top
  writer = tf.summary.create_file_writer(str(tmp_path / 'tb'))
  with writer.as_default():
    for i in range(30):
      tf.summary.scalar('p_correct_later', i / 30, step=1000 * i)
  writer.close()
  steps, values = common.tensorboard_curve(str(tmp_path), 'p_correct_later')
  assert steps == [1000 * i for i in range(30)]
  np.testing.assert_allclose(values, np.arange(30) / 30, rtol=1e-6)
  assert common.tensorboard_curve(str(tmp_path), 'never_logged') == ([], [])


def test_export_a_checkpoint_of_a_stopped_run(harlow_run, tmp_path):
  """launch/export.py writes the agent of a chosen training checkpoint as a
  SavedModel (a run stopped early exports nothing by itself): the same
  outputs as the checkpoint's network, usable by evaluate.py."""
  import shutil  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import environments  # pylint: disable=g-import-not-at-top
  from meta_rl import evaluation  # pylint: disable=g-import-not-at-top
  from meta_rl.run import checkpoints  # pylint: disable=g-import-not-at-top
  run = str(tmp_path / 'stopped')
  shutil.copytree(harlow_run, run)
  shutil.rmtree(os.path.join(run, 'saved_model'))
  proc = _launch('export.py', f'--run_dir={run}', '--checkpoint=4', check=0)
  path = proc.stdout.strip()
  assert path == os.path.join(run, 'saved_model', '1')
  meta = json.load(open(os.path.join(path, 'assets.extra', 'meta_rl.json')))
  assert meta['num_updates'] == 4 and meta['env_steps'] == 4 * 4 * 10
  assert meta['checkpoint'] == os.path.join('checkpoints', 'kept', 'ckpt-4')
  assert meta['task'] == 'harlow' and meta['task_kwargs']['resolution'] == 24
  # The SavedModel computes what the checkpoint's network computes.
  core = environments.make_core('harlow', resolution=24, num_images=4,
                                max_steps=120)
  net = evaluation.checkpoint_agent(run, checkpoints.kept_checkpoints(run)[4], core)
  rng = np.random.default_rng(1)
  inputs = {'prev_action': tf.constant([-1, 2], tf.int32),
            'prev_reward': tf.constant([0.0, 0.2]),
            'pixels': tf.constant(rng.integers(0, 256, (2, 24, 24, 3)),
                                  tf.uint8)}
  state = net.initial_state(2)
  want = net.step(inputs, state)[0].logits.numpy()
  got = tf.saved_model.load(path).signatures['step'](**inputs, **state)
  np.testing.assert_allclose(got['logits'].numpy(), want, rtol=1e-5, atol=1e-6)
  # The next export is version 2 (the latest); evaluate.py plays it.
  _launch('export.py', f'--run_dir={run}', check=0)
  _launch('evaluate.py', f'--saved_model={run}/saved_model',
          '--num_episodes=4', f'--output_dir={tmp_path / "eval"}', check=0)
  meta = json.load(open(os.path.join(run, 'saved_model', '2', 'assets.extra',
                                     'meta_rl.json')))
  assert meta['num_updates'] == 8
  # Bad input: one error line, exit status 2, nothing written.
  assert 'no checkpoint of update 5' in _error_line(
      _launch('export.py', f'--run_dir={run}', '--checkpoint=5', check=2))
  assert 'config.json' in _error_line(
      _launch('export.py', f'--run_dir={tmp_path / "none"}', check=2))
  assert sorted(os.listdir(os.path.join(run, 'saved_model'))) == ['1', '2']
