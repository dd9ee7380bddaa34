"""A server that runs the tests' commands, each `python SCRIPT ARGS` or `python -m MODULE ARGS`,
as forks of one interpreter that imported jaxgan and its libraries once (conftest.run).

    python tests/forked_runs.py TIMEOUT_S   # reads one JSON {args, xla_flags} per line from stdin,
                                            # writes one JSON {returncode, stdout, stderr} per line

A child still running after TIMEOUT_S seconds (conftest.RUN_TIMEOUT_S) is ended by SIGALRM.

Each child is the command's own process: it runs the script as __main__ with its sys.argv,
its stdout and stderr go to files of its own, and its exit status is its own (sys.exit,
os._exit, a signal). Only the 1–2 s of imports a fresh interpreter pays are shared (the suite
starts a hundred commands): the server never starts JAX's backend, so each child starts its
own, as a fresh process would, from the environment the server was started with, or with
the request's XLA_FLAGS (XLA reads them when the backend starts; a request's xla_flags of
None keeps the server's).
"""

import json
import os
import runpy
import signal
import sys
import tempfile
import traceback

import jaxgan.builders  # noqa: F401 (the imports every child shares)
import jaxgan.cli  # noqa: F401


def run_child(args: list[str], xla_flags: str | None, timeout_s: int) -> int:
  """Runs `python ARGS` in this (forked) process, with XLA_FLAGS set to xla_flags unless it is
  None; its exit status."""
  signal.alarm(timeout_s)
  if xla_flags is not None:
    os.environ["XLA_FLAGS"] = xla_flags
  try:
    if args[0] == "-m":
      sys.argv = [args[1], *args[2:]]
      sys.path[0] = os.getcwd()
      runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    else:
      sys.argv = list(args)
      sys.path[0] = os.path.dirname(os.path.abspath(args[0]))
      runpy.run_path(args[0], run_name="__main__")
    return 0
  except SystemExit as e:
    if e.code is None or isinstance(e.code, int):
      return e.code or 0
    print(e.code, file=sys.stderr)
    return 1
  except BaseException:  # noqa: BLE001 (an uncaught exception, as the interpreter reports it)
    traceback.print_exc()
    return 1


def run_forked(args: list[str], xla_flags: str | None, timeout_s: int) -> dict:
  """{returncode, stdout, stderr} of `python ARGS` run in a fork of this process."""
  with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
      os.dup2(out.fileno(), 1)
      os.dup2(err.fileno(), 2)
      code = run_child(args, xla_flags, timeout_s)
      sys.stdout.flush()
      sys.stderr.flush()
      os._exit(code)
    _, status = os.waitpid(pid, 0)
    out.seek(0)
    err.seek(0)
    return {
      "returncode": os.waitstatus_to_exitcode(status),
      "stdout": out.read().decode(errors="replace"),
      "stderr": err.read().decode(errors="replace"),
    }


def main(timeout_s: int) -> None:
  for line in sys.stdin:
    request = json.loads(line)
    result = run_forked(request["args"], request["xla_flags"], timeout_s)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
  main(int(sys.argv[1]))
