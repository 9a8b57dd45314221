"""Linear CKA (Kornblith et al., 2019) between the dense level-0 network and each ticket, after the stem and after
every ResNet stage, on the first ``cka_images`` test images (all 10,000 of CIFAR-10 by default).

Minibatch CKA (Nguyen et al., 2021): the images are taken in fixed minibatches of ``BATCH``; per minibatch the
unbiased HSIC estimator (Song et al., 2012) of the two linear Gram matrices is computed, and CKA is the ratio of the
sums over minibatches. Memory is then one minibatch of features, whatever the number of images, and the unbiased
estimator avoids the upward bias of the plain (biased) CKA when features outnumber images (65,536 features after
the stem of a CIFAR ResNet-18). Features are computed in fp32.
"""
from __future__ import annotations

import torch
from torch import nn

from models import ResNet
from robustness.units import Context, MissingData, Unit
from training.precision import to_float

STAGES = ("stem", "layer1", "layer2", "layer3", "layer4")
BATCH = 500
SUITE = "cka"


def _gram(x: torch.Tensor) -> torch.Tensor:
    x = x.flatten(1).float()
    return (x @ x.T).double()


def hsic_unbiased(k: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    """Unbiased HSIC of two n x n Gram matrices (n > 3); their diagonals are ignored."""
    n = k.shape[0]
    if n < 4:
        raise ValueError(f"unbiased HSIC needs at least 4 samples, got {n}")
    k, l = k.clone().fill_diagonal_(0), l.clone().fill_diagonal_(0)
    kl = k @ l
    value = kl.trace() + k.sum() * l.sum() / ((n - 1) * (n - 2)) - 2 * kl.sum() / (n - 2)
    return value / (n * (n - 3))


class MinibatchCKA:
    """Accumulates HSIC(X, Y), HSIC(X, X), HSIC(Y, Y) over minibatches of paired features."""

    def __init__(self) -> None:
        self.sums: torch.Tensor | None = None  # on the features' device: read back once, by value()

    def update(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """``x``, ``y``: the two networks' features of the same images, [n, ...] each (flattened per image)."""
        kx, ky = _gram(x), _gram(y)
        batch = torch.stack([hsic_unbiased(kx, ky), hsic_unbiased(kx, kx), hsic_unbiased(ky, ky)])
        self.sums = batch if self.sums is None else self.sums + batch

    def value(self) -> float:
        xy, xx, yy = self.sums.tolist()
        return xy / (xx * yy) ** 0.5


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA of two feature matrices of the same n images (one minibatch)."""
    cka = MinibatchCKA()
    cka.update(x, y)
    return cka.value()


@torch.no_grad()
def stage_features(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The outputs of the stem and of each stage of a ResNet for images ``x`` in [0,1], in fp32."""
    found: dict[str, torch.Tensor] = {}
    hooks = [getattr(model, name).register_forward_hook(lambda m, i, out, name=name: found.__setitem__(name, out))
             for name in STAGES]
    try:
        model.eval()(x)
    finally:
        for h in hooks:
            h.remove()
    return found


def cka_per_stage(reference: nn.Module, model: nn.Module, x: torch.Tensor, device: torch.device,
                  channels_last: bool = False, batch: int = BATCH) -> list[float]:
    """Minibatch linear CKA between ``reference`` and ``model`` per stage (``STAGES`` order) over uint8 images ``x``.
    A last minibatch of fewer than 4 images is left out (the unbiased estimator needs 4)."""
    per_stage = {name: MinibatchCKA() for name in STAGES}
    for start in range(0, len(x) - 3, batch):
        xb = to_float(x[start:start + batch].to(device), channels_last)
        ours, theirs = stage_features(reference, xb), stage_features(model, xb)
        for name in STAGES:
            per_stage[name].update(ours[name], theirs[name])
    return [per_stage[name].value() for name in STAGES]


def units(ctx: Context) -> list[Unit]:
    n = min(ctx.cka_images, len(ctx.y_test))
    if n < 4:
        raise MissingData(f"skipping {SUITE}: it needs at least 4 images (--cka-images {ctx.cka_images})")

    def compute(model: nn.Module) -> list[float]:
        reference = ctx.reference()
        if not isinstance(reference, ResNet):
            raise MissingData(f"skipping {SUITE}: stages are defined for ResNets, not {type(reference).__name__}")
        return cka_per_stage(reference, model, ctx.x_test[:n], ctx.device, ctx.channels_last)
    return [Unit(SUITE, "stages", [(name, None, None) for name in STAGES], n - (n % BATCH if n % BATCH < 4 else 0),
                 compute)]
