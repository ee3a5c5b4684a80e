"""What a run shows while it trains: a progress line to the log and every
scalar to TensorBoard every `every_secs`, histograms at a lower rate; and
what reads a logged scalar back (`tensorboard_curve`).

Rates (steps/s, frames/s) and the ETA leave out the update that compiled the
trainer's tf.function and the writing of summaries: the clock restarts after
each.
"""

import math
import os
import time
from typing import Callable, Dict, Mapping, Optional, Sequence

import tensorflow as tf

from meta_rl import metrics as metrics_lib


def format_duration(seconds: float) -> str:
  """`1h02m03s`, `2m03s`; `?` if not finite."""
  if not math.isfinite(seconds):
    return '?'
  seconds = int(seconds)
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f'{h}h{m:02d}m{s:02d}s' if h else f'{m}m{s:02d}s'


def format_count(n: float) -> str:
  """`1.23M`, `45.60k`, `789`; `?` if not finite."""
  if not math.isfinite(n):
    return '?'
  for unit, scale in (('G', 1e9), ('M', 1e6), ('k', 1e3)):
    if abs(n) >= scale:
      return f'{n / scale:.2f}{unit}'
  return f'{n:.0f}'


def metric_label(key: str) -> str:
  """How a log line names a scalar: `episode_p_correct_later` ->
  `p correct later`."""
  if key.startswith('episode_'):
    key = key[len('episode_'):]
  return key.replace('_', ' ')


def format_scalars(scalars: Mapping[str, float], keys: Sequence[str]) -> str:
  """`label value` pairs of `keys` present in `scalars`, for a log line."""
  return '  '.join(f'{metric_label(k)} {scalars[k]:.3f}' for k in keys
                   if k in scalars)


def progress_line(name: str, trainer, scalars: Mapping[str, float],
                  elapsed: float) -> str:
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
  metrics = format_scalars(scalars, trainer.progress_metrics)
  if metrics:
    line += '  ' + metrics
  line += (f'  entropy {scalars["entropy"]:.3f}  elapsed '
           f'{format_duration(elapsed)}  ETA {format_duration(eta)}')
  return line


class Progress:
  """The progress of a run: sums the outputs of `train_step` over a window
  and, every `every_secs` and at the last update (`log_if_due`), writes their
  window means (`metrics.summarise`: per-episode means of episode sums, the
  task's derived metrics) and the rates to TensorBoard (RUN_DIR/tb/) and a
  progress line to `log`, then calls `on_log(update, scalars)`. At the first
  line, then at the first one at least `histogram_every_secs` after the
  previous histograms, and at the last one, the trainer's `histograms()` go
  to TensorBoard too (0: at every line; None: never).
  """

  def __init__(self, trainer, run_dir: str, name: str,
               log: Callable[[str], None],
               on_log: Optional[Callable[[int, Dict[str, float]], None]],
               every_secs: float, histogram_every_secs: Optional[float]):
    self._trainer = trainer
    self._name = name
    self._log = log
    self._on_log = on_log
    self._every = every_secs
    self._histogram_every = histogram_every_secs
    self.writer = tf.summary.create_file_writer(os.path.join(run_dir, 'tb'))
    self.started = time.time()
    self.last: Dict[str, float] = {}  # the scalars of the latest line
    self._t_hist = None
    self._window, self._n = {}, 0
    self.restart_clock()

  def restart_clock(self) -> None:
    """Times the rates from now (e.g. after the compiling update, whose
    outputs stay in the window)."""
    self._t, self._u, self._f = (time.time(), self._trainer.num_updates,
                                 self._trainer.frames)

  def add(self, outputs: Mapping[str, float]) -> None:
    for k, v in outputs.items():
      self._window[k] = self._window.get(k, 0.0) + v
    self._n += 1

  def log_if_due(self) -> None:
    trainer = self._trainer
    now, u = time.time(), trainer.num_updates
    last = u >= trainer.total_updates
    if now - self._t < self._every and not last:
      return
    n, elapsed = u - self._u, max(now - self._t, 1e-9)
    scalars = metrics_lib.summarise(self._window, self._n,
                                    trainer.derived_metrics)
    if n > 0:  # else only the compiling update: no rate
      scalars['env_steps_per_sec'] = trainer.env_steps_per_update * n / elapsed
      scalars['frames_per_sec'] = (trainer.frames - self._f) / elapsed
    hist = self._histogram_every is not None and (
        self._t_hist is None or last or
        now - self._t_hist >= self._histogram_every)
    with self.writer.as_default(step=trainer.env_steps):
      for k, v in scalars.items():
        tf.summary.scalar(k, v)
      if hist:
        for k, v in trainer.histograms().items():
          tf.summary.histogram(k, v)
        self._t_hist = now
    self.writer.flush()
    self._log(progress_line(self._name, trainer, scalars, now - self.started))
    if self._on_log:
      self._on_log(u, scalars)
    self.last = scalars
    self._window, self._n = {}, 0
    # Rates are of training (updates, checkpoints), not of this writing.
    self.restart_clock()

  def close(self) -> None:
    self.writer.close()


def tensorboard_curve(run_dir, tag, wall_times=False, sub=''):
  """(steps, values) of a logged scalar (e.g. 'p_correct_later') from every
  point of a run's TensorBoard events (RUN_DIR/tb/SUB, e.g. sub='heldout');
  with `wall_times`, (steps, values, wall times in seconds). Empty lists if
  it was never logged, or if the run has no TensorBoard folder (e.g. a
  shipped policy: a SavedModel without its training)."""
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
  if not os.path.isdir(os.path.join(run_dir, 'tb', sub)):
    return ([], [], []) if wall_times else ([], [])
  # 0: keep every point (the default keeps a sample of 10 tensor events).
  acc = event_accumulator.EventAccumulator(
      os.path.join(run_dir, 'tb', sub),
      size_guidance={'scalars': 0, 'tensors': 0})
  acc.Reload()
  if tag in acc.Tags().get('tensors', []):  # TF2 summaries are tensors
    events = acc.Tensors(tag)
    values = [float(tf.make_ndarray(e.tensor_proto)) for e in events]
  elif tag in acc.Tags().get('scalars', []):
    events = acc.Scalars(tag)
    values = [e.value for e in events]
  else:
    events, values = [], []
  out = ([e.step for e in events], values)
  return out + ([e.wall_time for e in events],) if wall_times else out
