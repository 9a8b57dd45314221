"""SimCLR pretraining (pretrain_ssl.py, selfsup/): the loss, the views, the kNN, the backbone checkpoint through
main_imp.py --init-checkpoint, kill and resume, bad input. Tiny CPU runs on the synthetic dataset."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import datasets
from selfsup import model as ssl_model
from selfsup.cli import main, parse_args
from selfsup.knn import knn_correct
from selfsup.loss import nt_xent
from selfsup.step import ContrastiveStep
from selfsup.views import simclr_views
from tests.conftest import tiny_argv
from tests.test_kill_resume import Runs, kill_and_resume
from training.precision import to_float
from training.sgd import SGD


# a pretraining that finishes in a few seconds: 60 synthetic images, a width-4 ResNet-18, a small head
SSL_ARGV = ["--dataset", "synthetic", "--per-class", "6", "--width", "4", "--proj-hidden", "16", "--proj-dim", "8",
            "--epochs", "3", "--batch-size", "20", "--knn-every", "1", "--knn-k", "10", "--checkpoint-minutes", "0",
            "--workers", "0", "--device", "cpu"]


def ssl_run(out: Path, *extra: str) -> Path:
    assert main([*SSL_ARGV, "--out", str(out), *extra]) == 0
    (root,) = [p for p in out.iterdir() if p.is_dir()]
    return root


def test_nt_xent_matches_its_definition() -> None:
    torch.manual_seed(0)
    z = torch.randn(6, 5)
    loss, hits = nt_xent(z, 0.5)
    u = F.normalize(z, dim=1)
    terms, ranked_first = [], 0
    for i in range(6):
        positive = (i + 3) % 6
        others = [j for j in range(6) if j != i]
        sims = {j: float(u[i] @ u[j]) / 0.5 for j in others}
        terms.append(-sims[positive] + math.log(sum(math.exp(s) for s in sims.values())))
        ranked_first += max(sims, key=sims.get) == positive
    assert loss.item() == pytest.approx(sum(terms) / 6, rel=1e-5)
    assert hits.item() == ranked_first


@pytest.fixture(scope="module")
def synthetic() -> datasets.ImageDataset:
    return datasets.load("synthetic", "")


def test_two_views_are_different_draws_per_image_and_per_view(synthetic) -> None:
    torch.manual_seed(0)
    same = synthetic.x_train[:1].repeat(8, 1, 1, 1)  # one image eight times
    first, second = simclr_views(synthetic)(same)
    assert first.shape == second.shape == same.shape and first.dtype == torch.uint8
    assert all(not torch.equal(a, b) for a, b in zip(first, second))  # the two views of each image differ
    assert len({v.numpy().tobytes() for v in first}) == 8  # and each image of a view draws its own parameters


def test_views_of_one_image_score_a_lower_loss_than_views_of_different_images(synthetic) -> None:
    """A few steps on one batch of 20 images lower the loss, and then the true pairs score a lower loss than the
    same features paired with another class's image (the second views shifted by two)."""
    torch.manual_seed(0)
    first, second = simclr_views(synthetic)(synthetic.x_train[torch.arange(20) * 100])  # two images per class
    net = ssl_model.build(parse_args(SSL_ARGV).model, synthetic)
    optimizer = SGD(net.parameters(), 0.9, 1e-6)
    optimizer.set_lr(0.1)
    step = ContrastiveStep(net, optimizer, 0.5, torch.device("cpu"), "fp32", False)
    losses = []
    for _ in range(8):
        step(first, second)
        losses.append(step.loss_sum.item())
        step.loss_sum.zero_()
    assert losses[-1] < losses[0] - 0.1, losses
    with torch.no_grad():
        z = net(to_float(torch.cat((first, second)), False))
    a, b = z.chunk(2)
    assert nt_xent(z, 0.5)[0] < nt_xent(torch.cat((a, b.roll(2, 0))), 0.5)[0] - 0.2


def test_knn_votes_weighted_by_similarity() -> None:
    bank = F.normalize(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.7, 0.7]]), dim=1)
    labels = torch.tensor([0, 0, 1, 1, 1])
    query = F.normalize(torch.tensor([[1.0, 0.05], [0.05, 1.0], [0.8, 0.6]]), dim=1)
    # a low temperature: the most similar neighbour's weight dominates (the third query's is the class-1 diagonal)
    assert knn_correct(bank, labels, query, torch.tensor([0, 1, 1]), 2, k=5, temperature=0.01).item() == 3
    # a high one: nearly equal weights, and the three votes of class 1 beat the two of class 0 everywhere
    assert knn_correct(bank, labels, query, torch.tensor([1, 1, 1]), 2, k=5, temperature=10.0).item() == 3
    # k=2: only the two nearest vote; k beyond the bank is capped at its size
    assert knn_correct(bank, labels, query, torch.tensor([0, 1, 0]), 2, k=2, temperature=10.0).item() == 2
    assert knn_correct(bank, labels, query, torch.tensor([1, 1, 1]), 2, k=99, temperature=10.0).item() == 3


def test_the_backbone_loads_into_main_imp_tensor_for_tensor(tmp_path: Path) -> None:
    root = ssl_run(tmp_path / "ssl")
    metrics = json.loads((root / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [1, 2, 3]
    assert all(0 <= h["knn_acc"] <= 1 for h in metrics["history"])  # every epoch with --knn-every 1
    assert metrics["result"]["knn_acc"] == metrics["history"][-1]["knn_acc"]
    assert metrics["knn"]["k"] == 10 and metrics["result"]["pool_images"] == 60
    assert not (root / "checkpoint.pt").exists()
    path = tmp_path / "ssl" / root.name / "backbone.pt"
    saved = torch.load(path)
    assert not any(k.startswith("fc.") for k in saved["state_dict"]) and saved["projection_head"]

    from lottery.cli import main as imp_main
    out = tmp_path / "imp"
    assert imp_main(tiny_argv(out, "--init-checkpoint", str(path), "--rounds", "1", "--epochs", "1",
                              "--rewind", "init")) == 0
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    init = json.loads((run / "init.json").read_text())
    assert init["fresh"] == ["fc.weight", "fc.bias"] and init["unused"] == {} and not init["adapted"]
    assert sorted(init["loaded"]) == sorted(saved["state_dict"])
    start = torch.load(run / "level_0" / "rewind.pt")  # --rewind init: the weights level 0 started from
    assert all(torch.equal(start[k], v) for k, v in saved["state_dict"].items())


def test_print_checkpoint_names_the_file_and_writes_nothing(tmp_path: Path, capsys) -> None:
    assert main([*SSL_ARGV, "--out", str(tmp_path / "o"), "--print-checkpoint"]) == 0
    printed = Path(capsys.readouterr().out.strip())
    assert printed.name == "backbone.pt" and printed.parent.parent == (tmp_path / "o").absolute()
    assert not (tmp_path / "o").exists()


def ssl_snapshot(out: Path) -> dict:
    (root,) = [p for p in out.iterdir() if p.is_dir()]
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    metrics = json.loads((root / "metrics.json").read_text())
    saved = torch.load(root / "backbone.pt")
    return {"files": files, "history": [{k: v for k, v in h.items() if k != "seconds"} for h in metrics["history"]],
            **{f"{part}/{k}": v.tolist() for part in ("state_dict", "projection_head")
               for k, v in saved[part].items()}}


def test_killed_and_resumed_pretraining_equals_the_uninterrupted_one(tmp_path: Path) -> None:
    runs = Runs(tmp_path / "stderr.log", SSL_ARGV, "selfsup.cli")
    kill_and_resume(tmp_path, kills=6, seed=11, runs=runs, take=ssl_snapshot,  # seed 11: every phase within 6 kills
                    check=lambda expected: len(expected["history"]) == 3 or pytest.fail("3 epochs expected"))


@pytest.mark.parametrize("extra, message", [
    (["--temperature", "0"], "--temperature"),
    (["--batch-size", "1"], "--batch-size"),
    (["--batch-size", "61"], "exceeds the pool's 60 images"),
    (["--per-class", "5", "--data-fraction", "0.5"], "not both"),
    (["--knn-k", "0"], "--knn-k"),
    (["--device", "cuda:7"], "--device"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys, extra: list[str], message: str) -> None:
    assert main([*SSL_ARGV, "--out", str(tmp_path / "o"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "o").exists()


def test_ssl_sweep_fine_tunes_the_checkpoint_at_the_papers_settings(tmp_path: Path) -> None:
    from lottery.cli import parse_args as imp_args
    from tests.sweep_helpers import REPO, commands, run_script

    weights = tmp_path / "backbone.pt"
    weights.write_bytes(b"")
    done = run_script(REPO / "scripts" / "run_cifar10_ssl.sh", "ssl", "0.01", "0.05", cwd=tmp_path, DRY_RUN="1",
                      OUT="runs", SSL_CHECKPOINT="backbone.pt")
    assert done.returncode == 0, done.stderr
    hps = [imp_args(argv) for argv in commands(done.stdout)]
    assert {(hp.data.data_fraction, hp.data.augment, hp.data.cutout) for hp in hps} == {
        (f, a, c) for f in (0.01, 0.05) for a, c in (("base", 0), ("contrast", 0), ("randaug", 16), ("autoaug", 16))}
    assert len(hps) == 8 and all(hp.model.init_checkpoint == str(weights) and hp.training.lr == 0.001 for hp in hps)
    assert all(hp.job.out == str(tmp_path / "runs" / "ssl") for hp in hps)

    # without a checkpoint: the pretraining it would run first, into $OUT/PREFIX/ssl, on the whole training split
    done = run_script(REPO / "scripts" / "run_cifar10_ssl.sh", "ssl", cwd=tmp_path, DRY_RUN="1", OUT="runs",
                      DATA_ROOT="data", SSL_EXTRA="--epochs 7")
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    argv = line.split("  #")[0].split()
    assert argv[:2] == ["python", "pretrain_ssl.py"]
    hp = parse_args(argv[2:])
    assert hp.job.out == str(tmp_path / "runs" / "ssl" / "ssl") and hp.job.data_root == str(tmp_path / "data")
    assert hp.training.epochs == 7 and hp.data.per_class == 0 and hp.data.data_fraction == 1.0
    assert line.endswith(str(tmp_path / "runs" / "ssl" / "ssl" / hp.run_id() / "backbone.pt"))


@pytest.mark.cuda
@pytest.mark.parametrize("compile_mode", ["graph", "full"])
def test_pretraining_on_cuda_replays_graphs_in_bf16(tmp_path: Path, compile_mode: str) -> None:
    argv = [a for a in SSL_ARGV if a not in ("--device", "cpu")]
    assert main([*argv, "--device", "cuda", "--compile", compile_mode, "--out", str(tmp_path)]) == 0
    (root,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    metrics = json.loads((root / "metrics.json").read_text())
    assert metrics["environment"]["precision"] == "bf16" and metrics["environment"]["compile"] == compile_mode
    assert all(math.isfinite(h["train_loss"]) for h in metrics["history"]) and metrics["result"]["knn_acc"] > 0
