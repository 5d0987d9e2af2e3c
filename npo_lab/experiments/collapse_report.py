"""The collapse laboratory's reports: the tidy table, GA vs NPO comparison, a plain-text summary and the figures.

Everything here reads finished cell records (:func:`npo_lab.experiments.collapse.run_cell`), never a model.

* :func:`cell_table` — one row per cell;
* :func:`comparison_table` — per optimiser, learning rate, β and GA reduction: GA's and NPO's steps to collapse
  and utility at matched forgetting over the seeds, and NPO / GA ratios;
* :func:`findings_markdown` — the comparison as a Markdown table;
* :func:`write_reports` — ``table.csv/json``, ``comparison.csv/json``, ``findings.md`` and ``figures/*.png``.
"""

from __future__ import annotations

import math
from pathlib import Path

__all__ = ["TABLE_COLUMNS", "cell_table", "comparison_table", "findings_markdown", "write_figures", "write_reports"]

TABLE_COLUMNS = (
    "id",
    "optimiser",
    "clip",
    "lr",
    "method",
    "beta",
    "ga_reduction",
    "seed",
    "collapse_step",
    "matched_step",
    "utility_start",
    "forget_probability_start",
    "forget_target",
    "utility_at_matched",
    "utility_at_matched_rel",
    "final_step",
    "final_utility_rel",
    "final_forget_probability",
    "final_W_mean",
    "min_utility_rel",
    "steps_max",
    "seconds",
    "cpu_seconds",
    "probe_seconds_per_step",
)


def cell_table(records):
    """One row per cell record (columns :data:`TABLE_COLUMNS`), sorted by optimiser, lr, method, β, seed."""
    import pandas as pd

    df = pd.DataFrame([{k: r.get(k) for k in TABLE_COLUMNS} for r in records], columns=list(TABLE_COLUMNS))
    for col in ("collapse_step", "matched_step", "final_step"):
        df[col] = df[col].astype("Int64")
    return df.sort_values(
        ["optimiser", "lr", "method", "beta", "ga_reduction", "seed"], na_position="first"
    ).reset_index(drop=True)


def _mean(values) -> float | None:
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(vals) / len(vals) if vals else None


def _ratio_of_means(pairs) -> float | None:
    """``Σ a / Σ b`` over the ``(a, b)`` pairs; ``None`` when there are none or ``Σ b`` is 0."""
    den = sum(b for _, b in pairs)
    return sum(a for a, _ in pairs) / den if pairs and den > 0 else None


def _na(v):
    """``None`` for a missing value (None, NaN, ``pandas.NA``), else ``v``."""
    import pandas as pd

    return None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v


def comparison_table(table):
    """GA vs NPO per (optimiser, lr, β, GA reduction), pairing GA with that reduction and NPO with that β on the
    same seed. Columns: ``ga_collapse`` / ``npo_collapse`` (mean steps over the seeds that collapsed),
    ``ga_collapsed`` / ``npo_collapsed`` (how many seeds collapsed), ``collapse_ratio`` (mean over seeds of NPO's
    steps / GA's, where NPO never collapsed its run length stands in: then ``collapse_ratio_is_lower_bound``),
    ``ga_utility_matched`` / ``npo_utility_matched`` (utility proxy at matched forgetting ÷ the fine-tuned
    model's, mean over the seeds that reached it), ``npo_matched`` (seeds whose forget rows reached the retain
    model's level), ``utility_ratio`` (NPO's mean / GA's mean over the seeds where both reached it: a ratio of
    means, so a seed where GA's utility is near 0 does not swamp the others), ``n_seeds``."""
    import pandas as pd

    rows = []
    t = table
    for (opt, lr), g in t.groupby(["optimiser", "lr"], sort=True):
        ga_all, npo_all = g[g["method"] == "GA"], g[g["method"] == "NPO"]
        for red in sorted(ga_all["ga_reduction"].dropna().unique()):
            ga = ga_all[ga_all["ga_reduction"] == red].set_index("seed")
            for beta in sorted(npo_all["beta"].dropna().unique()):
                npo = npo_all[npo_all["beta"] == beta].set_index("seed")
                seeds = sorted(set(ga.index) & set(npo.index))
                if not seeds:
                    continue
                ratios, lower, upaired = [], False, []
                for s in seeds:
                    gc, nc = _na(ga.at[s, "collapse_step"]), _na(npo.at[s, "collapse_step"])
                    if gc is not None:
                        if nc is None:
                            nc, lower = npo.at[s, "final_step"], True
                        ratios.append(float(nc) / max(float(gc), 1.0))
                    gu, nu = _na(ga.at[s, "utility_at_matched_rel"]), _na(npo.at[s, "utility_at_matched_rel"])
                    if gu is not None and nu is not None:
                        upaired.append((float(nu), float(gu)))
                gcol = [_na(ga.at[s, "collapse_step"]) for s in seeds]
                ncol = [_na(npo.at[s, "collapse_step"]) for s in seeds]
                rows.append(
                    {
                        "optimiser": opt,
                        "lr": float(lr),
                        "beta": float(beta),
                        "ga_reduction": red,
                        "n_seeds": len(seeds),
                        "ga_collapse": _mean(gcol),
                        "ga_collapsed": sum(v is not None for v in gcol),
                        "npo_collapse": _mean(ncol),
                        "npo_collapsed": sum(v is not None for v in ncol),
                        "collapse_ratio": _mean(ratios),
                        "collapse_ratio_is_lower_bound": lower,
                        "ga_utility_matched": _mean(_na(ga.at[s, "utility_at_matched_rel"]) for s in seeds),
                        "npo_utility_matched": _mean(_na(npo.at[s, "utility_at_matched_rel"]) for s in seeds),
                        "npo_matched": sum(_na(npo.at[s, "matched_step"]) is not None for s in seeds),
                        "utility_ratio": _ratio_of_means(upaired),
                        "npo_final_utility": _mean(npo.at[s, "final_utility_rel"] for s in seeds),
                        "steps_max": int(g["steps_max"].max()),
                    }
                )
    return pd.DataFrame(rows)


def _fmt(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def findings_markdown(comparison) -> str:
    """The comparison as a Markdown table (steps: mean over the seeds that collapsed, with how many did)."""
    head = (
        "| optimiser | lr | β | GA reduction | GA collapse (seeds) | NPO collapse (seeds) | NPO/GA steps | "
        "GA utility at matched | NPO utility at matched (seeds) | NPO/GA utility | NPO final utility |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in comparison.to_dict("records"):
        n = r["n_seeds"]
        ratio = _fmt(r["collapse_ratio"])
        if r["collapse_ratio_is_lower_bound"] and r["collapse_ratio"] is not None:
            ratio = "≥ " + ratio
        lines.append(
            f"| {r['optimiser']} | {r['lr']:g} | {r['beta']:g} | {r['ga_reduction']} | "
            f"{_fmt(r['ga_collapse'])} ({r['ga_collapsed']}/{n}) | "
            f"{_fmt(r['npo_collapse'])} ({r['npo_collapsed']}/{n}) | "
            f"{ratio} | {_fmt(r['ga_utility_matched'])} | {_fmt(r['npo_utility_matched'])} ({r['npo_matched']}/{n}) | "
            f"{_fmt(r['utility_ratio'])} | {_fmt(r['npo_final_utility'])} |"
        )
    return head + "\n".join(lines) + "\n"


def write_figures(table, records, out: str | Path) -> list[Path]:
    """``collapse_steps.png`` (steps to collapse vs learning rate, a panel per optimiser), ``collapse_frontier.png``
    (utility at matched forgetting vs β) and ``collapse_weights.png`` (W over the steps, AdamW 1e-4 when in the
    grid, else the first optimiser and learning rate; the first seed) into ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plotting.collapse import plot_collapse_steps, plot_frontier, plot_weight_distribution

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    optimisers = list(dict.fromkeys(table["optimiser"]))
    paths = []
    for name, draw in (("collapse_steps.png", plot_collapse_steps), ("collapse_frontier.png", plot_frontier)):
        cols = min(2, len(optimisers))
        rows = math.ceil(len(optimisers) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(6.8 * cols, 3.8 * rows), layout="constrained", squeeze=False)
        for ax, opt in zip(axes.flat, optimisers, strict=False):
            draw(table, opt, ax=ax)
        for ax in list(axes.flat)[len(optimisers) :]:
            ax.set_visible(False)
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        paths.append(out / name)
    npo = [r for r in records if r["method"] == "NPO"]
    if npo:
        opt = "adamw" if any(r["optimiser"] == "adamw" for r in npo) else npo[0]["optimiser"]
        lrs = sorted({r["lr"] for r in npo if r["optimiser"] == opt})
        lr = 1e-4 if 1e-4 in lrs else lrs[0]
        seed = min(r["seed"] for r in npo)
        chosen = [r for r in npo if r["optimiser"] == opt and r["lr"] == lr and r["seed"] == seed]
        fig, ax = plt.subplots(figsize=(7.5, 4), layout="constrained")
        plot_weight_distribution(chosen, ax=ax)
        ax.set_title(f"NPO's weight W, {opt} lr {lr:g}, seed {seed} (median, 10–90 %; ▼ collapse, ■ matched)")
        fig.savefig(out / "collapse_weights.png", dpi=110)
        plt.close(fig)
        paths.append(out / "collapse_weights.png")
    return paths


def write_reports(records, out: str | Path, cfg=None) -> dict:
    """Tables (CSV + JSON), ``findings.md`` and figures of the finished cells into ``out``; returns their paths."""
    from ..files import write_json, write_text

    out = Path(out)
    table = cell_table(records)
    comp = comparison_table(table)
    write_text(out / "table.csv", table.to_csv(index=False))
    write_json(out / "table.json", table.astype(object).where(table.notna(), None).to_dict("records"))
    write_text(out / "comparison.csv", comp.to_csv(index=False))
    write_json(out / "comparison.json", comp.astype(object).where(comp.notna(), None).to_dict("records"))
    write_text(out / "findings.md", findings_markdown(comp))
    outputs = {"table": str(out / "table.csv"), "comparison": str(out / "comparison.csv")}
    try:
        outputs["figures"] = [str(p) for p in write_figures(table, records, out / "figures")]
    except Exception as err:  # a figure must never cost the tables
        outputs["figures_error"] = repr(err)
    return outputs
