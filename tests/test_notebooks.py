"""Every notebook is jupytext-paired, stored without outputs, and executes top to bottom in smoke mode."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
jupytext = pytest.importorskip("jupytext")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found under notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_paired_and_stripped(path):
    py = path.with_suffix(".py")
    assert py.exists(), f"{path.name} has no jupytext py:percent twin {py.name}"
    nb = nbformat.read(path, as_version=4)
    twin = jupytext.read(py)
    src_nb = [(c.cell_type, c.source.strip()) for c in nb.cells]
    src_py = [(c.cell_type, c.source.strip()) for c in twin.cells]
    assert src_nb == src_py, f"{path.name} and {py.name} differ: run `jupytext --sync {py}`"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"{path.name} has stored outputs; strip them"
    first = nb.cells[0].source
    assert "colab.research.google.com" in first, f"{path.name} lacks the Open-in-Colab badge"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_executes_in_smoke_mode(path, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("NPO_LAB_SMOKE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("NPO_LAB_TOFU_DIR", os.environ.get("NPO_LAB_TOFU_DIR", str(ROOT.parent / "shared" / "tofu" / "data")))
    monkeypatch.setenv("NPO_LAB_CACHE", str(tmp_path / "cache"))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
