"""The interactive demos: update() redraws the gallery figure with the settings changed, captions are computed from
what is drawn, widget() builds the ipywidgets UI; the module stays a thin front-end (public imports, short)."""

from __future__ import annotations

import ast
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from npo_lab import widgets  # noqa: E402
from npo_lab.plotting import fit_curves, format_number  # noqa: E402
from npo_lab.theory import logistic_divergence, single_logit  # noqa: E402
from npo_lab.widgets import DivergenceDemo, SingleLogitDemo, SyntheticExplorer  # noqa: E402


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _layout_ok(demo) -> None:
    """Legends beside (not over) the plotting area; titles inside the figure."""
    fig = demo.figure
    box = fig.bbox
    for ax in demo.axes:
        legend = ax.get_legend()
        if legend is not None:
            assert not legend.get_window_extent().overlaps(ax.get_window_extent())
        ext = ax.title.get_window_extent()
        assert box.x0 <= ext.x0 and ext.x1 <= box.x1 and ext.y1 <= box.y1, ax.get_title()


def _frame():
    rows = [
        {
            "seed": s,
            "method": m,
            "step": t,
            "forget_distance": k / (1 + t) + 0.01 * (s + 1),
            "retain_distance": 0.02 + 0.01 * s + 1e-3 * k * t,
            "forget_kl": k * t * (s + 1),
        }
        for s in (0, 1)
        for m, k in (("GA", 2.0), ("NPO", 1.0))
        for t in (0, 5, 10)
    ]
    return pd.DataFrame(rows)


def test_single_logit_demo_updates():
    d = SingleLogitDemo(steps=1000)
    assert d.update() > 0 and d.png[:4] == b"\x89PNG"
    assert set(d.last_timings) == {"draw", "render"}
    before = d.png
    d.update(beta=0.2)
    assert d.png != before
    with pytest.raises(ValueError, match="unknown setting"):
        d.update(gamma=1)
    with pytest.raises(ValueError, match="lr"):
        d.update(lr=-1.0)
    assert d.settings["lr"] == 1.0  # a rejected setting is rolled back
    _layout_ok(d)


def test_single_logit_caption_is_the_fit_of_the_curve_drawn():
    """At η = 0.01 NPO is not yet in its asymptotic regime: the legend shows the fitted slope next to −1/β instead
    of claiming −1/β; settings print with 3 significant digits."""
    d = SingleLogitDemo(beta=2.0, lr=0.01, steps=10_000)
    d.update()
    npo = single_logit("NPO", 10_000, 0.01, 2.0) - 2.0
    slope = fit_curves({"NPO": npo}, log_t=True)["NPO"][1]
    assert abs(slope + 0.5) > 0.3  # far from the asymptotic −1/β
    assert f"NPO: slope {format_number(slope)} per ln t\n(theory −0.5)" in _legend(d.axes[1])
    ga = single_logit("GA", 10_000, 0.01) - 2.0
    assert f"GA: slope {format_number(fit_curves({'GA': ga})['GA'][1])} per step\n(theory −0.01)" in _legend(d.axes[0])
    d.update(lr=0.0316228, beta=0.501187)
    assert "η = 0.0316, β = 0.501" in d.figure.get_suptitle()
    _layout_ok(d)


def test_divergence_demo_caption_and_bad_settings():
    d = DivergenceDemo(steps=300, n_f=4, d=32, lr=0.03)
    d.update()
    ga, npo = logistic_divergence("GA", 4, 32, 300, 0.03), logistic_divergence("NPO", 4, 32, 300, 0.03)
    assert f"at $t$ = 300: GA {format_number(ga[-1])}, NPO {format_number(npo[-1])}" in d.figure.get_suptitle()
    assert any(t.endswith("(theory 0.015)") for t in _legend(d.axes[0]))  # η/√n_f
    assert any(t.endswith("(theory 2)") for t in _legend(d.axes[1]))  # √n_f/β
    with pytest.raises(ValueError, match="n_f"):
        d.update(n_f=40)
    assert d.settings["n_f"] == 4
    _layout_ok(d)


def test_synthetic_explorer_band_and_caption():
    df = _frame()
    e = SyntheticExplorer(df)
    e.update(methods=("NPO",), metric="forget_kl")
    line = [ln for ln in e.axes[0].get_lines() if ln.get_label() == "NPO"][0]
    np.testing.assert_allclose(line.get_xdata(), [5, 10])  # KL = 0 at step 0 is left out on the log axis
    np.testing.assert_allclose(line.get_ydata(), [5 * np.sqrt(2), 10 * np.sqrt(2)])  # geometric mean of 1x, 2x
    assert e.axes[0].get_title() == f"at step 10, lowest: NPO ({format_number(10 * np.sqrt(2))})"
    e.update(methods=("GA", "NPO"), log_y=False)
    assert e.axes[0].get_title() == "at step 10, lowest: NPO (15)"  # arithmetic mean of 10 and 20
    assert any("mean\nband: ± sd" in t for t in _legend(e.axes[0]))
    _layout_ok(e)
    with pytest.raises(ValueError, match="pick at least one"):
        e.update(methods=())
    with pytest.raises(ValueError, match="metric"):
        e.update(metric="loss")
    with pytest.raises(ValueError, match="lacks the columns"):
        SyntheticExplorer(df.drop(columns="forget_kl"))


def test_widget_ui_builds_and_redraws():
    pytest.importorskip("ipywidgets")
    d = SingleLogitDemo(steps=1000)
    ui = d.widget()
    assert d.png[:4] == b"\x89PNG"  # interactive_output drew once
    slider = ui.children[0].children[0]  # β
    old = d.png
    slider.value = 0.1
    assert d.settings["beta"] == pytest.approx(0.1) and d.png != old
    e = SyntheticExplorer(_frame())
    e.widget()
    assert e.png[:4] == b"\x89PNG"


def test_thin_front_end():
    """No private imports, at most 250 lines."""
    source = Path(widgets.__file__).read_text(encoding="utf-8")
    assert len(source.splitlines()) <= 250
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            assert not any(a.name.startswith("_") for a in node.names), ast.dump(node)
            assert not any(part.startswith("_") for part in (node.module or "").split(".")), node.module
