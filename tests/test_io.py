"""Files: atomic writes, and checkpoints written in the background without losing or mixing up state."""
from __future__ import annotations

import pytest
import torch

from utils.errors import UserError
from utils.io import BackgroundSaver, load_torch, save_torch, to_host


def test_to_host_copies_tensors_so_later_changes_do_not_leak_into_the_snapshot():
    weights = torch.ones(3)
    state = {"model": {"w": weights}, "history": [{"epoch": 1}], "pair": (weights, 2)}
    snapshot = to_host(state)
    weights.add_(1)
    assert torch.equal(snapshot["model"]["w"], torch.ones(3)) and torch.equal(snapshot["pair"][0], torch.ones(3))
    assert snapshot["history"] == [{"epoch": 1}] and isinstance(snapshot["pair"], tuple)


def test_background_saver_writes_what_was_saved_at_call_time(tmp_path):
    weights = torch.zeros(1000)
    with BackgroundSaver() as saver:
        for step in range(3):
            weights.fill_(step)
            saver.save({"w": weights, "step": step}, tmp_path / f"ckpt{step}.pt")
            weights.fill_(-1)  # training goes on while the file is written
    for step in range(3):
        saved = load_torch(tmp_path / f"ckpt{step}.pt")
        assert saved["step"] == step and torch.equal(saved["w"], torch.full((1000,), float(step)))
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_failed_background_write_is_raised_not_lost(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    saver = BackgroundSaver()
    saver.save({"w": torch.ones(2)}, blocker / "ckpt.pt")  # a file cannot be a folder
    with pytest.raises(UserError, match="cannot write .*ckpt.pt"):
        saver.wait()
    saver.wait()  # raised once; the saver is usable again
    saver.save({"w": torch.ones(2)}, tmp_path / "ok.pt")
    saver.wait()
    assert torch.equal(load_torch(tmp_path / "ok.pt")["w"], torch.ones(2))


def test_leaving_the_block_on_an_error_still_finishes_the_write(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with BackgroundSaver() as saver:
            saver.save({"w": torch.ones(2)}, tmp_path / "ckpt.pt")
            raise KeyboardInterrupt
    assert torch.equal(load_torch(tmp_path / "ckpt.pt")["w"], torch.ones(2))


def test_save_torch_replaces_atomically(tmp_path):
    save_torch({"v": 1}, tmp_path / "f.pt")
    save_torch({"v": 2}, tmp_path / "f.pt")
    assert load_torch(tmp_path / "f.pt") == {"v": 2} and [p.name for p in tmp_path.iterdir()] == ["f.pt"]
