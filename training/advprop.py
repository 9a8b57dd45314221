"""AdvProp (Xie et al., CVPR 2020): adversarial examples as extra training data, through auxiliary BatchNorms.

Each step draws PGD adversarial examples of the (augmented, [0,1]) batch and trains on the mean of the clean
loss and the adversarial loss. Adversarial images have other activation statistics than clean ones, so they go
through auxiliary BatchNorm layers: one twin per BatchNorm of the model, swapped in for the adversarial
forward passes (the attack's and the training one) and swapped out afterwards. Convolutions and classifier are
shared.

The twins live here, outside the model: ``model.state_dict()`` keeps exactly the plain model's keys, so the
weights a level saves, the rewind state and everything that evaluates them see a plain model with the clean
BatchNorms. The twins start each level as copies of the model's (rewound) BatchNorms, are trained by the same
optimizer, and are saved in the level's resumable checkpoint only.

The attack is ours rather than torchattacks' because it must run inside the training step: torchattacks checks
the input range with a host sync, switches the model to eval mode (AdvProp attacks through the auxiliary
BatchNorms in training mode) and is not capturable in a CUDA graph. This one has static shapes, draws its random
start on the device and never waits for the host, so the whole AdvProp step is captured in the step's graph.
With ``torch.compile`` the swap makes two compiled variants of the model (clean and auxiliary BatchNorms).
"""
from __future__ import annotations

import contextlib
import copy
from typing import Callable, Iterator

import torch
from torch import nn

from utils.errors import UserError

LossFn = Callable[[torch.Tensor], torch.Tensor]


def pgd(loss_fn: LossFn, x: torch.Tensor, eps: float, step_size: float, steps: int, random_start: bool,
        generator: torch.Generator | None = None) -> torch.Tensor:
    """L-inf PGD (Madry et al., 2018) maximising ``loss_fn`` around images ``x`` in [0, 1]: ``steps`` signed-gradient
    steps of ``step_size``, each projected back to within ``eps`` of ``x`` and to [0, 1] (as torchattacks does),
    from a uniform random start (drawn from ``generator``, the global RNG when None) or from ``x``. Gradients flow
    to the input only, never into the parameters' ``.grad``. The one PGD of the project: AdvProp's training attack
    and the robustness protocol's (``robustness.adversarial``)."""
    x = x.detach()
    adv = x.clone()
    if random_start:
        adv = (adv + torch.empty_like(x).uniform_(-eps, eps, generator=generator)).clamp_(0, 1)
    for _ in range(steps):
        adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(loss_fn(adv), adv)
        adv = adv.detach() + step_size * grad.sign()
        adv = (x + (adv - x).clamp_(-eps, eps)).clamp_(0, 1)
    return adv.detach()


class AdvProp:
    """The auxiliary BatchNorms of ``model`` and the attack settings (``eps``, ``step_size`` in [0,1] units)."""

    def __init__(self, model: nn.Module, eps: float, step_size: float, steps: int, random_start: bool):
        self.eps, self.step_size, self.steps, self.random_start = eps, step_size, steps, random_start
        self._slots = [(parent, name, child) for parent in model.modules()
                       for name, child in parent.named_children() if isinstance(child, nn.modules.batchnorm._BatchNorm)]
        if not self._slots:
            raise UserError("--advprop needs a model with BatchNorm layers")
        self.aux = nn.ModuleList(copy.deepcopy(bn) for _, _, bn in self._slots)

    @contextlib.contextmanager
    def auxiliary(self) -> Iterator[None]:
        """Within the block the model runs with the auxiliary BatchNorms."""
        for (parent, name, clean), aux in zip(self._slots, self.aux):
            aux.train(clean.training)
            setattr(parent, name, aux)
        try:
            yield
        finally:
            for parent, name, clean in self._slots:
                setattr(parent, name, clean)

    def attack(self, loss_fn: LossFn, x: torch.Tensor) -> torch.Tensor:
        """Adversarial examples of ``x`` for ``loss_fn`` (the model's loss), through the auxiliary BatchNorms."""
        with self.auxiliary():
            return pgd(loss_fn, x, self.eps, self.step_size, self.steps, self.random_start)

    def parameters(self) -> list[nn.Parameter]:
        return list(self.aux.parameters())

    def tensors(self) -> list[torch.Tensor]:
        """Everything a training step writes here: parameters and running statistics."""
        return [*self.aux.parameters(), *self.aux.buffers()]

    def state_dict(self) -> dict:
        return self.aux.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.aux.load_state_dict(state)
