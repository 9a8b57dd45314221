"""AdvProp: the attack stays in [0,1] and within eps, auxiliary BatchNorms learn other statistics than the clean
ones, and what a level saves is a plain model evaluated with the clean BatchNorms."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import models
from lottery.cli import main, parse_args
from lottery.run import build_model, load_subset
from pruning import Mask
from training.advprop import AdvProp, pgd
from training.config import TrainConfig
from training.evaluate import accuracy
from training.loop import Environment, LevelTrainer
from training.sgd import SGD
from training.step import GraphedStep, TrainStep, masked_update
from utils.errors import UserError
from tests.conftest import tiny_argv

EPS, STEP = 8 / 255, 2 / 255


def tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return models.build("resnet18", 10, width=4)


@pytest.mark.parametrize("steps, random_start", [(1, True), (3, True), (2, False)])
def test_pgd_stays_in_the_unit_box_and_the_eps_ball(steps, random_start) -> None:
    model = tiny_model()
    x = torch.rand(8, 3, 32, 32)
    x[:, :, :4] = 0.0  # pixels at the box's edges, where the clamp matters
    x[:, :, 4:8] = 1.0
    y = torch.randint(0, 10, (8,))
    adv = pgd(lambda a: F.cross_entropy(model(a), y), x, EPS, STEP, steps, random_start)
    assert adv.min() >= 0 and adv.max() <= 1
    assert (adv - x).abs().max() <= EPS + 1e-6
    assert (adv - x).abs().max() > STEP / 2  # it moved
    assert all(p.grad is None for p in model.parameters())  # the attack leaves parameter gradients alone


def test_pgd_without_random_start_ascends_the_loss() -> None:
    model = tiny_model().eval()
    x, y = torch.rand(16, 3, 32, 32), torch.randint(0, 10, (16,))
    loss = lambda a: F.cross_entropy(model(a), y)  # noqa: E731
    adv = pgd(loss, x, EPS, STEP, 1, random_start=False)
    assert loss(adv) > loss(x)
    assert torch.allclose((adv - x).abs().max(), torch.tensor(STEP), atol=1e-6)


def test_auxiliary_batchnorms_swap_in_and_out() -> None:
    model = tiny_model()
    advprop = AdvProp(model, EPS, STEP, 1, True)
    clean_keys = list(model.state_dict())
    bn = model.stem[1]
    with advprop.auxiliary():
        assert model.stem[1] is advprop.aux[0] and model.stem[1] is not bn
        assert list(model.state_dict()) == clean_keys
    assert model.stem[1] is bn
    assert len(advprop.aux) == sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def test_advprop_level_trains_aux_statistics_and_saves_a_plain_clean_model(tmp_path) -> None:
    hp = parse_args(tiny_argv(tmp_path, "--advprop", "--rounds", "1", "--epochs", "2"))
    env = Environment.resolve(TrainConfig.from_hparams(hp), torch.device("cpu"))
    data, _ = load_subset(hp)
    torch.manual_seed(0)
    model = build_model(hp, data, env)
    mask = Mask.dense(model)
    trainer = LevelTrainer(model, mask, data, TrainConfig.from_hparams(hp), env)
    assert trainer.advprop is not None and trainer.step.advprop is trainer.advprop
    aux_bn = trainer.advprop.aux[0]
    assert torch.equal(aux_bn.running_mean, model.stem[1].running_mean)  # twins start as copies
    trainer.train(0, 0, [], lambda epoch, history: None)
    clean_bn = model.stem[1]
    assert not torch.allclose(aux_bn.running_mean, clean_bn.running_mean)
    assert not torch.allclose(aux_bn.running_var, clean_bn.running_var)
    assert not torch.allclose(aux_bn.weight, clean_bn.weight)  # the optimizer trains the twins too
    # the saved weights are a plain model: they load strictly into a fresh build and evaluate to the trainer's
    # accuracy, i.e. with the clean BatchNorms
    plain = models.build("resnet18", data.num_classes, width=4, mean=data.mean, std=data.std)
    plain.load_state_dict(model.state_dict(), strict=True)
    assert float(accuracy(plain, data.x_test, data.y_test, env.device, "fp32")) == trainer.test_metrics()["test_acc"]
    with trainer.advprop.auxiliary():
        with_aux = float(accuracy(model, data.x_test, data.y_test, env.device, "fp32"))
    assert with_aux != trainer.test_metrics()["test_acc"]
    # the resumable checkpoint carries the twins
    state = trainer.state_dict()
    assert set(state["advprop_bn"]) == set(trainer.advprop.aux.state_dict())


def test_advprop_run_end_to_end(tmp_path) -> None:
    assert main(tiny_argv(tmp_path, "--advprop", "--advprop-steps", "2", "--rounds", "2", "--data-path", "gpu")) == 0
    (run_dir,) = tmp_path.iterdir()
    weights = torch.load(run_dir / "level_1" / "weights.pt")
    plain = models.build("resnet18", 10, width=4)
    assert set(weights) == set(plain.state_dict())
    assert abs(Mask.load(run_dir / "level_1" / "mask.pt").density() - 0.8) < 1e-3


@pytest.mark.parametrize("extra, words", [
    (["--advprop-eps", "4"], "--advprop-eps needs --advprop"),
    (["--advprop-start", "clean"], "--advprop-start needs --advprop"),
    (["--advprop", "--advprop-steps", "0"], "--advprop-steps >= 1"),
    (["--advprop", "--advprop-step-size", "0"], "--advprop-step-size > 0"),
])
def test_advprop_validation(tmp_path, extra, words) -> None:
    with pytest.raises(UserError, match=words):
        parse_args(tiny_argv(tmp_path, *extra))


@pytest.mark.cuda
def test_advprop_step_captures_in_a_cuda_graph():
    """The whole AdvProp step (attack with a random start, both passes, SGD, mask) replays from one CUDA graph
    under bf16 and channels_last; replays keep drawing fresh random starts and train both sets of BatchNorms."""
    torch.manual_seed(0)
    model = models.build("resnet18", 10, width=8).cuda().to(memory_format=torch.channels_last)
    advprop = AdvProp(model, EPS, STEP, 1, True)
    mask = Mask.dense(model)
    opt = SGD([*model.parameters(), *advprop.parameters()], 0.9, 5e-4)
    opt.set_lr(0.05)
    update = masked_update(opt, mask.applier(model))
    step = TrainStep(model, opt, update, 10, 0.0, 0.0, torch.device("cuda"), "bf16", True, advprop)
    x = torch.randint(0, 256, (32, 3, 32, 32), dtype=torch.uint8, device="cuda")
    y = torch.randint(0, 10, (32,), device="cuda")
    graphed = GraphedStep(step, x, y)
    aux_before = advprop.aux[0].running_mean.clone()
    clean_before = model.stem[1].running_mean.clone()
    for _ in range(4):
        graphed(x, y)
    torch.cuda.synchronize()
    assert torch.isfinite(step.loss_sum) and step.loss_sum.item() > 0
    assert not torch.equal(advprop.aux[0].running_mean, aux_before)
    assert not torch.equal(model.stem[1].running_mean, clean_before)
    assert not torch.allclose(advprop.aux[0].running_mean, model.stem[1].running_mean)
