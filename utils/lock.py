"""Advisory locks between processes, on a file beside what they protect (POSIX record locks, ``fcntl.lockf``).

The kernel drops such a lock when the process holding it ends, however it ends (SIGKILL, a crash, a SLURM
preemption), so a killed process never blocks the next start and there is nothing to clean up. The locks belong
to the process, not to a file descriptor: child processes (DataLoader workers) do not hold them, and one process
asking again for a lock it holds gets it at once (so a notebook or a test may run the same thing twice). The
holder writes ``pid host start-time`` into the file, for the message another process shows when it is refused.

Used for a run directory while it trains (``lottery.run_dir``) and around each read-merge-write of a run's
``robustness.json`` (``robustness.store``).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import sys
import time
from pathlib import Path
from typing import Iterator

from utils.errors import UserError

_held: dict[Path, int] = {}  # lock file -> the descriptor that holds it (closing any of ours would release it)


class Busy(UserError):
    """The lock is held by another process; the message names it."""


def holder(path: str | os.PathLike) -> str:
    """Who holds ``path``, as its holder wrote it: ``process 123 on host (since 2026-01-01 12:00:00)``."""
    try:
        pid, host, since = Path(path).read_text().split(maxsplit=2)
    except (OSError, ValueError):
        return "another process"  # it has not written its name yet
    return f"process {pid} on {host} (since {since.strip()})"


def acquire(path: str | os.PathLike, wait: bool = False, busy: str = "{path} is in use by {holder}") -> bool:
    """Take the lock on ``path`` (created if absent) for this process until ``release`` or its end. Returns
    False when this process already held it. Held by another: with ``wait``, block until it is free; without,
    raise Busy with ``busy`` (``{path}`` and ``{holder}`` filled in). A file system without locks (some network
    mounts) is a warning, not an error: the caller goes on unprotected."""
    path = Path(path).absolute()
    if path in _held:
        return False
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise UserError(f"cannot create the lock file {path}: {err.strerror or err}") from None
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.EACCES, errno.EAGAIN):
            raise Busy(busy.format(path=path, holder=holder(path))) from None
        print(f"warning: cannot lock {path} ({err.strerror or err}); nothing stops another process from "
              f"writing there at the same time", file=sys.stderr)
        return False
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {socket.gethostname()} {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
    _held[path] = fd
    return True


def release(path: str | os.PathLike) -> None:
    """Give up this process's lock on ``path`` (nothing if it holds none); the file stays, for the next holder."""
    fd = _held.pop(Path(path).absolute(), None)
    if fd is not None:
        os.close(fd)  # closing drops the lock


def release_all() -> None:
    for path in list(_held):
        release(path)


@contextlib.contextmanager
def locked(path: str | os.PathLike) -> Iterator[None]:
    """Hold the lock on ``path`` for the block, waiting for another holder to let go first (for short critical
    sections); a lock this process already held stays held afterwards."""
    taken = acquire(path, wait=True)
    try:
        yield
    finally:
        if taken:
            release(path)
