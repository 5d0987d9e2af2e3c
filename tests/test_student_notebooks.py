"""Student copies (`npo-lab student-notebooks`): no solution text survives, everything else is unchanged, the
marking of solutions is checked, and every student notebook still runs (smoke mode) up to and past its exercises."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

from npo_lab.teaching import (  # noqa: E402
    ANSWER_TAG,
    SOLUTION_TAG,
    is_solution,
    solution_cells,
    student_copy,
    write_student_notebooks,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    write_student_notebooks(out)
    return out


def _distinctive_lines(nb) -> set[str]:
    """The lines of the solution cells that occur in no other cell of the notebook (stripped, non-trivial)."""
    elsewhere = "\n".join(c.source for c in nb.cells if not is_solution(c))
    lines = set()
    for cell in nb.cells:
        if is_solution(cell):
            for line in cell.source.splitlines():
                line = line.strip()
                if len(line) >= 12 and line not in elsewhere:
                    lines.add(line)
    return lines


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_solution_text_survives(path, student_dir):
    original = nbformat.read(path, as_version=4)
    lines = _distinctive_lines(original)
    assert len(lines) >= 2, f"{path.name}: expected worked solutions with lines of their own"
    student_text = (student_dir / path.name).read_text(encoding="utf-8")
    raw = json.loads(student_text)
    sources = "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in raw["cells"])
    survivors = [line for line in lines if line in sources]
    assert not survivors, f"{path.name}: solution lines left in the student copy: {survivors[:3]}"
    assert "# Solution" not in sources


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_everything_else_unchanged(path, student_dir):
    original = nbformat.read(path, as_version=4)
    student = nbformat.read(student_dir / path.name, as_version=4)
    assert len(student.cells) == len(original.cells)
    n = 0
    for a, b in zip(original.cells, student.cells):
        assert a.cell_type == b.cell_type
        if is_solution(a):
            n += 1
            assert b.source.startswith(f"# Exercise {n}: your answer here"), b.source
            assert b.outputs == [] and b.execution_count is None
            assert ANSWER_TAG in b.metadata["tags"] and SOLUTION_TAG not in b.metadata["tags"]
            assert not b.metadata.get("jupyter", {}).get("source_hidden"), "the stub is shown, not collapsed"
        else:
            assert (a.source, a.metadata) == (b.source, b.metadata)
    assert n >= 2 and n == len(solution_cells(original, path.name))
    exercises = next(i for i, c in enumerate(original.cells) if "## Exercises" in c.source)
    assert all(not is_solution(c) for c in original.cells[:exercises]), "solutions only after '## Exercises'"


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def test_student_copy_does_not_touch_the_original():
    sol = nbformat.v4.new_code_cell("# Solution 1. x = 42\nassert 6 * 7 == 42", metadata={"tags": [SOLUTION_TAG]})
    sol.outputs = [nbformat.v4.new_output("stream", text="42\n")]
    nb = _nb(nbformat.v4.new_markdown_cell("**1.** What is 6 × 7?"), sol)
    copy = student_copy(nb)
    assert "6 * 7" not in copy.cells[1].source and copy.cells[1].outputs == []
    assert nb.cells[1].source.startswith("# Solution 1.") and nb.cells[1].outputs, "the original is unchanged"


def test_unmarked_or_misplaced_solution_is_an_error():
    untagged = _nb(nbformat.v4.new_code_cell("# Solution 1. forgot the tag\nprint(1)"))
    with pytest.raises(ValueError, match="no 'solution' tag"):
        student_copy(untagged, "x.ipynb")
    markdown = _nb(nbformat.v4.new_markdown_cell("text", metadata={"tags": [SOLUTION_TAG]}))
    with pytest.raises(ValueError, match="markdown cell"):
        solution_cells(markdown, "x.ipynb")


def test_refuses_to_overwrite(tmp_path):
    with pytest.raises(ValueError, match="notebooks' own directory"):
        write_student_notebooks(ROOT / "notebooks")
    write_student_notebooks(tmp_path)
    with pytest.raises(ValueError, match="already holds"):
        write_student_notebooks(tmp_path)
    assert len(write_student_notebooks(tmp_path, overwrite=True)) == len(NOTEBOOKS)
    with pytest.raises(ValueError, match="holds no notebooks"):
        write_student_notebooks(tmp_path / "out", tmp_path / "nothing-here")


def test_command_line(tmp_path, capsys):
    from npo_lab.cli import main

    assert main(["student-notebooks", str(tmp_path / "s")]) == 0
    assert sorted(p.name for p in (tmp_path / "s").glob("*.ipynb")) == [p.name for p in NOTEBOOKS]
    assert "solution(s) replaced" in capsys.readouterr().out
    assert main(["student-notebooks", str(tmp_path / "t"), "--source", str(tmp_path / "missing")]) == 2
    assert "holds no notebooks" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_copy_executes_in_smoke_mode(path, student_dir, tmp_path, monkeypatch, smoke_env):
    """The student copy runs top to bottom: everything up to the first exercise, then the (comment-only) stubs."""
    from test_notebooks import execute_notebook  # the suite's one executor: a hung cell fails within minutes

    monkeypatch.setenv("MPLBACKEND", "Agg")
    tofu_dir = os.environ.get("NPO_LAB_TOFU_DIR", str(ROOT.parent / "shared" / "tofu" / "data"))
    if Path(tofu_dir).is_dir():
        monkeypatch.setenv("NPO_LAB_TOFU_DIR", tofu_dir)
    else:
        monkeypatch.delenv("NPO_LAB_TOFU_DIR", raising=False)
    # smoke_env: NPO_LAB_SMOKE=1, offline, the session's shared cache (the mini-TOFU models are trained once)
    nb = execute_notebook(student_dir / path.name, tmp_path)
    first = next(i for i, c in enumerate(nb.cells) if "## Exercises" in c.source)
    ran = [c for c in nb.cells[:first] if c.cell_type == "code" and c.source.strip()]
    assert ran and all(c.execution_count for c in ran), f"{path.name}: every cell before the exercises ran"
    assert not any(o.get("output_type") == "error" for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_time_notebook_times_each_cell(tmp_path):
    from npo_lab.teaching import time_notebook

    path = tmp_path / "01_tiny.ipynb"
    nbformat.write(
        _nb(
            nbformat.v4.new_markdown_cell("# tiny"),
            nbformat.v4.new_code_cell("x = 6 * 7"),
            nbformat.v4.new_code_cell("import time\ntime.sleep(0.3)\nprint(x)"),
        ),
        path,
    )
    rec = time_notebook(path, timeout=120)
    assert [c["cell"] for c in rec["cells"]] == [1, 2]
    assert rec["cells"][1]["seconds"] >= 0.3 and rec["total_s"] >= 0.3
    assert len(rec["load_start"]) == 3 and rec["cpus"] >= 1
    assert rec["executed"].cells[2].outputs[0]["text"] == "42\n"
