"""Reports of a mini-TOFU demo directory: the demo summary, tables, sample answers and figures.

Everything here reads what :func:`npo_lab.experiments.run_demo` wrote (the per-method run records and the two
reference eval logs) and needs no model. Figures are drawn on :class:`matplotlib.figure.Figure` objects and saved
with their own Agg canvas: no pyplot state and no backend switch.

``demo_summary.json`` (:data:`DEMO_SUMMARY_FILE`, written by :func:`summarize_runs`)::

    {"finetuned": {"forget_quality": x, "model_utility": x, "forget_probability": x},
     "retain": {"model_utility": x, "forget_probability": x},
     "thresholds": {"collapse": 0.5, "matched_utility": 0.8, "good_forget_quality": 0.05},
     "methods": {"GA": {"evaluations": [{"step": 5, "epoch": 1, "forget_quality": x, "model_utility": x,
                                         "forget_probability": x, "forget_kl": x}, ...],
                        "peak_forget_quality": x, "step_of_peak": n, "epoch_of_peak": n,
                        "model_utility_at_peak": x, "steps_to_collapse": n | null,
                        "forget_quality_at_matched_utility": x | null,
                        "matched_forgetting_step": n | null, "probe_collapse_step": n | null,
                        "probes": {"steps": n, "utility_final": x, "forget_probability_min": x, ...}}, ...},
     "claims": {claim: {"holds": true | false | null, ...}},     (npo_lab.experiments.claims)
     "wall_seconds": x}

``steps_to_collapse``: the first evaluated step whose model utility is below ``collapse`` × the fine-tuned
model's (null if never); ``forget_quality_at_matched_utility``: the best forget quality among the evaluations with
utility ≥ ``matched_utility`` × the fine-tuned model's (null if none; the maximum over every evaluation that
qualifies, so it is inflated by the number of looks); ``matched_forgetting_step`` and ``probe_collapse_step``: the
steps the per-step probes marked (``probes.jsonl``: the forget rows' probability at or below the retain model's;
the utility proxy below ``collapse`` × its start). Non-finite numbers are written as null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import read_json_file

__all__ = [
    "DEMO_SUMMARY_FILE",
    "COLLAPSE_FRACTION",
    "MATCHED_UTILITY_FRACTION",
    "GOOD_FORGET_QUALITY",
    "run_dir_name",
    "method_frames",
    "summarize_runs",
    "load_demo",
    "results_table",
    "answers_table",
    "samples_from_log",
    "repetition_rate",
    "format_number",
    "format_table",
    "answers_markdown",
    "answers_text",
    "write_figures",
    "plot_utility_vs_step",
    "plot_probes",
    "method_probes",
]

DEMO_SUMMARY_FILE = "demo_summary.json"
COLLAPSE_FRACTION = 0.5  # utility below this fraction of the fine-tuned model's: collapsed
MATCHED_UTILITY_FRACTION = 0.8  # utility at or above this fraction of the fine-tuned model's: kept
GOOD_FORGET_QUALITY = 0.05  # forget quality above this: meaningful forgetting (the KS test cannot reject)
EVALUATION_KEYS = ("forget_quality", "model_utility", "forget_probability", "forget_kl")


def run_dir_name(method: str) -> str:
    """The directory of a method's run record under ``<out>/runs/`` (``NPO+RT`` → ``NPO_RT``)."""
    return method.replace("+", "_")


def _num(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _whole(x: float) -> int | float:
    return int(round(x)) if abs(x - round(x)) < 1e-6 else x


# --------------------------------------------------------------------------------------------------------------
# the demo summary
# --------------------------------------------------------------------------------------------------------------
def method_frames(run_dirs: Mapping[str, Path]) -> dict:
    """``{method: DataFrame}`` with one row per recorded evaluation (:func:`npo_lab.runs.load_run`)."""
    from ..runs import METRICS_FILE, load_run

    return {m: load_run(d) for m, d in run_dirs.items() if (Path(d) / METRICS_FILE).exists()}


def method_probes(run_dirs: Mapping[str, Path]) -> dict:
    """``{method: DataFrame}`` of each run's per-step probes (``probes.jsonl``), for the runs that have them."""
    from ..unlearn.probes import PROBES_FILE, load_probes

    return {m: load_probes(d) for m, d in run_dirs.items() if (Path(d) / PROBES_FILE).exists()}


def _probe_entry(df) -> dict:
    """The marked steps and a few numbers of one run's probes."""
    marks: dict[str, int | None] = {"collapse": None, "matched_forgetting": None}
    for _, r in df.iterrows():
        for name in r.get("marks") or []:
            if marks.get(name) is None:
                marks[name] = int(r["step"])
    out = {"matched_forgetting_step": marks["matched_forgetting"], "probe_collapse_step": marks["collapse"]}
    start = df.iloc[0]
    last = df.iloc[-1]
    out["probes"] = {
        "steps": int(last["step"]),
        "utility_start": _num(start.get("utility")),
        "utility_final": _num(last.get("utility")),
        "forget_probability_start": _num(start.get("forget_probability")),
        "forget_probability_min": _num(df["forget_probability"].min()),
        "forget_probability_final": _num(last.get("forget_probability")),
        "W_mean_final": _num(last.get("W_mean")) if "W_mean" in df.columns else None,
    }
    return out


def _evaluations(df) -> list[dict]:
    """The evaluations of one run after step 0 (step 0 is the fine-tuned model, summarised on its own)."""
    out = []
    for _, r in df.iterrows():
        if int(r["step"]) <= 0:
            continue
        row = {"step": int(r["step"]), "epoch": _whole(float(r["epoch"]))}
        row.update({k: _num(r.get(k)) for k in EVALUATION_KEYS if k in df.columns})
        out.append(row)
    return out


def _summarize_method(evaluations: list[dict], mu_ft: float | None) -> dict:
    entry: dict[str, Any] = {
        "evaluations": evaluations,
        "peak_forget_quality": None,
        "step_of_peak": None,
        "epoch_of_peak": None,
        "model_utility_at_peak": None,
        "steps_to_collapse": None,
        "forget_quality_at_matched_utility": None,
        "matched_forgetting_step": None,
        "probe_collapse_step": None,
    }
    scored = [e for e in evaluations if e.get("forget_quality") is not None]
    if scored:
        best = max(scored, key=lambda e: e["forget_quality"])  # the first evaluation of the maximum
        entry.update(
            peak_forget_quality=best["forget_quality"],
            step_of_peak=best["step"],
            epoch_of_peak=best["epoch"],
            model_utility_at_peak=best.get("model_utility"),
        )
    if mu_ft is None:
        return entry
    mus = [(e, e.get("model_utility")) for e in evaluations if e.get("model_utility") is not None]
    collapsed = [e["step"] for e, mu in mus if mu < COLLAPSE_FRACTION * mu_ft]
    entry["steps_to_collapse"] = collapsed[0] if collapsed else None
    kept = [
        e["forget_quality"]
        for e, mu in mus
        if mu >= MATCHED_UTILITY_FRACTION * mu_ft and e.get("forget_quality") is not None
    ]
    entry["forget_quality_at_matched_utility"] = max(kept) if kept else None
    return entry


def summarize_runs(
    frames: Mapping[str, Any], finetuned: Mapping, retain: Mapping, wall_seconds: float, probes: Mapping | None = None
) -> dict:
    """The content of ``demo_summary.json`` (module docstring) from ``{method: DataFrame of evaluations}`` and
    ``{method: DataFrame of probes}`` (:func:`method_probes`)."""
    from .claims import demo_claims

    ft = {k: _num(finetuned.get(k)) for k in ("forget_quality", "model_utility", "forget_probability")}
    methods = {m: _summarize_method(_evaluations(df), ft["model_utility"]) for m, df in frames.items()}
    for m, df in (probes or {}).items():
        if m in methods and len(df):
            methods[m].update(_probe_entry(df))
    summary = {
        "finetuned": ft,
        "retain": {k: _num(retain.get(k)) for k in ("model_utility", "forget_probability")},
        "thresholds": {
            "collapse": COLLAPSE_FRACTION,
            "matched_utility": MATCHED_UTILITY_FRACTION,
            "good_forget_quality": GOOD_FORGET_QUALITY,
        },
        "methods": methods,
        "wall_seconds": float(wall_seconds),
    }
    summary["claims"] = demo_claims(summary)
    return summary


def load_demo(out: str | Path) -> tuple[dict, dict]:
    """``(summary, frames)`` of a finished (or interrupted) demo directory: ``demo_summary.json`` and
    ``{method: DataFrame}`` with one row per evaluation (columns of ``metrics.jsonl``, ``forget_kl`` included)."""
    out = Path(out)
    path = out / DEMO_SUMMARY_FILE
    if not path.exists():
        raise FileNotFoundError(f"out {str(out)!r} holds no {DEMO_SUMMARY_FILE} (run the demo first)")
    summary = read_json_file(path, what="demo summary")
    return summary, method_frames({m: out / "runs" / run_dir_name(m) for m in summary["methods"]})


# --------------------------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------------------------
def results_table(summary: Mapping):
    """One row per method: peak forget quality (its epoch, utility there, absolute and / fine-tuned), forget
    quality at matched utility, steps to collapse, the first epoch with forget quality > 0.05 at ≥ 80 % of the
    fine-tuned utility, and the last evaluation's numbers."""
    import pandas as pd

    mu_ft = _num(summary["finetuned"]["model_utility"])
    rows = [
        {
            "method": "fine-tuned",
            "peak_forget_quality": summary["finetuned"]["forget_quality"],
            "epoch_of_peak": 0,
            "model_utility_at_peak": mu_ft,
            "utility_ratio_at_peak": 1.0,
        }
    ]
    for method, m in summary["methods"].items():
        ev = m["evaluations"]
        good = [
            e["epoch"]
            for e in ev
            if mu_ft is not None
            and (e.get("forget_quality") or 0) > GOOD_FORGET_QUALITY
            and (e.get("model_utility") or 0) >= MATCHED_UTILITY_FRACTION * mu_ft
        ]
        mu_peak = m["model_utility_at_peak"]
        last = ev[-1] if ev else {}
        rows.append(
            {
                "method": method,
                "peak_forget_quality": m["peak_forget_quality"],
                "epoch_of_peak": m["epoch_of_peak"],
                "model_utility_at_peak": mu_peak,
                "utility_ratio_at_peak": mu_peak / mu_ft if (mu_peak is not None and mu_ft) else None,
                "fq_at_matched_utility": m["forget_quality_at_matched_utility"],
                "steps_to_collapse": m["steps_to_collapse"],
                "first_good_epoch": good[0] if good else None,
                "final_forget_quality": last.get("forget_quality"),
                "final_model_utility": last.get("model_utility"),
                "final_forget_probability": last.get("forget_probability"),
            }
        )
    return pd.DataFrame(rows)


def _question(text: str) -> str:
    """The question of a ``generated_text`` prompt (the ``qa`` template's ``Question: ...\\nAnswer:`` removed)."""
    t = str(text).strip()
    if t.startswith("Question:"):
        t = t[len("Question:") :]
    if t.endswith("Answer:"):
        t = t[: -len("Answer:")]
    return t.strip()


def samples_from_log(log: Mapping, n: int) -> list[dict]:
    """The first ``n`` greedy answers per split (``forget``, ``retain``) of a TOFU eval log, as sample rows."""
    out = []
    for split, key in (("forget", "eval_log_forget.json"), ("retain", "eval_log.json")):
        gen = log.get(key, {}).get("generated_text", [])
        gen = [gen[k] for k in sorted(gen, key=int)] if isinstance(gen, Mapping) else list(gen)
        for q, g, a in gen[:n]:
            out.append({"split": split, "question": _question(q), "generation": g, "answer": a})
    return out


def _finetuned_answers(out: Path, split: str, table: dict, order: list) -> None:
    path = out / "answers_finetuned.json"
    if not path.exists():
        return
    for r in read_json_file(path, what="fine-tuned answers"):
        if r["split"] == split:
            table.setdefault(r["question"], {"question": r["question"], "answer": r["answer"]})["fine-tuned"] = r[
                "generation"
            ]
            order.append(r["question"])


def answers_table(out: str | Path, split: str = "forget", step: str | int = "last"):
    """Sample greedy answers per method (the demo's run records): columns question, answer (ground truth),
    ``fine-tuned`` and one column per method at its last evaluation (``step="last"``) or a given step."""
    import pandas as pd

    from ..runs import CONFIG_FILE, SAMPLES_FILE, load_config, load_samples

    out = Path(out)
    table: dict[str, dict] = {}
    order: list[str] = []
    _finetuned_answers(out, split, table, order)
    for d in sorted((out / "runs").glob("*")) if (out / "runs").is_dir() else []:
        if not (d / CONFIG_FILE).exists() or not (d / SAMPLES_FILE).exists():
            continue
        s = load_samples(d)
        s = s[s["split"] == split] if not s.empty else s
        if s.empty:
            continue
        method = load_config(d)["method"]
        at = s["step"].max() if step == "last" else int(step)
        for _, r in s[s["step"] == at].iterrows():
            q = _question(r["question"])
            table.setdefault(q, {"question": q, "answer": r["answer"]})[method] = r["generation"]
            order.append(q)
    return pd.DataFrame([table[q] for q in dict.fromkeys(order)])


def repetition_rate(text: str, n: int = 5) -> float:
    """Share of repeated character ``n``-grams in a generation: ``1 − #distinct n-grams / #n-grams``.

    About 0.0–0.1 for a fluent sentence, → 1 for the degenerate repetition gradient ascent produces
    (``"DarioDarioDario…"``, ``"the the the …"``). Case-insensitive, whitespace collapsed; 0 for text shorter than n.
    """
    t = " ".join(str(text).lower().split())
    grams = [t[i : i + n] for i in range(len(t) - n + 1)]
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def format_number(x, digits: int = 3) -> str:
    """A number for a table: 3 digits (general format below 1e-3), ``-`` for missing or non-finite values."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}g}" if (abs(x) < 1e-3 and x != 0) else f"{x:.{digits}f}"
    return str(x)


def format_table(df) -> str:
    """A DataFrame as aligned plain text (numbers to 3 digits, missing values as ``-``)."""
    cols = [str(c) for c in df.columns]
    cells = [[format_number(v) for v in row] for row in df.itertuples(index=False)]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]

    def line(vals):
        return "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths)))

    return "\n".join([line(cols), line(["-" * w for w in widths])] + [line(r) for r in cells])


def _method_columns(df) -> list[str]:
    return [c for c in df.columns if c not in ("question", "answer")]


def answers_markdown(df) -> str:
    """The answers table as Markdown: one section per question, one bullet per model."""
    lines = ["# Sample answers on forget questions (greedy, last evaluation)", ""]
    for _, r in df.iterrows():
        lines += [f"## {r['question']}", "", f"- **ground truth**: {r['answer']}"]
        lines += [f"- **{c}**: {r[c]}" for c in _method_columns(df) if isinstance(r[c], str)]
        lines.append("")
    return "\n".join(lines)


def answers_text(df, n: int = 2) -> str:
    """The first ``n`` questions of the answers table as indented plain text (answers cut at 110 characters)."""
    lines = ["sample answers on forget questions (last evaluation):"]
    for _, r in df.head(n).iterrows():
        lines += [f"  Q: {r['question']}", f"    {'truth':>10}: {r['answer'][:110]}"]
        lines += [f"    {c:>10}: {r[c][:110]}" for c in _method_columns(df) if isinstance(r[c], str)]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------------------------
def plot_probes(probes: Mapping, key: str = "utility", *, reference: float | None = None, ax=None):
    """A per-step probe value (``utility``, ``forget_probability``, ``W_mean``, ...) against the optimiser step for
    every method (``{method: DataFrame}`` of :func:`method_probes`), one colour per method; ``reference`` as a
    dashed line (e.g. the retain model's forget probability). Returns the Axes."""
    from ..plotting.style import label_color

    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(7, 4.5)).subplots()
    for i, (method, df) in enumerate(probes.items()):
        if key in df.columns:
            ax.plot(df["step"], df[key], label=method, color=label_color(method, i))
    if reference is not None:
        ax.axhline(reference, color="k", linestyle="--", linewidth=0.8)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel(key.replace("_", " ") + " (probes)")
    ax.legend(fontsize=8)
    return ax


def write_figures(out: str | Path, frames: Mapping, finetuned: Mapping, retain: Mapping) -> list[Path]:
    """``figures/forget_quality_vs_utility.png`` (paper Fig. 5 at this scale), ``figures/over_epochs.png``
    (forget quality, model utility, forget probability and forget KL over epochs) and
    ``figures/utility_vs_step.png`` (:func:`plot_utility_vs_step`) under ``out``."""
    from matplotlib.figure import Figure

    from ..plotting import (
        plot_forget_kl_over_epochs,
        plot_forget_probability_over_epochs,
        plot_forget_quality_over_epochs,
        plot_forget_quality_vs_utility,
        plot_model_utility_over_epochs,
    )

    if not frames:
        return []
    fig_dir = Path(out) / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(6, 4.5), layout="tight")
    ax = fig.subplots()
    plot_forget_quality_vs_utility(frames, finetuned=finetuned, retain=retain, ax=ax)
    ax.set_title("mini-TOFU: forget quality vs model utility over epochs")
    paths = [fig_dir / "forget_quality_vs_utility.png"]
    fig.savefig(paths[-1])
    fig = Figure(figsize=(11, 8), layout="tight")
    axes = fig.subplots(2, 2)
    plot_forget_quality_over_epochs(frames, ax=axes[0, 0])
    plot_model_utility_over_epochs(
        frames, ax=axes[0, 1], finetuned=finetuned.get("model_utility"), retain=retain.get("model_utility")
    )
    plot_forget_probability_over_epochs(
        frames, ax=axes[1, 0], finetuned=finetuned.get("forget_probability"), retain=retain.get("forget_probability")
    )
    with_kl = {k: v for k, v in frames.items() if "forget_kl" in v.columns}
    if with_kl:
        plot_forget_kl_over_epochs(with_kl, ax=axes[1, 1])
    paths.append(fig_dir / "over_epochs.png")
    fig.savefig(paths[-1])
    fig = Figure(figsize=(7, 4.5), layout="tight")
    plot_utility_vs_step(frames, finetuned.get("model_utility"), ax=fig.subplots())
    paths.append(fig_dir / "utility_vs_step.png")
    fig.savefig(paths[-1])
    return paths


def plot_utility_vs_step(frames: Mapping, finetuned_utility: float | None, *, ax=None):
    """Model utility vs optimiser step for every method on one axis, each method's collapse (first evaluation
    below ``COLLAPSE_FRACTION`` × the fine-tuned utility) marked with an ×; the two thresholds as dashed lines.
    Each method in its palette colour (:data:`npo_lab.plotting.PALETTE`)."""
    from ..plotting.style import method_color

    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(7, 4.5)).subplots()
    mu_ft = _num(finetuned_utility)
    for method, df in frames.items():
        steps, mus = [0] if mu_ft is not None else [], [mu_ft] if mu_ft is not None else []
        for _, r in df.iterrows():
            if int(r["step"]) > 0 and _num(r.get("model_utility")) is not None:
                steps.append(int(r["step"]))
                mus.append(float(r["model_utility"]))
        (line,) = ax.plot(steps, mus, marker=".", label=method, color=method_color(method))
        collapsed = [(s, m) for s, m in zip(steps, mus) if mu_ft is not None and m < COLLAPSE_FRACTION * mu_ft]
        if collapsed:
            ax.plot(*collapsed[0], marker="x", markersize=12, mew=2.5, color=line.get_color(), linestyle="none")
    if mu_ft:  # no thresholds to draw for a fine-tuned utility of 0 (untrained smoke-size models)
        for frac, label in ((COLLAPSE_FRACTION, "collapse"), (MATCHED_UTILITY_FRACTION, "matched utility")):
            ax.axhline(frac * mu_ft, color="grey", linestyle="--", linewidth=0.8)
            ax.annotate(f"{label} ({frac:.0%} of fine-tuned)", (0, frac * mu_ft), fontsize=8, va="bottom")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("model utility")
    ax.set_title("model utility during unlearning (× = collapse)")
    ax.legend(fontsize=8)
    return ax
