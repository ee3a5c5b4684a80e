"""What the analysis launchers share: the analysis extra, a run's agent
loaded next to the baselines, another run's policy, TensorBoard curves."""

import os

from common.flagdefs import baseline_options
from common.process import fail
from meta_rl import baselines as baselines_lib
from meta_rl import spec as spec_lib
from meta_rl.run.progress import tensorboard_curve

__all__ = [
    'ANALYSIS_PACKAGES',
    'missing_analysis_packages',
    'require_analysis',
    'load_for_analysis',
    'run_policy',
    'tensorboard_curve',
]


ANALYSIS_PACKAGES = ('matplotlib', 'statsmodels', 'pandas')


def missing_analysis_packages():
  """The packages of the `analysis` extra that are not installed."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  return [p for p in ANALYSIS_PACKAGES if importlib.util.find_spec(p) is None]


def require_analysis():
  """One error line (exit 2) if the `analysis` extra is missing: the paper's
  analyses and figures need it, training and evaluation do not."""
  missing = missing_analysis_packages()
  if missing:
    fail(f'{", ".join(missing)} not installed; the analyses need the '
         "analysis extra: pip install -e '.[analysis]'")


def load_for_analysis(run_dir, task, baseline_names, outputs, overwrite,
                      trained_on=None, task_overrides=None, checkpoint=None):
  """What an experiment analysis launcher starts with.

  Checks that the outputs RUN_DIR/eval/<outputs> may be written, loads the
  run's latest SavedModel, makes the test task and the baselines; any problem
  is one error line and exit 2. `trained_on`: task names the run may have
  been trained on (checked against its metadata); `task_overrides`: task
  arguments of the test core (e.g. Harlow's `image_dir`); `checkpoint`: the
  update of a training checkpoint (`checkpoints.kept_checkpoints`) to analyse
  instead of the SavedModel, which a run stopped before its end lacks (the
  task is then read from RUN_DIR/config.json). Returns `(core, policies,
  paths)` where `policies` maps 'agent' and each baseline name to a policy
  and `paths` maps each output name to its path.
  """
  if not run_dir:
    fail('--run_dir is required')
  paths = {o: os.path.join(run_dir, 'eval', o) for o in outputs}
  for p in paths.values():
    if os.path.exists(p) and not overwrite:
      fail(f'{p} exists; pass --overwrite')
  from meta_rl import evaluation  # pylint: disable=g-import-not-at-top
  from meta_rl.run import checkpoints  # pylint: disable=g-import-not-at-top
  try:
    if checkpoint is None:
      agent = evaluation.SavedModelPolicy(os.path.join(run_dir, 'saved_model'))
      metadata = agent.metadata
    else:
      final = spec_lib.RunSpec.load(run_dir).task.final()  # after a curriculum
      metadata = {'task': final.name, 'task_kwargs': dict(final.kwargs),
                  'action_repeat': final.action_repeat}
    trained = metadata.get('task')
    if trained_on and trained not in trained_on:
      fail(f'{run_dir} holds an agent trained on {trained!r}, not on '
           f'{" or ".join(trained_on)}')
    core, _ = evaluation.test_core(task, metadata, **(task_overrides or {}))
    if checkpoint is not None:
      agent = evaluation.checkpoint_policy(
          run_dir, checkpoints.find_checkpoint(run_dir, checkpoint), core)
    else:
      agent.check_fits_core(core)
    policies = {'agent': agent}
    policies.update({b: baselines_lib.make_baseline(b, core, **baseline_options())
                     for b in baseline_names})
  except (OSError, ValueError) as e:
    fail(str(e).splitlines()[0])
  os.makedirs(os.path.join(run_dir, 'eval'), exist_ok=True)
  return core, policies, paths


def run_policy(run_dir, core, task, flag):
  """The frozen agent of another run to compare (e.g. --seed_runs): its
  SavedModel, or the newest checkpoint that is not damaged of a run stopped
  before it exported.
  Returns `(policy, label)`; a run of another task, one with neither, or
  one that does not fit `core` is one error line naming `--flag`, exit 2."""
  from meta_rl import evaluation  # pylint: disable=g-import-not-at-top
  from meta_rl.run import checkpoints  # pylint: disable=g-import-not-at-top
  name = os.path.basename(os.path.normpath(run_dir))
  try:
    if os.path.isdir(os.path.join(run_dir, 'saved_model')):
      policy = evaluation.SavedModelPolicy(os.path.join(run_dir, 'saved_model'))
      if policy.metadata.get('task') != task:
        fail(f'--{flag} {run_dir} holds no agent trained on {task}')
      policy.check_fits_core(core)
      return policy, name
    if not checkpoints.kept_checkpoints(run_dir):
      fail(f'--{flag} {run_dir}: no SavedModel or checkpoint')
    prefix = checkpoints.find_checkpoint(run_dir)  # skips damaged ones, saying so
    return (evaluation.checkpoint_policy(run_dir, prefix, core),
            f'{name} (update {prefix.rsplit("-", 1)[-1]})')
  except (OSError, ValueError) as e:
    fail(f'--{flag} {run_dir}: {str(e).splitlines()[0]}')
