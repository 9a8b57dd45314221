"""torchvision's automatic augmentation policies, drawn and applied per sample on the device.

Policy tables, augmentation spaces and defaults are read from torchvision's own classes at build
time (``_get_policies`` / ``_augmentation_space`` and the instances' attributes), never copied. What
is ours is the sampling: every sample draws its own sub-policy / ops / magnitude bins / signs /
chain depths / mixing weights, where torchvision draws one choice per call. Each module offers
``sample(x)`` (random parameters, static shapes) and ``transform(x, *params)`` (deterministic), and
``forward(x) = transform(x, *sample(x))``; magnitude tables are buffers so they follow ``.to()``.
"""

import torch
from torch import Tensor, nn
from torchvision import transforms as T

from augment.apply import SUPPORTED_OPS, apply_ops
from augment.sampling import dirichlet

IDENTITY = "Identity"


def _space_table(space: dict[str, tuple[Tensor, bool]]) -> tuple[tuple[str, ...], Tensor, Tensor]:
    """torchvision augmentation space -> (op names, float32 magnitudes [ops, bins], signed [ops]).

    Magnitude-free ops (a 0-dim entry) get a row of zeros, the 0.0 torchvision passes for them.
    """
    names = tuple(space)
    unsupported = set(names) - SUPPORTED_OPS
    if unsupported:
        raise ValueError(f"torchvision space has ops this package does not implement: {sorted(unsupported)}")
    bins = max(values.numel() for values, _ in space.values())
    rows = [values.float() if values.ndim else torch.zeros(bins) for values, _ in space.values()]
    return names, torch.stack(rows), torch.tensor([signed for _, signed in space.values()])


def _random_sign(magnitude: Tensor, signed: Tensor) -> Tensor:
    """Negate each signed magnitude with probability 1/2 (torchvision's coin flip)."""
    negate = signed & (torch.randint(2, magnitude.shape, device=magnitude.device) == 1)
    return torch.where(negate, -magnitude, magnitude)


class _OpPolicy(nn.Module):
    """A policy whose ``sample`` draws per-sample (op, magnitude) columns that ``apply_ops`` applies in turn."""

    names: tuple[str, ...]
    interpolation: T.InterpolationMode

    def sample(self, x: Tensor) -> tuple[Tensor, ...]:
        raise NotImplementedError

    def transform(self, x: Tensor, op: Tensor, magnitude: Tensor) -> Tensor:
        return apply_ops(x, self.names, op, magnitude, self.interpolation)

    def forward(self, x: Tensor) -> Tensor:
        return self.transform(x, *self.sample(x))


class AutoAugment(_OpPolicy):
    """``T.AutoAugment(AutoAugmentPolicy.CIFAR10)`` with a sub-policy, coin flips and signs per sample."""

    def __init__(self, image_size: int) -> None:
        super().__init__()
        reference = T.AutoAugment(T.AutoAugmentPolicy.CIFAR10)
        self.interpolation = reference.interpolation
        # torchvision's forward always builds the space with 10 bins.
        names, table, signed = _space_table(reference._augmentation_space(10, (image_size, image_size)))
        self.names = names + (IDENTITY,)
        policies = reference.policies
        ops = torch.tensor([[names.index(name) for name, _, _ in policy] for policy in policies])
        bins = torch.tensor([[-1 if bin_ is None else bin_ for _, _, bin_ in policy] for policy in policies])
        self.register_buffer("ops", ops)
        self.register_buffer("probs", torch.tensor([[prob for _, prob, _ in policy] for policy in policies]))
        # torchvision passes 0.0 for steps without a magnitude bin.
        self.register_buffer("magnitudes", torch.where(bins >= 0, table[ops, bins.clamp(min=0)], 0.0))
        self.register_buffer("signed", signed[ops])

    def sample(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Per sample: sub-policy, whether each of its ops fires, and signs. Returns (op [B, 2], magnitude [B, 2])."""
        policy = torch.randint(len(self.ops), (x.shape[0],), device=x.device)
        fires = torch.rand(self.probs[policy].shape, device=x.device) <= self.probs[policy]
        op = self.ops[policy].masked_fill(~fires, self.names.index(IDENTITY))
        return op, _random_sign(self.magnitudes[policy], self.signed[policy])


class RandAugment(_OpPolicy):
    """``T.RandAugment()`` defaults: ``num_ops`` uniformly drawn ops per sample at the fixed magnitude bin."""

    def __init__(self, image_size: int) -> None:
        super().__init__()
        reference = T.RandAugment()
        self.interpolation = reference.interpolation
        self.num_ops = reference.num_ops
        space = reference._augmentation_space(reference.num_magnitude_bins, (image_size, image_size))
        self.names, magnitudes, signed = _space_table(space)
        self.register_buffer("magnitudes", magnitudes[:, reference.magnitude])
        self.register_buffer("signed", signed)

    def sample(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Returns (op [B, num_ops], signed magnitude [B, num_ops])."""
        op = torch.randint(len(self.names), (x.shape[0], self.num_ops), device=x.device)
        return op, _random_sign(self.magnitudes[op], self.signed[op])


class TrivialAugmentWide(_OpPolicy):
    """``T.TrivialAugmentWide()``: one uniformly drawn op and magnitude bin per sample."""

    def __init__(self, image_size: int) -> None:
        super().__init__()
        reference = T.TrivialAugmentWide()
        self.interpolation = reference.interpolation
        self.names, magnitudes, signed = _space_table(reference._augmentation_space(reference.num_magnitude_bins))
        self.register_buffer("magnitudes", magnitudes)
        self.register_buffer("signed", signed)

    def sample(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Returns (op [B, 1], signed magnitude [B, 1])."""
        op = torch.randint(len(self.names), (x.shape[0], 1), device=x.device)
        bin_ = torch.randint(self.magnitudes.shape[1], op.shape, device=x.device)
        return op, _random_sign(self.magnitudes[op, bin_], self.signed[op])


class AugMix(nn.Module):
    """``T.AugMix()`` defaults, every sample with its own chains, depths, ops and mixing weights.

    The ``mixture_width`` chains of all samples run as one batch of ``width * B`` images; a chain
    shorter than the longest possible depth is padded with Identity steps.
    """

    def __init__(self, image_size: int) -> None:
        super().__init__()
        reference = T.AugMix()
        self.interpolation = reference.interpolation
        self.severity = reference.severity
        self.width = reference.mixture_width
        self.chain_depth = reference.chain_depth
        self.alpha = reference.alpha
        space = reference._augmentation_space(reference._PARAMETER_MAX, (image_size, image_size))
        names, magnitudes, signed = _space_table(space)
        self.names = names + (IDENTITY,)
        self.register_buffer("magnitudes", magnitudes)
        self.register_buffer("signed", signed)

    def _depth(self, shape: tuple[int, ...], device: torch.device) -> Tensor:
        if self.chain_depth > 0:
            return torch.full(shape, self.chain_depth, device=device)
        return torch.randint(1, 4, shape, device=device)  # torchvision: stochastic depth in [1, 3]

    def sample(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Returns (op [width, B, depth], signed magnitude [width, B, depth], weights [B, 1 + width]).

        ``weights[:, 0]`` weighs the original image, ``weights[:, 1 + i]`` chain ``i``.
        """
        batch, device = x.shape[0], x.device
        max_depth = self.chain_depth if self.chain_depth > 0 else 3
        shape = (self.width, batch, max_depth)
        op = torch.randint(len(self.names) - 1, shape, device=device)  # any op but the padding Identity
        bin_ = torch.randint(self.severity, shape, device=device)
        magnitude = _random_sign(self.magnitudes[op, bin_], self.signed[op])
        steps = torch.arange(max_depth, device=device)
        op = op.masked_fill(steps >= self._depth((self.width, batch, 1), device), self.names.index(IDENTITY))
        # Beta(alpha, alpha) between original and mix as a 2-way Dirichlet, as torchvision does.
        m = dirichlet(torch.full((batch, 2), float(self.alpha), device=device))
        chains = dirichlet(torch.full((batch, self.width), float(self.alpha), device=device))
        return op, magnitude, torch.cat((m[:, :1], chains * m[:, 1:]), dim=1)

    def transform(self, x: Tensor, op: Tensor, magnitude: Tensor, weights: Tensor) -> Tensor:
        width, batch, depth = op.shape
        chains = apply_ops(
            x.repeat(width, 1, 1, 1),
            self.names,
            op.reshape(width * batch, depth),
            magnitude.reshape(width * batch, depth),
            self.interpolation,
        ).reshape(width, *x.shape)
        weights = weights.reshape(batch, 1 + width, 1, 1, 1)
        mix = weights[:, 0] * x
        for i in range(width):
            mix = mix + weights[:, 1 + i] * chains[i]
        return mix.to(x.dtype)  # truncation, as torchvision's `.to(dtype=img.dtype)`

    def forward(self, x: Tensor) -> Tensor:
        return self.transform(x, *self.sample(x))
