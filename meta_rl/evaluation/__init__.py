"""Frozen evaluation: play test episodes with a fixed policy, on any task.

One module per topic:
  `policies`  what plays: `SavedModelPolicy` (an export), `AgentPolicy` (an
              in-memory `MetaRLAgent`), their base `TFPolicy` and the
              protocol they share with the NumPy baselines of
              `meta_rl.baselines`; `SignatureMismatchError`;
  `restore`   agents rebuilt from a run's checkpoint (`checkpoint_agent`,
              `checkpoint_policy`) or an export's weights
              (`saved_model_agent`);
  `rollout`   the episode loops: `play_episodes` on a batched TF core (in
              one `tf.function` for a TF policy), `play_dm_env_episodes` on
              any `dm_env.Environment`s, and `write_recording`;
  `summary`   `summarise` (means and standard errors of the return and of
              every task metric, named as training logs them:
              `meta_rl.metrics`), `episode_sums`, `format_table`,
              `headline_scalars`;
  `evaluate`  whole evaluations, an agent next to baselines on the same
              episodes: `evaluate_core` (a project task, e.g. from
              `test_core` or `project_test_core`; an export loaded by
              `load_saved_model`), `evaluate_dm_env` (a
              user's own dm_env task, e.g. from `load_env_factory`), both
              returning an `Evaluation`;
  `report`    `write_tensorboard` and the regret figures
              (`draw_regret_curves`, `plot_regret`);
  `outputs`   what an evaluation of an export writes and where
              (`default_output_dir`, `record_path`, `write_outputs`).

The names below are the package's API, e.g.

    from meta_rl import evaluation
    result = evaluation.evaluate_dm_env('runs/mine/saved_model', MyEnv, 200)
    print(result.table())
"""

from meta_rl.evaluation.evaluate import (TASK_AGNOSTIC_BASELINES,
                                         EnvFactoryError, Evaluation,
                                         baseline_names, evaluate_core,
                                         evaluate_dm_env, load_env_factory,
                                         load_saved_model, project_test_core,
                                         test_core)
from meta_rl.evaluation.outputs import (default_output_dir, output_paths,
                                        record_path, tensorboard_dir,
                                        write_outputs)
from meta_rl.evaluation.policies import (AgentPolicy, SavedModelPolicy,
                                         SignatureMismatchError, TFPolicy)
from meta_rl.evaluation.report import (draw_regret_curves, plot_regret,
                                       write_tensorboard)
from meta_rl.evaluation.restore import (checkpoint_agent, checkpoint_policy,
                                        saved_model_agent)
from meta_rl.evaluation.rollout import (play_dm_env_episodes, play_episodes,
                                        write_recording)
from meta_rl.evaluation.summary import (episode_sums, format_table,
                                        headline_scalars, metric_names,
                                        summarise)

__all__ = [
    'TFPolicy', 'SavedModelPolicy', 'AgentPolicy', 'SignatureMismatchError',
    'checkpoint_agent', 'checkpoint_policy', 'saved_model_agent',
    'play_episodes', 'play_dm_env_episodes', 'write_recording',
    'summarise', 'episode_sums', 'format_table', 'headline_scalars',
    'metric_names',
    'test_core', 'project_test_core', 'evaluate_core', 'evaluate_dm_env',
    'Evaluation', 'baseline_names', 'TASK_AGNOSTIC_BASELINES',
    'load_saved_model', 'load_env_factory', 'EnvFactoryError',
    'default_output_dir', 'output_paths', 'record_path', 'tensorboard_dir',
    'write_outputs',
    'write_tensorboard', 'draw_regret_curves', 'plot_regret',
]
