"""Plot helpers for the toy dynamics, Theorem 2 and the synthetic experiment (notebooks 01–04).

Each helper takes data (arrays or a tidy DataFrame) and ``ax=None``, draws on that Axes (or a new one), and returns
it; none calls ``plt.show()`` or ``savefig``. :func:`synthetic_figure` builds the multi-panel reproductions of the
paper's Figs. 3, 4, 9 and returns the Figure.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .style import PALETTE, method_color

__all__ = [
    "label_colors",
    "plot_divergence",
    "plot_npo_curves",
    "plot_band",
    "plot_pareto",
    "synthetic_figure",
]

_METRIC_LABELS = {
    "forget_distance": "forget distance  KL(π_retr ‖ π_θ)",
    "retain_distance": "retain distance  KL(π_retr ‖ π_θ)",
    "forget_kl": "forget KL  KL(π_ref ‖ π_θ)",
}


def _ax(ax):
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.8))
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


def _fit(x, y, log_x):
    xx = np.log(x) if log_x else x
    slope, intercept = np.polyfit(xx, y, 1)
    return slope, intercept


def plot_divergence(
    curves: Mapping[str, np.ndarray],
    ax=None,
    *,
    log_t: bool = False,
    fit: bool | Sequence[str] = True,
    fit_from: float = 0.1,
    ylabel: str = "‖θ_t − θ_init‖",
    colors: Mapping[str, str] | None = None,
    max_points: int = 2000,
):
    """Curves ``value_t`` (index t = 0..T) against t on a linear or a log-t axis, each with its fitted line.

    The fit uses ``t ≥ fit_from·T`` and is linear in t (``log_t=False``) or in ln t (``log_t=True``); the legend
    shows the slope (per step, or per unit of ln t). ``fit``: True (every curve), False, or the labels to fit. GA is a straight line on the linear axis, NPO on the log axis.
    ``max_points`` subsamples long curves (log-spaced on the log axis) so that plots of 10⁵ steps stay fast.
    """
    ax = _ax(ax)
    colors = dict(colors or label_colors(list(curves)))
    for label, y in curves.items():
        y = np.asarray(y, dtype=np.float64)
        T = y.size - 1
        if T < 2:
            raise ValueError(f"curve {label!r} needs at least 3 points, got {y.size}")
        if log_t:
            idx = np.unique(np.geomspace(1, T, min(max_points, T)).astype(int))
        else:
            idx = np.unique(np.linspace(0, T, min(max_points, T + 1)).astype(int))
        c = colors.get(label, method_color(label))
        text = label
        if fit is True or (not isinstance(fit, bool) and label in fit):
            sel = idx[idx >= max(1, int(fit_from * T))]
            if sel.size >= 2:
                slope, intercept = _fit(sel.astype(float), y[sel], log_t)
                xs = sel.astype(float)
                ax.plot(xs, slope * (np.log(xs) if log_t else xs) + intercept, ls="--", lw=1, color=c, alpha=0.8)
                text = f"{label} (slope {slope:.3g}{' per ln t' if log_t else ' per step'})"
        ax.plot(idx, y[idx], color=c, lw=2, label=text)
    if log_t:
        ax.set_xscale("log")
    ax.set_xlabel("step t" + (" (log scale)" if log_t else ""))
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")
    return ax


def plot_npo_curves(curves: pd.DataFrame, quantity: str = "weight", ax=None, *, show_ga: bool = True):
    """NPO's adaptive weight ``W = 2σ(β·log_ratio)`` or loss against the log-ratio for several β.

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
    ax.set_xlabel("log-ratio  log π_θ(y|x) − log π_ref(y|x)")
    ax.set_ylabel("adaptive weight W = ∂L/∂logp" if quantity == "weight" else "loss")
    ax.legend(fontsize="small")
    return ax


def _check_df(df: pd.DataFrame, cols: Sequence[str]) -> None:
    missing = set(cols) - set(df.columns)
    if missing:
        raise ValueError(f"df lacks the columns {sorted(missing)}")
    if len(df) == 0:
        raise ValueError("df is empty")


def plot_band(
    df: pd.DataFrame,
    metric: str = "forget_distance",
    ax=None,
    *,
    x: str = "step",
    hue: str = "method",
    log_y: bool = False,
    colors: Mapping[str, str] | None = None,
    legend: bool = True,
):
    """Mean ± one standard deviation over seeds of ``metric`` against ``x``, one band per ``hue`` value."""
    _check_df(df, [x, hue, metric])
    ax = _ax(ax)
    labels = list(dict.fromkeys(df[hue]))
    colors = dict(colors or label_colors(labels))
    for lab in labels:
        g = df[df[hue] == lab].groupby(x)[metric]
        mean, sd = g.mean(), g.std(ddof=0).fillna(0.0)
        c = colors.get(lab, method_color(lab))
        ax.plot(mean.index, mean.values, color=c, lw=2, label=lab)
        lo = mean - sd
        if log_y:
            lo = lo.clip(lower=mean.values * 0.1)
        ax.fill_between(mean.index, lo.values, (mean + sd).values, color=c, alpha=0.18, lw=0)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(_METRIC_LABELS.get(metric, metric))
    if legend:
        ax.legend(fontsize="small")
    return ax


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
    """Forget-vs-retain trajectories (mean over seeds), start marked ★ and end ●; the ideal is the corner (0, 0)."""
    _check_df(df, ["step", hue, x, y])
    ax = _ax(ax)
    labels = list(dict.fromkeys(df[hue]))
    colors = dict(colors or label_colors(labels))
    start = None
    for lab in labels:
        g = df[df[hue] == lab].groupby("step")[[x, y]].mean()
        c = colors.get(lab, method_color(lab))
        ax.plot(g[x].values, g[y].values, color=c, lw=2, label=lab)
        ax.plot(g[x].values[-1:], g[y].values[-1:], "o", color=c, ms=6)
        start = g.iloc[0]
    if start is not None:
        ax.plot([start[x]], [start[y]], "*", color="k", ms=12, label="start (π_ref)", zorder=5)
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel(_METRIC_LABELS.get(x, x))
    ax.set_ylabel(_METRIC_LABELS.get(y, y))
    if legend:
        ax.legend(fontsize="small")
    return ax


def synthetic_figure(df: pd.DataFrame, kind: str = "figure4", *, title: str | None = None):
    """Multi-panel reproductions of the paper's synthetic-experiment figures from a
    :func:`npo_lab.theory.random_features_experiment` frame; returns the Figure.

    * ``"figure4"``: forget distance and retain distance against steps, mean ± sd over seeds (the methods).
    * ``"figure9"``: the forget-vs-retain trajectories (Pareto plot) and the forget KL to π_ref against steps.
    * ``"figure3"``: the β sweep — forget and retain distance against steps and the trajectories (NPO → GA as β → 0).
    """
    _check_df(df, ["step", "method", "forget_distance", "retain_distance", "forget_kl"])
    colors = label_colors(list(dict.fromkeys(df["method"])))
    alpha = df["alpha"].iloc[0] if "alpha" in df.columns else None
    n_seeds = df["seed"].nunique() if "seed" in df.columns else 1
    suffix = f"α = {alpha}, {n_seeds} seed{'s' if n_seeds != 1 else ''} (mean ± sd)" if alpha is not None else ""
    if kind == "figure4":
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
        plot_band(df, "forget_distance", axes[0], colors=colors, log_y=True, legend=False)
        plot_band(df, "retain_distance", axes[1], colors=colors, log_y=True)
        default = "Synthetic unlearning (paper Fig. 4): distance to the retrained model"
    elif kind == "figure9":
        fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
        plot_pareto(df, axes[0], colors=colors)
        plot_band(df, "forget_kl", axes[1], colors=colors, log_y=True, legend=False)
        default = "Synthetic unlearning (paper Fig. 9): trajectories and forget KL"
    elif kind == "figure3":
        fig, axes = plt.subplots(1, 3, figsize=(15, 4), constrained_layout=True)
        plot_band(df, "forget_distance", axes[0], colors=colors, log_y=True, legend=False)
        plot_band(df, "retain_distance", axes[1], colors=colors, log_y=True, legend=False)
        plot_pareto(df, axes[2], colors=colors)
        default = "β sweep (paper Fig. 3): NPO approaches GA as β → 0"
    else:
        raise ValueError(f"kind must be 'figure3', 'figure4' or 'figure9', got {kind!r}")
    for a in axes:
        a.set_xlabel(a.get_xlabel().replace("step", "unlearning step") if a.get_xlabel() == "step" else a.get_xlabel())
    fig.suptitle(title or f"{default}\n{suffix}".strip(), fontsize="medium")
    return fig
