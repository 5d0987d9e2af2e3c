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


# A cell that runs longer than this counts as hung (seconds; NPO_LAB_CELL_TIMEOUT overrides): a hung kernel fails
# the test within minutes, naming the notebook and the cell. 10 min, not less: a smoke cell of 06/07 that trains
# the mini-TOFU models (or waits on the shared cache while another worker trains them) took 246 s under load.
CELL_TIMEOUT = int(os.environ.get("NPO_LAB_CELL_TIMEOUT", "600"))


def execute_notebook(path: Path, workdir: Path, timeout: int = CELL_TIMEOUT):
    """Run ``path`` top to bottom in a fresh kernel (cwd ``workdir``) with nbclient; a cell error fails with
    nbclient's report, a cell past ``timeout`` seconds fails naming the notebook, the cell and its first line.
    Returns the executed notebook."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
    current: dict = {}
    client.on_cell_start = lambda cell, cell_index: current.update(index=cell_index, source=cell.source)
    try:
        client.execute()
    except CellTimeoutError:
        first = (current.get("source") or "").strip().splitlines()[:1]
        pytest.fail(
            f"{path.name}: cell {current.get('index')} ({first[0] if first else 'empty'!r}) did not finish within "
            f"{timeout} s: the kernel hung or the cell is far slower than in smoke mode "
            f"(bench/notebook_hang_loop.py reruns notebooks to catch hangs)",
            pytrace=False,
        )
    return nb


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_executes_in_smoke_mode(path, tmp_path, monkeypatch, smoke_env):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # the real TOFU files where they exist (CI); otherwise the notebooks fall back to the bundled data
    tofu_dir = os.environ.get("NPO_LAB_TOFU_DIR", str(ROOT.parent / "shared" / "tofu" / "data"))
    if Path(tofu_dir).is_dir():
        monkeypatch.setenv("NPO_LAB_TOFU_DIR", tofu_dir)
    else:
        monkeypatch.delenv("NPO_LAB_TOFU_DIR", raising=False)
    # smoke_env: NPO_LAB_SMOKE=1, offline, and the session's NPO_LAB_CACHE, so the mini-TOFU models of notebooks
    # 06, 07 and 09 (and of the demo tests, same smoke config) are trained once per run
    execute_notebook(path, tmp_path)


def test_a_hung_cell_fails_naming_the_notebook_and_the_cell(tmp_path):
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("import time\ntime.sleep(60)")]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "99_sleeper.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(
        pytest.fail.Exception, match=r"99_sleeper.ipynb: cell 1 \('import time'\) did not finish within 2 s"
    ):
        execute_notebook(path, tmp_path, timeout=2)


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
