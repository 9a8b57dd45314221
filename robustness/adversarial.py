"""White-box L-inf attacks on [0,1] images, the model in eval mode and in fp32: FGSM, PGD, AutoAttack.

Settings are fixed (the protocol, not options): FGSM at 8/255 (the paper's single setting, kept for comparison; a
one-step attack overstates robustness), PGD with 10 and 20 steps of eps/4 from a uniform random start at eps in
{1, 2, 4, 8}/255, and torchattacks' standard AutoAttack at 8/255 (``--suite autoattack``: much slower). The first
``adv_images`` test images are attacked; each suite also records the fp32 clean accuracy on those images as
``name="clean", eps=0``.

PGD is ours rather than torchattacks' (which the tests use as the reference it must agree with) for two reasons:
every cell draws its random start from its own generator seeded with ``SEED``, so a cell's number does not depend on
which other cells ran before it in the process (evaluation skips stored cells, so that order varies), whereas
torchattacks draws from the global RNG; and it works on device tensors with no host synchronisation per step or per
batch (torchattacks checks the input range on the host at every call), counting correct predictions on the device.
FGSM is the same function: one step of size eps without random start. Attacks run with TF32 off (true fp32), with
the parameters frozen so backward computes input gradients only.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from robustness.units import Context, Unit
from training.advprop import pgd as loss_pgd
from training.evaluate import accuracy
from training.precision import to_float
from utils.errors import UserError

FGSM_EPS = 8 / 255
PGD_EPS = (1 / 255, 2 / 255, 4 / 255, 8 / 255)
PGD_STEPS = (10, 20)
AUTOATTACK_EPS = 8 / 255
SEED = 0
#: torchattacks is installed on its own, without its dependencies: 3.5.1 pins requests~=2.25.1 (and with it an
#: idna below 3), which would downgrade a user's packages to versions with published security fixes missing. What
#: it imports besides torch and numpy (scipy) is in requirements.txt; .ci/run runs this same command.
TORCHATTACKS_INSTALL = 'pip install --no-deps "torchattacks>=3.5,<4"'

Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int, step_size: float,
        random_start: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
    """L-inf PGD maximising ``model``'s cross-entropy on labels ``y`` (``training.advprop.pgd``): images ``x`` in
    [0,1] -> adversarial images with ``|x_adv - x| <= eps`` and values in [0,1]. ``generator`` draws the random
    start (the global RNG when None)."""
    return loss_pgd(lambda adv: F.cross_entropy(model(adv), y), x, eps, step_size, steps, random_start, generator)


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """FGSM (Goodfellow et al., 2015): one signed-gradient step of size eps, no random start."""
    return pgd(model, x, y, eps, steps=1, step_size=eps, random_start=False)


@contextlib.contextmanager
def attack_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode, frozen parameters and TF32 off for the block; everything restored afterwards."""
    was_training = model.training
    frozen = [p for p in model.parameters() if p.requires_grad]
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    model.eval()
    for p in frozen:
        p.requires_grad_(False)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield model
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
        for p in frozen:
            p.requires_grad_(True)
        model.train(was_training)


def robust_accuracy(model: nn.Module, attack: Attack, x: torch.Tensor, y: torch.Tensor, device: torch.device,
                    batch_size: int, channels_last: bool = False, seed: int = SEED) -> torch.Tensor:
    """Accuracy on ``attack(model, images, labels, generator)`` of uint8 images ``x`` (CPU), batch by batch; a device
    tensor. The generator is seeded once with ``seed``, so the result is reproducible."""
    generator = torch.Generator(device=device).manual_seed(seed)
    correct = torch.zeros((), dtype=torch.long, device=device)
    with attack_mode(model):
        for start in range(0, len(y), batch_size):
            xb = to_float(x[start:start + batch_size].to(device), channels_last)
            yb = y[start:start + batch_size].to(device)
            adv = attack(model, xb, yb, generator)
            with torch.no_grad():
                correct += (model(adv).argmax(1) == yb).sum()
    return correct.double() / len(y)


def _unit(ctx: Context, suite: str, name: str, eps: float, attack: Attack) -> Unit:
    n = min(ctx.adv_images, len(ctx.y_test))
    x, y = ctx.x_test[:n], ctx.y_test[:n]

    def compute(model: nn.Module) -> list[torch.Tensor]:
        return [robust_accuracy(model, attack, x, y, ctx.device, ctx.attack_batch_size, ctx.channels_last)]
    return Unit(suite, f"{name} eps {eps * 255:g}/255", [(name, None, eps)], n, compute)


def _clean_unit(ctx: Context, suite: str) -> Unit:
    n = min(ctx.adv_images, len(ctx.y_test))

    def compute(model: nn.Module) -> list[torch.Tensor]:
        return [accuracy(model, ctx.x_test[:n], ctx.y_test[:n], ctx.device, "fp32", ctx.channels_last,
                         ctx.batch_size)]
    return Unit(suite, "clean", [("clean", None, 0.0)], n, compute)


def fgsm_units(ctx: Context) -> list[Unit]:
    return [_clean_unit(ctx, "fgsm"),
            _unit(ctx, "fgsm", "fgsm", FGSM_EPS, lambda m, x, y, g: fgsm(m, x, y, FGSM_EPS))]


def pgd_units(ctx: Context) -> list[Unit]:
    def attack(eps: float, steps: int) -> Attack:
        return lambda m, x, y, g: pgd(m, x, y, eps, steps, eps / 4, generator=g)
    return [_clean_unit(ctx, "pgd")] + [_unit(ctx, "pgd", f"pgd{steps}", eps, attack(eps, steps))
                                        for steps in PGD_STEPS for eps in PGD_EPS]


def require_torchattacks():
    """The torchattacks module, or a UserError naming the command that installs it."""
    try:
        import torchattacks
    except ImportError:
        raise UserError(f"--suite autoattack needs torchattacks, which is not installed: {TORCHATTACKS_INSTALL}"
                        ) from None
    return torchattacks


def autoattack_units(ctx: Context) -> list[Unit]:
    """torchattacks' standard AutoAttack (APGD-CE, APGD-T, FAB-T, Square), L-inf at 8/255."""
    torchattacks = require_torchattacks()

    def attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return torchattacks.AutoAttack(model, norm="Linf", eps=AUTOATTACK_EPS, version="standard",
                                       n_classes=ctx.num_classes, seed=SEED)(x, y)
    return [_clean_unit(ctx, "autoattack"), _unit(ctx, "autoattack", "standard", AUTOATTACK_EPS, attack)]
