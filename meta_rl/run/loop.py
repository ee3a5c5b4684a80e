"""The run loop: a thin Python loop around a trainer's compiled update.

`run` trains a `Trainer` until its `total_updates`, with the run's
checkpoints (`checkpoints.Checkpoints`), progress lines and TensorBoard
scalars (`progress.Progress`), its configuration as HParams (`hparams`), the
held-out evaluations (`heldout.HeldOutHook`) and stopping on signals
(`signals.StopOnSignal`). See `rundir` for the run directory's layout.
"""

import dataclasses
import signal
import sys
import time
from typing import Callable, Dict, List, Optional, Protocol, Sequence

import numpy as np
import tensorflow as tf

from meta_rl.run import checkpoints as checkpoints_lib
from meta_rl.run import hparams
from meta_rl.run import heldout
from meta_rl.run import progress as progress_lib
from meta_rl.run import signals
from meta_rl.training import NonFiniteLossError


class Trainer(Protocol):
  """What `run` drives (`training.InGraphTrainer`, `PythonEnvTrainer`)."""

  checkpoint: tf.train.Checkpoint  # everything a resume needs
  agent: tf.Module  # its weights, checked for NaN before each checkpoint
  optimizer: tf.keras.optimizers.Optimizer  # its state, checked too
  progress_metrics: Sequence[str]  # the scalars a progress line shows
  derived_metrics: Optional[Callable[[Dict[str, float]], Dict[str, float]]]

  @property
  def num_updates(self) -> int: ...
  @property
  def total_updates(self) -> int: ...
  @property
  def env_steps(self) -> int: ...  # agent steps (decisions)
  @property
  def frames(self) -> int: ...  # environment frames (more under repeats)
  @property
  def env_steps_per_update(self) -> int: ...
  @property
  def compiled(self) -> bool: ...  # False until the first update traced
  @property
  def episode_metric_names(self) -> List[str]: ...

  def train_step(self) -> Dict[str, float]: ...  # one update's outputs
  def histograms(self) -> Dict[str, np.ndarray]: ...


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


def run(trainer: Trainer, run_dir: str, *, resume: bool = False,
        checkpoint_every: int = 200, log_every_secs: float = 5.0,
        name: str = 'train', log: Optional[Callable[[str], None]] = None,
        on_log: Optional[Callable[[int, Dict[str, float]], None]] = None,
        handle_signals: bool = True,
        keep_every: Optional[int] = None,
        histogram_every_secs: Optional[float] = 60.0,
        evaluator: Optional[heldout.HeldOutEvaluator] = None,
        eval_every: Optional[int] = None) -> RunResult:
  """Trains until the trainer's `total_updates`, checkpointing and logging.

  - Checkpoints (`checkpoints.Checkpoints`): with `resume`, restores the
    newest checkpoint on disk that restores (RunDirError if there are
    checkpoints and none restores; from scratch if there is none); saves
    every `checkpoint_every` updates and at exit, keeps every `keep_every`-th
    in kept/; a non-finite loss or weight raises `NonFiniteLossError`
    without writing a checkpoint, so the latest one on disk stays the last
    good one.
  - Stopping: Ctrl-C and, with `handle_signals`, SIGTERM end the run after
    the current update (`signals.StopOnSignal`; `RunResult.stopped_by`),
    and lines say which checkpoint holds what. `handle_signals=False`
    leaves signal handlers alone (off the main thread, e.g. in a Ray Tune
    worker); a KeyboardInterrupt then stops the run the same way.
  - Progress (`progress.Progress`): every `log_every_secs`, every scalar of
    the window to TensorBoard and a line to `log` (default: stderr), then
    `on_log(update, scalars)`; histograms every `histogram_every_secs`. The
    first update compiles the trainer's tf.function: a line says so before
    it and its time is left out of the rates and the ETA.
  - After the first update, the run's config.json (if there is one) goes to
    the HParams plugin (`hparams.write_run_hparams`), once per run dir.
  - With an `evaluator` and `eval_every`: every `eval_every` updates and
    after the last one, the held-out evaluation (`heldout.HeldOutHook`),
    which keeps the best checkpoint in RUN_DIR/checkpoints/best/.
  """
  log = log or (lambda s: print(s, file=sys.stderr, flush=True))
  checkpoints = checkpoints_lib.Checkpoints(trainer, run_dir, resume, log,
                                            name, checkpoint_every, keep_every)
  first_update, total = trainer.num_updates, trainer.total_updates
  if first_update >= total:
    log(f'[{name}] finished already: update {first_update} of {total}; '
        'nothing to train')
  progress = progress_lib.Progress(trainer, run_dir, name, log, on_log,
                                   log_every_secs, histogram_every_secs)
  held_out = (heldout.HeldOutHook(evaluator, trainer, run_dir, checkpoints,
                                  log, name)
              if evaluator is not None and eval_every else None)
  compiled = trainer.compiled
  stopped_by = None

  def last_good():
    return (f'[{name}] stopping; last good checkpoint: '
            f'{checkpoints.latest or "none"}')

  try:
    with signals.StopOnSignal(log, name, handle_signals) as stop:
      while trainer.num_updates < total:
        if stop.signal is not None:
          stopped_by = stop.signal
          break
        if not compiled:
          log(f'[{name}] compiling the training step (the first update takes '
              'longer)...')
        progress.add(trainer.train_step())
        u = trainer.num_updates
        checkpoints.after_update(u)
        if held_out and (u % eval_every == 0 or u >= total):
          held_out(u)
        if u == first_update + 1:
          hparams.write_run_hparams(trainer, run_dir, progress.writer)
        if not compiled:  # rates count from the end of the compiling update
          compiled = True
          progress.restart_clock()
          if u < total:
            continue
        progress.log_if_due()
  except KeyboardInterrupt:  # handle_signals=False (e.g. a notebook)
    stopped_by = signal.SIGINT
  except NonFiniteLossError:  # the latest checkpoint on disk is a good one
    log(last_good())
    raise
  finally:
    progress.close()
    if held_out:
      held_out.close()
  if stopped_by is not None:
    log(f'[{name}] {signals.describe(stopped_by)}: stopping at update '
        f'{trainer.num_updates}')
  try:
    checkpoints.at_exit(stopped_by)
  except NonFiniteLossError:
    log(last_good())
    raise
  return RunResult(trainer.num_updates, trainer.env_steps, trainer.frames,
                   time.time() - progress.started, progress.last, stopped_by,
                   first_update, checkpoints.latest)
