"""The Python shell around a trainer: run directory, checkpoints, TensorBoard,
progress lines, export.

Run directory layout:
    RUN_DIR/config.json         the configuration (launcher flags) of the run
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

from meta_rl.training import NonFiniteLossError

CONFIG_FILE = 'config.json'


class RunDirError(ValueError):
  """The run directory cannot be used as asked (exists, missing, mismatch)."""


def prepare_run_dir(run_dir: str, config: Dict[str, Any], resume: bool,
                    ignore_on_resume=('resume', 'run_dir')) -> bool:
  """Creates `run_dir` for a new run, or checks it for `resume`.

  A new run refuses an existing non-empty directory. A resumed run needs the
  run's config.json and the same configuration (apart from `ignore_on_resume`
  keys; `total_steps` must match too, since it sets the learning-rate and
  entropy schedules). Returns True if there is a checkpoint to restore (a run
  killed before its first checkpoint resumes from scratch).
  """
  path = os.path.join(run_dir, CONFIG_FILE)
  if not resume:
    if os.path.exists(run_dir) and os.listdir(run_dir):
      raise RunDirError(f'run dir {run_dir} exists; pass --resume to continue '
                        'it or choose another --run_dir')
    os.makedirs(run_dir, exist_ok=True)
    with open(path, 'w') as f:
      json.dump(config, f, indent=2, sort_keys=True, default=str)
    return False
  if not os.path.exists(path):
    raise RunDirError(f'cannot resume: no {CONFIG_FILE} in {run_dir}')
  with open(path) as f:
    saved = json.load(f)
  current = json.loads(json.dumps(config, default=str))
  diff = sorted(k for k in set(saved) | set(current)
                if k not in ignore_on_resume and saved.get(k) != current.get(k))
  if diff:
    k = diff[0]
    raise RunDirError(f'cannot resume {run_dir}: --{k} was {saved.get(k)!r}, '
                      f'now {current.get(k)!r} ({len(diff)} setting(s) differ)')
  return tf.train.latest_checkpoint(os.path.join(run_dir, 'checkpoints')) is not None


def _fmt_time(seconds: float) -> str:
  if not math.isfinite(seconds):
    return '?'
  seconds = int(seconds)
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f'{h}h{m:02d}m{s:02d}s' if h else f'{m}m{s:02d}s'


def _fmt_count(n: float) -> str:
  for unit, scale in (('G', 1e9), ('M', 1e6), ('k', 1e3)):
    if abs(n) >= scale:
      return f'{n / scale:.2f}{unit}'
  return f'{n:.0f}'


@dataclasses.dataclass
class RunResult:
  num_updates: int
  env_steps: int
  seconds: float
  last_log: Dict[str, float]
  stopped_by: Optional[int]  # signal number (SIGINT/SIGTERM) if stopped early

  @property
  def stopped_early(self) -> bool:
    return self.stopped_by is not None


def run(trainer, run_dir: str, total_updates: int, *, resume: bool = False,
        checkpoint_every: int = 100, log_every_secs: float = 5.0,
        name: str = 'train', log: Callable[[str], None] = None,
        on_log: Optional[Callable[[int, Dict[str, float]], None]] = None
        ) -> RunResult:
  """Trains until `total_updates` updates, checkpointing and logging.

  Checkpoints every `checkpoint_every` updates and at exit (also on SIGTERM or
  Ctrl-C, which end the run early: see `RunResult.stopped_by`); a non-finite
  loss raises `NonFiniteLossError` without writing a checkpoint, so the latest
  one on disk stays the last good one. With `resume`, restores the latest
  checkpoint if there is one (else starts from scratch).
  """
  log = log or (lambda s: print(s, file=sys.stderr, flush=True))
  manager = tf.train.CheckpointManager(
      trainer.checkpoint, os.path.join(run_dir, 'checkpoints'), max_to_keep=3,
      step_counter=trainer._num_updates, checkpoint_interval=checkpoint_every)
  if resume and manager.latest_checkpoint:
    trainer.checkpoint.restore(manager.latest_checkpoint).assert_consumed()
    log(f'[{name}] resumed from {manager.latest_checkpoint} at update '
        f'{trainer.num_updates}')
  elif resume:
    log(f'[{name}] no checkpoint in {manager.directory}: starting from scratch')
  writer = tf.summary.create_file_writer(os.path.join(run_dir, 'tb'))
  steps_per_update = trainer.env_steps_per_update

  stop = {'signal': None}

  def _handler(signum, frame):
    del frame
    stop['signal'] = signum

  old = signal.signal(signal.SIGTERM, _handler)
  t_start = time.time()
  window, t_window, u_window = {}, time.time(), trainer.num_updates
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
      manager.save(checkpoint_number=u, check_interval=True)
      now = time.time()
      if now - t_window >= log_every_secs or u >= total_updates:
        n = u - u_window
        last_log = _summarise(window, n, steps_per_update * n / (now - t_window))
        with writer.as_default(step=u * steps_per_update):
          for k, v in last_log.items():
            tf.summary.scalar(k, v)
        writer.flush()
        rate = last_log['env_steps_per_sec']
        eta = (total_updates - u) * steps_per_update / max(rate, 1e-9)
        line = (f'[{name}] update {u}/{total_updates}  env steps '
                f'{_fmt_count(u * steps_per_update)}  '
                f'{_fmt_count(rate)} steps/s')
        if 'episode_reward' in last_log:
          line += f'  episode reward {last_log["episode_reward"]:.2f}'
        if 'episode_regret' in last_log:
          line += f'  regret {last_log["episode_regret"]:.2f}'
        line += (f'  entropy {last_log["entropy"]:.3f}  elapsed '
                 f'{_fmt_time(now - t_start)}  ETA {_fmt_time(eta)}')
        log(line)
        if on_log:
          on_log(u, last_log)
        window, t_window, u_window = {}, now, u
  except KeyboardInterrupt:
    log(f'[{name}] interrupted: checkpointing and stopping')
    stopped_by = signal.SIGINT
  except NonFiniteLossError:
    log(f'[{name}] stopping; last good checkpoint: {manager.latest_checkpoint}')
    raise
  finally:
    signal.signal(signal.SIGTERM, old)
    writer.close()
  if trainer.num_updates > 0 and manager.latest_checkpoint != os.path.join(
      manager.directory, f'ckpt-{trainer.num_updates}'):
    manager.save(checkpoint_number=trainer.num_updates, check_interval=False)
  seconds = time.time() - t_start
  return RunResult(trainer.num_updates, trainer.num_updates * steps_per_update,
                   seconds, last_log, stopped_by)


def _summarise(window: Dict[str, float], num_updates: int,
               rate: float) -> Dict[str, float]:
  n = max(num_updates, 1)
  out = {k: window[k] / n for k in ('loss', 'policy_loss', 'value_loss',
                                     'entropy', 'grad_norm', 'beta_e',
                                     'learning_rate', 'mean_reward')
         if k in window}
  out['env_steps_per_sec'] = rate
  episodes = window.get('episodes', 0.0)
  if episodes > 0:
    out['episode_reward'] = window['episode_return_sum'] / episodes
    if 'episode_regret_sum' in window:
      out['episode_regret'] = window['episode_regret_sum'] / episodes
  return out
