"""SimCLR colour distortion, per sample: ColorJitter(0.4, 0.4, 0.4, 0.1) with p=0.8, then RandomGrayscale(p=0.2)."""

import torch
from torch import Tensor, nn
from torchvision import transforms as T

from augment import ops

JITTER_PROB = 0.8
GRAYSCALE_PROB = 0.2


class ColorDistortion(nn.Module):
    """``RandomApply([ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8)`` then ``RandomGrayscale(p=0.2)``.

    As in ``T.ColorJitter`` the four adjustments (brightness, contrast, saturation, hue) run in a
    random order, here drawn per sample: at each of the four positions every adjustment is computed
    for the batch and each sample keeps the one its permutation puts there.
    """

    def __init__(self) -> None:
        super().__init__()
        jitter = T.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)
        self.ranges = tuple(tuple(r) for r in (jitter.brightness, jitter.contrast, jitter.saturation, jitter.hue))
        self.adjustments = (ops.brightness, ops.contrast, ops.saturation, ops.hue)

    def sample(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Returns (jitter [B] bool, order [B, 4] permutation of adjustments, factors [B, 4], gray [B] bool).

        ``factors[:, k]`` is the factor of adjustment ``k`` (brightness, contrast, saturation, hue).
        """
        batch, device = x.shape[0], x.device
        jitter = torch.rand(batch, device=device) <= JITTER_PROB  # RandomApply skips when p < rand
        order = torch.rand(batch, len(self.adjustments), device=device).argsort(dim=1)
        factors = torch.stack([torch.empty(batch, device=device).uniform_(lo, hi) for lo, hi in self.ranges], dim=1)
        gray = torch.rand(batch, device=device) < GRAYSCALE_PROB
        return jitter, order, factors, gray

    def transform(self, x: Tensor, jitter: Tensor, order: Tensor, factors: Tensor, gray: Tensor) -> Tensor:
        out = x
        for position in range(len(self.adjustments)):
            current = out
            for k, adjust in enumerate(self.adjustments):
                chosen = (order[:, position] == k).reshape(-1, 1, 1, 1)
                out = torch.where(chosen, adjust(current, factors[:, k]), out)
        out = torch.where(jitter.reshape(-1, 1, 1, 1), out, x)
        return torch.where(gray.reshape(-1, 1, 1, 1), ops.grayscale(out), out)

    def forward(self, x: Tensor) -> Tensor:
        return self.transform(x, *self.sample(x))
