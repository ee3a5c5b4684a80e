"""The errors of a run directory (one line each, for the launchers to print)."""

import errno

import tensorflow as tf


class RunDirError(ValueError):
  """The run directory cannot be used as asked (exists, missing, mismatch)."""


class DiskFullError(RunDirError):
  """No space left on the device while writing the run's files; what was
  written before is intact (checkpoints and exports are atomic)."""


def is_disk_full(e: BaseException) -> bool:
  """Whether `e` is a write that failed for want of space (TensorFlow's
  ResourceExhaustedError or an OSError with ENOSPC)."""
  if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
    return True
  text = getattr(e, 'message', None) or str(e)
  return isinstance(e, (tf.errors.ResourceExhaustedError, OSError,
                        tf.errors.UnknownError)) and (
                            'No space left on device' in text or
                            'Disk quota exceeded' in text)
