r"""Hyperparameter sweeps of any training launcher on Ray Tune, as the paper.

  python launch/sweep.py --launcher=launch/bandits.py \
      --flagfile=launch/configs/bandits_independent.cfg \
      --num_samples=100 --top_k=5 --sweep_dir=sweeps/exp1

Every flag that is not the sweep's own (below) is the launcher's: the
flagfile and any flags set what all trials share; each trial adds its
sampled values of the search space (--space, --space_file, else the
launcher's default in `meta_rl.task_specs.SEARCH_SPACES`). A trial runs in a Ray
worker: the launcher's own flags-to-configs translation on a private
`FlagValues`, then `meta_rl.experiment.train` into the trial's directory,
SWEEP_DIR/trials/<trial id>/, an ordinary run dir (config.json,
checkpoints, tb/, saved_model/, train.log, and Tune's files). Then its
SavedModel is evaluated frozen on --eval_episodes test episodes (seed
--eval_seed, the same for all trials) by the task's own metric (regret for
bandits, reward per trial for the two-step task, correct choices on later
trials for Harlow, reward per episode for navigation). The top --top_k are
chosen on the first half of those episodes and reported on the second half:
SWEEP_DIR/report.md (table), report.json and report.png.

Ray: embedded on this machine by default (trials of --num_cpus_per_trial
CPUs each, as many at once as fit), or an existing cluster with
--ray_address=auto|HOST:PORT (every node needs this project installed at the
same path, and SWEEP_DIR on a file system all nodes share).

Rerunning the same command continues an interrupted sweep (Ctrl-C, kill,
lost node): finished trials are kept, interrupted ones resume from their
last checkpoint, failed ones stay failed (with their error in the report).
A different sweep in the same --sweep_dir is refused. The sweep itself is
`meta_rl.sweep.tune.run_sweep`; this is its command line.
"""

import dataclasses
import functools
import importlib.util
import os
import sys
import time

from absl import app
from absl import flags

import common

common.start()  # first: Ctrl-C as one line, TensorFlow imported quietly
# pylint: disable=g-import-not-at-top,wrong-import-position
from meta_rl import sweep as sweep_lib
from meta_rl import task_specs
from meta_rl.sweep import tune

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

flags.DEFINE_string('launcher', None, 'Training launcher to sweep, e.g. '
                    'launch/bandits.py (bandits, two_step, harlow, navigation).')
flags.DEFINE_string('sweep_dir', None, 'Directory of the sweep (created; '
                    'rerun the same command to continue it).')
flags.DEFINE_integer('num_samples', 20, 'Settings sampled from the search '
                     'space (times the size of its grid: items).')
flags.DEFINE_integer('top_k', 5, 'Trials selected on the first half of the '
                     'test episodes and reported on the second half.')
flags.DEFINE_string('space', None, 'Search space over launcher flags, e.g. '
                    'learning_rate=loguniform:1e-4:1e-2,gamma=uniform:0.7:0.99 '
                    '(kinds: loguniform, uniform, randint LOW:HIGH; choice, '
                    'grid A|B|C); replaces the launcher default entirely.')
flags.DEFINE_string('space_file', None, 'File with a search space (one item '
                    'per line, # comments); --space items are added to it.')
flags.DEFINE_integer('eval_episodes', 300, 'Frozen test episodes per trial '
                     '(the paper: 300).')
flags.DEFINE_integer('eval_seed', 12345, 'Seed of the test episodes (the same '
                     'for every trial).')
flags.DEFINE_integer('search_seed', 0, 'Seed of the random search.')
flags.DEFINE_float('num_cpus_per_trial', 1, 'CPUs Ray reserves for each '
                   'trial (TensorFlow uses as many threads).')
flags.DEFINE_integer('max_concurrent_trials', 0, 'At most this many trials '
                     'at once (0: as many as the CPUs fit).')
flags.DEFINE_string('ray_address', None, 'Address of an existing Ray cluster '
                    "('auto' or HOST:PORT); default: start Ray embedded.")
flags.DEFINE_integer('num_cpus', None, 'CPUs of the embedded Ray (default: '
                     'all of this machine).')
flags.DEFINE_enum('scheduler', 'none', tune.SCHEDULERS, 'Trial scheduler: none '
                  '(every trial trains its full --total_steps) or asha '
                  '(stops poor trials early on the training metric).')
flags.DEFINE_float('asha_grace_fraction', 0.1, 'ASHA: fraction of '
                   '--total_steps every trial trains before it may be stopped.')
flags.DEFINE_integer('asha_reduction_factor', 3, 'ASHA: reduction factor.')
flags.DEFINE_integer('max_failures', 1, 'Retries of a trial that errors (a '
                     'lost node, a crash), each resuming from its checkpoint.')
FLAGS = flags.FLAGS

FORBIDDEN = ('run_dir', 'resume')  # set per trial by the sweep
CONFIG_FLAGS = [f.name for f in dataclasses.fields(tune.SweepConfig)]
load_launcher = common.load_launcher  # the names tests/test_sweep.py uses
launcher_flags = common.launcher_flags


def main(argv):
  launcher_argv = argv[1:]
  for name, value in (('launcher', FLAGS.launcher),
                      ('sweep_dir', FLAGS.sweep_dir)):
    if not value:
      common.fail(f'--{name} is required')
  positional = [a for a in launcher_argv if not a.startswith('-')]
  if positional:
    common.fail(f'unexpected arguments: {" ".join(positional)}')
  for name in FORBIDDEN:
    if any(a.split('=')[0].lstrip('-') in (name, 'no' + name)
           for a in launcher_argv):
      common.fail(f'--{name} is set by the sweep for each trial')
  try:
    config = tune.SweepConfig(**{k: FLAGS[k].value for k in CONFIG_FLAGS})
  except tune.SweepError as e:
    common.fail(str(e))
  if importlib.util.find_spec('ray') is None:
    common.fail("launch/sweep.py needs Ray Tune: pip install -e '.[sweep]'")

  launcher = os.path.abspath(FLAGS.launcher)
  try:
    module = common.load_launcher(launcher)
    job = common.job_from_flags(module.make_task,
                                common.launcher_flags(module, launcher_argv))
    metric, mode = task_specs.sweep_metric(job.task.make_core())
  except (flags.Error, ValueError, OSError) as e:
    common.fail(str(e).splitlines()[0])
  name = os.path.splitext(os.path.basename(launcher))[0]
  try:
    space = sweep_lib.resolve_space(name, task_specs.SEARCH_SPACES.get(name),
                                    FLAGS.space, FLAGS.space_file)
    common.check_space(module, launcher_argv, space, FLAGS.launcher, FORBIDDEN)
  except ValueError as e:
    common.fail(str(e))

  started = time.time()
  try:
    trials, paths = tune.run_sweep(
        functools.partial(common.make_trial_job, launcher=launcher,
                          launcher_args=list(launcher_argv)),
        space, FLAGS.sweep_dir, config, metric=metric, mode=mode,
        total_steps=job.train.total_steps, title=f'{name} on {job.task.name}',
        settings={'launcher': os.path.relpath(launcher, REPO),
                  'launcher_args': list(launcher_argv)},
        pythonpath=[REPO, os.path.join(REPO, 'launch')])
  except tune.SweepError as e:
    common.fail(str(e))
  text, unfinished = tune.summary_text(trials, paths, config.top_k, metric,
                                       mode, time.time() - started)
  print(text)
  if unfinished:
    # Only an interruption (Ctrl-C, which Tune catches to save the sweep)
    # leaves trials unfinished: exit as the launchers do on SIGINT.
    print(f'[sweep] {unfinished} trials unfinished (interrupted);'
          ' rerun the same command to continue', file=sys.stderr)
    sys.exit(130)


def parse_flags(argv):
  """The sweep's own flags; the rest (flagfiles expanded) is the launcher's.
  `--help` with `--launcher` also lists that launcher's flags."""
  if common.wants_help(argv):
    extra = []
    launcher = next((a.split('=', 1)[1] for a in argv
                     if a.startswith('--launcher=')), None)
    if launcher:
      try:
        fv = flags.FlagValues()
        common.load_launcher(launcher).define_flags(fv)
        extra = [f'flags of {launcher} (fixed for every trial, or swept):']
        extra += common.flag_sections(fv)
      except ValueError as e:
        common.fail(str(e).splitlines()[0])
    else:
      extra = ["every other flag is the launcher's: add --launcher=... to "
               '--help to list them']
    sys.stdout.write(common.help_text(extra))
    sys.exit(0)
  common.check_flagfiles(argv)
  try:
    argv = FLAGS(argv, known_only=True)
  except flags.Error as e:
    common.fail(str(e).splitlines()[0])
  common.check_finite_floats()
  common.mark_started()
  return argv


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
