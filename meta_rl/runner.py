"""The Python shell around a trainer: run directory, checkpoints, TensorBoard,
progress lines.

Run directory layout:
    RUN_DIR/config.json         the configuration of the run (task, agent, A2C
                                and training configs as JSON)
    RUN_DIR/checkpoints/        tf.train.CheckpointManager checkpoints
    RUN_DIR/tb/                 TensorBoard event files: scalars, histograms,
                                the run's configuration (HParams)
    RUN_DIR/tb/eval/<policy>/   evaluation results (`evaluation.write_tensorboard`)
    RUN_DIR/saved_model/<v>/    exported SavedModels (TF Serving base path)

TensorBoard (`run`): every progress line writes every scalar of the window;
at a lower rate (`histogram_every_secs`) histograms of the latest update's
policy logits and values and of each layer's gradient norm over the updates
since the previous histograms; once per run, the configuration (config.json
flattened) as HParams, with the run's episode metrics and its evaluation
results declared as the HParams dashboard's metrics (`write_hparams`).
"""

import dataclasses
import json
import math
import os
import shutil
import signal
import sys
import time
from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from meta_rl import files
from meta_rl import metrics as metrics_lib
from meta_rl.training import NonFiniteLossError

CONFIG_FILE = 'config.json'


class RunDirError(ValueError):
  """The run directory cannot be used as asked (exists, missing, mismatch)."""


class DiskFullError(RunDirError):
  """No space left on the device while writing the run's files; what was
  written before is intact (checkpoints and exports are atomic)."""


def is_disk_full(e: BaseException) -> bool:
  """Whether `e` is a write that failed for want of space (TensorFlow's
  ResourceExhaustedError or an OSError with ENOSPC)."""
  import errno  # pylint: disable=g-import-not-at-top
  if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
    return True
  text = getattr(e, 'message', None) or str(e)
  return isinstance(e, (tf.errors.ResourceExhaustedError, OSError,
                        tf.errors.UnknownError)) and (
                            'No space left on device' in text or
                            'Disk quota exceeded' in text)


HPARAMS_SESSION_TAG = '_hparams_/session_start_info'


def _flatten(config, prefix=''):
  out = {}
  for k, v in config.items():
    if isinstance(v, dict) and v:
      out.update(_flatten(v, f'{prefix}{k}.'))
    else:
      out[f'{prefix}{k}'] = v
  return out


# The lock file of the process that holds a run dir (`RunDirLock`).
LOCK_FILE = '.lock'
# What a run writes into its run dir (see the layout above).
RUN_ENTRIES = (CONFIG_FILE, 'checkpoints', 'tb', 'saved_model', LOCK_FILE)


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # someone else's live process
    return True
  return True


class RunDirLock:
  """One process per run dir: RUN_DIR/.lock holds the holder's pid under
  an exclusive `flock`, which the system drops when the holder dies however
  it dies. A second process refuses at once (RunDirError naming the holder's
  pid); a lock file left by a dead process (its flock is gone) is taken over
  with a line saying so. `release` (also on `with` exit) removes the file.
  Creates the run dir if needed (`created` says whether it did).
  """

  def __init__(self, run_dir: str, log: Optional[Callable[[str], None]] = None):
    import fcntl  # pylint: disable=g-import-not-at-top  # POSIX only
    self.run_dir = run_dir
    self.path = os.path.join(run_dir, LOCK_FILE)
    self.created = not os.path.exists(run_dir)
    os.makedirs(run_dir, exist_ok=True)
    self._fd = None
    while self._fd is None:
      fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except OSError:
        holder = self._read_pid(fd)
        os.close(fd)
        raise RunDirError(
            f'run dir {run_dir} is in use by process '
            f'{holder if holder is not None else "(unknown)"} ({self.path}); '
            'wait for it to end or choose another run dir') from None
      # The holder before us may have removed the file after we opened it
      # (`release`): then we hold a lock on a file no one else will open.
      try:
        same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
      except OSError:
        same = False
      if same:
        self._fd = fd
      else:
        os.close(fd)
    try:
      stale = self._read_pid(self._fd)
      if stale is not None and stale != os.getpid() and log:
        alive = 'ended' if not _pid_alive(stale) else 'no longer holds it'
        log(f'taking over the lock of process {stale} on {run_dir} (it '
            f'{alive})')
      os.ftruncate(self._fd, 0)
      os.pwrite(self._fd, f'{os.getpid()}\n'.encode(), 0)
      os.fsync(self._fd)
    except BaseException:
      self.release(remove_dir=True)
      raise

  @staticmethod
  def _read_pid(fd) -> Optional[int]:
    try:
      text = os.pread(fd, 32, 0).decode(errors='replace').strip()
    except OSError:
      return None
    return int(text) if text.isdigit() else None

  def release(self, remove_dir: bool = False) -> None:
    """Removes the lock file, then drops the lock (a process waiting on the
    removed file sees that it is gone and takes a new one); with
    `remove_dir`, also the run dir if this lock created it and it is empty
    now."""
    if self._fd is None:
      return
    try:
      os.remove(self.path)
    except OSError:
      pass
    os.close(self._fd)
    self._fd = None
    if remove_dir and self.created:
      try:
        os.rmdir(self.run_dir)
      except OSError:
        pass

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.release()


# Settings that a resumed run may change: a larger `total_steps` extends the
# run (a smaller one ends it sooner); its schedules keep their length
# (`TrainConfig.schedule_steps`, which `experiment.train` sets).
RESUME_MAY_CHANGE = ('train.total_steps',)


def read_run_config(run_dir: str) -> Dict[str, Any]:
  """The run's config.json; RunDirError (one line) if missing or damaged."""
  path = os.path.join(run_dir, CONFIG_FILE)
  if not os.path.exists(path):
    raise RunDirError(f'no {CONFIG_FILE} in {run_dir}')
  try:
    with open(path) as f:
      saved = json.load(f)
  except OSError as e:
    raise RunDirError(f'cannot read {path}: {e.strerror}') from e
  except ValueError as e:
    raise RunDirError(f'{path} is not a run configuration ({e})') from e
  if not isinstance(saved, dict) or not saved:
    raise RunDirError(f'{path} is not a run configuration (holds '
                      f'{json.dumps(saved)[:40]})')
  return saved


def _write_config(path: str, config: Dict[str, Any]) -> None:
  """Writes config.json whole or not at all (`files.atomic_file`)."""
  with files.atomic_file(path) as f:
    json.dump(config, f, indent=2, sort_keys=True, default=str)


def _with_schedule(flat: Dict[str, Any]) -> Dict[str, Any]:
  """`flat` with an unset `train.schedule_steps` made explicit (it is then
  `train.total_steps`), so runs written before the setting existed and
  extended runs compare alike."""
  if flat.get('train.schedule_steps') is None and 'train.total_steps' in flat:
    flat = dict(flat)
    flat['train.schedule_steps'] = flat['train.total_steps']
  return flat


def prepare_run_dir(run_dir: str, config: Dict[str, Any], resume: bool,
                    defaults: Optional[Dict[str, Any]] = None,
                    adopt: bool = False) -> bool:
  """Creates `run_dir` for a new run, or checks it for `resume`.

  A new run refuses an existing directory that holds a checkpoint or an
  export, or files other than a run's entries (`RUN_ENTRIES`; with `adopt`
  such files, e.g. those Ray Tune puts in a trial directory before the trial
  starts, are kept); the entries of a run that failed before its first
  checkpoint are replaced. It writes `config` (JSON-serialisable, may be
  nested) to config.json. A resumed run needs the run's config.json (a
  damaged one is a one-line RunDirError) and the same configuration, every
  entry included, except `RESUME_MAY_CHANGE` (`train.total_steps`: the new
  value is written to config.json; the schedules' length,
  `train.schedule_steps`, unset meaning `train.total_steps`, must stay).
  A setting missing from an older run's config.json counts as equal when
  its value is the one `defaults` (nested like `config`) gives it: a setting
  added later with a default that keeps the old behaviour.
  Returns True if there are checkpoint files to restore (a run killed
  before its first checkpoint resumes from scratch).
  """
  path = os.path.join(run_dir, CONFIG_FILE)
  if not resume:
    present = os.listdir(run_dir) if os.path.exists(run_dir) else []
    others = [p for p in present if p not in RUN_ENTRIES]
    if (others and not adopt) or _has_progress(run_dir):
      raise RunDirError(f'run dir {run_dir} exists; resume it (--resume) or '
                        'choose another run dir')
    # A run that failed before its first checkpoint (and export) left
    # nothing to resume: its entries are replaced.
    for p in present:
      if p in RUN_ENTRIES and p not in (CONFIG_FILE, LOCK_FILE):
        shutil.rmtree(os.path.join(run_dir, p), ignore_errors=True)
    os.makedirs(run_dir, exist_ok=True)
    _write_config(path, config)
    return False
  try:
    saved = _flatten(read_run_config(run_dir))
  except RunDirError as e:
    raise RunDirError(f'cannot resume {run_dir}: {e}') from e
  current = _flatten(json.loads(json.dumps(config, default=str)))
  known = _flatten(json.loads(json.dumps(defaults or {}, default=str)))
  for k, v in current.items():
    if k not in saved and k in known and known[k] == v:
      saved[k] = v
  saved, current = _with_schedule(saved), _with_schedule(current)
  diff = sorted(k for k in set(saved) | set(current)  # NaN equals NaN
                if json.dumps(saved.get(k)) != json.dumps(current.get(k)))
  changed = [k for k in diff if k in RESUME_MAY_CHANGE]
  diff = [k for k in diff if k not in RESUME_MAY_CHANGE]
  if diff:
    k = diff[0]
    raise RunDirError(f'cannot resume {run_dir}: {k} was {saved.get(k)!r}, '
                      f'now {current.get(k)!r} ({len(diff)} setting(s) differ)')
  if changed:
    _write_config(path, config)
  return bool(disk_checkpoints(os.path.join(run_dir, 'checkpoints')))


def _has_progress(run_dir: str) -> bool:
  """Whether `run_dir` holds a checkpoint (kept ones included) or an
  export (anything in saved_model/)."""
  checkpoints = os.path.join(run_dir, 'checkpoints')
  exports = os.path.join(run_dir, 'saved_model')
  return bool(disk_checkpoints(checkpoints) or
              disk_checkpoints(os.path.join(checkpoints, KEPT)) or
              (os.path.isdir(exports) and os.listdir(exports)) or
              (os.path.exists(exports) and not os.path.isdir(exports)))


def disk_checkpoints(directory: str) -> Dict[int, str]:
  """{update: prefix} of the checkpoints whose files are in `directory`
  (a `ckpt-N.index` or `ckpt-N.data-*` file), whatever its `checkpoint`
  index file says; oldest first."""
  found = {}
  for f in tf.io.gfile.glob(os.path.join(directory, 'ckpt-*')):
    base = os.path.basename(f)
    number = base[len('ckpt-'):].split('.', 1)[0]
    if number.isdigit() and base.split('.', 1)[-1].startswith(
        ('index', 'data-')):
      found[int(number)] = os.path.join(directory, f'ckpt-{int(number)}')
  return dict(sorted(found.items()))


def _remove_stale_temps(directory: str) -> list:
  """Removes the `ckpt-N_temp*` folders (and index temp files) that
  interrupted checkpoint writes leave behind; returns their names."""
  removed = []
  for sub in ('', KEPT):
    d = os.path.join(directory, sub)
    for f in (tf.io.gfile.glob(os.path.join(d, 'ckpt-*_temp*')) +
              tf.io.gfile.glob(os.path.join(d, 'checkpoint.tmp*')) +
              tf.io.gfile.glob(os.path.join(d, 'checkpoint.repair'))):
      if os.path.isdir(f):
        shutil.rmtree(f, ignore_errors=True)
      else:
        try:
          os.remove(f)
        except OSError:
          continue
      removed.append(os.path.relpath(f, directory))
  return removed


def _checkpoint_problem(prefix: str) -> Optional[str]:
  """Why checkpoint `prefix` cannot be restored from its files alone (a
  missing or unreadable .index or .data), or None."""
  if not os.path.exists(prefix + '.index'):
    return 'no .index file'
  if not tf.io.gfile.glob(prefix + '.data-*'):
    return 'no .data file'
  return None


def _one_line(e: BaseException) -> str:
  text = getattr(e, 'message', None) or str(e) or type(e).__name__
  return ' '.join(text.split())[:300]


def _restore_newest(trainer, directory: str, log, name: str):
  """Restores the newest checkpoint in `directory` (found on disk, not by
  the index file) that restores completely, logging each newer one skipped
  and why. Returns its prefix and the prefixes on disk up to it; raises
  RunDirError (one line) if there are checkpoints and none restores."""
  found = disk_checkpoints(directory)
  number, reasons = _newest_restorable(
      found, lambda prefix: trainer.checkpoint.restore(prefix).assert_consumed(),
      log, name)
  if number is not None:
    return found[number], [found[n] for n in found if n <= number]
  if found:
    raise RunDirError(f'cannot resume: no checkpoint in {directory} can be '
                      f'restored ({"; ".join(reasons)})')
  return None, []


def _newest_restorable(found: Dict[int, str], restore: Callable[[str], Any],
                       log, name: str):
  """The update of the newest checkpoint of `found` ({update: prefix})
  whose files are there and that `restore(prefix)` restores without an
  error, logging each newer one skipped and why; and the reasons
  (`ckpt-N: why`) of those skipped. (None, reasons) if none restores."""
  reasons = []
  for number in sorted(found, reverse=True):
    prefix = found[number]
    problem = _checkpoint_problem(prefix)
    if problem is None:
      try:
        restore(prefix)
      except Exception as e:  # pylint: disable=broad-except
        # Damaged files fail in many ways (OpError, IndexError, a proto
        # DecodeError, an AssertionError of assert_consumed...).
        problem = f'cannot be restored ({_one_line(e)})'
    if problem is None:
      return number, reasons
    reasons.append(f'ckpt-{number}: {problem}')
    log(f'[{name}] skipping damaged checkpoint {prefix}: {problem}')
  return None, reasons


def read_checkpoint(prefix: str) -> None:
  """Reads every tensor of checkpoint `prefix`, so that the reader checks
  the index and each tensor's checksum; raises what the reader raises
  (e.g. `tf.errors.DataLossError`) for damaged files."""
  reader = tf.train.load_checkpoint(prefix)
  for key in reader.get_variable_to_shape_map():
    reader.get_tensor(key)


def _index_latest(directory: str) -> Optional[str]:
  """The latest checkpoint the index file names, None if it is missing,
  empty or unreadable."""
  try:
    state = tf.train.get_checkpoint_state(directory)
  except Exception:  # pylint: disable=broad-except  # damaged index file
    return None
  return state.model_checkpoint_path if state else None


def _write_index(directory: str, latest: str, prefixes: Sequence[str]):
  """Rewrites the `checkpoint` index file (atomically) so that the
  manager's latest is `latest` and it rotates `prefixes` (oldest first)."""
  lines = [f'model_checkpoint_path: {json.dumps(os.path.basename(latest))}']
  lines += [f'all_model_checkpoint_paths: {json.dumps(os.path.basename(p))}'
            for p in prefixes]
  lines += ['all_model_checkpoint_timestamps: '
            f'{os.path.getmtime(p + ".index"):.6f}' for p in prefixes]
  path = os.path.join(directory, 'checkpoint')
  with open(path + '.repair', 'w') as f:
    f.write('\n'.join(lines) + '\n')
  os.replace(path + '.repair', path)


def _non_finite(trainer) -> Optional[str]:
  """The name of a checkpointed float variable (agent, optimizer) holding
  NaN or inf, or None."""
  variables = list(getattr(getattr(trainer, 'agent', None), 'variables', []))
  variables += list(getattr(getattr(trainer, 'optimizer', None), 'variables',
                            []) or [])
  for v in variables:
    value = np.asarray(v.numpy())
    if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
      return getattr(v, 'path', None) or v.name
  return None


def hparams_from_config(config: Dict[str, Any]) -> Dict[str, Any]:
  """A run's configuration (config.json, nested) as scalar HParams: keys
  flattened with dots (`a2c.learning_rate`, `task.kwargs.num_trials`), lists
  joined with commas (`agent.stacked_units`: '256,64'), None left out (an
  unset option), other values as strings."""
  out = {}
  for k, v in _flatten(config).items():
    if v is None or v == {}:
      continue
    if isinstance(v, (list, tuple)):
      v = ','.join(str(x) for x in v)
    elif not isinstance(v, (bool, int, float, str)):
      v = str(v)
    out[k] = v
  return out


def eval_metric_tags(task: str, metric_names=()) -> list:
  """The scalar tags `evaluation.write_tensorboard` writes for a policy on
  `task`: the episode reward and each task metric per episode (derived
  metrics included)."""
  return [f'eval/{task}/episode_reward',
          *(f'eval/{task}/{m}' for m in metric_names)]


def write_hparams(writer, config: Dict[str, Any], metrics: Dict[str, str],
                  eval_task: Optional[str] = None,
                  eval_metrics: Sequence[str] = ()) -> None:
  """Writes the run's configuration to TensorBoard's HParams plugin.

  `hparams_from_config(config)` as the session's hparams, and an experiment
  declaration of those hparams and of `metrics` (tag -> description: scalars
  of the run dir's own tb/ run) plus, for `eval_task`, the agent's
  evaluation results (`eval_metric_tags(eval_task, eval_metrics)` in the run
  `eval/agent`, written by launch/evaluate.py), so that the HParams dashboard
  compares runs and sweep trials by training and test results. TensorBoard
  reads the declaration of one run per --logdir: runs of one task or sweep
  share it.
  """
  from tensorboard.plugins.hparams import api as hp  # pylint: disable=g-import-not-at-top
  hparams = hparams_from_config(config)
  declared = [hp.Metric(tag, display_name=tag, description=text)
              for tag, text in metrics.items()]
  if eval_task:
    declared += [hp.Metric(tag, group='eval/agent',
                           display_name=f'{tag} (agent)',
                           description='frozen test episodes (evaluate.py)')
                 for tag in eval_metric_tags(eval_task, eval_metrics)]
  with writer.as_default():
    hp.hparams_config(hparams=[hp.HParam(k) for k in sorted(hparams)],
                      metrics=declared)
    hp.hparams(hparams)
  writer.flush()


def has_hparams(tb_dir: str, first_records: int = 8) -> bool:
  """Whether an event file directly in `tb_dir` holds the run's HParams.
  `run` writes them before any other summary of its event file, so only the
  first records of each file are read (cheap on long runs)."""
  from tensorflow.core.util import event_pb2  # pylint: disable=g-import-not-at-top
  for path in tf.io.gfile.glob(os.path.join(tb_dir, 'events.out.tfevents.*')):
    try:
      for record in tf.data.TFRecordDataset(path).take(first_records):
        event = event_pb2.Event.FromString(record.numpy())
        if any(v.tag == HPARAMS_SESSION_TAG for v in event.summary.value):
          return True
    except tf.errors.DataLossError:  # a file cut by a kill: skip its rest
      continue
  return False


def _run_hparams(trainer, run_dir, writer):
  """`write_hparams` for a run dir with a config.json, once per run dir."""
  path = os.path.join(run_dir, CONFIG_FILE)
  if not os.path.exists(path) or has_hparams(os.path.join(run_dir, 'tb')):
    return
  with open(path) as f:
    config = json.load(f)
  episode = list(getattr(trainer, 'episode_metric_names', ['episode_return']))
  metrics = {name: 'per finished training episode' for name in episode}
  metrics.update(entropy='policy entropy (training)',
                 env_steps_per_sec='training speed')
  # Evaluation reports each task metric per episode under its own name.
  evaluated = [m[len('episode_'):] if m.startswith('episode_') else m
               for m in episode if m != 'episode_return']
  task = config.get('task')
  task = task.get('name') if isinstance(task, dict) else task
  write_hparams(writer, config, metrics,
                task if isinstance(task, str) else None, evaluated)


def format_duration(seconds: float) -> str:
  if not math.isfinite(seconds):
    return '?'
  seconds = int(seconds)
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f'{h}h{m:02d}m{s:02d}s' if h else f'{m}m{s:02d}s'


def format_count(n: float) -> str:
  if not math.isfinite(n):
    return '?'
  for unit, scale in (('G', 1e9), ('M', 1e6), ('k', 1e3)):
    if abs(n) >= scale:
      return f'{n / scale:.2f}{unit}'
  return f'{n:.0f}'


@dataclasses.dataclass
class RunResult:
  num_updates: int
  env_steps: int  # agent steps (decisions)
  frames: int  # primitive environment frames (more under action repeat)
  seconds: float
  last_log: Dict[str, float]
  stopped_by: Optional[int]  # signal number (SIGINT/SIGTERM) if stopped early
  first_update: int = 0  # num_updates when this start began (after restore)
  checkpoint: Optional[str] = None  # the latest checkpoint at the end

  @property
  def trained(self) -> int:
    """Updates this start trained (0 for a finished run resumed)."""
    return self.num_updates - self.first_update

  @property
  def stopped_early(self) -> bool:
    return self.stopped_by is not None


def run(trainer, run_dir: str, *, resume: bool = False,
        checkpoint_every: int = 200, log_every_secs: float = 5.0,
        name: str = 'train', log: Callable[[str], None] = None,
        on_log: Optional[Callable[[int, Dict[str, float]], None]] = None,
        handle_signals: bool = True,
        keep_every: Optional[int] = None,
        histogram_every_secs: Optional[float] = 60.0,
        evaluator=None, eval_every: Optional[int] = None) -> RunResult:
  """Trains until the trainer's `total_updates`, checkpointing and logging.

  Checkpoints every `checkpoint_every` updates and at exit (also on Ctrl-C
  and, with `handle_signals`, SIGTERM, which end the run early: see
  `RunResult.stopped_by`; with `handle_signals` both only set a flag that
  the loop reads between updates, so a signal during an update, the first
  one's compilation included, stops the run after it, and the lines say
  which checkpoint holds what: none is written before the first update or
  when the latest one is already of the current update); a non-finite loss
  raises `NonFiniteLossError`
  without writing a checkpoint, so the latest one on disk stays the last good
  one; no checkpoint is written of weights (or optimizer state) that hold
  NaN or inf (`NonFiniteLossError` instead). With `resume`, removes the
  folders of interrupted checkpoint writes and restores the newest
  checkpoint found on disk (whatever the `checkpoint` index file says, which
  is rewritten if damaged) that restores, logging each newer one skipped and
  why; RunDirError if there are checkpoints and none restores; from scratch
  if there is none. Every `log_every_secs` it writes every scalar the
  trainer returns (window means; per-episode means of episode sums; the
  task's derived metrics; rates) to TensorBoard and a progress line to `log`.
  The first update of a trainer traces and compiles its tf.function (a
  trainer without a `compiled` attribute counts as not compiled): a line
  says so before it, and its time is left out of the rates (steps/s,
  frames/s) and the ETA (its scalars are logged with the next window). At
  the first progress line, then at the first one at least
  `histogram_every_secs` after the previous histograms, and at the last one,
  the trainer's `histograms()` (policy logits, values, per-layer gradient
  norms) go to TensorBoard too (0: at every progress line; None: never).
  After the first update, the run's config.json (if there is one) is written
  to the HParams plugin (`write_hparams`), unless an earlier start of the
  run did it.
  With an `evaluator` (`heldout.HeldOutEvaluator`) and `eval_every`, every
  `eval_every` updates and after the last one the current weights play the
  held-out episodes frozen: the scalars go to TensorBoard (RUN_DIR/tb/heldout/,
  the training tags) and a line to `log`; a checkpoint that beats the best
  score so far (`heldout.read_best`, kept across resumes) is written if it
  is not yet and copied to RUN_DIR/checkpoints/best/ (`heldout.keep_best`).
  `handle_signals=False` leaves signal handlers alone (needed off the main
  thread, e.g. in a Ray Tune worker). The manager keeps the latest 3
  checkpoints; with `keep_every`, the checkpoint of every update that is a
  multiple of it is also kept for good, in RUN_DIR/checkpoints/kept/ (for
  analyses over training, e.g. Fig 6f; see `kept_checkpoints`).
  """
  log = log or (lambda s: print(s, file=sys.stderr, flush=True))
  directory = os.path.join(run_dir, 'checkpoints')
  restored = None
  if resume:
    removed = _remove_stale_temps(directory)
    if removed:
      log(f'[{name}] removed unfinished checkpoint writes: '
          f'{", ".join(removed)}')
    restored, prefixes = _restore_newest(trainer, directory, log, name)
    if restored and _index_latest(directory) != restored:
      # A damaged or stale index file: the manager must continue from (and
      # rotate) the checkpoints that are on disk.
      log(f'[{name}] rewrote the index file {directory}/checkpoint from the '
          'checkpoints on disk')
      _write_index(directory, restored, prefixes)
  index = os.path.join(directory, 'checkpoint')
  if not restored and not disk_checkpoints(directory) and os.path.exists(index):
    os.remove(index)  # names no checkpoint that exists (or is unreadable)
  manager = tf.train.CheckpointManager(trainer.checkpoint, directory,
                                       max_to_keep=3)
  if restored:
    log(f'[{name}] resumed from {restored} at update {trainer.num_updates}')
  elif resume:
    log(f'[{name}] no checkpoint in {manager.directory}: starting from scratch')
  first_update = trainer.num_updates
  if first_update >= trainer.total_updates:
    log(f'[{name}] finished already: update {first_update} of '
        f'{trainer.total_updates}; nothing to train')

  def save(number):
    bad = _non_finite(trainer)
    if bad is not None:
      raise NonFiniteLossError(f'non-finite weights ({bad}) at update '
                               f'{number}; not checkpointed')
    return manager.save(checkpoint_number=number)
  writer = tf.summary.create_file_writer(os.path.join(run_dir, 'tb'))
  total_updates = trainer.total_updates
  evaluate = evaluator is not None and bool(eval_every)
  if evaluate:
    from meta_rl import heldout  # pylint: disable=g-import-not-at-top
    eval_writer = tf.summary.create_file_writer(
        os.path.join(run_dir, 'tb', heldout.TB_RUN))
    best = heldout.read_best(run_dir)
    if best is not None and not heldout.same_evaluation(best, evaluator):
      # Scores of other episodes (another --eval_seed or --eval_episodes)
      # do not compare: the best is chosen anew from here on.
      log(f'[{name}] the held-out evaluations changed (was '
          f'{best.get("episodes")} episodes of seed {best.get("seed")}, '
          f'{best.get("metric")}); the best checkpoint is chosen anew')
      best = None

  def held_out(u):
    """Evaluates update `u` frozen; keeps it if it is the best so far."""
    nonlocal best
    t0 = time.time()
    scalars = evaluator()
    seconds = time.time() - t0
    score = evaluator.score(scalars)
    with eval_writer.as_default(step=trainer.env_steps):
      for k, v in scalars.items():
        tf.summary.scalar(k, v)
    eval_writer.flush()
    kept = ''
    if evaluator.better(score, best and best.get('score')):
      latest = manager.latest_checkpoint
      prefix = (latest if latest and latest.endswith(f'ckpt-{u}')
                else save(u))
      record = {'update': u, 'env_steps': trainer.env_steps,
                'metric': evaluator.metric, 'mode': evaluator.mode,
                'score': score, 'episodes': evaluator.num_episodes,
                'seed': evaluator.seed, 'scalars': scalars}
      heldout.keep_best(run_dir, prefix, record)
      best = heldout.read_best(run_dir)
      kept = ', kept as the best'
    log(f'[{name}] held out at update {u} ({evaluator.num_episodes} '
        f'episodes, {seconds:.1f} s): '
        + heldout.format_scalars(scalars, [evaluator.metric, *(
            k for k in trainer.progress_metrics if k != evaluator.metric)])
        + f'{kept}; best {heldout.describe(best)}')

  stop = {'signal': None}

  def _handler(signum, frame):
    del frame
    if stop['signal'] == signal.SIGINT and signum == signal.SIGINT:
      raise KeyboardInterrupt  # a second Ctrl-C: stop now (still checkpoints)
    stop['signal'] = signum
    try:
      log(f'[{name}] signal {signum}: stopping after the current update'
          + (' (Ctrl-C again: now)' if signum == signal.SIGINT else ''))
    except RuntimeError:  # a reentrant write to the stream: skip the line
      pass

  old = ({s: signal.signal(s, _handler) for s in (signal.SIGTERM, signal.SIGINT)}
         if handle_signals else {})
  t_start = time.time()
  # The first update of a trainer compiles its tf.function.
  compiled = getattr(trainer, 'compiled', False)
  first = True
  window, n_window = {}, 0  # summed outputs of the updates since the last log
  # The timed span of the rates, from the end of the compiling update.
  t_window, u_window, f_window = t_start, trainer.num_updates, trainer.frames
  t_hist = None
  last_log: Dict[str, float] = {}
  stopped_by = None
  histograms = getattr(trainer, 'histograms', None)
  try:
    while trainer.num_updates < total_updates:
      if stop['signal'] is not None:
        stopped_by = stop['signal']
        break
      if not compiled:
        log(f'[{name}] compiling the training step (the first update takes '
            'longer)...')
      m = trainer.train_step()
      for k, v in m.items():
        window[k] = window.get(k, 0.0) + v
      n_window += 1
      u = trainer.num_updates
      keep = bool(keep_every) and u % keep_every == 0
      if u % checkpoint_every == 0 or keep:
        path = save(u)
        if keep:
          _keep_checkpoint(path, os.path.join(manager.directory, KEPT))
      if evaluate and (u % eval_every == 0 or u >= total_updates):
        held_out(u)
      now = time.time()
      if first:
        first = False
        _run_hparams(trainer, run_dir, writer)
      if not compiled:
        compiled = True
        # Rates and the next progress line count from here (writing the
        # first summaries has a one-time cost too).
        t_window, u_window, f_window = time.time(), u, trainer.frames
        if u < total_updates:
          continue
      if now - t_window >= log_every_secs or u >= total_updates:
        n, elapsed = u - u_window, max(now - t_window, 1e-9)
        last_log = metrics_lib.summarise(window, n_window,
                                         trainer.derived_metrics)
        if n > 0:  # else only the compiling update: no rate
          last_log['env_steps_per_sec'] = (trainer.env_steps_per_update * n /
                                           elapsed)
          last_log['frames_per_sec'] = (trainer.frames - f_window) / elapsed
        hist = (histograms is not None and histogram_every_secs is not None
                and (t_hist is None or u >= total_updates or
                     now - t_hist >= histogram_every_secs))
        with writer.as_default(step=trainer.env_steps):
          for k, v in last_log.items():
            tf.summary.scalar(k, v)
          if hist:
            for k, v in histograms().items():
              tf.summary.histogram(k, v)
            t_hist = now
        writer.flush()
        log(_progress_line(name, trainer, last_log, now - t_start))
        if on_log:
          on_log(u, last_log)
        window, n_window = {}, 0
        # Rates are of training (updates, checkpoints), not of this writing.
        t_window, u_window, f_window = time.time(), u, trainer.frames
  except KeyboardInterrupt:  # handle_signals=False (e.g. a notebook)
    stopped_by = signal.SIGINT
  except NonFiniteLossError:
    log(f'[{name}] stopping; last good checkpoint: '
        f'{manager.latest_checkpoint or "none"}')
    raise
  finally:
    for s, handler in old.items():
      signal.signal(s, handler)
    writer.close()
    if evaluate:
      eval_writer.close()
  if stopped_by is not None:
    what = {signal.SIGINT: 'interrupted (SIGINT)',
            signal.SIGTERM: 'SIGTERM'}.get(stopped_by, f'signal {stopped_by}')
    log(f'[{name}] {what}: stopping at update {trainer.num_updates}')
  newest = os.path.join(manager.directory, f'ckpt-{trainer.num_updates}')
  if trainer.num_updates > 0 and manager.latest_checkpoint != newest:
    try:
      save(trainer.num_updates)
    except NonFiniteLossError:
      log(f'[{name}] stopping; last good checkpoint: '
          f'{manager.latest_checkpoint or "none"}')
      raise
    if stopped_by is not None:
      log(f'[{name}] checkpointed {manager.latest_checkpoint}')
  elif stopped_by is not None:
    log(f'[{name}] ' + (
        f'{manager.latest_checkpoint} already holds update '
        f'{trainer.num_updates}' if trainer.num_updates > 0 else
        'nothing checkpointed: no update was made'))
  return RunResult(trainer.num_updates, trainer.env_steps, trainer.frames,
                   time.time() - t_start, last_log, stopped_by, first_update,
                   manager.latest_checkpoint)


KEPT = 'kept'


def _keep_checkpoint(path: str, directory: str):
  """Copies the files of checkpoint `path` (prefix) into `directory`."""
  tf.io.gfile.makedirs(directory)
  for f in tf.io.gfile.glob(path + '.*'):
    tf.io.gfile.copy(f, os.path.join(directory, os.path.basename(f)),
                     overwrite=True)


def kept_checkpoints(run_dir: str) -> Dict[int, str]:
  """{update: checkpoint prefix} of a run's checkpoints: the kept ones
  (`keep_every`) and the manager's latest ones."""
  found = {}
  for sub in (KEPT, ''):
    pattern = os.path.join(run_dir, 'checkpoints', sub, 'ckpt-*.index')
    for index in tf.io.gfile.glob(pattern):
      prefix = index[:-len('.index')]
      number = prefix.rsplit('-', 1)[-1]
      if number.isdigit():
        found.setdefault(int(number), prefix)
  return dict(sorted(found.items()))


def find_checkpoint(run_dir: str, update: Optional[int] = None,
                    log: Optional[Callable[[str], None]] = None) -> str:
  """The prefix of the checkpoint of `update` among the run's checkpoints
  (`kept_checkpoints`, found by their files on disk), checked with
  `read_checkpoint`.

  With `update` None: the newest one whose files are there and read
  completely; each newer one is skipped with a line to `log` (default:
  stderr) saying why. RunDirError (one line) if there is none, if none
  reads, or if `update` is not there (naming the ones there are) or is
  damaged.
  """
  found = {}
  for sub in (KEPT, ''):  # as `kept_checkpoints`: a kept copy first
    for number, prefix in disk_checkpoints(
        os.path.join(run_dir, 'checkpoints', sub)).items():
      found.setdefault(number, prefix)
  if not found:
    raise RunDirError(f'no checkpoint in {run_dir}')
  if update is not None:
    if update not in found:
      raise RunDirError(f'no checkpoint of update {update} in {run_dir}; '
                        f'there are: {", ".join(map(str, sorted(found)))}')
    _, reasons = _newest_restorable({update: found[update]}, read_checkpoint,
                                    lambda line: None, '')
    if reasons:
      raise RunDirError(f'checkpoint {found[update]}: '
                        f'{reasons[0].split(": ", 1)[1]}')
    return found[update]
  log = log or (lambda line: print(line, file=sys.stderr, flush=True))
  number, reasons = _newest_restorable(
      found, read_checkpoint, log, os.path.basename(os.path.normpath(run_dir)))
  if number is None:
    raise RunDirError(f'no checkpoint in {run_dir} can be restored '
                      f'({"; ".join(reasons)})')
  return found[number]


def _progress_line(name, trainer, scalars, elapsed):
  """`[name] update u/U  steps S (frames F)  rate  reward  <task metrics>
  entropy  elapsed  ETA`; the rates and ETA exclude the compiling update
  (`?` while no other update has been timed)."""
  u, total = trainer.num_updates, trainer.total_updates
  rate = scalars.get('env_steps_per_sec', math.nan)
  eta = 0.0 if u >= total else (
      (total - u) * trainer.env_steps_per_update / max(rate, 1e-9)
      if math.isfinite(rate) else math.nan)
  line = (f'[{name}] update {u}/{total}  env steps '
          f'{format_count(trainer.env_steps)}')
  if trainer.frames != trainer.env_steps:
    line += f' ({format_count(trainer.frames)} frames)'
  line += f'  {format_count(rate)} steps/s'
  if trainer.frames != trainer.env_steps:
    line += (f' ({format_count(scalars.get("frames_per_sec", math.nan))} '
             'frames/s)')
  if 'episode_return' in scalars:
    line += f'  episode reward {scalars["episode_return"]:.2f}'
  for key in trainer.progress_metrics:
    if key in scalars:
      label = key[len('episode_'):] if key.startswith('episode_') else key
      line += f'  {label.replace("_", " ")} {scalars[key]:.3f}'
  line += (f'  entropy {scalars["entropy"]:.3f}  elapsed '
           f'{format_duration(elapsed)}  ETA {format_duration(eta)}')
  return line
