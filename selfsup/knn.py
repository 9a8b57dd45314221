"""The representation's kNN accuracy (InstDisc, Wu et al. 2018): each test image is classified by the labels of its
k most cosine-similar pool images, each vote weighted exp(similarity / T). Features are the backbone's (before the
projection head), of unaugmented images, in eval mode. The pool's labels are used here and nowhere else."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from augment.resized_crop import CenterCrop
from training.evaluate import eval_batch_size
from training.precision import autocast, to_float


@torch.no_grad()
def features(backbone: nn.Module, x: torch.Tensor, size: int, device: torch.device, precision: str,
             channels_last: bool) -> torch.Tensor:
    """L2-normalised fp32 features [N, D] on ``device`` of uint8 images ``x`` (on any device), centre-cropped to
    ``size`` where they are stored larger (the ImageNet-style training images)."""
    crop = CenterCrop(size) if x.shape[-1] != size else nn.Identity()
    was_training = backbone.training
    backbone.eval()
    batch, out = eval_batch_size(x[0].numel()), []
    try:
        for start in range(0, len(x), batch):
            xb = to_float(crop(x[start:start + batch].to(device, non_blocking=True)), channels_last)
            with autocast(device, precision):
                out.append(F.normalize(backbone(xb).float(), dim=1))
    finally:
        backbone.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def knn_correct(bank: torch.Tensor, bank_labels: torch.Tensor, query: torch.Tensor, query_labels: torch.Tensor,
                num_classes: int, k: int, temperature: float, chunk: int = 1000) -> torch.Tensor:
    """How many ``query`` features (normalised, [Q, D]) the weighted kNN over ``bank`` ([N, D], labels [N])
    classifies right: a 0-dim long tensor on the features' device (no host read). ``k`` is capped at N."""
    k = min(k, len(bank))
    correct = torch.zeros((), dtype=torch.long, device=bank.device)
    labels = bank_labels.to(bank.device)
    for start in range(0, len(query), chunk):
        similarity, nearest = (query[start:start + chunk] @ bank.T).topk(k, dim=1)
        votes = torch.zeros(len(nearest), num_classes, device=bank.device)
        votes.scatter_add_(1, labels[nearest], (similarity / temperature).exp())
        correct += (votes.argmax(1) == query_labels[start:start + chunk].to(bank.device)).sum()
    return correct


def knn_accuracy(backbone: nn.Module, x_bank: torch.Tensor, y_bank: torch.Tensor, x_test: torch.Tensor,
                 y_test: torch.Tensor, num_classes: int, k: int, temperature: float, device: torch.device,
                 precision: str, channels_last: bool) -> float:
    """Test accuracy of the weighted kNN on ``backbone``'s features, the bank being the pool (one host read)."""
    size = x_test.shape[-1]
    bank = features(backbone, x_bank, size, device, precision, channels_last)
    query = features(backbone, x_test, size, device, precision, channels_last)
    return knn_correct(bank, y_bank, query, y_test, num_classes, k, temperature).item() / len(y_test)
