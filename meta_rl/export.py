"""SavedModel export of a trained agent (the project's serving contract).

Layout: `<base>/<version>/` with integer versions, so `<base>` is a TF Serving
model base path. Signatures (loadable with plain `tf.saved_model.load`, by
`saved_model_cli run` and by TF Serving):

  initial_state(batch_size: int32 [])       -> {<state name>: float32 [B, n]}
  step / serving_default(
      prev_action: int32 [B]  (-1 on the first step of an episode),
      prev_reward: float32 [B] (0 on the first step),
      <observation key>: [B, ...] for every observation key of the task,
      <state name>: float32 [B, n] for every state tensor)
    -> action int32 [B] (sampled from the policy, unseeded),
       greedy_action int32 [B] (argmax of the logits),
       logits float32 [B, A], value float32 [B],
       <state name>: float32 [B, n] (next state)

`assets.extra/meta_rl.json` describes task, observation spec, action count,
state sizes and the configuration the agent was trained with.
`assets.extra/tf_serving_warmup_requests` (written when the optional
`tensorflow-serving-api` is installed) is TF Serving's warm-up file: a
TFRecord of `PredictionLog`s whose `PredictRequest`s call `initial_state` and
the first `step` of an episode at batch sizes `WARMUP_BATCH_SIZES`, so that a
model server runs both signatures once before it reports the model ready.
`predict_request` builds those requests and those of `launch/serve_client.py`.
"""

import json
import os
from typing import Any, Dict, Mapping, Sequence

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from environments import core as core_lib
from meta_rl.agent import MetaRLAgent, sample_action

METADATA_FILE = 'meta_rl.json'
FORMAT_VERSION = 1
WARMUP_FILE = 'tf_serving_warmup_requests'  # the name TF Serving looks for
WARMUP_BATCH_SIZES = (1, 4)


def spec_to_json(spec) -> Dict[str, Any]:
  d = {'name': spec.name, 'shape': list(spec.shape),
       'dtype': np.dtype(spec.dtype).name, 'kind': type(spec).__name__}
  if hasattr(spec, 'num_values'):
    d['num_values'] = int(spec.num_values)
  elif hasattr(spec, 'minimum'):
    d['minimum'] = np.asarray(spec.minimum).tolist()
    d['maximum'] = np.asarray(spec.maximum).tolist()
  return d


def next_version(base_dir: str) -> int:
  """One more than the largest integer version under `base_dir` (1 if none)."""
  versions = [int(d) for d in tf.io.gfile.listdir(base_dir) if d.strip('/').isdigit()] \
      if tf.io.gfile.isdir(base_dir) else []
  return max(versions, default=0) + 1


def latest_version_dir(path: str) -> str:
  """`path` itself if it is a SavedModel, else its highest integer version."""
  if tf.io.gfile.exists(os.path.join(path, 'saved_model.pb')):
    return path
  if not tf.io.gfile.isdir(path):
    raise FileNotFoundError(f'no SavedModel at {path}')
  versions = [int(d.strip('/')) for d in tf.io.gfile.listdir(path)
              if d.strip('/').isdigit()]
  if not versions:
    raise FileNotFoundError(f'no SavedModel or integer version dir in {path}')
  return os.path.join(path, str(max(versions)))


def export_agent(agent: MetaRLAgent, observation_spec, base_dir: str,
                 metadata: Dict[str, Any], version: int = None) -> str:
  """Writes the agent as `<base_dir>/<version>/`; returns that path."""
  version = next_version(base_dir) if version is None else version
  path = os.path.join(base_dir, str(version))
  if tf.io.gfile.exists(path):
    raise FileExistsError(f'{path} exists')
  state_specs = {k: tf.TensorSpec([None, n], tf.float32, name=k)
                 for k, n in agent.state_sizes.items()}
  input_specs = {
      'prev_action': tf.TensorSpec([None], tf.int32, name='prev_action'),
      'prev_reward': tf.TensorSpec([None], tf.float32, name='prev_reward'),
  }
  for key, spec in sorted(observation_spec.items()):
    if key in input_specs or key in state_specs:
      raise ValueError(f'observation key {key!r} clashes with an input name')
    input_specs[key] = core_lib.batched_spec(spec, name=key)
  input_specs.update(state_specs)
  state_names = list(state_specs)

  def step(inputs):
    state = {k: inputs[k] for k in state_names}
    out, next_state = agent.step(inputs, state)
    # Unseeded on purpose: fresh samples per call and per process.
    action = sample_action(out.logits)
    return dict(next_state, action=action,
                greedy_action=sample_action(out.logits, greedy=True),
                logits=out.logits, value=out.value)

  def initial_state(batch_size):
    return agent.initial_state(batch_size)

  archive = keras.export.ExportArchive()
  archive.track(agent)
  # The first endpoint also becomes serving_default.
  archive.add_endpoint('step', step, input_signature=[input_specs])
  archive.add_endpoint(
      'initial_state', initial_state,
      input_signature=[tf.TensorSpec([], tf.int32, name='batch_size')])
  archive.write_out(path, verbose=False)

  meta = dict(metadata)
  meta.update(
      format_version=FORMAT_VERSION,
      version=version,
      num_actions=agent.num_actions,
      observation_spec={k: spec_to_json(s) for k, s in observation_spec.items()},
      state_sizes=agent.state_sizes)
  extra = os.path.join(path, 'assets.extra')
  tf.io.gfile.makedirs(extra)
  with tf.io.gfile.GFile(os.path.join(extra, METADATA_FILE), 'w') as f:
    json.dump(meta, f, indent=2, sort_keys=True, default=str)
  try:
    write_warmup_requests(os.path.join(extra, WARMUP_FILE),
                          warmup_requests(observation_spec, agent.state_sizes))
  except ImportError as e:  # the optional tensorflow-serving-api is missing
    logging.warning('no TF Serving warm-up requests written (%s); pip install '
                    '--no-deps tensorflow-serving-api==2.21.0 to have them', e)
  except Exception as e:  # pylint: disable=broad-except
    # E.g. a tensorflow-serving-api built for another protobuf (VersionError):
    # the warm-up file is optional, the export is not.
    warmup = os.path.join(extra, WARMUP_FILE)
    if tf.io.gfile.exists(warmup):
      tf.io.gfile.remove(warmup)
    logging.warning('no TF Serving warm-up requests written: %s: %s',
                    type(e).__name__, e)
  return path


def predict_request(signature_name: str, inputs: Mapping[str, Any],
                    model_name: str = ''):
  """A TF Serving `PredictRequest` calling `signature_name` with `inputs`
  (name -> array; each becomes a TensorProto of the array's dtype, so give
  the signature's dtypes). Raises ImportError without the optional
  `tensorflow-serving-api`."""
  from tensorflow_serving.apis import predict_pb2  # pylint: disable=g-import-not-at-top
  request = predict_pb2.PredictRequest()
  request.model_spec.signature_name = signature_name
  if model_name:
    request.model_spec.name = model_name
  for name, value in inputs.items():
    request.inputs[name].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
  return request


def first_step_inputs(observation_spec, state_sizes: Mapping[str, int],
                      batch_size: int) -> Dict[str, np.ndarray]:
  """The `step` inputs of an episode's first step: `prev_action` -1,
  `prev_reward` 0, zero observations of the signature's dtypes and shapes
  and the initial (zero) state."""
  inputs = {'prev_action': np.full([batch_size], -1, np.int32),
            'prev_reward': np.zeros([batch_size], np.float32)}
  for key, spec in observation_spec.items():
    dtype = core_lib.batched_spec(spec, name=key).dtype.as_numpy_dtype
    inputs[key] = np.zeros([batch_size, *spec.shape], dtype)
  inputs.update({k: np.zeros([batch_size, n], np.float32)
                 for k, n in state_sizes.items()})
  return inputs


def warmup_requests(observation_spec, state_sizes: Mapping[str, int],
                    batch_sizes: Sequence[int] = WARMUP_BATCH_SIZES) -> list:
  """`PredictRequest`s of `initial_state` and a first `step` per batch size.

  An agent without state (`feedforward`) gets no `initial_state` request:
  that signature has no outputs, which a model server cannot run.
  """
  requests = []
  for b in batch_sizes:
    if state_sizes:
      requests.append(predict_request('initial_state',
                                      {'batch_size': np.int32(b)}))
    requests.append(predict_request(
        'step', first_step_inputs(observation_spec, state_sizes, b)))
  return requests


def write_warmup_requests(path: str, requests) -> None:
  """Writes `PredictRequest`s as TF Serving's warm-up file: a TFRecord of
  `PredictionLog` records."""
  from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=g-import-not-at-top
  with tf.io.TFRecordWriter(path) as writer:
    for request in requests:
      log = prediction_log_pb2.PredictionLog(
          predict_log=prediction_log_pb2.PredictLog(request=request))
      writer.write(log.SerializeToString())


def read_metadata(path: str) -> Dict[str, Any]:
  """The JSON metadata of an exported agent ({} if absent)."""
  f = os.path.join(latest_version_dir(path), 'assets.extra', METADATA_FILE)
  if not tf.io.gfile.exists(f):
    return {}
  with tf.io.gfile.GFile(f) as fh:
    return json.load(fh)
