"""Every bad input: one line on stderr naming what was found and what is expected, exit status 2, no traceback,
and nothing written (checked on the whole test folder, --out and the data files included); and a disk that
fills up during a checkpoint (a real tmpfs where one can be mounted) stops the run with a message while the
previous checkpoint stays valid."""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest
import torch

from lottery.cli import main
from tests.conftest import tiny_argv


def tree(root: Path) -> dict[str, str]:
    """Every path under ``root`` with a hash of its content: equal trees mean nothing was written."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def cifar_file(root: Path, **changes: np.ndarray) -> list[str]:
    """A tiny valid cifar10.npz in ``root/data`` with some arrays replaced; the arguments of a run reading it."""
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8), "y_train": np.arange(40) % 10,
              "x_test": rng.integers(0, 256, (10, 8, 8, 3), dtype=np.uint8), "y_test": np.arange(10)}
    arrays.update(changes)
    (root / "data").mkdir()
    np.savez(root / "data" / "cifar10.npz", **arrays)
    return ["--dataset", "cifar10", "--data-root", str(root / "data"), "--per-class", "2"]


def nchw(root: Path) -> list[str]:
    x = np.zeros((40, 3, 8, 8), np.uint8)
    return cifar_file(root, x_train=x, x_test=x[:10])


def out_is_a_file(root: Path) -> list[str]:
    (root / "runs").write_text("results of something else\n")
    return []


def out_under_a_file(root: Path) -> list[str]:
    out_is_a_file(root)
    return ["--out", str(root / "runs" / "sub")]  # the last --out wins


def garbage_npz(root: Path) -> list[str]:
    (root / "data").mkdir()
    (root / "data" / "cifar10.npz").write_bytes(b"PK\x03\x04 not really a zip")
    return ["--dataset", "cifar10", "--data-root", str(root / "data")]


def text_checkpoint(root: Path) -> list[str]:
    (root / "notes.txt").write_text("these are not weights\n")
    return ["--init-checkpoint", str(root / "notes.txt")]


# (id, setup(tmp folder) -> extra argv, words the one line must contain); --out is <tmp>/runs, and the current
# folder is <tmp> (an empty --out would write there)
CASES: list[tuple[str, Callable[[Path], list[str]], list[str]]] = [
    ("negative seed", lambda r: ["--seed", "-1"], ["--seed must be in [0, 2**32)", "-1"]),
    ("negative data seed", lambda r: ["--data-seed", "-1"], ["--data-seed must be in [0, 2**32)"]),
    ("oversized seed", lambda r: ["--seed", str(2**32)], ["--seed must be in [0, 2**32)", str(2**32)]),
    ("mps absent", lambda r: ["--device", "mps"], ["--device mps", "no mps device"]),
    ("xpu absent", lambda r: ["--device", "xpu"], ["--device xpu", "no xpu device"]),
    ("cuda:7 absent", lambda r: ["--device", "cuda:7"], ["--device cuda:7", "cuda device"]),
    ("meta device", lambda r: ["--device", "meta"], ["--device meta", "not supported"]),
    ("nonsense device", lambda r: ["--device", "gpu0"], ["'gpu0' is not a device name"]),
    ("superscript rewind", lambda r: ["--rewind", "epoch:\u00b2"], ["--rewind must be epoch:N", "epoch:\u00b2"]),
    ("negative rewind", lambda r: ["--rewind", "epoch:-1"], ["--rewind must be epoch:N"]),
    ("empty rewind epoch", lambda r: ["--rewind", "epoch:"], ["--rewind must be epoch:N"]),
    ("fractional rewind", lambda r: ["--rewind", "epoch:1.5"], ["--rewind must be epoch:N"]),
    ("float [0,1] images", lambda r: cifar_file(r, x_train=np.full((40, 8, 8, 3), 0.5, np.float32)),
     ["x_train holds float32 values in [0.5, 0.5]", "expected uint8", "[0, 1] floats"]),
    ("float64 [0,255] images", lambda r: cifar_file(r, x_test=np.full((10, 8, 8, 3), 200.0)),
     ["x_test holds float64 values in [200, 200]", "expected uint8"]),
    ("int images out of range", lambda r: cifar_file(r, x_train=np.full((40, 8, 8, 3), 300, np.int64)),
     ["x_train holds int64 values in [300, 300]", "expected pixel values in [0, 255]"]),
    ("bool images", lambda r: cifar_file(r, x_test=np.ones((10, 8, 8, 3), bool)),
     ["x_test has dtype bool", "expected uint8"]),
    ("NCHW images", nchw, ["x_train has shape (40, 3, 8, 8)", "looks like NCHW", "expected NHWC"]),
    ("5-D images", lambda r: cifar_file(r, x_train=np.zeros((40, 8, 8, 3, 1), np.uint8)),
     ["x_train has shape (40, 8, 8, 3, 1)", "[N, H, W, C]"]),
    ("label out of range", lambda r: cifar_file(r, y_test=np.arange(10) + 1),
     ["y_test holds labels in [1, 10]", "expected [0, 9] (10 classes)"]),
    ("negative label", lambda r: cifar_file(r, y_train=np.arange(40) % 10 - 1),
     ["y_train holds labels in [-1, 8]"]),
    ("float labels", lambda r: cifar_file(r, y_train=(np.arange(40) % 10).astype(np.float32)),
     ["y_train has dtype float32", "integer class labels"]),
    ("label count", lambda r: cifar_file(r, y_train=np.arange(39) % 10),
     ["y_train has shape (39,)", "expected [40]"]),
    ("train/test shapes differ", lambda r: cifar_file(r, x_test=np.zeros((10, 6, 6, 3), np.uint8)),
     ["x_test images are (6, 6, 3) (H, W, C) but x_train images are (8, 8, 3)"]),
    ("unreadable data file", garbage_npz, ["cannot read", "cifar10.npz"]),
    ("--out is a file", out_is_a_file, ["is a file, not a folder"]),
    ("--out under a file", out_under_a_file, ["runs is a file, not a folder"]),
    ("--out in /proc", lambda r: ["--out", "/proc/lottery-no-such-dir/runs"], ["cannot write into /proc"]),
    ("--out empty", lambda r: ["--out", ""], ["--out must name a folder"]),
    ("grayscale npz", lambda r: cifar_file(r, x_train=np.zeros((40, 8, 8), np.uint8), x_test=np.zeros((10, 8, 8),
                                                                                                       np.uint8)),
     ["cifar10: x_train images have 1 channel(s); expected 3"]),
    ("1-channel npz", lambda r: cifar_file(r, x_train=np.zeros((40, 8, 8, 1), np.uint8),
                                           x_test=np.zeros((10, 8, 8, 1), np.uint8)),
     ["cifar10: x_train images have 1 channel(s); expected 3"]),
    ("fraction rounds to no image", lambda r: ["--per-class", "0", "--data-fraction", "0.002"],
     ["--data-fraction 0.002 keeps 0.4 of the 200 training images per class", "smallest fraction that keeps one "
      "is 0.0026"]),
    ("cutout larger than the image", lambda r: ["--cutout", "40"], ["--cutout 40 must be smaller than the 32-px"]),
    ("infinite lr", lambda r: ["--lr", "inf"], ["--lr must be a finite number, got inf"]),
    ("infinite weight decay", lambda r: ["--weight-decay", "inf"], ["--weight-decay must be a finite number"]),
    ("infinite t-vMF kappa", lambda r: ["--head", "tvmf", "--tvmf-kappa", "inf"], ["--tvmf-kappa must be a finite"]),
    ("infinite AdvProp eps", lambda r: ["--advprop", "--advprop-eps", "inf"], ["--advprop-eps must be a finite"]),
    ("text file as --init-checkpoint", text_checkpoint,
     ["notes.txt as a torch checkpoint of tensors: it starts with b'these are not we'", "expected a file written by "
      "torch.save"]),
]


@pytest.mark.parametrize("name, setup, words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, monkeypatch, name, setup, words):
    monkeypatch.chdir(tmp_path)
    extra = setup(tmp_path)
    before = tree(tmp_path)
    assert main([*tiny_argv(tmp_path / "runs"), *extra]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    for word in words:
        assert word in err, (word, err)
    assert tree(tmp_path) == before


def torch_save_on_a_full_disk(f) -> None:
    """What torch.save raises when the disk fills up under it (seen on a full tmpfs): its archive writer turns
    the file's OSError into a RuntimeError, raised while the OSError is handled."""
    f.write(b"\0" * 1000)  # some bytes made it before the disk filled
    try:
        raise OSError(errno.ENOSPC, "No space left on device")
    except OSError:
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 144256 vs 144152")


def test_a_full_disk_during_a_checkpoint_stops_the_run_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch,
                                                                                         capsys):
    """The second checkpoint's write fails half-way with ENOSPC (on the writer thread), raised as torch.save
    raises it: the run stops with a one-line message, checkpoint.pt still holds epoch 1 and no temporary file is
    left; rerunning resumes from it and ends exactly where an uninterrupted run does."""
    reference = tmp_path / "reference"
    assert main(tiny_argv(reference)) == 0
    real_save = torch.save
    checkpoints = []

    def full_disk(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and "trainer" in obj:
            checkpoints.append(obj["epoch"])
            if len(checkpoints) == 2:
                torch_save_on_a_full_disk(f)
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk)
    out = tmp_path / "runs"
    capsys.readouterr()
    assert main(tiny_argv(out)) == 2
    err = capsys.readouterr().err
    (root,) = out.iterdir()
    checkpoint = root / "level_0" / "checkpoint.pt"
    assert err.strip().splitlines()[-1] == (f"error: cannot write {checkpoint}: No space left on device; it keeps "
                                            f"its previous content")
    assert "Traceback" not in err
    assert torch.load(checkpoint, weights_only=False)["epoch"] == 1
    assert not list(root.rglob("*.tmp")) and not (root / "level_0" / "metrics.json").exists()
    monkeypatch.setattr(torch, "save", real_save)
    assert main(tiny_argv(out)) == 0
    strip = lambda p: [{k: v for k, v in r.items() if k != "seconds"}  # noqa: E731
                       for r in json.loads(p.read_text())["levels"]]
    (ref_root,) = reference.iterdir()
    assert strip(root / "results.json") == strip(ref_root / "results.json")


@contextlib.contextmanager
def small_tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of ``size`` mounted on ``folder`` (root only; skips where it cannot be mounted)."""
    folder.mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                           capture_output=True, text=True) if os.geteuid() == 0 else None
    if mount is None or mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mount.stderr.strip() if mount else 'not root'}); "
                    f"test_a_full_disk_during_a_checkpoint_* raises what torch.save raises on a full disk")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_real_full_disk_is_one_line_and_a_rerun_with_room_resumes(tmp_path, capsys):
    """--out on a 400 KB tmpfs: the level-0 checkpoint does not fit (torch.save raises a RuntimeError there, not
    an OSError); the run ends with one line naming the file, leaving no temporary file; with room, the same
    command finishes the run."""
    with small_tmpfs(tmp_path / "disk", "400k") as out:
        assert main(tiny_argv(out)) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        (root,) = out.iterdir()
        assert re.fullmatch(rf"error: cannot write {root}/level_0/\S+: No space left on device; it (keeps its "
                            rf"previous content|was not written)", err.strip().splitlines()[-1]), err[-500:]
        assert not list(root.rglob("*.tmp"))
        subprocess.run(["mount", "-o", "remount,size=20m", str(out)], check=True)
        assert main(tiny_argv(out)) == 0
        assert len(json.loads((root / "results.json").read_text())["levels"]) == 2
