"""The notebooks as a student sees them: JupyterLab in a real browser (Debian's Chromium, driven by playwright).

One JupyterLab server for all notebooks (tests/browser/lab.py). For each notebook: open it, Run All; no error
output, every code cell ran, every widget drew its figure; one control of each widget moved and its figure redrawn
(a different image) within ``MOVE_SECONDS``; then save (the file holds no progress bar: no widget, no bar text),
reload the page, and no "model not found" or other error text anywhere, every widget drawn again. Notebook 04's
explorer: its figure's titles inside the image, all its methods in view without scrolling. 06 and 07 run in
smoke mode, the others at full size.

Screenshots go to ``$NPO_LAB_ARTIFACTS/browser`` (default ``tests/artifacts/browser``, ignored by git), with
``timings.jsonl`` (each notebook's Run All and redraw seconds).
Marked ``browser``; skipped with the reason where Chromium or playwright is missing (``.ci/run`` installs them).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import time
from pathlib import Path

import pytest
from browser.lab import (
    ERROR_TEXTS,
    LabServer,
    Notebook,
    image_difference,
    ink_on_border,
    launch_chromium,
    missing_requirements,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ("01", "02", "03", "04", "05", "06", "07", "09")
SMOKE = ("06", "07")  # the long ones (mini-TOFU training) in smoke mode; the others at full size
RUN_TIMEOUT_S = float(os.environ.get("NPO_LAB_BROWSER_TIMEOUT", 900))  # per notebook's Run All
# a control move must redraw its figure within this (a busy machine may set NPO_LAB_BROWSER_MOVE_S higher)
MOVE_SECONDS = float(os.environ.get("NPO_LAB_BROWSER_MOVE_S", 1.0))
ARTIFACTS = Path(os.environ.get("NPO_LAB_ARTIFACTS", ROOT / "tests" / "artifacts")) / "browser"
_WHY = missing_requirements()

# CI (.ci/run) sets NPO_LAB_REQUIRE_BROWSER=1: there a missing browser fails the test instead of skipping it
_REQUIRED = os.environ.get("NPO_LAB_REQUIRE_BROWSER") == "1"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(_WHY is not None and not _REQUIRED, reason=f"browser test: {_WHY}"),
]
if importlib.util.find_spec("xdist") is not None:  # one worker, one JupyterLab server (pytest -n N --dist loadgroup)
    pytestmark.append(pytest.mark.xdist_group("browser"))
if importlib.util.find_spec("pytest_timeout") is not None:  # the suite's per-test limit, raised to this test's own
    pytestmark.append(pytest.mark.timeout(RUN_TIMEOUT_S + 300))


def _path(number: str) -> Path:
    (path,) = (ROOT / "notebooks").glob(f"{number}_*.ipynb")
    return path


def _n_widgets(path: Path) -> int:
    """How many widgets the notebook shows: its code cells that end in ``.widget()``."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return sum(1 for c in cells if c["cell_type"] == "code" and "".join(c["source"]).rstrip().endswith(".widget()"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory, npo_lab_cache):
    if _WHY is not None:
        pytest.fail(f"NPO_LAB_REQUIRE_BROWSER=1 but {_WHY}")
    from playwright.sync_api import sync_playwright

    work = tmp_path_factory.mktemp("lab")
    env = {"HF_HUB_OFFLINE": "1", "NPO_LAB_CACHE": str(npo_lab_cache)}  # the session's mini-TOFU models
    tofu = Path(os.environ.get("NPO_LAB_TOFU_DIR", ROOT.parent / "shared" / "tofu" / "data"))
    if tofu.is_dir():  # the real TOFU files where they exist; otherwise the notebooks use the bundled data
        env["NPO_LAB_TOFU_DIR"] = str(tofu)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "timings.jsonl").unlink(missing_ok=True)
    with LabServer(work, [_path(n) for n in NOTEBOOKS], env=env, smoke=SMOKE) as server, sync_playwright() as p:
        context, page = launch_chromium(p, work / "chromium-profile")
        try:
            yield server, page
        finally:
            context.close()


def _errors(nb: Notebook) -> list[str]:
    """Error outputs and error texts on the page (a traceback, a widget that cannot be shown)."""
    found = [
        f"cell {o['cell']}: {o['text'][:300]}"
        for o in nb.outputs()
        if o["mime"] == "application/vnd.jupyter.stderr" and ("Error" in o["text"] or "Traceback" in o["text"])
    ]
    text = nb.page_text()
    return found + [f"page text contains {t!r}" for t in ERROR_TEXTS if t in text]


def _figure(widget):
    """The figure image of a widget view (the last image it holds)."""
    img = widget.locator("img").last
    img.wait_for(state="visible", timeout=30_000)
    return img


def _move_one_control(nb: Notebook, widget) -> str:
    """Move a slider's handle (or pick the next entry of a drop-down); returns what was moved."""
    handles = widget.locator(".noUi-handle")
    if handles.count():
        handle = handles.first
        handle.scroll_into_view_if_needed()
        box = handle.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        nb.page.mouse.move(x, y)
        nb.page.mouse.down()
        nb.page.mouse.move(x + 40, y, steps=4)
        nb.page.mouse.up()
        return "slider " + widget.locator(".widget-slider .widget-label").first.inner_text()
    select = widget.locator(".widget-dropdown select").first
    options = select.locator("option").all_inner_texts()
    current = select.input_value()
    choice = next(o for o in options if o != current)
    select.select_option(choice)
    return f"drop-down {current} -> {choice}"


def _redraw_seconds(nb: Notebook, widget, old_src: str, limit: float) -> float:
    """Seconds until the widget shows a loaded figure other than ``old_src`` (fails after 20 × limit)."""
    t0 = time.perf_counter()
    nb.page.wait_for_function(
        """([el, old]) => { const imgs = el.querySelectorAll('img'); const img = imgs[imgs.length - 1];
                           return img && img.src !== old && img.complete && img.naturalWidth > 0; }""",
        arg=[widget.element_handle(), old_src],
        polling="raf",
        timeout=20_000 * limit,
    )
    return time.perf_counter() - t0


@pytest.mark.parametrize("number", NOTEBOOKS)
def test_notebook_in_jupyterlab(lab, number):
    server, page = lab
    path = _path(number)
    nb = Notebook(page, server, path.name, ARTIFACTS)
    record = {"notebook": path.stem, "smoke": number in SMOKE}
    nb.open()
    try:
        _run_and_check(nb, path, record)
    except Exception:
        nb.shoot_notebook("failed")
        raise
    finally:
        nb.close_and_shutdown()  # the next notebook gets the CPU
        with (ARTIFACTS / "timings.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def _run_and_check(nb: Notebook, path: Path, record: dict) -> None:
    record["run_all_s"] = round(nb.run_all(RUN_TIMEOUT_S), 1)
    nb.shoot_notebook("1_run_all")
    prompts = nb.prompts()
    assert all(re.fullmatch(r"\[\d+\]:", p) for p in prompts), f"{path.name}: cells that did not run: {prompts}"
    assert _errors(nb) == [], f"{path.name} after Run All"

    widgets = nb.widgets()
    assert len(widgets) == _n_widgets(path), f"{path.name}: {len(widgets)} widget views drawn"
    record["redraw_s"] = []
    for i, widget in enumerate(widgets):
        img = _figure(widget)
        assert img.evaluate("e => e.naturalWidth") > 100, f"{path.name}: widget {i} has no figure"
        png = img.screenshot()
        src = img.get_attribute("src")
        moved = _move_one_control(nb, widget)
        took = _redraw_seconds(nb, widget, src, MOVE_SECONDS)
        record["redraw_s"].append(round(took, 3))
        new = _figure(widget).screenshot()
        widget.screenshot(path=str(ARTIFACTS / f"{path.stem}_2_widget{i}_moved.png"))
        assert image_difference(png, new) > 0.001, f"{path.name}: widget {i}: {moved} did not change the figure"
        assert took <= MOVE_SECONDS, f"{path.name}: widget {i}: {moved} redrew in {took:.2f} s"
        assert _errors(nb) == [], f"{path.name}: widget {i} after {moved}"
    if path.name.startswith("04"):
        _check_explorer(widgets[-1])

    nb.save()
    cells = nb.saved_code_cells()
    not_run = [i for i, c in enumerate(cells) if not c.get("execution_count")]
    assert not_run == [], f"{path.name}: code cells {not_run} did not run"
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == [], f"{path.name}: saved with errors: {[e['ename'] + ': ' + e['evalue'] for e in errors]}"
    saved = [o for c in cells for o in c.get("outputs", [])]
    views = [o for o in saved if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == _n_widgets(path), f"{path.name}: saved with {len(views)} widget views (a progress bar's?)"
    texts = ["".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", "")) for o in saved]
    bars = [t[:200] for t in texts if "\r" in t or re.search(r"\d+%\|", t)]
    assert bars == [], f"{path.name}: saved with a progress bar's text: {bars}"

    nb.reload()
    nb.shoot_notebook("3_reloaded")
    assert _errors(nb) == [], f"{path.name} after save and reload"
    for i, widget in enumerate(nb.widgets()):
        assert _figure(widget).evaluate("e => e.naturalWidth") > 100, f"{path.name}: widget {i} not redrawn"


def _check_explorer(widget) -> None:
    """Notebook 04's explorer: its figure's titles inside the image (nothing drawn at its edges: the figure keeps
    a margin, a title cut at the edge leaves ink there) and every method of its list in view."""
    png = base64.b64decode(_figure(widget).get_attribute("src").split(",", 1)[1])
    assert ink_on_border(png) == {"left": 0, "right": 0, "top": 0, "bottom": 0}, "the explorer's figure is cut"
    select = widget.locator(".widget-select-multiple select").first
    n = select.locator("option").count()
    geometry = select.evaluate("e => ({client: e.clientHeight, scroll: e.scrollHeight, size: e.size})")
    assert n == 9, f"the explorer lists {n} methods"
    assert geometry["scroll"] <= geometry["client"] + 1, f"the explorer's list scrolls: {geometry} for {n} methods"
