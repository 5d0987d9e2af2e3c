"""Run plots: the dual linear/log forget-quality scale and the per-epoch helpers."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from npo_lab.plotting import (  # noqa: E402
    method_color,
    plot_forget_kl_over_epochs,
    plot_forget_probability_over_epochs,
    plot_forget_quality_over_epochs,
    plot_forget_quality_vs_utility,
    plot_model_utility_over_epochs,
    plot_run_panels,
    runs_by_label,
    set_dual_scale,
)
from npo_lab.plotting.runs import _dual_functions  # noqa: E402


def _frame(method, fq, mu):
    return pd.DataFrame(
        {
            "method": method,
            "epoch": np.arange(1, len(fq) + 1, dtype=float),
            "forget_quality": fq,
            "model_utility": mu,
            "forget_probability": np.linspace(0.9, 0.1, len(fq)),
            "forget_kl": np.linspace(0, 3, len(fq)),
        }
    )


@pytest.fixture
def runs():
    return pd.concat(
        [_frame("GA", [1e-15, 1e-9, 0.3], [0.6, 0.2, 0.01]), _frame("NPO+RT", [1e-12, 0.02, 0.6], [0.6, 0.55, 0.58])],
        ignore_index=True,
    )


def test_dual_scale_is_monotone_and_invertible():
    fwd, inv = _dual_functions(0.1, 1e-12, 3.0)
    y = np.array([1e-12, 1e-6, 0.01, 0.0999, 0.1, 0.2, 0.55, 1.0])
    u = fwd(y)
    assert np.all(np.diff(u) > 0)
    np.testing.assert_allclose(inv(u), y, rtol=1e-9)
    # log below the threshold: one decade = one unit; linear above: equal steps are equal distances
    assert fwd(np.array([1e-3]))[0] - fwd(np.array([1e-4]))[0] == pytest.approx(1.0)
    a, b, c = fwd(np.array([0.2, 0.5, 0.8]))
    assert b - a == pytest.approx(c - b)
    assert fwd(np.array([1.0]))[0] == pytest.approx(3.0)


def test_set_dual_scale_rejects_bad_limits():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="threshold"):
        set_dual_scale(ax, threshold=0.1, floor=0.5)
    with pytest.raises(ValueError, match="axis"):
        set_dual_scale(ax, axis="z")
    plt.close(fig)


def test_fq_vs_utility_paths_colours_and_scale(runs):
    fig, ax = plt.subplots()
    out = plot_forget_quality_vs_utility(
        runs, finetuned={"forget_quality": 1e-14, "model_utility": 0.6}, retain={"model_utility": 0.59}, ax=ax
    )
    assert out is ax
    assert ax.get_yscale() == "function"
    lo, hi = ax.get_ylim()
    assert lo <= 1e-15 and hi == pytest.approx(1.0)
    colours = {matplotlib.colors.to_hex(line.get_color()) for line in ax.get_lines()}
    assert method_color("GA") in colours and method_color("NPO+RT") in colours
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"GA", "NPO+RT", "fine-tuned", "retain model"} <= set(labels)
    plt.close(fig)


def test_over_epoch_helpers_draw_every_run(runs):
    fig, axes = plt.subplots(2, 2)
    plot_forget_quality_over_epochs(runs, ax=axes[0, 0])
    ax = plot_model_utility_over_epochs(runs, ax=axes[0, 1], finetuned=0.6, retain=0.59, relative=True)
    ys = [line.get_ydata() for line in ax.get_lines() if line.get_label() == "GA"][0]
    np.testing.assert_allclose(ys, np.array([0.6, 0.2, 0.01]) / 0.6)
    plot_forget_probability_over_epochs(runs, ax=axes[1, 0], finetuned=0.95)
    assert axes[1, 0].get_yscale() == "log"
    plot_forget_kl_over_epochs(runs, ax=axes[1, 1])
    for a in axes.ravel():
        assert {"GA", "NPO+RT"} <= {line.get_label() for line in a.get_lines()}
        assert "_" not in re.sub(r"\$[^$]*\$", "", a.get_ylabel())  # math as mathtext, no literal underscores
    assert axes[0, 0].get_ylabel() == "forget quality (log below 0.1, linear above)"  # the dual axis says so
    plt.close(fig)


def test_log_scale_skips_zero_kl_and_draws_the_target(runs):
    """KL = 0 at the first evaluation is left out on a log axis (it would stretch the axis to 1e-300); the retain
    model's KL(π_ref ‖ π_retr) is a reference line; the legend sits beside the plot."""
    ax = plot_forget_kl_over_epochs(runs, scale="log", target=0.8)
    ga = [line for line in ax.get_lines() if line.get_label() == "GA"][0]
    np.testing.assert_allclose(ga.get_xdata(), [2.0, 3.0])
    ax.figure.canvas.draw()
    assert ax.get_ylim()[0] > 1e-3
    assert any(line.get_ydata()[0] == 0.8 and "pi_{\\mathrm{retr}}" in line.get_label() for line in ax.get_lines())
    assert not ax.get_legend().get_window_extent().overlaps(ax.get_window_extent())
    with pytest.raises(ValueError, match="finetuned"):
        plot_model_utility_over_epochs(runs, relative=True)


def test_accepts_dicts_and_summary_form(runs):
    summary_methods = {
        "GA": {
            "epochs": [{"epoch": 1, "forget_quality": 1e-9, "model_utility": 0.5, "forget_probability": 0.4}],
            "peak_forget_quality": 1e-9,
        }
    }
    frames = runs_by_label(summary_methods)
    assert list(frames) == ["GA"] and frames["GA"]["model_utility"].iloc[0] == 0.5
    frames = runs_by_label({"a": [{"epoch": 2, "x": 1}, {"epoch": 1, "x": 0}]})
    assert list(frames["a"]["epoch"]) == [1, 2]
    axes = plot_run_panels(
        summary_methods, finetuned={"model_utility": 0.6, "forget_quality": 1e-10, "forget_probability": 0.9}
    )
    assert len(axes) == 4
    plt.close("all")
    with pytest.raises(ValueError, match="no column"):
        plot_forget_kl_over_epochs(summary_methods)
    with pytest.raises(ValueError, match="empty"):
        runs_by_label({})
