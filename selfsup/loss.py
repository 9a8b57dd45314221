"""NT-Xent (SimCLR's normalised temperature-scaled cross-entropy), written out: a dozen lines, where the maintained
library that has it (lightly) pulls in PyTorch Lightning, Hydra and torchmetrics, a second training framework."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent(z: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss and positive hits of the projections ``z`` [2N, D] of two views: rows ``i`` and ``i + N`` are the
    views of image ``i``.

    Each of the 2N rows is a classification over the 2N - 1 others (itself excluded) by cosine similarity / T,
    whose right answer is the other view of its image; the loss is the mean cross-entropy, ``hits`` (a 0-dim
    long tensor) how many rows ranked their positive first. Computed in fp32 whatever the autocast; static
    shapes, no host reads (CUDA-graph safe).
    """
    n2 = z.shape[0]
    z = F.normalize(z.float(), dim=1)
    logits = (z @ z.T) / temperature
    self_pairs = torch.eye(n2, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_pairs, float("-inf"))
    positives = torch.arange(n2, device=z.device).roll(n2 // 2)
    loss = F.cross_entropy(logits, positives)
    hits = (logits.argmax(1) == positives).sum()
    return loss, hits
