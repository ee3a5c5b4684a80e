"""SavedModel contract: signatures, plain-TF loading in another process,
saved_model_cli, metadata, versions, wrong-task detection."""

import json
import os
import subprocess
import sys

from dm_env import specs
import numpy as np
import pytest
import tensorflow as tf

import environments
from meta_rl import evaluation, export
from meta_rl.agent import AgentConfig, make_agent

BIN = os.path.dirname(sys.executable)
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')

PLAIN_TF_CLIENT = r'''
import json, sys
import numpy as np
import tensorflow as tf
path, out = sys.argv[1], sys.argv[2]
model = tf.saved_model.load(path)
state = model.signatures['initial_state'](batch_size=tf.constant(3))
step = model.signatures['step']
inputs = dict(prev_action=tf.constant([-1, 0, 1]),
              prev_reward=tf.constant([0.0, 1.0, 0.0]),
              episode_step=tf.constant([0, 5, 99]), **state)
result = {}
for t in range(2):
  o = step(**inputs)
  inputs.update({k: o[k] for k in state})
  result[t] = {k: v.numpy().tolist() for k, v in o.items()}
result['serving_default_same'] = bool(np.allclose(
    model.signatures['serving_default'](**dict(inputs))['logits'].numpy(),
    step(**inputs)['logits'].numpy()))
result['imported'] = sorted(m for m in sys.modules
                            if m.split('.')[0] in ('meta_rl', 'environments'))
json.dump(result, open(out, 'w'))
'''


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
  base = str(tmp_path_factory.mktemp('sm') / 'saved_model')
  core = environments.make_core('independent')
  agent = make_agent(core.observation_spec(), 2, AgentConfig(seed=5))
  path = export.export_agent(agent, core.observation_spec(), base,
                             {'task': 'independent',
                              'task_kwargs': {'num_trials': 100}})
  return base, path, agent


def test_versions_and_metadata(exported):
  base, path, agent = exported
  assert path == os.path.join(base, '1')
  meta = export.read_metadata(base)
  assert meta['task'] == 'independent'
  assert meta['num_actions'] == 2
  assert meta['state_sizes'] == {'lstm_h': 48, 'lstm_c': 48}
  assert meta['observation_spec']['episode_step']['dtype'] == 'int32'
  assert export.next_version(base) == 2
  core = environments.make_core('independent')
  second = export.export_agent(agent, core.observation_spec(), base, {})
  assert second == os.path.join(base, '2')
  assert export.latest_version_dir(base) == second


def test_plain_tf_client_in_separate_process(exported, tmp_path):
  base, path, agent = exported
  script = tmp_path / 'client.py'
  script.write_text(PLAIN_TF_CLIENT)
  out = tmp_path / 'out.json'
  # Run from an empty directory so the project is not importable by accident.
  subprocess.run([sys.executable, str(script), path, str(out)], check=True,
                 cwd=tmp_path, env=dict(ENV, PYTHONPATH=''))
  result = json.loads(out.read_text())
  assert result['imported'] == []
  assert result['serving_default_same']
  o = result['0']
  assert set(o) == {'action', 'greedy_action', 'logits', 'value', 'lstm_h',
                    'lstm_c'}
  assert np.array(o['logits']).shape == (3, 2)
  np.testing.assert_array_equal(o['greedy_action'],
                                np.argmax(o['logits'], axis=-1))
  assert np.array(o['lstm_h']).shape == (3, 48)
  assert set(o['action']) <= {0, 1}
  # The exported step computes what the in-memory agent computes.
  state = agent.initial_state(3)
  inputs = {'prev_action': tf.constant([-1, 0, 1]),
            'prev_reward': tf.constant([0.0, 1.0, 0.0]),
            'episode_step': tf.constant([0, 5, 99])}
  expected, state = agent.step(inputs, state)
  np.testing.assert_allclose(o['logits'], expected.logits, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(o['value'], expected.value, rtol=1e-5, atol=1e-6)
  expected, _ = agent.step(inputs, state)  # the state carries over
  np.testing.assert_allclose(result['1']['logits'], expected.logits, rtol=1e-5,
                             atol=1e-6)


def test_saved_model_cli_show_and_run(exported, tmp_path):
  _, path, _ = exported
  show = subprocess.run([os.path.join(BIN, 'saved_model_cli'), 'show', '--all',
                         '--dir', path], capture_output=True, text=True,
                        check=True, env=ENV).stdout
  for sig in ("signature_def['initial_state']", "signature_def['step']",
              "signature_def['serving_default']"):
    assert sig in show
  npz = tmp_path / 'in.npz'
  np.savez(npz, prev_action=np.array([-1, 1], np.int32),
           prev_reward=np.array([0, 1], np.float32),
           episode_step=np.array([0, 1], np.int32),
           lstm_h=np.zeros((2, 48), np.float32),
           lstm_c=np.zeros((2, 48), np.float32))
  inputs = ';'.join(f'{k}={npz}[{k}]' for k in
                    ('prev_action', 'prev_reward', 'episode_step', 'lstm_h',
                     'lstm_c'))
  outdir = tmp_path / 'out'
  # The C++ loader (as in TF Serving) must find every variable.
  subprocess.run([os.path.join(BIN, 'saved_model_cli'), 'run', '--dir', path,
                  '--tag_set', 'serve', '--signature_def', 'step', '--inputs',
                  inputs, '--outdir', str(outdir)], check=True, env=ENV,
                 capture_output=True)
  logits = np.load(outdir / 'logits.npy')
  assert logits.shape == (2, 2) and np.isfinite(logits).all()
  assert set(np.load(outdir / 'action.npy').tolist()) <= {0, 1}


def test_signature_mismatch_is_detected(tmp_path):
  core = environments.make_core('independent')
  # An agent of another task: it needs a 'state' observation.
  other_spec = {'state': specs.DiscreteArray(3, name='state'),
                'episode_step': core.observation_spec()['episode_step']}
  path = export.export_agent(make_agent(other_spec, 2), other_spec,
                             str(tmp_path / 'a'), {})
  with pytest.raises(evaluation.SignatureMismatchError, match="'state'"):
    evaluation.SavedModelPolicy(path).check_fits_core(core)
  three = export.export_agent(make_agent(core.observation_spec(), 3),
                              core.observation_spec(), str(tmp_path / 'b'), {})
  with pytest.raises(evaluation.SignatureMismatchError, match='3 actions'):
    evaluation.SavedModelPolicy(three).check_fits_core(core)


def test_feedforward_agent_fits_the_same_contract(tmp_path):
  """A core without state: the signatures have no state tensors, and the
  model loads in TF's C++ loader and evaluates like any other agent."""
  core = environments.make_core('independent', num_trials=10)
  agent = make_agent(core.observation_spec(), 2,
                     AgentConfig(core='feedforward', num_units=8))
  path = export.export_agent(agent, core.observation_spec(),
                             str(tmp_path / 'ff'), {'task': 'independent'})
  policy = evaluation.SavedModelPolicy(path)
  assert policy.state_names == []
  assert set(policy.input_specs) == {'prev_action', 'prev_reward',
                                     'episode_step'}
  episodes = evaluation.play_episodes(core, policy, 20, seed=1)
  assert episodes['valid'].all() and 'states' not in episodes
  npz = tmp_path / 'in.npz'
  np.savez(npz, prev_action=np.array([-1, 1], np.int32),
           prev_reward=np.array([0, 1], np.float32),
           episode_step=np.array([0, 1], np.int32))
  inputs = ';'.join(f'{k}={npz}[{k}]' for k in
                    ('prev_action', 'prev_reward', 'episode_step'))
  subprocess.run([os.path.join(BIN, 'saved_model_cli'), 'run', '--dir', path,
                  '--tag_set', 'serve', '--signature_def', 'step', '--inputs',
                  inputs, '--outdir', str(tmp_path / 'out')], check=True,
                 env=ENV, capture_output=True)
  logits = np.load(tmp_path / 'out' / 'logits.npy')
  expected, _ = agent.step({'prev_action': tf.constant([-1, 1]),
                            'prev_reward': tf.constant([0.0, 1.0]),
                            'episode_step': tf.constant([0, 1])}, {})
  np.testing.assert_allclose(logits, expected.logits, rtol=1e-5, atol=1e-6)
