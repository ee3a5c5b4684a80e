"""The Python shell around a trainer: run directory, checkpoints, TensorBoard,
progress lines.

Run directory layout:
    RUN_DIR/config.json         the configuration of the run (task, agent, A2C
                                and training configs as JSON)
    RUN_DIR/checkpoints/        tf.train.CheckpointManager checkpoints
    RUN_DIR/tb/                 TensorBoard event files
    RUN_DIR/saved_model/<v>/    exported SavedModels (TF Serving base path)
"""

import dataclasses
import json
import math
import os
import signal
import sys
import time
from typing import Any, Callable, Dict, Optional

import tensorflow as tf

from meta_rl import metrics as metrics_lib
from meta_rl.training import NonFiniteLossError

CONFIG_FILE = 'config.json'


class RunDirError(ValueError):
  """The run directory cannot be used as asked (exists, missing, mismatch)."""


def _flatten(config, prefix=''):
  out = {}
  for k, v in config.items():
    if isinstance(v, dict) and v:
      out.update(_flatten(v, f'{prefix}{k}.'))
    else:
      out[f'{prefix}{k}'] = v
  return out


# What a run writes into its run dir (see the layout above).
RUN_ENTRIES = (CONFIG_FILE, 'checkpoints', 'tb', 'saved_model')


def prepare_run_dir(run_dir: str, config: Dict[str, Any], resume: bool,
                    defaults: Optional[Dict[str, Any]] = None,
                    adopt: bool = False) -> bool:
  """Creates `run_dir` for a new run, or checks it for `resume`.

  A new run refuses an existing non-empty directory (with `adopt`: only one
  that holds a run's entries, `RUN_ENTRIES`; other files, e.g. those Ray Tune
  puts in a trial directory before the trial starts, are kept) and writes
  `config` (JSON-serialisable, may be nested) to config.json. A resumed run needs the
  run's config.json and the same configuration, every entry included
  (`total_steps` too: it sets the learning-rate and entropy schedules).
  A setting missing from an older run's config.json counts as equal when
  its value is the one `defaults` (nested like `config`) gives it: a setting
  added later with a default that keeps the old behaviour.
  Returns True if there is a checkpoint to restore (a run killed before its
  first checkpoint resumes from scratch).
  """
  path = os.path.join(run_dir, CONFIG_FILE)
  if not resume:
    present = os.listdir(run_dir) if os.path.exists(run_dir) else []
    if adopt:
      present = [p for p in present if p in RUN_ENTRIES]
    if present:
      raise RunDirError(f'run dir {run_dir} exists; resume it (--resume) or '
                        'choose another run dir')
    os.makedirs(run_dir, exist_ok=True)
    with open(path, 'w') as f:
      json.dump(config, f, indent=2, sort_keys=True, default=str)
    return False
  if not os.path.exists(path):
    raise RunDirError(f'cannot resume: no {CONFIG_FILE} in {run_dir}')
  with open(path) as f:
    saved = json.load(f)
  saved = _flatten(saved)
  current = _flatten(json.loads(json.dumps(config, default=str)))
  known = _flatten(json.loads(json.dumps(defaults or {}, default=str)))
  for k, v in current.items():
    if k not in saved and k in known and known[k] == v:
      saved[k] = v
  diff = sorted(k for k in set(saved) | set(current)  # NaN equals NaN
                if json.dumps(saved.get(k)) != json.dumps(current.get(k)))
  if diff:
    k = diff[0]
    raise RunDirError(f'cannot resume {run_dir}: {k} was {saved.get(k)!r}, '
                      f'now {current.get(k)!r} ({len(diff)} setting(s) differ)')
  return tf.train.latest_checkpoint(os.path.join(run_dir, 'checkpoints')) is not None


def format_duration(seconds: float) -> str:
  if not math.isfinite(seconds):
    return '?'
  seconds = int(seconds)
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f'{h}h{m:02d}m{s:02d}s' if h else f'{m}m{s:02d}s'


def format_count(n: float) -> str:
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

  @property
  def stopped_early(self) -> bool:
    return self.stopped_by is not None


def run(trainer, run_dir: str, *, resume: bool = False,
        checkpoint_every: int = 200, log_every_secs: float = 5.0,
        name: str = 'train', log: Callable[[str], None] = None,
        on_log: Optional[Callable[[int, Dict[str, float]], None]] = None,
        handle_signals: bool = True,
        keep_every: Optional[int] = None) -> RunResult:
  """Trains until the trainer's `total_updates`, checkpointing and logging.

  Checkpoints every `checkpoint_every` updates and at exit (also on Ctrl-C
  and, with `handle_signals`, SIGTERM, which end the run early: see
  `RunResult.stopped_by`); a non-finite loss raises `NonFiniteLossError`
  without writing a checkpoint, so the latest one on disk stays the last good
  one. With `resume`, restores the latest checkpoint if there is one (else
  starts from scratch). Every `log_every_secs` it writes every scalar the
  trainer returns (window means; per-episode means of episode sums; the
  task's derived metrics; rates) to TensorBoard and a progress line to `log`.
  `handle_signals=False` leaves signal handlers alone (needed off the main
  thread, e.g. in a Ray Tune worker). The manager keeps the latest 3
  checkpoints; with `keep_every`, the checkpoint of every update that is a
  multiple of it is also kept for good, in RUN_DIR/checkpoints/kept/ (for
  analyses over training, e.g. Fig 6f; see `kept_checkpoints`).
  """
  log = log or (lambda s: print(s, file=sys.stderr, flush=True))
  manager = tf.train.CheckpointManager(
      trainer.checkpoint, os.path.join(run_dir, 'checkpoints'), max_to_keep=3)
  if resume and manager.latest_checkpoint:
    trainer.checkpoint.restore(manager.latest_checkpoint).assert_consumed()
    log(f'[{name}] resumed from {manager.latest_checkpoint} at update '
        f'{trainer.num_updates}')
  elif resume:
    log(f'[{name}] no checkpoint in {manager.directory}: starting from scratch')
  writer = tf.summary.create_file_writer(os.path.join(run_dir, 'tb'))
  total_updates = trainer.total_updates

  stop = {'signal': None}

  def _handler(signum, frame):
    del frame
    stop['signal'] = signum

  old = signal.signal(signal.SIGTERM, _handler) if handle_signals else None
  t_start = time.time()
  window, t_window = {}, time.time()
  u_window, f_window = trainer.num_updates, trainer.frames
  last_log: Dict[str, float] = {}
  stopped_by = None
  try:
    while trainer.num_updates < total_updates:
      if stop['signal'] is not None:
        log(f'[{name}] signal {stop["signal"]}: checkpointing and stopping')
        stopped_by = stop['signal']
        break
      m = trainer.train_step()
      for k, v in m.items():
        window[k] = window.get(k, 0.0) + v
      u = trainer.num_updates
      keep = bool(keep_every) and u % keep_every == 0
      if u % checkpoint_every == 0 or keep:
        path = manager.save(checkpoint_number=u)
        if keep:
          _keep_checkpoint(path, os.path.join(manager.directory, KEPT))
      now = time.time()
      if now - t_window >= log_every_secs or u >= total_updates:
        n, elapsed = u - u_window, max(now - t_window, 1e-9)
        last_log = metrics_lib.summarise(window, n, trainer.derived_metrics)
        rate = trainer.env_steps_per_update * n / elapsed
        last_log['env_steps_per_sec'] = rate
        last_log['frames_per_sec'] = (trainer.frames - f_window) / elapsed
        with writer.as_default(step=trainer.env_steps):
          for k, v in last_log.items():
            tf.summary.scalar(k, v)
        writer.flush()
        log(_progress_line(name, trainer, last_log, now - t_start))
        if on_log:
          on_log(u, last_log)
        window, t_window, u_window, f_window = {}, now, u, trainer.frames
  except KeyboardInterrupt:
    log(f'[{name}] interrupted: checkpointing and stopping')
    stopped_by = signal.SIGINT
  except NonFiniteLossError:
    log(f'[{name}] stopping; last good checkpoint: {manager.latest_checkpoint}')
    raise
  finally:
    if handle_signals:
      signal.signal(signal.SIGTERM, old)
    writer.close()
  if trainer.num_updates > 0 and manager.latest_checkpoint != os.path.join(
      manager.directory, f'ckpt-{trainer.num_updates}'):
    manager.save(checkpoint_number=trainer.num_updates)
  return RunResult(trainer.num_updates, trainer.env_steps, trainer.frames,
                   time.time() - t_start, last_log, stopped_by)


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


def find_checkpoint(run_dir: str, update: Optional[int] = None) -> str:
  """The prefix of the checkpoint of `update` among `kept_checkpoints`
  (the latest one if None). Raises RunDirError naming the ones there are."""
  kept = kept_checkpoints(run_dir)
  if not kept:
    raise RunDirError(f'no checkpoint in {run_dir}')
  update = max(kept) if update is None else update
  if update not in kept:
    raise RunDirError(f'no checkpoint of update {update} in {run_dir}; there '
                      f'are: {", ".join(map(str, kept))}')
  return kept[update]


def _progress_line(name, trainer, scalars, elapsed):
  """`[name] update u/U  steps S (frames F)  rate  reward  <task metrics>
  entropy  elapsed  ETA`."""
  u, total = trainer.num_updates, trainer.total_updates
  rate = scalars['env_steps_per_sec']
  eta = (total - u) * trainer.env_steps_per_update / max(rate, 1e-9)
  line = (f'[{name}] update {u}/{total}  env steps '
          f'{format_count(trainer.env_steps)}')
  if trainer.frames != trainer.env_steps:
    line += f' ({format_count(trainer.frames)} frames)'
  line += f'  {format_count(rate)} steps/s'
  if trainer.frames != trainer.env_steps:
    line += f' ({format_count(scalars["frames_per_sec"])} frames/s)'
  if 'episode_return' in scalars:
    line += f'  episode reward {scalars["episode_return"]:.2f}'
  for key in trainer.progress_metrics:
    if key in scalars:
      label = key[len('episode_'):] if key.startswith('episode_') else key
      line += f'  {label.replace("_", " ")} {scalars[key]:.3f}'
  line += (f'  entropy {scalars["entropy"]:.3f}  elapsed '
           f'{format_duration(elapsed)}  ETA {format_duration(eta)}')
  return line
