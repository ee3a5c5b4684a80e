"""Replaying a run's updates one at a time from one of its checkpoints.

A diagnostic for training instabilities (README, Exp 6: "Seed 1's collapse,
replayed"). A checkpoint holds the weights, the optimizer's moments and the
environments' state and keys, so `--resume` is bit-identical and so is this
replay: with the run's own settings, update N of the replay is update N of
the run. For each update it reports what the training logs average away: the
gradient norm before clipping, the entropy, the mean reward of the unroll,
and how far each layer's weights moved (largest and RMS change per weight,
in units of the learning rate, i.e. Adam's normalised step).
"""

from typing import Dict, Iterator, Optional

import numpy as np
import tensorflow as tf

from meta_rl import experiment
from meta_rl import spec as spec_lib
from meta_rl import training
from meta_rl.run import checkpoints
from meta_rl.run.errors import RunDirError


def replay_updates(run_dir: str, update: Optional[int], num_updates: int,
                   learning_rate: Optional[float] = None
                   ) -> Iterator[Dict[str, object]]:
  """Yields one record per update replayed from checkpoint `update` (None:
  the newest) of `run_dir`: `update`, `grad_norm` (before clipping),
  `entropy`, `mean_reward`, `loss`, `policy_loss`, `value_loss` and `layers`
  {layer: (largest, RMS) weight change / learning rate}.

  `learning_rate` replaces the run's (constant) learning rate from the
  checkpoint on, to see whether smaller steps change what follows; the
  replay then parts from the run at its first update.

  Raises:
    RunDirError: no run configuration or checkpoint.
    ValueError: `num_updates` < 1, `learning_rate` with a scheduled learning
      rate, or a checkpoint that does not hold this run's trainer.
  """
  if num_updates < 1:
    raise ValueError(f'num_updates must be >= 1, got {num_updates}')
  spec = spec_lib.RunSpec.load(run_dir)
  task, agent_config, a2c, train_config = (spec.task, spec.agent, spec.a2c,
                                           spec.train)
  if learning_rate is not None and a2c.learning_rate_final is not None:
    raise ValueError('learning_rate cannot replace a scheduled learning rate '
                     '(the run set learning_rate_final)')
  prefix = checkpoints.find_checkpoint(run_dir, update)
  core = task.make_core()
  from meta_rl import agent as agent_lib  # pylint: disable=g-import-not-at-top
  net = agent_lib.make_agent(core.observation_spec(), core.num_actions,
                             agent_config)
  trainer = experiment.make_trainer(task, net, a2c, train_config,
                                    first_core=core)
  try:
    trainer.checkpoint.restore(prefix).assert_existing_objects_matched()
  except (AssertionError, ValueError, tf.errors.NotFoundError) as e:
    raise ValueError(f'checkpoint {prefix} does not hold the trainer of '
                     f'{run_dir}: {str(e).splitlines()[0]}') from e
  lr = a2c.learning_rate
  if learning_rate is not None:
    lr = learning_rate
    trainer.optimizer.learning_rate.assign(lr)  # restored with the moments
  variables = net.trainable_variables
  layers = training.layer_names(variables)
  for _ in range(num_updates):
    before = [v.numpy() for v in variables]
    metrics = trainer.train_step()
    moved = {}
    for name, old, v in zip(layers, before, variables):
      step = np.abs(v.numpy() - old) / lr
      largest, squares, count = moved.get(name, (0.0, 0.0, 0))
      moved[name] = (max(largest, float(step.max())),
                     squares + float((step ** 2).sum()), count + step.size)
    yield dict(
        update=trainer.num_updates,
        layers={k: (m, float(np.sqrt(s / n))) for k, (m, s, n) in
                moved.items()},
        **{k: metrics[k] for k in ('grad_norm', 'entropy', 'mean_reward',
                                   'loss', 'policy_loss', 'value_loss')})


__all__ = ['replay_updates', 'RunDirError']
