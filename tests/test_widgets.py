"""The interactive demos: update() recomputes and redraws; widget() builds the ipywidgets UI."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from npo_lab.theory import single_logit  # noqa: E402
from npo_lab.widgets import DivergenceDemo, SingleLogitDemo, SyntheticExplorer  # noqa: E402


def test_single_logit_demo_updates():
    d = SingleLogitDemo(steps=1000)
    assert d.update() > 0
    curves = d.curves()
    np.testing.assert_allclose(curves["NPO"], single_logit("NPO", 1000, 1.0, 1.0) - 2.0)
    before = curves["NPO"][-1]
    d.update(beta=0.2)
    assert d.curves()["NPO"][-1] < before  # smaller β: faster divergence
    assert set(d.last_timings) == {"compute_artists", "render"}
    with pytest.raises(ValueError, match="unknown setting"):
        d.update(gamma=1)


def test_divergence_demo():
    d = DivergenceDemo(steps=300, n_f=4, d=32)
    d.update()
    c = d.curves()
    assert c["GA"][-1] > c["NPO"][-1] > 0
    d.update(n_f=40, d=32)  # invalid combination: a message instead of an exception
    assert "n_f ≤ d" in d.axes[0].texts[0].get_text()


def test_synthetic_explorer():
    df = pd.DataFrame(
        [{"seed": s, "method": m, "step": t, "forget_distance": 1.0 / (1 + t), "retain_distance": 0.02,
          "forget_kl": t} for s in (0, 1) for m in ("GA", "NPO") for t in (0, 5)]
    )
    e = SyntheticExplorer(df)
    e.update(methods=("NPO",), metric="forget_kl")
    assert [ln.get_label() for ln in e.axes[0].get_lines()] == ["NPO"]
    with pytest.raises(ValueError, match="metric"):
        e.update(metric="loss")
    with pytest.raises(ValueError, match="lacks the columns"):
        SyntheticExplorer(df.drop(columns="forget_kl"))


def test_widget_ui_builds():
    pytest.importorskip("ipywidgets")
    d = SingleLogitDemo(steps=1000)
    ui = d.widget()
    image = ui.children[-1]
    assert image.value[:4] == b"\x89PNG"
    slider = ui.children[0].children[0]  # β
    old = image.value
    slider.value = 0.1
    assert d.settings["beta"] == pytest.approx(0.1) and image.value != old
