"""TOFU metrics: probability, ROUGE-L recall, truth ratio, forget quality, model utility.

Definitions (TOFU, Maini et al. 2024; App. E.1.2 of the NPO paper, arXiv 2404.05868):

* per-answer loss ``L̄`` = mean token NLL over the answer tokens (+ EOS); probability ``P̃ = exp(−L̄)``.
* **Probability** — retain / forget: ``mean_i P̃(answer_i)``. Real authors / world facts (multiple choice
  without options): ``mean_i P̃_true / (P̃_true + Σ_j P̃_pert,j)``.
* **ROUGE** — ROUGE-L *recall* of the greedy generation against the answer (``rouge_score``, stemmer on).
* **Truth ratio** per question: ``R = exp(mean_j L̄_pert,j − L̄_para) = P̃_para / geo-mean_j P̃_pert,j``
  (for real authors / world facts the original answer stands in for the paraphrase).  The arithmetic variant
  is ``R = P̃_para / mean_j P̃_pert,j``.  Aggregates: forget ``mean min(R, 1/R)``; retain, real authors and
  world facts ``mean max(0, 1 − 1/R)``.
* **Forget quality** = ``scipy.stats.ks_2samp(R_unlearned_forget, R_retain_model_forget).pvalue``, the p-value
  of a two-sample Kolmogorov–Smirnov test between the forget-set truth ratios of the unlearned model and of the
  model trained on the retain set only. Its smallest possible value for two samples of size ``n`` is
  ``ks_floor(n) = 2 / C(2n, n)`` — so it is only comparable at a fixed ``n``.
* **Model utility** = harmonic mean of the nine numbers {probability, ROUGE, truth ratio} × {retain, real
  authors, world facts}.

Eval logs (TOFU's ``eval_log_aggregated.json`` layout) are read, validated and written by
:mod:`npo_lab.tofu.logs`; its public names are re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .logs import (
    REFERENCE_LOG_URL,
    SECTIONS,
    field_rows,
    get_section,
    load_eval_log,
    load_reference_log,
    normalize_eval_log,
    numeric_field,
    reference_log_path,
    save_eval_log,
    section_key,
    section_name,
)

__all__ = [
    # re-exported from npo_lab.tofu.logs
    "SECTIONS",
    "section_key",
    "load_eval_log",
    "save_eval_log",
    "normalize_eval_log",
    "REFERENCE_LOG_URL",
    "reference_log_path",
    "load_reference_log",
    # defined here
    "UTILITY_SECTIONS",
    "COMPONENTS",
    "TRUTH_RATIO_MEANS",
    "answer_probabilities",
    "normalized_probabilities",
    "truth_ratios",
    "truth_ratio_score",
    "rouge_recalls",
    "rouge_l_recall",
    "probability",
    "rouge",
    "truth_ratio",
    "utility_components",
    "model_utility",
    "harmonic_mean",
    "forget_probability",
    "forget_rouge",
    "forget_truth_ratio",
    "ks_test",
    "forget_quality",
    "ks_floor",
    "log10_ks_floor",
    "summarize",
    "per_row_frame",
]

UTILITY_SECTIONS: tuple[str, ...] = ("retain", "real_authors", "world_facts")
# the nine parts of model utility, in a fixed order
COMPONENTS: tuple[str, ...] = tuple(
    f"{s}_{m}" for s in UTILITY_SECTIONS for m in ("probability", "rouge", "truth_ratio")
)
TRUTH_RATIO_MEANS: tuple[str, ...] = ("geometric", "arithmetic")
# the sections whose probability is the normalised one P_true / (P_true + sum P_pert)
_MULTIPLE_CHOICE = ("real_authors", "world_facts")


# --------------------------------------------------------------------------------------------------------------
# per-row quantities
# --------------------------------------------------------------------------------------------------------------
def answer_probabilities(log: Mapping[str, Any], section: str) -> np.ndarray:
    """Per-row ``P̃(answer) = exp(−L̄_answer)`` from ``avg_gt_loss``, shape (N,)."""
    key = section_key(section)
    return np.exp(-numeric_field(get_section(log, key), "avg_gt_loss", key))


def normalized_probabilities(log: Mapping[str, Any], section: str) -> np.ndarray:
    """Per-row ``P̃_true / (P̃_true + Σ_j P̃_pert,j)``, shape (N,) (TOFU's real-authors / world-facts probability).

    Computed in log space (a softmax over ``−L̄``) so that large losses cannot underflow to 0/0.
    """
    key = section_key(section)
    sec = get_section(log, key)
    gt = numeric_field(sec, "avg_gt_loss", key)
    pert = _perturbed(sec, key, len(gt))
    neg = -np.concatenate([gt[:, None], pert], axis=1)  # (N, 1+K) log-probabilities
    m = neg.max(axis=1, keepdims=True)
    return np.exp(neg[:, 0] - (m[:, 0] + np.log(np.exp(neg - m).sum(axis=1))))


def _perturbed(sec: Mapping[str, Any], key: str, n: int) -> np.ndarray:
    pert = numeric_field(sec, "average_perturb_loss", key)
    if pert.ndim != 2:
        raise ValueError(f"section {key!r}: field 'average_perturb_loss' must hold a list of losses per row")
    if len(pert) != n:
        raise ValueError(f"section {key!r}: 'average_perturb_loss' has {len(pert)} rows, expected {n}")
    return pert


def truth_ratios(log: Mapping[str, Any], section: str, mean: str = "geometric") -> np.ndarray:
    """Per-question truth ratio ``R``, shape (N,).

    geometric (default, TOFU): ``R = exp(mean_j L̄_pert,j − L̄_para) = P̃_para / geo-mean_j P̃_pert,j``;
    arithmetic: ``R = P̃_para / mean_j P̃_pert,j``. ``L̄_para`` is ``avg_paraphrased_loss``; for real authors and
    world facts, where there is no paraphrase, a missing field falls back to ``avg_gt_loss`` (as in TOFU, where
    the two are equal). R > 1 means the model prefers the correct (paraphrased) answer to the perturbed ones.
    """
    if mean not in TRUTH_RATIO_MEANS:
        raise ValueError(f"mean must be one of {TRUTH_RATIO_MEANS}, got {mean!r}")
    key = section_key(section)
    sec = get_section(log, key)
    field = "avg_paraphrased_loss"
    if field not in sec and section_name(key) in _MULTIPLE_CHOICE:
        field = "avg_gt_loss"
    para = numeric_field(sec, field, key)
    pert = _perturbed(sec, key, len(para))
    if mean == "geometric":
        log_r = pert.mean(axis=1) - para
    else:  # log mean_j exp(-L_j), stably
        m = (-pert).max(axis=1)
        log_mean_p = m + np.log(np.exp(-pert - m[:, None]).mean(axis=1))
        log_r = -para - log_mean_p
    return np.exp(log_r)


def truth_ratio_score(r: np.ndarray | Sequence[float], forget: bool) -> float:
    """Aggregate per-question truth ratios: forget ``mean min(R, 1/R)``, otherwise ``mean max(0, 1 − 1/R)``."""
    r = np.asarray(r, dtype=float)
    if r.size == 0:
        raise ValueError("truth ratios: empty")
    with np.errstate(divide="ignore", over="ignore"):
        if forget:
            return float(np.mean(np.minimum(r, 1.0 / r)))
        return float(np.mean(np.maximum(0.0, 1.0 - 1.0 / r)))


def rouge_recalls(log: Mapping[str, Any], section: str) -> np.ndarray:
    """Per-row ROUGE-L recall stored in ``rougeL_recall``, shape (N,)."""
    key = section_key(section)
    return numeric_field(get_section(log, key), "rougeL_recall", key)


_SCORER = None


def rouge_l_recall(generations: Iterable[str], answers: Iterable[str]) -> list[float]:
    """ROUGE-L recall of each generation against its reference answer (``rouge_score``, ``use_stemmer=True``).

    Recall = LCS(answer, generation) / len(answer tokens): the share of the answer the model reproduces.
    """
    global _SCORER
    if _SCORER is None:
        from rouge_score import rouge_scorer

        _SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    gens, refs = list(generations), list(answers)
    if len(gens) != len(refs):
        raise ValueError(f"generations ({len(gens)}) and answers ({len(refs)}) must have the same length")
    return [float(_SCORER.score(ref, gen)["rougeL"].recall) for gen, ref in zip(gens, refs)]


# --------------------------------------------------------------------------------------------------------------
# aggregates
# --------------------------------------------------------------------------------------------------------------
def probability(log: Mapping[str, Any], section: str) -> float:
    """Section probability: mean ``P̃(answer)`` (retain/forget) or mean normalised probability (real authors /
    world facts)."""
    if section_name(section) in _MULTIPLE_CHOICE:
        return float(np.mean(normalized_probabilities(log, section)))
    return float(np.mean(answer_probabilities(log, section)))


def rouge(log: Mapping[str, Any], section: str) -> float:
    """Section ROUGE: mean ROUGE-L recall."""
    return float(np.mean(rouge_recalls(log, section)))


def truth_ratio(log: Mapping[str, Any], section: str, mean: str = "geometric") -> float:
    """Section truth-ratio score (:func:`truth_ratio_score` of :func:`truth_ratios`)."""
    return truth_ratio_score(truth_ratios(log, section, mean), forget=section_name(section) == "forget")


def utility_components(log: Mapping[str, Any], mean: str = "geometric") -> dict[str, float]:
    """The nine parts of model utility, keyed ``{retain,real_authors,world_facts}_{probability,rouge,truth_ratio}``."""
    out: dict[str, float] = {}
    for s in UTILITY_SECTIONS:
        out[f"{s}_probability"] = probability(log, s)
        out[f"{s}_rouge"] = rouge(log, s)
        out[f"{s}_truth_ratio"] = truth_ratio(log, s, mean)
    return out


def harmonic_mean(values: Iterable[float]) -> float:
    """``n / Σ 1/x``; 0 if any value is 0 (the harmonic mean punishes the weakest part). Negative → ValueError."""
    v = np.asarray(list(values), dtype=float)
    if v.size == 0 or np.isnan(v).any() or (v < 0).any():
        raise ValueError(f"values must be non-empty, non-negative numbers, got {v.tolist()}")
    if (v == 0).any():
        return 0.0
    return float(v.size / np.sum(1.0 / v))


def model_utility(log: Mapping[str, Any], mean: str = "geometric") -> float:
    """Model utility = harmonic mean of the nine :func:`utility_components`."""
    return harmonic_mean(utility_components(log, mean).values())


def forget_probability(log: Mapping[str, Any]) -> float:
    """Mean ``P̃(answer)`` on the forget set."""
    return probability(log, "forget")


def forget_rouge(log: Mapping[str, Any]) -> float:
    """Mean ROUGE-L recall on the forget set."""
    return rouge(log, "forget")


def forget_truth_ratio(log: Mapping[str, Any], mean: str = "geometric") -> float:
    """Forget truth-ratio score ``mean min(R, 1/R)`` (1 = no preference between paraphrased and perturbed)."""
    return truth_ratio(log, "forget", mean)


def ks_test(unlearned_log: Mapping[str, Any], retain_log: Mapping[str, Any], mean: str = "geometric") -> dict:
    """Two-sample KS test of forget-set truth ratios: unlearned model vs the retain model.

    Returns ``{"statistic", "pvalue", "n", "floor"}``; ``statistic`` is ``sup_x |F_unlearned(x) − F_retain(x)|``
    over the two ECDFs, ``pvalue`` is the forget quality and ``floor = ks_floor(n)`` its smallest possible value.
    Both logs must evaluate the same forget rows: different lengths raise ValueError.
    """
    from scipy.stats import ks_2samp

    r_u = truth_ratios(unlearned_log, "forget", mean)
    r_r = truth_ratios(retain_log, "forget", mean)
    if len(r_u) != len(r_r):
        raise ValueError(
            f"unlearned_log and retain_log have forget sections of different lengths ({len(r_u)} vs {len(r_r)});"
            " evaluate both on the same forget rows (same split, same max_rows)"
        )
    res = ks_2samp(r_u, r_r)
    return {"statistic": float(res.statistic), "pvalue": float(res.pvalue), "n": len(r_u), "floor": ks_floor(len(r_u))}


def forget_quality(unlearned_log: Mapping[str, Any], retain_log: Mapping[str, Any], mean: str = "geometric") -> float:
    """Forget quality = ``ks_2samp(R_unlearned_forget, R_retain_forget).pvalue`` (> 0.05: meaningful forgetting)."""
    return ks_test(unlearned_log, retain_log, mean)["pvalue"]


def log10_ks_floor(n: int) -> float:
    """``log10(2 / C(2n, n))``, exact in log space for any n (the floor itself underflows float64 for n ≳ 520)."""
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    n = int(n)
    log_binom = math.lgamma(2 * n + 1) - 2 * math.lgamma(n + 1)
    return (math.log(2.0) - log_binom) / math.log(10.0)


def ks_floor(n: int) -> float:
    """Smallest KS p-value for two samples of size n: ``2 / C(2n, n)`` (the samples do not overlap at all).

    Computed in log space: 1.86e-23 (n=40), 1.94e-119 (200), 1.48e-179 (300), 1.06e-239 (400).
    It is the exact two-sided p-value of ``D = 1``: of the C(2n, n) equally likely interleavings of the pooled
    sample only the two fully separated ones reach D = 1. So forget quality can never fall below this value, and
    p-values measured at different n are not comparable (a bad model scores lower simply because n is larger).
    """
    return 10.0 ** log10_ks_floor(n)


def summarize(log: Mapping[str, Any], retain_log: Mapping[str, Any] | None = None, mean: str = "geometric") -> dict:
    """All headline numbers of an eval log.

    Keys: ``model_utility``, ``forget_quality`` (None without ``retain_log``), ``forget_probability``,
    ``forget_truth_ratio``, ``forget_rouge``, ``n_forget`` and the nine :data:`COMPONENTS`.
    """
    comps = utility_components(log, mean)
    out: dict[str, Any] = {
        "model_utility": harmonic_mean(comps.values()),
        "forget_quality": None if retain_log is None else forget_quality(log, retain_log, mean),
        "forget_probability": forget_probability(log),
        "forget_truth_ratio": forget_truth_ratio(log, mean),
        "forget_rouge": forget_rouge(log),
        "n_forget": int(len(truth_ratios(log, "forget", mean))),
    }
    out.update(comps)
    return out


def per_row_frame(log: Mapping[str, Any], mean: str = "geometric"):
    """A ``pandas.DataFrame`` with one row per evaluated question of every section present: ``section``,
    ``row``, ``probability`` (P̃ or the normalised one), ``truth_ratio`` (R), ``rougeL_recall``, ``question``,
    ``generation``, ``answer``."""
    import pandas as pd

    frames = []
    for short, key in SECTIONS.items():
        if key not in log:
            continue
        sec = log[key]
        prob = normalized_probabilities(log, short) if short in _MULTIPLE_CHOICE else answer_probabilities(log, short)
        df = pd.DataFrame(
            {
                "section": short,
                "row": np.arange(len(prob)),
                "probability": prob,
                "truth_ratio": truth_ratios(log, short, mean),
                "rougeL_recall": rouge_recalls(log, short),
            }
        )
        if "generated_text" in sec:
            texts = field_rows(sec["generated_text"], "generated_text", key)
            df["question"] = [t[0] if len(t) > 0 else "" for t in texts]
            df["generation"] = [t[1] if len(t) > 1 else "" for t in texts]
            df["answer"] = [t[2] if len(t) > 2 else "" for t in texts]
        frames.append(df)
    if not frames:
        raise ValueError("log has no eval-log sections")
    return pd.concat(frames, ignore_index=True)
