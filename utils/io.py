"""Atomic writes and checked reads: a killed run never leaves a half-written file behind."""
from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import torch

from utils.errors import UserError


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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


def load_torch(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """Load a file we wrote; a corrupt or truncated file is a UserError naming it."""
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # torch raises several types for corrupt archives
        raise UserError(f"cannot read {path}: {type(err).__name__}: {err}; delete it to redo that step") from None


def save_json(obj: Any, path: str | os.PathLike) -> None:
    text = json.dumps(obj, indent=2, sort_keys=False) + "\n"
    _atomic(Path(path), lambda f: f.write(text.encode()))


def load_json(path: str | os.PathLike) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"cannot read {path}: {err}") from None


def save_text(text: str, path: str | os.PathLike) -> None:
    _atomic(Path(path), lambda f: f.write(text.encode()))
