"""The navigation launchers as a user runs them: train both agents on a tiny
render (one on a user's maze file), the Exp 7 analysis on them, bad maze
files and views."""

import json
import os

import numpy as np
import pytest

from environments import maze as maze_lib
from test_launch import _error_line, _launch

# A 20x20 render (the conv encoder's smallest), 10-decision episodes: a fraction of a second per update.
TINY = ['--resolution=20', '--episode_frames=40', '--batch_size=4',
        '--unroll_length=10', '--log_every_secs=0', '--checkpoint_every=2',
        '--total_steps=160', '--stacked_units=8,16', '--num_units=16']


@pytest.fixture(scope='module')
def nav_runs(tmp_path_factory):
  """A stacked-LSTM run on the built-in I-maze and a feed-forward run on the
  same map given as a user's --maze_file."""
  root = tmp_path_factory.mktemp('nav')
  maze_file = root / 'imaze.txt'
  maze_file.write_text(maze_lib.I_MAZE + '\n')
  runs = {}
  for core, extra in (('stacked_lstm', []),
                      ('feedforward', [f'--maze_file={maze_file}'])):
    runs[core] = str(root / core)
    proc = _launch('navigation.py', f'--run_dir={runs[core]}', f'--core={core}',
                   *TINY, *extra, check=0)
    assert 'update 4/4' in proc.stderr and 'frames/s' in proc.stderr
  return runs


def test_exp7_analysis_of_both_agents(nav_runs):
  proc = _launch('exp7_navigation.py', f'--run_dir={nav_runs["stacked_lstm"]}',
                 f'--ff_run_dir={nav_runs["feedforward"]}', '--num_episodes=24',
                 check=0)
  assert 'ratio' in proc.stdout and 'ff ' in proc.stdout
  eval_dir = os.path.join(nav_runs['stacked_lstm'], 'eval')
  with open(os.path.join(eval_dir, 'exp7.json')) as f:
    report = json.load(f)
  assert set(report['results']) == {'agent', 'ff', 'random'}
  for s in report['results'].values():
    assert s['episodes'] == 24 and s['window'] == 5
    assert 0 <= s['p_found'] <= 1 and len(s['by_visit']['mean']) >= 1
  for name in ('exp7.png', 'exp7_episode.png'):
    assert os.path.getsize(os.path.join(eval_dir, name)) > 10_000
  # Outputs exist: refused without --overwrite, one line, exit 2.
  again = _launch('exp7_navigation.py',
                  f'--run_dir={nav_runs["stacked_lstm"]}', '--ff_seed_runs=/x',
                  check=2)
  assert 'exists; pass --overwrite' in _error_line(again)


def test_values_are_recorded_for_the_agent(nav_runs):
  import environments  # pylint: disable=g-import-not-at-top
  from meta_rl import evaluation  # pylint: disable=g-import-not-at-top
  policy = evaluation.SavedModelPolicy(
      os.path.join(nav_runs['feedforward'], 'saved_model'))
  core = environments.make_core('imaze', action_repeat=4, resolution=20,
                                episode_frames=40)
  episodes = evaluation.play_episodes(core, policy, 3, seed=1)
  assert episodes['values'].shape == (3, 10)
  assert np.isfinite(episodes['values']).all()
  assert np.abs(episodes['values']).sum() > 0


def test_a_users_maze_file_is_stored_with_the_run(nav_runs):
  for core, maze in (('stacked_lstm', None),
                     ('feedforward', maze_lib.I_MAZE)):
    with open(os.path.join(nav_runs[core], 'config.json')) as f:
      kwargs = json.load(f)['task']['kwargs']
    assert kwargs.get('maze') == maze


def test_bad_maze_files_exit_2_with_one_line(tmp_path):
  maze = tmp_path / 'bad.txt'
  maze.write_text('*****\n*P G*\n****\n')
  proc = _launch('navigation.py', f'--run_dir={tmp_path / "run"}',
                 f'--maze_file={maze}', check=2)
  assert 'bad.txt: maze line 3 has 4 characters' in _error_line(proc)
  proc = _launch('navigation.py', f'--run_dir={tmp_path / "run"}',
                 '--maze_file=/no/such/maze.txt', check=2)
  assert 'No such file' in _error_line(proc)
  assert not (tmp_path / 'run').exists()
  # Too small a view for the conv encoder: tests/test_agent.py (the same
  # ValueError becomes one error line like the above).
