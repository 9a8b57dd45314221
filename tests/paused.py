"""Several main_imp.py or evaluate.py processes on one run at once, each stopped at one point until its test lets
it go, for tests/test_concurrency.py: ``python tests/paused.py train|evaluate FOLDER ARGV [-- ARGV ...]``.

The code is imported once, then one child is forked per ARGV (before any computation, so no thread pool exists),
all at once. The point is, for ``train``, right after the run directory is claimed (its lock taken); for
``evaluate``, right after robustness.json was read. There a child creates ``FOLDER/<pid>.here`` and waits until
``FOLDER/go`` exists. Each child's output goes to ``FOLDER/<pid>.log``; this process prints one JSON line
``{"pids": [...]}`` once all are started, then ``{"pid": P, "exit": CODE}`` as each ends (-9 when killed).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WAIT_S = 120  # a test that never lets go must not leave processes behind for long


def pause(folder: Path) -> None:
    (folder / f"{os.getpid()}.here").touch()
    deadline = time.monotonic() + WAIT_S
    while not (folder / "go").exists():
        if time.monotonic() > deadline:
            sys.exit(f"paused.py: not let go within {WAIT_S} s")
        time.sleep(0.02)


def child(run, folder: Path, argv: list[str]) -> None:
    code = 1
    try:
        log = os.open(folder / f"{os.getpid()}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(log, 1)
        os.dup2(log, 2)
        code = run(argv)
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    what, folder, *rest = sys.argv[1:]
    if what == "train":
        from lottery.cli import main as run
        from lottery.run_dir import RunDir as cls
        method = "claim"
    else:
        from robustness.cli import main as run
        from robustness.store import Store as cls
        method = "__init__"
    original = getattr(cls, method)

    def paused(self, *args, **kwargs):
        original(self, *args, **kwargs)
        pause(Path(folder))

    setattr(cls, method, paused)
    argvs, current = [], []
    for word in [*rest, "--"]:
        if word == "--":
            argvs.append(current)
            current = []
        else:
            current.append(word)
    pids = []
    for argv in argvs:
        pid = os.fork()
        if pid == 0:
            child(run, Path(folder), argv)
        pids.append(pid)
    print(json.dumps({"pids": pids}), flush=True)
    for _ in pids:
        pid, status = os.wait()
        print(json.dumps({"pid": pid, "exit": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    main()
