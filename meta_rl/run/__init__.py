"""The run layer: a run directory and the loop that trains in it.

  loop        `run(trainer, run_dir, ...)`: the thin Python loop around a
              `Trainer`'s compiled update; `RunResult`;
  rundir      the run directory's layout, its lock (one process per run
              dir), config.json and the checks of a new or resumed run;
  checkpoints finding, repairing, saving and keeping checkpoints;
  progress    progress lines and TensorBoard scalars;
  hparams     the run's configuration in TensorBoard's HParams plugin;
  heldout     periodic frozen evaluation and the best checkpoint by it;
  signals     stopping between updates on SIGINT/SIGTERM;
  errors      `RunDirError`, `DiskFullError`.
"""

from meta_rl.run.errors import DiskFullError, RunDirError
from meta_rl.run.loop import RunResult, Trainer, run

__all__ = ['run', 'RunResult', 'Trainer', 'RunDirError', 'DiskFullError']
