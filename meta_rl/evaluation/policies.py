"""Evaluation policies: what plays the test episodes.

Policies:
  `SavedModelPolicy`  an exported agent, loaded with plain `tf.saved_model.load`
                      (no code of this project runs inside the model);
  `AgentPolicy`       an in-memory `MetaRLAgent` (during training, in tests);
  baselines           NumPy policies of `meta_rl.baselines`.
All follow one protocol: `initial_state(batch_size)` and
`step(inputs, state, rng) -> (action int32 [B], state)` on NumPy arrays, where
`inputs` holds `prev_action` (-1 on the first step), `prev_reward` (0 on the
first step) and the observation keys. The two TF policies (`TFPolicy`) also
offer `tf_initial_state` and `tf_step(inputs, state, key)` for graph code.
`SavedModelPolicy.check_fits` raises `SignatureMismatchError` for an export
that does not fit a task.
"""

from typing import Any, Dict, List

import numpy as np
import tensorflow as tf

from environments import core as core_lib
from meta_rl import export as export_lib
from meta_rl.agent import sample_action


class SignatureMismatchError(ValueError):
  """A SavedModel's signature does not fit the task."""


def _key_from(rng: np.random.Generator) -> tf.Tensor:
  return tf.constant(rng.integers(0, 2**31 - 1, size=2), tf.int32)


class TFPolicy:
  """Base of policies computed by TF: subclasses define `_network(inputs,
  state) -> (logits, value, next state)` and `state_names`; actions are
  drawn by `meta_rl.agent.sample_action` (stateless, keyed) or taken
  greedily."""

  greedy: bool = False
  state_names: List[str] = []

  def _network(self, inputs, state):
    raise NotImplementedError

  def tf_initial_state(self, batch_size) -> Dict[str, tf.Tensor]:
    raise NotImplementedError

  def tf_step(self, inputs, state, key):
    """Graph-side step: (action int32 [B], next state) with a [2] int32 key."""
    action, _, state = self.tf_step_with_value(inputs, state, key)
    return action, state

  def tf_step_with_value(self, inputs, state, key):
    """`tf_step` that also returns the value estimate float32 [B]."""
    logits, value, state = self._network(inputs, state)
    return sample_action(logits, key, self.greedy), value, state

  def initial_state(self, batch_size: int) -> Dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in self.tf_initial_state(batch_size).items()}

  def step(self, inputs, state, rng):
    action, state = self.tf_step(inputs, state, _key_from(rng))
    return action.numpy(), {k: v.numpy() for k, v in state.items()}


class _SpecView:
  """The fields of a spec as `export.spec_to_json` wrote them."""

  def __init__(self, d):
    if 'num_values' in d:
      d = dict(d, minimum=0, maximum=d['num_values'] - 1)
    self.minimum, self.maximum = d.get('minimum'), d.get('maximum')


def _spec_range(spec):
  """(min, max) over a bounded spec's elements, or None if unbounded."""
  if getattr(spec, 'minimum', None) is None:
    return None
  return (float(np.min(spec.minimum)), float(np.max(spec.maximum)))


class SavedModelPolicy(TFPolicy):
  """The exported agent as an evaluation policy (weights frozen)."""

  def __init__(self, path: str, greedy: bool = False):
    self.path = export_lib.latest_version_dir(path)
    self._model = tf.saved_model.load(self.path)
    sigs = self._model.signatures
    for name in ('step', 'initial_state'):
      if name not in sigs:
        raise SignatureMismatchError(
            f'{self.path} has no {name!r} signature; not a meta_rl agent')
    self._step = sigs['step']
    self._initial_state = sigs['initial_state']
    self.input_specs = dict(self._step.structured_input_signature[1])
    self.state_names = sorted(self._initial_state.structured_outputs)
    self.num_actions = int(self._step.structured_outputs['logits'].shape[-1])
    self.metadata = export_lib.read_metadata(self.path)
    self.greedy = greedy

  def check_metadata(self) -> None:
    """Raises ValueError unless the fields of the metadata that evaluation
    reads have the types the exporter writes."""
    meta = self.metadata
    where = f'{self.path}/assets.extra/meta_rl.json'
    if not isinstance(meta, dict):
      raise ValueError(f'cannot load SavedModel: {where} is not a JSON object')
    types = {'task': (str,), 'task_kwargs': (dict,), 'action_repeat': (int,),
             'env_steps': (int, float)}
    for key, allowed in types.items():
      value = meta.get(key)
      if value is not None and (not isinstance(value, allowed)
                                or isinstance(value, bool)):
        raise ValueError(f'cannot load SavedModel: {where} has a bad {key!r} '
                         f'({value!r})')

  def check_fits(self, observation_spec: Dict[str, Any], num_actions: int,
                 task: str) -> None:
    """Raises SignatureMismatchError unless the signature fits a task with
    this observation spec and number of actions."""
    expected = {'prev_action', 'prev_reward', *self.state_names}
    for key, spec in observation_spec.items():
      expected.add(key)
      if key not in self.input_specs:
        raise SignatureMismatchError(
            f'SavedModel {self.path} has no input {key!r} for task '
            f'{task} (its inputs: {", ".join(sorted(self.input_specs))})')
      got = self.input_specs[key]
      if got.dtype != tf.as_dtype(spec.dtype) or list(
          got.shape[1:]) != list(spec.shape):
        raise SignatureMismatchError(
            f'SavedModel input {key!r} is {got.dtype.name}{got.shape[1:]}, '
            f'task {task} gives {np.dtype(spec.dtype).name}'
            f'{list(spec.shape)}')
    extra = set(self.input_specs) - expected
    if extra:
      raise SignatureMismatchError(
          f'SavedModel {self.path} needs inputs {sorted(extra)} that task '
          f'{task} does not provide')
    if self.num_actions != num_actions:
      raise SignatureMismatchError(
          f'SavedModel {self.path} has {self.num_actions} actions, task '
          f'{task} has {num_actions}')
    trained = self.metadata.get('observation_spec', {})
    for key, spec in observation_spec.items():
      lo_hi = _spec_range(spec)
      known = trained.get(key)
      if lo_hi is None or not known:
        continue
      model = _spec_range(_SpecView(known))
      if model is not None and (lo_hi[0] < model[0] or lo_hi[1] > model[1]):
        raise SignatureMismatchError(
            f'task {task} gives {key} in [{lo_hi[0]:g}, {lo_hi[1]:g}], outside '
            f'the [{model[0]:g}, {model[1]:g}] the SavedModel {self.path} was '
            'trained on and accepts (e.g. longer episodes: set num_trials to '
            'at most the trained length)')

  def check_fits_core(self, core: core_lib.BatchedCore) -> None:
    self.check_fits(core.observation_spec(), core.num_actions, core.name)

  def tf_initial_state(self, batch_size):
    return dict(self._initial_state(batch_size=tf.constant(batch_size, tf.int32)))

  def _network(self, inputs, state):
    feed = {k: tf.cast(v, self.input_specs[k].dtype)
            for k, v in dict(inputs, **state).items() if k in self.input_specs}
    out = self._step(**feed)
    return out['logits'], out['value'], {k: out[k] for k in self.state_names}


class AgentPolicy(TFPolicy):
  """An in-memory `MetaRLAgent` as an evaluation policy."""

  def __init__(self, agent, greedy: bool = False):
    self.agent = agent
    self.greedy = greedy
    self.state_names = sorted(agent.state_sizes)
    self.num_actions = agent.num_actions

  def tf_initial_state(self, batch_size):
    return self.agent.initial_state(batch_size)

  def _network(self, inputs, state):
    inputs = {k: tf.convert_to_tensor(v) for k, v in inputs.items()}
    out, state = self.agent.step(inputs, state)
    return out.logits, out.value, state
