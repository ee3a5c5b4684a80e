"""Every input is checked up front (issue 13): bad flag values, unusable
output paths and damaged SavedModels are one `error:` line and exit 2,
before any work and with nothing created; evaluate.py's outputs are written
where it says, atomically."""

import json
import os
import shutil
import subprocess
import sys

import pytest

import launcher

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
TINY = ['--num_trials=10', '--batch_size=8', '--unroll_length=10',
        '--log_every_secs=0', '--total_steps=160']


def _run_all(cases, timeout=300):
  """Runs {key: [launcher path, args...]} (tests/launcher.py: one forked
  process each); returns {key: CompletedProcess}."""
  return {k: launcher.run(argv[0], *argv[1:], timeout=timeout)
          for k, argv in cases.items()}


def _error_line(proc):
  lines = [l for l in proc.stderr.splitlines() if l.strip()]
  assert proc.returncode == 2, proc.stderr[-3000:]
  assert len(lines) == 1, proc.stderr[-3000:]
  assert lines[0].startswith('error: '), lines[0]
  return lines[0]


def _launcher(name):
  return os.path.join(ROOT, 'launch', name)


BAD_TRAINING_FLAGS = [
    ('--learning_rate=0', '(0, 1]'),
    ('--learning_rate=-0.1', '(0, 1]'),
    ('--learning_rate=nan', '(0, 1]'),
    ('--learning_rate=inf', '(0, 1]'),
    ('--learning_rate=50', '(0, 1]'),
    ('--learning_rate_final=-1', '[0, 1]'),
    ('--learning_rate_final=nan', '[0, 1]'),
    ('--gamma=1.5', '[0, 1]'),
    ('--gamma=-0.1', '[0, 1]'),
    ('--gamma=nan', '[0, 1]'),
    ('--beta_e=-0.05', '>= 0'),
    ('--beta_e_final=inf', '>= 0'),
    ('--beta_v=-1', '>= 0'),
    ('--max_grad_norm=-1', '>= 0'),
    ('--adam_epsilon=0', '(0, 1]'),
    ('--eval_every=-1', '>= 0'),
    ('--log_every_secs=nan', '>= 0'),
    ('--seed=-1', '>= 0'),
    ('--agent_seed=-3', '>= 0'),
]


def test_bad_training_flag_values_are_one_line_and_create_nothing(tmp_path):
  cases = {}
  for i, (arg, _) in enumerate(BAD_TRAINING_FLAGS):
    cases[i] = [_launcher('bandits.py'), '--task=easy',
                f'--run_dir={tmp_path / f"r{i}"}', *TINY, arg]
  # The same validators are on every launcher's flags (two_step.py here).
  cases['two_step'] = [_launcher('two_step.py'),
                       f'--run_dir={tmp_path / "t"}', '--gamma=2']
  results = _run_all(cases)
  for i, (arg, valid) in enumerate(BAD_TRAINING_FLAGS):
    line = _error_line(results[i])
    name = arg.split('=')[0]
    assert f'{name}=' in line and f'{name} must be' in line, line
    assert valid in line, line
  assert '--gamma must be in [0, 1]' in _error_line(results['two_step'])
  assert os.listdir(tmp_path) == []  # no run dir


def test_validators_are_on_a_private_flag_values_too():
  """launch/sweep.py defines the launcher's flags on its own FlagValues."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, os.path.join(ROOT, 'launch'))
  import common  # pylint: disable=g-import-not-at-top
  fv = flags.FlagValues()
  common.define_training_flags(fv)
  fv(['x', '--learning_rate=0.01', '--learning_rate_final=0',
      '--gamma=1', '--beta_e_final=0', '--max_grad_norm=0',
      '--log_every_secs=0', '--seed=0'])  # edges are allowed
  for arg in ('--learning_rate=nan', '--gamma=1.01', '--beta_v=-1e-9',
              '--agent_seed=-1'):
    fv2 = flags.FlagValues()
    common.define_training_flags(fv2)
    with pytest.raises(flags.IllegalFlagValueError, match='must be'):
      fv2(['x', arg])


def test_unusable_run_dir_is_one_line(tmp_path):
  a_file = tmp_path / 'a_file'
  a_file.write_text('x')
  cases = {
      'file': [_launcher('bandits.py'), '--task=easy', f'--run_dir={a_file}',
               *TINY],
      'under_file': [_launcher('bandits.py'), '--task=easy',
                     f'--run_dir={a_file}/run', *TINY],
  }
  locked = tmp_path / 'locked'
  locked.mkdir()
  can_lock = os.geteuid() != 0  # root writes anywhere
  if can_lock:
    os.chmod(locked, 0o500)
    cases['unwritable'] = [_launcher('bandits.py'), '--task=easy',
                           f'--run_dir={locked}/run', *TINY]
  try:
    results = _run_all(cases)
  finally:
    os.chmod(locked, 0o700)
  assert 'is a file' in _error_line(results['file'])
  assert '--run_dir' in _error_line(results['file'])
  assert 'is a file' in _error_line(results['under_file'])
  if can_lock:
    assert 'not writable' in _error_line(results['unwritable'])
  assert a_file.read_text() == 'x'
  assert os.listdir(locked) == []


@pytest.fixture(scope='module')
def saved_model(tmp_path_factory):
  """A freshly initialised agent of the 'easy' bandit task, exported."""
  base = str(tmp_path_factory.mktemp('sm') / 'saved_model')
  code = (
      'import sys; sys.path.insert(0, %r)\n'
      'import environments\n'
      'from meta_rl import agent, export\n'
      'core = environments.make_core("easy", num_trials=10)\n'
      'spec = core.observation_spec()\n'
      'export.export_agent(agent.make_agent(spec, 2), spec, %r, '
      '{"task": "easy", "task_kwargs": {"num_trials": 10}, '
      '"action_repeat": 1, "env_steps": 0})\n' % (ROOT, base))
  subprocess.run([sys.executable, '-c', code], check=True, env=ENV)
  return base


def _damaged_copies(saved_model, root):
  """{name: path} of copies of `saved_model`, each damaged one way."""
  def copy(name):
    path = os.path.join(root, name)
    shutil.copytree(saved_model, path)
    return os.path.join(path, '1')

  out = {}
  version = copy('truncated_data')
  data = [f for f in os.listdir(os.path.join(version, 'variables'))
          if '.data' in f][0]
  with open(os.path.join(version, 'variables', data), 'r+b') as f:
    f.truncate(16)
  out['truncated_data'] = version
  version = copy('garbled_index')
  with open(os.path.join(version, 'variables', 'variables.index'), 'wb') as f:
    f.write(b'\x00garbage' * 10)
  out['garbled_index'] = version
  version = copy('no_variables')
  shutil.rmtree(os.path.join(version, 'variables'))
  os.makedirs(os.path.join(version, 'variables'))
  out['no_variables'] = version
  meta = lambda v: os.path.join(v, 'assets.extra', 'meta_rl.json')
  for name, text in (('meta_truncated', '{"task": "ea'), ('meta_empty', ''),
                     ('meta_list', '[]'),
                     ('meta_bad_kwargs', '{"task": "easy", "task_kwargs": 3}'),
                     ('meta_bad_task', '{"task": ["easy"]}')):
    version = copy(name)
    with open(meta(version), 'w') as f:
      f.write(text)
    out[name] = version
  return out


def test_evaluate_bad_input_is_one_line_before_any_work(saved_model,
                                                        tmp_path):
  a_file = tmp_path / 'a_file'
  a_file.write_text('x')
  evaluate = _launcher('evaluate.py')
  sm = f'--saved_model={saved_model}'
  cases = {
      'discount_1': [evaluate, sm, '--gittins_discount=1'],
      'discount_nan': [evaluate, sm, '--gittins_discount=nan'],
      'discount_0': [evaluate, sm, '--gittins_discount=0'],
      'seed': [evaluate, sm, '--seed=-1'],
      'episodes': [evaluate, sm, '--num_episodes=0'],
      'out_file': [evaluate, sm, f'--output_dir={a_file}'],
      'out_under_file': [evaluate, sm, f'--output_dir={a_file}/eval'],
      'record_under_file': [evaluate, sm, f'--output_dir={tmp_path / "o"}',
                            f'--record={a_file}/rec.npz'],
      # Trained on 10 trials: its episode_step input accepts [0, 9] only.
      'longer_episodes': [evaluate, sm, '--num_trials=20',
                          f'--output_dir={tmp_path / "o"}'],
  }
  damaged = _damaged_copies(saved_model, str(tmp_path / 'damaged'))
  for name, path in damaged.items():
    cases[name] = [evaluate, f'--saved_model={path}', '--num_episodes=10',
                   f'--output_dir={tmp_path / "out" / name}']
  results = _run_all(cases)
  assert '--gittins_discount must be in (0, 1)' in _error_line(
      results['discount_1'])
  assert '--gittins_discount' in _error_line(results['discount_nan'])
  assert '--gittins_discount' in _error_line(results['discount_0'])
  assert '--seed must be >= 0' in _error_line(results['seed'])
  assert '--num_episodes must be >= 2' in _error_line(results['episodes'])
  for name in ('out_file', 'out_under_file'):
    line = _error_line(results[name])
    assert '--output_dir' in line and 'is a file' in line, line
  line = _error_line(results['record_under_file'])
  assert '--record' in line and 'is a file' in line, line
  longer = results['longer_episodes']
  assert longer.returncode == 2 and 'Traceback' not in longer.stderr
  line = longer.stderr.strip().splitlines()[-1]
  assert line.startswith('error: ') and 'episode_step in [0, 19]' in line
  assert 'outside the [0, 9]' in line, line
  for name in damaged:
    line = _error_line(results[name])
    assert 'SavedModel' in line, (name, line)
    assert 'Traceback' not in results[name].stderr
  # Nothing was evaluated or written.
  assert not os.path.exists(tmp_path / 'out')
  assert not os.path.exists(tmp_path / 'o')
  assert a_file.read_text() == 'x'


def test_evaluate_record_path_and_atomic_json(saved_model, tmp_path):
  evaluate = _launcher('evaluate.py')
  out = tmp_path / 'out'
  args = [evaluate, f'--saved_model={saved_model}', '--num_episodes=4',
          '--baselines=random', f'--output_dir={out}']
  # A stale temporary file of an interrupted write is not the output.
  out.mkdir()
  proc = _run_all({0: [*args, f'--record={tmp_path / "rec"}']})[0]
  assert proc.returncode == 0, proc.stderr[-3000:]
  record = str(tmp_path / 'rec.npz')
  assert os.path.exists(record) and not os.path.exists(tmp_path / 'rec')
  assert record in proc.stdout  # the printed path is the file written
  report = json.load(open(out / 'easy.json'))
  assert report['task'] == 'easy' and 'agent' in report['results']
  assert [f for f in os.listdir(out) if f.endswith('.tmp')] == []
  # The overwrite check looks at the file numpy wrote: with and without
  # .npz, and for the JSON.
  results = _run_all({
      'rec': [*args[:-1], f'--output_dir={tmp_path / "out2"}',
              f'--record={tmp_path / "rec"}'],
      'rec_npz': [*args[:-1], f'--output_dir={tmp_path / "out3"}',
                  f'--record={record}'],
      'json': args,
  })
  for name, proc in results.items():
    assert 'exists' in _error_line(proc), name
  assert not os.path.exists(tmp_path / 'out2')


def test_write_json_is_atomic(tmp_path, monkeypatch):
  """A write that fails midway (evaluate.py's and the analysis launchers'
  JSON, exp2's table) leaves the old file (or none) and no temporary file."""
  from meta_rl import files  # pylint: disable=g-import-not-at-top
  path = str(tmp_path / 'easy.json')
  files.write_json(path, {'a': 1})
  assert oct(os.stat(path).st_mode & 0o777) == oct(0o644)
  real_dump = json.dump

  def dump_half(data, f, **kwargs):  # writes part of the file, then fails
    real_dump({'a': 2}, f, **kwargs)
    f.flush()
    raise OSError(28, 'No space left on device')

  monkeypatch.setattr(json, 'dump', dump_half)
  with pytest.raises(OSError, match='No space'):
    files.write_json(path, {'a': 2, 'b': 3})
  with pytest.raises(OSError, match='No space'):
    files.write_json(str(tmp_path / 'new.json'), {'b': 3})
  monkeypatch.setattr(json, 'dump', real_dump)
  assert json.load(open(path)) == {'a': 1}
  assert os.listdir(tmp_path) == ['easy.json']
  with pytest.raises(TypeError):  # not serialisable: found while writing
    files.write_json(path, {'a': 2, 'b': object()})
  with pytest.raises(KeyboardInterrupt):  # Ctrl-C while writing
    with files.atomic_file(str(tmp_path / 'table.md')) as f:
      f.write('| half a table')
      raise KeyboardInterrupt
  assert json.load(open(path)) == {'a': 1}
  assert os.listdir(tmp_path) == ['easy.json']
  files.write_text(str(tmp_path / 'table.md'), '| a |\n')
  assert open(tmp_path / 'table.md').read() == '| a |\n'


# --- every float flag is finite (issue 26, item 7) ---------------------------


@pytest.mark.parametrize('launcher', ['bandits', 'two_step', 'harlow',
                                      'navigation'])
def test_every_float_flag_of_a_training_launcher_refuses_nan_and_inf(
    launcher, capsys):
  from absl import flags  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, os.path.join(ROOT, 'launch'))
  import common  # pylint: disable=g-import-not-at-top
  module = __import__(launcher)
  probe = flags.FlagValues()
  module.define_flags(probe)
  floats = [f.name for f in probe._flags().values()  # pylint: disable=protected-access
            if f.flag_type() == 'float']
  assert len(set(floats)) >= 9, floats  # the A2C and run floats at least
  for name in sorted(set(floats)):
    for bad in ('nan', 'inf', '-inf'):
      fv = flags.FlagValues()
      module.define_flags(fv)
      try:
        fv(['x', f'--{name}={bad}'])
      except flags.IllegalFlagValueError:
        continue  # the flag's own range refuses it
      with pytest.raises(SystemExit) as exit_info:
        common.check_finite_floats(fv)
      assert exit_info.value.code == 2
      assert f'--{name}={float(bad)} must be a finite number' in (
          capsys.readouterr().err)


def test_every_launcher_checks_its_float_flags():
  """Each launcher parses with `common.parse_flags` (which checks every
  float flag) or calls `common.check_finite_floats` itself."""
  for name in os.listdir(os.path.join(ROOT, 'launch')):
    if name.endswith('.py'):
      text = open(os.path.join(ROOT, 'launch', name)).read()
      if 'app.run(' in text:
        assert ('flags_parser=common.parse_flags' in text or
                'common.check_finite_floats()' in text), name


def test_harlow_turn_degrees_out_of_range_is_one_line(tmp_path):
  results = _run_all({
      'turn': [_launcher('harlow.py'), f'--run_dir={tmp_path / "h"}',
               '--turn_degrees=-inf'],
      'ridge': [_launcher('decode_posterior.py'), '--ridge=nan'],
  })
  assert '--turn_degrees=-inf must be a finite number' in _error_line(
      results['turn'])
  assert '--ridge=nan must be a finite number' in _error_line(
      results['ridge'])
  assert os.listdir(tmp_path) == []
  import environments  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match='turn_degrees must be in'):
    environments.HarlowConfig(turn_degrees=-1.0)


def test_huge_action_repeat_is_refused_at_once(tmp_path):
  """Issue 26, item 4: a flag bound, and the possible reward sums decided
  without enumerating a huge repeat."""
  import time  # pylint: disable=g-import-not-at-top
  import environments  # pylint: disable=g-import-not-at-top
  t0 = time.perf_counter()
  core = environments.ActionRepeat(environments.make_core('independent'),
                                   1_000_000_000)
  assert core.possible_rewards() is None
  assert environments.ActionRepeat(environments.make_core('independent'),
                                   3).possible_rewards() == (0, 1, 2, 3)
  assert time.perf_counter() - t0 < 5
  proc = _run_all({'big': [_launcher('bandits.py'), '--task=easy',
                           f'--run_dir={tmp_path / "r"}',
                           '--action_repeat=1000000000']})['big']
  assert '--action_repeat must be in [1, 1000]' in _error_line(proc)


def test_binary_and_circular_flagfiles_are_one_line(tmp_path):
  """Issue 26, item 9 and item 11's flagfile: a binary --flagfile or
  --maze_file, and a flagfile that includes itself, are refused by name."""
  binary = tmp_path / 'binary.cfg'
  binary.write_bytes(b'\x89PNG\r\n\x1a\n\xff\xfe\x00')
  loop_a, loop_b = tmp_path / 'a.cfg', tmp_path / 'b.cfg'
  loop_a.write_text(f'--gamma=0.5\n--flagfile={loop_b}\n')
  loop_b.write_text(f'# comment\n--flagfile={loop_a}\n')
  itself = tmp_path / 'self.cfg'
  itself.write_text(f'--flagfile={itself}\n--gamma=0.5\n')
  results = _run_all({
      'binary': [_launcher('bandits.py'), f'--flagfile={binary}',
                 f'--run_dir={tmp_path / "r1"}'],
      'loop': [_launcher('bandits.py'), '--flagfile', str(loop_a),
               f'--run_dir={tmp_path / "r2"}'],
      'itself': [_launcher('sweep.py'), f'--flagfile={itself}',
                 '--launcher=bandits', f'--sweep_dir={tmp_path / "s"}'],
      'maze': [_launcher('navigation.py'), f'--maze_file={binary}',
               f'--run_dir={tmp_path / "r3"}'],
  })
  assert f'--flagfile {binary} is not a text file' in _error_line(
      results['binary'])
  line = _error_line(results['loop'])
  assert f'includes {loop_a} again' in line and str(loop_b) in line
  assert f'--flagfile {itself} includes {itself} again' in _error_line(
      results['itself'])
  assert f'{binary} is not a text map' in _error_line(results['maze'])
  assert sorted(os.listdir(tmp_path)) == ['a.cfg', 'b.cfg', 'binary.cfg',
                                          'self.cfg']


def test_a_run_without_tensorboard_has_empty_curves(tmp_path):
  """Analyses of a run dir without tb/ (a shipped policy) draw no training
  curve instead of failing after their evaluation (DirectoryDeletedError)."""
  sys.path.insert(0, os.path.join(ROOT, 'launch'))
  import common  # pylint: disable=g-import-not-at-top
  assert common.tensorboard_curve(str(tmp_path), 'p_correct_later') == ([], [])
  assert common.tensorboard_curve(str(tmp_path), 'x', wall_times=True,
                                  sub='heldout') == ([], [], [])
