"""Plot helpers for the toy dynamics, Theorem 2 and the synthetic experiment (paper Sec. 2.1, Theorem 2, Sec. 4).

Each helper takes data (arrays or a tidy DataFrame) and ``ax=None``, draws on that Axes (or a new one), and returns
it; none calls ``plt.show()`` or ``savefig``. :func:`synthetic_figure` builds the multi-panel reproductions of the
paper's Figs. 3, 4, 9 and returns the Figure. Legends sit beside the Axes (:func:`~.style.legend_outside`).

On a log axis, values that are zero up to float64 rounding (``≤ 1e-12 ×`` the largest, e.g. the KL divergence
at step 0, where the model still is the reference) or negative are left out rather than drawn at 1e-19.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from .style import PALETTE, PROJECTED_WIDTH, enlarge_text, format_number, legend_outside, method_color

__all__ = [
    "METRIC_LABELS",
    "DIVERGENCE_LABEL",
    "BANDS",
    "label_colors",
    "fit_curves",
    "plot_divergence",
    "plot_optimizer_divergence",
    "plot_npo_curves",
    "band_statistics",
    "coinciding_lines",
    "plot_band",
    "plot_pareto",
    "synthetic_figure",
]

#: axis labels of the synthetic experiment's metrics (mathtext)
METRIC_LABELS: dict[str, str] = {
    "forget_distance": r"forget distance $\mathrm{KL}(\pi_{\mathrm{retr}} \| \pi_\theta)$",
    "retain_distance": r"retain distance $\mathrm{KL}(\pi_{\mathrm{retr}} \| \pi_\theta)$",
    "forget_kl": r"forget-set $\mathrm{KL}(\pi_{\mathrm{ref}} \| \pi_\theta)$",
}
#: the distance of Theorem 2 (the ``XᵀX`` norm of the parameter change)
DIVERGENCE_LABEL = r"$\|\theta_t - \theta_{\mathrm{init}}\|_{X^\top X}$"
#: band kinds of :func:`plot_band`: (centre line, spread) as written in the legend
BANDS: dict[str, tuple[str, str]] = {
    "gsd": ("geometric mean", "×/÷ geometric sd"),
    "sd": ("mean", "± sd"),
    "iqr": ("median", "interquartile range"),
}
_ROUNDOFF = 1e-12
#: band styles of :func:`plot_band`: a shaded band, or a faint one with its edges drawn (overlapping bands stay apart)
BAND_STYLES = ("fill", "edges")
#: two centre lines closer than this fraction of the axis height (in the axis' scale) over at least
#: :data:`COINCIDE_SHARE` of their points are drawn one on the other: the later one would hide the earlier
COINCIDE = 0.01
COINCIDE_SHARE = 0.5
_ON_TOP = {"ls": (0, (5, 3)), "marker": "o", "markevery": 0.1, "mfc": "white", "ms": 5}


def _ax(ax):
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
    return ax


def label_colors(labels: Sequence[str]) -> dict[str, str]:
    """A colour per label: the method palette where the label is a method name, a viridis ramp for the others
    (e.g. ``"NPO β=0.1"``), in the given order."""
    labels = list(dict.fromkeys(labels))
    others = [lab for lab in labels if lab not in PALETTE]
    ramp = plt.get_cmap("viridis")(np.linspace(0.0, 0.85, max(len(others), 1)))
    colors = {lab: method_color(lab) for lab in labels if lab in PALETTE}
    for lab, c in zip(others, ramp):
        colors[lab] = c
    return colors


def _positive(values: np.ndarray, scale_max: float) -> np.ndarray:
    """``values`` with the non-positive ones (zero up to rounding relative to ``scale_max``) set to NaN."""
    values = np.asarray(values, dtype=np.float64).copy()
    values[~(values > _ROUNDOFF * scale_max)] = np.nan
    return values


def _index(T: int, log_t: bool, max_points: int) -> np.ndarray:
    if log_t:
        return np.unique(np.geomspace(1, T, min(max_points, T)).astype(int))
    return np.unique(np.linspace(0, T, min(max_points, T + 1)).astype(int))


def _step_axes(ax, log_t: bool, ylabel: str, legend: bool):
    """The step t on the x axis (a log scale with ``log_t``), ``ylabel``, the legend outside with ``legend``."""
    if log_t:
        ax.set_xscale("log")
    ax.set_xlabel("step $t$" + (" (log scale)" if log_t else ""))
    ax.set_ylabel(ylabel)
    if legend:
        legend_outside(ax)
    return ax


def fit_curves(
    curves: Mapping[str, np.ndarray], *, log_t: bool = False, fit_from: float = 0.1
) -> dict[str, tuple[np.ndarray, float, float]]:
    """Least-squares line ``y_t ≈ slope·x + intercept`` per curve over ``t ≥ fit_from·T``, ``x = t`` or ``ln t``.

    ``curves``: ``{label: y}`` with ``y[t]``, t = 0..T. Returns ``{label: (t used, slope, intercept)}`` (labels
    with fewer than 2 points in the window are left out). The window skips the start, before the asymptotic rate.
    """
    out = {}
    for label, y in curves.items():
        y = np.asarray(y, dtype=np.float64)
        T = y.size - 1
        t = _index(T, log_t, 2000)
        t = t[t >= max(1, int(fit_from * T))]
        if t.size >= 2:
            slope, intercept = np.polyfit(np.log(t) if log_t else t.astype(float), y[t], 1)
            out[label] = (t, float(slope), float(intercept))
    return out


def plot_divergence(
    curves: Mapping[str, np.ndarray],
    ax=None,
    *,
    log_t: bool = False,
    fit: bool | Sequence[str] = True,
    fit_from: float = 0.1,
    rates: Mapping[str, float] | None = None,
    rate_lines: bool = True,
    ylabel: str = DIVERGENCE_LABEL,
    colors: Mapping[str, str] | None = None,
    max_points: int = 2000,
    legend: bool = True,
):
    """Curves ``y_t`` (t = 0..T) against t on a linear or a log-t axis, with fitted and predicted slopes.

    ``fit`` (True, False or the labels to fit): a dashed least-squares line over ``t ≥ fit_from·T``
    (:func:`fit_curves`), linear in t or in ln t; its slope goes into the legend (per step, or per unit of ln t).
    ``rates``: ``{label: predicted slope}``, written next to the fitted slope and (``rate_lines``) drawn dotted
    through the curve's last point over the same window (it never stretches the axes). GA is a straight line on
    the linear axis, NPO on the log-t axis (Theorem 2).
    ``max_points`` subsamples long curves (log-spaced on the log axis).
    """
    ax = _ax(ax)
    colors = dict(colors or label_colors(list(curves)))
    rates = dict(rates or {})
    for label, y in curves.items():
        if np.asarray(y).size < 3:
            raise ValueError(f"curve {label!r} needs at least 3 points, got {np.asarray(y).size}")
    wanted = list(curves) if fit is True else [] if fit is False else list(fit)
    fits = fit_curves({k: curves[k] for k in wanted if k in curves}, log_t=log_t, fit_from=fit_from)
    unit = "per ln t" if log_t else "per step"
    for label, y in curves.items():
        y = np.asarray(y, dtype=np.float64)
        idx = _index(y.size - 1, log_t, max_points)
        c = colors.get(label, method_color(label))
        text = label
        if label in fits:
            t, slope, intercept = fits[label]
            x = np.log(t) if log_t else t.astype(float)
            ax.plot(t, slope * x + intercept, ls="--", lw=1, color=c, alpha=0.8)
            theory = f"\n(theory {format_number(rates[label])})" if label in rates else ""
            text = f"{label}: slope {format_number(slope)} {unit}{theory}"
            if label in rates and rate_lines:
                # add_artist: left out of the data limits, so that a far-off prediction never stretches the axes
                ax.add_artist(Line2D(t, y[-1] + rates[label] * (x - x[-1]), ls=":", lw=1.8, color=c))
        ax.plot(idx, y[idx], color=c, lw=2, label=text)
    if fits:
        ax.plot([], [], ls="--", lw=1, color="0.3", label="dashed: fit")
    if rate_lines and any(k in fits for k in rates):
        ax.plot([], [], ls=":", lw=1.8, color="0.3", label="dotted: theory")
    return _step_axes(ax, log_t, ylabel, legend)


def plot_optimizer_divergence(
    curves: Mapping[str, Mapping[str, np.ndarray]],
    ax=None,
    *,
    log_t: bool = False,
    ylabel: str = DIVERGENCE_LABEL,
    max_points: int = 2000,
    legend: bool = True,
):
    """The same methods under several optimisers: ``curves = {optimiser: {method: y_t}}`` (t = 0..T each) against
    t, one colour per method (the package palette), one line style per optimiser (solid, dashed, dotted, dash-dot).

    E.g. :func:`npo_lab.theory.single_logit_curves` under ``Optimizer("gd")``, ``"clipped_gd"`` and ``"adam"``: GA
    and NPO diverge linearly and logarithmically under plain GD (Theorem 2); the other optimisers change the size
    of the step. ``log_t`` puts t on a log axis (t ≥ 1).
    """
    if not curves or not all(curves.values()):
        raise ValueError("curves must map each optimiser to a non-empty {method: values} mapping")
    ax = _ax(ax)
    styles = ["-", "--", ":", "-."]
    if len(curves) > len(styles):
        raise ValueError(f"at most {len(styles)} optimisers per Axes, got {len(curves)}")
    methods = list(dict.fromkeys(m for runs in curves.values() for m in runs))
    colors = label_colors(methods)
    for style, (optimizer, runs) in zip(styles, curves.items()):
        for method, y in runs.items():
            y = np.asarray(y, dtype=np.float64)
            if y.ndim != 1 or y.size < 3:
                raise ValueError(f"curve {optimizer!r}/{method!r} must be 1-D with at least 3 points")
            idx = _index(y.size - 1, log_t, max_points)
            ax.plot(idx, y[idx], ls=style, lw=2, color=colors[method], label=f"{method}, {optimizer}")
    return _step_axes(ax, log_t, ylabel, legend)


def plot_npo_curves(curves: pd.DataFrame, quantity: str = "weight", ax=None, *, show_ga: bool = True):
    """NPO's adaptive weight ``W = 2σ(β·log_ratio)`` or loss against the log-ratio for several β (paper Fig. 1).

    ``curves`` is the tidy frame of :func:`npo_lab.theory.npo_curves` (columns ``log_ratio, beta, loss, weight,
    method``); ``quantity`` is ``"weight"`` or ``"loss"``. GA (weight 1, loss = log-ratio) is drawn dashed.
    """
    if quantity not in ("weight", "loss"):
        raise ValueError(f"quantity must be 'weight' or 'loss', got {quantity!r}")
    missing = {"log_ratio", "beta", quantity, "method"} - set(curves.columns)
    if missing:
        raise ValueError(f"curves lacks the columns {sorted(missing)}")
    ax = _ax(ax)
    npo = curves[curves["method"] == "NPO"]
    betas = sorted(npo["beta"].unique())
    ramp = plt.get_cmap("viridis")(np.linspace(0.0, 0.85, max(len(betas), 1)))
    for b, c in zip(betas, ramp):
        g = npo[npo["beta"] == b]
        ax.plot(g["log_ratio"], g[quantity], color=c, lw=2, label=f"NPO β={b:g}")
    if show_ga:
        g = curves[curves["method"] == "GA"]
        if len(g):
            ax.plot(g["log_ratio"], g[quantity], color=method_color("GA"), ls="--", lw=1.5, label="GA")
    ax.axvline(0.0, color="0.6", lw=0.8)
    ax.set_xlabel(r"log-ratio $\log\pi_\theta(y|x) - \log\pi_{\mathrm{ref}}(y|x)$")
    ax.set_ylabel(r"adaptive weight $W = \partial L / \partial \log\pi_\theta$" if quantity == "weight" else "loss")
    legend_outside(ax)
    return ax


def _check_df(df: pd.DataFrame, cols: Sequence[str]) -> None:
    missing = set(cols) - set(df.columns)
    if missing:
        raise ValueError(f"df lacks the columns {sorted(missing)}")
    if len(df) == 0:
        raise ValueError("df is empty")


def band_statistics(
    df: pd.DataFrame, metric: str, *, x: str = "step", by: str | None = None, band: str = "gsd", log_y: bool = False
) -> pd.DataFrame:
    """Centre line and band of ``metric`` over the rows (seeds) sharing an ``x`` value (and a ``by`` value, e.g.
    the method): columns ``center, lo, hi``, indexed by ``x`` (or by ``(by, x)``).

    * ``"gsd"``: ``exp(μ)`` and ``exp(μ ∓ s)``, μ and s the mean and (population) sd of ``log metric`` — the
      geometric mean ×/÷ the geometric sd, symmetric on a log axis and never below 0;
    * ``"sd"``: mean ± (population) sd — for linear axes only (its lower edge can be ≤ 0);
    * ``"iqr"``: the median and the 25th–75th percentiles.

    With ``log_y`` (or ``"gsd"``) non-positive values (zero up to float64 rounding) are left out first.
    """
    if band not in BANDS:
        raise ValueError(f"band must be one of {', '.join(BANDS)}, got {band!r}")
    if band == "sd" and log_y:
        raise ValueError("band='sd' (mean ± sd) is for linear axes; use 'gsd' or 'iqr' with log_y=True")
    keys = [x] if by is None else [by, x]
    _check_df(df, [*keys, metric])
    v = df[metric].to_numpy(dtype=np.float64)
    if log_y or band == "gsd":
        v = _positive(v, np.nanmax(np.abs(v), initial=0.0))
    index = pd.MultiIndex.from_frame(df[keys]) if by is not None else pd.Index(df[x])
    g = pd.Series(np.log(v) if band == "gsd" else v, index=index).dropna().groupby(level=list(range(len(keys))))
    if band == "gsd":
        mu, s = g.mean(), g.std(ddof=0).fillna(0.0)
        return pd.DataFrame({"center": np.exp(mu), "lo": np.exp(mu - s), "hi": np.exp(mu + s)})
    if band == "sd":
        mean, sd = g.mean(), g.std(ddof=0).fillna(0.0)
        return pd.DataFrame({"center": mean, "lo": mean - sd, "hi": mean + sd})
    return pd.DataFrame({"center": g.median(), "lo": g.quantile(0.25), "hi": g.quantile(0.75)})


def plot_band(
    df: pd.DataFrame,
    metric: str = "forget_distance",
    ax=None,
    *,
    x: str = "step",
    hue: str = "method",
    log_y: bool = False,
    band: str | None = None,
    target: float | None = None,
    target_label: str = r"target $\mathrm{KL}(\pi_{\mathrm{ref}} \| \pi_{\mathrm{retr}})$",
    colors: Mapping[str, str] | None = None,
    legend: bool = True,
    band_style: str = "fill",
    dashed: Mapping[str, str] | None = None,
):
    """``metric`` against ``x`` over seeds, one centre line and band per ``hue`` value (:func:`band_statistics`).

    ``band``: ``"gsd"`` (default on a log axis), ``"sd"`` (default on a linear axis) or ``"iqr"``; the legend
    says which, with the number of seeds. ``target``: a horizontal dashed line, e.g. the forget KL a perfectly
    unlearned model (``π_retr``) would reach. ``band_style``: ``"fill"`` (shaded) or ``"edges"`` (faint shading
    and the band's edges as thin lines: many overlapping bands stay apart).

    A centre line that lies on an earlier one (:func:`coinciding_lines`) is drawn dashed with open markers, and its
    legend entry says on which line it lies: no legend entry names a line nobody can see. ``dashed``: more
    ``{label: the line it lies on}`` to draw so (a figure whose panels share one legend passes its panels' union).
    """
    _check_df(df, [x, hue, metric])
    if band_style not in BAND_STYLES:
        raise ValueError(f"band_style must be one of {', '.join(BAND_STYLES)}, got {band_style!r}")
    band = band or ("gsd" if log_y else "sd")
    ax = _ax(ax)
    labels = list(dict.fromkeys(df[hue]))
    colors = dict(colors or label_colors(labels))
    stats = band_statistics(df, metric, x=x, by=hue, band=band, log_y=log_y)
    labels = [lab for lab in labels if lab in stats.index.get_level_values(0)]  # the others: nothing to draw
    under = {**coinciding_lines({lab: stats.loc[lab, "center"] for lab in labels}, log=log_y), **(dashed or {})}
    for lab in labels:
        st = stats.loc[lab]
        c = colors.get(lab, method_color(lab))
        note, style = (f" (dashed: on {under[lab]})", _ON_TOP) if lab in under else ("", {})
        ax.plot(st.index, st["center"], color=c, lw=2, label=lab + note, gid=lab, **style)
        ax.fill_between(st.index, st["lo"], st["hi"], color=c, alpha=0.18 if band_style == "fill" else 0.06, lw=0)
        for edge in ("lo", "hi") if band_style == "edges" else ():
            ax.plot(st.index, st[edge], color=c, lw=0.8, alpha=0.8, ls=":")
    if target is not None:
        ax.axhline(target, color="0.2", ls="--", lw=1.2, label=f"{target_label} = {format_number(target)}")
    n = df["seed"].nunique() if "seed" in df.columns else int(df.groupby([hue, x]).size().max())
    center, spread = BANDS[band]
    seeds = f"{n} seed{'s' if n != 1 else ''}"
    ax.fill_between([], [], color="0.5", alpha=0.3, label=f"line: {center}\nband: {spread}\n({seeds})")
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    if legend:
        legend_outside(ax)
    return ax


def coinciding_lines(
    curves: Mapping[str, pd.Series], *, log: bool = False, tol: float = COINCIDE, share: float = COINCIDE_SHARE
) -> dict[str, str]:
    """Which curves lie on an earlier one: ``{label: the earlier label}`` for every curve that, on at least
    ``share`` of the x values both have, is within ``tol`` × the height of the axis (the span of all curves, in
    log10 on a log axis) of a curve drawn before it. ``curves``: ``{label: y indexed by x}``, in drawing order."""

    def scaled(y: pd.Series) -> pd.Series:
        y = y.astype(float)
        return np.log10(y.where(y > 0)) if log else y

    ys = {lab: scaled(y).dropna() for lab, y in curves.items()}
    values = np.concatenate([y.to_numpy() for y in ys.values()] or [np.zeros(1)])
    span = float(values.max() - values.min()) if values.size else 0.0
    out: dict[str, str] = {}
    for i, (lab, y) in enumerate(ys.items()):
        for other in list(ys)[:i]:
            common = y.index.intersection(ys[other].index)
            if len(common) and float((np.abs(y[common] - ys[other][common]) <= tol * span).mean()) >= share:
                out[lab] = other
                break
    return out


def plot_pareto(
    df: pd.DataFrame,
    ax=None,
    *,
    x: str = "forget_distance",
    y: str = "retain_distance",
    hue: str = "method",
    log: bool = True,
    colors: Mapping[str, str] | None = None,
    legend: bool = True,
):
    """Forget-vs-retain trajectories (mean over seeds), start ★ and end ●; the ideal is the corner (0, 0)."""
    _check_df(df, ["step", hue, x, y])
    ax = _ax(ax)
    labels = list(dict.fromkeys(df[hue]))
    colors = dict(colors or label_colors(labels))
    start = None
    for lab in labels:
        g = df[df[hue] == lab].groupby("step")[[x, y]].mean()
        gx, gy = g[x].to_numpy(), g[y].to_numpy()
        if log:
            gx, gy = _positive(gx, np.nanmax(gx)), _positive(gy, np.nanmax(gy))
        c = colors.get(lab, method_color(lab))
        ax.plot(gx, gy, color=c, lw=2, label=lab)
        ax.plot(gx[-1:], gy[-1:], "o", color=c, ms=6)
        start = (gx[0], gy[0])
    if start is not None:
        ax.plot([start[0]], [start[1]], "*", color="k", ms=12, label=r"start ($\pi_{\mathrm{ref}}$)", zorder=5)
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel(METRIC_LABELS.get(x, x))
    ax.set_ylabel(METRIC_LABELS.get(y, y))
    if legend:
        legend_outside(ax)
    return ax


def synthetic_figure(
    df: pd.DataFrame, kind: str = "figure4", *, title: str | None = None, kl_target: float | None = None
):
    """Multi-panel reproductions of the paper's synthetic-experiment figures (Sec. 4) from a
    :func:`npo_lab.theory.random_features_experiment` frame; returns the Figure. Bands: geometric mean ×/÷
    geometric sd over seeds (log axes).

    * ``"figure4"``: forget and retain distance against steps (the methods).
    * ``"figure9"``: the forget-vs-retain trajectories and the forget KL to π_ref against steps, with the target
      ``kl_target = KL(π_ref ‖ π_retr)`` dashed when given.
    * ``"figure3"``: the β sweep — forget and retain distance against steps and the trajectories (NPO → GA as β → 0).
    """
    _check_df(df, ["step", "method", "forget_distance", "retain_distance", "forget_kl"])
    colors = label_colors(list(dict.fromkeys(df["method"])))
    panels = {
        "figure4": ("forget_distance", "retain_distance"),
        "figure9": ("pareto", "forget_kl"),
        "figure3": ("forget_distance", "retain_distance", "pareto"),
    }
    if kind not in panels:
        raise ValueError(f"kind must be 'figure3', 'figure4' or 'figure9', got {kind!r}")
    if kind == "figure3":
        fig = _beta_sweep(df, colors)
    else:
        n = len(panels[kind])
        fig, axes = plt.subplots(1, n, figsize=(4.6 * n + 2.2, 4), layout="constrained")
        hidden = _hidden(df, [what for what in panels[kind] if what != "pareto"])  # one legend for the panels
        for i, (ax, what) in enumerate(zip(axes, panels[kind])):
            last = i == n - 1
            if what == "pareto":
                plot_pareto(df, ax, colors=colors, legend=last)
                ax.set_title("mean over seeds: ★ start, ● end", fontsize="medium")
            else:
                target = kl_target if what == "forget_kl" else None
                plot_band(df, what, ax, colors=colors, log_y=True, legend=last, target=target, dashed=hidden)
                ax.set_xlabel("unlearning step")
    default = {
        "figure4": "Synthetic unlearning (paper Fig. 4): distance to the retrained model",
        "figure9": "Synthetic unlearning (paper Fig. 9): trajectories and forget KL",
        "figure3": "β sweep (paper Fig. 3): NPO approaches GA as β → 0",
    }[kind]
    gap = df["input_gap"].iloc[0] if "input_gap" in df.columns else None
    suffix = f"input gap {format_number(gap)}, " if gap is not None else ""
    n_seeds = df["seed"].nunique() if "seed" in df.columns else 1
    fig.suptitle(title or f"{default}\n{suffix}{n_seeds} seed{'s' if n_seeds != 1 else ''}", fontsize="medium")
    return enlarge_text(fig) if kind == "figure3" else fig


def _hidden(df: pd.DataFrame, metrics: Sequence[str]) -> dict[str, str]:
    """The centre lines (log axes, geometric mean) that lie on an earlier one in any of the ``metrics`` panels."""
    out: dict[str, str] = {}
    labels = list(dict.fromkeys(df["method"]))
    for metric in metrics:
        stats = band_statistics(df, metric, by="method", band="gsd", log_y=True)
        present = [lab for lab in labels if lab in stats.index.get_level_values(0)]
        for lab, other in coinciding_lines({k: stats.loc[k, "center"] for k in present}, log=True).items():
            out.setdefault(lab, other)
    return out


def _beta_sweep(df: pd.DataFrame, colors: Mapping[str, str]):
    """The β sweep laid out for a projector: :data:`~.style.PROJECTED_WIDTH` wide, the two distances on top, the
    trajectories and the legend below; bands as edges (many overlap); y ticks at 1, 2, 5 × 10ⁿ."""
    fig = plt.figure(figsize=(PROJECTED_WIDTH, 8.5), layout="constrained")
    axd = fig.subplot_mosaic([["forget_distance", "retain_distance"], ["pareto", "legend"]])
    hidden = _hidden(df, ("forget_distance", "retain_distance"))
    for what in ("forget_distance", "retain_distance"):
        plot_band(df, what, axd[what], colors=colors, log_y=True, legend=False, band_style="edges", dashed=hidden)
        axd[what].set_xlabel("unlearning step")
        _log_ticks(axd[what])
    plot_pareto(df, axd["pareto"], colors=colors, legend=False)
    axd["pareto"].set_title("mean over seeds: ★ start, ● end", fontsize="medium")
    handles, labels = axd["forget_distance"].get_legend_handles_labels()
    h, lab = axd["pareto"].get_legend_handles_labels()
    axd["legend"].axis("off")
    axd["legend"].legend(handles + h[-1:], labels + lab[-1:], loc="center left", frameon=False)
    return fig


def _log_ticks(ax) -> None:
    """Labelled ticks at 1, 2, 5 × 10ⁿ (1, 3 × 10ⁿ over more than 2.5 decades, 10ⁿ over more than 5) on a log
    y axis, written with :func:`~.style.format_number`."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    lo, hi = ax.get_ylim()
    decades = np.log10(hi / lo) if lo > 0 else np.inf
    subs = (1.0, 2.0, 5.0) if decades <= 2.5 else (1.0, 3.0) if decades <= 5 else (1.0,)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs, numticks=20))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_number(v, 2)))
    ax.yaxis.set_minor_locator(NullLocator())
