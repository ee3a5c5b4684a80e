"""A training launcher's job: flags -> configs -> `experiment.train`; and
another launcher's job, as a sweep trial makes it (`load_launcher`,
`launcher_flags`, `make_trial_job`, `check_space`)."""

import dataclasses
import importlib.util
import os
import sys
from typing import Any, Dict

from absl import flags

from common.flagdefs import check_output_dir
from common.process import FLAGS, fail
from meta_rl import agent as agent_lib
from meta_rl import curriculum as curriculum_lib
from meta_rl import experiment
from meta_rl import training

__all__ = [
    'configs_from_flags',
    'flag_values',
    'Job',
    'job_from_flags',
    'train',
    'load_launcher',
    'launcher_flags',
    'make_trial_job',
    'check_space',
]


def configs_from_flags(fv=FLAGS):
  """(AgentConfig, A2CConfig, TrainConfig, RunConfig) from the flags."""
  agent = agent_lib.AgentConfig(
      core=fv.core, num_units=fv.num_units,
      stacked_units=tuple(int(v) for v in fv.stacked_units),
      use_reward_input=fv.reward_input,
      reward_values=tuple(float(v) for v in fv.reward_values),
      popart=fv.popart,
      seed=fv.seed if fv.agent_seed is None else fv.agent_seed)
  a2c = training.A2CConfig(
      gamma=fv.gamma, beta_v=fv.beta_v, beta_e=fv.beta_e,
      beta_e_final=fv.beta_e_final, learning_rate=fv.learning_rate,
      learning_rate_final=fv.learning_rate_final, optimizer=fv.optimizer,
      max_grad_norm=fv.max_grad_norm, adam_epsilon=fv.adam_epsilon,
      target_entropy=fv.target_entropy, beta_e_lr=fv.beta_e_lr,
      popart_beta=fv.popart_beta)
  train_config = training.TrainConfig(
      batch_size=fv.batch_size, unroll_length=fv.unroll_length,
      total_steps=fv.total_steps, seed=fv.seed,
      jit_compile=fv.jit_compile, jit_env=fv.jit_env)
  run = experiment.RunConfig(
      run_dir=fv.run_dir, resume=fv.resume,
      checkpoint_every=fv.checkpoint_every,
      log_every_secs=fv.log_every_secs, keep_every=fv.keep_every,
      histogram_every_secs=(None if fv.histogram_every_secs < 0
                            else fv.histogram_every_secs),
      eval_every=fv.eval_every, eval_episodes=fv.eval_episodes,
      eval_seed=fv.eval_seed, export_which=fv.export)
  return agent, a2c, train_config, run


def flag_values(fv=FLAGS):
  """The launcher's own flags and their values (for the SavedModel's
  metadata); absl's and TensorFlow's flags are left out."""
  return {f.name: f.value
          for module, module_flags in fv.flags_by_module_dict().items()
          if not module.startswith(('absl', 'tensorflow'))
          for f in module_flags}


@dataclasses.dataclass(frozen=True)
class Job:
  """Everything `experiment.train` takes, built from a launcher's flags."""
  task: 'experiment.TaskConfig'
  agent: 'agent_lib.AgentConfig'
  a2c: 'training.A2CConfig'
  train: 'training.TrainConfig'
  run: 'experiment.RunConfig'
  metadata: Dict[str, Any]


def job_from_flags(make_task, fv=FLAGS) -> Job:
  """A training launcher's flags-to-configs translation: `make_task(fv)`
  (the launcher's own, returning an `experiment.TaskConfig` without action
  repeat) plus the flag groups above. Used by the launcher's `main` and by
  each trial of launch/sweep.py (with its own `FlagValues`). Raises
  ValueError (with a one-line message) for bad task or config values."""
  agent, a2c, train_config, run = configs_from_flags(fv)
  task = make_task(fv)
  task = experiment.TaskConfig(task.name, task.kwargs, fv.action_repeat,
                               curriculum_lib.parse(fv.curriculum))
  task.stages()  # a setting the task does not have: ValueError now
  return Job(task, agent, a2c, train_config, run,
             {'flags': flag_values(fv)})


def train(make_task) -> str:
  """The whole job of a training launcher: train, checkpoint, export.

  `make_task(flag_values)` builds the launcher's `experiment.TaskConfig`.
  Prints the SavedModel path on stdout and returns it. Bad input is one error
  line (exit 2), divergence exit 1, a stop by signal exit 128 + signal.
  """
  if not FLAGS.run_dir:
    fail('--run_dir is required')
  check_output_dir(FLAGS.run_dir, 'run_dir')
  try:
    job = job_from_flags(make_task)
    result = experiment.train(job.task, job.agent, job.a2c, job.train,
                              job.run, metadata=job.metadata)
  except experiment.NonFiniteLossError as e:
    fail(str(e), status=1)
  except (ValueError, OSError) as e:  # RunDirError is a ValueError
    fail(str(e).splitlines()[0])
  name = job.task.name
  if result.stopped_early:
    if result.checkpoint:
      print(f'[{name}] stopped at update {result.num_updates} (latest '
            f'checkpoint: {result.checkpoint}); continue with --resume',
            file=sys.stderr)
    else:
      print(f'[{name}] stopped before the first update; nothing was '
            'checkpointed (rerun the command to start again)', file=sys.stderr)
    sys.exit(128 + int(result.stopped_by))
  if result.exported:
    print(f'[{name}] {result.num_updates} updates, {result.env_steps} env '
          f'steps in {result.seconds:.0f} s; exported {result.saved_model}',
          file=sys.stderr)
  print(result.saved_model)
  return result.saved_model


def load_launcher(path):
  """The launcher module at `path` (its `define_flags` and `make_task`)."""
  if not os.path.isfile(path):
    raise ValueError(f'--launcher {path}: no such file')
  name = '_launcher_' + os.path.splitext(os.path.basename(path))[0]
  if name in sys.modules:
    return sys.modules[name]
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module
  spec.loader.exec_module(module)
  if not (hasattr(module, 'define_flags') and hasattr(module, 'make_task')):
    raise ValueError(f'--launcher {path} is not a training launcher (it has '
                     'no define_flags and make_task)')
  return module


def launcher_flags(module, args):
  """A private FlagValues with the launcher's flags, parsed from `args`."""
  fv = flags.FlagValues()
  module.define_flags(fv)
  fv(['launcher'] + list(args))
  return fv


def make_trial_job(params, run_dir, *, launcher, launcher_args):
  """A trial's job (`tune.run_sweep`'s `make_job`): the launcher's own
  flags-to-configs translation, on a private `FlagValues`, of the shared
  flags plus the trial's sampled values."""
  from meta_rl.sweep import tune  # pylint: disable=g-import-not-at-top
  module = load_launcher(launcher)
  fv = launcher_flags(module, list(launcher_args) + tune.trial_args(params) +
                      [f'--run_dir={run_dir}'])
  return job_from_flags(module.make_task, fv)


def check_space(module, launcher_argv, space, launcher, forbidden):
  """Every dimension of `space` names a flag of the launcher `module` (at
  path `launcher`) other than the `forbidden` ones, and its end values
  parse and make valid configs (so that no trial fails on a bad spec).
  Raises ValueError with one line otherwise."""
  fv = launcher_flags(module, launcher_argv)
  for p in space.values():
    if p.name not in fv:
      raise ValueError(f'search space: {p.name} is not a flag of {launcher}')
    if p.name in forbidden:
      raise ValueError(f'search space: --{p.name} is set by the sweep')
    for v in p.examples():
      try:
        job_from_flags(module.make_task, launcher_flags(
            module, list(launcher_argv) + [f'--{p.name}={v}']))
      except (flags.Error, ValueError, OSError) as e:
        raise ValueError(f'search space: {p.name}={v}: '
                         f'{str(e).splitlines()[0]}') from e
