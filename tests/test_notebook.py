"""helpers.ipynb executes top to bottom, headless, on a tiny run: by default it reads only (finds runs under runs/
at any depth, computes nothing, says which evaluate.py command would); with COMPUTE it evaluates the mini
CIFAR-10-C and the attacks. Either way it writes the PNG files the README says, and it is committed clean."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "helpers.ipynb"


def execute(folder: Path, overrides: str, monkeypatch) -> list:
    """Run the notebook in ``folder`` (its working directory), with ``overrides`` run after its first code cell
    (like papermill's injected parameters); returns the code cells' outputs."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    if overrides:
        first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
        nb.cells.insert(first + 1, nbformat.v4.new_code_cell(overrides))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the kernel inherits it: one thread on the shared 2-core machine
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the project's packages, from another working directory
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nbclient.NotebookClient(nb, timeout=600, startup_timeout=600, kernel_name="python3",  # a busy machine starts slowly
                            resources={"metadata": {"path": str(folder)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    return outputs


def pngs(outputs: list) -> int:
    return len([o for o in outputs if "image/png" in o.get("data", {})])


def text(outputs: list) -> str:
    return "".join(o.get("text", "") for o in outputs)


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_notebook_reads_only_by_default_and_finds_runs_at_any_depth(trained_run, tmp_path, monkeypatch):
    run = shutil.copytree(trained_run, tmp_path / "runs" / "quick" / trained_run.name)  # as a sweep lays it out
    shutil.copytree(trained_run, tmp_path / "runs" / "zz-copy")  # the same run again: counted once
    outputs = execute(tmp_path, "", monkeypatch)
    assert not list(tmp_path.rglob("robustness.json"))  # nothing evaluated
    out = text(outputs)
    assert "1 run(s) in 1 setting(s)" in out
    shown = f"runs/quick/{trained_run.name}"
    # what would compute the missing numbers, with the data folder the run trained with (tiny_argv: the default)
    assert f"python evaluate.py {shown} --suite c10c --data-root data" in out and "--suite cka" in out
    assert pngs(outputs) == 2  # accuracy against density and the layer heatmap: no robustness suite was run
    assert sorted(p.name for p in (run / "plots").iterdir()) == ["accuracy_vs_density.png", "layer_density.png"]
    assert not (tmp_path / "runs" / "zz-copy" / "plots").exists()


def test_notebook_computes_behind_its_setting_and_writes_the_plots(trained_run, tmp_path, c10c_mini, monkeypatch):
    run = shutil.copytree(trained_run, tmp_path / trained_run.name)
    overrides = (f"RUNS = [{str(run)!r}]\nCOMPUTE = True\nDATA_ROOT = {str(tmp_path)!r}\n"
                 f"C10C_ROOT = {str(c10c_mini)!r}\n"
                 "OPTIONS = {'adv_images': 16, 'cka_images': 24, 'attack_batch_size': 16, 'device': 'cpu'}")
    outputs = execute(REPO, overrides, monkeypatch)
    suites = {r["suite"] for r in json.loads((run / "robustness.json").read_text())}
    assert suites == {"clean", "c10c", "fgsm", "pgd", "cka"}
    out = text(outputs)
    assert "CIFAR-10-C" in out and "stem.0.weight" in out and "no cifar10.1 or cifar10.2 records yet" in out
    written = sorted(p.name for p in (run / "plots").iterdir())
    assert written == sorted(f"{n}.png" for n in ("accuracy_vs_density", "c10c_vs_density", "robust_vs_eps",
                                                  "layer_density", "cka_vs_density"))
    assert pngs(outputs) == len(written)  # each figure shown is the file written, and no other
