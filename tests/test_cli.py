"""Command-line face of the launchers: `--help` lists every flag, grouped."""

import os
import re
import subprocess
import sys

from absl import flags
import pytest

import launcher

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'launch'))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
TRAINING_LAUNCHERS = ('bandits', 'two_step', 'harlow', 'navigation')


def _sections(text):
  """{section heading: [flag names]} of a --help text."""
  sections, current = {}, None
  for line in text.splitlines():
    if re.match(r'^\S.*:$', line):
      current = sections.setdefault(line[:-1], [])
    m = re.match(r'^  --(?:\[no\])?(\w+)', line)
    if m and current is not None:
      current.append(m.group(1))
  return sections


@pytest.fixture(scope='module')
def helps():
  """--help of each training launcher (run concurrently: each imports TF)."""
  return {name: launcher.run(f'{name}.py', '--help', check=0,
                             timeout=120).stdout
          for name in TRAINING_LAUNCHERS}


@pytest.mark.parametrize('name', TRAINING_LAUNCHERS)
def test_help_lists_every_flag_of_a_training_launcher_grouped(helps, name):
  import common  # pylint: disable=g-import-not-at-top
  module = __import__(name)
  fv = flags.FlagValues()
  module.define_flags(fv)
  sections = _sections(helps[name])
  listed = [f for names in sections.values() for f in names]
  # Every flag the launcher defines, once; nothing of absl or TF.
  assert sorted(listed) == sorted(fv), sorted(set(fv) ^ set(listed))
  assert [s for s in sections if s in common.HELP_GROUPS] == [
      'task', 'agent', 'A2C', 'training', 'run']
  assert 'core' in sections['agent'] and 'num_units' in sections['agent']
  assert {'gamma', 'beta_e', 'learning_rate'} <= set(sections['A2C'])
  assert {'batch_size', 'unroll_length', 'total_steps'} <= set(
      sections['training'])
  assert {'run_dir', 'resume', 'checkpoint_every'} <= set(sections['run'])
  assert 'verbosity' not in listed and 'flagfile' not in listed
  # The launcher's docstring leads.
  assert helps[name].startswith(module.__doc__.strip().splitlines()[0])


def test_help_of_sweep_lists_the_launchers_flags_too():
  proc = launcher.run('sweep.py', '--launcher=launch/two_step.py', '--help',
                      timeout=120)
  assert proc.returncode == 0, proc.stderr
  sections = _sections(proc.stdout)
  own = [s for s in sections if s.endswith('sweep.py')]
  assert len(own) == 1 and 'num_samples' in sections[own[0]]
  assert 'swap_prob' in sections['task'] and 'gamma' in sections['A2C']


# Runs a launcher (or code) as if the `analysis` extra were not installed:
# `sys.modules[name] = None` makes `import name` fail and `find_spec` say
# absent, as for a package that is not there.
_WITHOUT_ANALYSIS = '''
import os, runpy, sys
for name in ('matplotlib', 'statsmodels', 'pandas'):
  sys.modules[name] = None
sys.argv = sys.argv[1:]
if sys.argv[0] == '-c':
  exec(sys.argv[1])
else:
  sys.path.insert(0, os.path.dirname(sys.argv[0]))
  runpy.run_path(sys.argv[0], run_name='__main__')
'''


def _without_analysis(*argv):
  return subprocess.run([sys.executable, '-c', _WITHOUT_ANALYSIS, *argv],
                        capture_output=True, text=True, env=ENV, cwd=ROOT,
                        timeout=300)


def test_library_imports_without_the_analysis_extra():
  proc = _without_analysis('-c', '''
import sys
import environments, meta_rl
from meta_rl import evaluation, experiment, export, run, training, baselines
assert 'matplotlib' not in [m.split('.')[0] for m in sys.modules
                            if sys.modules[m] is not None], 'matplotlib imported'
print('ok')
''')
  assert proc.returncode == 0 and 'ok' in proc.stdout, proc.stderr[-2000:]


def test_analysis_launcher_without_the_extra_says_what_to_install(tmp_path):
  proc = _without_analysis(os.path.join(ROOT, 'launch', 'exp3_informative.py'),
                           f'--run_dir={tmp_path}')
  assert proc.returncode == 2, proc.stderr[-2000:]
  lines = [l for l in proc.stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and lines[0].startswith('error: matplotlib, '
                                                 'statsmodels, pandas not')
  assert "pip install -e '.[analysis]'" in lines[0]
  assert os.listdir(tmp_path) == []


def test_evaluate_without_the_analysis_extra_skips_only_the_figure(tmp_path):
  proc = _without_analysis(
      os.path.join(ROOT, 'launch', 'evaluate.py'),
      f'--saved_model={ROOT}/testdata/pretrained/two_step',
      '--num_episodes=20', f'--output_dir={tmp_path}')
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert 'no figure: matplotlib' in proc.stderr
  assert sorted(os.listdir(tmp_path)) == ['tb', 'two_step.json']
  assert 'two_step.png' not in proc.stdout


def test_library_settings_are_printed_as_the_launchers_flags():
  import common  # pylint: disable=g-import-not-at-top
  fv = flags.FlagValues()
  flags.DEFINE_integer('batch_size', 1, '', flag_values=fv)
  flags.DEFINE_boolean('resume', False, '', flag_values=fv)
  assert common.as_flags(
      'lower `batch_size` or `unroll_length`; resume it (`resume`)', fv) == (
          'lower --batch_size or `unroll_length`; resume it (--resume)')


def test_importing_common_does_nothing_until_start():
  """`import common` defines names only: no TensorFlow, no signal handler,
  no duplicated stderr; `common.start()` in a launcher does those."""
  code = (
      'import signal, sys\n'
      f'sys.path.insert(0, {os.path.join(ROOT, "launch")!r})\n'
      'import common\n'
      'from common import process\n'
      "assert 'tensorflow' not in sys.modules\n"
      'assert signal.getsignal(signal.SIGINT) is signal.default_int_handler\n'
      'assert process._STDERR is None\n'
      'common.start()\n'
      "assert 'tensorflow' in sys.modules and process._STDERR is not None\n"
      '# not a launcher process (its main module is not in launch/): the\n'
      '# handlers stay as they were\n'
      'assert signal.getsignal(signal.SIGINT) is signal.default_int_handler\n'
      "assert callable(common.define_training_flags)  # imported on use\n")
  proc = subprocess.run([sys.executable, '-c', code], capture_output=True,
                        text=True, env=ENV, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
