r"""Play episodes of a task against an agent served by TF Serving.

  tensorflow_model_server --port=8500 --rest_api_port=8501 \
      --model_name=meta_rl --model_base_path=$PWD/runs/exp1/saved_model
  python launch/serve_client.py --rest=http://localhost:8501 \
      --saved_model=runs/exp1/saved_model --num_episodes=20
  python launch/serve_client.py --grpc=localhost:8500 --task=independent \
      --greedy

The client plays the task's dm_env face (`environments.CoreEnvironment`, batch
size 1) here and asks the model server for every decision: `initial_state`
at the start of an episode, then `step` each time step with the previous
action and reward, the observation and the state the last reply returned (the
SavedModel contract of meta_rl/export.py). Over REST it POSTs
`/v1/models/<--model_name>:predict` with the columnar `{"signature_name",
"inputs"}` body (the row form cannot carry `initial_state`'s scalar
`batch_size`); over gRPC it calls `PredictionService.Predict` (needs the
optional `tensorflow-serving-api`). `--greedy` takes `greedy_action` instead
of the served `action` sample. Prints each episode's reward and task metrics
(e.g. expected regret), then their means and standard errors.

--saved_model is a local copy of the served model (or its base path): its
metadata gives the task as trained (the default of --task, its arguments
and action repeat) and its state names. A `feedforward` agent has no state and
its `initial_state` has no outputs, which a model server cannot run: give
--saved_model for such an agent, so that the client knows not to ask.
"""

import json
import os
import urllib.error
import urllib.request

# gRPC's C core would log failed connections on stderr; the error line says
# it (set before grpc is first imported).
os.environ.setdefault('GRPC_VERBOSITY', 'NONE')

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags

import common

common.start()  # first: Ctrl-C as one line, TensorFlow imported quietly
# pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np
import tensorflow as tf

import environments
from meta_rl import evaluation
from meta_rl import export as export_lib
# pylint: enable=g-import-not-at-top,wrong-import-position

FLAGS = flags.FLAGS
SERVING_API = 'pip install --no-deps tensorflow-serving-api==2.21.0'


def define_flags(fv):
  """Defines this launcher's flags on `fv`."""
  flags.DEFINE_string('rest', None, 'REST address of the model server, '
                      'e.g. http://localhost:8501.', flag_values=fv)
  flags.DEFINE_string('grpc', None, 'gRPC address of the model server, '
                      'e.g. localhost:8500.', flag_values=fv)
  flags.DEFINE_string('model_name', 'meta_rl', "The server's --model_name.",
                      flag_values=fv)
  flags.DEFINE_string('saved_model', None, 'Local copy of the served '
                      'SavedModel (or its base path): task, task arguments '
                      'and state names from its metadata.', flag_values=fv)
  flags.DEFINE_enum('task', None, list(environments.TASKS),
                    'Task to play (default: the task --saved_model was '
                    'trained on, in its test variant).', flag_values=fv)
  flags.DEFINE_integer('num_trials', None, 'Trials per episode (default: as '
                       'trained, or the task default).', flag_values=fv)
  flags.DEFINE_integer('num_episodes', 10, 'Episodes to play.',
                       flag_values=fv)
  flags.DEFINE_integer('seed', 12345, 'Seed of the episodes.', flag_values=fv)
  flags.DEFINE_boolean('greedy', False, 'Take greedy_action (the argmax) '
                       'instead of the action the server samples.',
                       flag_values=fv)
  flags.DEFINE_float('timeout', 10.0, 'Seconds to wait for each reply.',
                     flag_values=fv)


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


def main(argv):
  common.no_arguments(argv)
  if bool(FLAGS.rest) == bool(FLAGS.grpc):
    common.fail('give the model server as one of --rest=http://HOST:8501 '
                'or --grpc=HOST:8500')
  if FLAGS.rest and not FLAGS.rest.startswith(('http://', 'https://')):
    common.fail(f'--rest must be http://HOST:PORT, got {FLAGS.rest!r}')
  if FLAGS.num_episodes < 1:
    common.fail('--num_episodes must be positive')
  meta = {}
  if FLAGS.saved_model:
    try:
      meta = export_lib.read_metadata(FLAGS.saved_model)
    except (OSError, ValueError) as e:
      common.fail(f'--saved_model: {str(e).splitlines()[0]}')
  task = FLAGS.task or meta.get('task')
  if task is None:
    common.fail('--task is required (or --saved_model with meta_rl metadata)')
  overrides = {} if FLAGS.num_trials is None else {'num_trials':
                                                   FLAGS.num_trials}
  try:
    core, _ = evaluation.test_core(task, meta, **overrides)
  except (ValueError, TypeError) as e:
    common.fail(str(e).splitlines()[0])
  if FLAGS.rest:
    predict = rest_predictor(FLAGS.rest, FLAGS.model_name, FLAGS.timeout)
  else:
    try:
      predict = grpc_predictor(FLAGS.grpc, FLAGS.model_name, FLAGS.timeout)
    except ImportError as e:
      common.fail(f'--grpc needs tensorflow-serving-api ({e}): {SERVING_API}')
  state_sizes = meta.get('state_sizes')
  policy = ServedPolicy(predict, core.observation_spec(), FLAGS.greedy,
                        None if state_sizes is None else list(state_sizes))
  print(f'playing {FLAGS.num_episodes} episodes of {task} against model '
        f'{FLAGS.model_name!r} at {FLAGS.rest or FLAGS.grpc}'
        f'{" (greedy)" if FLAGS.greedy else ""}')
  try:
    play(environments.CoreEnvironment(core, seed=FLAGS.seed), policy,
         FLAGS.num_episodes)
  except ServingError as e:
    common.fail(str(e).splitlines()[0])


if __name__ == '__main__':
  define_flags(FLAGS)
  app.run(main, flags_parser=common.parse_flags)
