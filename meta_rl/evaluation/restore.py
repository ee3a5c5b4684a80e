"""Agents rebuilt with this version's code, from a run's training checkpoint
(`checkpoint_agent`, as a policy `checkpoint_policy`) or from an export's
weights (`saved_model_agent`).
"""


import tensorflow as tf

from environments import core as core_lib
from meta_rl import agent as agent_lib
from meta_rl import export as export_lib
from meta_rl import spec as spec_lib
from meta_rl.evaluation.policies import AgentPolicy


def checkpoint_agent(run_dir: str, checkpoint: str,
                     core: core_lib.BatchedCore):
  """The agent of one of a run's training checkpoints (e.g. one kept with
  `keep_every`, see `meta_rl.run.checkpoints.kept_checkpoints`): the network is rebuilt from
  RUN_DIR/config.json for `core`'s observations and its weights restored
  from the checkpoint prefix `checkpoint`.

  Raises ValueError if the checkpoint does not hold this agent's weights.
  """
  config = spec_lib.RunSpec.load(run_dir).agent
  net = agent_lib.make_agent(core.observation_spec(), core.num_actions, config)
  try:
    tf.train.Checkpoint(agent=net).restore(
        checkpoint).expect_partial().assert_existing_objects_matched()
  except (AssertionError, ValueError, tf.errors.NotFoundError) as e:
    raise ValueError(f'checkpoint {checkpoint} does not fit the agent of '
                     f'{run_dir}: {str(e).splitlines()[0]}') from e
  return net


def saved_model_agent(path: str, observation_spec, num_actions: int):
  """An exported agent rebuilt with this version's code: the network of the
  SavedModel's agent config (`RunSpec.from_metadata`) for these observations and
  actions, with the SavedModel's weights copied in (e.g. to fine-tune it, or
  to check that the current agent code computes what the export did).

  Raises ValueError if the SavedModel describes no run or its weights do
  not fit the rebuilt network (compared in tracking order, by shape).
  """
  path = export_lib.latest_version_dir(path)
  try:
    config = spec_lib.RunSpec.from_metadata(
        export_lib.read_metadata(path)).agent
  except ValueError as e:
    raise ValueError(f'{path}: {str(e).splitlines()[0]}') from e
  net = agent_lib.make_agent(observation_spec, num_actions, config)
  saved = tf.saved_model.load(path).variables
  if [tuple(v.shape) for v in saved] != [tuple(v.shape) for v in net.variables]:
    raise ValueError(f'the weights of {path} do not fit a {config.core} agent '
                     'of its agent config')
  for target, value in zip(net.variables, saved):
    target.assign(value)
  return net


def checkpoint_policy(run_dir: str, checkpoint: str, core: core_lib.BatchedCore,
                      greedy: bool = False) -> AgentPolicy:
  """`checkpoint_agent` as a frozen policy."""
  return AgentPolicy(checkpoint_agent(run_dir, checkpoint, core), greedy)
