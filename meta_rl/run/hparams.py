"""A run's configuration in TensorBoard's HParams plugin, written once per
run dir, with the run's training and evaluation metrics declared so that the
HParams dashboard compares runs and sweep trials by their results."""

import os
from typing import Any, Dict, Optional, Sequence

import tensorflow as tf

from meta_rl.run import rundir

HPARAMS_SESSION_TAG = '_hparams_/session_start_info'


def hparams_from_config(config: Dict[str, Any]) -> Dict[str, Any]:
  """A run's configuration (config.json, nested) as scalar HParams: keys
  flattened with dots (`a2c.learning_rate`, `task.kwargs.num_trials`), lists
  joined with commas (`agent.stacked_units`: '256,64'), None left out (an
  unset option), other values as strings."""
  out = {}
  for k, v in rundir.flatten(config).items():
    if v is None or v == {}:
      continue
    if isinstance(v, (list, tuple)):
      v = ','.join(str(x) for x in v)
    elif not isinstance(v, (bool, int, float, str)):
      v = str(v)
    out[k] = v
  return out


def eval_metric_tags(task: str, metric_names=()) -> list:
  """The scalar tags `evaluation.write_tensorboard` writes for a policy on
  `task` under the names training logs (`episode_return`,
  `episode_<metric>`, derived metrics): `eval/<task>/<name>` for each of
  `metric_names`."""
  return [f'eval/{task}/{m}' for m in metric_names]


def write_hparams(writer, config: Dict[str, Any], metrics: Dict[str, str],
                  eval_task: Optional[str] = None,
                  eval_metrics: Sequence[str] = ()) -> None:
  """Writes the run's configuration to TensorBoard's HParams plugin.

  `hparams_from_config(config)` as the session's hparams, and an experiment
  declaration of those hparams and of `metrics` (tag -> description: scalars
  of the run dir's own tb/ run) plus, for `eval_task`, the agent's
  evaluation results (`eval_metric_tags(eval_task, eval_metrics)` in the run
  `eval/agent`, written by launch/evaluate.py), so that the HParams dashboard
  compares runs and sweep trials by training and test results. TensorBoard
  reads the declaration of one run per --logdir: runs of one task or sweep
  share it.
  """
  from tensorboard.plugins.hparams import api as hp  # pylint: disable=g-import-not-at-top
  hparams = hparams_from_config(config)
  declared = [hp.Metric(tag, display_name=tag, description=text)
              for tag, text in metrics.items()]
  if eval_task:
    declared += [hp.Metric(tag, group='eval/agent',
                           display_name=f'{tag} (agent)',
                           description='frozen test episodes (evaluate.py)')
                 for tag in eval_metric_tags(eval_task, eval_metrics)]
  with writer.as_default():
    hp.hparams_config(hparams=[hp.HParam(k) for k in sorted(hparams)],
                      metrics=declared)
    hp.hparams(hparams)
  writer.flush()


def has_hparams(tb_dir: str, first_records: int = 8) -> bool:
  """Whether an event file directly in `tb_dir` holds the run's HParams.
  `run` writes them before any other summary of its event file, so only the
  first records of each file are read (cheap on long runs)."""
  from tensorflow.core.util import event_pb2  # pylint: disable=g-import-not-at-top
  for path in tf.io.gfile.glob(os.path.join(tb_dir, 'events.out.tfevents.*')):
    try:
      for record in tf.data.TFRecordDataset(path).take(first_records):
        event = event_pb2.Event.FromString(record.numpy())
        if any(v.tag == HPARAMS_SESSION_TAG for v in event.summary.value):
          return True
    except tf.errors.DataLossError:  # a file cut by a kill: skip its rest
      continue
  return False


def write_run_hparams(trainer, run_dir: str, writer) -> None:
  """`write_hparams` for a run dir with a config.json, once per run dir."""
  path = os.path.join(run_dir, rundir.CONFIG_FILE)
  if not os.path.exists(path) or has_hparams(os.path.join(run_dir, 'tb')):
    return
  config = rundir.read_run_config(run_dir)
  episode = list(trainer.episode_metric_names)
  metrics = {name: 'per finished training episode' for name in episode}
  metrics.update(entropy='policy entropy (training)',
                 env_steps_per_sec='training speed')
  task = config.get('task')
  task = task.get('name') if isinstance(task, dict) else task
  write_hparams(writer, config, metrics,
                task if isinstance(task, str) else None, episode)
