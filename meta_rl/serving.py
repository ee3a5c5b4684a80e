"""The client side of TF Serving: an agent served by a model server
(`tensorflow_model_server` with an export of `meta_rl.export`) as a policy
of `meta_rl.evaluation`.

A transport is `predict(signature_name, inputs, output_names=()) ->
outputs`: `rest_predictor` (POST `/v1/models/<model>:predict`, the columnar
`{"signature_name", "inputs"}` body) or `grpc_predictor`
(`PredictionService.Predict`; needs the optional tensorflow-serving-api).
`ServedPolicy` asks it for `initial_state` at the start of an episode and
`step` every time step (the SavedModel contract of meta_rl/export.py);
`play` plays episodes of a dm_env face of a task with it. Failures of the
server are `ServingError`.
"""

import json
import urllib.error
import urllib.request

import numpy as np
import tensorflow as tf

from meta_rl import evaluation
from meta_rl import export as export_lib


class ServingError(RuntimeError):
  """The model server could not be reached or refused a request."""


def rest_request_body(signature_name, inputs) -> str:
  """The JSON body of a REST predict request in the columnar form:
  `{"signature_name": ..., "inputs": {name: nested list}}`."""
  return json.dumps({'signature_name': signature_name,
                     'inputs': {k: np.asarray(v).tolist()
                                for k, v in inputs.items()}})


def parse_rest_response(body, output_names=()):
  """The outputs of a REST predict reply to a columnar request, name ->
  array. TF Serving answers `{"outputs": {name: value, ...}}`, or
  `{"outputs": value}` when the signature has one output (then named by
  `output_names`, which must hold exactly one name), or `{"error": message}`
  (raised as ServingError)."""
  try:
    reply = json.loads(body)
  except ValueError as e:
    raise ServingError(f'the reply is not JSON: {e}') from e
  if not isinstance(reply, dict):
    raise ServingError('the reply is not a JSON object')
  if 'error' in reply:
    raise ServingError(f'model server: {reply["error"]}')
  if 'outputs' not in reply:
    raise ServingError(f'no "outputs" in the reply (keys: {sorted(reply)})')
  outputs = reply['outputs']
  if isinstance(outputs, dict) and set(outputs) != {'b64'}:
    return {k: np.asarray(v) for k, v in outputs.items()}
  if len(output_names) != 1:
    raise ServingError('the reply holds one unnamed output; its name is not '
                       'known here')
  return {output_names[0]: np.asarray(outputs)}


def parse_grpc_response(response):
  """The outputs of a gRPC `PredictResponse`, name -> array."""
  return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}


def rest_predictor(address, model_name, timeout):
  """`predict(signature_name, inputs, output_names=()) -> outputs` over
  TF Serving's REST API at `address` (http://host:port)."""
  url = f'{address.rstrip("/")}/v1/models/{model_name}:predict'

  def predict(signature_name, inputs, output_names=()):
    request = urllib.request.Request(
        url, data=rest_request_body(signature_name, inputs).encode(),
        headers={'Content-Type': 'application/json'})
    try:
      with urllib.request.urlopen(request, timeout=timeout) as reply:
        body = reply.read()
    except urllib.error.HTTPError as e:
      try:  # TF Serving's error replies carry {"error": message}
        message = json.loads(e.read())['error']
      except (ValueError, KeyError, TypeError):
        message = e.reason
      raise ServingError(f'{url}: HTTP {e.code}: {message}') from e
    except OSError as e:  # URLError, refused connections, timeouts
      reason = getattr(e, 'reason', e)
      raise ServingError(f'cannot reach the model server at {url}: '
                         f'{reason}') from e
    return parse_rest_response(body, output_names)

  return predict


def grpc_predictor(address, model_name, timeout):
  """`predict(signature_name, inputs, output_names=()) -> outputs` over
  gRPC `PredictionService.Predict` at `address` (host:port). Raises
  ImportError without tensorflow-serving-api."""
  import grpc  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import prediction_service_pb2_grpc  # pylint: disable=g-import-not-at-top
  stub = prediction_service_pb2_grpc.PredictionServiceStub(
      grpc.insecure_channel(address))

  def predict(signature_name, inputs, output_names=()):
    del output_names  # gRPC replies name every output
    request = export_lib.predict_request(signature_name, inputs, model_name)
    try:
      return parse_grpc_response(stub.Predict(request, timeout=timeout))
    except grpc.RpcError as e:
      details = (e.details() or '').splitlines()
      raise ServingError(f'model server at {address}: {e.code().name}: '
                         f'{details[0] if details else ""}') from e

  return predict


class ServedPolicy:
  """The served agent as a policy of `meta_rl.evaluation` (the NumPy
  protocol: `initial_state(batch_size)`, `step(inputs, state, rng)`), one
  predict request per call; the server samples the action."""

  def __init__(self, predict, observation_spec, greedy=False,
               state_names=None):
    """`predict(signature_name, inputs, output_names)`: a transport above;
    `state_names`: the state tensors if known (None: ask `initial_state`;
    empty: an agent without state, `initial_state` is not called)."""
    self._predict = predict
    self._dtypes = {k: np.dtype(s.dtype) for k, s in observation_spec.items()}
    self._dtypes.update(prev_action=np.int32, prev_reward=np.float32)
    self.greedy = greedy
    self.state_names = None if state_names is None else sorted(state_names)

  def initial_state(self, batch_size):
    if self.state_names is not None and not self.state_names:
      return {}  # no state: the signature has no outputs to ask for
    out = self._predict('initial_state', {'batch_size': np.int32(batch_size)},
                        self.state_names or ())
    return {k: np.asarray(v, np.float32) for k, v in out.items()}

  def step(self, inputs, state, rng):
    del rng  # the served `action` is sampled by the server
    feed = {k: np.asarray(inputs[k], dtype) for k, dtype in self._dtypes.items()}
    feed.update({k: np.asarray(v, np.float32) for k, v in state.items()})
    out = self._predict('step', feed)
    name = 'greedy_action' if self.greedy else 'action'
    missing = {name, *state} - set(out)
    if missing:
      raise ServingError(f'the step reply has no output {sorted(missing)} '
                         f'(its outputs: {sorted(out)}); is the model a '
                         'meta_rl agent (with greedy_action, for --greedy)?')
    action = out[name]
    return (np.asarray(action, np.int32).reshape(-1),
            {k: np.asarray(out[k], np.float32) for k in state})


def play(env, policy, num_episodes, report=print):
  """Plays `num_episodes` episodes of `env` one after another; calls
  `report(line)` after each and at the end. Returns the per-episode totals:
  {'reward': [N], <metric>: [N]}."""
  totals = {}
  for i in range(num_episodes):
    episode = evaluation.play_dm_env_episodes([env], policy, 1)
    sums = {'reward': float(episode['rewards'].sum())}
    sums.update({m: float(episode[f'metric_{m}'].sum())
                 for m in evaluation.metric_names(episode)})
    for k, v in sums.items():
      totals.setdefault(k, []).append(v)
    report(f'episode {i + 1}: ' + '  '.join(f'{k} {v:.2f}'
                                            for k, v in sums.items()))
  totals = {k: np.array(v) for k, v in totals.items()}

  def mean_se(x):
    se = x.std(ddof=1) / np.sqrt(len(x)) if len(x) > 1 else float('nan')
    return f'{x.mean():.2f} ± {se:.2f}'

  report(f'{num_episodes} episodes: ' + '  '.join(
      f'{k} {mean_se(v)}' for k, v in totals.items()))
  return totals
