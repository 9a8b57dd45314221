"""The ImageNet-style training crop (batched RandomResizedCrop + flips) and the vertical flip of the padded crop."""
from __future__ import annotations

import math

import pytest
import torch
from torchvision.transforms import RandomResizedCrop
from torchvision.transforms import functional as TF

import augment
from augment.crop import RandomCropFlip
from augment.resized_crop import CenterCrop, RandomResizedCropFlip



def smooth(batch: int, channels: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(batch, channels, 5, 5, generator=g) * 255
    return torch.nn.functional.interpolate(low, size=(height, width), mode="bilinear").round().to(torch.uint8)


def box_statistics(heights, widths, tops, lefts, h: int, w: int) -> torch.Tensor:
    """Mean area fraction, mean log aspect, mean relative top and left offset."""
    area = heights * widths / (h * w)
    aspect = torch.log(widths / heights)
    top = torch.where(heights < h, tops / (h - heights).clamp(min=1), torch.full_like(tops, 0.5))
    left = torch.where(widths < w, lefts / (w - widths).clamp(min=1), torch.full_like(lefts, 0.5))
    return torch.stack([area.mean(), aspect.mean(), top.mean(), left.mean()])


@pytest.mark.parametrize("h, w", [(36, 36), (30, 48)])
def test_boxes_follow_torchvision_get_params(h: int, w: int):
    """Same box distribution as torchvision's RandomResizedCrop.get_params (area, aspect, position), and
    every box inside the image with its area and aspect in the ranges."""
    n = 6000
    module = RandomResizedCropFlip(24)
    torch.manual_seed(0)
    boxes, hflip, vflip = module.sample(torch.empty(n, 3, h, w, dtype=torch.uint8))
    left, top, right, bottom = boxes.unbind(1)
    assert (left >= 0).all() and (top >= 0).all() and (right <= w).all() and (bottom <= h).all()
    assert (boxes == boxes.round()).all() and not vflip.any()
    assert abs(hflip.float().mean() - 0.5) < 0.03
    ours = box_statistics(bottom - top, right - left, top, left, h, w)
    image = torch.empty(3, h, w)
    drawn = torch.tensor([RandomResizedCrop.get_params(image, [0.08, 1.0], [3 / 4, 4 / 3]) for _ in range(n)],
                         dtype=torch.float32)
    theirs = box_statistics(drawn[:, 2], drawn[:, 3], drawn[:, 0], drawn[:, 1], h, w)
    assert torch.allclose(ours, theirs, atol=0.03), (ours, theirs)
    area = (bottom - top) * (right - left) / (h * w)
    assert area.min() >= 0.06 and area.max() <= 1.0  # 0.08 up to rounding of the sides


def test_fallback_is_the_centred_ratio_clipped_image():
    """When no try fits (here: every area exceeds the image), torchvision takes the whole image clipped to the
    ratio range, centred."""
    module = RandomResizedCropFlip(8, scale=(2.0, 3.0))
    boxes, _, _ = module.sample(torch.empty(4, 1, 10, 40, dtype=torch.uint8))
    # width 40 / height 10 is beyond 4/3: height 10, width round(10 * 4/3) = 13, centred
    assert boxes.tolist() == [[13.0, 0.0, 26.0, 10.0]] * 4


def test_crop_resamples_like_torchvision_resized_crop():
    module = RandomResizedCropFlip(24)
    x = smooth(32, 3, 40, 40)
    torch.manual_seed(1)
    boxes, hflip, vflip = module.sample(x)
    out = module.transform(x, boxes, hflip, vflip)
    assert out.shape == (32, 3, 24, 24) and out.dtype == torch.uint8
    for i in range(32):
        left, top, right, bottom = boxes[i].int().tolist()
        expected = TF.resized_crop(x[i], top, left, bottom - top, right - left, [24, 24], antialias=True)
        if hflip[i]:
            expected = expected.flip(-1)
        assert (out[i].float() - expected.float()).abs().mean() < 1.0, i


def test_flips_and_boxes_are_per_sample():
    module = RandomResizedCropFlip(16, vflip=True)
    x = smooth(1, 1, 20, 20).expand(400, 1, 20, 20).contiguous()
    torch.manual_seed(0)
    boxes, hflip, vflip = module.sample(x)
    assert len({tuple(b) for b in boxes.tolist()}) > 300
    assert 0.4 < hflip.float().mean() < 0.6 and 0.4 < vflip.float().mean() < 0.6
    assert 0.15 < (hflip & vflip).float().mean() < 0.35  # independent
    plain = module.transform(x, boxes, torch.zeros_like(hflip), torch.zeros_like(vflip))
    both = module.transform(x, boxes, torch.ones_like(hflip), torch.ones_like(vflip))
    assert torch.equal(both, plain.flip(-1).flip(-2))


def test_resized_pipelines_have_static_shapes_and_no_host_reads():
    for name in ("none", "base", "autoaug"):
        x = torch.empty(4, 3, 36, 36, dtype=torch.uint8, device="meta")
        assert augment.build(name, 32, cutout=8, crop="resized")(x).shape == (4, 3, 32, 32)


def test_centre_crop_is_torchvisions():
    x = smooth(3, 3, 37, 37)
    assert torch.equal(CenterCrop(32)(x), TF.center_crop(x, [32, 32]))


def test_padded_crop_flips_vertically_only_when_asked():
    size, pad, n = 16, 2, 4000
    rows = torch.arange(1, size + 1, dtype=torch.uint8)[:, None].expand(size, size)
    x = rows.expand(n, 1, size, size).contiguous()
    torch.manual_seed(0)
    out = RandomCropFlip(pad, vflip=True)(x)
    mid = size // 2
    flipped = out[:, 0, mid + 1, mid] < out[:, 0, mid, mid]
    assert abs(flipped.float().mean() - 0.5) < 0.03
    torch.manual_seed(0)
    offset = torch.randint(2 * pad + 1, (n, 2))
    hflip = torch.rand(n) < 0.5
    torch.manual_seed(0)
    # without vflip the module draws exactly what the CIFAR recipe always drew: results stay bit for bit
    assert torch.equal(RandomCropFlip(pad)(x), RandomCropFlip(pad).transform(x, offset, hflip))


@pytest.mark.cuda
def test_resized_crop_on_cuda_without_host_sync():
    module = augment.build("autoaug", 24, cutout=8, crop="resized", vflip=True)
    x = smooth(64, 3, 28, 28).cuda()
    module(x)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        y = module(x)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert y.shape == (64, 3, 24, 24) and y.device == x.device
    assert math.isfinite(float(y.float().mean()))
