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


def test_badges_and_install_cells_agree_with_pyproject():
    from npo_lab.colab import check_notebooks

    assert check_notebooks() == [], "run `npo-lab colab-links` to regenerate the notebook headers"


def test_install_cell_fails_loudly(tmp_path):
    """The install cell, run where npo_lab is missing and pip fails, raises instead of passing silently."""
    import subprocess
    import sys

    from npo_lab.colab import install_cell

    fake = tmp_path / "bin"
    fake.mkdir()
    code = install_cell().replace('importlib.util.find_spec("npo_lab") is None', "True")
    code = code.replace("[sys.executable, ", "[sys.executable, '-c', 'raise SystemExit(1)', ")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0 and "could not install npo_lab" in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_executes_in_smoke_mode(path, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("NPO_LAB_SMOKE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # the real TOFU files where they exist (CI); otherwise the notebooks fall back to the bundled data
    tofu_dir = os.environ.get("NPO_LAB_TOFU_DIR", str(ROOT.parent / "shared" / "tofu" / "data"))
    if Path(tofu_dir).is_dir():
        monkeypatch.setenv("NPO_LAB_TOFU_DIR", tofu_dir)
    else:
        monkeypatch.delenv("NPO_LAB_TOFU_DIR", raising=False)
    monkeypatch.setenv("NPO_LAB_CACHE", str(tmp_path / "cache"))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()


def test_colab_links_rewrites_a_fork(tmp_path):
    import shutil

    from npo_lab.colab import check_notebooks, rewrite_notebooks

    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    changed = rewrite_notebooks("someone/npo_lab-fork", root=tmp_path)
    assert len(changed) == len(NOTEBOOKS)
    assert check_notebooks(tmp_path) == []
    first = nbformat.read(tmp_path / "notebooks" / NOTEBOOKS[0].name, as_version=4).cells[0].source
    assert "github/someone/npo_lab-fork/blob/main/notebooks/" in first
    assert 'Repository = "https://github.com/someone/npo_lab-fork"' in (tmp_path / "pyproject.toml").read_text()
    with pytest.raises(ValueError, match="OWNER/NAME"):
        rewrite_notebooks("not a repo", root=tmp_path)
