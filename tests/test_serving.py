"""Serving trained policies: `greedy_action`, TF Serving's warm-up file, the
serving client (launch/serve_client.py) against in-process stand-ins of a
model server (gRPC and REST, no model-server binary here) and the README's
saved_model_cli lines."""

import concurrent.futures
import http.server
import importlib.util
import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading

import grpc
import numpy as np
import pytest
import tensorflow as tf
# The optional tensorflow-serving-api (make installs it; see README).
predict_pb2 = pytest.importorskip('tensorflow_serving.apis.predict_pb2')
prediction_service_pb2_grpc = pytest.importorskip(
    'tensorflow_serving.apis.prediction_service_pb2_grpc')

import launcher
import environments
from meta_rl import evaluation, export
from meta_rl.agent import AgentConfig, make_agent

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
MODEL = 'meta_rl'
TASK = {'task': 'independent', 'task_kwargs': {'num_trials': 10}}

# Reads the warm-up file as TF Serving does, in a process that imports only
# tensorflow and tensorflow_serving, and runs each request through the
# signature it names.
WARMUP_CLIENT = r'''
import json, sys
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2
path, warmup, out = sys.argv[1:]
model = tf.saved_model.load(path)
records = []
for record in tf.data.TFRecordDataset(warmup):
  log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
  request = log.predict_log.request
  inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
  outputs = model.signatures[request.model_spec.signature_name](
      **{k: tf.constant(v) for k, v in inputs.items()})
  records.append({
      'signature': request.model_spec.signature_name,
      'inputs': {k: [v.dtype.name, list(v.shape), v.tolist()]
                 for k, v in inputs.items()},
      'outputs': {k: v.numpy().tolist() for k, v in outputs.items()}})
imported = sorted(m for m in sys.modules
                  if m.split('.')[0] in ('meta_rl', 'environments'))
json.dump({'records': records, 'imported': imported}, open(out, 'w'))
'''

# The README's saved_model_cli lines (DIR: an exported Exp 1 agent, LSTM 48).
CLI_SHOW = 'saved_model_cli show --dir "$DIR" --all'
CLI_RUN = ('Z=$(python -c "print([[0.0] * 48])"); '
           'saved_model_cli run --dir "$DIR" --tag_set serve '
           '--signature_def step --input_exprs '
           '"prev_action=[-1];prev_reward=[0.0];episode_step=[0];'
           'lstm_h=$Z;lstm_c=$Z"')


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
  """An Exp 1-like agent (LSTM 48 units) on 10-trial episodes."""
  base = str(tmp_path_factory.mktemp('serving') / 'saved_model')
  core = environments.make_core('independent', num_trials=10)
  agent = make_agent(core.observation_spec(), 2, AgentConfig(seed=3))
  return base, export.export_agent(agent, core.observation_spec(), base, TASK)


@pytest.fixture(scope='module')
def client():
  """launch/serve_client.py as a module (its flags are not defined)."""
  launch = os.path.join(ROOT, 'launch')
  sys.path.insert(0, launch)
  try:
    spec = importlib.util.spec_from_file_location(
        '_serve_client', os.path.join(launch, 'serve_client.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
  finally:
    sys.path.remove(launch)
  return module


def test_step_returns_greedy_action_beside_the_sample(exported):
  _, path = exported
  model = tf.saved_model.load(path)
  step = model.signatures['step']
  state = model.signatures['initial_state'](batch_size=tf.constant(64))
  inputs = dict(prev_action=tf.fill([64], -1), prev_reward=tf.zeros([64]),
                episode_step=tf.range(64) % 10, **state)
  out = step(**inputs)
  assert set(out) == {'action', 'greedy_action', 'logits', 'value', 'lstm_h',
                      'lstm_c'}
  assert out['greedy_action'].dtype == tf.int32
  np.testing.assert_array_equal(out['greedy_action'],
                                np.argmax(out['logits'], axis=-1))
  assert set(out['action'].numpy()) <= {0, 1}


def test_warmup_requests_run_in_a_plain_tf_process(exported, tmp_path):
  _, path = exported
  warmup = os.path.join(path, 'assets.extra', export.WARMUP_FILE)
  assert os.path.exists(warmup)
  script = tmp_path / 'warmup.py'
  script.write_text(WARMUP_CLIENT)
  out = tmp_path / 'out.json'
  # From an empty directory: the project is not importable by accident.
  subprocess.run([sys.executable, str(script), path, warmup, str(out)],
                 check=True, cwd=tmp_path, env=dict(ENV, PYTHONPATH=''),
                 timeout=120)
  result = json.loads(out.read_text())
  assert result['imported'] == []
  records = result['records']
  assert [r['signature'] for r in records] == ['initial_state', 'step'] * 2
  batches = []
  for r in records:
    if r['signature'] == 'initial_state':
      assert list(r['inputs']) == ['batch_size']
      dtype, shape, b = r['inputs']['batch_size']
      assert dtype == 'int32' and shape == []  # a scalar
      assert np.array(r['outputs']['lstm_h']).shape == (b, 48)
      continue
    inputs = {k: np.array(v[2], v[0]) for k, v in r['inputs'].items()}
    assert {k: v[0] for k, v in r['inputs'].items()} == {
        'prev_action': 'int32', 'prev_reward': 'float32',
        'episode_step': 'int32', 'lstm_h': 'float32', 'lstm_c': 'float32'}
    b = len(inputs['prev_action'])
    batches.append(b)
    assert (inputs['prev_action'] == -1).all()
    assert not inputs['prev_reward'].any() and not inputs['episode_step'].any()
    assert inputs['lstm_h'].shape == (b, 48) and not inputs['lstm_h'].any()
    o = {k: np.array(v) for k, v in r['outputs'].items()}
    assert o['logits'].shape == (b, 2) and o['value'].shape == (b,)
    assert o['action'].shape == o['greedy_action'].shape == (b,)
    assert o['lstm_c'].shape == (b, 48)
    np.testing.assert_array_equal(o['greedy_action'], o['logits'].argmax(-1))
    assert set(o['action'].tolist()) <= {0, 1}
  assert batches == list(export.WARMUP_BATCH_SIZES) == [1, 4]


def test_export_without_serving_api_writes_no_warmup_file(tmp_path,
                                                          monkeypatch, caplog):
  """tensorflow-serving-api is optional: without it the export is complete
  but for the warm-up file, and one log line says why."""
  for name in ['tensorflow_serving', 'tensorflow_serving.apis', *[
      m for m in sys.modules if m.startswith('tensorflow_serving')]]:
    monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
  core = environments.make_core('independent', num_trials=5)
  agent = make_agent(core.observation_spec(), 2, AgentConfig(num_units=4))
  with caplog.at_level(logging.WARNING):
    path = export.export_agent(agent, core.observation_spec(),
                               str(tmp_path / 'sm'), {'task': 'independent'})
  extra = os.listdir(os.path.join(path, 'assets.extra'))
  assert extra == [export.METADATA_FILE]
  lines = [r.getMessage() for r in caplog.records
           if 'warm-up' in r.getMessage()]
  assert len(lines) == 1 and 'tensorflow-serving-api' in lines[0], lines
  policy = evaluation.SavedModelPolicy(path, greedy=True)
  episodes = evaluation.play_episodes(core, policy, 4, seed=0)
  assert episodes['valid'].all()


def test_feedforward_agent_warms_up_step_only(tmp_path):
  """Its initial_state has no outputs, which a model server cannot run."""
  core = environments.make_core('independent', num_trials=5)
  agent = make_agent(core.observation_spec(), 2,
                     AgentConfig(core='feedforward', num_units=4))
  requests = export.warmup_requests(core.observation_spec(), agent.state_sizes)
  assert [r.model_spec.signature_name for r in requests] == ['step', 'step']
  assert set(requests[1].inputs) == {'prev_action', 'prev_reward',
                                     'episode_step'}


# In-process stand-ins of a model server: each runs the requested signature
# of the loaded SavedModel, with inputs of the signature's dtypes as TF
# Serving converts them.


class _Model:

  def __init__(self, path):
    self._model = tf.saved_model.load(path)
    self._lock = threading.Lock()

  def run(self, signature_name, inputs, exact_dtypes=False):
    """numpy inputs -> numpy outputs; ValueError if they do not fit. With
    `exact_dtypes` (gRPC: TensorProtos carry a dtype, which TF Serving does
    not convert) an input of another dtype is an error; JSON numbers (REST)
    are converted to the signature's dtypes, as TF Serving does."""
    fn = self._model.signatures[signature_name or 'serving_default']
    specs = fn.structured_input_signature[1]
    if set(inputs) != set(specs):
      raise ValueError(f'inputs {sorted(inputs)} != {sorted(specs)}')
    if exact_dtypes:
      for k, v in inputs.items():
        if np.asarray(v).dtype != specs[k].dtype.as_numpy_dtype:
          raise ValueError(f'input {k}: dtype {np.asarray(v).dtype}, the '
                           f'signature takes {specs[k].dtype.name}')
    feed = {k: tf.constant(np.asarray(v), specs[k].dtype)
            for k, v in inputs.items()}
    with self._lock:
      return {k: v.numpy() for k, v in fn(**feed).items()}


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):

  def __init__(self, model):
    self._model = model

  def Predict(self, request, context):  # pylint: disable=invalid-name
    if request.model_spec.name != MODEL:
      context.abort(grpc.StatusCode.NOT_FOUND,
                    f'Servable not found for request: Latest('
                    f'{request.model_spec.name})')
    try:
      outputs = self._model.run(request.model_spec.signature_name, {
          k: tf.make_ndarray(v) for k, v in request.inputs.items()},
                                exact_dtypes=True)
    except (ValueError, TypeError, tf.errors.OpError) as e:
      context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
    response = predict_pb2.PredictResponse()
    response.model_spec.name = MODEL
    for k, v in outputs.items():
      response.outputs[k].CopyFrom(tf.make_tensor_proto(v))
    return response


def _rest_handler(model):
  """TF Serving's REST predict API, columnar form: POST
  /v1/models/<name>[/versions/<n>]:predict {"signature_name", "inputs"} ->
  {"outputs": {name: value}} ({"outputs": value} for a single output);
  errors {"error": message}."""

  class Handler(http.server.BaseHTTPRequestHandler):

    def log_message(self, *args):  # pylint: disable=arguments-differ
      pass

    def _reply(self, code, body):
      data = json.dumps(body).encode()
      self.send_response(code)
      self.send_header('Content-Type', 'application/json')
      self.send_header('Content-Length', str(len(data)))
      self.end_headers()
      self.wfile.write(data)

    def do_POST(self):  # pylint: disable=invalid-name
      match = re.fullmatch(r'/v1/models/([^/:]+)(/versions/\d+)?:predict',
                           self.path)
      if not match or match.group(1) != MODEL:
        name = match.group(1) if match else self.path
        return self._reply(404, {'error': 'Servable not found for request: '
                                          f'Latest({name})'})
      body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
      if 'inputs' not in body or 'instances' in body:
        return self._reply(400, {'error': "Missing 'inputs' or 'instances' "
                                          'key'})
      try:
        outputs = model.run(body.get('signature_name', ''), body['inputs'])
      except (ValueError, TypeError, tf.errors.OpError) as e:
        return self._reply(400, {'error': str(e)})
      outputs = {k: v.tolist() for k, v in outputs.items()}
      if len(outputs) == 1:
        return self._reply(200, {'outputs': next(iter(outputs.values()))})
      return self._reply(200, {'outputs': outputs})

  return Handler


@pytest.fixture(scope='module')
def grpc_server(exported):
  server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=2))
  prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
      _PredictionService(_Model(exported[1])), server)
  port = server.add_insecure_port('127.0.0.1:0')
  server.start()
  yield f'127.0.0.1:{port}'
  server.stop(None)


@pytest.fixture(scope='module')
def rest_server(exported):
  server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                           _rest_handler(_Model(exported[1])))
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  yield f'http://127.0.0.1:{server.server_address[1]}'
  server.shutdown()
  server.server_close()


def _local_episodes(path, num_episodes, seed):
  """What the SavedModel loaded here does, greedily, on the same episodes."""
  core, _ = evaluation.test_core('independent', export.read_metadata(path))
  return evaluation.play_dm_env_episodes(
      [environments.CoreEnvironment(core, seed=seed)],
      evaluation.SavedModelPolicy(path, greedy=True), num_episodes)


def test_rest_request_body_is_columnar(client):
  body = json.loads(client.rest_request_body('step', {
      'prev_action': np.array([-1], np.int32),
      'prev_reward': np.array([0.5], np.float32),
      'lstm_h': np.zeros([1, 2], np.float32)}))
  assert body == {'signature_name': 'step',
                  'inputs': {'prev_action': [-1], 'prev_reward': [0.5],
                             'lstm_h': [[0.0, 0.0]]}}
  # Integers stay JSON integers (TF Serving refuses 0.0 for an int32 input);
  # initial_state's batch_size is a scalar, which only the columnar form has.
  raw = client.rest_request_body('initial_state', {'batch_size': np.int32(4)})
  assert json.loads(raw) == {'signature_name': 'initial_state',
                             'inputs': {'batch_size': 4}}
  assert '"batch_size": 4}' in raw


def test_parse_rest_response(client):
  out = client.parse_rest_response(
      '{"outputs": {"action": [1], "logits": [[0.25, -1.0]]}}')
  assert set(out) == {'action', 'logits'}
  np.testing.assert_array_equal(out['logits'], [[0.25, -1.0]])
  # One output: TF Serving leaves out its name.
  out = client.parse_rest_response(b'{"outputs": [[0.0, 1.5]]}', ['lstm_h'])
  np.testing.assert_array_equal(out['lstm_h'], [[0.0, 1.5]])
  with pytest.raises(client.ServingError, match='unnamed'):
    client.parse_rest_response('{"outputs": [1, 2]}')
  with pytest.raises(client.ServingError, match='Servable not found'):
    client.parse_rest_response('{"error": "Servable not found for request"}')
  with pytest.raises(client.ServingError, match='not JSON'):
    client.parse_rest_response('<html>')


def test_parse_grpc_response(client):
  response = predict_pb2.PredictResponse()
  response.outputs['greedy_action'].CopyFrom(
      tf.make_tensor_proto(np.array([1, 0], np.int32)))
  response.outputs['lstm_c'].CopyFrom(tf.make_tensor_proto(
      np.ones([2, 3], np.float32)))
  out = client.parse_grpc_response(response)
  assert out['greedy_action'].dtype == np.int32
  np.testing.assert_array_equal(out['lstm_c'], np.ones([2, 3]))


@pytest.mark.parametrize('transport', ['grpc', 'rest'])
def test_client_plays_as_the_local_model(exported, client, grpc_server,
                                         rest_server, transport):
  """Request construction and reply parsing of both transports: the greedy
  served agent takes the actions of the SavedModel loaded here."""
  base, path = exported
  if transport == 'grpc':
    predict = client.grpc_predictor(grpc_server, MODEL, 10)
  else:
    predict = client.rest_predictor(rest_server, MODEL, 10)
  core, _ = evaluation.test_core('independent', export.read_metadata(base))
  policy = client.ServedPolicy(predict, core.observation_spec(), greedy=True)
  served = evaluation.play_dm_env_episodes(
      [environments.CoreEnvironment(core, seed=7)], policy, 3)
  local = _local_episodes(path, 3, seed=7)
  np.testing.assert_array_equal(served['actions'], local['actions'])
  np.testing.assert_array_equal(served['rewards'], local['rewards'])
  # Sampled actions come from the server and are valid arms.
  policy.greedy = False
  state = policy.initial_state(1)
  action, state = policy.step({'prev_action': [-1], 'prev_reward': [0.0],
                               'episode_step': [0]}, state, None)
  assert action.dtype == np.int32 and set(action) <= {0, 1}
  assert state['lstm_h'].shape == (1, 48)


def test_client_does_not_ask_a_stateless_agent_for_its_state(client):
  """A feedforward agent's initial_state has no outputs (a model server
  cannot run it): with the state names known to be none, only step is
  called."""
  calls = []

  def predict(signature_name, inputs, output_names=()):
    del output_names
    calls.append((signature_name, sorted(inputs)))
    return {'action': np.array([1], np.int32),
            'greedy_action': np.array([0], np.int32)}

  core = environments.make_core('independent', num_trials=5)
  policy = client.ServedPolicy(predict, core.observation_spec(), greedy=True,
                               state_names=[])
  episodes = evaluation.play_dm_env_episodes(
      [environments.CoreEnvironment(core, seed=0)], policy, 1)
  assert (episodes['actions'] == 0).all()
  assert calls == [('step', ['episode_step', 'prev_action', 'prev_reward'])] * 5


@pytest.mark.parametrize('transport', ['grpc', 'rest'])
def test_client_reports_server_errors(client, grpc_server, rest_server,
                                      transport):
  if transport == 'grpc':
    predict = client.grpc_predictor(grpc_server, 'other', 10)
  else:
    predict = client.rest_predictor(rest_server, 'other', 10)
  with pytest.raises(client.ServingError, match=r'Servable not found.*other'):
    predict('initial_state', {'batch_size': np.int32(1)})


def test_launcher_plays_over_rest(exported, rest_server):
  base, path = exported
  proc = launcher.run('serve_client.py', f'--rest={rest_server}',
                      f'--saved_model={base}', '--num_episodes=3', '--seed=5',
                      '--greedy', timeout=180)
  assert proc.returncode == 0, proc.stderr[-3000:]
  lines = proc.stdout.splitlines()
  assert lines[0].startswith('playing 3 episodes of independent')
  local = _local_episodes(path, 3, seed=5)
  for i, line in enumerate(lines[1:4]):
    reward = local['rewards'][i].sum()
    regret = local['metric_regret'][i].sum()
    assert line.startswith(f'episode {i + 1}: reward {reward:.2f}  '
                           f'regret {regret:.2f}'), line
  assert lines[4].startswith('3 episodes: reward ')


def _free_port():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


@pytest.mark.parametrize('args, message', [
    (['--rest=http://127.0.0.1:1', '--grpc=127.0.0.1:1'], 'one of --rest'),
    (['--rest=http://127.0.0.1:1', '--task=bogus'], 'task'),
    (['--rest=http://127.0.0.1:{port}', '--task=independent'], 'cannot reach'),
    (['--grpc=127.0.0.1:{port}', '--task=independent'], 'UNAVAILABLE'),
])
def test_launcher_bad_input_is_one_error_line(args, message):
  port = _free_port()
  proc = launcher.run('serve_client.py', *[a.format(port=port) for a in args],
                      '--timeout=5', timeout=120)
  assert proc.returncode == 2, proc.stderr[-3000:]
  lines = [l for l in proc.stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and lines[0].startswith('error: '), proc.stderr
  assert message in lines[0]


def test_saved_model_cli_lines_of_the_readme(exported):
  _, path = exported
  env = dict(ENV, DIR=path, PATH=BIN + os.pathsep + ENV.get('PATH', ''))
  show = subprocess.run(['bash', '-c', CLI_SHOW], capture_output=True,
                        text=True, env=env, check=True, timeout=120).stdout
  assert "outputs['greedy_action']" in show
  assert "signature_def['initial_state']" in show
  run = subprocess.run(['bash', '-c', CLI_RUN], capture_output=True,
                       text=True, env=env, timeout=120)
  assert run.returncode == 0, run.stderr[-3000:]
  out = run.stdout
  assert 'Result for output key greedy_action:' in out, out
  assert 'Result for output key lstm_h:' in out
