"""One SimCLR step: both views through backbone and head in one batch, NT-Xent, SGD. It has the interface of
``training.step.TrainStep`` that ``training.step.GraphedStep`` captures (``__call__(x, y)``, ``state_tensors``,
``metric_tensors``, ``optimizer``, ``device``), so on CUDA the whole step is replayed from one CUDA graph by the
same code as main_imp.py's, under the same bf16 autocast and channels_last."""
from __future__ import annotations

import torch
from torch import nn

from selfsup.loss import nt_xent
from training.precision import autocast, to_float
from training.sgd import SGD


class ContrastiveStep:
    def __init__(self, model: nn.Module, optimizer: SGD, temperature: float, device: torch.device, precision: str,
                 channels_last: bool):
        self.model, self.optimizer, self.temperature = model, optimizer, temperature
        self.device, self.precision, self.channels_last = device, precision, channels_last
        self.loss_sum = torch.zeros((), device=device)
        self.hits = torch.zeros((), dtype=torch.long, device=device)

    def __call__(self, first: torch.Tensor, second: torch.Tensor) -> None:
        """One update from the uint8 views ``first`` and ``second`` [N, C, H, W] (row i of each: image i)."""
        inputs = to_float(torch.cat((first, second)), self.channels_last)
        with autocast(self.device, self.precision):
            z = self.model(inputs)
        loss, hits = nt_xent(z, self.temperature)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            self.loss_sum += loss.detach()
            self.hits += hits

    def metric_tensors(self) -> list[torch.Tensor]:
        """Summed loss and positives ranked first (out of 2N per step), read once per epoch."""
        return [self.loss_sum, self.hits]

    def state_tensors(self) -> list[torch.Tensor]:
        """Every tensor a step writes (saved and restored around CUDA-graph capture)."""
        return [*self.model.parameters(), *self.model.buffers(), *self.optimizer.buffers, self.optimizer.lr,
                *self.metric_tensors()]
