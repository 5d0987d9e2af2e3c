"""``npo-lab colab-links``: rewrite every notebook's Colab badge and install cell from ``[project.urls]
Repository`` in ``pyproject.toml`` (:mod:`npo_lab.colab`).

    npo-lab colab-links --repo OWNER/NAME   # a fork: set the Repository URL, then rewrite every notebook
    npo-lab colab-links                     # rewrite the notebooks from the current Repository URL
    npo-lab colab-links --check             # exit 1 and list the notebooks that disagree (changes nothing)

Run it in a checkout (``--root``, default: the checkout npo_lab is imported from, else the current directory).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import UsageError


def add_arguments(parser) -> None:
    parser.add_argument("--repo", help="OWNER/NAME of the GitHub repository (a fork); rewrites pyproject.toml too")
    parser.add_argument("--check", action="store_true", help="only check: exit 1 if a notebook disagrees")
    parser.add_argument("--root", help="the checkout (holding pyproject.toml and notebooks/)")


def _root(arg: str | None) -> Path:
    from .. import colab

    candidates = [Path(arg)] if arg else [colab._root(), Path.cwd()]
    for root in candidates:
        if (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir():
            return root
    where = " or ".join(repr(str(c)) for c in candidates)
    raise UsageError(f"no checkout at {where}: run it in the repository (pyproject.toml and notebooks/), or --root")


def run(args) -> int:
    from ..colab import check_notebooks, repo_url, rewrite_notebooks

    root = _root(args.root)
    if args.check:
        if args.repo:
            raise UsageError("--check and --repo exclude each other: --check changes nothing")
        problems = check_notebooks(root)
        for p in problems:
            print(p, file=sys.stderr)
        print(f"{len(problems)} problem(s); Repository = {repo_url(root / 'pyproject.toml')}")
        return 1 if problems else 0
    changed = rewrite_notebooks(args.repo, root=root)
    print(f"Repository = {repo_url(root / 'pyproject.toml')}; rewrote {len(changed)} notebook(s)")
    for p in changed:
        print(f"  {p.relative_to(root)}")
    return 0
