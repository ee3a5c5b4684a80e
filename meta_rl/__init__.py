"""Deep meta-RL ("Learning to Reinforcement Learn", Wang et al. 2016) in TF2/Keras.

The public API:

  experiment.train(task, agent, a2c, train, run) -> TrainResult
      the entry point: configs in, run dir and SavedModel out;
  TaskConfig, AgentConfig, A2CConfig, TrainConfig, RunConfig
      the configs (frozen dataclasses);
  make_agent, MetaRLAgent, CORES
      the agents of Figure 1 and their cores;
  InGraphTrainer, PythonEnvTrainer
      A2C on batched TF cores (in the graph) or on user dm_env environments;
  a2c_loss
      the loss, a pure function of tensors;
  export_agent
      the SavedModel contract;
  evaluate_core, evaluate_dm_env, Evaluation
      frozen evaluation next to baselines (what launch/evaluate.py runs), on
      a batched task or on any dm_env environment;
  SavedModelPolicy, AgentPolicy, play_episodes, play_dm_env_episodes,
  summarise, format_table, write_tensorboard
      its parts;
  make_baseline
      the paper's comparison policies (`meta_rl.baselines`);
  RunDirError, NonFiniteLossError, SignatureMismatchError
      what the library raises besides ValueError.

Modules: `agent`, `losses`, `training`, `metrics` (episode bookkeeping),
`preflight` (a run's sizes and settings checked before it starts),
`experiment`, `export`, `analysis`; packages: `run` (the run loop around a
trainer, run dirs, checkpoints, progress, held-out evaluation while training:
`meta_rl.run.run(trainer, run_dir)`), `evaluation` (a module per topic:
`policies`, `restore`, `rollout`, `summary`, `evaluate`, `report`),
`baselines`. Tasks live in the `environments` package.
"""

try:
  import tensorflow as _tf  # noqa: F401
except ImportError as e:  # pragma: no cover
  raise ImportError(
      'meta_rl needs TensorFlow 2.21: pip install -e ".[cpu]" (tensorflow-cpu) '
      'or pip install -e ".[tensorflow]"') from e

# pylint: disable=g-import-not-at-top,wrong-import-position
from meta_rl.agent import AgentConfig, CORES, MetaRLAgent, make_agent
from meta_rl.baselines import make_baseline
from meta_rl.evaluation import (AgentPolicy, Evaluation, SavedModelPolicy,
                                SignatureMismatchError, evaluate_core,
                                evaluate_dm_env, format_table,
                                play_dm_env_episodes, play_episodes, summarise,
                                write_tensorboard)
from meta_rl.experiment import RunConfig, TaskConfig, TrainResult, train
from meta_rl.export import export_agent
from meta_rl.losses import a2c_loss
from meta_rl.run.errors import RunDirError
from meta_rl.training import (A2CConfig, InGraphTrainer, NonFiniteLossError,
                              PythonEnvTrainer, TrainConfig)

__version__ = '0.1.0'

__all__ = [
    'train', 'TaskConfig', 'AgentConfig', 'A2CConfig', 'TrainConfig',
    'RunConfig', 'TrainResult', 'make_agent', 'MetaRLAgent', 'CORES',
    'InGraphTrainer', 'PythonEnvTrainer', 'a2c_loss', 'export_agent',
    'SavedModelPolicy', 'AgentPolicy', 'play_episodes', 'play_dm_env_episodes',
    'summarise', 'evaluate_core', 'evaluate_dm_env', 'Evaluation',
    'format_table', 'write_tensorboard', 'make_baseline', 'RunDirError', 'NonFiniteLossError',
    'SignatureMismatchError',
]
