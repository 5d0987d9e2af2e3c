"""Plot helpers for the theory notebooks: they draw what they are given and return the Axes / Figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from npo_lab import plotting  # noqa: E402
from npo_lab.plotting.theory import (  # noqa: E402
    label_colors,
    plot_band,
    plot_divergence,
    plot_npo_curves,
    plot_pareto,
    synthetic_figure,
)
from npo_lab.theory import npo_curves  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _frame():
    rows = []
    for seed in (0, 1, 2):
        for m, k in (("GA", 1.0), ("NPO", 0.3)):
            for step in (0, 10, 20):
                rows.append({"seed": seed, "method": m, "step": step, "forget_distance": 1.0 / (1 + k * step) + seed,
                             "retain_distance": 0.02 + k * step / 100, "forget_kl": k * step, "alpha": 1})
    return pd.DataFrame(rows)


def test_reexported():
    for name in ("plot_divergence", "plot_npo_curves", "plot_band", "plot_pareto", "synthetic_figure", "set_style"):
        assert hasattr(plotting, name)


def test_divergence_fits_slope():
    t = np.arange(1001, dtype=float)
    ax = plot_divergence({"GA": -2.0 * t, "NPO": -np.log1p(t)})
    labels = [line.get_label() for line in ax.get_lines()]
    assert any(lab.startswith("GA (slope -2 per step") for lab in labels), labels
    ax2 = plot_divergence({"NPO": -3 * np.log(np.maximum(t, 1))}, log_t=True)
    assert ax2.get_xscale() == "log"
    assert any("slope -3 per ln t" in line.get_label() for line in ax2.get_lines())
    _, ax3 = plt.subplots()
    assert plot_divergence({"GA": t}, ax3) is ax3
    with pytest.raises(ValueError, match="at least 3 points"):
        plot_divergence({"GA": np.zeros(2)})


def test_npo_curves_plot():
    df = npo_curves(betas=(0.1, 1.0))
    ax = plot_npo_curves(df, "weight")
    ys = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    assert set(ys) >= {"NPO β=0.1", "NPO β=1", "GA"}
    assert np.all(np.asarray(ys["GA"]) == 1.0)
    assert plot_npo_curves(df, "loss").get_ylabel() == "loss"
    with pytest.raises(ValueError, match="quantity"):
        plot_npo_curves(df, "gradient")


def test_band_is_mean_over_seeds():
    df = _frame()
    ax = plot_band(df, "forget_distance")
    line = [ln for ln in ax.get_lines() if ln.get_label() == "GA"][0]
    expected = df[df.method == "GA"].groupby("step")["forget_distance"].mean().to_numpy()
    np.testing.assert_allclose(line.get_ydata(), expected)
    assert len(ax.collections) == 2  # one band per method
    with pytest.raises(ValueError, match="lacks the columns"):
        plot_band(df, "missing_metric")


def test_pareto_and_figures():
    df = _frame()
    ax = plot_pareto(df)
    assert ax.get_xscale() == "log" and "forget distance" in ax.get_xlabel()
    for kind, n in (("figure3", 3), ("figure4", 2), ("figure9", 2)):
        fig = synthetic_figure(df, kind)
        assert len(fig.axes) == n
    with pytest.raises(ValueError, match="kind"):
        synthetic_figure(df, "figure7")


def test_label_colors():
    c = label_colors(["GA", "NPO β=0.1", "NPO β=1"])
    assert c["GA"] == plotting.method_color("GA")
    assert c["NPO β=0.1"] is not c["NPO β=1"]


def test_gallery_quick(tmp_path, monkeypatch):
    from npo_lab.gallery import make_gallery

    monkeypatch.setenv("NPO_LAB_CACHE", str(tmp_path / "cache"))
    paths = make_gallery(tmp_path / "figs", quick=True)
    assert [p.name for p in paths] == ["single_logit.png", "divergence.png", "synthetic_figure4.png",
                                       "synthetic_trajectories.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)
