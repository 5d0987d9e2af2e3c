"""Where the project lives, and the Colab badge and install cell every notebook carries, generated from it.

The repository URL is defined once, in ``pyproject.toml`` (``[project.urls] Repository``, also in the installed
package's metadata). :func:`badge` and :func:`install_cell` derive the notebook header from it, and
:func:`rewrite_notebooks` (``npo-lab colab-links``) rewrites every notebook after a fork:

    npo-lab colab-links --repo OWNER/NAME          # rewrite pyproject.toml and every notebook
    npo-lab colab-links --check                    # exit 1 when a notebook disagrees with pyproject.toml

The install cell does nothing where ``npo_lab`` imports; otherwise it installs the published package
(``pip install npo-lab``), then the repository, and stops with an error that says what to do when both fail.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["PACKAGE", "repo_url", "repo_slug", "badge", "install_cell", "rewrite_notebooks", "check_notebooks"]

PACKAGE = "npo-lab"  # the distribution name on PyPI
BRANCH = "main"
_URL_LINE = re.compile(r'^(Repository\s*=\s*")([^"]+)(")', re.M)
_BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")
_INSTALL = re.compile(r"# npo_lab-install-cell: begin\n.*?# npo_lab-install-cell: end", re.S)
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _root() -> Path:
    return Path(__file__).resolve().parents[1]


def repo_url(pyproject: str | Path | None = None) -> str:
    """The repository URL: from ``pyproject.toml`` in a checkout, else from the installed package's metadata."""
    path = Path(pyproject) if pyproject else _root() / "pyproject.toml"
    if path.is_file():
        m = _URL_LINE.search(path.read_text(encoding="utf-8"))
        if not m:
            raise ValueError(f'{path} has no [project.urls] Repository = "..." line')
        return m.group(2).rstrip("/")
    from importlib.metadata import metadata

    for entry in metadata("npo_lab").get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "repository":
            return url.strip().rstrip("/")
    raise ValueError("the installed npo_lab metadata has no Repository URL")


def repo_slug(url: str | None = None) -> str:
    """``OWNER/NAME`` of a GitHub URL."""
    url = url or repo_url()
    m = re.match(r"https://github\.com/([^/]+/[^/]+?)(?:\.git)?$", url)
    if not m:
        raise ValueError(f"the repository URL must be https://github.com/OWNER/NAME, got {url!r}")
    return m.group(1)


def badge(notebook: str, url: str | None = None) -> str:
    """The Markdown "Open in Colab" badge of ``notebooks/<notebook>``."""
    slug = repo_slug(url)
    target = f"https://colab.research.google.com/github/{slug}/blob/{BRANCH}/notebooks/{notebook}"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({target})"


def install_cell(url: str | None = None) -> str:
    """The code of the first code cell: install npo_lab where it is missing, fail loudly where that fails."""
    url = url or repo_url()
    return f"""# npo_lab-install-cell: begin
import importlib.util, subprocess, sys  # noqa: E401

if importlib.util.find_spec("npo_lab") is None:  # e.g. a fresh Colab runtime
    for spec in ("{PACKAGE}", "{PACKAGE} @ git+{url}"):
        if subprocess.run([sys.executable, "-m", "pip", "install", "-q", spec]).returncode == 0:
            break
    else:
        raise RuntimeError("could not install npo_lab (tried PyPI, then {url}): check the network, "
                           "or clone the repository and run `pip install -e .` in it")
# npo_lab-install-cell: end"""


def _rewrite_text(text: str, notebook: str, url: str) -> str:
    text = _BADGE.sub(lambda _: badge(notebook, url), text)
    cell = install_cell(url)
    return _INSTALL.sub(lambda _: cell, text)


def _notebook_pairs(root: Path) -> list[tuple[Path, Path]]:
    return [(p, p.with_suffix(".ipynb")) for p in sorted((root / "notebooks").glob("[0-9][0-9]_*.py"))]


def rewrite_notebooks(repo: str | None = None, root: str | Path | None = None) -> list[Path]:
    """Set ``Repository`` in ``pyproject.toml`` to ``https://github.com/<repo>`` (when ``repo`` is given) and rewrite
    every notebook's badge and install cell from it (the ``.py`` twin, then the ``.ipynb`` by jupytext)."""
    import jupytext

    root = Path(root) if root else _root()
    pyproject = root / "pyproject.toml"
    if repo is not None:
        if not _SLUG.match(repo):
            raise ValueError(f"repo must look like OWNER/NAME, got {repo!r}")
        text = pyproject.read_text(encoding="utf-8")
        if not _URL_LINE.search(text):
            raise ValueError(f"{pyproject} has no [project.urls] Repository line to rewrite")
        pyproject.write_text(_URL_LINE.sub(rf"\g<1>https://github.com/{repo}\g<3>", text), encoding="utf-8")
    url = repo_url(pyproject)
    changed = []
    for py, ipynb in _notebook_pairs(root):
        old = py.read_text(encoding="utf-8")
        new = _rewrite_text(old, ipynb.name, url)
        if new != old or not ipynb.exists():
            py.write_text(new, encoding="utf-8")
            nb = jupytext.read(py)
            nb.metadata.get("jupytext", {}).pop("text_representation", None)
            jupytext.write(nb, ipynb)
            changed.append(py)
    return changed


def check_notebooks(root: str | Path | None = None) -> list[str]:
    """Problems found: a notebook whose badge or install cell is not the one generated from ``pyproject.toml``."""
    import json

    root = Path(root) if root else _root()
    url = repo_url(root / "pyproject.toml")
    problems = []
    for py, ipynb in _notebook_pairs(root):
        for path in (py, ipynb):
            text = path.read_text(encoding="utf-8")
            if path.suffix == ".ipynb":
                text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
            if badge(ipynb.name, url) not in text:
                problems.append(f"{path.name}: Colab badge differs from {badge(ipynb.name, url)}")
            if install_cell(url) not in text:
                problems.append(f"{path.name}: install cell differs from npo_lab.colab.install_cell()")
    return problems
