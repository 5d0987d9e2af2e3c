"""The teaching notebooks end with a summary and exercises, and every exercise has a worked solution: a collapsed
code cell tagged ``solution`` that computes the answer and asserts it (``test_notebooks.py`` executes them)."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]
TEACHING = [
    "01_gradient_ascent_collapse",
    "02_npo_loss",
    "03_divergence_speed",
    "04_synthetic_unlearning",
    "05_tofu_metrics_explained",
    "06_mini_tofu",
    "07_forgetting_more",
    "08_tofu_gpu",
    "09_is_it_forgotten",
]


def _cells(stem: str):
    return nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4).cells


def _is_solution(cell) -> bool:
    return cell.cell_type == "code" and "solution" in cell.metadata.get("tags", [])


@pytest.mark.parametrize("stem", TEACHING)
def test_summary_then_exercises_with_solutions(stem):
    cells = _cells(stem)
    text = [c.source for c in cells]
    summary = next((i for i, s in enumerate(text) if "## Summary" in s), None)
    exercises = next((i for i, s in enumerate(text) if "## Exercises" in s), None)
    assert summary is not None and exercises is not None and summary <= exercises, f"{stem}: summary, then exercises"
    tail = cells[exercises + 1 :]
    assert tail and all(c.cell_type == "markdown" or _is_solution(c) for c in tail), (
        f"{stem}: after '## Exercises' only exercise text and solution cells"
    )
    solutions = [c for c in tail if _is_solution(c)]
    questions = [c for c in cells[exercises:] if c.cell_type == "markdown" and "**" in c.source]
    assert len(solutions) >= 2 and len(solutions) == len(questions), f"{stem}: one solution per exercise"
    for cell in solutions:
        hidden = cell.metadata.get("jupyter", {})
        assert hidden.get("source_hidden") and hidden.get("outputs_hidden"), f"{stem}: solutions are collapsed"
        assert "assert " in cell.source, f"{stem}: a solution checks its answer numerically"


@pytest.mark.parametrize("stem", TEACHING)
def test_no_bare_plot_results(stem):
    """Plot calls whose return value would print as ``Text(…)`` or a Figure repr end a cell only when assigned or
    silenced with a trailing ``;``."""
    for cell in _cells(stem):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        last = cell.source.strip().splitlines()[-1]
        if last.rstrip().endswith(";"):
            continue  # IPython prints nothing for a statement ending with ';'
        assert not last.lstrip().startswith(("ax.set_", "axes[", "plt.", "synthetic_figure(")), (
            f"{stem}: a cell ends with a bare plot call: {last!r}"
        )
