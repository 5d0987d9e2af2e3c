"""The paper's claims, computed on a mini-TOFU demo: does each reproduce at this scale?

Each claim is a test on the numbers the demo measured (``demo_summary.json``); nothing is narrated. Measures:

* **collapse** (``steps_to_collapse``): the first fully evaluated step whose model utility (TOFU's harmonic mean
  of 9 numbers) is below ½ of the fine-tuned model's. Full evaluations run at every epoch's end and at the
  steps the per-step probes mark, so the step is exact where the probes saw it first and otherwise accurate to
  an epoch;
* **matched forgetting**: the first step at which the forget rows' probability (the probes, every step) falls
  to the retain model's; the model utility of the full evaluation at that step compares methods at equal
  forgetting;
* **forget quality**: the KS test's p-value of the forget truth ratios against the retain model's. Under the null
  (same distribution) it is uniform on [0, 1], so a maximum over several evaluations is inflated (multiple
  looks): the number of evaluations looked at is reported beside it.

The claims (arXiv 2404.05868: Sec. 4, Theorem 2 and Fig. 5):

1. ``ga_collapses``: GA's model utility falls below ½ of the fine-tuned model's within the run.
2. ``npo_slower``: NPO's steps to collapse ≥ 2 × GA's, or NPO never collapses within the run while its forget
   rows reach the retain model's forget probability.
3. ``npo_utility``: at matched forgetting NPO keeps ≥ 1.5 × GA's model utility (both must reach it).
4. ``npo_rt_quality``: NPO+RT reaches forget quality ≥ 0.1 at an evaluation with ≥ 80 % of the fine-tuned
   model's utility.
5. ``ga_rt_differs``: GA+RT differs from GA: at some step both evaluated, their model utilities differ by
   ≥ 5 % of the fine-tuned model's (the retain term acts).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["CLAIMS", "THRESHOLDS", "demo_claims", "claims_table", "seed_table"]

THRESHOLDS = {
    "collapse_ratio": 2.0,
    "utility_ratio": 1.5,
    "forget_quality": 0.1,
    "utility_kept": 0.8,
    "ga_rt_difference": 0.05,
}
#: claim → what it states (the measure behind each is in the module docstring)
CLAIMS = {
    "ga_collapses": "GA collapses (model utility < ½ of the fine-tuned model's)",
    "npo_slower": "NPO collapses ≥ 2× later than GA, or never while reaching the retain model's forget probability",
    "npo_utility": "at matched forgetting NPO keeps ≥ 1.5× GA's model utility",
    "npo_rt_quality": "NPO+RT reaches forget quality ≥ 0.1 at ≥ 80 % of the fine-tuned model's utility",
    "ga_rt_differs": "GA+RT differs from GA (model utility differs by ≥ 5 % of the fine-tuned model's)",
}


def _utility_at(method: Mapping, step: int | None) -> float | None:
    if step is None:
        return None
    for e in method.get("evaluations", []):
        if e["step"] == step:
            return e.get("model_utility")
    return None


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def demo_claims(summary: Mapping) -> dict[str, dict[str, Any]]:
    """``{claim: {"holds": True | False | None, numbers...}}`` for one demo summary; ``None`` where a method
    the claim needs was not run (or the measure is undefined, e.g. a method never reached matched forgetting)."""
    methods = summary.get("methods", {})
    mu_ft = summary.get("finetuned", {}).get("model_utility")
    out: dict[str, dict[str, Any]] = {}
    ga, npo = methods.get("GA"), methods.get("NPO")

    if ga is not None:
        s = ga.get("steps_to_collapse")
        # no fine-tuned utility (e.g. untrained smoke-size models): collapse is undefined, not refuted
        out["ga_collapses"] = {"holds": (s is not None) if mu_ft else None, "GA_steps_to_collapse": s}
    if ga is not None and npo is not None:
        s_ga, s_npo = ga.get("steps_to_collapse"), npo.get("steps_to_collapse")
        reached = npo.get("matched_forgetting_step") is not None
        ratio = _ratio(s_npo, s_ga)
        if s_ga is None:
            holds = None  # nothing to compare with
        elif s_npo is None:
            holds = reached
        else:
            holds = ratio >= THRESHOLDS["collapse_ratio"]
        out["npo_slower"] = {
            "holds": holds,
            "GA_steps_to_collapse": s_ga,
            "NPO_steps_to_collapse": s_npo,
            "ratio": ratio,
            "NPO_reaches_retain_forget_probability": reached,
        }
        u_ga = _utility_at(ga, ga.get("matched_forgetting_step"))
        u_npo = _utility_at(npo, npo.get("matched_forgetting_step"))
        ratio = _ratio(u_npo, u_ga)
        out["npo_utility"] = {
            "holds": None if ratio is None else ratio >= THRESHOLDS["utility_ratio"],
            "GA_matched_step": ga.get("matched_forgetting_step"),
            "NPO_matched_step": npo.get("matched_forgetting_step"),
            "GA_utility_at_matched": u_ga,
            "NPO_utility_at_matched": u_npo,
            "ratio": ratio,
        }
    rt = methods.get("NPO+RT")
    if rt is not None and mu_ft:
        evals = [e for e in rt.get("evaluations", []) if e.get("model_utility") is not None]
        kept = [
            e["forget_quality"]
            for e in evals
            if e["model_utility"] >= THRESHOLDS["utility_kept"] * mu_ft and e.get("forget_quality") is not None
        ]
        best = max(kept) if kept else None
        out["npo_rt_quality"] = {
            "holds": best is not None and best >= THRESHOLDS["forget_quality"],
            "best_forget_quality_at_kept_utility": best,
            "evaluations_looked_at": len(kept),
        }
    gart = methods.get("GA+RT")
    if ga is not None and gart is not None and mu_ft:
        a = {e["step"]: e.get("model_utility") for e in ga.get("evaluations", [])}
        b = {e["step"]: e.get("model_utility") for e in gart.get("evaluations", [])}
        diffs = [abs(a[s] - b[s]) for s in set(a) & set(b) if a[s] is not None and b[s] is not None]
        largest = max(diffs) / mu_ft if diffs else None
        out["ga_rt_differs"] = {
            "holds": None if largest is None else largest >= THRESHOLDS["ga_rt_difference"],
            "largest_utility_difference_over_finetuned": largest,
            "common_steps": len(diffs),
        }
    return out


def _verdict(holds: bool | None) -> str:
    return "not measured" if holds is None else ("reproduces" if holds else "does not reproduce")


def claims_table(claims: Mapping[str, Mapping]):
    """One row per claim: the claim, the verdict at this scale and its numbers."""
    import pandas as pd

    rows = []
    for name, c in claims.items():
        numbers = {k: v for k, v in c.items() if k != "holds"}
        rows.append({"claim": CLAIMS.get(name, name), "verdict": _verdict(c.get("holds")), "numbers": numbers})
    return pd.DataFrame(rows)


def _spread(values: Sequence[float]) -> tuple[float | None, float | None]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, None
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def seed_table(per_seed: Mapping[int, Mapping[str, Mapping]]):
    """Claims over seeds: per claim, on how many seeds it reproduces, and mean ± standard deviation of its
    numbers across seeds (``per_seed``: ``{seed: demo_claims(...)}``)."""
    import pandas as pd

    names = list(dict.fromkeys(n for c in per_seed.values() for n in c))
    rows = []
    for name in names:
        entries = [c[name] for c in per_seed.values() if name in c]
        held = [e.get("holds") for e in entries]
        row: dict[str, Any] = {
            "claim": CLAIMS.get(name, name),
            "seeds": len(entries),
            "reproduces_on": sum(h is True for h in held),
            "verdict": (
                "reproduces"
                if held and all(h is True for h in held)
                else "does not reproduce"
                if any(h is False for h in held)
                else "not measured"
            ),
        }
        keys = [k for k, v in entries[0].items() if k != "holds" and isinstance(v, (int, float, type(None)))]
        keys = [k for k in keys if not any(isinstance(e.get(k), bool) for e in entries)]
        for k in keys:
            mean, sd = _spread([e.get(k) for e in entries if not isinstance(e.get(k), bool)])
            row[k] = None if mean is None else f"{mean:.3g} ± {sd:.2g}"
        rows.append(row)
    return pd.DataFrame(rows)
