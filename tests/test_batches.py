"""Epoch order and chunked augmentation: every step gets a full batch, chunks cover the epoch in order,
and the trainer augments once per chunk, not once per step."""
from __future__ import annotations

import os

import pytest
import torch

import augment
from lottery.cli import parse_args
from lottery.run import Run, build_model, load_subset
from pruning import Mask
from training.batches import (CHUNK_VALUES, DeviceBatches, HostBatches, chunk_indices, epoch_order,
                              steps_per_chunk)
from training.config import TrainConfig
from training.loop import COMPILE_MIN_STEPS, Environment, LevelTrainer, auto_compile, compile_augmentation
from tests.conftest import tiny_argv

CIFAR_IMAGE = 3 * 32 * 32


@pytest.mark.parametrize("steps, expected", [(1, 1), (5, 5), (10, 10), (27, 27), (50, 25), (100, 25), (500, 27)])
def test_chunks_are_as_large_as_allowed_and_balanced_at_batch_100(steps, expected):
    # CHUNK_VALUES holds 27 CIFAR batches of 100: 1% (5 steps) is one chunk, 10% (50 steps) two equal ones
    assert steps_per_chunk(steps, 100, CIFAR_IMAGE) == expected


def test_chunks_never_exceed_the_value_budget_and_hold_at_least_one_batch():
    for steps in range(1, 300, 7):
        for batch, values in [(100, CIFAR_IMAGE), (256, 3 * 224 * 224), (7, 3 * 64 * 64), (1000, CIFAR_IMAGE)]:
            k = steps_per_chunk(steps, batch, values)
            assert 1 <= k <= steps
            assert k == 1 or k * batch * values <= CHUNK_VALUES


def test_chunk_indices_cover_the_epoch_order_in_order():
    order = epoch_order(230, 20, torch.device("cpu"))  # 12 steps, the last topped up from a 2nd permutation
    assert order.shape == (12, 20)
    assert set(order[:11].flatten().tolist()) | set(order[11].tolist()) >= set(range(230))
    chunks = chunk_indices(order, 5)
    assert [len(c) for c in chunks] == [100, 100, 40]
    assert torch.equal(torch.cat(chunks), order.flatten())


@pytest.mark.parametrize("source, workers", [(DeviceBatches, None), (HostBatches, 0), (HostBatches, 1)])
def test_both_sources_serve_the_same_chunks_for_the_same_seed_every_epoch(source, workers):
    x = torch.arange(37, dtype=torch.uint8).view(37, 1, 1, 1).expand(37, 3, 4, 4).contiguous()
    y = torch.arange(37)
    batches = source(x, y, torch.device("cpu"), *([] if workers is None else [workers]))
    torch.manual_seed(3)
    served = [list(batches.epoch(10, 2)) for _ in range(2)]  # one loader serves both epochs
    torch.manual_seed(3)
    expected = [chunk_indices(epoch_order(37, 10, torch.device("cpu")), 2) for _ in range(2)]
    assert not torch.equal(expected[0][0], expected[1][0])  # the epochs really differ
    for epoch_served, epoch_expected in zip(served, expected):
        assert [len(cy) for _, cy in epoch_served] == [20, 20]
        for (cx, cy), idx in zip(epoch_served, epoch_expected):
            assert torch.equal(cy, idx) and torch.equal(cx[:, 0, 0, 0].long(), idx)


def test_host_batches_start_their_workers_once_not_every_epoch(monkeypatch):
    # each chunk's labels become the id of the worker process that gathered it
    monkeypatch.setattr("training.batches._Gather.__getitem__",
                        lambda self, idx: (self.x[idx], torch.full((len(idx),), os.getpid())))
    batches = HostBatches(torch.zeros(30, 3, 4, 4, dtype=torch.uint8), torch.zeros(30), torch.device("cpu"), 1)
    workers = {int(y[0]) for _ in range(3) for _, y in batches.epoch(10, 1)}
    assert len(workers) == 1 and os.getpid() not in workers


def test_trainer_augments_once_per_chunk_and_steps_once_per_batch(monkeypatch):
    monkeypatch.setattr("training.batches.CHUNK_VALUES", 3 * 50 * CIFAR_IMAGE)  # chunks of at most 3 batches
    hp = parse_args(tiny_argv("unused", "--per-class", "35", "--augment", "autoaug"))  # 350 images: 7 steps
    env = Environment.resolve(TrainConfig.from_hparams(hp), torch.device("cpu"))
    data = load_subset(hp)[0]
    model = build_model(hp, data, env)
    trainer = LevelTrainer(model, Mask.dense(model), data, TrainConfig.from_hparams(hp), env)
    augmented, stepped = [], []
    policy, step = trainer.augment, trainer.step
    trainer.augment = lambda x: augmented.append(len(x)) or policy(x)
    trainer.step_fn = lambda x, y: lambda x, y: stepped.append(len(x)) or step(x, y)
    assert trainer.steps_per_epoch == 7 and trainer.chunk_steps == 3
    trainer.run_epoch(0)
    assert augmented == [150, 150, 50]
    assert stepped == [50] * 7


def test_cuda_environment_turns_on_cudnn_autotuning(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    config = TrainConfig.from_hparams(parse_args(tiny_argv("unused")))
    Environment.resolve(config, torch.device("cpu"))
    assert torch.backends.cudnn.benchmark is False
    env = Environment.resolve(config, torch.device("cuda"))
    assert torch.backends.cudnn.benchmark is True
    assert (env.precision, env.channels_last, env.data_path, env.compile) == ("bf16", True, "gpu", "graph")


def test_compile_auto_compiles_only_levels_long_enough_to_repay_the_compilation(monkeypatch):
    monkeypatch.setattr("training.loop.has_triton", lambda: True)
    hp = TrainConfig.from_hparams(parse_args(tiny_argv("unused", "--epochs", "200", "--batch-size", "100")))
    cuda = torch.device("cuda")
    assert COMPILE_MIN_STEPS == 10_000
    assert auto_compile(hp, cuda, 5000) == "full"  # 10% of CIFAR-10: 50 steps x 200 epochs
    assert auto_compile(hp, cuda, 4901) == "full"  # a last, topped-up batch is a step too
    assert auto_compile(hp, cuda, 4900) == "graph"  # 49 steps x 200 epochs
    assert auto_compile(hp, cuda, None) == "graph"  # size unknown (evaluation only)
    assert auto_compile(hp, torch.device("cpu"), 50_000) == "off"
    monkeypatch.setattr("training.loop.has_triton", lambda: False)
    assert auto_compile(hp, cuda, 50_000) == "graph"  # torch.compile needs Triton on CUDA


def test_compile_full_compiles_the_augmentation_to_the_same_images(monkeypatch):
    """``--compile full`` runs the augmentation through torch.compile: the same seed draws the same images as the
    eager policy (``fallback_random``); other modes, and a policy that is the identity, stay eager."""
    compiled = []
    monkeypatch.setattr("training.loop.compile_augmentation",
                        lambda policy, real=compile_augmentation: compiled.append(policy) or real(policy))

    def trainer(*flags: str) -> LevelTrainer:
        hp = parse_args(tiny_argv("unused", "--per-class", "4", *flags))
        env = Environment.resolve(TrainConfig.from_hparams(hp), torch.device("cpu"))
        data = load_subset(hp)[0]
        model = build_model(hp, data, env)
        return LevelTrainer(model, Mask.dense(model), data, TrainConfig.from_hparams(hp), env)

    assert trainer("--augment", "base", "--cutout", "8").augment.__class__.__name__ == "Pipeline" and not compiled
    assert not compiled and trainer("--augment", "none", "--compile", "full").augment.__class__.__name__ == "Pipeline"
    full = trainer("--augment", "base", "--cutout", "8", "--compile", "full")
    assert len(compiled) == 1 and full.augment is not compiled[0]
    x = torch.randint(0, 256, (20, 3, 32, 32), dtype=torch.uint8)
    torch.manual_seed(3)
    eager = compiled[0](x)
    torch.manual_seed(3)
    assert torch.equal(full.augment(x), eager)
    assert not torch.equal(full.augment(x), eager)  # a new call is a new draw


@pytest.mark.slow
@pytest.mark.parametrize("name, crop", [(name, "pad") for name in ("none", "base", "contrast", "randaug", "autoaug",
                                                                   "trivialaug", "augmix")]
                         + [("base", "resized"), ("none", "resized")])
def test_every_compiled_augmentation_draws_the_eager_images_on_cpu(name, crop):
    """Each policy through ``compile_augmentation`` against eager with one seed (about 3 minutes in all on 2 cores):
    identical images, except AugMix, whose float mix of chains may round a value to the next level."""
    side = 36 if crop == "resized" else 32  # the resized crop takes larger stored images
    x = torch.randint(0, 256, (24, 3, side, side), dtype=torch.uint8)
    policy = augment.build(name, 32, 8 if crop == "pad" else 0, crop, vflip=crop == "resized")
    compiled = compile_augmentation(policy)
    compiled(x)  # compile first
    torch.manual_seed(7)
    eager = policy(x)
    torch.manual_seed(7)
    differ = (compiled(x).int() - eager.int()).abs()
    if name == "augmix":
        assert differ.max() <= 1 and (differ > 0).float().mean() < 1e-3
    else:
        assert differ.max() == 0


def test_the_run_resolves_compile_auto_from_its_training_set(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr("training.loop.auto_compile", lambda hp, device, n: seen.append(n) or "off")
    hp = parse_args(tiny_argv(tmp_path, "--per-class", "7"))
    opened = Run.open(hp)
    assert seen == [70] and opened.env.compile == "off"
    assert Environment.resolve(TrainConfig.from_hparams(hp), torch.device("cpu"), 70).compile == "off"
    full = TrainConfig.from_hparams(parse_args(tiny_argv("unused", "--compile", "full")))
    assert Environment.resolve(full, torch.device("cpu"), 70).compile == "full"
