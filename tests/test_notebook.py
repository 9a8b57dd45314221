"""helpers.ipynb executes top to bottom, headless, on a tiny run and the mini CIFAR-10-C, and is committed clean."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[1] / "helpers.ipynb"


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_notebook_executes_on_a_tiny_run(trained_run, tmp_path, c10c_mini, monkeypatch):
    run = shutil.copytree(trained_run, tmp_path / trained_run.name)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # like papermill's injected parameters: the first code cell runs as committed, then this overrides it
    overrides = (f"RUNS = [{str(run)!r}]\nDATA_ROOT = {str(tmp_path)!r}\nC10C_ROOT = {str(c10c_mini)!r}\n"
                 "OPTIONS = {'adv_images': 16, 'cka_images': 24, 'attack_batch_size': 16, 'device': 'cpu'}")
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(first + 1, nbformat.v4.new_code_cell(overrides))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the kernel inherits it: one thread on the shared 2-core machine
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 6  # accuracy, C10-C, PGD, shift, layer heatmap, CKA: one run each
    text = "".join(o.get("text", "") for o in outputs)
    assert "CIFAR-10-C" in text and "skipping cifar10.1" in text and "stem.0.weight" in text
    suites = {r["suite"] for r in json.loads((run / "robustness.json").read_text())}
    assert suites == {"clean", "c10c", "fgsm", "pgd", "cka"}
