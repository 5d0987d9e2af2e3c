"""TOFU plot helpers: draw on the given Axes, return it, and show the right numbers."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.stats import ks_2samp  # noqa: E402

from npo_lab import plotting  # noqa: E402
from npo_lab.plotting import tofu as P  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_exported():
    for name in P.__all__:
        assert hasattr(plotting, name)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ks_statistic_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.lognormal(0, 1, 50), rng.lognormal(0.5, 1.2, 70)
    d, x = P.ks_statistic(a, b)
    assert d == pytest.approx(ks_2samp(a, b).statistic)
    fa, fb = np.mean(a <= x), np.mean(b <= x)
    assert abs(fa - fb) == pytest.approx(d)


def test_truth_ratio_hist_and_ecdf():
    rng = np.random.default_rng(0)
    a, b = rng.lognormal(0, 1, 100), rng.lognormal(1, 1, 100)
    fig, ax = plt.subplots()
    out = P.plot_truth_ratio_hist({"finetuned": a, "retain": b}, ax=ax)
    assert out is ax and len(ax.patches) == 2 * 40 and ax.get_xscale() == "log"
    ax2 = P.plot_ks_ecdf(a, b, labels=("finetuned", "retain"))
    assert ax2 is not ax
    d = ks_2samp(a, b)
    legend = [t.get_text() for t in ax2.get_legend().get_texts()]
    assert any(f"D = {d.statistic:.3f}" in t and f"p = {plotting.format_number(d.pvalue)}" in t for t in legend)
    assert "finetuned (n = 100)" in legend
    ax2.figure.canvas.draw()
    assert not ax2.get_legend().get_window_extent().overlaps(ax2.get_window_extent())  # beside the curves
    with pytest.raises(ValueError):
        P.plot_truth_ratio_hist([np.nan])


def test_utility_components_bars_and_harmonic_mean():
    comps = {
        f"{s}_{m}": v
        for (s, m), v in zip(
            [
                (s, m)
                for s in ("retain", "real_authors", "world_facts")
                for m in ("probability", "rouge", "truth_ratio")
            ],
            [0.9, 0.8, 0.5, 0.4, 0.9, 0.6, 0.4, 0.9, 0.5],
        )
    }
    ax = P.plot_utility_components({"full": comps, "retain90": {k: v * 0.9 for k, v in comps.items()}})
    assert len(ax.patches) == 18
    mu = 9 / sum(1 / v for v in comps.values())
    assert any(math.isclose(line.get_ydata()[0], mu) for line in ax.get_lines())
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == "retain\nprobability" and labels[-1] == "world facts\ntruth ratio"
    ax = P.plot_utility_components(comps)  # a single model
    assert len(ax.patches) == 9


def test_ks_floor_and_means():
    ax = P.plot_ks_floor([40, 200, 300], points={"full vs retain90": (300, 1.8e-21)})
    y = ax.get_lines()[0].get_ydata()
    assert y[0] == pytest.approx(math.log10(1.86e-23), abs=0.01)
    assert y[2] == pytest.approx(math.log10(1.48e-179), abs=0.01)
    ax = P.plot_truth_ratio_means([1.0, 2.0], [0.9, 1.5])
    assert ax.get_xscale() == "log"
    with pytest.raises(ValueError, match="shape"):
        P.plot_truth_ratio_means([1.0], [1.0, 2.0])


def test_truth_ratio_figure_from_synthetic_numbers():
    """Two truth-ratio samples: ECDFs with the KS distance (statistic and p-value from scipy), histograms."""
    rng = np.random.default_rng(3)
    a, b = rng.lognormal(-0.5, 0.8, 40), rng.lognormal(0.0, 0.6, 40)
    fig = P.truth_ratio_figure(a, b, labels=("unlearned", "retain"))
    ecdf, hist = fig.axes
    res = ks_2samp(a, b)
    legend = [t.get_text() for t in ecdf.get_legend().get_texts()]
    assert f"KS D = {res.statistic:.3f}\np = {plotting.format_number(res.pvalue)}" in legend
    gap = [c for c in ecdf.collections if c.get_label().startswith("KS D")][0].get_segments()[0]
    assert abs(gap[1, 1] - gap[0, 1]) == pytest.approx(res.statistic)  # the drawn vertical gap is D
    assert ecdf.get_xscale() == "log" and hist.get_xscale() == "log"
    assert sum(p.get_height() for p in hist.patches) == 80
    assert "unlearned vs retain" in fig.get_suptitle()


def test_gallery_truth_ratio_figure_from_two_eval_logs():
    from npo_lab.gallery import tofu_truth_ratio_figure
    from npo_lab.tofu.metrics import ks_test

    rng = np.random.default_rng(4)

    def log(shift):
        para = rng.uniform(0.5, 2.0, 30)
        pert = para[:, None] + shift + rng.uniform(0, 0.5, (30, 5))
        return {"eval_log_forget.json": {"avg_paraphrased_loss": para.tolist(), "average_perturb_loss": pert.tolist()}}

    full, retain = log(1.0), log(0.0)
    fig = tofu_truth_ratio_figure(full, retain, labels=("full", "retain"))
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert f"p = {plotting.format_number(ks_test(full, retain)['pvalue'])}" in legend[-1]
    assert "(30 questions)" in fig.get_suptitle()
