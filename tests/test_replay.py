"""Replaying a run's updates from a checkpoint (`meta_rl.replay`,
`launch/replay_updates.py`): with the run's settings the replay is the run,
update by update; with another learning rate it parts from it."""

import os

import pytest

import launcher
from meta_rl import experiment, replay
from meta_rl.agent import AgentConfig
from meta_rl.training import A2CConfig, TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 8 * 10  # env steps of one update (batch 8, unroll 10)


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  """A 6-update run checkpointed every 3 updates, and its logged scalars
  per update."""
  run_dir = str(tmp_path_factory.mktemp('replay') / 'run')
  logged = {}
  experiment.train(
      experiment.TaskConfig('easy', {'num_trials': 10}), AgentConfig(seed=3),
      A2CConfig(learning_rate=0.01),
      TrainConfig(batch_size=8, unroll_length=10, total_steps=6 * STEPS,
                  seed=3),
      experiment.RunConfig(run_dir, checkpoint_every=3, log_every_secs=0.0,
                           histogram_every_secs=None, export=False),
      log=lambda s: None,
      on_log=lambda u, s: logged.setdefault(u, s))
  return run_dir, logged


def test_replay_is_the_run_update_by_update(run):
  run_dir, logged = run
  records = list(replay.replay_updates(run_dir, 3, 3))
  assert [r['update'] for r in records] == [4, 5, 6]
  for r in records:
    for k in ('grad_norm', 'entropy', 'mean_reward', 'loss'):
      assert r[k] == logged[r['update']][k], (r['update'], k)
    # Adam moves a weight by at most a few learning rates per update.
    assert set(r['layers']) >= {'core/lstm', 'policy', 'value'}
    for largest, rms in r['layers'].values():
      assert 0 < rms <= largest < 10


def test_another_learning_rate_parts_from_the_run(run):
  run_dir, logged = run
  records = list(replay.replay_updates(run_dir, 3, 2, learning_rate=0.001))
  # The first update starts from the checkpoint's weights; the second from
  # weights moved by a tenth of the run's step.
  assert records[0]['grad_norm'] == logged[4]['grad_norm']
  assert records[1]['grad_norm'] != logged[5]['grad_norm']


def test_bad_input_is_one_line(run, tmp_path):
  run_dir, _ = run
  with pytest.raises(ValueError, match='num_updates must be >= 1'):
    next(replay.replay_updates(run_dir, 3, 0))
  with pytest.raises(experiment.RunDirError):
    next(replay.replay_updates(str(tmp_path / 'none'), None, 1))
  proc = launcher.run('replay_updates.py', f'--run_dir={run_dir}',
                      '--checkpoint=2', '--updates=1')
  assert proc.returncode == 2, proc.stderr
  lines = [l for l in proc.stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and lines[0].startswith('error: '), proc.stderr
