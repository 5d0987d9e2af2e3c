"""Plot helpers for unlearning runs over epochs (the paper's Figs. 2, 5, 6, 7, 8, 10, 11 style).

Every helper takes the runs in one of three forms and returns the Axes (never ``plt.show()``/``savefig``):

* a ``pandas.DataFrame`` with one row per evaluation and a ``method`` column (``npo_lab.runs.load_runs``);
* a dict ``{label: DataFrame | list of dicts}`` (one entry per run, e.g. ``{"NPO+RT": load_run(d)}``);
* the ``methods`` part of the demo's ``summary.json`` (``{label: {"epochs": [...], ...}}``).

Forget quality is a KS-test p-value that spans twenty orders of magnitude and only means "forgotten" above ≈ 0.05,
so it is drawn on the paper's **dual scale** (:func:`set_dual_scale`): logarithmic below a threshold (default 0.1)
and linear above it, so that both "how many decades away" and "how close to 1" stay readable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .style import legend_outside, method_color

__all__ = [
    "set_dual_scale",
    "dual_scale_label",
    "runs_by_label",
    "plot_forget_quality_vs_utility",
    "plot_run_metric",
    "plot_forget_quality_over_epochs",
    "plot_model_utility_over_epochs",
    "plot_forget_probability_over_epochs",
    "plot_forget_kl_over_epochs",
    "plot_run_panels",
]

FQ_THRESHOLD = 0.05  # forget quality above this counts as meaningful forgetting (TOFU's convention)
_MARKERS = {
    "GA": "x",
    "GA+RT": "X",
    "GA+KL": "P",
    "NPO": "o",
    "NPO+RT": "s",
    "NPO+KL": "D",
    "IDK+RT": "^",
    "DPO": "v",
    "DPO+RT": "<",
    "DPO+KL": ">",
    "SimNPO": "*",
}


# --------------------------------------------------------------------------------------------------------------
# the dual linear/log scale
# --------------------------------------------------------------------------------------------------------------
def _dual_functions(threshold: float, floor: float, linear_decades: float):
    t, lo, d = float(threshold), float(floor), float(linear_decades)

    def forward(y):
        y = np.clip(np.asarray(y, dtype=float), lo, None)
        with np.errstate(divide="ignore", invalid="ignore"):
            below = np.log10(y / t)
        above = (y - t) / (1.0 - t) * d
        return np.where(y <= t, below, above)

    def inverse(u):
        u = np.asarray(u, dtype=float)
        below = t * np.power(10.0, np.minimum(u, 0.0))
        above = t + np.maximum(u, 0.0) / d * (1.0 - t)
        return np.where(u <= 0, below, above)

    return forward, inverse


def set_dual_scale(
    ax,
    *,
    axis: str = "y",
    threshold: float = 0.1,
    floor: float = 1e-12,
    linear_decades: float = 3.0,
    max_log_ticks: int = 6,
):
    """Put ``ax``'s ``axis`` on a dual scale: log10 below ``threshold``, linear from ``threshold`` to 1.

    The linear part [threshold, 1] is drawn as tall as ``linear_decades`` decades of the log part. Values below
    ``floor`` are clipped to it (forget quality can be ~1e-100; the KS floor of n questions is ``2/C(2n, n)``).
    Returns ``ax``.
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    if not (0 < floor < threshold < 1):
        raise ValueError(f"need 0 < floor < threshold < 1, got floor={floor!r}, threshold={threshold!r}")
    forward, inverse = _dual_functions(threshold, floor, linear_decades)
    set_scale = ax.set_yscale if axis == "y" else ax.set_xscale
    set_scale("function", functions=(forward, inverse))
    lo_dec = int(np.floor(np.log10(floor)))
    hi_dec = int(np.floor(np.log10(threshold)))
    step = max(1, int(np.ceil((hi_dec - lo_dec) / max_log_ticks)))
    log_ticks = [10.0**k for k in range(hi_dec, lo_dec - 1, -step) if 10.0**k < threshold * 0.999]
    lin_ticks = [threshold] + [v for v in (0.25, 0.5, 0.75, 1.0) if v > threshold * 1.5]
    ticks = sorted(set(log_ticks + lin_ticks))

    def fmt(v, _pos=None):
        if v >= threshold * 0.999:
            return f"{v:g}"
        return f"1e{int(round(np.log10(v)))}"

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(FixedLocator(ticks))
    target.set_major_formatter(FuncFormatter(fmt))
    target.set_minor_locator(NullLocator())
    (ax.set_ylim if axis == "y" else ax.set_xlim)(floor, 1.0)
    line = ax.axhline if axis == "y" else ax.axvline
    line(threshold, color="0.6", lw=0.6, ls=":", zorder=0)
    return ax


def dual_scale_label(name: str, threshold: float = 0.1) -> str:
    """The axis label of a dual-scale axis (:func:`set_dual_scale`): the quantity and where the scale changes."""
    return f"{name} (log below {threshold:g}, linear above)"


# --------------------------------------------------------------------------------------------------------------
# input normalisation
# --------------------------------------------------------------------------------------------------------------
def _frame(records) -> Any:
    import pandas as pd

    if isinstance(records, pd.DataFrame):
        df = records.copy()
    elif isinstance(records, Mapping) and "epochs" in records:
        df = pd.DataFrame(list(records["epochs"]))
    else:
        df = pd.DataFrame(list(records))
    if "epoch" not in df.columns:
        if "step" in df.columns:
            df["epoch"] = df["step"]
        else:
            df["epoch"] = np.arange(len(df), dtype=float)
    return df.sort_values("epoch", kind="stable").reset_index(drop=True)


def runs_by_label(runs, label: str = "method") -> dict[str, Any]:
    """Normalise ``runs`` (see the module docstring) to ``{label: DataFrame sorted by epoch}``."""
    import pandas as pd

    if isinstance(runs, pd.DataFrame):
        if runs.empty:
            raise ValueError("runs is an empty DataFrame")
        key = label if label in runs.columns else ("run" if "run" in runs.columns else None)
        if key is None:
            return {"run": _frame(runs)}
        return {str(name): _frame(g) for name, g in runs.groupby(key, sort=False)}
    if isinstance(runs, Mapping):
        if not runs:
            raise ValueError("runs is empty")
        return {str(k): _frame(v) for k, v in runs.items()}
    raise ValueError(f"runs must be a DataFrame or a dict of runs, got {type(runs).__name__}")


def _style(name: str) -> dict:
    base = name.split(" ")[0]
    return {"color": method_color(base), "marker": _MARKERS.get(base, "o")}


def _values(df, column: str) -> np.ndarray:
    if column not in df.columns:
        raise ValueError(f"the runs have no column {column!r}; available: {sorted(df.columns)}")
    return np.asarray([np.nan if v is None else float(v) for v in df[column]], dtype=float)


def _finite_floor(values: Sequence[float], default: float = 1e-12) -> float:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x) and x > 0], dtype=float)
    if v.size == 0:
        return default
    return float(10.0 ** np.floor(np.log10(v.min())))


# --------------------------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------------------------
def plot_forget_quality_vs_utility(
    runs,
    *,
    finetuned: Mapping | None = None,
    retain: Mapping | None = None,
    ax=None,
    threshold: float = 0.1,
    floor: float | None = None,
    annotate: bool = True,
    label: str = "method",
):
    """Forget quality (dual linear/log y) against model utility (x), one path per run over its epochs.

    The paper's Fig. 2/5: a good method moves *up* (forget quality → 1, like the retain model) while staying
    *right* (model utility kept). ``finetuned``/``retain``: dicts with ``model_utility`` (and ``forget_quality``)
    drawn as reference markers (paths start at the fine-tuned model when its numbers are given and the runs have
    no epoch-0 row). The dashed line is forget quality 0.05 ("meaningful forgetting").
    ``annotate`` writes the last epoch next to each path's end.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.2), layout="constrained")
    frames = runs_by_label(runs, label)
    fq_all = []
    start = None
    if (
        finetuned is not None
        and finetuned.get("forget_quality") is not None
        and finetuned.get("model_utility") is not None
    ):
        start = (float(finetuned["model_utility"]), float(finetuned["forget_quality"]))
    for name, df in frames.items():
        fq, mu = _values(df, "forget_quality"), _values(df, "model_utility")
        ok = np.isfinite(fq) & np.isfinite(mu)
        fq_all.extend(fq[ok])
        st = _style(name)
        line_mu, line_fq = mu[ok], fq[ok]
        if start is not None and not (df["epoch"].iloc[0] <= 0 if len(df) else True):
            line_mu, line_fq = np.r_[start[0], line_mu], np.r_[start[1], line_fq]  # paths start at the fine-tuned model
        ax.plot(line_mu, np.clip(line_fq, 1e-300, None), "-", color=st["color"], lw=1.2, alpha=0.8)
        ax.scatter(
            mu[ok], np.clip(fq[ok], 1e-300, None), color=st["color"], marker=st["marker"], s=22, label=name, zorder=3
        )
        if annotate and ok.any():
            i = np.flatnonzero(ok)[-1]
            ax.annotate(
                f"ep {df['epoch'].iloc[i]:g}",
                (mu[i], max(fq[i], 1e-300)),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
                color=st["color"],
            )
    if finetuned is not None and finetuned.get("forget_quality") is not None:
        fq_all.append(finetuned["forget_quality"])
        ax.scatter(
            [finetuned["model_utility"]],
            [finetuned["forget_quality"]],
            marker="*",
            s=140,
            color=method_color("finetuned"),
            label="fine-tuned",
            zorder=4,
        )
    if retain is not None and retain.get("model_utility") is not None:
        ax.scatter(
            [retain["model_utility"]],
            [retain.get("forget_quality", 1.0)],
            marker="*",
            s=140,
            color=method_color("retain"),
            label="retain model",
            zorder=4,
        )
    if floor is None:
        floor = min(_finite_floor(fq_all), threshold / 10)
    set_dual_scale(ax, threshold=threshold, floor=floor)
    ax.axhline(FQ_THRESHOLD, color="0.3", lw=0.8, ls="--", zorder=0)
    ax.set_xlabel("model utility")
    ax.set_ylabel(dual_scale_label("forget quality", threshold))
    legend_outside(ax, fontsize=8)
    return ax


def plot_run_metric(
    runs,
    metric: str,
    *,
    ax=None,
    reference: Mapping[str, float] | None = None,
    scale: str = "linear",
    relative_to: float | None = None,
    ylabel: str | None = None,
    label: str = "method",
    threshold: float = 0.1,
    floor: float | None = None,
):
    """``metric`` over epochs, one line per run (method colours).

    ``scale``: ``"linear"``, ``"log"`` or ``"dual"`` (:func:`set_dual_scale`, for forget quality).
    ``reference``: ``{label: value}`` horizontal lines (e.g. ``{"fine-tuned": 0.62, "retain model": 0.61}``).
    ``relative_to``: divide the values (and references) by this number (e.g. the fine-tuned model's utility).
    On a log axis non-positive values (e.g. a KL of 0 before the first step) are left out; the dual axis's label
    says where its scale changes (:func:`dual_scale_label`).
    """
    import matplotlib.pyplot as plt

    if scale not in ("linear", "log", "dual"):
        raise ValueError(f"scale must be 'linear', 'log' or 'dual', got {scale!r}")
    if relative_to is not None and not (np.isfinite(relative_to) and relative_to > 0):
        raise ValueError(f"relative_to must be a positive number, got {relative_to!r}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.6), layout="constrained")
    div = float(relative_to) if relative_to is not None else 1.0
    frames = runs_by_label(runs, label)
    every = []
    for name, df in frames.items():
        y = _values(df, metric) / div
        x = np.asarray(df["epoch"], dtype=float)
        ok = np.isfinite(y) & ((y > 0) if scale == "log" else True)
        every.extend(y[ok])
        st = _style(name)
        ax.plot(
            x[ok],
            np.clip(y[ok], 1e-300, None) if scale == "dual" else y[ok],
            "-",
            marker=st["marker"],
            ms=4,
            color=st["color"],
            label=name,
        )
    for i, (name, value) in enumerate((reference or {}).items()):
        if value is None:
            continue
        every.append(value / div)
        ax.axhline(
            value / div,
            color=method_color("retain" if "retain" in name else "finetuned"),
            ls=("--", ":", "-.")[i % 3],
            lw=1,
            label=name,
        )
    if scale == "log":
        ax.set_yscale("log")
    elif scale == "dual":
        set_dual_scale(
            ax, threshold=threshold, floor=floor if floor is not None else min(_finite_floor(every), threshold / 10)
        )
        ax.axhline(FQ_THRESHOLD, color="0.3", lw=0.8, ls="--", zorder=0)
    ax.set_xlabel("epoch")
    ylabel = ylabel or metric.replace("_", " ") + (" (relative)" if relative_to is not None else "")
    ax.set_ylabel(dual_scale_label(ylabel, threshold) if scale == "dual" else ylabel)
    legend_outside(ax, fontsize=8)
    return ax


def plot_forget_quality_over_epochs(runs, *, ax=None, **kw):
    """Forget quality over epochs on the dual linear/log scale (paper Fig. 6 left); dashed line at 0.05."""
    kw.setdefault("ylabel", "forget quality")
    return plot_run_metric(runs, "forget_quality", ax=ax, scale="dual", **kw)


def plot_model_utility_over_epochs(
    runs, *, ax=None, finetuned: float | None = None, retain: float | None = None, relative: bool = False, **kw
):
    """Model utility over epochs (paper Fig. 6 right), with the fine-tuned / retain model's utility as lines.

    ``relative=True`` divides by the fine-tuned utility (1.0 = nothing lost) and draws a dotted line at 0.8.
    """
    ref = {"fine-tuned": finetuned, "retain model": retain}
    if relative and finetuned is None:
        raise ValueError("relative=True needs the fine-tuned model's utility (finetuned=...)")
    ax = plot_run_metric(
        runs,
        "model_utility",
        ax=ax,
        reference=ref,
        relative_to=finetuned if relative else None,
        ylabel="model utility" + (" / fine-tuned" if relative else ""),
        **kw,
    )
    if relative:
        ax.axhline(0.8, color="0.5", lw=0.8, ls=":", zorder=0)
    return ax


def plot_forget_probability_over_epochs(
    runs, *, ax=None, finetuned: float | None = None, retain: float | None = None, scale: str = "log", **kw
):
    """Mean probability of the forget answers over epochs (GA drives it to ~0; the retain model's level is the
    target)."""
    return plot_run_metric(
        runs,
        "forget_probability",
        ax=ax,
        scale=scale,
        reference={"fine-tuned": finetuned, "retain model": retain},
        ylabel="forget probability",
        **kw,
    )


def plot_forget_kl_over_epochs(runs, *, ax=None, scale: str = "linear", target: float | None = None, **kw):
    """Forget KL ``E_forget KL(π_ref ‖ π_θ)`` (answer tokens) over epochs: how far the model moved on the forget
    set (paper Figs. 9, 10). ``target``: the retain model's ``KL(π_ref ‖ π_retr)``, drawn as a reference line."""
    reference = {r"retain model $\mathrm{KL}(\pi_{\mathrm{ref}} \| \pi_{\mathrm{retr}})$": target}
    return plot_run_metric(
        runs,
        "forget_kl",
        ax=ax,
        scale=scale,
        reference=reference,
        ylabel=r"forget-set $\mathrm{KL}(\pi_{\mathrm{ref}} \| \pi_\theta)$",
        **kw,
    )


def plot_run_panels(
    runs, *, finetuned: Mapping | None = None, retain: Mapping | None = None, axes=None, label: str = "method"
):
    """Four panels: forget quality vs utility, forget quality over epochs, model utility over epochs, forget
    probability over epochs. ``finetuned``/``retain``: dicts with ``model_utility``, ``forget_quality``,
    ``forget_probability``. Returns the array of 4 Axes."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(2, 2, figsize=(12, 8), layout="constrained")
    axes = np.asarray(axes).ravel()
    if axes.size < 4:
        raise ValueError(f"axes must hold at least 4 Axes, got {axes.size}")
    ft, rt = dict(finetuned or {}), dict(retain or {})
    plot_forget_quality_vs_utility(runs, finetuned=ft or None, retain=rt or None, ax=axes[0], label=label)
    plot_forget_quality_over_epochs(runs, ax=axes[1], label=label)
    plot_model_utility_over_epochs(
        runs, ax=axes[2], finetuned=ft.get("model_utility"), retain=rt.get("model_utility"), label=label
    )
    plot_forget_probability_over_epochs(
        runs, ax=axes[3], finetuned=ft.get("forget_probability"), retain=rt.get("forget_probability"), label=label
    )
    return axes
