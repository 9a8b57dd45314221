#!/usr/bin/env python
"""Time the two heavy evaluation suites on one model: all of CIFAR-10-C (19 corruptions x 5 severities, bf16 on
CUDA) and PGD-20 at 8/255 over the test set (fp32), with the same code evaluate.py runs.

A CIFAR-10-C folder with fewer images per severity (the mini copy: 100) is tiled to ``--tile-to`` images per
severity (10,000 = the official size) and written to a temporary folder first, so the timed path reads full-size
memory-mapped files as evaluate.py would (just written, so from the page cache). The model is a randomly initialised
ResNet-18: the cost of a forward/backward pass does not depend on the weights.

    python bench/bench_robustness.py --data-root .data --c10c-root .data/CIFAR-10-C-mini      # GPU, < 90 s
    python bench/bench_robustness.py --dataset synthetic --width 8 --tile-to 100 --pgd-images 64   # CPU check
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import datasets  # noqa: E402
import models  # noqa: E402
from robustness import adversarial, corruptions  # noqa: E402
from robustness.units import Context  # noqa: E402
from utils.device import resolve_device, resolve_precision  # noqa: E402


def tile_c10c(source: Path, target: Path, per_severity: int) -> None:
    """Copy every CIFAR-10-C file of ``source`` to ``target`` with ``per_severity`` images per severity (repeated)."""
    labels = np.load(source / "labels.npy")
    n = len(labels) // len(corruptions.SEVERITIES)
    reps = -(-per_severity // n)
    for path in sorted(source.glob("*.npy")):
        if path.name != "labels.npy" and path.stem not in corruptions.STANDARD + corruptions.EXTRA:
            continue
        array = np.load(path).reshape(len(corruptions.SEVERITIES), n, *np.load(path, mmap_mode="r").shape[1:])
        np.save(target / path.name, np.concatenate([array] * reps, axis=1)[:, :per_severity].reshape(
            -1, *array.shape[2:]))


def timed(device: torch.device, fn) -> tuple[float, object]:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    out = fn()
    out = [float(v) for v in out] if isinstance(out, list) else float(out)  # the results' host read: a sync
    return time.perf_counter() - start, out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", default="data")
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--c10c-root", default="../shared/data/CIFAR-10-C-mini")
    p.add_argument("--tile-to", type=int, default=10_000, help="images per severity after tiling")
    p.add_argument("--pgd-images", type=int, default=10_000)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--eval-batch-size", type=int, default=2500)
    p.add_argument("--attack-batch-size", type=int, default=1000)
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)

    device = resolve_device(args.device)
    torch.backends.cudnn.benchmark = device.type == "cuda"
    data = datasets.load(args.dataset, args.data_root)
    channels_last = device.type == "cuda"
    model = models.build("resnet18", data.num_classes, width=args.width, mean=data.mean, std=data.std).to(device)
    model = model.to(memory_format=torch.channels_last) if channels_last else model
    model.eval()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        tile_c10c(Path(args.c10c_root), Path(tmp), args.tile_to)
        print(f"tiled {args.c10c_root} to {args.tile_to} images per severity in {time.perf_counter() - started:.1f} s")
        ctx = Context(device, resolve_precision("auto", device), channels_last, args.eval_batch_size,
                      args.attack_batch_size, data.x_test, data.y_test, data.num_classes, Path(tmp), Path(tmp),
                      Path(tmp), adv_images=args.pgd_images)
        units = corruptions.units(ctx)
        timed(device, lambda: ctx.accuracy(model, *corruptions.CorruptionSet(tmp).severity(units[0].label, 1)))
        seconds, _ = timed(device, lambda: [v for u in units for v in u.compute(model)])
        images = sum(u.images * len(u.cells) for u in units)
        print(f"CIFAR-10-C: {len(units)} corruptions x 5 severities = {images} images ({ctx.precision}, batch "
              f"{args.eval_batch_size}): {seconds:.2f} s, {images / seconds:,.0f} images/s")

    n = min(args.pgd_images, len(data.y_test))
    eps = adversarial.FGSM_EPS
    attack = lambda m, x, y, g: adversarial.pgd(m, x, y, eps, 20, eps / 4, generator=g)  # noqa: E731
    x, y = data.x_test[:n], data.y_test[:n]
    timed(device, lambda: adversarial.robust_accuracy(model, attack, x[:args.attack_batch_size],
                                                      y[:args.attack_batch_size], device, args.attack_batch_size,
                                                      channels_last))  # warm-up (cuDNN autotuning)
    seconds, acc = timed(device, lambda: adversarial.robust_accuracy(model, attack, x, y, device,
                                                                     args.attack_batch_size, channels_last))
    print(f"PGD-20 at 8/255 on {n} images (fp32, TF32 off, batch {args.attack_batch_size}): {seconds:.2f} s, "
          f"{n / seconds:,.0f} images/s (robust accuracy {100 * acc:.1f}% of a random network)")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device: {name}, torch {torch.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
