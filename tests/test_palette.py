"""One colour per method in every figure of the package: the palette of ``plotting/style.py``, used by the plot
helpers of every topic (theory, TOFU metrics, runs) and by the demo's utility-vs-step figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from npo_lab.losses import METHODS  # noqa: E402
from npo_lab.plotting import (  # noqa: E402
    OTHER_COLORS,
    PALETTE,
    base_method,
    label_color,
    method_color,
    plot_divergence,
    plot_forget_quality_vs_utility,
    plot_model_utility_over_epochs,
    plot_utility_components,
)

SHOWN = ("GA", "GA+RT", "NPO", "NPO+RT", "IDK+RT", "DPO+RT")


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _frames():
    rng = np.random.default_rng(0)
    return {
        m: pd.DataFrame(
            {
                "epoch": np.arange(4.0),
                "step": np.arange(4) * 5,
                "model_utility": np.linspace(0.6, 0.2 + 0.05 * i, 4),
                "forget_quality": np.sort(rng.uniform(1e-6, 0.5, 4)),
            }
        )
        for i, m in enumerate(SHOWN)
    }


def _colors_by_label(ax) -> dict[str, set[str]]:
    """label -> the hex colours of every line and collection carrying that label."""
    out: dict[str, set[str]] = {}
    for line in ax.get_lines():
        out.setdefault(line.get_label(), set()).add(to_hex(line.get_color()))
    for coll in ax.collections:
        faces = coll.get_facecolor()
        if len(faces):
            out.setdefault(coll.get_label(), set()).add(to_hex(faces[0]))
    for container in ax.containers:  # bars: the label sits on the container
        for patch in container.patches:
            out.setdefault(container.get_label(), set()).add(to_hex(patch.get_facecolor()))
    return out


def test_every_method_has_its_own_colour():
    assert set(METHODS) <= set(PALETTE), f"methods without a palette colour: {set(METHODS) - set(PALETTE)}"
    colours = [to_hex(PALETTE[m]) for m in [*METHODS, "finetuned", "retain"]]
    assert len(set(colours)) == len(colours), "two methods share a colour"
    assert not {to_hex(c) for c in OTHER_COLORS} & {to_hex(c) for c in PALETTE.values()}
    # matplotlib's default cycle starts with NPO's blue: non-method labels must not fall back to it
    assert to_hex("C0") in {to_hex(c) for c in PALETTE.values()}


def test_label_color_follows_the_method_a_label_names():
    assert label_color("NPO+RT") == method_color("NPO+RT")
    assert label_color("NPO+RT α=5") == method_color("NPO+RT") and base_method("NPO+RT α=5") == "NPO+RT"
    assert base_method("model A") is None
    assert label_color("model A", 0) == OTHER_COLORS[0] and label_color("model B", 1) == OTHER_COLORS[1]
    assert label_color("x", len(OTHER_COLORS)) == OTHER_COLORS[0]


def test_utility_vs_step_uses_the_palette():
    from npo_lab.experiments.reports import plot_utility_vs_step

    _, ax = plt.subplots()
    plot_utility_vs_step(_frames(), 0.6, ax=ax)
    colours = _colors_by_label(ax)
    for m in SHOWN:
        assert colours[m] == {to_hex(method_color(m))}, f"{m} drawn in {colours[m]}"


@pytest.mark.parametrize(
    "draw",
    [
        lambda frames, ax: plot_forget_quality_vs_utility(frames, ax=ax, annotate=False),
        lambda frames, ax: plot_model_utility_over_epochs(frames, ax=ax, finetuned=0.6),
    ],
    ids=["fq_vs_utility", "utility_over_epochs"],
)
def test_run_plots_use_the_palette(draw):
    _, ax = plt.subplots()
    draw(_frames(), ax)
    colours = _colors_by_label(ax)
    for m in SHOWN:
        assert colours.get(m) == {to_hex(method_color(m))}, f"{m} drawn in {colours.get(m)}"


def test_theory_and_tofu_plots_use_the_palette():
    _, ax = plt.subplots()
    t = np.arange(200.0)
    plot_divergence({"GA": 0.2 * t, "NPO": np.log1p(t)}, ax)
    colours = _colors_by_label(ax)
    for m in ("GA", "NPO"):
        assert any(to_hex(method_color(m)) in c for label, c in colours.items() if label.startswith(m))
    _, ax = plt.subplots()
    parts = {k: 0.5 for k in "abcdefghi"}
    plot_utility_components({"NPO": parts, "model A": parts, "model B": parts}, ax=ax)
    colours = _colors_by_label(ax)
    assert colours["NPO"] == {to_hex(method_color("NPO"))}
    palette = {to_hex(c) for c in PALETTE.values()}
    assert not (colours["model A"] | colours["model B"]) & palette, "a non-method drawn in a method's colour"
