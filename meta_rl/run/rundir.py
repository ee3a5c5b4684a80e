"""A run directory: its layout, the one process that holds it, its
configuration (config.json) and the checks of a new or resumed run.

Layout:
    RUN_DIR/config.json         the configuration of the run (task, agent, A2C
                                and training configs as JSON)
    RUN_DIR/.lock               the pid of the process that holds the run dir
    RUN_DIR/checkpoints/        tf.train.CheckpointManager checkpoints
                                (`meta_rl.run.checkpoints`), with kept/ and best/
    RUN_DIR/tb/                 TensorBoard event files: scalars, histograms,
                                the run's configuration (HParams)
    RUN_DIR/tb/eval/<policy>/   evaluation results
    RUN_DIR/tb/heldout/         held-out evaluations during training
    RUN_DIR/saved_model/<v>/    exported SavedModels (TF Serving base path)
"""

import json
import os
import shutil
from typing import Any, Callable, Dict, Optional

from meta_rl import files
from meta_rl.run import checkpoints
from meta_rl.run.errors import RunDirError

CONFIG_FILE = 'config.json'


def flatten(config, prefix=''):
  """A nested dict as one level of dotted keys (`a2c.learning_rate`)."""
  out = {}
  for k, v in config.items():
    if isinstance(v, dict) and v:
      out.update(flatten(v, f'{prefix}{k}.'))
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


def write_config(path: str, config: Dict[str, Any]) -> None:
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
      raise RunDirError(f'run dir {run_dir} exists; resume it (`resume`) or '
                        'choose another run dir')
    # A run that failed before its first checkpoint (and export) left
    # nothing to resume: its entries are replaced.
    for p in present:
      if p in RUN_ENTRIES and p not in (CONFIG_FILE, LOCK_FILE):
        shutil.rmtree(os.path.join(run_dir, p), ignore_errors=True)
    os.makedirs(run_dir, exist_ok=True)
    write_config(path, config)
    return False
  try:
    saved = flatten(read_run_config(run_dir))
  except RunDirError as e:
    raise RunDirError(f'cannot resume {run_dir}: {e}') from e
  current = flatten(json.loads(json.dumps(config, default=str)))
  known = flatten(json.loads(json.dumps(defaults or {}, default=str)))
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
    write_config(path, config)
  return bool(checkpoints.disk_checkpoints(os.path.join(run_dir, 'checkpoints')))


def _has_progress(run_dir: str) -> bool:
  """Whether `run_dir` holds a checkpoint (kept ones included) or an
  export (anything in saved_model/)."""
  directory = os.path.join(run_dir, 'checkpoints')
  exports = os.path.join(run_dir, 'saved_model')
  return bool(checkpoints.disk_checkpoints(directory) or
              checkpoints.disk_checkpoints(
                  os.path.join(directory, checkpoints.KEPT)) or
              (os.path.isdir(exports) and os.listdir(exports)) or
              (os.path.exists(exports) and not os.path.isdir(exports)))
