"""Exports are atomic and a served policy refuses malformed inputs (issue 13).

* A version folder `<base>/<N>` appears only complete: an export is written
  to a non-integer temporary folder and renamed into place; an error while
  writing leaves no integer folder behind. Loaders (`latest_version_dir`,
  `read_metadata`, `SavedModelPolicy`) skip partial versions left by a kill
  (or by older code) and name them; `next_version` never collides with one.
* The exported `step` refuses, in a plain-TF process that never imports this
  project, every malformed input with an `InvalidArgumentError` naming it,
  and never answers with an invalid action.

`python tests/test_faults_exports.py` measures what the checks cost per step.
"""

import json
import os
import shutil
import subprocess
import sys
import time

from dm_env import specs
import numpy as np
import pytest
import tensorflow as tf

import environments
from meta_rl import evaluation, export
from meta_rl.agent import AgentConfig, make_agent

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')

# Two-step: a DiscreteArray (`state`, 3 values) and a BoundedArray
# (`episode_step`); 2 actions.
TWO_STEP = 'two_step'
# A user's own task with float observations: per-element bounds and none.
FLOAT_SPEC = {
    'x': specs.BoundedArray((2,), np.float32, [-1.0, 0.0], [1.0, 5.0],
                            name='x'),
    'y': specs.Array((3,), np.float32, name='y'),
}


def _two_step_agent(seed=3):
  core = environments.make_core(TWO_STEP)
  spec = core.observation_spec()
  return make_agent(spec, core.num_actions, AgentConfig(seed=seed)), spec


@pytest.fixture(scope='module')
def good_version(tmp_path_factory):
  agent, spec = _two_step_agent()
  base = str(tmp_path_factory.mktemp('good') / 'saved_model')
  return export.export_agent(agent, spec, base, {'task': TWO_STEP})


def _warnings(monkeypatch):
  seen = []
  monkeypatch.setattr(export.logging, 'warning',
                      lambda msg, *args: seen.append(msg % args))
  return seen


# --- atomic exports ---------------------------------------------------------


def test_write_error_leaves_no_version_folder(tmp_path, monkeypatch):
  agent, spec = _two_step_agent()
  base = str(tmp_path / 'saved_model')
  during = []

  def failing_write(path, meta):
    during.append(sorted(os.listdir(base)))
    raise OSError('disk full (simulated)')

  monkeypatch.setattr(export, '_write_metadata', failing_write, raising=False)
  with pytest.raises(OSError, match='disk full'):
    export.export_agent(agent, spec, base, {'task': TWO_STEP})
  # While writing, the only folder was a temporary one, not an integer.
  assert during and len(during[0]) == 1
  assert during[0][0].startswith('.tmp-1-') and not during[0][0].isdigit()
  # Afterwards nothing: no partial version, no temporary folder.
  assert os.listdir(base) == []
  monkeypatch.undo()
  # The next export takes version 1 and is complete.
  path = export.export_agent(agent, spec, base, {'task': TWO_STEP})
  assert path == os.path.join(base, '1')
  assert sorted(os.listdir(base)) == ['1']
  assert export.read_metadata(base)['task'] == TWO_STEP


def test_error_inside_savedmodel_write_leaves_nothing(tmp_path, monkeypatch):
  agent, spec = _two_step_agent()
  base = str(tmp_path / 'saved_model')

  def failing_write_out(self, path, **kwargs):
    os.makedirs(os.path.join(path, 'variables'))  # a partial SavedModel
    raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of the write

  # keras.export.ExportArchive() makes an instance of a backend subclass.
  archive_class = type(export.keras.export.ExportArchive())
  monkeypatch.setattr(archive_class, 'write_out', failing_write_out)
  with pytest.raises(KeyboardInterrupt):
    export.export_agent(agent, spec, base, {})
  assert os.listdir(base) == []


def _partial_copies(good, base):
  """`base` as a kill at various moments (of older, non-atomic code, or of a
  copy) leaves it: 1 complete, 2 without saved_model.pb, 3 without its
  metadata, 4 an empty folder, and a leftover temporary folder of a killed
  export of version 5 (complete apart from its name)."""
  shutil.copytree(good, os.path.join(base, '1'))
  os.makedirs(os.path.join(base, '2', 'variables'))
  shutil.copy(os.path.join(good, 'fingerprint.pb'), os.path.join(base, '2'))
  shutil.copytree(good, os.path.join(base, '3'),
                  ignore=shutil.ignore_patterns('assets.extra'))
  os.makedirs(os.path.join(base, '4'))
  shutil.copytree(good, os.path.join(base, '.tmp-5-99999'))


def test_loaders_skip_and_name_partial_versions(good_version, tmp_path,
                                                 monkeypatch):
  base = str(tmp_path / 'saved_model')
  _partial_copies(good_version, base)
  seen = _warnings(monkeypatch)
  assert export.latest_version_dir(base) == os.path.join(base, '1')
  assert len(seen) == 1
  for name in ('2 (no saved_model.pb)', '3 (no assets.extra/meta_rl.json)',
               '4 (no saved_model.pb)'):
    assert name in seen[0]
  assert '.tmp-' not in seen[0] and base in seen[0]
  assert export.read_metadata(base)['task'] == TWO_STEP
  policy = evaluation.SavedModelPolicy(base)
  assert policy.path == os.path.join(base, '1')
  assert policy.num_actions == 2
  # The next version number never collides with a partial folder.
  assert export.next_version(base) == 5
  agent, spec = _two_step_agent()
  path = export.export_agent(agent, spec, base, {'task': 'again'})
  assert path == os.path.join(base, '5')
  assert export.latest_version_dir(base) == path
  assert export.read_metadata(base)['task'] == 'again'


def test_only_partial_versions_is_one_clear_error(good_version, tmp_path):
  base = str(tmp_path / 'saved_model')
  _partial_copies(good_version, base)
  shutil.rmtree(os.path.join(base, '1'))
  shutil.rmtree(os.path.join(base, '3'))
  with pytest.raises(FileNotFoundError, match=r'no complete SavedModel '
                     r'version .*2 \(no saved_model.pb\), 4 '):
    export.latest_version_dir(base)


def test_savedmodels_without_metadata_are_accepted(good_version, tmp_path,
                                                    monkeypatch):
  """A base of SavedModels of another origin (no meta_rl.json anywhere):
  the metadata rule applies only where some version has it."""
  base = str(tmp_path / 'saved_model')
  for v in ('1', '2'):
    shutil.copytree(good_version, os.path.join(base, v),
                    ignore=shutil.ignore_patterns('assets.extra'))
  seen = _warnings(monkeypatch)
  assert export.latest_version_dir(base) == os.path.join(base, '2')
  assert not seen
  assert export.read_metadata(base) == {}


# --- a served policy refuses malformed inputs -------------------------------

PLAIN_TF_CLIENT = r'''
import json, sys
import numpy as np
import tensorflow as tf
paths, out = json.loads(sys.argv[1]), sys.argv[2]
result = {}

def run(model, name, inputs, batch=2):
  step = model.signatures['step']
  state = model.signatures['initial_state'](batch_size=tf.constant(batch))
  state = {k: v.numpy() for k, v in state.items()}
  for k in list(inputs):
    if k in state:
      state[k] = inputs.pop(k)
  args = {k: tf.constant(v, step.structured_input_signature[1][k].dtype)
          for k, v in dict(inputs, **state).items()}
  try:
    o = step(**args)
    result[name] = {'ok': {k: o[k].numpy().tolist()
                           for k in ('action', 'greedy_action')}}
  except tf.errors.InvalidArgumentError as e:
    result[name] = {'error': e.message}
  except (TypeError, ValueError) as e:  # refused by the signature's specs
    result[name] = {'error': f'{type(e).__name__}: {e}'}

two = tf.saved_model.load(paths['two_step'])
valid = dict(prev_action=[-1, 1], prev_reward=[0.0, 1.0], state=[0, 2],
             episode_step=[0, 19])
run(two, 'valid', dict(valid))
for name, key, value in [
    ('prev_action_5', 'prev_action', [5, 0]),
    ('prev_action_-7', 'prev_action', [-7, 0]),
    ('prev_action_num_actions', 'prev_action', [0, 2]),
    ('prev_reward_nan', 'prev_reward', [0.0, float('nan')]),
    ('prev_reward_inf', 'prev_reward', [float('inf'), 0.0]),
    ('prev_reward_-inf', 'prev_reward', [0.0, float('-inf')]),
    ('episode_step_-5', 'episode_step', [-5, 0]),
    ('episode_step_100000', 'episode_step', [0, 100000]),
    ('state_3', 'state', [3, 0]),
    ('state_-1', 'state', [0, -1])]:
  run(two, name, dict(valid, **{key: value}))
nan_h = np.zeros([2, 48], np.float32)
nan_h[1, 7] = np.nan
run(two, 'lstm_h_nan', dict(valid, lstm_h=nan_h))
inf_c = np.zeros([2, 48], np.float32)
inf_c[0, 0] = np.inf
run(two, 'lstm_c_inf', dict(valid, lstm_c=inf_c))

# Shapes (issue 26, item 5): batch 1 inputs against batch 2 states, one
# state at each batch size, batch 3 against 2, a state of the wrong width.
one = dict(prev_action=[1], prev_reward=[0.0], state=[0], episode_step=[3])
run(two, 'batch_1_inputs_batch_2_state', dict(one))
run(two, 'lstm_h_1_lstm_c_2', dict(valid, lstm_h=np.zeros([1, 48], np.float32)))
run(two, 'batch_3_reward', dict(valid, prev_reward=[0.0, 1.0, 0.0]))
run(two, 'state_width_47', dict(valid, lstm_c=np.zeros([2, 47], np.float32)))
run(two, 'batch_1_valid', dict(one), batch=1)
run(two, 'prev_action_scalar', dict(valid, prev_action=5))
run(two, 'two_failures', dict(valid, prev_action=[5, 0],
                              prev_reward=[float('nan'), 0.0]))

flt = tf.saved_model.load(paths['float'])
fvalid = dict(prev_action=[-1, 2], prev_reward=[0.0, -3.5],
              x=[[-1.0, 0.0], [1.0, 5.0]], y=[[1e6, -1e6, 0.0], [0.0] * 3])
run(flt, 'float_valid', dict(fvalid))
run(flt, 'x_above', dict(fvalid, x=[[0.0, 5.5], [0.0, 0.0]]))
run(flt, 'x_below', dict(fvalid, x=[[-1.5, 0.0], [0.0, 0.0]]))
run(flt, 'x_width_3', dict(fvalid, x=[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
run(flt, 'x_nan', dict(fvalid, x=[[float('nan'), 0.0], [0.0, 0.0]]))
run(flt, 'y_inf', dict(fvalid, y=[[0.0, float('inf'), 0.0], [0.0] * 3]))

broken = tf.saved_model.load(paths['nan_weights'])
run(broken, 'nan_weights', dict(valid))
result['imported'] = sorted(m for m in sys.modules
                            if m.split('.')[0] in ('meta_rl', 'environments'))
json.dump(result, open(out, 'w'))
'''


@pytest.fixture(scope='module')
def client_results(good_version, tmp_path_factory):
  tmp = tmp_path_factory.mktemp('client')
  float_agent = make_agent(FLOAT_SPEC, 3, AgentConfig(seed=1))
  float_path = export.export_agent(float_agent, FLOAT_SPEC,
                                   str(tmp / 'float'), {})
  broken, spec = _two_step_agent()
  for v in broken.variables:
    v.assign(tf.fill(v.shape, np.nan))
  broken_path = export.export_agent(broken, spec, str(tmp / 'broken'), {})
  script = tmp / 'client.py'
  script.write_text(PLAIN_TF_CLIENT)
  out = tmp / 'out.json'
  paths = {'two_step': good_version, 'float': float_path,
           'nan_weights': broken_path}
  # From an empty directory with no PYTHONPATH: the project is not importable.
  subprocess.run([sys.executable, str(script), json.dumps(paths), str(out)],
                 check=True, cwd=tmp, env=dict(ENV, PYTHONPATH=''),
                 timeout=300)
  return json.loads(out.read_text())


def test_valid_inputs_are_answered_with_valid_actions(client_results):
  r = client_results
  assert r['imported'] == []
  for name, num_actions in (('valid', 2), ('float_valid', 3),
                            ('batch_1_valid', 2)):
    assert 'ok' in r[name], r[name]
    for key in ('action', 'greedy_action'):
      assert all(0 <= a < num_actions for a in r[name]['ok'][key])


@pytest.mark.parametrize('case,expected', [
    ('prev_action_5', r'prev_action must be -1 \(first step\) or an action '
                      r'in \[0, 2\); got\] \[prev_action:\] \[5 0\]'),
    ('prev_action_-7', r'prev_action must be .*\[-7 0\]'),
    ('prev_action_num_actions', r'prev_action must be .*\[0 2\]'),
    ('prev_reward_nan', r'prev_reward must be finite; got\].*prev_reward:\] \[0 nan\]'),
    ('prev_reward_inf', r'prev_reward must be finite; got\].*prev_reward:\] \[inf 0\]'),
    ('prev_reward_-inf', r'prev_reward must be finite'),
    ('episode_step_-5', r'observation episode_step must be in \[0, 19\]; '
                        r'got\].*episode_step:\] \[-5 0\]'),
    ('episode_step_100000', r'observation episode_step must be in \[0, 19\]'
                            r'; got\].*episode_step:\] \[0 100000\]'),
    ('state_3', r'observation state must be in \[0, 2\]; got\].*state:\] \[3 0\]'),
    ('state_-1', r'observation state must be in \[0, 2\]'),
    ('lstm_h_nan', r'state lstm_h must be finite'),
    ('lstm_c_inf', r'state lstm_c must be finite'),
    ('x_above', r'observation x must be in the \[minimum, maximum\] of its '
                r'spec'),
    ('x_below', r'observation x must be in'),
    ('x_nan', r'observation x must be finite'),
    ('y_inf', r'observation y must be finite'),
    ('nan_weights', r'non-finite logits or value'),
    ('batch_1_inputs_batch_2_state', r'every input must have the batch size '
                                     r'B of prev_action.*prev_action:\] \[1\].*'
                                     r'lstm_c:\] \[2 48\]'),
    ('lstm_h_1_lstm_c_2', r'every input must have the batch size .*'
                          r'prev_action:\] \[2\].*lstm_h:\] \[1 48\]'),
    ('batch_3_reward', r'every input must .*prev_reward:\] \[3\]'),
    ('prev_action_scalar', r'every input must .*expected prev_action \[B\], '
                           r'.*prev_action:\] \[\]'),
    ('two_failures', r'prev_action must be .*; prev_reward must be finite; '
                     r'got\] \[prev_action:\] \[5 0\] \[prev_reward:\] '
                     r'\[nan 0\]'),
    ('x_width_3', r'expected prev_action \[B\], lstm_c \[B, \d+\], '
                  r'lstm_h \[B, \d+\], prev_reward \[B\], x \[B, 2\], '
                  r'y \[B, 3\].*x:\] \[2 3\]'),
    ('state_width_47', r'each state the shape \[B, size\] \(lstm_c 48, '
                       r'lstm_h 48\).*lstm_c:\] \[2 47\]'),
])
def test_malformed_inputs_are_refused(client_results, case, expected):
  r = client_results[case]
  assert 'error' in r, f'{case} was answered: {r}'
  import re  # pylint: disable=g-import-not-at-top
  assert re.search(expected, r['error']), r['error']


# --- what the checks cost ---------------------------------------------------


def measure_check_cost(steps=500, rounds=20, batch_sizes=(1, 16)):
  """Seconds per call of the loaded `step` signature with and without the
  checks (two exports of the same Exp 1 agent), eagerly as a plain-TF
  client calls it: `rounds` rounds of `steps` calls, the two alternating (so
  that load from other processes hits both alike), the fastest round of
  each. Returns {batch: (with, without)}."""
  import tempfile  # pylint: disable=g-import-not-at-top
  core = environments.make_core('independent')
  spec = core.observation_spec()
  agent = make_agent(spec, 2, AgentConfig(seed=0))
  base = tempfile.mkdtemp()
  paths = {}
  for checked in (True, False):
    export._CHECK_INPUTS = checked  # pylint: disable=protected-access
    try:
      paths[checked] = export.export_agent(agent, spec,
                                           os.path.join(base, str(checked)), {})
    finally:
      export._CHECK_INPUTS = True  # pylint: disable=protected-access
  models = {k: tf.saved_model.load(p) for k, p in paths.items()}
  results = {}
  for b in batch_sizes:
    calls = {}
    for checked, m in models.items():
      step = m.signatures['step']
      state = m.signatures['initial_state'](batch_size=tf.constant(b))
      inputs = dict(prev_action=tf.fill([b], 1), prev_reward=tf.ones([b]),
                    episode_step=tf.fill([b], 7), **state)
      for _ in range(50):
        step(**inputs)
      calls[checked] = (step, inputs)
    best = {True: np.inf, False: np.inf}
    for _ in range(rounds):
      for checked, (step, inputs) in calls.items():
        t0 = time.perf_counter()
        for _ in range(steps):
          step(**inputs)
        best[checked] = min(best[checked],
                            (time.perf_counter() - t0) / steps)
    results[b] = (best[True], best[False])
  shutil.rmtree(base)
  return results


# --- atomic recordings and figures (issue 26, item 2) ------------------------


def test_recording_is_whole_or_absent(tmp_path, monkeypatch):
  from meta_rl import evaluation  # pylint: disable=g-import-not-at-top
  episodes = {'actions': np.zeros((3, 4), np.int32),
              'rewards': np.ones((3, 4), np.float32),
              'states': {'lstm_h': np.ones((3, 4, 2), np.float32)}}
  path = str(tmp_path / 'rec.npz')
  evaluation.write_recording(path, 'easy', episodes, 2)
  with np.load(path) as rec:
    assert rec['actions'].shape == (2, 4) and rec['state_lstm_h'].shape == (
        3, 4, 2) and str(rec['task']) == 'easy'
  # A failure (or a kill's KeyboardInterrupt) while compressing: the previous
  # file stays as it was and no temporary file is left.
  before = open(path, 'rb').read()

  def broken(f, **arrays):
    f.write(b'PK\x03\x04 half a zip')
    raise KeyboardInterrupt
  monkeypatch.setattr(np, 'savez_compressed', broken)
  with pytest.raises(KeyboardInterrupt):
    evaluation.write_recording(path, 'easy', episodes, 2)
  assert open(path, 'rb').read() == before
  assert os.listdir(tmp_path) == ['rec.npz']
  with pytest.raises(KeyboardInterrupt):
    evaluation.write_recording(str(tmp_path / 'new.npz'), 'easy', episodes, 2)
  assert os.listdir(tmp_path) == ['rec.npz']


def test_figures_are_whole_or_absent(tmp_path):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  from meta_rl import files  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots()
  ax.plot([0, 1], [1, 0])
  path = str(tmp_path / 'fig.png')
  files.save_figure(fig, path, dpi=50)
  assert open(path, 'rb').read(8) == b'\x89PNG\r\n\x1a\n'
  ax.set_title(r'$\frac{$')  # bad mathtext: an error while drawing
  before = open(path, 'rb').read()
  with pytest.raises(Exception):
    files.save_figure(fig, path, dpi=50)
  plt.close(fig)
  assert open(path, 'rb').read() == before
  assert os.listdir(tmp_path) == ['fig.png']


def test_every_figure_is_saved_atomically():
  """No module writes a figure straight to its final path."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  offenders = []
  for folder in ('launch', 'meta_rl', 'environments'):
    for name in os.listdir(os.path.join(root, folder)):
      if name.endswith('.py'):
        text = open(os.path.join(root, folder, name)).read()
        if '.savefig(' in text and name != 'files.py':
          offenders.append(f'{folder}/{name}')
        if ('savez_compressed(' in text or 'np.savez(' in text) and (
            'atomic_file' not in text):
          offenders.append(f'{folder}/{name} (savez)')
  assert not offenders


if __name__ == '__main__':
  for batch, (with_, without) in measure_check_cost().items():
    print(f'batch {batch}: {with_ * 1e6:.0f} us/step with checks, '
          f'{without * 1e6:.0f} us/step without: '
          f'+{(with_ - without) * 1e6:.0f} us '
          f'({(with_ / without - 1) * 100:+.1f}%)')
