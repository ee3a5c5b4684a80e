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
A different sweep in the same --sweep_dir is refused.
"""

import dataclasses
import importlib.util
import json
import os
import sys
import time

from absl import app
from absl import flags

import common
from meta_rl import task_specs
from meta_rl.run import progress, rundir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEDULERS = ('none', 'asha')

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
flags.DEFINE_enum('scheduler', 'none', SCHEDULERS, 'Trial scheduler: none '
                  '(every trial trains its full --total_steps) or asha '
                  '(stops poor trials early on the training metric).')
flags.DEFINE_float('asha_grace_fraction', 0.1, 'ASHA: fraction of '
                   '--total_steps every trial trains before it may be stopped.')
flags.DEFINE_integer('asha_reduction_factor', 3, 'ASHA: reduction factor.')
flags.DEFINE_integer('max_failures', 1, 'Retries of a trial that errors (a '
                     'lost node, a crash), each resuming from its checkpoint.')
FLAGS = flags.FLAGS

SWEEP_FILE = 'sweep.json'
STOPPED_FILE = 'stopped.txt'  # trials the scheduler stopped early
TRIALS = 'trials'  # Tune's experiment name: SWEEP_DIR/trials/<trial id>/
FORBIDDEN = ('run_dir', 'resume')  # set per trial by the sweep
# A custom resource of the embedded Ray, one per trial that may run at once
# (--max_concurrent_trials; unset: more than any sweep has trials).
TRIAL_SLOT = 'meta_rl_trial_slot'
UNLIMITED_SLOTS = 1_000_000


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


def trial_args(params):
  return [f'--{k}={v}' for k, v in sorted(params.items())]


def _trial(config, *, launcher, launcher_args, trials_dir, workdir,
           eval_episodes, eval_seed, num_threads):
  """One trial, in a Ray worker: train into the Tune trial directory
  TRIALS_DIR/<trial id> (or resume there), export, evaluate frozen, report
  to Tune. An error is re-raised as one line (`_one_line`) for the report.
  Runs in `workdir`, the sweep command's directory, so that relative paths
  among the launcher's flags (e.g. --maze_file) mean what they meant there."""
  os.chdir(workdir)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  try:  # before TF runs its first op in this worker
    tf.config.threading.set_intra_op_parallelism_threads(num_threads)
    tf.config.threading.set_inter_op_parallelism_threads(num_threads)
  except RuntimeError:
    pass
  import ray  # pylint: disable=g-import-not-at-top
  from ray import tune  # pylint: disable=g-import-not-at-top

  # The trial's directory in the sweep dir (Tune's storage), not the local
  # staging directory that get_trial_dir() names.
  run_dir = os.path.join(trials_dir, tune.get_context().get_trial_id())
  os.makedirs(run_dir, exist_ok=True)
  last = {'node_id': ray.get_runtime_context().get_node_id()}
  with open(os.path.join(run_dir, 'train.log'), 'a', buffering=1) as log_file:
    try:
      module = load_launcher(launcher)
      fv = launcher_flags(module, list(launcher_args) + trial_args(config) +
                          [f'--run_dir={run_dir}'])
      job = common.job_from_flags(module.make_task, fv)
      job.metadata['sweep_params'] = dict(config)
      steps_per_update = job.train.batch_size * job.train.unroll_length

      def on_log(update, scalars):
        last.update(scalars, env_steps=float(update * steps_per_update))
        tune.report(dict(last))

      evaluation = _train_and_evaluate(job, eval_episodes, eval_seed,
                                       log_file, on_log)
    except Exception as e:  # pylint: disable=broad-except
      print(f'failed: {_one_line(e)}', file=log_file)
      raise RuntimeError(_one_line(e)) from e
  tune.report(dict(last, eval_first=evaluation['first']['score'],
                   eval_second=evaluation['second']['score']))


def _train_and_evaluate(job, eval_episodes, eval_seed, log_file, on_log):
  """Trains (resuming a started run; not at all once the trial has exported
  its agent), then evaluates the latest SavedModel frozen; saves the
  evaluation in the run dir and returns it."""
  from meta_rl import experiment as experiment_lib  # pylint: disable=g-import-not-at-top
  from meta_rl import export as export_lib  # pylint: disable=g-import-not-at-top
  from meta_rl import sweep as sweep_lib  # pylint: disable=g-import-not-at-top
  run_dir = job.run.run_dir
  saved = os.path.join(run_dir, 'saved_model')
  if not (os.path.isdir(saved) and os.listdir(saved)):
    run = dataclasses.replace(
        job.run, handle_signals=False, adopt_dir=True,
        resume=os.path.exists(os.path.join(run_dir, rundir.CONFIG_FILE)))
    result = experiment_lib.train(
        job.task, job.agent, job.a2c, job.train, run, metadata=job.metadata,
        log=lambda line: print(line, file=log_file), on_log=on_log)
    if result.stopped_early:
      raise RuntimeError(f'stopped by signal {result.stopped_by}')
  saved = export_lib.latest_version_dir(saved)
  print(f'evaluating {saved} on {eval_episodes} episodes', file=log_file)
  evaluation = sweep_lib.evaluate_trial(saved, eval_episodes, eval_seed)
  sweep_lib.save_evaluation(run_dir, evaluation)
  return evaluation


def _one_line(e):
  """`Type: message` of an exception in one line (for a TensorFlow op error,
  its last message line, which names the problem)."""
  lines = [l.strip() for l in str(e).splitlines()
           if l.strip() and not l.strip().startswith('[[')]
  if not lines:
    return type(e).__name__
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  line = lines[-1] if isinstance(e, tf.errors.OpError) else lines[0]
  return f'{type(e).__name__}: {line}'[:300]


def _trial_dirname(trial):
  """A trial's directory name: its id (which the trial itself knows)."""
  return trial.trial_id


def _progress_callback(total, metric, sweep_dir):
  """A Tune callback printing one line per trial event and, every 30 s, the
  sweep's progress (trials done, the running ones' steps and metric, ETA).
  It also records the trials the scheduler stopped (SWEEP_DIR/stopped.txt):
  Tune marks those and the trials an interruption ended alike."""
  from ray import tune  # pylint: disable=g-import-not-at-top

  class Progress(tune.Callback):
    """Progress lines on stderr."""

    def __init__(self):
      self.setup()

    def setup(self, *args, **info):
      # Also called when a sweep continues (Tune restores its callbacks):
      # the ETA counts only this invocation's trials.
      self.start = time.time()
      self.last_line = 0.0
      self.latest = {}
      self.done = self.failed = 0

    def _print(self, text):
      print(f'[sweep] {text}', file=sys.stderr, flush=True)

    def on_trial_start(self, iteration, trials, trial, **info):
      self._print(f'started {trial.trial_id} ' + ' '.join(trial_args(
          {k: _short(v) for k, v in trial.config.items()})))

    def on_trial_result(self, iteration, trials, trial, result, **info):
      self.latest[trial.trial_id] = result
      now = time.time()
      if now - self.last_line < 30:
        return
      self.last_line = now
      running = [t for t in trials if t.status == 'RUNNING']
      parts = []
      for t in running:
        r = self.latest.get(t.trial_id, {})
        value = r.get(metric)
        steps = progress.format_count(r.get('env_steps', 0))
        parts.append(f'{t.trial_id} {steps} steps' +
                     (f' {metric} {value:.3f}' if value is not None else ''))
      finished = sum(t.status in ('TERMINATED', 'ERROR') for t in trials)
      elapsed = now - self.start
      eta = ''
      if self.done + self.failed:  # trials ended in this invocation
        rate = elapsed / (self.done + self.failed)
        eta = f', ETA {progress.format_duration(rate * (total - finished))}'
      self._print(f'{finished}/{total} trials done, {len(running)} running '
                  f'({"; ".join(parts)}), elapsed '
                  f'{progress.format_duration(elapsed)}{eta}')

    def on_trial_complete(self, iteration, trials, trial, **info):
      self.done += 1
      r = self.latest.get(trial.trial_id, {})
      score = r.get('eval_first')
      if score is None:
        with open(os.path.join(sweep_dir, STOPPED_FILE), 'a') as f:
          print(trial.trial_id, file=f)
        self._print(f'stopped {trial.trial_id} at '
                    f'{progress.format_count(r.get("env_steps", 0))} steps by '
                    'the scheduler')
      else:
        self._print(f'finished {trial.trial_id}: {metric} {score:.4f} on the '
                    'first half of the test episodes')

    def on_trial_error(self, iteration, trials, trial, **info):
      self.failed += 1
      self._print(f'failed {trial.trial_id}: '
                  f'{_error_line(trial.error_file)}')

  return Progress()


def _short(v):
  return f'{v:.4g}' if isinstance(v, float) else str(v)


def _error_line(error_file):
  """The last line of a Tune error file (the exception and its message)."""
  try:
    with open(error_file) as f:
      lines = [l.strip() for l in f.read().splitlines() if l.strip()]
  except (OSError, TypeError):
    return 'unknown error'
  if not lines:
    return 'unknown error'
  return lines[-1].split('RuntimeError: ', 1)[-1][:300]


def _resolve_space(name):
  """The search space: --space_file then --space items, else the default."""
  from meta_rl import sweep as sweep_lib  # pylint: disable=g-import-not-at-top
  if FLAGS.space is None and FLAGS.space_file is None:
    if name not in task_specs.SEARCH_SPACES:
      common.fail(f'--launcher {name} has no default search space; give '
                  '--space or --space_file')
    return sweep_lib.parse_space(task_specs.SEARCH_SPACES[name])
  space = {}
  try:
    if FLAGS.space_file:
      with open(FLAGS.space_file) as f:
        space.update(sweep_lib.parse_space(f.read()))
    if FLAGS.space:
      space.update(sweep_lib.parse_space(FLAGS.space))
  except OSError as e:
    common.fail(f'cannot read --space_file: {e.strerror}: {FLAGS.space_file}')
  except sweep_lib.SpaceError as e:
    common.fail(f'bad search space: {e}')
  if not space:
    common.fail('the search space is empty')
  return space


def _check_space(module, launcher_argv, space):
  """Every dimension names a launcher flag, and its end values parse and
  make valid configs (so that no trial fails on a bad spec)."""
  fv = launcher_flags(module, launcher_argv)
  for p in space.values():
    if p.name not in fv:
      common.fail(f'search space: {p.name} is not a flag of {FLAGS.launcher}')
    if p.name in FORBIDDEN:
      common.fail(f'search space: --{p.name} is set by the sweep')
    for v in p.examples():
      try:
        common.job_from_flags(module.make_task, launcher_flags(
            module, list(launcher_argv) + [f'--{p.name}={v}']))
      except (flags.Error, ValueError, OSError) as e:
        common.fail(f'search space: {p.name}={v}: {str(e).splitlines()[0]}')


def _check_sweep_dir(sweep_dir, settings):
  """Writes SWEEP_DIR/sweep.json, or checks that a rerun is the same sweep."""
  path = os.path.join(sweep_dir, SWEEP_FILE)
  if os.path.exists(path):
    try:
      with open(path) as f:
        saved = json.load(f)
    except (OSError, ValueError) as e:
      common.fail(f'{path} is not a sweep description ({e})')
    saved = json.loads(json.dumps(saved))
    current = json.loads(json.dumps(settings))
    for k in sorted(set(saved) | set(current)):
      if saved.get(k) != current.get(k):
        common.fail(f'{sweep_dir} holds another sweep: {k} was '
                    f'{saved.get(k)!r}, now {current.get(k)!r}; choose another '
                    '--sweep_dir')
    return True
  if os.path.exists(sweep_dir) and os.listdir(sweep_dir):
    common.fail(f'--sweep_dir {sweep_dir} exists and holds no sweep; choose '
                'another')
  try:
    os.makedirs(sweep_dir, exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
      json.dump(settings, f, indent=1)
    os.replace(tmp, path)
  except OSError as e:
    common.fail(f'cannot write {path}: {e.strerror}')
  return False


def _collect(results, sweep_dir):
  """`meta_rl.sweep.Trial`s from Tune's trials; a finished trial without an
  evaluation (e.g. one that exported just before an interruption) is
  evaluated here."""
  from meta_rl import sweep as sweep_lib  # pylint: disable=g-import-not-at-top
  from meta_rl import export as export_lib  # pylint: disable=g-import-not-at-top
  try:
    with open(os.path.join(sweep_dir, STOPPED_FILE)) as f:
      stopped = set(f.read().split())
  except OSError:
    stopped = set()
  trials = []
  # Tune's trial objects (with their status), behind the ResultGrid.
  for t in results._experiment_analysis.trials:  # pylint: disable=protected-access
    run_dir = os.path.join(sweep_dir, TRIALS, t.trial_id)
    last = t.last_result or {}
    trial = sweep_lib.Trial(
        trial_id=t.trial_id, run_dir=os.path.relpath(run_dir, sweep_dir),
        params=dict(t.config), status='unfinished',
        env_steps=last.get('env_steps'), seconds=last.get('time_total_s'),
        node=last.get('node_id'))
    evaluation = sweep_lib.load_evaluation(run_dir)
    saved = os.path.join(run_dir, 'saved_model')
    if evaluation is None and t.status != 'ERROR' and os.path.isdir(saved) and (
        os.listdir(saved)):
      evaluation = sweep_lib.evaluate_trial(
          export_lib.latest_version_dir(saved), FLAGS.eval_episodes,
          FLAGS.eval_seed)
      sweep_lib.save_evaluation(run_dir, evaluation)
    if evaluation is not None:
      trial.status, trial.evaluation = 'finished', evaluation
    elif t.status == 'ERROR':
      trial.status = 'failed'
      trial.error = _error_line(os.path.join(run_dir, 'error.txt'))
    elif t.trial_id in stopped:
      trial.status = 'stopped'
    trials.append(trial)
  return sorted(trials, key=lambda t: t.trial_id)


def main(argv):
  launcher_argv = argv[1:]
  for name, value in (('launcher', FLAGS.launcher),
                      ('sweep_dir', FLAGS.sweep_dir)):
    if not value:
      common.fail(f'--{name} is required')
  for name in ('num_samples', 'top_k', 'max_failures'):
    if FLAGS[name].value < (0 if name == 'max_failures' else 1):
      common.fail(f'--{name} must be positive')
  if FLAGS.eval_episodes < 2:
    common.fail('--eval_episodes must be >= 2 (two halves)')
  if not FLAGS.num_cpus_per_trial > 0:
    common.fail('--num_cpus_per_trial must be positive')
  if not 0 < FLAGS.asha_grace_fraction <= 1:
    common.fail('--asha_grace_fraction must be in (0, 1]')
  if FLAGS.asha_reduction_factor < 2:
    common.fail('--asha_reduction_factor must be >= 2')
  positional = [a for a in launcher_argv if not a.startswith('-')]
  if positional:
    common.fail(f'unexpected arguments: {" ".join(positional)}')
  for name in FORBIDDEN:
    if any(a.split('=')[0].lstrip('-') in (name, 'no' + name)
           for a in launcher_argv):
      common.fail(f'--{name} is set by the sweep for each trial')
  try:
    import ray  # pylint: disable=g-import-not-at-top
    from ray import tune  # pylint: disable=g-import-not-at-top
    from ray.tune.search import basic_variant  # pylint: disable=g-import-not-at-top
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback  # pylint: disable=g-import-not-at-top
  except ImportError:
    common.fail("launch/sweep.py needs Ray Tune: pip install -e '.[sweep]'")
  from meta_rl import sweep as sweep_lib  # pylint: disable=g-import-not-at-top

  launcher = os.path.abspath(FLAGS.launcher)
  try:
    module = load_launcher(launcher)
    fv = launcher_flags(module, launcher_argv)
    job = common.job_from_flags(module.make_task, fv)
    metric, mode = task_specs.sweep_metric(job.task.make_core())
  except (flags.Error, ValueError, OSError) as e:
    common.fail(str(e).splitlines()[0])
  name = os.path.splitext(os.path.basename(launcher))[0]
  space = _resolve_space(name)
  _check_space(module, launcher_argv, space)

  sweep_dir = os.path.abspath(FLAGS.sweep_dir)
  settings = {
      'launcher': os.path.relpath(launcher, REPO),
      'launcher_args': list(launcher_argv),
      'space': sweep_lib.space_spec(space),
      'num_samples': FLAGS.num_samples, 'top_k': FLAGS.top_k,
      'eval_episodes': FLAGS.eval_episodes, 'eval_seed': FLAGS.eval_seed,
      'search_seed': FLAGS.search_seed, 'scheduler': FLAGS.scheduler,
      'metric': metric, 'mode': mode}
  if FLAGS.scheduler == 'asha':
    settings.update(asha_grace_fraction=FLAGS.asha_grace_fraction,
                    asha_reduction_factor=FLAGS.asha_reduction_factor)
  rerun = _check_sweep_dir(sweep_dir, settings)

  os.environ['TUNE_DISABLE_STRICT_METRIC_CHECKING'] = '1'
  # No TensorBoardX logger of Tune's: its HParams in each trial dir would
  # hide the run's own (config.json, written by the runner), which the
  # HParams dashboard compares trials by. result.json and progress.csv stay.
  os.environ['TUNE_DISABLE_AUTO_CALLBACK_LOGGERS'] = '1'
  os.environ.setdefault('RAY_AIR_NEW_OUTPUT', '0')
  env_vars = {'TF_CPP_MIN_LOG_LEVEL': '2', 'PYTHONPATH': os.pathsep.join(
      [REPO, os.path.join(REPO, 'launch')])}
  try:
    if FLAGS.ray_address:
      ray.init(address=FLAGS.ray_address, runtime_env={'env_vars': env_vars},
               log_to_driver=False, logging_level='ERROR')
    else:
      # --max_concurrent_trials as a resource of the embedded Ray that every
      # trial holds one of: Tune's own limit (TuneConfig) only holds back new
      # trials, and a continued sweep (Tuner.restore) keeps the first run's
      # and starts all its pending trials at once (ray-project/ray#40652).
      ray.init(address='local', num_cpus=FLAGS.num_cpus or os.cpu_count(),
               resources={TRIAL_SLOT: FLAGS.max_concurrent_trials or
                          UNLIMITED_SLOTS},
               include_dashboard=False, log_to_driver=False,
               logging_level='ERROR', runtime_env={'env_vars': env_vars})
  except (ConnectionError, RuntimeError, ValueError) as e:
    common.fail(f'cannot start or reach Ray: {str(e).splitlines()[0]}')
  cpus = ray.cluster_resources().get('CPU', 0)
  if FLAGS.num_cpus_per_trial > cpus:
    common.fail(f'--num_cpus_per_trial={FLAGS.num_cpus_per_trial} exceeds the '
                f'{cpus:g} CPUs of the Ray cluster')

  param_space = {p.name: p.to_tune() for p in space.values()}
  grid = 1
  for p in space.values():
    if p.kind == 'grid':
      grid *= len(p.args)
  total = FLAGS.num_samples * grid
  trainable = tune.with_resources(
      tune.with_parameters(
          _trial, launcher=launcher, launcher_args=list(launcher_argv),
          trials_dir=os.path.join(sweep_dir, TRIALS), workdir=os.getcwd(),
          eval_episodes=FLAGS.eval_episodes, eval_seed=FLAGS.eval_seed,
          num_threads=max(1, int(FLAGS.num_cpus_per_trial))),
      dict({'cpu': FLAGS.num_cpus_per_trial},
           **({} if FLAGS.ray_address else {TRIAL_SLOT: 1})))
  scheduler = None
  if FLAGS.scheduler == 'asha':
    from ray.tune.schedulers import ASHAScheduler  # pylint: disable=g-import-not-at-top
    scheduler = ASHAScheduler(
        time_attr='env_steps', metric=metric, mode=mode,
        max_t=job.train.total_steps,
        grace_period=max(1, int(FLAGS.asha_grace_fraction *
                                job.train.total_steps)),
        reduction_factor=FLAGS.asha_reduction_factor,
        # A trial at --total_steps still exports and is evaluated: ASHA must
        # not stop it at its last progress report.
        stop_last_trials=False)
  path = os.path.join(sweep_dir, TRIALS)
  started = time.time()
  print(f'[sweep] {total} trials of {settings["launcher"]} '
        f'({FLAGS.num_cpus_per_trial:g} CPU each, {cpus:g} CPUs) into '
        f'{sweep_dir}; metric {metric} ({mode})', file=sys.stderr)
  if rerun and tune.Tuner.can_restore(path):
    print('[sweep] continuing the sweep in ' + sweep_dir, file=sys.stderr)
    tuner = tune.Tuner.restore(path, trainable=trainable,
                               param_space=param_space,
                               resume_unfinished=True, resume_errored=False,
                               restart_errored=False)
  else:
    tuner = tune.Tuner(
        trainable, param_space=param_space,
        tune_config=tune.TuneConfig(
            num_samples=FLAGS.num_samples, scheduler=scheduler,
            search_alg=basic_variant.BasicVariantGenerator(
                random_state=FLAGS.search_seed),
            max_concurrent_trials=FLAGS.max_concurrent_trials or None,
            reuse_actors=False, trial_dirname_creator=_trial_dirname),
        run_config=tune.RunConfig(
            name=TRIALS, storage_path=sweep_dir, verbose=0,
            failure_config=tune.FailureConfig(max_failures=FLAGS.max_failures),
            callbacks=[_progress_callback(total, metric, sweep_dir),
                       JsonLoggerCallback(), CSVLoggerCallback()]))
  results = tuner.fit()
  trials = _collect(results, sweep_dir)
  title = (f'{name} on {job.task.name}: {len(trials)} trials of '
           f'{progress.format_count(job.train.total_steps)} steps')
  paths = sweep_lib.write_report(sweep_dir, trials, FLAGS.top_k, metric, mode,
                                 title, space)
  s = sweep_lib.summary(trials, FLAGS.top_k, mode)
  print(sweep_lib.report_table(trials, FLAGS.top_k, metric, mode))
  if s['second_half_mean'] is not None:
    print(f'top {len(s["selected"])} on the second half: {metric} '
          f'{s["second_half_mean"]:.4f}; best setting '
          + ' '.join(trial_args({k: f'{v:.6g}' if isinstance(v, float) else v
                                 for k, v in s['best_params'].items()})))
  print(f'{s["counts"]["finished"]} finished, {s["counts"]["failed"]} failed, '
        f'{s["counts"]["stopped"]} stopped, {s["counts"]["unfinished"]} '
        f'unfinished in {progress.format_duration(time.time() - started)}; '
        f'wrote {", ".join(paths.values())}'
        + ('' if 'png' in paths else
           ' (no figure: matplotlib, of the analysis extra, is missing)'))
  if s['counts']['unfinished']:
    # Only an interruption (Ctrl-C, which Tune catches to save the sweep)
    # leaves trials unfinished: exit as the launchers do on SIGINT.
    print(f'[sweep] {s["counts"]["unfinished"]} trials unfinished (interrupted);'
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
        load_launcher(launcher).define_flags(fv)
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
