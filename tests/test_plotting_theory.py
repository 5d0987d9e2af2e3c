"""Plot helpers for the theory notebooks and the gallery: they draw what they are given, say what their bands are,
and write numbers computed from the data."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from npo_lab import plotting  # noqa: E402
from npo_lab.plotting.theory import (  # noqa: E402
    band_statistics,
    fit_curves,
    label_colors,
    plot_band,
    plot_divergence,
    plot_npo_curves,
    plot_pareto,
    synthetic_figure,
)
from npo_lab.theory import fit_slope, npo_curves  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _frame():
    rows = []
    for seed in (0, 1, 2):
        for m, k in (("GA", 1.0), ("NPO", 0.3)):
            for step in (0, 10, 20):
                rows.append(
                    {
                        "seed": seed,
                        "method": m,
                        "step": step,
                        "forget_distance": 1.0 / (1 + k * step) + seed,
                        "retain_distance": 0.02 + k * step / 100,
                        "forget_kl": k * step,
                        "input_gap": 1,
                    }
                )
    return pd.DataFrame(rows)


def _outside(ax) -> bool:
    """The Axes' legend does not overlap its plotting area."""
    fig = ax.figure
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    return not legend.overlaps(ax.get_window_extent())


def _plain_text_outside_math(text: str) -> str:
    return re.sub(r"\$[^$]*\$", "", text)


def test_reexported():
    for name in (
        "plot_divergence",
        "plot_npo_curves",
        "plot_band",
        "plot_pareto",
        "synthetic_figure",
        "set_style",
        "METRIC_LABELS",
        "band_statistics",
        "format_number",
        "legend_outside",
        "reset_axes",
    ):
        assert hasattr(plotting, name)


@pytest.mark.parametrize(
    "value, text",
    [
        (0.0316228, "0.0316"),
        (0.501187, "0.501"),
        (-1.1834, "−1.18"),
        (123456.0, "1.23×10⁵"),
        (2e-5, "2×10⁻⁵"),
        (1.0, "1"),
        (250.0, "250"),
    ],
)
def test_format_number_three_significant_digits(value, text):
    assert plotting.format_number(value) == text


def test_divergence_fits_slope_and_theory():
    t = np.arange(1001, dtype=float)
    ax = plot_divergence({"GA": -2.0 * t, "NPO": -np.log1p(t)}, fit=["GA"], rates={"GA": -10.0})
    labels = [line.get_label() for line in ax.get_lines()]
    assert "GA: slope −2 per step\n(theory −10)" in labels, labels
    assert ax.get_ylim()[1] < 200  # the dotted predicted slope (up to +7000 at t = 100) does not stretch the axis
    assert _outside(ax)
    ax2 = plot_divergence({"NPO": -3 * np.log(np.maximum(t, 1))}, log_t=True)
    assert ax2.get_xscale() == "log"
    assert any("slope −3 per ln t" in line.get_label() for line in ax2.get_lines())
    _, ax3 = plt.subplots()
    assert plot_divergence({"GA": t}, ax3) is ax3
    with pytest.raises(ValueError, match="at least 3 points"):
        plot_divergence({"GA": np.zeros(2)})


def test_fit_curves_agree_with_the_theory_fit():
    t = np.arange(5001, dtype=float)
    y = -np.log1p(0.7 * t) / 0.5 + 0.01 * np.sin(t)
    ((window, slope, _),) = fit_curves({"NPO": y}, log_t=True).values()
    assert window[0] >= 500 and window[-1] == 5000
    assert slope == pytest.approx(fit_slope(window, y[window], log_t=True)[0], rel=1e-12)


def test_npo_curves_plot():
    df = npo_curves(betas=(0.1, 1.0))
    ax = plot_npo_curves(df, "weight")
    ys = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    assert set(ys) >= {"NPO β=0.1", "NPO β=1", "GA"}
    assert np.all(np.asarray(ys["GA"]) == 1.0)
    assert "_" not in _plain_text_outside_math(ax.get_xlabel() + ax.get_ylabel())
    assert plot_npo_curves(df, "loss").get_ylabel() == "loss"
    with pytest.raises(ValueError, match="quantity"):
        plot_npo_curves(df, "gradient")


def test_band_statistics_numbers():
    df = pd.DataFrame({"step": [0, 0, 0, 5, 5, 5], "v": [1.0, 2.0, 32.0, 2.0, 2.0, 2.0]})
    g = band_statistics(df, "v", band="gsd")
    mu, s = np.log([1, 2, 32]).mean(), np.log([1, 2, 32]).std()
    np.testing.assert_allclose(g.loc[0], [4.0, np.exp(mu - s), np.exp(mu + s)])
    assert g.loc[0, "center"] / g.loc[0, "lo"] == pytest.approx(g.loc[0, "hi"] / g.loc[0, "center"])  # ×/÷
    np.testing.assert_allclose(g.loc[5], [2.0, 2.0, 2.0])
    sd = band_statistics(df, "v", band="sd")
    assert sd.loc[0, "center"] == pytest.approx(35 / 3) and sd.loc[0, "lo"] < 0  # why mean ± sd is for linear axes
    iqr = band_statistics(df, "v", band="iqr")
    np.testing.assert_allclose(iqr.loc[0], [2.0, 1.5, 17.0])
    both = band_statistics(pd.concat([df.assign(m="a"), df.assign(m="b", v=2 * df.v)]), "v", by="m", band="gsd")
    np.testing.assert_allclose(both.loc["a"].to_numpy(), g.to_numpy())  # one group per (m, step)
    np.testing.assert_allclose(both.loc["b"].to_numpy(), 2 * g.to_numpy())
    with pytest.raises(ValueError, match="linear axes"):
        band_statistics(df, "v", band="sd", log_y=True)
    with pytest.raises(ValueError, match="band must be one of"):
        band_statistics(df, "v", band="minmax")


def test_band_on_log_axis_is_honest_and_skips_zero_kl():
    """Geometric band (never clipped), KL = 0 (and rounding noise) at step 0 left out, legend says what it is."""
    df = _frame()
    df.loc[df.step == 0, "forget_kl"] = [0.0, 0.0, 9e-19, -2e-20, 0.0, 0.0]
    ax = plot_band(df, "forget_kl", log_y=True, target=0.37)
    line = [ln for ln in ax.get_lines() if ln.get_label() == "GA"][0]
    np.testing.assert_array_equal(line.get_xdata(), [10, 20])
    ga = df[(df.method == "GA") & (df.step > 0)].groupby("step")["forget_kl"]
    np.testing.assert_allclose(line.get_ydata(), np.exp(np.log(ga.apply(np.asarray).tolist()).mean(axis=1)))
    ax.figure.canvas.draw()
    assert ax.get_ylim()[0] > 1e-3  # not stretched to 1e-19
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("geometric mean" in t and "×/÷ geometric sd" in t and "3 seeds" in t for t in labels), labels
    assert any(t.startswith("target") and t.endswith("= 0.37") for t in labels)
    assert _outside(ax)


def test_band_linear_default_is_mean_sd():
    df = _frame()
    ax = plot_band(df, "forget_distance")
    line = [ln for ln in ax.get_lines() if ln.get_label() == "GA"][0]
    expected = df[df.method == "GA"].groupby("step")["forget_distance"].mean().to_numpy()
    np.testing.assert_allclose(line.get_ydata(), expected)
    assert any("mean\nband: ± sd" in t.get_text() for t in ax.get_legend().get_texts())
    with pytest.raises(ValueError, match="lacks the columns"):
        plot_band(df, "missing_metric")


def test_pareto_and_figures():
    df = _frame()
    ax = plot_pareto(df)
    assert ax.get_xscale() == "log" and "forget distance" in ax.get_xlabel()
    for kind, n in (("figure3", 3), ("figure4", 2), ("figure9", 2)):
        fig = synthetic_figure(df, kind, kl_target=0.5)
        panels = [a for a in fig.axes if a.axison]  # figure3 holds its legend in a panel of its own
        assert len(panels) == n
        assert "input gap 1, 3 seeds" in fig.get_suptitle()
        for a in panels:
            assert "_" not in _plain_text_outside_math(a.get_xlabel() + a.get_ylabel())
        if kind == "figure3":
            fig.canvas.draw()
            (holder,) = [a for a in fig.axes if not a.axison]
            box = holder.get_legend().get_window_extent()
            assert not any(box.overlaps(a.get_window_extent()) for a in panels)
        else:
            assert _outside(fig.axes[-1])
    kl = synthetic_figure(df, "figure9", kl_target=0.5).axes[1]
    assert any(line.get_ydata()[0] == 0.5 for line in kl.get_lines() if line.get_linestyle() == "--")
    with pytest.raises(ValueError, match="kind"):
        synthetic_figure(df, "figure7")


def test_label_colors():
    c = label_colors(["GA", "NPO β=0.1", "NPO β=1"])
    assert c["GA"] == plotting.method_color("GA")
    assert c["NPO β=0.1"] is not c["NPO β=1"]


def test_gallery_captions_are_computed():
    """Fitted slopes in the legend are the least-squares slopes of the curves drawn; settings print with 3
    significant digits; titles stay inside the figure."""
    from npo_lab.gallery import divergence_figure, single_logit_figure
    from npo_lab.theory import logistic_divergence, single_logit

    fig = single_logit_figure(steps=10_000, lr=0.0316228, betas=(0.501187,))
    assert "η = 0.0316, β = 0.501" in fig.get_suptitle()
    npo = single_logit("NPO", 10_000, 0.0316228, 0.501187) - 2.0
    window, slope, _ = fit_curves({"NPO": npo}, log_t=True)["NPO"]
    labels = [line.get_label() for line in fig.axes[1].get_lines()]
    assert f"NPO: slope {plotting.format_number(slope)} per ln t\n(theory −2)" in labels, labels
    fig.canvas.draw()
    box = fig.bbox
    for text in (fig._suptitle, *(a.title for a in fig.axes)):
        ext = text.get_window_extent()
        assert box.x0 <= ext.x0 and ext.x1 <= box.x1 and ext.y1 <= box.y1
    fig = divergence_figure(steps=300, n_f=4, d=32, lr=0.5, betas=(1.0,))
    ga, n = logistic_divergence("GA", 4, 32, 300, 0.5), logistic_divergence("NPO", 4, 32, 300, 0.5)
    assert f"GA {plotting.format_number(ga[-1])}, NPO {plotting.format_number(n[-1])}" in fig.get_suptitle()
    assert any("(theory 0.25)" in line.get_label() for line in fig.axes[0].get_lines())  # η/√n_f
    assert any("(theory 2)" in line.get_label() for line in fig.axes[1].get_lines())  # √n_f/β


def test_gallery_quick(tmp_path, monkeypatch):
    from npo_lab.gallery import make_gallery

    monkeypatch.setenv("NPO_LAB_CACHE", str(tmp_path / "cache"))
    paths = make_gallery(tmp_path / "figs", quick=True)
    assert [p.name for p in paths] == [
        "single_logit.png",
        "divergence.png",
        "synthetic_figure4.png",
        "synthetic_trajectories.png",
        "tofu_truth_ratios.png",
    ]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)


# --- figures read in a lecture room: no hidden line without a note, projected text, bands that stay apart ---------
def _sweep_frame(labels, *, same=()):
    """Seeds × labels × steps of decaying distances (one decade); ``same`` pairs (a, b): b copies a's values."""
    rows = []
    rates = {lab: 0.02 * (i + 1) for i, lab in enumerate(labels)}
    for a, b in same:
        rates[b] = rates[a]
    for seed in range(3):
        for lab in labels:
            for step in range(0, 201, 10):
                k = rates[lab]
                f = 0.05 + np.exp(-k * step) * (1 + 0.1 * seed)
                rows.append(
                    {
                        "seed": seed,
                        "method": lab,
                        "step": step,
                        "forget_distance": f,
                        "retain_distance": 0.01 + k * step / 50 * (1 + 0.05 * seed),
                        "forget_kl": k * step + 1e-3,
                        "input_gap": 1,
                    }
                )
    return pd.DataFrame(rows)


def _centre_lines(ax):
    return {ln.get_gid(): ln for ln in ax.get_lines() if ln.get_gid()}


def test_a_line_drawn_on_another_is_dashed_and_its_legend_says_so():
    from npo_lab.plotting.theory import COINCIDE, COINCIDE_SHARE

    df = _sweep_frame(["GA+RT", "DPO+RT", "DPO+KL", "NPO+RT"], same=[("DPO+RT", "DPO+KL")])
    fig = synthetic_figure(df, "figure4")
    legend = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    for ax in fig.axes:
        lines = _centre_lines(ax)
        assert set(lines) == {"GA+RT", "DPO+RT", "DPO+KL", "NPO+RT"}
        y = {k: np.log10(ln.get_ydata()) for k, ln in lines.items()}
        span = max(v.max() for v in y.values()) - min(v.min() for v in y.values())
        order = list(lines)
        for i, lab in enumerate(order):
            hidden_by = [o for o in order[:i] if (np.abs(y[lab] - y[o]) <= COINCIDE * span).mean() >= COINCIDE_SHARE]
            if hidden_by:  # the legend must say so, and the line must show (dashes, markers)
                assert any(t.startswith(lab) and f"on {hidden_by[0]}" in t for t in legend), legend
                assert lines[lab].get_linestyle() != "-" and lines[lab].get_marker() not in (None, "None", "")
    assert "DPO+KL (dashed: on DPO+RT)" in legend
    assert "NPO+RT" in legend and "GA+RT" in legend  # the lines apart keep their plain names


def test_coinciding_lines_compares_in_the_axis_scale():
    from npo_lab.plotting.theory import coinciding_lines

    x = pd.Index([0, 1, 2])
    a, b = pd.Series([1.0, 0.1, 0.01], index=x), pd.Series([1.0, 0.1, 0.0101], index=x)
    far = pd.Series([1.0, 0.5, 0.2], index=x)
    assert coinciding_lines({"a": a, "b": b, "c": far}, log=True) == {"b": "a"}
    assert coinciding_lines({"a": a, "c": far}, log=True) == {}  # one point in three in common: both show
    assert coinciding_lines({"a": a, "c": far}, log=True, share=0.3) == {"c": "a"}
    assert coinciding_lines({"a": a, "b": b}, log=False, tol=1e-4) == {"b": "a"}  # equal at two points of three


def test_beta_sweep_reads_when_projected():
    from matplotlib.collections import PolyCollection

    from npo_lab.plotting.style import PROJECTED_FONT_SIZE, projected_font_size

    labels = [f"NPO β={b:g}" for b in (0.01, 0.1, 0.5, 1, 2)] + ["GA"]
    fig = synthetic_figure(_sweep_frame(labels), "figure3")
    fig.canvas.draw()
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text()]
    small = {t.get_text(): round(projected_font_size(t, fig), 1) for t in texts}
    small = {k: v for k, v in small.items() if v < PROJECTED_FONT_SIZE}
    assert small == {}, f"text below {PROJECTED_FONT_SIZE} pt when projected: {small}"
    forget = next(ax for ax in fig.axes if ax.get_ylabel().startswith("forget distance"))
    lo, hi = forget.get_ylim()
    labelled = [t for t in forget.yaxis.get_major_ticks() if lo <= t.get_loc() <= hi and t.label1.get_text()]
    assert len(labelled) >= 4, [t.label1.get_text() for t in labelled]
    for ax in fig.axes:
        bands = [c for c in ax.collections if isinstance(c, PolyCollection) and len(c.get_paths())]
        assert all(c.get_alpha() <= 0.1 for c in bands), "shaded bands too dark: they merge where they overlap"
        if bands:  # each band's edges are drawn, so that overlapping bands stay apart
            edges = [ln for ln in ax.get_lines() if not ln.get_gid() and ln.get_linestyle() == ":"]
            assert len(edges) == 2 * len(bands)


def test_explorer_titles_inside_the_image_and_all_methods_listed():
    pytest.importorskip("ipywidgets")
    from npo_lab.widgets import SyntheticExplorer

    methods = ["GA", "GA+RT", "IDK+RT", "NPO", "NPO+RT", "DPO+RT", "GA+KL", "DPO+KL", "NPO+KL"]
    with matplotlib.rc_context():
        plotting.set_style()  # the notebooks' fonts, larger than matplotlib's defaults
        demo = SyntheticExplorer(_sweep_frame(methods, same=[("DPO+RT", "DPO+KL")]))
        demo.update()
    width, height = demo.figure.canvas.get_width_height()
    renderer = demo.figure.canvas.get_renderer()
    for ax in demo.axes:
        box = ax.title.get_window_extent(renderer)
        assert ax.get_title() and box.x0 >= 0 and box.x1 <= width and box.y1 <= height, (ax.get_title(), box, width)
    assert demo.controls()["methods"].rows >= len(methods)
    assert demo.caption().split("lowest: ")[1].split(" (")[0] in methods
