"""The module returned by ``augment.build``: stages run in order on the input's device."""

import torch
from torch import Tensor, nn


class Pipeline(nn.Sequential):
    """Runs its stages in order on uint8 batches [B, C, H, W].

    Policy tables are buffers; the first call on a new device moves them there (a one-off copy),
    so callers need not ``.to()`` the module and later calls do no host-device transfers.
    """

    def forward(self, x: Tensor) -> Tensor:
        if x.dtype != torch.uint8 or x.ndim != 4:
            raise TypeError(f"expected a uint8 batch [B, C, H, W], got {x.dtype} with shape {tuple(x.shape)}")
        buffer = next(self.buffers(), None)
        if buffer is not None and buffer.device != x.device:
            self.to(x.device)
        return super().forward(x)
