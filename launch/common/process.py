"""The launcher process: start-up, Ctrl-C and SIGTERM, one-line errors.

`start()` is the first thing a launcher does (`import common;
common.start()`): nothing happens on `import common` itself.
"""

import os
import re
import signal
import sys
from typing import Optional

from absl import flags
from absl import logging as absl_logging

FLAGS = flags.FLAGS

# The real stderr, also while `import_tensorflow` sends fd 2 to /dev/null
# (duplicated by `start`).
_STDERR: Optional[int] = None
_started = False  # set once the flags are parsed (`parse_flags`)


def start():
  """A launcher's set-up, before anything else it does: Ctrl-C and SIGTERM
  become one line and exit 128 + signal (130, 143) with no traceback
  (`_interrupted`; the training loop handles them itself while it runs),
  and TensorFlow is imported with its start-up banner kept off stderr, so
  that stderr carries only progress and error lines. Only the launcher
  process (its main module in launch/) installs handlers, not a test or a
  Ray worker that imports a launcher; handlers set by someone else are
  kept."""
  global _STDERR
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # before TF is imported
  if _STDERR is None:
    _STDERR = os.dup(2)
  if _in_launcher():  # not in a test or a Ray worker that imports a launcher
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
      signal.signal(signal.SIGINT, _interrupted)
    # SIGTERM as Ctrl-C (exit 143): outputs being written are removed.
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
      signal.signal(signal.SIGTERM, _interrupted)
  import_tensorflow()


def _in_launcher() -> bool:
  """Whether the process's main module is a launcher of launch/."""
  main = getattr(sys.modules.get('__main__'), '__file__', None) or ''
  return os.path.dirname(os.path.abspath(main)) == os.path.dirname(
      os.path.dirname(os.path.abspath(__file__)))


def _interrupted(signum, frame):
  """Ctrl-C or SIGTERM in a launcher outside the training loop (which
  handles them itself: `loop.run`): one line and exit 128 + signal (130,
  143), no traceback. While
  starting (imports, flags) nothing has been done: the process ends at once;
  later SystemExit unwinds, so that outputs being written are removed
  (exports, JSON and config files are written whole or not at all)."""
  del frame
  what = b'interrupted (Ctrl-C)' if signum == signal.SIGINT else (
      b'terminated (SIGTERM)')
  os.write(_STDERR if _STDERR is not None else 2, what +
           (b' while starting; nothing was done\n' if not _started else b'\n'))
  if not _started:
    os._exit(128 + signum)  # pylint: disable=protected-access
  raise SystemExit(128 + signum)


def import_tensorflow():
  """Imports TensorFlow with its C++ start-up banner (oneDNN notice, which
  TF_CPP_MIN_LOG_LEVEL does not silence in 2.21) kept off stderr, so that
  stderr carries only our progress and error lines."""
  if 'tensorflow' in sys.modules:
    return sys.modules['tensorflow']
  sys.stderr.flush()
  saved = os.dup(2)
  devnull = os.open(os.devnull, os.O_WRONLY)
  try:
    os.dup2(devnull, 2)
    import tensorflow  # pylint: disable=g-import-not-at-top
  finally:
    os.dup2(saved, 2)
    os.close(saved)
    os.close(devnull)
  tensorflow.get_logger().setLevel('WARNING')
  # TF logs an INFO line per checkpoint through absl logging.
  absl_logging.set_verbosity(absl_logging.WARNING)
  return tensorflow


def mark_started():
  """From now on Ctrl-C outside training unwinds (SystemExit) instead of
  ending the process at once (see `_interrupted`)."""
  global _started
  _started = True


def as_flags(message, fv=FLAGS):
  """A library message in a launcher's words: the library names a setting in
  backticks (`batch_size`, the config field), the launcher by its flag
  (--batch_size). Names that are not flags of `fv` keep their backticks."""
  return re.sub(r'`([A-Za-z_][A-Za-z0-9_]*)`',
                lambda m: f'--{m[1]}' if m[1] in fv else m[0], message)


def fail(message, status=2):
  """One clear line on stderr (settings named as flags: `as_flags`), then
  exit (2: bad input)."""
  print(f'error: {as_flags(message)}', file=sys.stderr, flush=True)
  sys.exit(status)
