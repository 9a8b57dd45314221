"""Where a result came from: the code version (git commit) and the machine, for run records and results/."""
from __future__ import annotations

import functools
import os
import platform
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=1)
def code_version() -> str | None:
    """The repository's commit, with ``-dirty`` when tracked files differ from it; None outside a git checkout
    (an unpacked archive) or without git."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True,
                              timeout=30).stdout.strip()
    try:
        commit = git("rev-parse", "--short=10", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def machine() -> str:
    """The processor model and core count, e.g. ``AMD EPYC 7B13, 2 cores (x86_64, Linux)``."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores ({platform.machine()}, {platform.system()})"
