"""Student copies of the notebook series: every worked solution replaced by a "your answer here" stub.

Each notebook ends with exercises, and each exercise is followed by its worked solution: a code cell tagged
``solution``. In the jupytext twin (``notebooks/NN_name.py``) the tag sits in the cell marker::

    # %% jupyter={"outputs_hidden": true, "source_hidden": true} tags=["solution"]

:func:`student_copy` keeps every cell of a notebook except those: a solution's source becomes a short stub
(:data:`STUB`, a comment, so the copy still runs top to bottom), its outputs are cleared, its ``solution`` tag
becomes ``answer`` and it is no longer collapsed. The marking is checked, not guessed: a code cell that starts
like a solution (``# Solution``) without the tag, or a tagged cell that is not code, is an error, so a solution
cannot slip into a student copy unmarked. :func:`write_student_notebooks` (``npo-lab student-notebooks OUT``,
``make student``) writes the whole series. :func:`time_notebook` measures a notebook's runtime cell by cell (the
lecturer's guide, ``docs/teaching.md``, quotes such measurements).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

__all__ = [
    "SOLUTION_TAG",
    "ANSWER_TAG",
    "STUB",
    "is_solution",
    "solution_cells",
    "student_copy",
    "notebook_paths",
    "write_student_notebooks",
    "time_notebook",
]

SOLUTION_TAG = "solution"  #: the cell tag of a worked solution
ANSWER_TAG = "answer"  #: the tag of the stub that replaces it in a student copy
#: the source of a stub; ``{n}`` is the exercise number (the solutions' order in the notebook)
STUB = "# Exercise {n}: your answer here.\n# (The worked solution is in the instructor's copy of this notebook.)\n"
_LOOKS_LIKE_SOLUTION = re.compile(r"\A\s*#\s*Solution\b")
_NOTEBOOK_NAME = "[0-9][0-9]_*.ipynb"


def is_solution(cell) -> bool:
    """Whether ``cell`` (an nbformat cell or a dict) is tagged as a worked solution."""
    return SOLUTION_TAG in (cell.get("metadata", {}).get("tags") or [])


def solution_cells(nb, name: str = "notebook") -> list[int]:
    """Indices of the solution cells of ``nb``, in order. Raises ValueError (naming ``name`` and the cell) when a
    tagged cell is not a code cell, or a code cell starts with ``# Solution`` but lacks the ``solution`` tag."""
    found = []
    for i, cell in enumerate(nb["cells"]):
        tagged = is_solution(cell)
        if tagged and cell["cell_type"] != "code":
            raise ValueError(f"{name}, cell {i}: tagged {SOLUTION_TAG!r} but is a {cell['cell_type']} cell")
        if not tagged and cell["cell_type"] == "code" and _LOOKS_LIKE_SOLUTION.match(cell["source"]):
            raise ValueError(
                f"{name}, cell {i}: starts with '# Solution' but has no {SOLUTION_TAG!r} tag; tag it in the .py "
                f'twin (`# %% tags=["{SOLUTION_TAG}"]`) and run `jupytext --sync`'
            )
        if tagged:
            found.append(i)
    return found


def student_copy(nb, name: str = "notebook"):
    """A copy of ``nb`` with every solution cell's source replaced by :data:`STUB` and its outputs cleared.

    Every other cell is unchanged. The stub is tagged :data:`ANSWER_TAG` and shown expanded. ``nb`` itself is not
    modified. Raises ValueError when the solution marking is inconsistent (:func:`solution_cells`).
    """
    out = copy.deepcopy(nb)
    for n, i in enumerate(solution_cells(out, name), start=1):
        cell = out["cells"][i]
        cell["source"] = STUB.format(n=n)
        cell["outputs"] = []
        cell["execution_count"] = None
        meta = cell.setdefault("metadata", {})
        meta["tags"] = [ANSWER_TAG if t == SOLUTION_TAG else t for t in meta.get("tags", [])]
        jupyter = {k: v for k, v in meta.get("jupyter", {}).items() if k not in ("source_hidden", "outputs_hidden")}
        if jupyter:
            meta["jupyter"] = jupyter
        else:
            meta.pop("jupyter", None)
    return out


def _default_source() -> Path:
    return Path(__file__).resolve().parents[1] / "notebooks"


def notebook_paths(source: str | Path | None = None) -> list[Path]:
    """The series' notebooks (``NN_name.ipynb``) in ``source`` (default: the checkout's ``notebooks/``), sorted.
    Raises ValueError when there are none."""
    src = Path(source) if source is not None else _default_source()
    paths = sorted(src.glob(_NOTEBOOK_NAME)) if src.is_dir() else []
    if not paths:
        raise ValueError(
            f"source {str(src)!r} holds no notebooks named NN_name.ipynb: run it in a checkout of the repository, "
            "or pass the notebooks' directory"
        )
    return paths


def write_student_notebooks(
    out: str | Path, source: str | Path | None = None, *, overwrite: bool = False
) -> list[tuple[Path, int]]:
    """Write the student copy of every notebook of ``source`` into ``out`` (created if missing).

    Returns ``[(written path, number of solutions replaced)]``. Refuses (ValueError) to write into the source
    directory itself, and to replace an existing file unless ``overwrite``; nothing is written when it refuses.
    """
    import nbformat

    paths = notebook_paths(source)
    out = Path(out)
    if out.resolve() == paths[0].parent.resolve():
        raise ValueError(f"out must not be the notebooks' own directory ({out}): it would replace the solutions")
    if out.exists() and not out.is_dir():
        raise ValueError(f"out {str(out)!r} exists and is not a directory")
    targets = [out / p.name for p in paths]
    existing = [t.name for t in targets if t.exists()]
    if existing and not overwrite:
        raise ValueError(f"out {str(out)!r} already holds {', '.join(existing)}; pass overwrite=True (--overwrite)")
    copies = [student_copy(nbformat.read(p, as_version=4), p.name) for p in paths]  # all checked before writing
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for p, target, nb in zip(paths, targets, copies):
        nbformat.write(nb, target)
        written.append((target, len(solution_cells(nbformat.read(p, as_version=4), p.name))))
    return written


def time_notebook(path: str | Path, *, cwd: str | Path | None = None, timeout: int = 7200) -> dict:
    """Execute the notebook at ``path`` with nbclient, one cell after the other, and time it.

    The environment decides the mode (``NPO_LAB_SMOKE``) and the model cache (``NPO_LAB_CACHE``). Returns
    ``{"notebook", "smoke", "total_s", "load_start", "load_end", "cpus", "cells": [{"cell", "seconds",
    "first_line"}], "executed"}`` (``executed``: the notebook with its outputs); the load averages (1, 5, 15 min,
    ``os.getloadavg``) say how busy the machine was. ``timeout``: seconds per cell. A failing cell raises.
    """
    import os
    import time

    import nbformat
    from nbclient import NotebookClient

    from . import is_smoke

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd or path.parent)}}
    )
    load_start, t0, cells = os.getloadavg(), time.perf_counter(), []
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            c0 = time.perf_counter()
            client.execute_cell(cell, i)
            if cell.cell_type == "code":
                first = cell.source.splitlines()[0][:80] if cell.source else ""
                cells.append({"cell": i, "seconds": round(time.perf_counter() - c0, 2), "first_line": first})
    return {
        "notebook": path.name,
        "smoke": is_smoke(),
        "total_s": round(time.perf_counter() - t0, 1),
        "load_start": load_start,
        "load_end": os.getloadavg(),
        "cpus": os.cpu_count(),
        "cells": cells,
        "executed": nb,
    }
