"""Stopping a run between updates on SIGINT (Ctrl-C) or SIGTERM."""

import signal
from typing import Callable, Optional


class StopOnSignal:
  """While entered, SIGINT and SIGTERM only set `signal` (their number),
  which the run loop reads between updates, so a signal during an update
  (the first one's compilation included) stops the run after it; a second
  Ctrl-C raises KeyboardInterrupt at once. With `enabled=False` the handlers
  are left alone (needed off the main thread, e.g. in a Ray Tune worker).
  The previous handlers come back on exit.
  """

  def __init__(self, log: Callable[[str], None], name: str,
               enabled: bool = True):
    self._log = log
    self._name = name
    self._enabled = enabled
    self._old = {}
    self.signal: Optional[int] = None

  def _handler(self, signum, frame):
    del frame
    if self.signal == signal.SIGINT and signum == signal.SIGINT:
      raise KeyboardInterrupt  # a second Ctrl-C: stop now (still checkpoints)
    self.signal = signum
    try:
      self._log(f'[{self._name}] signal {signum}: stopping after the current '
                'update' + (' (Ctrl-C again: now)'
                            if signum == signal.SIGINT else ''))
    except RuntimeError:  # a reentrant write to the stream: skip the line
      pass

  def __enter__(self):
    if self._enabled:
      self._old = {s: signal.signal(s, self._handler)
                   for s in (signal.SIGTERM, signal.SIGINT)}
    return self

  def __exit__(self, *exc):
    for s, handler in self._old.items():
      signal.signal(s, handler)
    self._old = {}


def describe(signum: int) -> str:
  """How a stop line names a signal."""
  return {signal.SIGINT: 'interrupted (SIGINT)',
          signal.SIGTERM: 'SIGTERM'}.get(signum, f'signal {signum}')
