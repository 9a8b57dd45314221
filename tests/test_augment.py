"""Tests for the batched, per-sample augmentations in ``augment`` (CPU, fixed seeds)."""

import math

import pytest
import torch
from torchvision.transforms import AutoAugmentPolicy, InterpolationMode
from torchvision.transforms import autoaugment as tv_autoaugment
from torchvision.transforms import functional as TF

import augment
from augment import ops
from augment.apply import apply_op
from augment.color import ColorDistortion
from augment.crop import RandomCropFlip
from augment.cutout import Cutout
from augment.geometry import GEOMETRIC_OPS
from augment.policies import AugMix, AutoAugment, RandAugment, TrivialAugmentWide

SIZE = 32




def images(batch: int, channels: int, seed: int = 0, size: int = SIZE) -> torch.Tensor:
    """Smooth random images with noise, plus a constant and a two-tone image (edge cases of
    autocontrast / equalize)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(batch, channels, 6, 6, generator=g) * 255
    smooth = torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
    x = (smooth + torch.randn(batch, channels, size, size, generator=g) * 12).clamp(0, 255).to(torch.uint8)
    x[0] = 77
    x[1, :, :, : size // 2] = 10
    x[1, :, :, size // 2 :] = 200
    return x


def chi_square_critical(dof: int, z: float = 3.09) -> float:
    """Wilson-Hilferty approximation of the chi-square quantile at normal quantile z (p=0.001)."""
    return dof * (1 - 2 / (9 * dof) + z * math.sqrt(2 / (9 * dof))) ** 3


def chi_square(counts: torch.Tensor) -> float:
    expected = counts.sum() / counts.numel()
    return float(((counts - expected) ** 2 / expected).sum())


def chi_square_fit(counts: torch.Tensor, probs: torch.Tensor) -> float:
    """Pearson's statistic of ``counts`` against cell probabilities ``probs`` (all positive)."""
    expected = counts.sum() * probs / probs.sum()
    return float(((counts - expected) ** 2 / expected).sum())


def torchvision_spaces() -> dict[str, tuple[list[float], bool]]:
    """Every (op -> magnitude values, signed) of torchvision's four policies at SIZE."""
    spaces = [
        tv_autoaugment.AutoAugment()._augmentation_space(10, (SIZE, SIZE)),
        tv_autoaugment.RandAugment()._augmentation_space(31, (SIZE, SIZE)),
        tv_autoaugment.TrivialAugmentWide()._augmentation_space(31),
        tv_autoaugment.AugMix()._augmentation_space(10, (SIZE, SIZE)),
    ]
    merged: dict[str, tuple[list[float], bool]] = {}
    for space in spaces:
        for name, (values, signed) in space.items():
            known, _ = merged.setdefault(name, ([], signed))
            known.extend(values.reshape(-1).float().tolist())
    return merged


def reference_ops(x: torch.Tensor, names, op: torch.Tensor, magnitude: torch.Tensor, interpolation) -> torch.Tensor:
    """torchvision's ``_apply_op`` on each sample, steps in order."""
    out = []
    for i in range(x.shape[0]):
        img = x[i]
        for step in range(op.shape[1]):
            name = names[int(op[i, step])]
            img = tv_autoaugment._apply_op(img, name, float(magnitude[i, step]), interpolation, None)
        out.append(img)
    return torch.stack(out)


# ---------------------------------------------------------------------------------------------
# Pipelines


@pytest.mark.parametrize("cutout", [0, 8])
@pytest.mark.parametrize("name", augment.AUGMENTATIONS)
def test_every_strategy_keeps_shape_dtype_device(name: str, cutout: int) -> None:
    torch.manual_seed(0)
    module = augment.build(name, SIZE, cutout=cutout)
    for channels in (1, 3):
        x = images(8, channels)
        y = module(x)
        assert y.shape == x.shape and y.dtype == torch.uint8 and y.device == x.device
        if name == "none" and cutout == 0:
            assert torch.equal(y, x)
        else:
            changed = (y != x).flatten(1).any(dim=1)
            assert changed.float().mean() >= 0.5, f"{name} left most images unchanged"


@pytest.mark.parametrize("size", [64, 96])
@pytest.mark.parametrize("name", augment.AUGMENTATIONS)
def test_every_strategy_runs_at_larger_image_sizes(name: str, size: int) -> None:
    """Padding (``size // 8``), translations and Cutout all depend on the image size: nothing may assume 32 px."""
    torch.manual_seed(0)
    module = augment.build(name, size, cutout=size // 4)
    if name != "none":
        assert isinstance(module[0], RandomCropFlip) and module[0].pad == size // 8
    x = images(6, 3, size=size)
    y = module(x)
    assert y.shape == x.shape and y.dtype == torch.uint8 and y.device == x.device
    changed = (y != x).flatten(1).any(dim=1)
    assert changed.float().mean() >= 0.5, f"{name} left most {size}-px images unchanged"


@pytest.mark.parametrize("size", [64, 96])
def test_policy_magnitude_tables_follow_image_size(size: int) -> None:
    """Translations are a fraction of the image side: each policy ``build`` makes has torchvision's table at
    ``size``."""
    rand, mix, auto = (augment.build(name, size)[1] for name in ("randaug", "augmix", "autoaug"))
    assert (type(rand), type(mix), type(auto)) == (RandAugment, AugMix, AutoAugment)
    space = tv_autoaugment.RandAugment()._augmentation_space(31, (size, size))
    bin_ = tv_autoaugment.RandAugment().magnitude
    expected = torch.tensor([float(values[bin_]) if values.ndim else 0.0 for values, _ in space.values()])
    assert torch.allclose(rand.magnitudes, expected)
    translate = rand.names.index("TranslateX")
    assert math.isclose(float(rand.magnitudes[translate]), float(RandAugment(SIZE).magnitudes[translate]) * size / SIZE,
                        rel_tol=1e-5)
    space = tv_autoaugment.AugMix()._augmentation_space(10, (size, size))
    expected = torch.stack([values.float() if values.ndim else torch.zeros(10) for values, _ in space.values()])
    assert torch.allclose(mix.magnitudes, expected)
    space = tv_autoaugment.AutoAugment()._augmentation_space(10, (size, size))
    expected = torch.tensor([[0.0 if b is None else float(space[name][0][b]) for name, _, b in sub]
                             for sub in tv_autoaugment.AutoAugment(AutoAugmentPolicy.CIFAR10).policies])
    assert torch.allclose(auto.magnitudes, expected)


def test_build_rejects_unknown_names_and_negative_cutout() -> None:
    with pytest.raises(ValueError):
        augment.build("randaugment", SIZE)
    with pytest.raises(ValueError):
        augment.build("base", SIZE, cutout=-1)


def test_pipeline_order() -> None:
    kinds = {name: [type(stage) for stage in augment.build(name, SIZE, cutout=4)] for name in augment.AUGMENTATIONS}
    assert kinds["none"] == [Cutout]
    assert kinds["base"] == [RandomCropFlip, Cutout]
    assert kinds["contrast"] == [RandomCropFlip, ColorDistortion, Cutout]
    assert kinds["autoaug"] == [RandomCropFlip, AutoAugment, Cutout]
    assert kinds["randaug"] == [RandomCropFlip, RandAugment, Cutout]
    assert kinds["trivialaug"] == [RandomCropFlip, TrivialAugmentWide, Cutout]
    assert kinds["augmix"] == [RandomCropFlip, AugMix, Cutout]
    assert augment.build("base", SIZE)[0].pad == 4


def _gamma_on_meta() -> bool:
    """Gamma sampling (Dirichlet / Beta draws) got a meta kernel only in recent torch releases."""
    try:
        torch._standard_gamma(torch.ones(1, device="meta"))
    except NotImplementedError:
        return False
    return True


@pytest.mark.parametrize("name", augment.AUGMENTATIONS)
def test_static_shapes_and_no_host_reads(name: str) -> None:
    """Meta tensors carry no data: any .item(), boolean-mask indexing or data-dependent shape raises."""
    if name == "augmix" and not _gamma_on_meta():
        pytest.skip("this torch has no meta kernel for gamma sampling")
    x = torch.empty(4, 3, SIZE, SIZE, dtype=torch.uint8, device="meta")
    y = augment.build(name, SIZE, cutout=8)(x)
    assert y.shape == x.shape and y.device.type == "meta"


@pytest.mark.skipif(not _gamma_on_meta(), reason="this torch has no meta kernel for gamma sampling")
def test_mix_batch_static_shapes_and_no_host_reads() -> None:
    xf, labels = torch.empty(4, 3, SIZE, SIZE, device="meta"), torch.empty(4, dtype=torch.long, device="meta")
    mixed, target = augment.mix_batch(xf, labels, 10, mixup_alpha=1.0, cutmix_alpha=1.0)
    assert mixed.shape == xf.shape and target.shape == (4, 10)


@pytest.mark.parametrize("name", augment.AUGMENTATIONS[1:])
def test_seeds_reproduce_and_differ(name: str) -> None:
    module = augment.build(name, SIZE, cutout=8)
    x = images(16, 3)
    runs = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        runs.append(module(x))
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


@pytest.mark.cuda
@pytest.mark.parametrize("name", augment.AUGMENTATIONS)
def test_cuda_runs_without_host_sync(name: str) -> None:
    module = augment.build(name, SIZE, cutout=8)
    x = images(64, 3).cuda()
    xf, labels = x.float() / 255, torch.arange(64, device="cuda") % 10
    module(x)  # first call moves the tables to the GPU
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        y = module(x)
        augment.mix_batch(xf, labels, 10, mixup_alpha=1.0, cutmix_alpha=1.0)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert y.device == x.device and y.shape == x.shape


# ---------------------------------------------------------------------------------------------
# Random crop and flip


def coordinate_pattern(size: int) -> torch.Tensor:
    """[2, size, size] uint8: channel 0 holds the 1-based row of each pixel, channel 1 its column (0 = padding)."""
    rows = torch.arange(1, size + 1, dtype=torch.uint8)
    return torch.stack((rows[:, None].expand(size, size), rows[None, :].expand(size, size)))


def crop_parameters(out: torch.Tensor, size: int, pad: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(dy, dx, flip) of each cropped and flipped ``coordinate_pattern``, read at the centre pixel."""
    mid = size // 2
    flip = out[:, 1, mid, mid + 1] < out[:, 1, mid, mid]
    dy = out[:, 0, mid, mid].long() - 1 - mid + pad
    dx = out[:, 1, mid, mid].long() - 1 - torch.where(flip, size - 1 - mid, mid) + pad
    return dy, dx, flip


def assert_uniform_marginals(dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor) -> None:
    for marginal in (torch.bincount(dy).float(), torch.bincount(dx).float(), torch.bincount(flip.long()).float()):
        assert chi_square(marginal) < chi_square_critical(marginal.numel() - 1)


def assert_crops_match(out, pattern, pad: int, dy, dx, flip, every: int) -> None:
    """Whole images (every ``every``-th) equal zero padding + crop + flip for the recovered parameters."""
    size = pattern.shape[-1]
    padded = torch.nn.functional.pad(pattern, [pad] * 4)
    for i in range(0, len(out), every):
        crop = padded[:, dy[i] : dy[i] + size, dx[i] : dx[i] + size]
        assert torch.equal(out[i], crop.flip(-1) if flip[i] else crop)


def test_crop_offsets_and_flips_are_uniform_and_per_sample() -> None:
    pad = SIZE // 8
    pattern = coordinate_pattern(SIZE)
    n = 16200  # 100 per (dy, dx, flip) cell
    torch.manual_seed(0)
    out = augment.build("base", SIZE)(pattern.expand(n, 2, SIZE, SIZE).contiguous())
    dy, dx, flip = crop_parameters(out, SIZE, pad)
    assert dy.min() == 0 and dy.max() == 2 * pad and dx.min() == 0 and dx.max() == 2 * pad
    cells = (dy * (2 * pad + 1) + dx) * 2 + flip.long()
    counts = torch.bincount(cells, minlength=2 * (2 * pad + 1) ** 2).float()
    assert chi_square(counts) < chi_square_critical(counts.numel() - 1)
    assert_uniform_marginals(dy, dx, flip)
    assert_crops_match(out, pattern, pad, dy, dx, flip, every=997)


@pytest.mark.parametrize("size, span", [(64, 16), (96, 24)])
def test_crop_offsets_span_twice_the_scaled_padding(size: int, span: int) -> None:
    """At 64 px the padding is 8, so offsets cover 0..16 (17 values) uniformly; 0..24 at 96 px."""
    pad = size // 8
    pattern = coordinate_pattern(size)
    n = 100 * (span + 1)  # 100 per offset value
    torch.manual_seed(0)
    out = augment.build("base", size)(pattern.expand(n, 2, size, size).contiguous())
    dy, dx, flip = crop_parameters(out, size, pad)
    assert 2 * pad == span
    assert dy.min() == 0 and dy.max() == span and dx.min() == 0 and dx.max() == span
    assert_uniform_marginals(dy, dx, flip)
    assert_crops_match(out, pattern, pad, dy, dx, flip, every=97)


# ---------------------------------------------------------------------------------------------
# Cutout


def test_cutout_centres_cover_every_pixel_and_squares_are_clipped() -> None:
    size, n = 8, 30000
    torch.manual_seed(0)
    out = augment.build("none", SIZE, cutout=size)(torch.full((n, 1, SIZE, SIZE), 255, dtype=torch.uint8))
    assert set(out.unique().tolist()) == {0, 255}
    zero = out[:, 0] == 0
    zero_rows, zero_cols = zero.any(dim=2), zero.any(dim=1)
    index = torch.arange(SIZE)
    top = torch.where(zero_rows, index, SIZE).amin(1)
    bottom = torch.where(zero_rows, index, -1).amax(1)
    left = torch.where(zero_cols, index, SIZE).amin(1)
    right = torch.where(zero_cols, index, -1).amax(1)
    height, width = bottom - top + 1, right - left + 1
    assert torch.equal(zero.flatten(1).sum(1), height * width), "the cut region must be a rectangle"
    assert height.max() == size and width.max() == size
    # square rows are [c - size//2, c - size//2 + size): recover c, also when clipped at the top/left
    row = torch.where(top > 0, top + size // 2, bottom - size + 1 + size // 2)
    col = torch.where(left > 0, left + size // 2, right - size + 1 + size // 2)
    counts = torch.bincount(row * SIZE + col, minlength=SIZE * SIZE).float()
    assert counts.numel() == SIZE * SIZE and counts.min() > 0, "some pixel was never a cutout centre"
    assert chi_square(counts) < chi_square_critical(counts.numel() - 1)
    interior = (row >= size // 2) & (row < SIZE - size // 2) & (col >= size // 2) & (col < SIZE - size // 2)
    assert ((height == size) & (width == size))[interior].all()
    corner = (row == 0) & (col == 0)
    assert corner.any() and (height[corner] == size // 2).all() and (width[corner] == size // 2).all()
    far = (row == SIZE - 1) & (col == SIZE - 1)
    assert far.any() and (height[far] == size // 2 + 1).all() and (width[far] == size // 2 + 1).all()


def test_cutout_zeroes_all_channels_of_the_sampled_square() -> None:
    x = images(6, 3) | 1  # no zeros before cutout
    cutout = Cutout(5)
    centre = torch.tensor([[0, 0], [31, 31], [16, 3], [2, 30], [10, 10], [31, 0]])
    out = cutout.transform(x, centre)
    for i, (r, c) in enumerate(centre.tolist()):
        expected = x[i].clone()
        expected[:, max(r - 2, 0) : r + 3, max(c - 2, 0) : c + 3] = 0
        assert torch.equal(out[i], expected)


# ---------------------------------------------------------------------------------------------
# Batched ops == torchvision per sample


@pytest.mark.parametrize("interpolation", [InterpolationMode.NEAREST, InterpolationMode.BILINEAR])
@pytest.mark.parametrize("channels", [1, 3])
def test_each_op_matches_torchvision_per_sample(channels: int, interpolation: InterpolationMode) -> None:
    """Every op of torchvision's policies, each sample with its own magnitude drawn from
    torchvision's tables (random sign where signed), against ``_apply_op`` on that sample."""
    x = images(12, channels)
    g = torch.Generator().manual_seed(1)
    for name, (values, signed) in torchvision_spaces().items():
        values = torch.tensor(values or [0.0])
        magnitude = values[torch.randint(len(values), (x.shape[0],), generator=g)]
        if signed:
            magnitude = torch.where(torch.rand(x.shape[0], generator=g) < 0.5, -magnitude, magnitude)
        ours = apply_op(x, (name,), torch.zeros(x.shape[0], dtype=torch.long), magnitude, interpolation)
        first = torch.zeros(x.shape[0], 1, dtype=torch.long)
        expected = reference_ops(x, (name,), first, magnitude[:, None], interpolation)
        if name in GEOMETRIC_OPS:
            # Nearest/bilinear sampling could flip at exact ties under different float summation
            # order; on this platform the warp is bit-exact, allow a sliver anyway.
            assert (ours != expected).float().mean() <= 0.002, name
        else:
            assert torch.equal(ours, expected), name


def test_op_selection_is_per_sample() -> None:
    """A batch with a different op per sample equals each sample's op alone."""
    names = tuple(torchvision_spaces())
    x = images(2 * len(names), 3)
    index = torch.arange(len(names)).repeat(2)
    magnitude = torch.linspace(-0.9, 0.9, len(index))
    magnitude[names.index("Posterize") :: len(names)] = torch.tensor([3.0, 6.0])
    magnitude[names.index("Solarize") :: len(names)] = torch.tensor([100.0, 200.0])
    magnitude[names.index("TranslateX") :: len(names)] = torch.tensor([-7.0, 5.0])
    ours = apply_op(x, names, index, magnitude, InterpolationMode.NEAREST)
    expected = reference_ops(x, names, index[:, None], magnitude[:, None], InterpolationMode.NEAREST)
    assert torch.equal(ours, expected)


@pytest.mark.parametrize("channels", [1, 3])
def test_colour_adjustments_match_torchvision(channels: int) -> None:
    x = images(10, channels)
    factor = torch.rand(10, generator=torch.Generator().manual_seed(2)) * 1.5
    shift = factor / 3 - 0.25
    cases = [
        (ops.brightness, TF.adjust_brightness, factor),
        (ops.contrast, TF.adjust_contrast, factor),
        (ops.saturation, TF.adjust_saturation, factor),
        (ops.sharpness, TF.adjust_sharpness, factor),
        (ops.hue, TF.adjust_hue, shift),
    ]
    for ours, theirs, values in cases:
        expected = torch.stack([theirs(x[i], float(values[i])) for i in range(10)])
        assert torch.equal(ours(x, values), expected), theirs.__name__
    assert torch.equal(ops.grayscale(x), torch.stack([TF.rgb_to_grayscale(img, channels) for img in x]))


# ---------------------------------------------------------------------------------------------
# Policies == torchvision's policies, per sample


@pytest.mark.parametrize("policy", [AutoAugment, RandAugment, TrivialAugmentWide])
def test_policies_apply_torchvision_ops_per_sample(policy) -> None:
    module = policy(SIZE)
    x = images(24, 3)
    torch.manual_seed(5)
    op, magnitude = module.sample(x)
    ours = module.transform(x, op, magnitude)
    expected = reference_ops(x, module.names, op, magnitude, InterpolationMode.NEAREST)
    assert (ours != expected).float().mean() <= 0.002
    assert len(op.unique()) > 3, "samples of one batch must draw different ops"


def test_autoaugment_draws_cifar10_subpolicies() -> None:
    reference = tv_autoaugment.AutoAugment(AutoAugmentPolicy.CIFAR10)
    space = reference._augmentation_space(10, (SIZE, SIZE))
    module = AutoAugment(SIZE)
    torch.manual_seed(0)
    op, magnitude = module.sample(torch.empty(5000, 3, SIZE, SIZE, dtype=torch.uint8))

    def fits(step, name, value) -> bool:
        want, _, bin_ = step
        expected = 0.0 if bin_ is None else float(space[want][0][bin_])
        return name == "Identity" or (name == want and math.isclose(abs(value), expected, abs_tol=1e-5))

    steps = [[(module.names[o], float(m)) for o, m in zip(ops_, mags)] for ops_, mags in zip(op, magnitude)]
    for drawn in steps[:500]:
        assert any(all(fits(s, *d) for s, d in zip(sub, drawn)) for sub in reference.policies), drawn
    names = [name for drawn in steps for name, _ in drawn]
    identity = names.count("Identity") / len(names)
    expected_identity = 1 - sum(p for sub in reference.policies for _, p, _ in sub) / (2 * len(reference.policies))
    assert abs(identity - expected_identity) < 0.02
    signed = [value for drawn in steps for name, value in drawn if name in ("Rotate", "TranslateY", "ShearY")]
    assert 0.45 < sum(v < 0 for v in signed) / len(signed) < 0.55


def cifar10_subpolicies(size: int = SIZE) -> list[tuple[tuple[str, float, float], ...]]:
    """torchvision's CIFAR-10 sub-policies as ((op, probability, unsigned magnitude), (op, probability, magnitude))."""
    reference = tv_autoaugment.AutoAugment(AutoAugmentPolicy.CIFAR10)
    space = reference._augmentation_space(10, (size, size))
    return [tuple((name, p, 0.0 if b is None else float(space[name][0][b])) for name, p, b in sub)
            for sub in reference.policies]


def autoaugment_steps(op: torch.Tensor, magnitude: torch.Tensor, names) -> list[tuple]:
    """Each sample's drawn steps as (op, |magnitude| or None for Identity, op, ...), hashable."""
    steps = []
    for ops_, mags in zip(op.tolist(), magnitude.tolist()):
        steps.append(tuple(x for o, m in zip(ops_, mags)
                           for x in (names[o], None if names[o] == "Identity" else round(abs(m), 4))))
    return steps


def test_autoaugment_subpolicy_is_uniform_per_sample() -> None:
    """With every step forced to fire, each sample's (op, magnitude) pair names its sub-policy: the 25 CIFAR-10
    sub-policies must be equally likely (two pairs of them apply the same ops and merge into one cell each)."""
    subs = cifar10_subpolicies()
    assert len(subs) == 25
    module = AutoAugment(SIZE)
    assert torch.allclose(module.probs, torch.tensor([[p for _, p, _ in sub] for sub in subs]))
    module.probs.fill_(1.0)  # rand() <= 1 always: both steps fire, the policy choice is all that is random
    cells: dict[tuple, int] = {}
    for sub in subs:
        key = tuple(x for name, _, m in sub for x in (name, round(m, 4)))
        cells[key] = cells.get(key, 0) + 1
    assert sorted(cells.values()) == [1] * 21 + [2, 2]
    n = 25000
    torch.manual_seed(0)
    op, magnitude = module.sample(torch.empty(n, 3, 1, 1, dtype=torch.uint8))
    drawn = autoaugment_steps(op, magnitude, module.names)
    unknown = set(drawn) - set(cells)
    assert not unknown, f"steps that are no CIFAR-10 sub-policy: {sorted(unknown)[:3]}"
    keys = list(cells)
    index = {key: i for i, key in enumerate(keys)}
    counts = torch.bincount(torch.tensor([index[d] for d in drawn]), minlength=len(keys)).float()
    probs = torch.tensor([cells[key] / 25 for key in keys])
    assert chi_square_fit(counts, probs) < chi_square_critical(len(keys) - 1)
    per_policy = counts / torch.tensor([cells[key] for key in keys])
    assert (per_policy - n / 25).abs().max() < 0.2 * n / 25


def test_autoaugment_step_patterns_follow_torchvision_probabilities() -> None:
    """Sub-policy uniform, then each step fires with its own probability: the distribution of what is applied
    (both steps, either or neither) matches torchvision's, including p=0 steps that must never fire."""
    subs = cifar10_subpolicies()
    probs: dict[tuple, float] = {}
    for (a, pa, ma), (b, pb, mb) in subs:
        for fire_a in (True, False):
            for fire_b in (True, False):
                key = (a if fire_a else "Identity", round(ma, 4) if fire_a else None,
                       b if fire_b else "Identity", round(mb, 4) if fire_b else None)
                probs[key] = probs.get(key, 0.0) + (pa if fire_a else 1 - pa) * (pb if fire_b else 1 - pb) / 25
    module = AutoAugment(SIZE)
    torch.manual_seed(1)
    drawn = autoaugment_steps(*module.sample(torch.empty(25000, 3, 1, 1, dtype=torch.uint8)), module.names)
    possible = [key for key, p in probs.items() if p > 0]
    impossible = {d for d in drawn if probs.get(d, 0.0) == 0.0}
    assert not impossible, f"steps torchvision never applies: {sorted(impossible, key=str)[:3]}"
    index = {key: i for i, key in enumerate(possible)}
    counts = torch.bincount(torch.tensor([index[d] for d in drawn]), minlength=len(possible)).float()
    expected = torch.tensor([probs[key] for key in possible])
    assert chi_square_fit(counts, expected) < chi_square_critical(len(possible) - 1)


def test_randaug_and_trivialaug_magnitudes_come_from_torchvision() -> None:
    rand_space = tv_autoaugment.RandAugment()._augmentation_space(31, (SIZE, SIZE))
    trivial_space = tv_autoaugment.TrivialAugmentWide()._augmentation_space(31)
    torch.manual_seed(0)
    x = torch.empty(2000, 3, SIZE, SIZE, dtype=torch.uint8)
    cases = ((RandAugment(SIZE), rand_space, True), (TrivialAugmentWide(SIZE), trivial_space, False))
    for module, space, uses_bin9 in cases:
        assert module.names == tuple(space)
        op, magnitude = module.sample(x)
        counts = torch.bincount(op.flatten(), minlength=len(space)).float()
        assert chi_square(counts) < chi_square_critical(len(space) - 1)
        for o, m in zip(op.flatten().tolist(), magnitude.flatten().tolist()):
            values, signed = space[module.names[o]]
            allowed = [0.0] if values.ndim == 0 else ([float(values[9])] if uses_bin9 else values.float().tolist())
            assert any(math.isclose(abs(m), a, abs_tol=1e-4) for a in allowed) and (signed or m >= 0)


def test_augmix_matches_torchvision_mixing_per_sample() -> None:
    module = AugMix(SIZE)
    x = images(8, 3)
    torch.manual_seed(7)
    op, magnitude, weights = module.sample(x)
    ours = module.transform(x, op, magnitude, weights)
    width = op.shape[0]
    expected = []
    for i in range(x.shape[0]):
        mix = weights[i, 0] * x[i]
        for c in range(width):
            one = slice(i, i + 1)
            chain = reference_ops(x[one], module.names, op[c, one], magnitude[c, one], InterpolationMode.BILINEAR)
            mix.add_(weights[i, 1 + c] * chain[0])
        expected.append(mix.to(torch.uint8))
    assert (ours != torch.stack(expected)).float().mean() <= 0.002
    assert torch.allclose(weights.sum(1), torch.ones(8))
    depth = (op != module.names.index("Identity")).sum(-1)
    assert depth.min() >= 1 and depth.max() == 3 and len(op[:, :, 0].unique()) > 3


def test_augmix_chain_depths_are_uniform_over_torchvision_range() -> None:
    """torchvision's default ``chain_depth=-1`` draws each chain's depth uniformly from 1..3 (``randint(1, 4)``
    per chain in its forward). Here shorter chains are padded with trailing Identity steps."""
    reference = tv_autoaugment.AugMix()
    assert reference.chain_depth == -1
    module = AugMix(SIZE)
    assert module.chain_depth == reference.chain_depth and module.width == reference.mixture_width
    n = 6000
    torch.manual_seed(0)
    op, _, _ = module.sample(torch.empty(n, 3, 1, 1, dtype=torch.uint8))
    assert op.shape == (reference.mixture_width, n, 3)
    padding = op == module.names.index("Identity")
    assert torch.equal(padding, padding.cummax(-1).values), "Identity may only pad the end of a chain"
    depth = 3 - padding.sum(-1)
    assert depth.min() == 1 and depth.max() == 3
    counts = torch.bincount(depth.flatten() - 1, minlength=3).float()
    assert counts.numel() == 3 and chi_square(counts) < chi_square_critical(2)
    # every chain of every sample draws its own depth: the 27 depth triples of a sample are equally likely
    triples = ((depth - 1) * torch.tensor([9, 3, 1])[:, None]).sum(0)
    counts = torch.bincount(triples, minlength=27).float()
    assert counts.numel() == 27 and chi_square(counts) < chi_square_critical(26)


# ---------------------------------------------------------------------------------------------
# SimCLR colour distortion


@pytest.mark.parametrize("channels", [1, 3])
def test_colour_distortion_matches_torchvision_per_sample(channels: int) -> None:
    module = ColorDistortion()
    x = images(16, channels)
    torch.manual_seed(3)
    jitter, order, factors, gray = module.sample(x)
    ours = module.transform(x, jitter, order, factors, gray)
    adjust = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)
    for i in range(16):
        img = x[i]
        if jitter[i]:
            for k in order[i].tolist():
                img = adjust[k](img, float(factors[i, k]))
        if gray[i]:
            img = TF.rgb_to_grayscale(img, channels)
        assert torch.equal(ours[i], img), i


def test_colour_distortion_parameters() -> None:
    torch.manual_seed(0)
    jitter, order, factors, gray = ColorDistortion().sample(torch.empty(20000, 3, 4, 4, dtype=torch.uint8))
    assert abs(jitter.float().mean() - 0.8) < 0.015 and abs(gray.float().mean() - 0.2) < 0.015
    assert torch.equal(order.sort(1).values, torch.arange(4).expand(20000, 4))
    assert len({tuple(p) for p in order[:2000].tolist()}) == 24
    low, high = factors.amin(0), factors.amax(0)
    assert torch.allclose(low, torch.tensor([0.6, 0.6, 0.6, -0.1]), atol=1e-3)
    assert torch.allclose(high, torch.tensor([1.4, 1.4, 1.4, 0.1]), atol=1e-3)


# ---------------------------------------------------------------------------------------------
# mixup / CutMix


def test_mix_batch_without_alphas_is_one_hot() -> None:
    x, y = torch.rand(5, 3, 8, 8), torch.tensor([0, 3, 2, 3, 9])
    mixed, target = augment.mix_batch(x, y, 10)
    assert mixed is x and torch.equal(target, torch.nn.functional.one_hot(y, 10).float())
    with pytest.raises(ValueError):
        augment.mix_batch(x, y, 10, mixup_alpha=-1.0)


def test_mixup_blends_images_and_targets_alike() -> None:
    torch.manual_seed(0)
    x, y = torch.rand(6, 3, 8, 8), torch.arange(6)
    mixed, target = augment.mix_batch(x, y, 6, mixup_alpha=0.4)
    lam = target[0, 0]
    assert mixed.shape == x.shape and target.shape == (6, 6)
    assert torch.allclose(target.sum(1), torch.ones(6))
    assert torch.allclose(mixed, lam * x + (1 - lam) * x.roll(1, 0), atol=1e-6)
    assert torch.allclose(target.diagonal(), lam.expand(6))
    assert torch.allclose(target.roll(1, 1).diagonal(), 1 - lam.expand(6))  # partner of i is i - 1


def test_cutmix_target_weight_is_the_pasted_area() -> None:
    b, size = 6, 16
    x = (torch.arange(1, b + 1, dtype=torch.float32) / (b + 1)).reshape(b, 1, 1, 1).expand(b, 3, size, size)
    y = torch.arange(b)
    lams, partial = [], 0
    for seed in range(40):
        torch.manual_seed(seed)
        mixed, target = augment.mix_batch(x, y, b, cutmix_alpha=1.0)
        assert torch.allclose(target.sum(1), torch.ones(b))
        pasted = (mixed != x).float().mean(dim=(1, 2, 3))
        assert torch.allclose(pasted, 1 - target.diagonal(), atol=1e-6)
        assert torch.allclose(pasted, target.roll(1, 1).diagonal(), atol=1e-6)
        assert torch.equal(mixed[pasted > 0].unique(), torch.cat([x[pasted > 0], x.roll(1, 0)[pasted > 0]]).unique())
        lams.append(float(target[0, 0]))
        partial += 0 < pasted[0] < 1
    assert partial > 20 and min(lams) < 0.5 and max(lams) > 0.8


def test_mix_batch_with_both_alphas_picks_either_method() -> None:
    x, y = torch.rand(4, 3, 16, 16), torch.arange(4)
    kinds = set()
    for seed in range(30):
        torch.manual_seed(seed)
        mixed, target = augment.mix_batch(x, y, 4, mixup_alpha=1.0, cutmix_alpha=1.0)
        assert torch.allclose(target.sum(1), torch.ones(4))
        kept = (mixed == x).float().mean()
        kinds.add("cutmix" if kept > 0 else "mixup")
    assert kinds == {"cutmix", "mixup"}


@pytest.mark.parametrize("mixup, cutmix", [(0.4, 0.0), (0.0, 1.0), (1.0, 1.0)], ids=["mixup", "cutmix", "both"])
def test_mix_batch_seeds_reproduce_and_differ(mixup: float, cutmix: float) -> None:
    """Same torch seed, same mixed batch and targets; another seed, another lambda / box / method.
    (Targets summing to one per row is checked by the three tests above.)"""
    x, y = images(8, 3).float() / 255, torch.arange(8)
    runs = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        runs.append(augment.mix_batch(x, y, 10, mixup_alpha=mixup, cutmix_alpha=cutmix))
    (mixed, target), (again, again_target), (other, other_target) = runs
    assert not torch.equal(mixed, x)
    assert torch.equal(mixed, again) and torch.equal(target, again_target)
    assert not torch.equal(mixed, other) and not torch.equal(target, other_target)
