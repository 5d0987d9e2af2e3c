"""Figures of the collapse laboratory (:mod:`npo_lab.experiments.collapse`): steps to collapse against the learning
rate, utility kept at matched forgetting against β, and NPO's weight W over the steps.

Each helper takes the laboratory's tidy table (a ``pandas.DataFrame``, one row per cell: ``optimiser``, ``lr``,
``method``, ``beta``, ``ga_reduction``, ``seed``, ``collapse_step``, ``matched_step``, ``utility_at_matched_rel``,
``steps_max``, ...) or a cell record, and ``ax=None``; it returns the Axes. GA is drawn in GA's colour, NPO in
NPO's (:data:`npo_lab.plotting.style.PALETTE`), lighter for smaller β.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgb

from .style import format_number, legend_outside, method_color

__all__ = ["beta_color", "plot_collapse_steps", "plot_frontier", "plot_weight_distribution"]

_GA_STYLE = {"sum": "-", "token_mean": "--"}


def beta_color(beta: float, betas) -> tuple:
    """NPO's colour, blended towards white for the smaller β values of ``betas`` (the largest β: NPO's colour)."""
    betas = sorted(float(b) for b in betas)
    rank = betas.index(float(beta)) if float(beta) in betas else len(betas) - 1
    mix = 0.65 * (1 - rank / (len(betas) - 1)) if len(betas) > 1 else 0.0
    base = np.asarray(to_rgb(method_color("NPO")))
    return tuple(base + (1 - base) * mix)


def _ax(ax):
    return plt.subplots(figsize=(5, 3.6))[1] if ax is None else ax


def _check_table(table, columns) -> None:
    missing = [c for c in columns if c not in getattr(table, "columns", ())]
    if missing:
        raise ValueError(f"table must be the laboratory's table with columns {', '.join(columns)}; missing {missing}")


def _series(table, value: str, steps_max: float):
    """Per learning rate: the median of ``value`` over seeds (never-reached cells count as ``steps_max`` + 10 %)."""
    out = []
    for lr, group in table.groupby("lr"):
        vals = group[value].astype(float).fillna(steps_max * 1.1).to_numpy()
        out.append((float(lr), float(np.median(vals)), bool(np.isnan(group[value].astype(float)).any())))
    return sorted(out)


def plot_collapse_steps(table, optimiser: str, ax=None, *, title: str | None = None):
    """Steps to collapse (median over seeds) against the learning rate for one optimiser: GA per reduction (solid:
    summed, dashed: token mean) and NPO per β. A cell that never collapsed sits above the dotted line at the
    run's length (open marker)."""
    _check_table(table, ("optimiser", "lr", "method", "beta", "ga_reduction", "collapse_step", "steps_max"))
    ax = _ax(ax)
    t = table[table["optimiser"] == optimiser]
    if t.empty:
        raise ValueError(f"optimiser {optimiser!r} is not in the table; it has {sorted(set(table['optimiser']))}")
    steps_max = float(t["steps_max"].max())
    betas = sorted(t.loc[t["method"] == "NPO", "beta"].dropna().unique())
    curves = [
        (f"GA ({r})", t[(t["method"] == "GA") & (t["ga_reduction"] == r)], method_color("GA"), _GA_STYLE.get(r, ":"))
        for r in sorted(t.loc[t["method"] == "GA", "ga_reduction"].dropna().unique())
    ]
    curves += [
        (f"NPO β={format_number(b)}", t[(t["method"] == "NPO") & (t["beta"] == b)], beta_color(b, betas), "-")
        for b in betas
    ]
    for label, group, color, style in curves:
        pts = _series(group, "collapse_step", steps_max)
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        ax.plot(xs, ys, style, color=color, label=label, marker="o", ms=4)
        never = [(x, y) for x, y, n in pts if y > steps_max]
        if never:
            ax.plot(*zip(*never, strict=True), "o", mfc="white", color=color, ms=6)
    ax.axhline(steps_max, color="0.5", ls=":", lw=1)
    ax.text(min(t["lr"]), steps_max * 1.02, "never (within the run)", fontsize="x-small", color="0.4", va="bottom")
    ax.set_ylim(0, steps_max * 1.2)
    ax.set_xscale("log")
    lrs = sorted(t["lr"].unique())
    ax.set_xticks(lrs, [format_number(x) for x in lrs])
    ax.minorticks_off()
    ax.set_xlabel("learning rate (constant)")
    ax.set_ylabel("steps to collapse (median over seeds)")
    ax.set_title(title if title is not None else optimiser)
    legend_outside(ax)
    return ax


def plot_frontier(table, optimiser: str, ax=None, *, title: str | None = None):
    """Utility kept at matched forgetting (relative to the fine-tuned model, mean over seeds) against β for one
    optimiser, one line per learning rate; GA (the β → 0 end) as a horizontal line in GA's colour per learning
    rate. An NPO cell whose forget rows never reached the retain model's level is an ✕ on the β axis."""
    _check_table(table, ("optimiser", "lr", "method", "beta", "ga_reduction", "utility_at_matched_rel"))
    ax = _ax(ax)
    t = table[table["optimiser"] == optimiser]
    if t.empty:
        raise ValueError(f"optimiser {optimiser!r} is not in the table; it has {sorted(set(table['optimiser']))}")
    lrs = sorted(t["lr"].unique())
    styles = ["-", "--", ":", "-."]
    for i, lr in enumerate(lrs):
        style = styles[i % len(styles)]
        npo = t[(t["method"] == "NPO") & (t["lr"] == lr)]
        stats = npo.groupby("beta")["utility_at_matched_rel"].agg(lambda s: s.astype(float).mean())
        reached = stats.dropna()
        label = f"lr {format_number(lr)}"
        ax.plot(
            reached.index, reached.to_numpy(), style, marker="o", ms=4, color=method_color("NPO"), label=f"NPO, {label}"
        )
        missing = stats[stats.isna()]
        if len(missing):
            ax.plot(
                missing.index,
                np.zeros(len(missing)),
                "x",
                color=method_color("NPO"),
                ms=7,
                label=None if i else "NPO: forget rows never at the retain model's level",
            )
        ga = t[(t["method"] == "GA") & (t["lr"] == lr) & (t["ga_reduction"] == "sum")]
        if ga.empty:
            ga = t[(t["method"] == "GA") & (t["lr"] == lr)]
        g = ga["utility_at_matched_rel"].astype(float).mean()
        if math.isfinite(g):
            ax.axhline(g, color=method_color("GA"), ls=style, lw=1.2, label=f"GA, {label}")
    ax.set_xscale("log")
    betas = sorted(t.loc[t["method"] == "NPO", "beta"].dropna().unique())
    ax.set_xticks(betas, [format_number(b) for b in betas])
    ax.minorticks_off()
    ax.set_ylim(bottom=-0.03)
    ax.set_xlabel("β (GA: β → 0)")
    ax.set_ylabel("utility at matched forgetting\n(÷ fine-tuned model's)")
    ax.set_title(title if title is not None else optimiser)
    legend_outside(ax)
    return ax


def plot_weight_distribution(records, ax=None, *, title: str | None = None):
    """NPO's weight W over the steps: per cell record (one β each) the median over the forget rows (line) and the
    10–90 % band. ``records``: cell records of :func:`npo_lab.experiments.collapse.run_cell` (NPO cells)."""
    ax = _ax(ax)
    records = [r for r in records if r.get("method") == "NPO" and r.get("W_quantiles", {}).get("step")]
    if not records:
        raise ValueError("records must hold at least one NPO cell record with W quantiles")
    betas = sorted({r["beta"] for r in records})
    for r in sorted(records, key=lambda r: r["beta"]):
        q = r["W_quantiles"]
        color = beta_color(r["beta"], betas)
        ax.fill_between(q["step"], q["q10"], q["q90"], color=color, alpha=0.25, lw=0)
        ax.plot(q["step"], q["q50"], color=color, label=f"β={format_number(r['beta'])}")
        for name, marker in (("collapse_step", "v"), ("matched_step", "s")):
            s = r.get(name)
            if s is not None and s in q["step"]:
                ax.plot(s, q["q50"][q["step"].index(s)], marker, color=color, mec="k", ms=6)
    ax.axhline(1.0, color="0.5", ls=":", lw=1)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("W = 2σ(β·log-ratio)")
    top = max(max(r["W_quantiles"]["q90"]) for r in records)
    ax.set_ylim(0, max(1.05, 1.05 * top))  # W < 1 once a row's likelihood fell below the reference's
    ax.set_title(title if title is not None else "NPO's weight W (median, 10–90 %); ▼ collapse, ■ matched")
    legend_outside(ax)
    return ax
