"""Pixel (non-geometric) image ops on uint8 batches [B, C, H, W], one parameter per sample.

Each op reproduces the tensor backend of ``torchvision.transforms.functional`` applied to every
sample on its own with that sample's parameter: same dtypes, same operation order, so results are
bit-identical on uint8. Parameter-free pieces that already work on batches (grayscale, invert,
RGB<->HSV) are torchvision's own code. Everything here has static shapes and
never reads tensor values on the host.
"""

import torch
import torch.nn.functional as nnf
from torch import Tensor
from torchvision.transforms import _functional_tensor as F_t


def _per_sample(values: Tensor) -> Tensor:
    """[B] -> [B, 1, 1, 1], to broadcast one value per sample over the image."""
    return values.reshape(-1, 1, 1, 1)


def blend(img1: Tensor, img2: Tensor, ratio: Tensor) -> Tensor:
    """torchvision's ``_blend`` with a per-sample ratio [B].

    torchvision holds the ratio as a Python float, computes ``1.0 - ratio`` in double precision and
    only then meets float32 tensors; computing both weights in float64 before casting keeps the
    float32 products identical.
    """
    ratio = _per_sample(ratio.double())
    mixed = ratio.float() * img1 + (1.0 - ratio).float() * img2
    return mixed.clamp(0, 255).to(img1.dtype)


def brightness(x: Tensor, factor: Tensor) -> Tensor:
    """``adjust_brightness`` with a per-sample factor."""
    return blend(x, torch.zeros_like(x), factor)


def contrast(x: Tensor, factor: Tensor) -> Tensor:
    """``adjust_contrast``: blend with the mean grey level of each sample."""
    grey = F_t.rgb_to_grayscale(x) if x.shape[-3] == 3 else x
    mean = grey.float().mean(dim=(-3, -2, -1), keepdim=True)
    return blend(x, mean, factor)


def saturation(x: Tensor, factor: Tensor) -> Tensor:
    """``adjust_saturation`` (AutoAugment's "Color"); identity on one channel, as torchvision."""
    if x.shape[-3] == 1:
        return x
    return blend(x, F_t.rgb_to_grayscale(x), factor)


def hue(x: Tensor, shift: Tensor) -> Tensor:
    """``adjust_hue`` with a per-sample hue shift in [-0.5, 0.5]; identity on one channel."""
    if x.shape[-3] == 1:
        return x
    h, s, v = F_t._rgb2hsv(F_t.convert_image_dtype(x, torch.float32)).unbind(dim=-3)
    h = (h + shift.float().reshape(-1, 1, 1)) % 1.0
    rgb = F_t._hsv2rgb(torch.stack((h, s, v), dim=-3))
    return F_t.convert_image_dtype(rgb, x.dtype)


def _smoothed(x: Tensor) -> Tensor:
    """torchvision's ``_blurred_degenerate_image``: 3x3 smoothing (centre weight 5/13, others 1/13)
    of the interior, rounded, borders kept. Rebuilt because torchvision sets the kernel's centre by
    item assignment, a host-to-device copy on CUDA."""
    channels = x.shape[-3]
    kernel = torch.ones(9, device=x.device).masked_fill(torch.arange(9, device=x.device) == 4, 5.0)
    kernel = (kernel / kernel.sum()).reshape(1, 1, 3, 3).expand(channels, 1, 3, 3)
    smoothed = nnf.conv2d(x.float(), kernel, groups=channels).round().to(x.dtype)
    out = x.clone()
    out[..., 1:-1, 1:-1] = smoothed
    return out


def sharpness(x: Tensor, factor: Tensor) -> Tensor:
    """``adjust_sharpness``: blend with the smoothed image."""
    if x.shape[-1] <= 2 or x.shape[-2] <= 2:
        return x
    return blend(x, _smoothed(x), factor)


def posterize(x: Tensor, bits: Tensor) -> Tensor:
    """``posterize``: keep the ``bits`` [B] (integers in 0..8) most significant bits."""
    mask = (torch.full_like(bits, 255, dtype=torch.int64) << (8 - bits.long())) & 255
    return x & _per_sample(mask.to(torch.uint8))


def solarize(x: Tensor, threshold: Tensor) -> Tensor:
    """``solarize``: invert pixels at or above the per-sample threshold."""
    return torch.where(x >= _per_sample(threshold.float()), F_t.invert(x), x)


def invert(x: Tensor) -> Tensor:
    return F_t.invert(x)


def grayscale(x: Tensor) -> Tensor:
    """``rgb_to_grayscale`` keeping the channel count (identity on one channel)."""
    return F_t.rgb_to_grayscale(x, num_output_channels=x.shape[-3])


def autocontrast(x: Tensor) -> Tensor:
    """``autocontrast`` per sample and channel; constant channels are left unchanged.

    torchvision patches constant channels with boolean-mask assignment (a host sync); ``masked_fill``
    gives the same values with static shapes.
    """
    minimum = x.amin(dim=(-2, -1), keepdim=True).float()
    maximum = x.amax(dim=(-2, -1), keepdim=True).float()
    scale = 255 / (maximum - minimum)
    constant = ~torch.isfinite(scale)
    minimum = minimum.masked_fill(constant, 0.0)
    scale = scale.masked_fill(constant, 1.0)
    return ((x - minimum) * scale).clamp(0, 255).to(x.dtype)


def equalize(x: Tensor) -> Tensor:
    """``equalize`` per sample and channel, vectorised.

    torchvision's ``_scale_channel`` builds a 256-bin histogram, sets ``step`` to the pixel count
    outside the last non-empty bin (i.e. the brightest value present) floor-divided by 255, leaves
    the channel unchanged when ``step == 0`` and otherwise maps values through a shifted cumulative
    histogram. Here histograms come from ``scatter_add_`` and the ``step == 0`` branch is a
    ``torch.where``.
    """
    b, c, h, w = x.shape
    flat = x.reshape(b, c, h * w).long()
    hist = torch.zeros(b, c, 256, dtype=torch.int64, device=x.device)
    hist.scatter_add_(2, flat, torch.ones_like(flat))
    brightest = flat.amax(dim=2, keepdim=True)
    step = (h * w - hist.gather(2, brightest)) // 255
    lut = (hist.cumsum(2) + step // 2) // step.clamp(min=1)
    lut = nnf.pad(lut, [1, 0])[..., :-1].clamp(0, 255)
    equalized = lut.gather(2, flat).to(torch.uint8).reshape(b, c, h, w)
    return torch.where(step.reshape(b, c, 1, 1) == 0, x, equalized)
