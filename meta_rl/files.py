"""Files written whole or not at all.

`atomic_file(path)` is the one way this project writes an output that a
reader (or a rerun's overwrite check) may find half-written otherwise: run
configurations (`meta_rl.run.rundir`), evaluation and analysis results (`write_json`,
`write_text`), sweep reports, figures (`save_figure`) and recordings
(`evaluation.write_recording`, evaluate.py --record, mode 'wb').
"""

import contextlib
import json
import os
import tempfile
from typing import Any, Dict


@contextlib.contextmanager
def atomic_file(path: str, mode: str = 'w'):
  """A file to write (`mode` 'w' text, 'wb' binary) that becomes `path` only when the block ends
  without error: written to a temporary file in the same directory, synced
  to disk, then renamed into place. An error (or an interrupt) removes the
  temporary file and leaves an existing `path` as it was, so a failed write
  never leaves a truncated output (which would also block the rerun)."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=f'.{os.path.basename(path)}.',
                             suffix='.tmp', dir=directory)
  try:
    with os.fdopen(fd, mode) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.chmod(tmp, 0o644)  # mkstemp's 0600 otherwise
    os.replace(tmp, path)
  except BaseException:
    try:
      os.remove(tmp)
    except OSError:
      pass
    raise


def write_json(path: str, data: Dict[str, Any]) -> None:
  """Writes `data` as JSON to `path` atomically (`atomic_file`)."""
  with atomic_file(path) as f:
    json.dump(data, f, indent=1)


def write_text(path: str, text: str) -> None:
  """Writes `text` to `path` atomically (`atomic_file`)."""
  with atomic_file(path) as f:
    f.write(text)


def save_figure(fig, path: str, **kwargs) -> None:
  """`fig.savefig(path, **kwargs)` atomically (`atomic_file`); the format
  comes from the file name's extension."""
  fmt = os.path.splitext(path)[1].lstrip('.').lower() or 'png'
  with atomic_file(path, 'wb') as f:
    fig.savefig(f, format=fmt, **kwargs)
