"""A sweep on Ray Tune: trials trained, evaluated frozen and reported.

    trials, paths = tune.run_sweep(make_job, space, 'sweeps/exp1',
                                   tune.SweepConfig(num_samples=100),
                                   settings={'launcher': ...})

`make_job(params, run_dir)` gives what `meta_rl.experiment.train` takes for
one trial (an object with `task`, `agent`, `a2c`, `train`, `run` and
`metadata`, as `common.job_from_flags` (launch/common/jobs.py) builds from a
launcher's flags plus the trial's sampled `params`); it is pickled to the Ray workers, so it
must be importable there (a module-level function, or a `functools.partial`
of one). A trial runs in a Ray worker: `make_job`, then `experiment.train`
into SWEEP_DIR/trials/<trial id>/ (an ordinary run dir, next to Tune's
files), then its SavedModel is evaluated frozen (`trials.evaluate_trial`).
The top `top_k` are chosen on the first half of the test episodes and
reported on the second half (`report.write_report`).

Ray: embedded on this machine by default (trials of `num_cpus_per_trial`
CPUs each, as many at once as fit, at most `max_concurrent_trials`), or an
existing cluster (`ray_address`: 'auto' or HOST:PORT; every node needs this
project installed at the same path, and the sweep dir on a file system all
nodes share).

Calling `run_sweep` again with the same settings continues an interrupted
sweep (Ctrl-C, kill, lost node): finished trials are kept, interrupted ones
resume from their last checkpoint, failed ones stay failed (with their error
in the report). Another sweep in the same directory is refused
(`SweepError`). Problems are one-line `SweepError`s naming settings in
backticks (`num_cpus_per_trial`), as the rest of the library does.
"""

import dataclasses
import json
import os
import sys
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from meta_rl.run import progress, rundir
from meta_rl.sweep import report as report_lib
from meta_rl.sweep import trials as trials_lib
from meta_rl.sweep.space import Param

SCHEDULERS = ('none', 'asha')
SWEEP_FILE = 'sweep.json'  # the sweep's settings: a rerun must match them
STOPPED_FILE = 'stopped.txt'  # trials the scheduler stopped early
TRIALS = 'trials'  # Tune's experiment name: SWEEP_DIR/trials/<trial id>/
# A custom resource of the embedded Ray, one per trial that may run at once
# (`max_concurrent_trials`; 0: more than any sweep has trials).
TRIAL_SLOT = 'meta_rl_trial_slot'
UNLIMITED_SLOTS = 1_000_000


class SweepError(ValueError):
  """A sweep that cannot run as asked (one line)."""


@dataclasses.dataclass(frozen=True)
class SweepConfig:
  """How a sweep runs.

  Attributes:
    num_samples: settings sampled from the search space (times the size of
      its grid items).
    top_k: trials selected on the first half of the test episodes and
      reported on the second half.
    eval_episodes: frozen test episodes per trial (the paper: 300).
    eval_seed: seed of the test episodes (the same for every trial).
    search_seed: seed of the random search.
    num_cpus_per_trial: CPUs Ray reserves for each trial (TensorFlow uses as
      many threads).
    max_concurrent_trials: at most this many trials at once (0: as many as
      the CPUs fit).
    ray_address: an existing Ray cluster ('auto' or HOST:PORT); None starts
      Ray embedded.
    num_cpus: CPUs of the embedded Ray (None: all of this machine).
    scheduler: 'none' (every trial trains its full total_steps) or 'asha'
      (stops poor trials early on the training metric).
    asha_grace_fraction: ASHA: fraction of total_steps every trial trains
      before it may be stopped.
    asha_reduction_factor: ASHA's reduction factor.
    max_failures: retries of a trial that errors (a lost node, a crash),
      each resuming from its checkpoint.
  """
  num_samples: int = 20
  top_k: int = 5
  eval_episodes: int = 300
  eval_seed: int = 12345
  search_seed: int = 0
  num_cpus_per_trial: float = 1
  max_concurrent_trials: int = 0
  ray_address: Optional[str] = None
  num_cpus: Optional[int] = None
  scheduler: str = 'none'
  asha_grace_fraction: float = 0.1
  asha_reduction_factor: int = 3
  max_failures: int = 1

  def __post_init__(self):
    for name in ('num_samples', 'top_k'):
      if getattr(self, name) < 1:
        raise SweepError(f'`{name}` must be positive')
    if self.max_failures < 0:
      raise SweepError('`max_failures` must be >= 0')
    if self.eval_episodes < 2:
      raise SweepError('`eval_episodes` must be >= 2 (two halves)')
    if not self.num_cpus_per_trial > 0:
      raise SweepError('`num_cpus_per_trial` must be positive')
    if self.max_concurrent_trials < 0:
      raise SweepError('`max_concurrent_trials` must be >= 0')
    if self.scheduler not in SCHEDULERS:
      raise SweepError(f'`scheduler` must be one of {", ".join(SCHEDULERS)}, '
                       f'got {self.scheduler!r}')
    if not 0 < self.asha_grace_fraction <= 1:
      raise SweepError('`asha_grace_fraction` must be in (0, 1]')
    if self.asha_reduction_factor < 2:
      raise SweepError('`asha_reduction_factor` must be >= 2')

  def settings(self) -> Dict[str, Any]:
    """What a continued sweep must share with the first run of it."""
    out = {k: getattr(self, k) for k in (
        'num_samples', 'top_k', 'eval_episodes', 'eval_seed', 'search_seed',
        'scheduler')}
    if self.scheduler == 'asha':
      out.update(asha_grace_fraction=self.asha_grace_fraction,
                 asha_reduction_factor=self.asha_reduction_factor)
    return out


def trial_args(params: Mapping[str, Any]) -> List[str]:
  """`--name=value` of each sampled parameter (a trial's flags)."""
  return [f'--{k}={v}' for k, v in sorted(params.items())]


def summary_text(trials: Sequence[trials_lib.Trial], paths: Mapping[str, str],
                 top_k: int, metric: str, mode: str,
                 seconds: float) -> Tuple[str, int]:
  """What a finished sweep prints: the report's table, the selection on the
  second half with the best setting, the counts of trials and the files
  written (`paths`). Returns `(text, unfinished trials)`."""
  s = trials_lib.summary(trials, top_k, mode)
  lines = [report_lib.report_table(trials, top_k, metric, mode)]
  if s['second_half_mean'] is not None:
    lines.append(
        f'top {len(s["selected"])} on the second half: {metric} '
        f'{s["second_half_mean"]:.4f}; best setting '
        + ' '.join(trial_args(
            {k: f'{v:.6g}' if isinstance(v, float) else v
             for k, v in s['best_params'].items()})))
  lines.append(
      f'{s["counts"]["finished"]} finished, {s["counts"]["failed"]} failed, '
      f'{s["counts"]["stopped"]} stopped, {s["counts"]["unfinished"]} '
      f'unfinished in {progress.format_duration(seconds)}; '
      f'wrote {", ".join(paths.values())}'
      + ('' if 'png' in paths else
         ' (no figure: matplotlib, of the analysis extra, is missing)'))
  return '\n'.join(lines), s['counts']['unfinished']


def check_sweep_dir(sweep_dir: str, settings: Mapping[str, Any]) -> bool:
  """Writes SWEEP_DIR/sweep.json and returns False; or, if it is there,
  returns True when it holds the same sweep. SweepError otherwise."""
  path = os.path.join(sweep_dir, SWEEP_FILE)
  if os.path.exists(path):
    try:
      with open(path) as f:
        saved = json.load(f)
    except (OSError, ValueError) as e:
      raise SweepError(f'{path} is not a sweep description ({e})') from e
    saved = json.loads(json.dumps(saved))
    current = json.loads(json.dumps(dict(settings)))
    for k in sorted(set(saved) | set(current)):
      if saved.get(k) != current.get(k):
        raise SweepError(f'{sweep_dir} holds another sweep: {k} was '
                         f'{saved.get(k)!r}, now {current.get(k)!r}; choose '
                         'another `sweep_dir`')
    return True
  if os.path.exists(sweep_dir) and os.listdir(sweep_dir):
    raise SweepError(f'`sweep_dir` {sweep_dir} exists and holds no sweep; '
                     'choose another')
  try:
    os.makedirs(sweep_dir, exist_ok=True)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
      json.dump(dict(settings), f, indent=1)
    os.replace(tmp, path)
  except OSError as e:
    raise SweepError(f'cannot write {path}: {e.strerror}') from e
  return False


def run_sweep(make_job: Callable[[Dict[str, Any], str], Any],
              space: Mapping[str, Param], sweep_dir: str, config: SweepConfig,
              *, metric: str, mode: str, total_steps: int, title: str,
              settings: Optional[Mapping[str, Any]] = None,
              pythonpath: Sequence[str] = (),
              workdir: Optional[str] = None
              ) -> Tuple[List[trials_lib.Trial], Dict[str, str]]:
  """Runs (or continues) the sweep in `sweep_dir` on Ray Tune and writes its
  report. Returns `(trials, report paths)`; a Ctrl-C ends the fit with the
  sweep saved and its trials 'unfinished'.

  Args:
    make_job: `make_job(params, run_dir)`, see the module docstring.
    space: the search space (`space.parse_space`).
    sweep_dir: the sweep's directory (created).
    config: how the sweep runs.
    metric, mode: the trials' score and 'min' or 'max'
      (`task_specs.sweep_metric` of the task).
    total_steps: the trials' training length (ASHA's horizon).
    title: the report's title, before ': N trials of S steps'.
    settings: more entries for SWEEP_DIR/sweep.json (e.g. the launcher and
      its flags), which a continued sweep must match too.
    pythonpath: folders the Ray workers need on their path (where
      `make_job`'s module lives).
    workdir: the directory a trial runs in (relative paths among its
      settings mean what they meant there; default: the current one).
  Raises:
    SweepError: another sweep in `sweep_dir`, Ray missing or unreachable, a
      trial larger than the cluster.
  """
  try:
    import ray  # pylint: disable=g-import-not-at-top
    from ray import tune  # pylint: disable=g-import-not-at-top
    from ray.tune.search import basic_variant  # pylint: disable=g-import-not-at-top
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise SweepError("sweeps need Ray Tune: pip install -e '.[sweep]'") from e
  from meta_rl.sweep import space as space_lib  # pylint: disable=g-import-not-at-top
  sweep_dir = os.path.abspath(sweep_dir)
  settings = dict(settings or {})
  described = dict(settings, space=space_lib.space_spec(space),
                   metric=metric, mode=mode, **config.settings())
  rerun = check_sweep_dir(sweep_dir, described)

  os.environ['TUNE_DISABLE_STRICT_METRIC_CHECKING'] = '1'
  # No TensorBoardX logger of Tune's: its HParams in each trial dir would
  # hide the run's own (config.json, written by the runner), which the
  # HParams dashboard compares trials by. result.json and progress.csv stay.
  os.environ['TUNE_DISABLE_AUTO_CALLBACK_LOGGERS'] = '1'
  os.environ.setdefault('RAY_AIR_NEW_OUTPUT', '0')
  # The workers' path: `pythonpath`, then the caller's own PYTHONPATH.
  paths = list(pythonpath) + [p for p in os.environ.get(
      'PYTHONPATH', '').split(os.pathsep) if p]
  env_vars = {'TF_CPP_MIN_LOG_LEVEL': '2'}
  if paths:
    env_vars['PYTHONPATH'] = os.pathsep.join(paths)
  try:
    if config.ray_address:
      ray.init(address=config.ray_address, runtime_env={'env_vars': env_vars},
               log_to_driver=False, logging_level='ERROR')
    else:
      # max_concurrent_trials as a resource of the embedded Ray that every
      # trial holds one of: Tune's own limit (TuneConfig) only holds back new
      # trials, and a continued sweep (Tuner.restore) keeps the first run's
      # and starts all its pending trials at once (ray-project/ray#40652).
      ray.init(address='local', num_cpus=config.num_cpus or os.cpu_count(),
               resources={TRIAL_SLOT: config.max_concurrent_trials or
                          UNLIMITED_SLOTS},
               include_dashboard=False, log_to_driver=False,
               logging_level='ERROR', runtime_env={'env_vars': env_vars})
  except (ConnectionError, RuntimeError, ValueError) as e:
    raise SweepError(
        f'cannot start or reach Ray: {str(e).splitlines()[0]}') from e
  cpus = ray.cluster_resources().get('CPU', 0)
  if config.num_cpus_per_trial > cpus:
    raise SweepError(f'`num_cpus_per_trial`={config.num_cpus_per_trial} '
                     f'exceeds the {cpus:g} CPUs of the Ray cluster')

  param_space = {p.name: p.to_tune() for p in space.values()}
  grid = 1
  for p in space.values():
    if p.kind == 'grid':
      grid *= len(p.args)
  total = config.num_samples * grid
  trials_dir = os.path.join(sweep_dir, TRIALS)
  trainable = tune.with_resources(
      tune.with_parameters(
          _trial, make_job=make_job, trials_dir=trials_dir,
          workdir=workdir or os.getcwd(),
          eval_episodes=config.eval_episodes, eval_seed=config.eval_seed,
          num_threads=max(1, int(config.num_cpus_per_trial))),
      dict({'cpu': config.num_cpus_per_trial},
           **({} if config.ray_address else {TRIAL_SLOT: 1})))
  scheduler = None
  if config.scheduler == 'asha':
    from ray.tune.schedulers import ASHAScheduler  # pylint: disable=g-import-not-at-top
    scheduler = ASHAScheduler(
        time_attr='env_steps', metric=metric, mode=mode, max_t=total_steps,
        grace_period=max(1, int(config.asha_grace_fraction * total_steps)),
        reduction_factor=config.asha_reduction_factor,
        # A trial at total_steps still exports and is evaluated: ASHA must
        # not stop it at its last progress report.
        stop_last_trials=False)
  _say(f'{total} trials of {settings.get("launcher", title)} '
       f'({config.num_cpus_per_trial:g} CPU each, {cpus:g} CPUs) into '
       f'{sweep_dir}; metric {metric} ({mode})')
  if rerun and tune.Tuner.can_restore(trials_dir):
    _say('continuing the sweep in ' + sweep_dir)
    tuner = tune.Tuner.restore(trials_dir, trainable=trainable,
                               param_space=param_space,
                               resume_unfinished=True, resume_errored=False,
                               restart_errored=False)
  else:
    tuner = tune.Tuner(
        trainable, param_space=param_space,
        tune_config=tune.TuneConfig(
            num_samples=config.num_samples, scheduler=scheduler,
            search_alg=basic_variant.BasicVariantGenerator(
                random_state=config.search_seed),
            max_concurrent_trials=config.max_concurrent_trials or None,
            reuse_actors=False, trial_dirname_creator=_trial_dirname),
        run_config=tune.RunConfig(
            name=TRIALS, storage_path=sweep_dir, verbose=0,
            failure_config=tune.FailureConfig(max_failures=config.max_failures),
            callbacks=[_progress_callback(total, metric, sweep_dir),
                       JsonLoggerCallback(), CSVLoggerCallback()]))
  results = tuner.fit()
  trials = _collect(results, sweep_dir, config)
  title = (f'{title}: {len(trials)} trials of '
           f'{progress.format_count(total_steps)} steps')
  paths = report_lib.write_report(sweep_dir, trials, config.top_k, metric,
                                  mode, title, space)
  return trials, paths


def _say(text: str) -> None:
  print(f'[sweep] {text}', file=sys.stderr, flush=True)


def _trial(params, *, make_job, trials_dir, workdir, eval_episodes, eval_seed,
           num_threads):
  """One trial, in a Ray worker: train into the Tune trial directory
  TRIALS_DIR/<trial id> (or resume there), export, evaluate frozen, report
  to Tune. An error is re-raised as one line (`_one_line`) for the report.
  Runs in `workdir`, the sweep's directory of origin, so that relative paths
  among the trial's settings (e.g. a maze file) mean what they meant there."""
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
      job = make_job(dict(params), run_dir)
      job.metadata['sweep_params'] = dict(params)
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
  from meta_rl import experiment  # pylint: disable=g-import-not-at-top
  from meta_rl import export  # pylint: disable=g-import-not-at-top
  run_dir = job.run.run_dir
  saved = os.path.join(run_dir, 'saved_model')
  if not (os.path.isdir(saved) and os.listdir(saved)):
    run = dataclasses.replace(
        job.run, handle_signals=False, adopt_dir=True,
        resume=os.path.exists(os.path.join(run_dir, rundir.CONFIG_FILE)))
    result = experiment.train(
        job.task, job.agent, job.a2c, job.train, run, metadata=job.metadata,
        log=lambda line: print(line, file=log_file), on_log=on_log)
    if result.stopped_early:
      raise RuntimeError(f'stopped by signal {result.stopped_by}')
  saved = export.latest_version_dir(saved)
  print(f'evaluating {saved} on {eval_episodes} episodes', file=log_file)
  evaluation = trials_lib.evaluate_trial(saved, eval_episodes, eval_seed)
  trials_lib.save_evaluation(run_dir, evaluation)
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

    def on_trial_start(self, iteration, trials, trial, **info):
      _say(f'started {trial.trial_id} ' + ' '.join(trial_args(
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
      _say(f'{finished}/{total} trials done, {len(running)} running '
           f'({"; ".join(parts)}), elapsed '
           f'{progress.format_duration(elapsed)}{eta}')

    def on_trial_complete(self, iteration, trials, trial, **info):
      self.done += 1
      r = self.latest.get(trial.trial_id, {})
      score = r.get('eval_first')
      if score is None:
        with open(os.path.join(sweep_dir, STOPPED_FILE), 'a') as f:
          print(trial.trial_id, file=f)
        _say(f'stopped {trial.trial_id} at '
             f'{progress.format_count(r.get("env_steps", 0))} steps by the '
             'scheduler')
      else:
        _say(f'finished {trial.trial_id}: {metric} {score:.4f} on the first '
             'half of the test episodes')

    def on_trial_error(self, iteration, trials, trial, **info):
      self.failed += 1
      _say(f'failed {trial.trial_id}: {_error_line(trial.error_file)}')

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


def _collect(results, sweep_dir, config):
  """`trials.Trial`s from Tune's trials; a finished trial without an
  evaluation (e.g. one that exported just before an interruption) is
  evaluated here."""
  from meta_rl import export  # pylint: disable=g-import-not-at-top
  try:
    with open(os.path.join(sweep_dir, STOPPED_FILE)) as f:
      stopped = set(f.read().split())
  except OSError:
    stopped = set()
  out = []
  # Tune's trial objects (with their status), behind the ResultGrid.
  for t in results._experiment_analysis.trials:  # pylint: disable=protected-access
    run_dir = os.path.join(sweep_dir, TRIALS, t.trial_id)
    last = t.last_result or {}
    trial = trials_lib.Trial(
        trial_id=t.trial_id, run_dir=os.path.relpath(run_dir, sweep_dir),
        params=dict(t.config), status='unfinished',
        env_steps=last.get('env_steps'), seconds=last.get('time_total_s'),
        node=last.get('node_id'))
    evaluation = trials_lib.load_evaluation(run_dir)
    saved = os.path.join(run_dir, 'saved_model')
    if evaluation is None and t.status != 'ERROR' and os.path.isdir(saved) and (
        os.listdir(saved)):
      evaluation = trials_lib.evaluate_trial(
          export.latest_version_dir(saved), config.eval_episodes,
          config.eval_seed)
      trials_lib.save_evaluation(run_dir, evaluation)
    if evaluation is not None:
      trial.status, trial.evaluation = 'finished', evaluation
    elif t.status == 'ERROR':
      trial.status = 'failed'
      trial.error = _error_line(os.path.join(run_dir, 'error.txt'))
    elif t.trial_id in stopped:
      trial.status = 'stopped'
    out.append(trial)
  return sorted(out, key=lambda t: t.trial_id)
