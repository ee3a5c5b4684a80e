"""Deep meta-RL ("Learning to Reinforcement Learn", Wang et al. 2016) in TF2/Keras.

The public API:

  train(task, agent, a2c, train, run) -> TrainResult
      the entry point (`meta_rl.experiment`): configs in, run dir and
      SavedModel out;
  TaskConfig, AgentConfig, A2CConfig, TrainConfig, RunConfig
      the configs (frozen dataclasses; each validates its values);
  RunSpec
      the one description of a run (task, agent, A2C, training): what
      config.json and each export's metadata (`run`) hold (`meta_rl.spec`);
  make_agent, MetaRLAgent, CORES
      the agents of Figure 1 and their cores;
  InGraphTrainer, PythonEnvTrainer
      A2C on batched TF cores (in the graph) or on user dm_env environments;
  run.run(trainer, run_dir) -> RunResult
      the run loop around a trainer of your own making: checkpoints,
      TensorBoard, progress, resume (`meta_rl.run`);
  a2c_loss -> (loss, A2CExtra)
      the loss, a pure function of tensors;
  export_agent, export_checkpoint
      the SavedModel contract: an agent, or a checkpoint of a run;
  evaluate_core, evaluate_dm_env, Evaluation, SavedModelPolicy,
  AgentPolicy, play_episodes, play_dm_env_episodes
      frozen evaluation next to baselines (what launch/evaluate.py runs), on
      a batched task or on any dm_env environment, and its episode loops;
  make_baseline
      the paper's comparison policies (`meta_rl.baselines`);
  TaskSpec, task_specs.register
      what evaluation and sweeps use of a task (baselines, sweep metric);
  RunDirError, DiskFullError, NonFiniteLossError, SignatureMismatchError
      what the library raises besides ValueError.

Modules: `agent`, `losses`, `metrics` (episode bookkeeping), `preflight`
(a run's sizes and settings checked before it starts), `spec` (`RunSpec`),
`experiment`, `export`, `analysis`; packages: `training` (`config`,
`learner`, `in_graph`, `python_env`), `run` (the run loop around a trainer,
run dirs, checkpoints, progress, held-out evaluation while training:
`meta_rl.run.run(trainer, run_dir)`), `evaluation` (a module per topic:
`policies`, `restore`, `rollout`, `summary`, `evaluate`, `report`,
`outputs`), `sweep` (`space`, `trials`, `report`, and `tune`, the Ray Tune
driver), `baselines`, `experiments` (the paper's analyses and figures, a
module per experiment); module `serving` (an agent served by TF Serving as
a policy). Tasks live in the `environments` package.
"""

try:
  import tensorflow as _tf  # noqa: F401
except ImportError as e:  # pragma: no cover
  raise ImportError(
      'meta_rl needs TensorFlow 2.21: pip install -e ".[cpu]" (tensorflow-cpu) '
      'or pip install -e ".[tensorflow]"') from e

# pylint: disable=g-import-not-at-top,wrong-import-position
from meta_rl import run
from meta_rl import task_specs
from meta_rl.agent import AgentConfig, CORES, MetaRLAgent, make_agent
from meta_rl.baselines import make_baseline
from meta_rl.evaluation import (AgentPolicy, Evaluation, SavedModelPolicy,
                                SignatureMismatchError, evaluate_core,
                                evaluate_dm_env, play_dm_env_episodes,
                                play_episodes)
from meta_rl.experiment import (RunConfig, TrainResult, export_checkpoint,
                                train)
from meta_rl.export import export_agent
from meta_rl.losses import A2CExtra, a2c_loss
from meta_rl.run import DiskFullError, RunDirError, RunResult
from meta_rl.spec import RunSpec, TaskConfig
from meta_rl.task_specs import TaskSpec
from meta_rl.training import (A2CConfig, InGraphTrainer, NonFiniteLossError,
                              PythonEnvTrainer, TrainConfig)

__version__ = '0.1.0'

__all__ = [
    'train', 'RunSpec', 'TaskConfig', 'AgentConfig', 'A2CConfig', 'TrainConfig',
    'RunConfig', 'TrainResult', 'make_agent', 'MetaRLAgent', 'CORES',
    'InGraphTrainer', 'PythonEnvTrainer', 'run', 'RunResult', 'a2c_loss',
    'A2CExtra', 'export_agent', 'export_checkpoint', 'evaluate_core',
    'evaluate_dm_env', 'Evaluation', 'SavedModelPolicy', 'AgentPolicy',
    'play_episodes', 'play_dm_env_episodes', 'make_baseline', 'TaskSpec',
    'task_specs', 'RunDirError', 'DiskFullError', 'NonFiniteLossError',
    'SignatureMismatchError',
]
