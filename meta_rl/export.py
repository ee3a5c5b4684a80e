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

Atomic versions. `export_agent` writes a whole version (SavedModel,
`assets.extra/meta_rl.json`, warm-up file) into a temporary sibling folder
`<base>/.tmp-<version>-<pid>` (not an integer, so TF Serving and the loaders
ignore it) and renames it to `<base>/<version>` in one rename: an integer
version folder only ever appears complete, and a failed export removes its
temporary folder. One left behind by a killed process is ignored (delete it
at leisure). Integer folders written otherwise (by older code, by a partial
copy) are checked: a version is complete if it holds `saved_model.pb` and,
where any version of the base has `assets.extra/meta_rl.json`, that file too.
`latest_version_dir` takes the highest complete version and names the
incomplete ones in a logged warning; `next_version` numbers after every
integer folder, complete or not, so it never collides with one.

Valid `step` inputs (anything else is refused with an `InvalidArgumentError`
naming the input, raised by assertions inside the signature, so plain
TensorFlow, `saved_model_cli` and TF Serving all refuse it):
  prev_action   -1 (first step of an episode) or an action in [0, A).
  prev_reward   finite.
  observations  within their spec: a `BoundedArray` / `DiscreteArray` key
                (e.g. `episode_step` in [0, episode length - 1], two-step's
                `state` in [0, 3)) inside [minimum, maximum]; a float key
                finite; uint8 pixels (any value) and other integer keys are
                not checked.
  state         finite (as returned by `initial_state` or the last `step`).
  shapes        prev_action a vector [B]; every other input with the same
                batch size B (dimension 0: a batch-1 input is not broadcast
                against a batch-2 state); each state [B, its size].
The outputs are checked as well: `logits` and `value` finite (so `action` and
`greedy_action` are always actions in [0, A)), else the step is refused
rather than answered with an invalid action.
"""

import json
import os
from typing import Any, Dict, Mapping, Sequence, Tuple

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from environments import core as core_lib
from meta_rl.agent import MetaRLAgent, sample_action

METADATA_FILE = 'meta_rl.json'
# 2: the run's description is the `run` entry (`meta_rl.spec.RunSpec`, as in
# config.json), no longer agent_config/a2c_config/train_config/curriculum.
FORMAT_VERSION = 2
WARMUP_FILE = 'tf_serving_warmup_requests'  # the name TF Serving looks for
WARMUP_BATCH_SIZES = (1, 4)
TEMP_PREFIX = '.tmp-'  # temporary export folders: `.tmp-<version>-<pid>`
# The input and output checks of the exported `step`. Off only to measure
# what they cost (tests/test_faults_exports.py); never export without them.
_CHECK_INPUTS = True


def spec_to_json(spec) -> Dict[str, Any]:
  d = {'name': spec.name, 'shape': list(spec.shape),
       'dtype': np.dtype(spec.dtype).name, 'kind': type(spec).__name__}
  if hasattr(spec, 'num_values'):
    d['num_values'] = int(spec.num_values)
  elif hasattr(spec, 'minimum'):
    d['minimum'] = np.asarray(spec.minimum).tolist()
    d['maximum'] = np.asarray(spec.maximum).tolist()
  return d


def _integer_dirs(base_dir: str) -> list:
  if not tf.io.gfile.isdir(base_dir):
    return []
  return sorted(int(d.strip('/')) for d in tf.io.gfile.listdir(base_dir)
                if d.strip('/').isdigit())


def _has_metadata(version_dir: str) -> bool:
  return tf.io.gfile.exists(
      os.path.join(version_dir, 'assets.extra', METADATA_FILE))


def _has_graph(version_dir: str) -> bool:
  return any(tf.io.gfile.exists(os.path.join(version_dir, f))
             for f in ('saved_model.pb', 'saved_model.pbtxt'))


def complete_versions(base_dir: str) -> Tuple[list, Dict[int, str]]:
  """(complete integer versions ascending, {incomplete version: why}).

  A version is complete if it holds `saved_model.pb` (written last by the
  SavedModel writer) and, where any version of `base_dir` has
  `assets.extra/meta_rl.json`, that file too (exports of this project write
  it; a SavedModel of another origin may have none anywhere).
  """
  versions = _integer_dirs(base_dir)
  dirs = {v: os.path.join(base_dir, str(v)) for v in versions}
  graph = {v: _has_graph(d) for v, d in dirs.items()}
  meta = {v: _has_metadata(d) for v, d in dirs.items()}
  need_meta = any(meta.values())
  complete, incomplete = [], {}
  for v in versions:
    if not graph[v]:
      incomplete[v] = 'no saved_model.pb'
    elif need_meta and not meta[v]:
      incomplete[v] = f'no assets.extra/{METADATA_FILE}'
    else:
      complete.append(v)
  return complete, incomplete


def _warn_incomplete(base_dir: str, incomplete: Dict[int, str]) -> None:
  if incomplete:
    logging.warning(
        'skipping incomplete SavedModel version(s) under %s (an interrupted '
        'export?): %s', base_dir,
        '; '.join(f'{v} ({why})' for v, why in sorted(incomplete.items())))


def next_version(base_dir: str) -> int:
  """One more than the largest integer version folder under `base_dir` (1 if
  none); incomplete ones count too (so the number is free) and are named in
  a warning."""
  versions = _integer_dirs(base_dir)
  if versions:
    _warn_incomplete(base_dir, complete_versions(base_dir)[1])
  return max(versions, default=0) + 1


def latest_version_dir(path: str) -> str:
  """`path` itself if it is a SavedModel, else its highest complete integer
  version (incomplete ones are skipped and named in a warning)."""
  if _has_graph(path):
    return path
  if not tf.io.gfile.isdir(path):
    raise FileNotFoundError(f'no SavedModel at {path}')
  complete, incomplete = complete_versions(path)
  _warn_incomplete(path, incomplete)
  if not complete:
    if incomplete:
      raise FileNotFoundError(
          f'no complete SavedModel version in {path}; incomplete: ' +
          ', '.join(f'{v} ({why})' for v, why in sorted(incomplete.items())))
    raise FileNotFoundError(f'no SavedModel or integer version dir in {path}')
  return os.path.join(path, str(complete[-1]))


def _bounds(spec):
  """(minimum, maximum) arrays of a bounded spec whose bounds exclude some
  value of its dtype, else None."""
  if not hasattr(spec, 'minimum') or np.dtype(spec.dtype) == np.bool_:
    return None
  lo = np.broadcast_to(np.asarray(spec.minimum), spec.shape)
  hi = np.broadcast_to(np.asarray(spec.maximum), spec.shape)
  dtype = np.dtype(spec.dtype)
  if np.issubdtype(dtype, np.integer):
    info = np.iinfo(dtype)
    if (lo <= info.min).all() and (hi >= info.max).all():
      return None
  elif not (np.isfinite(lo).any() or np.isfinite(hi).any()):
    return None
  return lo, hi


def _range_text(lo, hi) -> str:
  if lo.size and (lo == lo.flat[0]).all() and (hi == hi.flat[0]).all():
    return f'[{lo.flat[0]}, {hi.flat[0]}]'
  return 'the [minimum, maximum] of its spec (per element)'


def _checked_inputs(inputs: Dict[str, tf.Tensor], observation_spec,
                    num_actions: int, state_sizes: Mapping[str, int]
                    ) -> Dict[str, tf.Tensor]:
  """`inputs` after assertions that they are valid (see the module doc).

  Two assertions per call (each assertion op costs a few microseconds of a
  served step): first the shapes, then every value check at once.

  Shapes: the concatenated shapes of all inputs, in a fixed order (prev_action
  first, so that its batch size B is the first number), must equal the
  contract's layout with every batch position equal to B: no broadcasting of
  a batch-1 input against a batch-2 state, each state `[B, size]`, each
  observation `[B, *spec.shape]`. A scalar or extra dimension changes the
  length of the concatenation and is refused too. The message lists the
  expected shapes and each input's shape, so it names the wrong input.

  Values: `_value_check`.
  """
  names = ['prev_action'] + sorted(k for k in inputs if k != 'prev_action')
  expected, is_batch, layout = [], [], []
  for k in names:
    if k in state_sizes:
      rest = [state_sizes[k]]
    elif k in observation_spec:
      rest = list(observation_spec[k].shape)
    else:
      rest = []
    expected += [0] + rest
    is_batch += [True] + [False] * len(rest)
    layout.append(f'{k} [{", ".join(["B"] + [str(n) for n in rest])}]')
  shapes = [tf.shape(inputs[k]) for k in names]
  flat = tf.concat(shapes, 0)
  n = len(expected)
  padded = tf.pad(flat, [[0, n]])[:n]  # the first n numbers (0s if short)
  want = tf.where(tf.constant(is_batch), padded[0], tf.constant(expected))
  shapes_ok = tf.logical_and(tf.equal(tf.size(flat), n),
                             tf.reduce_all(tf.equal(padded, want)))
  data = ['every input must have the batch size B of prev_action (a vector '
          '[B]) and each state the shape [B, size] ('
          + ', '.join(f'{k} {s}' for k, s in sorted(state_sizes.items()))
          + '); expected ' + ', '.join(layout) + '; got shapes']
  for k, s in zip(names, shapes):
    data += [f'{k}:', s]
  shape_check = _assert(shapes_ok, [tf.constant(d) if isinstance(d, str)
                                    else d for d in data])
  # The value checks run after the shape check (ops made under its control
  # dependency); the step's own ops after both (the identities at the end).
  with tf.control_dependencies([shape_check]):
    value_check = _value_check(inputs, observation_spec, num_actions,
                               state_sizes)
  with tf.control_dependencies([value_check]):
    return {k: tf.identity(v) for k, v in inputs.items()}


def _assert(ok, data):
  """An Assert op without `tf.debugging.Assert`'s guard.

  In a graph, `tf.debugging.Assert` wraps the op in a `tf.cond` unless all
  its data are strings or int32 (to spare a GPU the copy of the data to the
  host when the assertion holds); on a CPU that conditional is most of the
  cost (about 6 µs of a served step per assertion), so the step's checks
  call the op directly.
  """
  return tf.raw_ops.Assert(condition=ok, data=data, summarize=8)


def _value_check(inputs: Dict[str, tf.Tensor], observation_spec,
                 num_actions: int, state_sizes: Mapping[str, int]):
  """One Assert op that refuses invalid values: one boolean per check; its
  message joins the messages of the failed checks (a select and a join of
  constant strings, no conditional), then prints the checked inputs."""
  oks, messages, values = [], [], []

  def check(ok, message, key):
    oks.append(tf.reduce_all(ok))
    messages.append(message + '; ')
    values.append(key)

  a = inputs['prev_action']
  check(tf.logical_and(a >= -1, a < num_actions),
        f'prev_action must be -1 (first step) or an action in '
        f'[0, {num_actions})', 'prev_action')
  check(tf.math.is_finite(inputs['prev_reward']),
        'prev_reward must be finite', 'prev_reward')
  for key, spec in sorted(observation_spec.items()):
    x = inputs[key]
    dtype = np.dtype(spec.dtype)
    if np.issubdtype(dtype, np.floating):
      check(tf.math.is_finite(x), f'observation {key} must be finite', key)
    bounds = _bounds(spec)
    if bounds is not None:
      lo, hi = bounds
      lo_t = tf.constant(lo, x.dtype)
      hi_t = tf.constant(hi, x.dtype)
      check(tf.logical_and(x >= lo_t, x <= hi_t),
            f'observation {key} must be in {_range_text(lo, hi)}', key)
  for key in sorted(state_sizes):
    check(tf.math.is_finite(inputs[key]),
          f'state {key} must be finite (as initial_state or the last step '
          'returned it)', key)
  oks = tf.stack(oks)
  failed = tf.strings.reduce_join(
      tf.where(oks, '', tf.constant(messages)))  # '' where a check holds
  data = [failed + 'got']
  for key in dict.fromkeys(values):  # every checked input, once
    data += [tf.constant(f'{key}:'), inputs[key]]
  return _assert(tf.reduce_all(oks), data)


def _checked_outputs(logits: tf.Tensor, value: tf.Tensor):
  ok = tf.logical_and(tf.reduce_all(tf.math.is_finite(logits)),
                      tf.reduce_all(tf.math.is_finite(value)))
  check = _assert(ok, [
      tf.constant('the network computed non-finite logits or value from '
                  'these inputs (inputs too large?); logits:'), logits,
      tf.constant('value:'), value])
  with tf.control_dependencies([check]):
    return tf.identity(logits), tf.identity(value)


def export_agent(agent: MetaRLAgent, observation_spec, base_dir: str,
                 metadata: Dict[str, Any], version: int = None) -> str:
  """Writes the agent as `<base_dir>/<version>/`; returns that path.

  The version is written whole into `<base_dir>/.tmp-<version>-<pid>` and
  renamed into place, so `<base_dir>/<version>` appears complete or not at
  all; on an error the temporary folder is removed and the error raised.
  """
  version = next_version(base_dir) if version is None else version
  path = os.path.join(base_dir, str(version))
  if tf.io.gfile.exists(path):
    raise FileExistsError(f'{path} exists')
  tmp = os.path.join(base_dir, f'{TEMP_PREFIX}{version}-{os.getpid()}')
  if tf.io.gfile.exists(tmp):  # this process's own, from a failed attempt
    tf.io.gfile.rmtree(tmp)
  tf.io.gfile.makedirs(base_dir)
  try:
    _write_version(agent, observation_spec, tmp, metadata, version)
    if tf.io.gfile.exists(path):
      raise FileExistsError(f'{path} exists')
    tf.io.gfile.rename(tmp, path)
  except BaseException:
    if tf.io.gfile.exists(tmp):
      try:
        tf.io.gfile.rmtree(tmp)
      except Exception:  # pylint: disable=broad-except
        logging.warning('could not remove the temporary export %s', tmp)
    raise
  return path


def _write_version(agent: MetaRLAgent, observation_spec, path: str,
                   metadata: Dict[str, Any], version: int) -> None:
  """Writes SavedModel, metadata and warm-up file of a version to `path`."""
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
  checked = _CHECK_INPUTS

  def step(inputs):
    if checked:
      inputs = _checked_inputs(inputs, observation_spec, agent.num_actions,
                               dict(agent.state_sizes))
    state = {k: inputs[k] for k in state_names}
    out, next_state = agent.step(inputs, state)
    logits, value = out.logits, out.value
    if checked:
      logits, value = _checked_outputs(logits, value)
    # Unseeded on purpose: fresh samples per call and per process.
    action = sample_action(logits)
    return dict(next_state, action=action,
                greedy_action=sample_action(logits, greedy=True),
                logits=logits, value=value)

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
  _write_metadata(os.path.join(extra, METADATA_FILE), meta)
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


def _write_metadata(path: str, meta: Dict[str, Any]) -> None:
  with tf.io.gfile.GFile(path, 'w') as f:
    json.dump(meta, f, indent=2, sort_keys=True, default=str)


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
