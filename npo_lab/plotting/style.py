"""The one explicit style switch, the colours used for methods across every figure, and two small conventions
shared by every helper: numbers in titles and legends (:func:`format_number`) and legends beside the data
(:func:`legend_outside`); :func:`reset_axes` empties an Axes for a redraw."""

from __future__ import annotations

import math

import matplotlib as mpl
import matplotlib.pyplot as plt

# One colour per method, shared by every plot so that NPO is the same colour in notebook 01 and notebook 08.
PALETTE: dict[str, str] = {
    "GA": "#d62728",
    "GA+RT": "#ff7f0e",
    "GA+KL": "#e377c2",
    "IDK+RT": "#8c564b",
    "DPO": "#9467bd",
    "DPO+RT": "#7f3fbf",
    "DPO+KL": "#bcbd22",
    "NPO": "#1f77b4",
    "NPO+RT": "#2ca02c",
    "NPO+KL": "#17becf",
    "SimNPO": "#393b79",
    "finetuned": "#7f7f7f",
    "retain": "#000000",
}

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


#: colours for labels that are not methods (two models of one table, sample sizes, ...): none is a method's
#: colour, so a figure never shows a non-method in, say, NPO's blue (matplotlib's default cycle starts with it)
OTHER_COLORS: tuple[str, ...] = ("#4c4c4c", "#a0522d", "#6b8e23", "#b8860b", "#708090", "#c71585", "#2f4f4f")


def method_color(name: str) -> str:
    """The palette colour of a method (or a neutral grey for names not in the palette)."""
    return PALETTE.get(name, "#555555")


def base_method(label: str) -> str | None:
    """The method a label names: the label itself, or its first word (``"NPO+RT α=5"`` → ``"NPO+RT"``); None when
    neither is in :data:`PALETTE`."""
    label = str(label)
    if label in PALETTE:
        return label
    first = label.split(" ")[0]
    return first if first in PALETTE else None


def label_color(label: str, index: int = 0) -> str:
    """The colour of a labelled series: its method's palette colour when the label names a method
    (:func:`base_method`), else ``OTHER_COLORS[index]`` (cycled). Every plot helper colours series through this
    or :func:`method_color`, so a method has one colour in every figure of the package."""
    method = base_method(label)
    return PALETTE[method] if method is not None else OTHER_COLORS[index % len(OTHER_COLORS)]


def format_number(value: float, digits: int = 3) -> str:
    """``value`` rounded to ``digits`` significant digits for titles and legends, with a true minus sign and
    powers of ten as superscripts: ``0.0316228 → "0.0316"``, ``-1.1834 → "−1.18"``, ``123456 → "1.23×10⁵"``."""
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}×10{str(int(exponent)).translate(_SUPERSCRIPT)}"
    return text.replace("-", "−")


def legend_outside(ax, **kw):
    """A legend to the right of the Axes, outside the plotting area, so that it never covers a curve (a figure
    with ``layout="constrained"`` or saved with ``bbox_inches="tight"`` makes room for it). Extra keywords go to
    ``ax.legend``; returns the Legend (``None`` when nothing is labelled)."""
    if not ax.get_legend_handles_labels()[0] and "handles" not in kw:
        return None
    kw.setdefault("fontsize", "small")
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kw)


def reset_axes(ax) -> None:
    """Remove what was drawn on ``ax`` (lines, collections, patches, texts, legend) and reset its scales and
    autoscaling, so that the helpers can draw afresh. Unlike ``ax.clear()`` it keeps the Axes' tick objects, which
    matplotlib would otherwise rebuild: a widget redraw stays cheap."""
    for artist in [*ax.lines, *ax.collections, *ax.patches, *ax.texts]:
        artist.remove()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    if ax.get_xscale() != "linear":
        ax.set_xscale("linear")
    if ax.get_yscale() != "linear":
        ax.set_yscale("linear")
    ax.ignore_existing_data_limits = True
    ax.set_autoscale_on(True)
    ax.set_prop_cycle(None)
    ax.set_title("")


def set_style(context: str = "notebook", font_scale: float = 1.0) -> None:
    """Apply the package's plot style (seaborn whitegrid, readable fonts). The only global-state change."""
    import seaborn as sns

    sns.set_theme(context=context, style="whitegrid", font_scale=font_scale)
    mpl.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "axes.spines.top": False, "axes.spines.right": False})
    plt.rcParams["legend.frameon"] = False


#: the smallest text, in points, that stays readable when a figure is projected in a lecture room, for a figure
#: shown :data:`PROJECTED_WIDTH` inches wide (a notebook's output column at the inline backend's 100 dpi)
PROJECTED_FONT_SIZE = 12.0
#: the width, in inches, at which a notebook shows a figure; a wider figure is scaled down to it
PROJECTED_WIDTH = 10.0


def projected_font_size(text, figure) -> float:
    """The size, in points, of ``text`` once ``figure`` is scaled down to :data:`PROJECTED_WIDTH` (unchanged for a
    figure no wider than that)."""
    return text.get_fontsize() * min(1.0, PROJECTED_WIDTH / figure.get_figwidth())


def enlarge_text(figure, size: float = PROJECTED_FONT_SIZE):
    """Raise every visible text of ``figure`` (titles, axis labels, tick labels, legends) whose projected size
    (:func:`projected_font_size`) is below ``size`` to ``size``; returns the figure. Tick labels are set through
    ``tick_params``, so that ticks created at a later draw get the size too."""
    from matplotlib.text import Text

    scale = min(1.0, PROJECTED_WIDTH / figure.get_figwidth())
    target = size / scale
    for ax in figure.axes:
        for axis, name in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            ticks = axis.get_major_ticks() + axis.get_minor_ticks()
            if any(t.label1.get_fontsize() < target for t in ticks) or not ticks:
                ax.tick_params(axis=name, which="both", labelsize=target)
    for text in figure.findobj(Text):
        if text.get_visible() and text.get_text() and text.get_fontsize() < target:
            text.set_fontsize(target)
    return figure
