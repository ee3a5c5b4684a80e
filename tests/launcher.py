"""Runs a launcher as a user does (`python launch/<script> ARGS`) at the cost
of a fork instead of a TensorFlow import.

Each test process starts, on first use, one server process
(`python tests/launcher.py --serve`) that imports TensorFlow and the
project's packages once, runs no TensorFlow op, and then, for each request,
forks a child that is the launcher's process: its own argv, environment,
working directory, stdout and stderr (file descriptors 1 and 2, so C-level
output is captured too), `sys.path[0]` the script's folder and the
PYTHONPATH entries in front, the script run as `__main__`, and its exit
status. Nothing of one launcher run survives into the next (each child
starts from the server's clean state, which never runs a TensorFlow op).

`run` returns a `subprocess.CompletedProcess`. Set `META_RL_TEST_SUBPROCESS=1`
to run every launcher in a fresh interpreter instead (the slow way, for
comparison). Tests that signal or kill the launcher use `subprocess.Popen`
themselves.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
_server = None
_lock = threading.Lock()


def _script_path(script):
  return script if os.path.isabs(script) else os.path.join(
      ROOT, script if os.sep in script else os.path.join('launch', script))


def run(script, *args, env=None, cwd=ROOT, check=None, timeout=900,
        stdin_text=None):
  """`python <script> ARGS` (script: a file of launch/ or a path), with
  `env` (default: the test environment) in `cwd`; asserts the exit status
  `check` if given."""
  path = _script_path(script)
  env = dict(ENV if env is None else env)
  if os.environ.get('META_RL_TEST_SUBPROCESS') == '1' or stdin_text is not None:
    proc = subprocess.run([sys.executable, path, *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=timeout,
                          input=stdin_text)
  else:
    proc = _forked(path, list(args), env, cwd, timeout)
  if check is not None:
    assert proc.returncode == check, proc.stderr[-3000:]
  return proc


def _forked(path, args, env, cwd, timeout):
  global _server
  with _lock:
    if _server is None or _server.poll() is not None:
      _server = subprocess.Popen(
          [sys.executable, os.path.abspath(__file__), '--serve'],
          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV,
          cwd=ROOT)
      assert _server.stdout.readline().strip() == 'ready'
    with tempfile.TemporaryDirectory() as tmp:
      out, err = os.path.join(tmp, 'out'), os.path.join(tmp, 'err')
      request = dict(path=path, args=args, env=env, cwd=cwd, stdout=out,
                     stderr=err)
      _server.stdin.write(json.dumps(request) + '\n')
      _server.stdin.flush()
      started = _server.stdout.readline()
      if not started:
        _server = None
        raise RuntimeError(f'the launcher server died before {path} {args}')
      pid = json.loads(started)['pid']
      fired = threading.Event()
      timer = threading.Timer(timeout, _kill, (pid, fired))
      timer.start()
      try:
        reply = _server.stdout.readline()
      finally:
        timer.cancel()
      if not reply:
        _server = None
        raise RuntimeError(f'the launcher server died running {path} {args}')
      returncode = json.loads(reply)['returncode']
      if fired.is_set():
        with open(err, errors='replace') as f:
          raise subprocess.TimeoutExpired([path, *args], timeout,
                                          stderr=f.read())
      with open(out, errors='replace') as f:
        stdout = f.read()
      with open(err, errors='replace') as f:
        stderr = f.read()
  return subprocess.CompletedProcess([sys.executable, path, *args],
                                     returncode, stdout, stderr)


def _kill(pid, fired):
  fired.set()
  try:
    os.kill(pid, signal.SIGKILL)
  except ProcessLookupError:
    pass


def _child(request):
  """In the forked child: become `python <path> <args>` and exit."""
  import runpy  # pylint: disable=g-import-not-at-top
  import traceback  # pylint: disable=g-import-not-at-top
  code = 1
  try:
    os.setpgrp()  # its own process group, as a shell gives a command
    files = ((0, os.devnull, os.O_RDONLY),
             (1, request['stdout'], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
             (2, request['stderr'], os.O_WRONLY | os.O_CREAT | os.O_TRUNC))
    for fd, name, mode in files:
      f = os.open(name, mode, 0o644)
      os.dup2(f, fd)
      os.close(f)
    sys.stdin = open(0, closefd=False)  # pylint: disable=consider-using-with
    os.environ.clear()
    os.environ.update(request['env'])
    os.chdir(request['cwd'])
    path = request['path']
    extra = [p for p in request['env'].get('PYTHONPATH', '').split(os.pathsep)
             if p]
    sys.path[:] = [os.path.dirname(path), *extra, *sys.path[1:]]
    sys.argv = [path, *request['args']]
    try:
      runpy.run_path(path, run_name='__main__')
      code = 0
    except SystemExit as e:  # as the interpreter ends on it
      if e.code is None or isinstance(e.code, int):
        code = e.code or 0
      else:
        print(e.code, file=sys.stderr)
        code = 1
    except BaseException:  # pylint: disable=broad-except
      traceback.print_exc()
      code = 1
  finally:
    try:
      sys.stdout.flush()
      sys.stderr.flush()
    finally:
      os._exit(code)  # pylint: disable=protected-access


def _serve():
  """The server: import once, then fork a child per request line."""
  sys.path[:0] = [ROOT, os.path.join(ROOT, 'launch')]
  import common  # pylint: disable=g-import-not-at-top
  common.import_tensorflow()  # as a launcher does: quiet, logging levels set
  import environments  # pylint: disable=g-import-not-at-top,unused-import
  import meta_rl  # pylint: disable=g-import-not-at-top,unused-import
  del sys.path[:2]
  print('ready', flush=True)
  for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
      _child(request)
    print(json.dumps({'pid': pid}), flush=True)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({'returncode': os.waitstatus_to_exitcode(status)}),
          flush=True)


if __name__ == '__main__' and sys.argv[1:] == ['--serve']:
  _serve()
