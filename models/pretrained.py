"""Starting from pretrained weights: torchvision's ImageNet ResNets and self-supervised ResNet checkpoints.

A checkpoint is read as a flat ``{name: tensor}`` (unwrapped from a ``state_dict``/``model`` entry when it is a
training checkpoint), each name stripped of the wrapper prefixes that SimCLR, MoCo and BYOL code bases put in
front (``module.``, ``encoder_q.``, ``encoder.``, ``backbone.``, ``model.``, in any combination) and translated
from torchvision's ResNet layout (``conv1``, ``layer1.0.bn2``, ``downsample``) to ours (``stem.0``,
``layer1.0.body.1.1``, ``shortcut``). A tensor is loaded when the translated name exists in the model with the
same shape; everything else is reported, never silently dropped. The classifier is never loaded (it is
task-specific, and for ImageNet it has 1000 classes), nor are projection heads, which have no counterpart.

The first convolution is the one exception to 'same shape': torchvision's 7x7 stride-2 stem conv is loaded
as is into the ImageNet stem, and *adapted* into the CIFAR stem's 3x3 stride-1 conv by resizing each filter
(antialiased bilinear, 7x7 -> 3x3) and scaling it by (7/3)^2, so each filter keeps its sum, i.e. its response
to a flat patch. A 7x7 filter on an image magnified 7/3 times sees what the resized 3x3 filter sees on the
original, and CIFAR objects are several times smaller in pixels than ImageNet's at 224 px: the adapted filters
keep the pretrained edge and colour detectors at the CIFAR scale instead of starting that layer from scratch.
"""
from __future__ import annotations

import os
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from utils.errors import UserError

#: ``--arch`` -> torchvision weights enum with ImageNet weights of the same layout (full convolution changes
#: padding only, so it takes ResNet-18's weights).
TORCHVISION_ARCHS = {"resnet18": "ResNet18_Weights", "resnet34": "ResNet34_Weights",
                     "resnet50": "ResNet50_Weights", "fresnet18": "ResNet18_Weights"}
PREFIXES = ("module.", "encoder_q.", "encoder.", "backbone.", "model.")
_CONTAINERS = ("state_dict", "model")
STEM_CONV = "stem.0.weight"
_TORCHVISION_NAMES = [  # (pattern, replacement) applied in order to a prefix-free name
    (re.compile(r"^conv1\."), "stem.0."),
    (re.compile(r"^bn1\."), "stem.1."),
    (re.compile(r"^(layer\d+\.\d+)\.conv(\d)\."), lambda m: f"{m[1]}.body.{int(m[2]) - 1}.0."),
    (re.compile(r"^(layer\d+\.\d+)\.bn(\d)\."), lambda m: f"{m[1]}.body.{int(m[2]) - 1}.1."),
    (re.compile(r"^(layer\d+\.\d+)\.downsample\."), r"\1.shortcut."),
]


@dataclass
class InitReport:
    """What a checkpoint gave the model: loaded model tensors, model tensors left at their initialisation, and
    checkpoint tensors not used (with the reason)."""
    source: str
    loaded: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)
    unused: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        groups = Counter(name.split(".", 1)[0] for name in self.loaded)
        lines = [f"init: loaded {len(self.loaded)} tensors from {self.source} "
                 f"({', '.join(f'{g} {n}' for g, n in groups.items())})"]
        if self.adapted:
            lines.append(f"init: adapted to the model's shape: {', '.join(self.adapted)}")
        lines.append(f"init: model tensors not loaded, left at their initialisation ({len(self.fresh)}): "
                     f"{', '.join(self.fresh) or '-'}")
        lines.append(f"init: checkpoint tensors not used ({len(self.unused)}): "
                     f"{', '.join(f'{k} ({why})' for k, why in self.unused.items()) or '-'}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"source": self.source, "loaded": self.loaded, "adapted": self.adapted, "fresh": self.fresh,
                "unused": self.unused}


def model_key(key: str) -> str:
    """A checkpoint tensor's name in our layout: wrapper prefixes stripped, torchvision names translated."""
    stripped = True
    while stripped:
        stripped = False
        for prefix in PREFIXES:
            if key.startswith(prefix):
                key, stripped = key[len(prefix):], True
    for pattern, replacement in _TORCHVISION_NAMES:
        key = pattern.sub(replacement, key)
    return key


def adapt_stem_conv(weight: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Resize ``[out, in, k, k]`` filters to ``kernel_size``, keeping each filter's sum (module docstring)."""
    k = weight.shape[-1]
    resized = F.interpolate(weight.float(), size=(kernel_size, kernel_size), mode="bilinear", antialias=True,
                            align_corners=False)
    return (resized * (k / kernel_size) ** 2).to(weight.dtype)


def _not_torch(path: str) -> str:
    """Why ``path`` cannot be a torch checkpoint at all (torch's own error is then an internal key, e.g. ``101``),
    or "" when it looks like one (a zip archive, or a pickle as torch.save wrote them before 1.6)."""
    with open(path, "rb") as f:
        head = f.read(16)
    if zipfile.is_zipfile(path) or head[:1] == b"\x80":
        return ""
    return f"it starts with {head!r}; expected a file written by torch.save (a zip archive, or a pickle)"


def read_checkpoint(path: str) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, unwrapped from a training checkpoint's ``state_dict``/``model`` entry."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a pickle with arbitrary objects, a truncated file, not a torch file at all
        raise UserError(f"cannot read {path} as a torch checkpoint of tensors: {_not_torch(path) or err}") from None
    while isinstance(obj, dict):
        inner = next((obj[k] for k in _CONTAINERS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, dict):
        raise UserError(f"{path} holds a {type(obj).__name__}, not a state dict")
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def imagenet_state(arch: str) -> tuple[dict[str, torch.Tensor], str]:
    """torchvision's ImageNet weights for ``arch`` (from torch's hub cache, downloading them if absent)."""
    from torchvision.models import get_weight

    weights = get_weight(f"{TORCHVISION_ARCHS[arch]}.IMAGENET1K_V1")
    try:
        return weights.get_state_dict(progress=True), weights.url
    except Exception as err:  # offline: URLError, socket errors, ...
        raise UserError(f"could not get torchvision's ImageNet weights ({weights.url}): {err}; without network, "
                        f"download that file elsewhere and pass it with --init-checkpoint") from None


@torch.no_grad()
def load_into(model: nn.Module, checkpoint: dict[str, torch.Tensor], source: str) -> InitReport:
    """Copy every matching checkpoint tensor into ``model`` (in place) and say what was and was not loaded.

    Raises:
        UserError: nothing in the checkpoint matches the model.
    """
    targets = model.state_dict()
    report = InitReport(source)
    for key, value in checkpoint.items():
        name = model_key(key)
        if name.startswith("fc."):
            report.unused[key] = "classifier: trained from scratch"
        elif name not in targets:
            report.unused[key] = "not in the model"
        elif name == STEM_CONV and value.dim() == 4 and value.shape[:2] == targets[name].shape[:2] \
                and value.shape[-1] > targets[name].shape[-1]:
            targets[name].copy_(adapt_stem_conv(value, targets[name].shape[-1]))
            report.loaded.append(name)
            report.adapted.append(f"{name} {tuple(value.shape)} -> {tuple(targets[name].shape)}")
        elif value.shape != targets[name].shape:
            report.unused[key] = f"shape {tuple(value.shape)}, model {tuple(targets[name].shape)}"
        else:
            targets[name].copy_(value)
            report.loaded.append(name)
    if not report.loaded:
        first = ", ".join(list(checkpoint)[:5])
        raise UserError(f"no tensor of {source} matches the model (first keys: {first or 'none'}); expected a "
                        f"ResNet state dict in torchvision layout or ours, its keys optionally prefixed by "
                        f"{', '.join(PREFIXES)}")
    loaded = set(report.loaded)
    report.fresh = [name for name in targets if name not in loaded]
    return report


def initialise(model: nn.Module, init: str, checkpoint: str, arch: str) -> InitReport | None:
    """Apply ``--init`` / ``--init-checkpoint`` to a freshly built model; None when both are at their default."""
    if checkpoint:
        return load_into(model, read_checkpoint(checkpoint), os.path.abspath(checkpoint))
    if init == "imagenet":
        state, source = imagenet_state(arch)
        return load_into(model, state, source)
    return None
