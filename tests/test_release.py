"""The release: an sdist and a wheel build from a copy of the repository (offline, ``--no-isolation``), pass
``twine check``, and carry everything the package and its notebooks need at run time (the bundled data of data/ as
``npo_lab/bundled``, the accelerate configs). The wheel installs non-editable into a fresh environment that reuses
the installed dependencies (no download), and there, outside the repository, ``npo-lab demo`` runs in smoke mode
and notebook 05 executes, finding the installed copies of the data.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "05_tofu_metrics_explained.ipynb"  # reads the bundled eval logs
_IGNORE = shutil.ignore_patterns(
    ".venv", ".git", "runs", "dist", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache", "*.pyc"
)


def _pyproject() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _bundled_files() -> dict[str, Path]:
    """Wheel path -> repository file of the bundled data (``data/`` is ``npo_lab/bundled/`` in the wheel)."""
    data = ROOT / "data"
    files = [data / "README.md", *sorted((data / "synthetic_tofu").iterdir()), *sorted((data / "eval_logs").iterdir())]
    return {"npo_lab/bundled/" + f.relative_to(data).as_posix(): f for f in files if f.is_file()}


# --------------------------------------------------------------------------------------------------------------
# pyproject.toml (fast)
# --------------------------------------------------------------------------------------------------------------
def test_every_subpackage_is_listed():
    """The package list is explicit (``package-dir`` maps data/ into the wheel): a new folder of npo_lab/ with
    Python files must be added to it, or the wheel would lack it."""
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = {
        ".".join(d.relative_to(ROOT).parts)
        for d in [ROOT / "npo_lab", *(ROOT / "npo_lab").rglob("*")]
        if d.is_dir() and d.name != "__pycache__" and any(d.glob("*.py"))
    }
    assert found - listed == set(), f"add to [tool.setuptools] packages in pyproject.toml: {sorted(found - listed)}"
    assert listed - found == {"npo_lab.bundled"}, sorted(listed - found)
    assert _pyproject()["tool"]["setuptools"]["package-dir"]["npo_lab.bundled"] == "data"


def test_version_has_one_home():
    import npo_lab

    project = _pyproject()["project"]
    assert "version" in project.get("dynamic", []) and "version" not in project
    assert _pyproject()["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "npo_lab.__version__"}
    assert npo_lab.__version__.count(".") == 2


def test_colab_links_command_checks_and_rewrites_a_fork(tmp_path, capsys):
    from npo_lab.cli import main

    assert main(["colab-links", "--check", "--root", str(ROOT)]) == 0
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=_IGNORE)
    assert main(["colab-links", "--repo", "someone/npo_lab-fork", "--root", str(tmp_path)]) == 0
    assert main(["colab-links", "--check", "--root", str(tmp_path)]) == 0
    assert 'Repository = "https://github.com/someone/npo_lab-fork"' in (tmp_path / "pyproject.toml").read_text()
    assert "github/someone/npo_lab-fork/blob/main/notebooks/" in (tmp_path / "notebooks" / NOTEBOOK).read_text()
    assert main(["colab-links", "--check", "--root", str(ROOT / "docs")]) == 2  # not a checkout: a usage error
    assert "no checkout at" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------------------
# build, install (slow)
# --------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    pytest.importorskip("build")
    src = tmp_path_factory.mktemp("release") / "src"
    shutil.copytree(ROOT, src, ignore=_IGNORE, symlinks=True)
    out = src / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


@pytest.fixture(scope="module")
def venv(dist, tmp_path_factory) -> Path:
    """A fresh environment with the wheel installed (non-editable); its dependencies are this environment's
    site-packages, reached through a .pth file, so nothing is downloaded."""
    env = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=300)
    python = env / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "_npo_lab_test_parent_env.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    proc = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--ignore-installed",
            str(dist["wheel"]),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return env


def _env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NPO_LAB_TOFU_DIR", "NPO_LAB_TOFU_LOGS", "PYTHONPATH")}
    env.update(NPO_LAB_SMOKE="1", HF_HUB_OFFLINE="1", MPLBACKEND="Agg", NPO_LAB_CACHE=str(tmp / "cache"))
    return env


@pytest.mark.slow
def test_wheel_and_sdist_contents(dist):
    import npo_lab

    with zipfile.ZipFile(dist["wheel"]) as z:
        names = set(z.namelist())
        for wheel_path, repo_file in _bundled_files().items():
            assert wheel_path in names, f"{wheel_path} is missing from the wheel"
            assert z.read(wheel_path) == repo_file.read_bytes(), wheel_path
        for f in (ROOT / "npo_lab" / "gpu" / "accelerate").iterdir():
            assert f"npo_lab/gpu/accelerate/{f.name}" in names
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        text = z.read(meta).decode()
        entry = z.read(meta.replace("METADATA", "entry_points.txt")).decode()
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert f"\nVersion: {npo_lab.__version__}\n" in text
    assert "Project-URL: Repository, " + _pyproject()["project"]["urls"]["Repository"] in text
    assert "npo-lab = npo_lab.cli:main" in entry
    with tarfile.open(dist["sdist"]) as t:
        members = {m.name.split("/", 1)[1] for m in t.getmembers() if "/" in m.name}
    for needed in ("notebooks/" + NOTEBOOK, "tests/test_release.py", "data/eval_logs", "Makefile", "LICENSE"):
        assert needed in members, f"{needed} is missing from the sdist"
    twine = shutil.which("twine", path=str(Path(sys.executable).parent))
    if twine:
        proc = subprocess.run([twine, "check", "--strict", *map(str, dist.values())], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_installed_package_finds_its_data(venv, tmp_path):
    code = (
        "import json, npo_lab\n"
        "from npo_lab.colab import repo_url\n"
        "from npo_lab.gpu import accelerate_config\n"
        "from npo_lab.tofu.data import bundled_data_dir\n"
        "from npo_lab.tofu.logs import reference_log_path\n"
        "print(json.dumps({'package': npo_lab.__file__, 'data': str(bundled_data_dir()),"
        " 'log': str(reference_log_path('full', download=False)), 'ddp': str(accelerate_config('ddp')),"
        " 'url': repo_url()}))\n"
    )
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, cwd=tmp_path, env=_env(tmp_path)
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in ("package", "data", "log", "ddp"):
        assert Path(got[key]).resolve().is_relative_to(venv.resolve()), (key, got[key])
    assert got["url"] == _pyproject()["project"]["urls"]["Repository"]


@pytest.mark.slow
def test_installed_demo_runs_in_smoke_mode(venv, tmp_path):
    argv = ["demo", "--out", "out", "--methods", "GA", "--epochs", "1", "--ft-epochs", "1", "--eval-max-rows", "4"]
    proc = subprocess.run(
        [str(venv / "bin" / "npo-lab"), *argv, "--no-progress"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(tmp_path),
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "demo_summary.json").read_text())
    assert set(summary["methods"]) == {"GA"}


@pytest.mark.slow
def test_installed_notebook_executes(venv, tmp_path):
    pytest.importorskip("nbclient")
    shutil.copy(ROOT / "notebooks" / NOTEBOOK, tmp_path / NOTEBOOK)
    runner = (
        "import sys, nbformat\n"
        "from nbclient import NotebookClient\n"
        "nb = nbformat.read(sys.argv[1], as_version=4)\n"
        "nb.cells.insert(0, nbformat.v4.new_code_cell('import npo_lab; print(npo_lab.__file__)'))\n"
        "NotebookClient(nb, timeout=900, kernel_name='python3', resources={'metadata': {'path': '.'}}).execute()\n"
        "print('PACKAGE', nb.cells[0].outputs[0]['text'].strip())\n"
    )
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", runner, NOTEBOOK],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(tmp_path),
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    package = next(line for line in proc.stdout.splitlines() if line.startswith("PACKAGE ")).split(" ", 1)[1]
    assert Path(package).resolve().is_relative_to(venv.resolve()), package  # the kernel ran the installed copy
