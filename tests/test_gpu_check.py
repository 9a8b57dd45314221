"""bench/gpu_check.py: stages run in child processes; one that overruns is stopped with its stack printed."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECK = Path(__file__).resolve().parents[1] / "bench" / "gpu_check.py"
TINY = "--dataset synthetic --per-class 4 --width 4 --batch-size 8 --augment autoaug --cutout --device cpu"


def run_check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECK), "--flags", TINY, *args], capture_output=True, text=True,
                          timeout=300)


def test_a_hanging_stage_is_stopped_and_shows_where_it_hangs():
    result = run_check("--stages", "sleep", "--limit", "3")
    assert result.returncode == 1
    assert "| sleep | overran (stack above) |" in result.stdout
    assert "stage_sleep" in result.stderr  # faulthandler's dump names the function it hung in


def test_cpu_stages_run_and_cuda_stages_skip_without_a_gpu():
    result = run_check("--stages", "cuda,eager", "--limit", "200")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| eager | ok |" in result.stdout and "3 eager steps" in result.stdout
    import torch
    assert ("| cuda | ok |" if torch.cuda.is_available() else "| cuda | skipped |") in result.stdout
