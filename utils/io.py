"""Atomic writes and checked reads: a killed run never leaves a half-written file behind."""
from __future__ import annotations

import json
import os
import tempfile
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
