"""Plot helpers for the TOFU metrics (notebook 07, and anything that shows truth ratios or model utility).

Each helper takes plain data (arrays, dicts of numbers) and ``ax=None``, draws on the given Axes (or a new one)
and returns it; none calls ``plt.show()`` or ``savefig``. Compute the data with :mod:`npo_lab.tofu.metrics`
(e.g. ``truth_ratios(log, "forget")``, ``utility_components(log)``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .style import format_number, label_color, legend_outside

__all__ = [
    "ks_statistic",
    "plot_truth_ratio_hist",
    "plot_ks_ecdf",
    "truth_ratio_figure",
    "plot_utility_components",
    "plot_ks_floor",
    "plot_truth_ratio_means",
]

_SECTION_LABELS = {"retain": "retain", "real_authors": "real authors", "world_facts": "world facts"}
_METRIC_LABELS = {"probability": "probability", "rouge": "ROUGE-L", "truth_ratio": "truth ratio"}


def _ax(ax):
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    return ax


def _color(label: str, i: int) -> str:
    return label_color(label, i)


def _as_series(data) -> dict[str, np.ndarray]:
    if isinstance(data, Mapping):
        return {str(k): np.asarray(v, dtype=float) for k, v in data.items()}
    return {"": np.asarray(data, dtype=float)}


def ks_statistic(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Two-sample KS statistic ``D = sup_x |F_a(x) − F_b(x)|`` of the two ECDFs and the ``x`` where it is
    reached (the smallest such x). ``D`` equals ``scipy.stats.ks_2samp(a, b).statistic``."""
    a = np.sort(np.asarray(a, dtype=float))
    b = np.sort(np.asarray(b, dtype=float))
    if a.size == 0 or b.size == 0:
        raise ValueError("a and b must be non-empty")
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / a.size
    fb = np.searchsorted(b, grid, side="right") / b.size
    diff = np.abs(fa - fb)
    i = int(np.argmax(diff))
    candidates = grid[np.isclose(diff, diff[i])]
    return float(diff[i]), float(candidates.min())


def plot_truth_ratio_hist(
    ratios,
    ax=None,
    *,
    bins: int = 40,
    log_x: bool = True,
    colors=None,
    density: bool = False,
    alpha: float = 0.5,
    mark_one: bool = True,
):
    """Histograms of per-question truth ratios ``R = P̃_para / geo-mean_j P̃_pert,j`` (one per model).

    ``ratios``: an array, or ``{label: array}``. With ``log_x`` (default) the bins are even in ``log R``, the
    natural scale (``log R = mean_j L̄_pert,j − L̄_para``); ``R = 1`` (no preference) is marked.
    """
    ax = _ax(ax)
    series = _as_series(ratios)
    all_vals = np.concatenate([v[np.isfinite(v) & (v > 0 if log_x else True)] for v in series.values()])
    if all_vals.size == 0:
        raise ValueError("ratios: no finite values to plot")
    lo, hi = all_vals.min(), all_vals.max()
    if log_x:
        edges = np.logspace(math.log10(lo) - 1e-9, math.log10(hi) + 1e-9, bins + 1)  # every value inside
        ax.set_xscale("log")
    else:
        edges = np.linspace(lo - 1e-12, hi + 1e-12, bins + 1)
    for i, (label, vals) in enumerate(series.items()):
        color = (colors or {}).get(label) if isinstance(colors, Mapping) else None
        ax.hist(
            vals,
            bins=edges,
            alpha=alpha,
            density=density,
            label=label or None,
            color=color or _color(label, i),
            edgecolor="white",
            linewidth=0.4,
        )
    if mark_one:
        ax.axvline(1.0, color="0.3", ls="--", lw=1)
    ax.set_xlabel(r"truth ratio $R$ = P(paraphrased) / geo-mean P(perturbed)")
    ax.set_ylabel("density" if density else "questions")
    if any(series):
        legend_outside(ax)
    return ax


def plot_ks_ecdf(
    a: Sequence[float],
    b: Sequence[float],
    ax=None,
    *,
    labels=("unlearned", "retain"),
    log_x: bool = True,
    pvalue: float | None = None,
    colors=None,
):
    """The empirical CDFs of two samples and the KS statistic ``D`` drawn as the vertical gap where they are
    farthest apart. The legend gives ``D`` and the p-value (``scipy.stats.ks_2samp`` unless ``pvalue`` is
    given): for truth ratios of the forget set, that p-value is TOFU's forget quality."""
    ax = _ax(ax)
    d, x = ks_statistic(a, b)
    a = np.sort(np.asarray(a, dtype=float))
    b = np.sort(np.asarray(b, dtype=float))
    if pvalue is None:
        from scipy.stats import ks_2samp

        pvalue = float(ks_2samp(a, b).pvalue)
    colors = list(colors) if colors is not None else [_color(labels[0], 0), _color(labels[1], 1)]
    for vals, label, c in zip((a, b), labels, colors):
        y = np.arange(1, vals.size + 1) / vals.size
        ax.step(
            np.concatenate([[vals[0]], vals]),
            np.concatenate([[0.0], y]),
            where="post",
            label=f"{label} (n = {vals.size})",
            color=c,
        )
    fa = np.searchsorted(a, x, side="right") / a.size
    fb = np.searchsorted(b, x, side="right") / b.size
    ax.vlines(
        x, min(fa, fb), max(fa, fb), color="crimson", lw=2.5, label=f"KS D = {d:.3f}\np = {format_number(pvalue)}"
    )
    ax.plot([x, x], [fa, fb], "o", color="crimson", ms=4)
    if log_x and a.min() > 0 and b.min() > 0:
        ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("truth ratio $R$")
    ax.set_ylabel("empirical CDF")
    legend_outside(ax)
    return ax


def truth_ratio_figure(
    a: Sequence[float],
    b: Sequence[float],
    *,
    labels=("unlearned", "retain"),
    pvalue: float | None = None,
    title: str | None = None,
):
    """Two forget-set truth-ratio samples side by side (TOFU's forget quality, App. E.1.2 of the NPO paper): their
    ECDFs with the KS distance (:func:`plot_ks_ecdf`) and their histograms on a log axis
    (:func:`plot_truth_ratio_hist`). Returns the Figure."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
    plot_ks_ecdf(a, b, left, labels=labels, pvalue=pvalue)
    plot_truth_ratio_hist(dict(zip(labels, (a, b))), right)
    right.legend().remove()  # the ECDF panel's legend names both samples
    fig.suptitle(title or f"forget-set truth ratios: {labels[0]} vs {labels[1]}", fontsize="medium")
    return fig


def plot_utility_components(components, ax=None, *, utility: Mapping[str, float] | None = None, colors=None):
    """Grouped bars of the nine parts of model utility ({probability, ROUGE-L, truth ratio} × {retain, real
    authors, world facts}) for one model (a dict of the nine values) or several (``{model: dict}``).

    A dashed line per model marks its model utility — the harmonic mean of its nine bars (computed here unless
    ``utility`` gives it), which sits close to the *smallest* bar.
    """
    ax = _ax(ax)
    if components and all(isinstance(v, Mapping) for v in components.values()):
        models = {str(k): dict(v) for k, v in components.items()}
    else:
        models = {"": dict(components)}
    keys = list(next(iter(models.values())).keys())
    n_models = len(models)
    width = 0.8 / n_models
    x = np.arange(len(keys))
    for i, (name, comps) in enumerate(models.items()):
        vals = np.array([comps[k] for k in keys], dtype=float)
        c = (colors or {}).get(name) if isinstance(colors, Mapping) else None
        c = c or _color(name, i)
        ax.bar(x + (i - (n_models - 1) / 2) * width, vals, width, color=c, label=name or None)
        mu = (utility or {}).get(name)
        if mu is None:
            mu = 0.0 if (vals <= 0).any() else len(vals) / float(np.sum(1.0 / vals))
        ax.axhline(mu, color=c, ls="--", lw=1.2, label=f"{name + ' ' if name else ''}model utility {mu:.3f}")
    labels = []
    for k in keys:
        sec, _, metric = next(
            ((s, "_", k[len(s) + 1 :]) for s in _SECTION_LABELS if k.startswith(s + "_")), (k, "", "")
        )
        labels.append(f"{_SECTION_LABELS.get(sec, sec)}\n{_METRIC_LABELS.get(metric, metric)}")
    ax.set_xticks(x)
    ax.set_xticklabels(labels, fontsize="small")
    ax.set_ylim(0, 1.3)
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_ylabel("value")
    ax.legend(fontsize="small", loc="upper center", ncol=2 * n_models if n_models > 1 else 2)
    return ax


def plot_ks_floor(
    ns: Sequence[int] | None = None,
    ax=None,
    *,
    points: Mapping[str, tuple[int, float]] | None = None,
    threshold: float = 0.05,
):
    """``log10`` of the smallest possible KS p-value ``2 / C(2n, n)`` against the sample size ``n``, with the
    0.05 threshold and optional measured forget qualities ``{label: (n, p)}``: a p-value only means something
    next to the floor for its own n."""
    ax = _ax(ax)
    ns = np.arange(1, 401) if ns is None else np.asarray(ns)
    floor = np.array([(math.log(2) - (math.lgamma(2 * n + 1) - 2 * math.lgamma(n + 1))) / math.log(10) for n in ns])
    ax.plot(ns, floor, color="0.2", label="floor: log10 2/C(2n, n)")
    ax.axhline(math.log10(threshold), color="tab:green", ls="--", lw=1, label=f"p = {threshold}")
    for i, (label, (n, p)) in enumerate((points or {}).items()):
        ax.plot([n], [math.log10(p) if p > 0 else np.nan], "o", color=_color(label, i), label=f"{label} (n={n})")
    ax.set_xlabel("n (forget questions, both samples)")
    ax.set_ylabel(r"$\log_{10}$ p-value")
    legend_outside(ax)
    return ax


def plot_truth_ratio_means(
    geometric: Sequence[float], arithmetic: Sequence[float], ax=None, *, label: str = "", color=None
):
    """Per-question truth ratio with the geometric vs the arithmetic mean over perturbed answers (log-log).

    Since an arithmetic mean of probabilities is never below their geometric mean, every point lies on or
    below the diagonal: the arithmetic R is smaller, most when the perturbed answers' probabilities differ a lot.
    """
    ax = _ax(ax)
    g = np.asarray(geometric, dtype=float)
    a = np.asarray(arithmetic, dtype=float)
    if g.shape != a.shape:
        raise ValueError(f"geometric and arithmetic must have the same shape, got {g.shape} and {a.shape}")
    ax.scatter(g, a, s=10, alpha=0.6, color=color or _color(label, 0), label=label or None)
    lo, hi = min(g.min(), a.min()), max(g.max(), a.max())
    ax.plot([lo, hi], [lo, hi], color="0.4", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("$R$, geometric mean of perturbed probabilities")
    ax.set_ylabel("$R$, arithmetic mean")
    if label:
        legend_outside(ax)
    return ax
