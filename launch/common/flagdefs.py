"""The launchers' flags: the groups of `--help`, the training flags with
their defaults read from the library's dataclasses and their ranges, the
task and baseline flags, and the checks of parsing (flagfiles, finite
floats, output dirs).
"""

import functools
import math
import os
import sys
from typing import Any, Dict, Optional

from absl import flags

from common.process import FLAGS, fail, mark_started
from meta_rl import agent as agent_lib
from meta_rl import baselines as baselines_lib
from meta_rl import experiment
from meta_rl import task_specs
from meta_rl import training

__all__ = [
    'HELP_GROUPS',
    'group',
    'define_training_flags',
    'define_task_flag',
    'define_baseline_flags',
    'baseline_options',
    'MAX_ACTION_REPEAT',
    'check_output_dir',
    'flag_sections',
    'help_text',
    'wants_help',
    'parse_flags',
    'check_flagfiles',
    'check_finite_floats',
    'no_arguments',
]


# `--help` sections, in this order after the launcher's own flags.
HELP_GROUPS = ('task', 'agent', 'A2C', 'training', 'run', 'baselines')


def group(name: str, fv=FLAGS) -> Dict[str, Any]:
  """Keyword arguments of `flags.DEFINE_*` that put a flag on `fv` into the
  `--help` section `name` (one of `HELP_GROUPS`)."""
  return dict(flag_values=fv, module_name=name)


# The library's defaults of the flags a launcher may set otherwise for its
# experiment (`define_training_flags(**experiment_defaults)`).
_OVERRIDABLE = {
    'num_units': ('agent', 'num_units'),
    'unroll_length': ('train', 'unroll_length'),
    'batch_size': ('train', 'batch_size'),
    'total_steps': ('train', 'total_steps'),
    'gamma': ('a2c', 'gamma'), 'beta_e': ('a2c', 'beta_e'),
    'beta_v': ('a2c', 'beta_v'), 'learning_rate': ('a2c', 'learning_rate'),
    'action_repeat': ('task', 'action_repeat'),
}


def define_training_flags(fv=FLAGS, **experiment_defaults):
  """Defines the flag groups above on `fv`. Every default is the library's
  (the configs' dataclass defaults) except those of `experiment_defaults`,
  the launcher's own for its experiment (e.g. Harlow's `num_units=256`),
  which may set any of `_OVERRIDABLE`; TypeError for another name."""
  unknown = sorted(set(experiment_defaults) - set(_OVERRIDABLE))
  if unknown:
    raise TypeError(f'no overridable training flag {", ".join(unknown)}')
  configs = {'agent': agent_lib.AgentConfig(), 'a2c': training.A2CConfig(),
             'train': training.TrainConfig(),
             'task': experiment.TaskConfig('default')}
  default = {name: experiment_defaults.get(name, getattr(configs[c], field))
             for name, (c, field) in _OVERRIDABLE.items()}
  agent_defaults, a2c_defaults, train_defaults = (
      configs['agent'], configs['a2c'], configs['train'])
  in_agent, in_a2c, in_training, in_run = (
      group(g, fv) for g in ('agent', 'A2C', 'training', 'run'))
  flags.DEFINE_enum('core', agent_defaults.core, list(agent_lib.CORES),
                    'Core (Fig 1): lstm (1a/1b), stacked_lstm (1c), '
                    'feedforward (Fig 7 "FF A3C").', **in_agent)
  flags.DEFINE_integer('num_units', default['num_units'],
                       'LSTM units of --core=lstm (Table 1: 48), hidden units '
                       'of --core=feedforward.', **in_agent)
  flags.DEFINE_list('stacked_units', list(map(str, agent_defaults.stacked_units)),
                    'Sizes of the two LSTMs of --core=stacked_lstm.',
                    **in_agent)
  flags.DEFINE_boolean('reward_input', agent_defaults.use_reward_input,
                       'Feed the previous reward to the agent '
                       "(--noreward_input is the paper's ablation).",
                       **in_agent)
  flags.DEFINE_list('reward_values', [],
                    'One-hot encode the previous reward over these values '
                    '(Exp 3); empty: scalar reward input.', **in_agent)
  flags.DEFINE_boolean('popart', agent_defaults.popart, 'Normalise the value head by '
                       'running statistics of the returns (PopArt), so that '
                       'the size of the rewards does not set the size of the '
                       'gradient.', **in_agent)
  flags.DEFINE_integer('agent_seed', None,
                       'Seed of the weight initialisation (default: --seed).',
                       **in_agent)
  flags.DEFINE_float('gamma', default['gamma'], 'Discount factor.', **in_a2c)
  flags.DEFINE_float('beta_v', default['beta_v'], 'Value loss coefficient.',
                     **in_a2c)
  flags.DEFINE_float('beta_e', default['beta_e'], 'Entropy coefficient (start value).',
                     **in_a2c)
  flags.DEFINE_float('target_entropy', a2c_defaults.target_entropy, 'If set (nats), beta_e is '
                     'adapted to keep the policy entropy near this target '
                     '(as SAC tunes its temperature), starting from --beta_e.',
                     **in_a2c)
  flags.DEFINE_float('beta_e_lr', a2c_defaults.beta_e_lr,
                     'Step size of the --target_entropy adaptation (log '
                     'beta_e per update and nat).', **in_a2c)
  flags.DEFINE_float('beta_e_final', a2c_defaults.beta_e_final, 'If set, beta_e is annealed '
                     'linearly to this value over training.', **in_a2c)
  flags.DEFINE_float('learning_rate', default['learning_rate'], 'Initial learning rate.',
                     **in_a2c)
  flags.DEFINE_float('learning_rate_final', a2c_defaults.learning_rate_final,
                     'If set, the learning rate decays linearly to this value.',
                     **in_a2c)
  flags.DEFINE_enum('optimizer', a2c_defaults.optimizer,
                    list(training.OPTIMIZERS), 'Optimizer.', **in_a2c)
  flags.DEFINE_float('max_grad_norm', a2c_defaults.max_grad_norm,
                     'Global gradient-norm clip (0: off).', **in_a2c)
  flags.DEFINE_float('adam_epsilon', a2c_defaults.adam_epsilon,
                     "Adam's epsilon (--optimizer=adam).", **in_a2c)
  flags.DEFINE_float('popart_beta', a2c_defaults.popart_beta,
                     "Step size of PopArt's return statistics per update "
                     '(--popart).', **in_a2c)
  flags.DEFINE_integer('batch_size', default['batch_size'], 'Environments stepped in '
                       "lockstep (the paper's threads).", **in_training)
  flags.DEFINE_integer('unroll_length', default['unroll_length'],
                       'Agent steps per update (truncated BPTT length).',
                       **in_training)
  flags.DEFINE_integer('total_steps', default['total_steps'],
                       'Agent steps (decisions) to train for.', **in_training)
  flags.DEFINE_integer('action_repeat', default['action_repeat'], 'Primitive environment '
                       'steps per agent decision (rewards summed).',
                       **in_training)
  flags.DEFINE_string('curriculum', '', 'Task settings as a schedule over '
                      'training: stages START:key=value,... separated by ";" '
                      '(e.g. "5M:momentum=0.1;8M:momentum=0.25,'
                      'fixation_hold=4"); from START decisions on, each stage '
                      'changes task flags (or action_repeat) of the stage '
                      'before; the last stage is the task the run ends on, '
                      'evaluates and exports (meta_rl/curriculum.py).',
                      **in_training)
  flags.DEFINE_integer('seed', train_defaults.seed, 'Seed of the run.', **in_training)
  flags.DEFINE_boolean('jit_compile', train_defaults.jit_compile, 'Compile the update with XLA.',
                       **in_training)
  flags.DEFINE_boolean('jit_env', train_defaults.jit_env, "Compile only the environment's step "
                       'with XLA (e.g. Harlow: fuses its many small ops).',
                       **in_training)
  flags.DEFINE_string('run_dir', None, 'Run directory (must not exist unless '
                      '--resume).', **in_run)
  flags.DEFINE_boolean('resume', False, 'Continue the run in --run_dir from '
                       'its latest checkpoint (with the same settings).',
                       **in_run)
  run = experiment.RunConfig(run_dir='')
  flags.DEFINE_integer('checkpoint_every', run.checkpoint_every,
                       'Checkpoint every N updates.', **in_run)
  flags.DEFINE_float('log_every_secs', run.log_every_secs,
                     'Seconds between progress lines.', **in_run)
  flags.DEFINE_float('histogram_every_secs', run.histogram_every_secs,
                     'Seconds between TensorBoard histograms (logits, values, '
                     'per-layer gradient norms); 0: at every progress line; '
                     'negative: none.', **in_run)
  flags.DEFINE_integer('keep_every', None, 'Also keep the checkpoint of every '
                       'multiple of this many updates for good (in '
                       'RUN_DIR/checkpoints/kept/), for analyses over '
                       'training; default: only the latest 3.', **in_run)
  flags.DEFINE_integer('eval_every', None, 'Every N updates (and after the '
                       "last), play --eval_episodes of the task's held-out "
                       'variant (Harlow: the test images) with the weights '
                       'frozen, log them to TensorBoard (RUN_DIR/tb/heldout) '
                       'and keep the best checkpoint (RUN_DIR/checkpoints/'
                       'best); default or 0: never.', **in_run)
  flags.DEFINE_integer('eval_episodes', run.eval_episodes,
                       'Episodes per held-out evaluation (--eval_every).',
                       **in_run)
  flags.DEFINE_integer('eval_seed', run.eval_seed, 'Seed of the held-out '
                       'episodes (the same at every evaluation).', **in_run)
  flags.DEFINE_enum('export', run.export_which,
                    list(experiment.EXPORT_CHOICES), 'Which weights the run '
                    'exports at its end: last (the final update) or best '
                    '(the best held-out checkpoint; needs --eval_every).',
                    **in_run)
  flags.register_validator('reward_values', _all_floats,
                           message='--reward_values must be numbers',
                           flag_values=fv)
  flags.register_multi_flags_validator(
      ['export', 'eval_every'],
      lambda v: v['export'] != 'best' or v['eval_every'],
      message='--export=best needs --eval_every (the best checkpoint is '
              'chosen by the held-out evaluations)', flag_values=fv)
  flags.register_validator('stacked_units', lambda v: len(v) == 2 and all(
      s.isdigit() and int(s) > 0 for s in v),
                           message='--stacked_units must be two positive sizes',
                           flag_values=fv)
  flags.register_validator(
      'action_repeat', lambda v: v is None or 1 <= v <= MAX_ACTION_REPEAT,
      message=f'--action_repeat must be in [1, {MAX_ACTION_REPEAT}]',
      flag_values=fv)
  flags.register_validator('eval_every', lambda v: v is None or v >= 0,
                           message='--eval_every must be >= 0 (0: never)',
                           flag_values=fv)
  for name in ('num_units', 'batch_size', 'unroll_length', 'total_steps',
               'checkpoint_every', 'keep_every', 'eval_episodes'):
    flags.register_validator(name, lambda v: v is None or v > 0,
                             message=f'--{name} must be positive',
                             flag_values=fv)
  # Ranges of the numbers (nan and inf are refused: a degenerate agent, or a
  # run that never logs, is no use).
  for name, (low, high, low_open, text) in _RANGES.items():
    flags.register_validator(
        name, functools.partial(_in_range, low=low, high=high,
                                low_open=low_open),
        message=f'--{name} must be {text}', flag_values=fv)


def define_task_flag(family: str, default: str, help_: str, fv=FLAGS):
  """`--task`, with the choices the registry lists for a launcher family."""
  flags.DEFINE_enum('task', default, list(task_specs.LAUNCHER_TASKS[family]),
                    help_, **group('task', fv))


def define_baseline_flags():
  """Flags of the baselines' free parameters (`baselines.OPTIONS`)."""
  helps = {
      'gittins_discount': 'Discount of the Gittins indices.',
      'restless_volatility': 'Fixed per-step variance of the random-walk '
                             'posterior of thompson_restless (the paper: one '
                             'fixed volatility for all episodes).',
      'rw_beta': 'Inverse temperature of the Rescorla-Wagner baselines.',
  }
  for name, default in baselines_lib.OPTIONS.items():
    flags.DEFINE_float(name, default,
                       helps.get(name, f'Baseline option {name}.'),
                       **group('baselines'))
  if 'gittins_discount' in baselines_lib.OPTIONS:
    flags.register_validator(
        'gittins_discount',
        lambda v: math.isfinite(v) and 0 < v < 1,
        message='--gittins_discount must be in (0, 1)')


def baseline_options():
  """Baseline options from the flags this launcher defines."""
  return {k: FLAGS[k].value for k in baselines_lib.OPTIONS if k in FLAGS}


# Primitive steps per decision at most (the paper: 4).
MAX_ACTION_REPEAT = 1000

# name: (low, high, low excluded, the valid range in words); None is allowed
# (an unset optional flag).
_RANGES = {
    **{k: v for k, v in training.A2C_RANGES.items()
       if k not in ('rmsprop_rho', 'rmsprop_epsilon')},  # not flags
    'log_every_secs': (0, math.inf, False, 'a finite number >= 0'),
    'seed': (0, math.inf, False, '>= 0'),
    'agent_seed': (0, math.inf, False, '>= 0'),
    'eval_seed': (0, math.inf, False, '>= 0'),
}


def _in_range(value, low, high, low_open=False):
  """Whether `value` is None (an unset optional flag) or a finite number in
  [low, high] (low excluded if `low_open`)."""
  return value is None or training.in_range(value, low, high, low_open)


def check_output_dir(path, flag):
  """One error line (exit 2) unless directory `path` exists and is
  writable or can be created (its nearest existing ancestor is a writable
  directory); checked before any work."""
  path = os.path.abspath(path)
  if os.path.exists(path) and not os.path.isdir(path):
    fail(f'--{flag} {path} is a file, not a directory')
  existing = path
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    fail(f'--{flag} {path}: {existing} is a file, not a directory')
  if not os.access(existing, os.W_OK | os.X_OK):
    fail(f'--{flag} {path}: {existing} is not writable')


def _all_floats(values):
  try:
    [float(v) for v in values]
  except ValueError:
    return False
  return True


_HELP_ARGS = ('--help', '-help', '-h', '-?', '--helpshort', '-helpshort')


def flag_sections(fv=FLAGS):
  """`--help` sections of the flags on `fv`: the launcher's own flags, then
  the sections of `HELP_GROUPS` it has; absl's own and TensorFlow's flags are
  left to --helpfull."""
  by_module = fv.flags_by_module_dict()
  own = [m for m in by_module
         if not m.startswith(('absl', 'tensorflow')) and by_module[m]]
  order = {g: i for i, g in enumerate(HELP_GROUPS)}
  own.sort(key=lambda m: order.get(m, -1))  # the launcher's own module first
  return [fv.module_help(m).strip('\n') for m in own]


def help_text(extra_sections=()) -> str:
  """The launcher's docstring and all of its flags, grouped (absl's `--help`
  shows only the main module's flags)."""
  doc = (sys.modules['__main__'].__doc__ or '').strip()
  return '\n\n'.join(
      [doc, 'flags (--flag=value; --flagfile=FILE reads them from a file):']
      + flag_sections() + list(extra_sections)
      + ['absl and TensorFlow flags: --helpfull']) + '\n'


def wants_help(argv) -> bool:
  """Whether the command line asks for --help (or -h, -?, --helpshort)."""
  args = argv[1:argv.index('--')] if '--' in argv else argv[1:]
  return any(a in _HELP_ARGS for a in args)


def parse_flags(argv):
  """absl flags parser: `--help` shows every flag of the launcher, grouped;
  bad flags are one line with exit 2."""
  if wants_help(argv):
    sys.stdout.write(help_text())
    sys.exit(0)
  check_flagfiles(argv)
  try:
    argv = FLAGS(argv)
  except flags.Error as e:
    fail(str(e).splitlines()[0])
  check_finite_floats()
  mark_started()
  return argv


def _flagfile_name(arg: str, following: Optional[str]) -> Optional[str]:
  """The file of a `--flagfile=F` / `-flagfile=F` argument (or of
  `--flagfile F`, F being `following`), as absl reads it; else None."""
  for prefix in ('--flagfile=', '-flagfile='):
    if arg.startswith(prefix):
      return os.path.expanduser(arg[len(prefix):].strip())
  if arg.strip() in ('--flagfile', '-flagfile') and following is not None:
    return os.path.expanduser(following.strip())
  return None


def check_flagfiles(argv):
  """One error line (exit 2) for a --flagfile that absl would read badly:
  one that is not UTF-8 text (absl: a UnicodeDecodeError traceback) or that
  includes itself, directly or through others (absl: a warning, then it
  ignores the file and trains on the defaults). Missing files are left to
  absl's own error."""

  def visit(name, stack):
    if name in stack:
      fail(f'--flagfile {stack[0]} includes {name} again '
           f'({" -> ".join(stack + [name])}): a flagfile must not include '
           'itself')
    try:
      with open(name, encoding='utf-8') as f:
        lines = f.readlines()
    except UnicodeDecodeError:
      fail(f'--flagfile {name} is not a text file (not UTF-8)')
    except OSError:
      return
    for line in lines:
      if line.isspace() or line.startswith(('#', '//')):
        continue
      included = _flagfile_name(line.strip(), None)
      if included:
        visit(included, stack + [name])

  args = list(argv[1:argv.index('--')] if '--' in argv else argv[1:])
  for i, arg in enumerate(args):
    name = _flagfile_name(arg, args[i + 1] if i + 1 < len(args) else None)
    if name:
      visit(name, [])


def check_finite_floats(fv=FLAGS):
  """One error line (exit 2) if a float flag of the launcher's own (not
  absl's or TensorFlow's) is NaN or infinite: every float flag of every
  launcher is a finite number or unset, whatever its own range."""
  for module, module_flags in fv.flags_by_module_dict().items():
    if module.startswith(('absl', 'tensorflow')):
      continue
    for flag in module_flags:
      if (flag.flag_type() == 'float' and flag.value is not None and
          not math.isfinite(flag.value)):
        fail(f'--{flag.name}={flag.value} must be a finite number')


def no_arguments(argv):
  if len(argv) > 1:
    fail(f'unexpected arguments: {" ".join(argv[1:])}')
