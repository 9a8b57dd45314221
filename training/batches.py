"""Where training batches come from: indices per epoch, served in chunks from device memory or a host DataLoader.

Every batch has exactly ``batch_size`` images (static shapes for CUDA graphs): an epoch is
``ceil(n / batch_size)`` steps over a random permutation, topped up from a second permutation when ``n`` is
not a multiple of the batch size. Every image is seen at least once per epoch.

Batches are served in *chunks* of several consecutive steps so that augmentation runs once per chunk: a batch
of 100 CIFAR images is far too small to keep a GPU busy, and an augmentation policy is hundreds of tiny kernels
whose cost is per launch, not per image. Per-sample augmentation is independent across samples, so augmenting
a chunk and splitting it into batches draws from the same distribution as augmenting batch by batch.
"""
from __future__ import annotations

import math
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

Batch = tuple[torch.Tensor, torch.Tensor]

# Upper bound on the values (images x channels x pixels) augmented at once: 2,730 CIFAR images (27 batches of
# 100), one batch at ImageNet size. It bounds a policy's temporaries: on the CPU a chunk of 2,700 CIFAR images
# peaked at 0.5 GiB more memory with AutoAugment and 1.2 GiB with AugMix or the colour jitter of `contrast`.
CHUNK_VALUES = 1 << 23


def steps_per_epoch(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)


def steps_per_chunk(steps: int, batch_size: int, image_values: int) -> int:
    """Steps augmented together: as many as ``CHUNK_VALUES`` allows, balanced so an epoch's chunks are equal
    where possible (fewer distinct shapes, fewer CUDA graphs). At least 1, at most ``steps``."""
    largest = max(1, min(steps, CHUNK_VALUES // (batch_size * image_values)))
    return math.ceil(steps / math.ceil(steps / largest))


def epoch_order(n: int, batch_size: int, device: torch.device) -> torch.Tensor:
    """Indices for one epoch, shape [steps, batch_size], drawn from torch's global RNG on ``device``."""
    steps = steps_per_epoch(n, batch_size)
    repeats = math.ceil(steps * batch_size / n)
    perms = [torch.randperm(n, device=device) for _ in range(repeats)]
    return torch.cat(perms)[: steps * batch_size].view(steps, batch_size)


def chunk_indices(order: torch.Tensor, chunk_steps: int) -> tuple[torch.Tensor, ...]:
    """An epoch's order [steps, B] as flat index chunks of ``chunk_steps * B`` (the last may be shorter)."""
    return tuple(rows.reshape(-1) for rows in order.split(chunk_steps))


class DeviceBatches:
    """The training set resident on the device as uint8; a chunk is one index_select, no host work."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, device: torch.device):
        self.x, self.y, self.device = x.to(device), y.to(device), device

    def __len__(self) -> int:
        return len(self.y)

    def epoch(self, batch_size: int, chunk_steps: int) -> Iterator[Batch]:
        """One epoch as chunks of ``chunk_steps`` consecutive batches, concatenated."""
        for idx in chunk_indices(epoch_order(len(self), batch_size, self.device), chunk_steps):
            yield self.x.index_select(0, idx), self.y.index_select(0, idx)


class _Gather(Dataset):
    """Item ``idx`` (an index tensor) is the images and labels at those indices: one chunk per item."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, idx: torch.Tensor) -> Batch:
        return self.x[idx], self.y[idx]


class _CurrentChunks(Sampler):
    """Yields whatever chunks it holds when iterated, so one DataLoader serves every epoch."""

    def __init__(self) -> None:
        self.chunks: tuple[torch.Tensor, ...] = ()

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(self.chunks)

    def __len__(self) -> int:
        return len(self.chunks)


class HostBatches:
    """The training set in host memory, chunks gathered by DataLoader workers and copied to the device.

    For datasets too large for device memory. The order is drawn as for ``DeviceBatches`` but from the CPU's
    generator (the same numbers when the device is the CPU), and augmentation still runs on the device after
    the copy. The workers persist across epochs: the main process hands them each epoch's index chunks, so
    they are started once per level, not once per epoch (50-70 ms each time on a 2-core CPU).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, device: torch.device, workers: int):
        self.x, self.y, self.device = x, y, device
        self._chunks = _CurrentChunks()
        # Its own generator: a DataLoader otherwise draws worker seeds from the global RNG, which would shift
        # the augmentation's random stream away from the device-resident path's.
        self._loader = DataLoader(_Gather(x, y), sampler=self._chunks, batch_size=None, num_workers=workers,
                                  persistent_workers=workers > 0, pin_memory=device.type == "cuda",
                                  generator=torch.Generator())

    def __len__(self) -> int:
        return len(self.y)

    def epoch(self, batch_size: int, chunk_steps: int) -> Iterator[Batch]:
        """One epoch as chunks of ``chunk_steps`` consecutive batches, concatenated."""
        self._chunks.chunks = chunk_indices(epoch_order(len(self), batch_size, torch.device("cpu")), chunk_steps)
        for x, y in self._loader:
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)


def scoring_batches(x: torch.Tensor, y: torch.Tensor, n_batches: int, batch_size: int,
                    generator: torch.Generator, device: torch.device) -> list[Batch]:
    """``n_batches`` batches of ``batch_size`` distinct training images (fewer if the subset is smaller), drawn
    with ``generator``, as float [0, 1] images on ``device`` without augmentation: what data-driven pruning
    scores (SNIP, GraSP) see."""
    order = torch.randperm(len(y), generator=generator)[: n_batches * batch_size]
    return [(x[idx].to(device).float().div_(255), y[idx].to(device)) for idx in order.split(batch_size)]
