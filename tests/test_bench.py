"""bench/bench.py runs a case end to end on the CPU and reports what it timed."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest
from torch import nn

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench.py"


def load_script(name: str):
    """``bench/<name>.py`` as a module (the tools are not a package)."""
    spec = importlib.util.spec_from_file_location(name, BENCH.parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = load_script("bench")

# Wall-clock limits of the tests that run the tools as processes: far above what they take (under a minute), so
# that a loaded or slow machine makes them slower, never failed; the limits only stop a hang.
PATIENT = 1800

TINY = ("--dataset synthetic --per-class 10 --width 4 --batch-size 40 --epochs 2 --rewind epoch:1 --eval-every 1 "
        "--device cpu")


@pytest.mark.parametrize("epochs, eval_every, expected", [(200, 10, 20), (205, 10, 21), (200, 0, 1), (5, 10, 1)])
def test_evaluations_per_level_count_the_level_end_once(epochs, eval_every, expected):
    assert bench.evaluations_per_level(epochs, eval_every) == expected


def test_training_flops_count_forward_and_backward_by_hand():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.Flatten(), nn.Linear(4 * 8 * 8, 10, bias=False))
    conv = 2 * (3 * 3 * 3) * 4 * (8 * 8)  # multiply-adds per output value x outputs
    linear = 2 * (4 * 8 * 8) * 10
    # backward: the conv's weight gradient only (its input needs none), the linear's input and weight gradients
    assert bench.training_flops_per_image(model, (3, 8, 8)) == 2 * conv + 3 * linear


def test_bench_times_epochs_and_a_real_level(capsys):
    row = bench.bench_case([*TINY.split(), "--checkpoint-minutes", "0"], warmup=1, timed=2, full_level=True, tile=2)
    assert row["train_images"] == 200 and row["steps_per_epoch"] == 5 and row["chunk_steps"] == 5
    assert row["setup"] == "fp32, compile off, data on cpu"
    assert row["s_per_epoch"] >= row["min_s_per_epoch"] > 0
    assert row["images_per_s"] == pytest.approx(5 * 40 / row["s_per_epoch"])
    assert row["level_kind"] == "measured" and row["level_s"] > 0
    # the epoch's parts, timed apart: one chunk of 5 steps per epoch here
    assert row["chunks_per_epoch"] == 1 and row["augment_ms"] > 0 and row["step_ms"] > 0
    assert row["step_tflops"] > 0
    # the level really ran: train_level prints its summary line
    assert "level  0: density 100.00%" in capsys.readouterr().out


def test_bench_main_prints_one_row_per_case(capsys):
    assert bench.main(["--common", TINY, "--case", "--augment none", "--case", "--augment autoaug --cutout",
                       "--warmup-epochs", "0", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    table = out[out.index("| case |"):].splitlines()
    assert len(table) == 4
    assert "--augment none" in table[2] and "--augment autoaug --cutout" in table[3]
    assert all("(estimated, 2 epochs)" in line for line in table[2:])
    assert "| augment (ms/chunk) | step (ms) |" in table[0]
    assert all(len(line.split("|")) == len(table[0].split("|")) for line in table)


def test_paper_recipe_script_runs_all_its_measurements_on_a_cpu(tmp_path):
    """bench/bench_paper.sh with its knobs turned down: both tables, a complete IMP run, the packing tables."""
    extra = "--device cpu --dataset synthetic --per-class 10 --width 4 --epochs 2 --rewind epoch:1 --rounds 2 " \
            "--batch-size 50"
    env = {**os.environ, "COMPILE_MODES": "off", "TILE": "2", "EXTRA": extra, "CHECK": "0", "PACK": "1",
           "PACK_JOBS": "1", "PACK_EPOCHS": "2", "LIMIT": str(PATIENT)}
    done = subprocess.run(["bash", str(BENCH.parent / "bench_paper.sh"), "unused", str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=PATIENT)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for heading in ("== 1% of CIFAR-10 ==", "== 100% (1% x 2) ==", "== one IMP run at 1% =="):
        assert heading in out
    # every step's whole output is in its log; the summary at the end names each step and its exit status
    summary = out.split("== summary")[1]
    assert [line.split(":")[0] for line in summary.splitlines()[1:6]] == ["full", "one", "imp", "pack_one",
                                                                          "pack_full"]
    assert all(": exit 0 in " in line for line in summary.splitlines()[1:6])
    assert "(measured, 2 epochs)" in summary and "(estimated, 2 epochs)" in summary
    assert "IMP run at 1%: " in summary
    assert "runs packed, 1%:" in summary and "runs packed, 100% (1% x 2):" in summary
    assert {p.name for p in (tmp_path / "logs").iterdir()} == {"full.log", "one.log", "imp.log", "pack_one.log",
                                                               "pack_full.log"}
    (results,) = tmp_path.glob("*/results.json")
    assert [r["level"] for r in json.loads(results.read_text())["levels"]] == [0, 1]


def test_bench_jobs_gives_workers_the_cpu_threads_a_sweep_gives_its_runs(monkeypatch):
    """One after another, each run has torch's default threads (JOBS=1); at once, each has its share of the cores
    (JOBS=N, sweep.local.cpu_threads). A cap of cores / max(N) on every worker made the one-after-another baseline
    slow and inflated the speed-up on a CPU."""
    bench_jobs = load_script("bench_jobs")
    started, told = [], []
    monkeypatch.setattr(bench_jobs.subprocess, "Popen", lambda *a, **kw: started.append(kw) or object())
    monkeypatch.setattr(bench_jobs, "_read", lambda w: "ready")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    workers = bench_jobs.start_workers(["--device", "cpu"], 4, 1)
    assert len(workers) == 4 and all(kw.get("env") is None for kw in started)
    monkeypatch.setattr(bench_jobs, "_go", lambda w, threads: told.append(threads))
    monkeypatch.setattr(bench_jobs, "_read", lambda w: json.dumps({"images": 100, "seconds": 1.0}))
    bench_jobs.measure(workers)
    assert told == [None] * 4 + [4] * 4
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's setting wins, as in a sweep
    told.clear()
    bench_jobs.measure(workers[:2])
    assert told == [None] * 4


def test_bench_jobs_times_runs_one_after_another_and_at_once(capsys):
    bench_jobs = load_script("bench_jobs")
    tiny = "--dataset synthetic --per-class 10 --width 4 --batch-size 50 --device cpu"
    assert bench_jobs.main(["--common", tiny, "--jobs", "1", "2", "--epochs", "1"]) == 0
    table = capsys.readouterr().out.split("| N |")[1].splitlines()[2:]
    assert [line.split("|")[1].strip() for line in table] == ["1", "2"]
    for line in table:
        sequential, together, speedup, packed, packed_speedup = (float(c.strip().rstrip("x"))
                                                                 for c in line.split("|")[2:7])
        assert sequential > 0 and together > 0 and speedup == pytest.approx(together / sequential, rel=0.02)
        assert packed > 0 and packed_speedup == pytest.approx(packed / sequential, rel=0.02)


def test_a_step_that_fails_is_reported_and_fails_the_script(tmp_path):
    env = {**os.environ, "COMPILE_MODES": "off", "TILE": "2", "CHECK": "0", "LIMIT": str(PATIENT),
           "EXTRA": "--device cpu --dataset synthetic --width 4 --epochs 1 --no-such-flag"}
    # what an earlier call left: its logs must not reach this summary, its IMP run must not be resumed
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "profile.log").write_text("| stale table |\n")
    (tmp_path / "0123456789").mkdir()
    (tmp_path / "0123456789" / "hparams.json").write_text("{}")
    done = subprocess.run(["bash", str(BENCH.parent / "bench_paper.sh"), "unused", str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=PATIENT)
    assert done.returncode == 1
    summary = done.stdout.split("== summary")[1]
    assert "full: exit 2 in" in summary and "imp: exit 2 in" in summary
    assert "--no-such-flag" in (tmp_path / "logs" / "full.log").read_text()
    assert "stale" not in done.stdout and not (tmp_path / "logs" / "profile.log").exists()
    assert not (tmp_path / "0123456789").exists()


def test_speedup_variants_change_what_they_name(monkeypatch):
    import torch
    import training.loop as loop
    speedups = load_script("bench_speedups")
    monkeypatch.setattr(loop, "SGD", loop.SGD)  # restored after the test
    monkeypatch.setattr(torch.backends.cudnn, "benchmark_limit", torch.backends.cudnn.benchmark_limit)
    _, _, _, _, trainer = bench.build_trainer(TINY.split())
    assert trainer.optimizer.fused is True  # the default on a CPU
    speedups.apply_settings(speedups.VARIANTS["before"][1])
    assert bench.build_trainer(TINY.split())[-1].optimizer.fused is False
    speedups.apply_settings(speedups.VARIANTS["cudnn-all"][1])
    assert bench.build_trainer(TINY.split())[-1].optimizer.fused is True
    assert torch.backends.cudnn.benchmark_limit == 0
    monkeypatch.setattr(loop, "compile_augmentation", loop.compile_augmentation)
    speedups.apply_settings(speedups.VARIANTS["compile model"][1])
    policy = torch.nn.Identity()
    assert loop.compile_augmentation(policy) is policy
    import torch._inductor.config as inductor
    monkeypatch.setattr(inductor, "max_autotune", False)
    speedups.apply_settings(speedups.VARIANTS["max-autotune"][1])
    assert inductor.max_autotune is True
    monkeypatch.setattr(inductor.triton, "multi_kernel", 0)
    speedups.apply_settings(speedups.VARIANTS["multi-kernel"][1])
    assert inductor.triton.multi_kernel == 1
    with pytest.raises(AttributeError, match="no Inductor option triton.no_such_option"):
        speedups.apply_settings({"inductor": {"triton.no_such_option": True}})


def test_speed_lever_variants_are_the_speedups_flag(monkeypatch):
    """The levers of training/speedups.py reach the child as --speedups (tests/test_speedups.py: what the flag
    changes in the trainer), not as patches; only cuDNN's deterministic mode is a setting."""
    import torch
    from lottery.cli import parse_args
    speedups = load_script("bench_speedups")
    flags = {"masked update": "masked_update", "no BN counter": "bn_counters", "im2col stem": "im2col_stem",
             "levers": "masked_update,bn_counters,im2col_stem"}
    for name, value in flags.items():
        argv, settings = speedups.VARIANTS[name]
        assert parse_args([*TINY.split(), *argv.split()]).job.speedups == value
        assert set(settings) <= {"cudnn_deterministic"}
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", False)
    speedups.apply_settings(speedups.VARIANTS["levers"][1])
    assert torch.backends.cudnn.deterministic is True


def test_speedups_table_times_each_variant_in_its_own_process(capsys):
    speedups = load_script("bench_speedups")
    tiny = "--dataset synthetic --per-class 10 --width 4 --batch-size 50 --device cpu"
    assert speedups.main(["--common", tiny, "--variants", "default,before", "--epochs", "1",
                          "--limit", str(PATIENT)]) == 1
    table = capsys.readouterr().out.split("| variant |")[1].splitlines()[2:]
    default, before = (line.split("|")[1:-1] for line in table)
    assert default[0].strip() == "default" and default[1].strip() == "fp32, compile off, data on cpu"
    assert default[3].strip() == "1.00x" and float(default[2]) > 0 and float(default[6]) > 0
    # --compile graph needs CUDA: the failure is the row, not a crash of the table
    assert before[0].strip() == "before" and "needs a CUDA device" in before[1]
