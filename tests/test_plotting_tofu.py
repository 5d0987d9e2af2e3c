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
    assert any(f"D = {d.statistic:.3f}" in t and f"{d.pvalue:.3g}" in t for t in legend)
    with pytest.raises(ValueError):
        P.plot_truth_ratio_hist([np.nan])


def test_utility_components_bars_and_harmonic_mean():
    comps = {f"{s}_{m}": v for (s, m), v in zip(
        [(s, m) for s in ("retain", "real_authors", "world_facts") for m in ("probability", "rouge", "truth_ratio")],
        [0.9, 0.8, 0.5, 0.4, 0.9, 0.6, 0.4, 0.9, 0.5])}
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
