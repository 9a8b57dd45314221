"""Atomic writes and checked reads: a killed run never leaves a half-written file behind."""
from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, BinaryIO, Callable

import numpy as np
import torch

from utils.errors import UserError


TMP_SUFFIX = ".tmp"  # a write goes to ".<name>.<random>.tmp" beside its target, then replaces it


def _atomic(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write through a temporary file and rename it over ``path``: ``path`` holds the old content or the new,
    never a mix. A failed write (a full disk, a folder that cannot be created) is a UserError naming the file,
    and ``path`` keeps its old content; a killed one leaves a temporary file that ``remove_stale_temporaries``
    deletes at the next start."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        cause = _os_error(err)
        if cause is not None:
            state = "it keeps its previous content" if path.exists() else "it was not written"
            raise UserError(f"cannot write {path}: {cause.strerror or cause}; {state}") from None
        raise


def _os_error(err: BaseException) -> OSError | None:
    """The OSError behind ``err``: itself, or the one it was raised from or while handling. torch.save turns a
    failed write of its archive (ENOSPC on a full disk) into a RuntimeError ("unexpected pos ...") raised while
    the OSError is being handled."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, OSError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that killed writes left anywhere under ``folder``; returns them."""
    stale = sorted(Path(folder).rglob(f".*{TMP_SUFFIX}"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def save_torch(obj: Any, path: str | os.PathLike) -> None:
    _atomic(Path(path), lambda f: torch.save(obj, f))


def to_host(obj: Any) -> Any:
    """A copy of ``obj`` whose tensors are fresh CPU copies (dicts, lists and tuples rebuilt), so the caller may
    go on changing the originals."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: to_host(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_host(v) for v in obj)
    return obj


class BackgroundSaver:
    """Writes torch files on a worker thread, one at a time, so training does not wait for the disk.

    ``save`` snapshots the object to host memory (the only part the caller waits for), waits for the previous
    write, and starts this one. ``wait`` blocks until everything is written and re-raises a failed write. Used as
    a context manager, nothing is left in flight when the block ends, even when it ends with an exception.
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def save(self, obj: Any, path: str | os.PathLike) -> None:
        snapshot = to_host(obj)
        self.wait()
        self._thread = threading.Thread(target=self._write, args=(snapshot, Path(path)), name="checkpoint-writer")
        self._thread.start()

    def _write(self, obj: Any, path: Path) -> None:
        try:
            save_torch(obj, path)
        except BaseException as err:  # handed to the training thread by wait()
            self._error = err

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def __enter__(self) -> "BackgroundSaver":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.wait()
        elif self._thread is not None:
            self._thread.join()  # finish the write; the exception already on its way matters more than ours


def save_numpy(array: np.ndarray, path: str | os.PathLike) -> None:
    _atomic(Path(path), lambda f: np.save(f, array))


def _unreadable(path: str | os.PathLike, err: BaseException, remedy: str) -> UserError:
    return UserError(f"cannot read {path}: {type(err).__name__}: {err}" + (f"; {remedy}" if remedy else ""))


def load_torch(path: str | os.PathLike, map_location: str | torch.device = "cpu", remedy: str = "") -> Any:
    """Load a file we wrote; a missing, corrupt or truncated file is a UserError naming it, followed by
    ``remedy`` (what the user can do about it)."""
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # torch raises several types for corrupt archives
        raise _unreadable(path, err, remedy) from None


def save_json(obj: Any, path: str | os.PathLike) -> None:
    text = json.dumps(obj, indent=2, sort_keys=False) + "\n"
    _atomic(Path(path), lambda f: f.write(text.encode()))


def load_json(path: str | os.PathLike, remedy: str = "") -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _unreadable(path, err, remedy) from None


def save_text(text: str, path: str | os.PathLike) -> None:
    _atomic(Path(path), lambda f: f.write(text.encode()))
