"""A fork server for tests/test_kill_resume.py: imports the code once, then runs ``main_imp.py``'s ``main`` (or the
``main`` of the module named as its argument: ``selfsup.cli`` for pretrain_ssl.py) in a forked child per request,
so that each of the many kill-and-resume attempts costs its run, not a Python and torch start-up (seconds on a
2-core machine). Forking happens before any computation, so no thread pools exist.

Protocol (JSON lines): the test writes ``[kill_at_write, argv]``; the server answers ``{"pid": ...}``, the child's
stdout follows (the run's own lines), then the child's last line ``{"writes": N}`` if it ran to the end, then
``{"exit": code}`` (-9 when killed). ``kill_at_write`` is ``"N:PHASE"``: the child SIGKILLs itself during its
N-th atomic file write (every file goes through ``utils.io._atomic``, the checkpoint thread's too):

- ``torn``: half of the file's bytes are in the temporary file;
- ``unreplaced``: the temporary file is complete and synced but not yet renamed over the target;
- ``after``: the target was just replaced, before whatever follows (the next write, an unlink).

``"0:none"`` kills nothing.
"""
from __future__ import annotations

import io
import itertools
import json
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import importlib  # noqa: E402

import lottery.runner  # noqa: E402,F401  (the heavy imports, once, before forking)
import utils.io  # noqa: E402

# the entry point's module (its ``main(argv)``): main_imp.py's by default, or e.g. ``selfsup.cli``
main = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else "lottery.cli").main


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(target: int, phase: str) -> list[int]:
    """Wrap utils.io._atomic to count writes and kill this process in the ``target``-th; returns the count."""
    original = utils.io._atomic
    counter = itertools.count(1)  # next() is atomic under the GIL: the writer thread counts too
    written = [0]

    def atomic(path, write):
        n = written[0] = next(counter)
        if n != target:
            return original(path, write)
        if phase == "after":
            original(path, write)
            _die()

        def killed_mid_write(f):
            buf = io.BytesIO()
            write(buf)
            data = buf.getvalue()
            f.write(data[: len(data) // 2] if phase == "torn" else data)
            f.flush()
            os.fsync(f.fileno())
            _die()

        original(path, killed_mid_write)

    utils.io._atomic = atomic
    return written


def child(spec: str, argv: list[str]) -> None:
    code = 1
    try:
        n, phase = spec.split(":")
        written = install(int(n), phase)
        code = main(argv)
        print(json.dumps({"writes": written[0]}))
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    for line in sys.stdin:
        spec, argv = json.loads(line)
        pid = os.fork()
        if pid == 0:
            child(spec, argv)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"exit": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    serve()
