"""Flags and helpers shared by the launchers (never imported by the library).

Flag groups:
  agent:    --core --num_units --reward_input --reward_values --agent_seed
  A2C:      --gamma --beta_v --beta_e --beta_e_final --learning_rate
            --learning_rate_final --optimizer --max_grad_norm
  training: --batch_size --unroll_length --total_steps --seed --jit_compile
  run:      --run_dir --resume --checkpoint_every --log_every_secs
"""

import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # before TF is imported

from absl import flags  # pylint: disable=g-import-not-at-top
from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top

FLAGS = flags.FLAGS
_NAMES = []


def _define(kind, name, default, help_, **kwargs):
  getattr(flags, f'DEFINE_{kind}')(name=name, default=default, help=help_,
                                   **kwargs)
  _NAMES.append(name)


def define_training_flags(*, num_units=48, unroll_length=100, batch_size=128,
                          gamma=0.9, beta_e=0.05, beta_v=0.05,
                          learning_rate=3e-3, total_steps=10_000_000):
  """Defines the flag groups above with a launcher's defaults."""
  _define('enum', 'core', 'lstm', 'Recurrent core.',
          enum_values=['lstm', 'stacked_lstm'])
  _define('integer', 'num_units', num_units, 'LSTM units (Table 1: 48).')
  _define('boolean', 'reward_input', True,
          'Feed the previous reward to the agent (--noreward_input is the '
          "paper's ablation).")
  _define('list', 'reward_values', [],
          'One-hot encode the previous reward over these values (Exp 3); '
          'empty: scalar reward input.')
  _define('integer', 'agent_seed', None,
          'Seed of the weight initialisation (default: --seed).')
  _define('float', 'gamma', gamma, 'Discount factor.')
  _define('float', 'beta_v', beta_v, 'Value loss coefficient.')
  _define('float', 'beta_e', beta_e, 'Entropy coefficient (start value).')
  _define('float', 'beta_e_final', None,
          'If set, beta_e is annealed linearly to this value over training.')
  _define('float', 'learning_rate', learning_rate, 'Initial learning rate.')
  _define('float', 'learning_rate_final', None,
          'If set, the learning rate decays linearly to this value.')
  _define('enum', 'optimizer', 'adam', 'Optimizer.',
          enum_values=['adam', 'rmsprop'])
  _define('float', 'max_grad_norm', 1.0, 'Global gradient-norm clip (0: off).')
  _define('integer', 'batch_size', batch_size,
          'Environments stepped in lockstep (the paper\'s threads).')
  _define('integer', 'unroll_length', unroll_length,
          'Steps per update (truncated BPTT length).')
  _define('integer', 'total_steps', total_steps,
          'Environment steps to train for.')
  _define('integer', 'seed', 0, 'Seed of the run.')
  _define('boolean', 'jit_compile', False, 'Compile the update with XLA.')
  flags.DEFINE_string('run_dir', None, 'Run directory (must not exist unless '
                      '--resume).')
  flags.DEFINE_boolean('resume', False, 'Continue the run in --run_dir from its '
                       'latest checkpoint.')
  flags.DEFINE_integer('checkpoint_every', 200, 'Checkpoint every N updates.')
  flags.DEFINE_float('log_every_secs', 5.0, 'Seconds between progress lines.')
  _NAMES.extend(['run_dir'])
  flags.register_validator('reward_values', _all_floats,
                           message='--reward_values must be numbers')
  for name in ('num_units', 'batch_size', 'unroll_length', 'total_steps',
               'checkpoint_every'):
    flags.register_validator(name, lambda v: v is None or v > 0,
                             message=f'--{name} must be positive')


def _all_floats(values):
  try:
    [float(v) for v in values]
  except ValueError:
    return False
  return True


def add_flag_names(*names):
  """Registers launcher-specific flags to be saved in the run's config."""
  _NAMES.extend(names)


def flag_config():
  """The run configuration: the values of every registered flag."""
  return {name: FLAGS[name].value for name in _NAMES}


def import_tensorflow():
  """Imports TensorFlow with its C++ start-up banner (oneDNN notice, which
  TF_CPP_MIN_LOG_LEVEL does not silence in 2.21) kept off stderr, so that
  stderr carries only our progress and error lines."""
  if 'tensorflow' in sys.modules:
    return sys.modules['tensorflow']
  sys.stderr.flush()
  saved = os.dup(2)
  devnull = os.open(os.devnull, os.O_WRONLY)
  try:
    os.dup2(devnull, 2)
    import tensorflow  # pylint: disable=g-import-not-at-top
  finally:
    os.dup2(saved, 2)
    os.close(saved)
    os.close(devnull)
  tensorflow.get_logger().setLevel('WARNING')
  if not FLAGS['verbosity'].present:
    # TF logs an INFO line per checkpoint through absl logging.
    absl_logging.set_verbosity(absl_logging.WARNING)
  return tensorflow


def fail(message, status=2):
  """One clear line on stderr, then exit (2: bad input)."""
  print(f'error: {message}', file=sys.stderr, flush=True)
  sys.exit(status)


def parse_flags(argv):
  """absl flags parser that reports bad flags in one line with exit 2."""
  try:
    return FLAGS(argv)
  except flags.Error as e:
    fail(str(e).splitlines()[0])


def build_configs():
  """(AgentConfig, A2CConfig, TrainConfig) from the flags."""
  from meta_rl.agent import AgentConfig  # pylint: disable=g-import-not-at-top
  from meta_rl.training import A2CConfig, TrainConfig  # pylint: disable=g-import-not-at-top
  agent = AgentConfig(
      core=FLAGS.core, num_units=FLAGS.num_units,
      use_reward_input=FLAGS.reward_input,
      reward_values=tuple(float(v) for v in FLAGS.reward_values),
      seed=FLAGS.seed if FLAGS.agent_seed is None else FLAGS.agent_seed)
  a2c = A2CConfig(
      gamma=FLAGS.gamma, beta_v=FLAGS.beta_v, beta_e=FLAGS.beta_e,
      beta_e_final=FLAGS.beta_e_final, learning_rate=FLAGS.learning_rate,
      learning_rate_final=FLAGS.learning_rate_final, optimizer=FLAGS.optimizer,
      max_grad_norm=FLAGS.max_grad_norm)
  train = TrainConfig(
      batch_size=FLAGS.batch_size, unroll_length=FLAGS.unroll_length,
      total_steps=FLAGS.total_steps, seed=FLAGS.seed,
      jit_compile=FLAGS.jit_compile)
  return agent, a2c, train


def train_and_export(core, task, task_kwargs):
  """The whole job of a training launcher: run dir, train, checkpoint, export.

  Returns the path of the exported SavedModel.
  """
  import dataclasses  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  from meta_rl import agent as agent_lib  # pylint: disable=g-import-not-at-top
  from meta_rl import export, runner, training  # pylint: disable=g-import-not-at-top

  if not FLAGS.run_dir:
    fail('--run_dir is required')
  config = flag_config()
  try:
    runner.prepare_run_dir(FLAGS.run_dir, config, FLAGS.resume)
  except runner.RunDirError as e:
    fail(str(e))
  agent_cfg, a2c_cfg, train_cfg = build_configs()
  agent = agent_lib.make_agent(core.observation_spec(), core.num_actions,
                               agent_cfg)
  trainer = training.InGraphTrainer(core, agent, a2c_cfg, train_cfg)
  try:
    result = runner.run(trainer, FLAGS.run_dir, train_cfg.total_updates,
                        resume=FLAGS.resume,
                        checkpoint_every=FLAGS.checkpoint_every,
                        log_every_secs=FLAGS.log_every_secs, name=task)
  except training.NonFiniteLossError as e:
    fail(str(e), status=1)
  if result.stopped_early:
    # Not exported: a partly trained agent must not land in the serving path.
    print(f'[{task}] stopped at update {result.num_updates} (checkpointed); '
          'continue with --resume', file=sys.stderr)
    sys.exit(128 + int(result.stopped_by))
  metadata = {
      'task': task,
      'task_kwargs': task_kwargs,
      'flags': config,
      'agent_config': dataclasses.asdict(agent_cfg),
      'a2c_config': dataclasses.asdict(a2c_cfg),
      'train_config': dataclasses.asdict(train_cfg),
      'num_updates': result.num_updates,
      'env_steps': result.env_steps,
      'exported_at': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
  }
  path = export.export_agent(agent, core.observation_spec(),
                             os.path.join(FLAGS.run_dir, 'saved_model'),
                             metadata)
  print(f'[{task}] {result.num_updates} updates, {result.env_steps} env steps '
        f'in {result.seconds:.0f} s; exported {path}', file=sys.stderr)
  print(path)
  return path


def baseline_options():
  """Baseline options from the launcher's flags (those it defines)."""
  return {k: FLAGS[k].value for k in ('gittins_discount', 'restless_volatility',
                                      'rw_beta') if k in FLAGS}


def load_for_analysis(run_dir, task, baseline_names, outputs, overwrite,
                      trained_on=None):
  """What an experiment analysis launcher starts with.

  Checks that the outputs RUN_DIR/eval/<outputs> may be written, loads the
  run's latest SavedModel, makes the test task and the baselines; any problem
  is one error line and exit 2. `trained_on`: task names the run may have
  been trained on (checked against its metadata). Returns `(core, policies, paths)` where
  `policies` maps 'agent' and each baseline name to a policy and `paths` maps
  each output name to its path.
  """
  if not run_dir:
    fail('--run_dir is required')
  paths = {o: os.path.join(run_dir, 'eval', o) for o in outputs}
  for p in paths.values():
    if os.path.exists(p) and not overwrite:
      fail(f'{p} exists; pass --overwrite')
  import_tensorflow()
  import environments  # pylint: disable=g-import-not-at-top
  from meta_rl import baselines, evaluation  # pylint: disable=g-import-not-at-top
  try:
    agent = evaluation.SavedModelPolicy(os.path.join(run_dir, 'saved_model'))
    trained = agent.metadata.get('task')
    if trained_on and trained not in trained_on:
      fail(f'{run_dir} holds an agent trained on {trained!r}, not on '
           f'{" or ".join(trained_on)}')
    # Test on the task as trained (e.g. its num_trials, swap_prob); a test
    # variant of another name (restless_test) keeps the episode length.
    kwargs = dict(agent.metadata.get('task_kwargs', {}))
    if trained != task:
      kwargs = {k: v for k, v in kwargs.items() if k == 'num_trials'}
    core = environments.make_core(task, **kwargs)
    agent.check_fits(core)
    policies = {'agent': agent}
    policies.update({b: baselines.make_baseline(b, core, **baseline_options())
                     for b in baseline_names})
  except (OSError, ValueError) as e:
    fail(str(e).splitlines()[0])
  os.makedirs(os.path.join(run_dir, 'eval'), exist_ok=True)
  return core, policies, paths
