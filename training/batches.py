"""Where training batches come from: indices per epoch, served from device memory or a host DataLoader.

Every batch has exactly ``batch_size`` images (static shapes for CUDA graphs): an epoch is
``ceil(n / batch_size)`` steps over a random permutation, topped up from a second permutation when ``n`` is
not a multiple of the batch size. Every image is seen at least once per epoch.
"""
from __future__ import annotations

import math
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset

Batch = tuple[torch.Tensor, torch.Tensor]


def steps_per_epoch(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)


def epoch_order(n: int, batch_size: int, device: torch.device) -> torch.Tensor:
    """Indices for one epoch, shape [steps, batch_size], drawn from torch's global RNG on ``device``."""
    steps = steps_per_epoch(n, batch_size)
    repeats = math.ceil(steps * batch_size / n)
    perms = [torch.randperm(n, device=device) for _ in range(repeats)]
    return torch.cat(perms)[: steps * batch_size].view(steps, batch_size)


class DeviceBatches:
    """The training set resident on the device as uint8; a batch is one index_select, no host work."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, device: torch.device):
        self.x, self.y, self.device = x.to(device), y.to(device), device

    def __len__(self) -> int:
        return len(self.y)

    def epoch(self, batch_size: int) -> Iterator[Batch]:
        for idx in epoch_order(len(self), batch_size, self.device):
            yield self.x.index_select(0, idx), self.y.index_select(0, idx)


class _IndexedBatches(Dataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor, order: torch.Tensor):
        self.x, self.y, self.order = x, y, order

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, i: int) -> Batch:
        idx = self.order[i]
        return self.x[idx], self.y[idx]


class HostBatches:
    """The training set in host memory, batches gathered by DataLoader workers and copied to the device.

    For datasets too large for device memory. The order is drawn exactly as for ``DeviceBatches`` (on the
    CPU), and augmentation still runs on the device after the copy.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, device: torch.device, workers: int):
        self.x, self.y, self.device, self.workers = x, y, device, workers

    def __len__(self) -> int:
        return len(self.y)

    def epoch(self, batch_size: int) -> Iterator[Batch]:
        order = epoch_order(len(self), batch_size, torch.device("cpu"))
        # Its own generator: a DataLoader otherwise draws worker seeds from the global RNG, which would shift
        # the augmentation's random stream away from the device-resident path's.
        loader = DataLoader(_IndexedBatches(self.x, self.y, order), batch_size=None, shuffle=False,
                            num_workers=self.workers, pin_memory=self.device.type == "cuda",
                            generator=torch.Generator())
        for x, y in loader:
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
