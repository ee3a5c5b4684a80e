"""A run's checkpoints: finding them on disk (whatever the index file
says), skipping damaged ones, the manager a run saves with, and the
checkpoints it keeps for good (every `keep_every` updates, in kept/).

A checkpoint is found by its files (`ckpt-N.index`, `ckpt-N.data-*`), not by
the manager's `checkpoint` index file, which a kill can leave stale or
damaged; `Checkpoints` repairs the index on resume.
"""

import json
import os
import shutil
import sys
from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from meta_rl.run.errors import RunDirError
from meta_rl.training import NonFiniteLossError

# Inside RUN_DIR/checkpoints/: the checkpoints kept for good.
KEPT = 'kept'
# The latest checkpoints the manager keeps.
MAX_TO_KEEP = 3


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
  for v in [*trainer.agent.variables, *trainer.optimizer.variables]:
    value = np.asarray(v.numpy())
    if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
      return getattr(v, 'path', None) or v.name
  return None


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


class Checkpoints:
  """The checkpoint manager of a run in RUN_DIR/checkpoints/.

  Built with `resume`, it removes the folders of interrupted checkpoint
  writes and restores the newest checkpoint found on disk that restores
  (whatever the `checkpoint` index file says, which is rewritten if damaged),
  logging each newer one skipped and why; RunDirError if there are
  checkpoints and none restores; `restored` is None if there is none. The
  manager keeps the latest `MAX_TO_KEEP`; `save(u)` refuses weights (or
  optimizer state) that hold NaN or inf (`NonFiniteLossError`), so the
  latest checkpoint on disk stays the last good one; with `keep_every`,
  `after_update(u)` also keeps every update that is a multiple of it in
  kept/ (for analyses over training, e.g. Fig 6f; see `kept_checkpoints`).
  """

  def __init__(self, trainer, run_dir: str, resume: bool,
               log: Callable[[str], None], name: str,
               checkpoint_every: int, keep_every: Optional[int] = None):
    self._trainer = trainer
    self._log = log
    self._name = name
    self._every = checkpoint_every
    self._keep_every = keep_every
    directory = os.path.join(run_dir, 'checkpoints')
    self.restored = None
    if resume:
      removed = _remove_stale_temps(directory)
      if removed:
        log(f'[{name}] removed unfinished checkpoint writes: '
            f'{", ".join(removed)}')
      self.restored, prefixes = _restore_newest(trainer, directory, log, name)
      if self.restored and _index_latest(directory) != self.restored:
        # A damaged or stale index file: the manager must continue from
        # (and rotate) the checkpoints that are on disk.
        log(f'[{name}] rewrote the index file {directory}/checkpoint from '
            'the checkpoints on disk')
        _write_index(directory, self.restored, prefixes)
    index = os.path.join(directory, 'checkpoint')
    if (not self.restored and not disk_checkpoints(directory) and
        os.path.exists(index)):
      os.remove(index)  # names no checkpoint that exists (or is unreadable)
    self._manager = tf.train.CheckpointManager(
        trainer.checkpoint, directory, max_to_keep=MAX_TO_KEEP)
    if self.restored:
      log(f'[{name}] resumed from {self.restored} at update '
          f'{trainer.num_updates}')
    elif resume:
      log(f'[{name}] no checkpoint in {directory}: starting from scratch')

  @property
  def latest(self) -> Optional[str]:
    return self._manager.latest_checkpoint

  def save(self, number: int) -> str:
    """Checkpoints update `number`; NonFiniteLossError (nothing written) if
    a weight holds NaN or inf."""
    bad = _non_finite(self._trainer)
    if bad is not None:
      raise NonFiniteLossError(f'non-finite weights ({bad}) at update '
                               f'{number}; not checkpointed')
    return self._manager.save(checkpoint_number=number)

  def of_update(self, number: int) -> str:
    """The checkpoint of update `number`: the latest one if it is of that
    update, else a new one."""
    latest = self.latest
    if latest and latest.endswith(f'ckpt-{number}'):
      return latest
    return self.save(number)

  def after_update(self, number: int) -> None:
    """Saves update `number` if it is due (`checkpoint_every`) or kept
    (`keep_every`: also copied into kept/)."""
    keep = bool(self._keep_every) and number % self._keep_every == 0
    if number % self._every == 0 or keep:
      path = self.save(number)
      if keep:
        _keep_checkpoint(path, os.path.join(self._manager.directory, KEPT))

  def at_exit(self, stopped_by: Optional[int]) -> None:
    """Checkpoints the current update unless the latest checkpoint holds it;
    after a signal, a line says which checkpoint holds what."""
    trainer, log, name = self._trainer, self._log, self._name
    newest = os.path.join(self._manager.directory,
                          f'ckpt-{trainer.num_updates}')
    if trainer.num_updates > 0 and self.latest != newest:
      self.save(trainer.num_updates)
      if stopped_by is not None:
        log(f'[{name}] checkpointed {self.latest}')
    elif stopped_by is not None:
      log(f'[{name}] ' + (
          f'{self.latest} already holds update {trainer.num_updates}'
          if trainer.num_updates > 0 else
          'nothing checkpointed: no update was made'))
