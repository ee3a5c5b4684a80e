"""Hyperparameter sweeps: search-space specs, selection on split halves, the
report, and a tiny sweep on embedded Ray Tune (launch/sweep.py)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import launcher
from meta_rl import sweep
from meta_rl import task_specs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
TINY = ['--task=easy', '--num_trials=10', '--batch_size=8',
        '--unroll_length=10', '--total_steps=400', '--log_every_secs=0',
        '--checkpoint_every=2']


def test_parse_space_kinds_and_types():
  space = sweep.parse_space(
      'learning_rate=loguniform:1e-4:1e-2, gamma=uniform:0.7:0.99\n'
      '# a comment line\n'
      'seed=randint:0:10,optimizer=choice:adam|rmsprop,beta_e=grid:0.01|0.1')
  assert space['learning_rate'] == sweep.Param('learning_rate', 'loguniform',
                                               (1e-4, 1e-2))
  assert space['seed'].args == (0, 10) and isinstance(space['seed'].args[0], int)
  assert space['optimizer'].args == ('adam', 'rmsprop')
  assert space['beta_e'].args == (0.01, 0.1)
  assert space['seed'].examples() == [0, 9]
  # A spec round-trips, and a later item replaces an earlier one.
  assert sweep.parse_space(sweep.space_spec(space)) == space
  assert sweep.parse_space('gamma=uniform:0.1:0.2,gamma=uniform:0.3:0.4')[
      'gamma'].args == (0.3, 0.4)
  for name, spec in task_specs.SEARCH_SPACES.items():
    assert {'learning_rate', 'gamma', 'beta_e', 'seed'} <= set(
        sweep.parse_space(spec)), name


@pytest.mark.parametrize('spec, message', [
    ('learning_rate', 'expected name=kind:args'),
    ('learning_rate=normal:0:1', "unknown kind 'normal'"),
    ('learning_rate=loguniform:0:1e-2', 'loguniform needs LOW > 0'),
    ('gamma=uniform:0.9:0.7', 'LOW must be below HIGH'),
    ('gamma=uniform:0.9', 'takes LOW:HIGH'),
    ('gamma=uniform:a:1', "'a' is not a number"),
    ('seed=randint:0:1.5', 'randint bounds must be integers'),
    ('optimizer=choice:adam||rmsprop', 'empty value'),
    ('gamma=uniform:0:inf', 'bounds must be finite'),
])
def test_parse_space_errors(spec, message):
  with pytest.raises(sweep.SpaceError, match=message.replace('(', r'\(')):
    sweep.parse_space(spec)


def _trial(trial_id, first, second, status='finished', lr=1e-3):
  evaluation = None
  if status == 'finished':
    evaluation = {'first': {'score': first, 'se': 0.1},
                  'second': {'score': second, 'se': 0.1,
                             'curve': [second / 2, second]}}
  return sweep.Trial(trial_id, f'trials/{trial_id}', {'learning_rate': lr},
                     status, evaluation, error='boom' if status == 'failed'
                     else None)


def test_selection_on_the_first_half_reported_on_the_second():
  trials = [_trial('a', 3.0, 1.0), _trial('b', 1.0, 4.0), _trial('c', 2.0, 2.0),
            _trial('d', None, None, status='failed'),
            _trial('e', None, None, status='stopped')]
  assert [t.trial_id for t in sweep.rank(trials, 'min')] == ['b', 'c', 'a']
  assert [t.trial_id for t in sweep.rank(trials, 'max')] == ['a', 'c', 'b']
  s = sweep.summary(trials, 2, 'min')
  # b and c win on the first half; their second-half scores are reported,
  # although a has the best second half.
  assert s['selected'] == ['b', 'c']
  assert s['second_half_mean'] == pytest.approx(3.0)
  assert s['second_half_sd'] == pytest.approx(np.std([4.0, 2.0], ddof=1))
  assert s['counts'] == {'finished': 3, 'failed': 1, 'stopped': 1,
                         'unfinished': 0}
  table = sweep.report_table(trials, 2, 'episode_regret', 'min')
  rows = table.splitlines()[2:]
  assert rows[0].startswith('| 1 * | b |') and rows[2].startswith('| 3 | a |')
  assert 'failed: boom' in rows[3] and 'stopped' in rows[4]


def test_evaluate_trial_scores_each_half(tmp_path):
  """The evaluation of a SavedModel agrees with `evaluation.summarise` on
  each half of the same episodes."""
  from environments import make_core
  from meta_rl import agent as agent_lib
  from meta_rl import evaluation
  from meta_rl import experiment
  core = make_core('easy', num_trials=10)
  net = agent_lib.make_agent(core.observation_spec(), core.num_actions,
                             agent_lib.AgentConfig(num_units=8))
  path = experiment._export(
      net, experiment.RunSpec(experiment.TaskConfig('easy'), net.config), core,
      str(tmp_path), {})
  ev = sweep.evaluate_trial(path, 40, seed=3)
  assert (ev['metric'], ev['mode'], ev['num_episodes']) == (
      'episode_regret', 'min', 40)
  episodes = evaluation.play_episodes(
      core, evaluation.SavedModelPolicy(path), 40, seed=3)
  for half, rows in (('first', slice(0, 20)), ('second', slice(20, 40))):
    part = {k: v[rows] for k, v in episodes.items()}
    s = evaluation.summarise(part)
    assert ev[half]['score'] == pytest.approx(s['episode_regret'], rel=1e-5)
    assert ev[half]['se'] == pytest.approx(s['episode_regret_se'], rel=1e-4)
    assert ev[half]['curve'] == pytest.approx(s['cumulative_regret'],
                                              rel=1e-5)


@pytest.mark.parametrize('launcher, args, task', [
    ('bandits.py', ['--flagfile=launch/configs/bandits_hard.cfg'], 'hard'),
    ('two_step.py', ['--flagfile=launch/configs/two_step.cfg'], 'two_step'),
    ('harlow.py', ['--flagfile=launch/configs/harlow.cfg'], 'harlow'),
    ('navigation.py', ['--flagfile=launch/configs/navigation.cfg'], 'imaze'),
])
def test_every_training_launcher_translates_private_flags(launcher, args, task):
  """What a trial does in its worker: the launcher's flags on a private
  FlagValues (the process-global flags untouched), its configs."""
  sys.path.insert(0, os.path.join(ROOT, 'launch'))
  try:
    import common  # pylint: disable=g-import-not-at-top
    sweep_main = _import_sweep_launcher()
    module = sweep_main.load_launcher(os.path.join(ROOT, 'launch', launcher))
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
      fv = sweep_main.launcher_flags(module, args + [
          '--learning_rate=0.00123', '--seed=7', '--run_dir=/tmp/x'])
    finally:
      os.chdir(cwd)
    job = common.job_from_flags(module.make_task, fv)
  finally:
    sys.path.remove(os.path.join(ROOT, 'launch'))
  assert job.task.name == task
  assert job.a2c.learning_rate == 0.00123 and job.train.seed == 7
  assert job.run.run_dir == '/tmp/x'
  assert job.metadata['flags']['learning_rate'] == 0.00123
  from absl import flags
  assert 'learning_rate' not in flags.FLAGS


def _import_sweep_launcher():
  import importlib.util  # pylint: disable=g-import-not-at-top
  if '_sweep_main' in sys.modules:
    return sys.modules['_sweep_main']
  spec = importlib.util.spec_from_file_location(
      '_sweep_main', os.path.join(ROOT, 'launch', 'sweep.py'))
  module = importlib.util.module_from_spec(spec)
  sys.modules['_sweep_main'] = module
  spec.loader.exec_module(module)
  return module


def _sweep(*args, env=None):
  return launcher.run('sweep.py', *args, env=env)


def _error(proc):
  lines = [l for l in proc.stderr.splitlines() if l.strip()]
  assert proc.returncode == 2, proc.stderr[-2000:]
  assert len(lines) == 1 and lines[0].startswith('error: '), proc.stderr
  return lines[0]


def test_bad_sweeps_are_one_line(tmp_path):
  base = ['--launcher=launch/bandits.py', f'--sweep_dir={tmp_path}/s']
  assert 'unknown kind' in _error(_sweep(*base, '--space=gamma=normal:0:1'))
  assert 'not a flag of' in _error(_sweep(*base, '--space=gama=uniform:0:1'))
  assert '--run_dir is set by the sweep' in _error(
      _sweep(*base, '--run_dir=x'))
  # Values the launcher refuses are refused before any trial starts.
  assert '--learning_rate must be a finite number' in _error(
      _sweep(*base, '--space=learning_rate=grid:0.003|nan'))
  assert not os.path.exists(f'{tmp_path}/s')
  # Without Ray: one line saying what to install.
  fake = tmp_path / 'noray' / 'ray'
  fake.mkdir(parents=True)
  (fake / '__init__.py').write_text('raise ImportError("no ray here")\n')
  env = dict(ENV, PYTHONPATH=str(tmp_path / 'noray'))
  assert "pip install -e '.[sweep]'" in _error(_sweep(*base, env=env))


def test_tiny_sweep_on_embedded_ray_interrupted_continued_and_reported(
    tmp_path):
  """One sweep on an embedded Ray cluster, its whole life: Ctrl-C ends it as
  it ends a launcher (130); the rerun continues it one trial at a time
  although Tune restores the first run's --max_concurrent_trials (issue 26,
  item 8); a trial that fails (a batch no machine holds, like one that runs
  out of memory) is reported and the sweep goes on; the report ranks on
  the first half and reports the second; a third invocation trains and
  evaluates nothing again; another sweep in the directory is refused."""
  pytest.importorskip('ray.tune')
  import signal  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  sweep_dir = str(tmp_path / 'sweep')
  args = ['--launcher=launch/bandits.py', *TINY[:4], '--total_steps=8000',
          '--log_every_secs=1', '--checkpoint_every=20',
          f'--sweep_dir={sweep_dir}',
          '--space=batch_size=grid:8|16|400000000,seed=randint:0:1000',
          '--num_samples=1', '--top_k=1', '--eval_episodes=20',
          '--max_failures=0', '--num_cpus=3']  # the three trials at once
  proc = subprocess.Popen(
      [sys.executable, os.path.join(ROOT, 'launch', 'sweep.py'), *args],
      stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)
  lines = []
  deadline = time.time() + 300
  for line in proc.stderr:  # until the trials start
    lines.append(line)
    if line.startswith('[sweep] started ') or time.time() > deadline:
      break
  time.sleep(2)  # the trials compile their first update
  proc.send_signal(signal.SIGINT)
  _, rest = proc.communicate(timeout=300)
  err = ''.join(lines) + rest
  assert proc.returncode == 130, err[-3000:]
  assert 'unfinished (interrupted); rerun the same command' in err

  args.append('--max_concurrent_trials=1')
  again = _sweep(*args)
  assert again.returncode == 0, again.stderr[-3000:]
  assert '[sweep] continuing' in again.stderr
  running = set()
  for line in again.stderr.splitlines():
    if line.startswith('[sweep] started '):
      running.add(line.split()[2])
      assert len(running) == 1, again.stderr
    elif line.startswith(('[sweep] finished ', '[sweep] failed ')):
      running.discard(line.split()[2].rstrip(':'))
  with open(os.path.join(sweep_dir, 'report.json')) as f:
    report = json.load(f)
  assert len(report['trials']) == 3
  # The huge batch fails; the sweep goes on and reports it.
  failed = [t for t in report['trials'] if t['status'] == 'failed']
  assert len(failed) == 1 and failed[0]['params']['batch_size'] == 400000000
  assert failed[0]['error']
  finished = [t for t in report['trials'] if t['status'] == 'finished']
  assert len(finished) == 2
  for t in finished:
    # Each trial is an ordinary run dir, trained with its sampled flags.
    run_dir = os.path.join(sweep_dir, t['run_dir'])
    with open(os.path.join(run_dir, 'config.json')) as f:
      config = json.load(f)
    assert config['train']['batch_size'] == t['params']['batch_size']
    assert config['train']['seed'] == t['params']['seed']
    assert config['task']['name'] == 'easy'
    assert os.listdir(os.path.join(run_dir, 'saved_model')) == ['1']
    assert any(f.startswith('events.') for f in os.listdir(
        os.path.join(run_dir, 'tb')))
    # Only the run's own TensorBoard events (with its HParams): none of
    # Tune's logger, whose HParams would hide them; its result.json stays.
    assert not [f for f in os.listdir(run_dir) if f.startswith('events.')]
    assert os.path.exists(os.path.join(run_dir, 'result.json'))
    assert os.path.exists(os.path.join(run_dir, 'checkpoints', 'checkpoint'))
  # Ranked on the first half; the top 1 reported on the second half.
  ranked = sorted(finished, key=lambda t: t['evaluation']['first']['score'])
  assert report['summary']['selected'] == [ranked[0]['trial_id']]
  assert report['summary']['second_half_mean'] == pytest.approx(
      ranked[0]['evaluation']['second']['score'])
  assert os.path.getsize(os.path.join(sweep_dir, 'report.png')) > 10_000
  with open(os.path.join(sweep_dir, 'report.md')) as f:
    assert f.read().count('| finished |') == 2

  # A third invocation trains and evaluates nothing again.
  mtimes = {t['trial_id']: os.path.getmtime(os.path.join(
      sweep_dir, t['run_dir'], 'eval', 'sweep.json')) for t in finished}
  third = _sweep(*args)
  assert third.returncode == 0, third.stderr[-3000:]
  assert '[sweep] continuing' in third.stderr
  assert '[sweep] started' not in third.stderr
  for t in finished:
    assert os.path.getmtime(os.path.join(
        sweep_dir, t['run_dir'], 'eval', 'sweep.json')) == mtimes[t['trial_id']]
  with open(os.path.join(sweep_dir, 'report.json')) as f:
    assert json.load(f)['summary'] == report['summary']
  # Another sweep in the same directory is refused.
  assert 'holds another sweep' in _error(_sweep(
      *[a for a in args if not a.startswith('--top_k')], '--top_k=2'))
