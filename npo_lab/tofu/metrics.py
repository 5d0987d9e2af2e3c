"""TOFU metrics: probability, ROUGE-L recall, truth ratio, forget quality, model utility; eval-log IO.

Definitions (TOFU, Maini et al. 2024, App. E.1.2 of the NPO paper arXiv 2404.05868; DESIGN.md §4):

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

Eval logs use TOFU's ``eval_log_aggregated.json`` layout: a dict with the section keys ``eval_log.json``
(retain), ``eval_real_author_wo_options.json``, ``eval_real_world_wo_options.json`` and ``eval_log_forget.json``,
each a dict of per-row fields. The fields this module reads (per row):

========================  ===========================================================================
``avg_gt_loss``           L̄ of the answer (mean token NLL; in every section, including real authors)
``avg_paraphrased_loss``  L̄ of the paraphrased answer (= ``avg_gt_loss`` for real authors / world facts)
``average_perturb_loss``  list of L̄ of the perturbed answers (5 for retain/forget, 3 otherwise)
``rougeL_recall``         ROUGE-L recall of the generation (a float in [0, 1])
``generated_text``        ``[prompt, generation, answer]`` (not needed for the numbers)
========================  ===========================================================================

Published logs also carry summed losses (``gt_loss``, ``paraphrased_loss``, ``perturb_loss``), token counts
(``num_token_*``), ``rouge1_recall`` and ``truth_ratio`` — note that TOFU's per-row ``truth_ratio`` field holds
``1/R = exp(L̄_para − mean_j L̄_pert,j)``; the numbers here never read it, they recompute R from the losses.
Per-row fields are lists (this package writes lists) or dicts keyed by the row index (published logs); both are
read, and :func:`load_eval_log` turns them into lists.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "SECTIONS",
    "UTILITY_SECTIONS",
    "COMPONENTS",
    "TRUTH_RATIO_MEANS",
    "section_key",
    "load_eval_log",
    "save_eval_log",
    "normalize_eval_log",
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
    "REFERENCE_LOG_URL",
    "reference_log_path",
    "load_reference_log",
    "add_arguments",
    "run_cli",
]

# short name -> key in TOFU's eval_log_aggregated.json
SECTIONS: dict[str, str] = {
    "retain": "eval_log.json",
    "real_authors": "eval_real_author_wo_options.json",
    "world_facts": "eval_real_world_wo_options.json",
    "forget": "eval_log_forget.json",
}
UTILITY_SECTIONS: tuple[str, ...] = ("retain", "real_authors", "world_facts")
# the nine parts of model utility, in a fixed order
COMPONENTS: tuple[str, ...] = tuple(
    f"{s}_{m}" for s in UTILITY_SECTIONS for m in ("probability", "rouge", "truth_ratio")
)
TRUTH_RATIO_MEANS: tuple[str, ...] = ("geometric", "arithmetic")
# the sections whose probability is the normalised one P_true / (P_true + sum P_pert)
_MULTIPLE_CHOICE = ("real_authors", "world_facts")


# --------------------------------------------------------------------------------------------------------------
# eval-log IO and validation
# --------------------------------------------------------------------------------------------------------------
def section_key(name: str) -> str:
    """The TOFU file key of a section given its short name (``"retain"``) or its key (``"eval_log.json"``)."""
    if name in SECTIONS:
        return SECTIONS[name]
    if name in SECTIONS.values():
        return name
    allowed = ", ".join(list(SECTIONS) + list(SECTIONS.values()))
    raise ValueError(f"section must be one of {allowed}; got {name!r}")


def _short(name: str) -> str:
    key = section_key(name)
    return next(s for s, k in SECTIONS.items() if k == key)


def _as_list(value: Any, field: str, where: str) -> list:
    """A per-row field as a list: lists pass through, index-keyed dicts are ordered by their integer keys."""
    if isinstance(value, Mapping):
        try:
            items = sorted(value.items(), key=lambda kv: int(kv[0]))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: field {field!r} is a dict whose keys are not row indices") from exc
        return [v for _, v in items]
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise ValueError(
        f"{where}: field {field!r} must be a list or a dict keyed by row index, got {type(value).__name__}"
    )


def normalize_eval_log(log: Mapping[str, Any]) -> dict[str, dict[str, list]]:
    """Copy of an eval log with every per-row field as a list; checks that each section's fields agree in length.

    Sections may be given by their TOFU keys or short names (``retain``, ``forget``, ...); the result uses the
    TOFU keys. Unknown top-level keys are kept as they are (TOFU logs sometimes carry extra files).
    """
    if not isinstance(log, Mapping):
        raise ValueError(f"log must be a dict (an eval log), got {type(log).__name__}")
    out: dict[str, Any] = {}
    for name, sec in log.items():
        try:
            key = section_key(name)
        except ValueError:
            out[name] = sec
            continue
        if not isinstance(sec, Mapping):
            raise ValueError(f"section {key!r} must be a dict of per-row fields, got {type(sec).__name__}")
        fields = {f: _as_list(v, f, key) for f, v in sec.items()}
        lengths = {f: len(v) for f, v in fields.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"section {key!r}: per-row fields have different lengths: {lengths}")
        out[key] = fields
    return out


def load_eval_log(path: str | Path) -> dict[str, dict[str, list]]:
    """Read a TOFU eval log (``eval_log_aggregated.json`` layout) and return it with per-row lists.

    ``path`` is the JSON file, or a directory holding ``eval_log_aggregated.json``.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "eval_log_aggregated.json"
    if not p.is_file():
        raise ValueError(f"path: no eval log at {str(p)!r}")
    with open(p) as fh:
        try:
            log = json.load(fh)
        except json.JSONDecodeError as exc:
            raise ValueError(f"path: {str(p)!r} is not valid JSON ({exc})") from exc
    log = normalize_eval_log(log)
    if not any(k in log for k in SECTIONS.values()):
        raise ValueError(f"path: {str(p)!r} has none of the eval-log sections {list(SECTIONS.values())}")
    return log


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    if hasattr(x, "tolist") and callable(x.tolist):  # torch tensors
        return _jsonable(x.tolist())
    return x


def save_eval_log(log: Mapping[str, Any], path: str | Path) -> Path:
    """Write an eval log as JSON in TOFU's layout with per-row **lists**; returns the path written."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    data = _jsonable(normalize_eval_log(log))
    tmp = p.with_name(p.name + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=1)
    tmp.replace(p)
    return p


def _get_section(log: Mapping[str, Any], name: str) -> dict[str, list]:
    key = section_key(name)
    if key not in log:
        present = [k for k in log if k in SECTIONS.values()]
        raise ValueError(f"log has no section {key!r} ({_short(key)}); sections present: {present}")
    sec = log[key]
    if not isinstance(sec, Mapping):
        raise ValueError(f"section {key!r} must be a dict of per-row fields, got {type(sec).__name__}")
    return sec  # type: ignore[return-value]


def _field(sec: Mapping[str, Any], field: str, where: str) -> list:
    if field not in sec:
        raise ValueError(f"section {where!r} is missing the key {field!r} (fields present: {sorted(sec)})")
    return _as_list(sec[field], field, where)


def _losses(sec: Mapping[str, Any], field: str, where: str) -> np.ndarray:
    """A per-row loss field as a float array, (N,) or (N, K); NaN or ragged rows raise ValueError."""
    rows = _field(sec, field, where)
    if len(rows) == 0:
        raise ValueError(f"section {where!r}: field {field!r} has no rows")
    try:
        arr = np.asarray(rows, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"section {where!r}: field {field!r} must be numbers (or equal-length lists of numbers per row)"
        ) from exc
    if arr.ndim == 2 and arr.shape[1] == 0:
        raise ValueError(f"section {where!r}: field {field!r} has rows with no perturbed answers")
    bad = np.argwhere(np.isnan(arr))
    if bad.size:
        raise ValueError(f"section {where!r}: field {field!r} has NaN losses (first at row {int(bad[0][0])})")
    return arr


# --------------------------------------------------------------------------------------------------------------
# per-row quantities
# --------------------------------------------------------------------------------------------------------------
def answer_probabilities(log: Mapping[str, Any], section: str) -> np.ndarray:
    """Per-row ``P̃(answer) = exp(−L̄_answer)`` from ``avg_gt_loss``, shape (N,)."""
    key = section_key(section)
    return np.exp(-_losses(_get_section(log, key), "avg_gt_loss", key))


def normalized_probabilities(log: Mapping[str, Any], section: str) -> np.ndarray:
    """Per-row ``P̃_true / (P̃_true + Σ_j P̃_pert,j)``, shape (N,) (TOFU's real-authors / world-facts probability).

    Computed in log space (a softmax over ``−L̄``) so that large losses cannot underflow to 0/0.
    """
    key = section_key(section)
    sec = _get_section(log, key)
    gt = _losses(sec, "avg_gt_loss", key)
    pert = _perturbed(sec, key, len(gt))
    neg = -np.concatenate([gt[:, None], pert], axis=1)  # (N, 1+K) log-probabilities
    m = neg.max(axis=1, keepdims=True)
    return np.exp(neg[:, 0] - (m[:, 0] + np.log(np.exp(neg - m).sum(axis=1))))


def _perturbed(sec: Mapping[str, Any], key: str, n: int) -> np.ndarray:
    pert = _losses(sec, "average_perturb_loss", key)
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
    sec = _get_section(log, key)
    field = "avg_paraphrased_loss"
    if field not in sec and _short(key) in _MULTIPLE_CHOICE:
        field = "avg_gt_loss"
    para = _losses(sec, field, key)
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
    return _losses(_get_section(log, key), "rougeL_recall", key)


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
    if _short(section) in _MULTIPLE_CHOICE:
        return float(np.mean(normalized_probabilities(log, section)))
    return float(np.mean(answer_probabilities(log, section)))


def rouge(log: Mapping[str, Any], section: str) -> float:
    """Section ROUGE: mean ROUGE-L recall."""
    return float(np.mean(rouge_recalls(log, section)))


def truth_ratio(log: Mapping[str, Any], section: str, mean: str = "geometric") -> float:
    """Section truth-ratio score (:func:`truth_ratio_score` of :func:`truth_ratios`)."""
    return truth_ratio_score(truth_ratios(log, section, mean), forget=_short(section) == "forget")


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
            texts = _as_list(sec["generated_text"], "generated_text", key)
            df["question"] = [t[0] if len(t) > 0 else "" for t in texts]
            df["generation"] = [t[1] if len(t) > 1 else "" for t in texts]
            df["answer"] = [t[2] if len(t) > 2 else "" for t in texts]
        frames.append(df)
    if not frames:
        raise ValueError("log has no eval-log sections")
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------------------------------------
# the published reference logs (TOFU's Llama-2-7B / phi-1.5 evaluations)
# --------------------------------------------------------------------------------------------------------------
#: where TOFU publishes its eval logs (GitHub repository locuslab/tofu, folder data/); ``{model}`` is
#: ``llama2-7b`` (lr 1e-05) or ``phi`` (lr 2e-05), ``{which}`` ``full``, ``retain90``, ``retain95``, ``retain99``.
REFERENCE_LOG_URL = (
    "https://raw.githubusercontent.com/locuslab/tofu/main/data/ft_epoch5_lr{lr}_{model}_{which}_wd0.01/"
    "eval_results/ds_size300/eval_log_aggregated.json"
)
_REFERENCE_LR = {"llama2-7b": "1e-05", "phi": "2e-05"}
_REFERENCE_WHICH = ("full", "retain90", "retain95", "retain99")


def _reference_dirs() -> list[Path]:
    dirs = []
    env = os.environ.get("NPO_LAB_TOFU_LOGS", "").strip()
    if env:
        dirs.append(Path(env).expanduser())
    data = os.environ.get("NPO_LAB_TOFU_DIR", "").strip()
    if data:
        dirs.append(Path(data).expanduser().resolve().parent / "eval_logs")
    return dirs


def reference_log_path(which: str = "full", model: str = "llama2-7b", download: bool = True) -> Path:
    """Path of a published TOFU eval log ``{model}_{which}.json``.

    Looked up in ``$NPO_LAB_TOFU_LOGS``, then in ``eval_logs/`` beside ``$NPO_LAB_TOFU_DIR`` (``…/tofu/data`` →
    ``…/tofu/eval_logs``), then in the cache ``$NPO_LAB_CACHE/tofu_eval_logs`` (default
    ``~/.cache/npo_lab/tofu_eval_logs``); if absent and ``download``, fetched once from
    :data:`REFERENCE_LOG_URL` (the locuslab/tofu GitHub repository) into the cache.
    """
    if which not in _REFERENCE_WHICH:
        raise ValueError(f"which must be one of {_REFERENCE_WHICH}, got {which!r}")
    if model not in _REFERENCE_LR:
        raise ValueError(f"model must be one of {tuple(_REFERENCE_LR)}, got {model!r}")
    name = f"{model}_{which}.json"
    for d in _reference_dirs():
        if (d / name).is_file():
            return d / name
    cache = Path(os.environ.get("NPO_LAB_CACHE", "").strip() or Path.home() / ".cache" / "npo_lab")
    target = cache / "tofu_eval_logs" / name
    if target.is_file():
        return target
    if not download:
        raise ValueError(f"reference log {name} not found (set NPO_LAB_TOFU_LOGS or allow download)")
    import urllib.request

    url = REFERENCE_LOG_URL.format(lr=_REFERENCE_LR[model], model=model, which=which)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    urllib.request.urlretrieve(url, tmp)  # noqa: S310 - a fixed https URL
    tmp.replace(target)
    return target


def load_reference_log(which: str = "full", model: str = "llama2-7b", download: bool = True) -> dict:
    """:func:`load_eval_log` of :func:`reference_log_path` (e.g. ``load_reference_log("retain90")``)."""
    return load_eval_log(reference_log_path(which, model, download))


# --------------------------------------------------------------------------------------------------------------
# CLI: npo-lab metrics LOG [--retain RETAIN_LOG] [--json]
# --------------------------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", metavar="LOG", help="eval log (TOFU eval_log_aggregated.json layout, or its directory)")
    parser.add_argument("--retain", metavar="RETAIN_LOG", default=None,
                        help="eval log of the retain model (same forget rows) for forget quality")
    parser.add_argument("--mean", choices=TRUTH_RATIO_MEANS, default="geometric",
                        help="mean over perturbed answers in the truth ratio (default: geometric, as TOFU)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")


def run_cli(args: argparse.Namespace) -> int:
    import sys

    try:
        log = load_eval_log(args.log)
        retain_log = load_eval_log(args.retain) if args.retain else None
        out = summarize(log, retain_log, mean=args.mean)
    except ValueError as exc:
        print(f"npo-lab metrics: error: {exc}", file=sys.stderr)
        return 2
    n = out["n_forget"]
    out["ks_floor"] = ks_floor(n)
    out["log10_ks_floor"] = log10_ks_floor(n)
    if retain_log is not None:
        out["ks_statistic"] = ks_test(log, retain_log, mean=args.mean)["statistic"]
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    labels = {"retain": "retain", "real_authors": "real authors", "world_facts": "world facts"}
    print(f"eval log: {args.log}")
    print(f"model utility          {out['model_utility']:.4f}   (harmonic mean of 9 parts, truth ratio: {args.mean})")
    for s in UTILITY_SECTIONS:
        print(f"  {labels[s]:<13} probability {out[s + '_probability']:.4f}   ROUGE-L recall {out[s + '_rouge']:.4f}"
              f"   truth ratio {out[s + '_truth_ratio']:.4f}")
    print(f"forget ({n} rows)       probability {out['forget_probability']:.4f}   ROUGE-L recall "
          f"{out['forget_rouge']:.4f}   truth ratio {out['forget_truth_ratio']:.4f}")
    if retain_log is None:
        print("forget quality         n/a (give --retain RETAIN_LOG)")
    else:
        print(f"forget quality         {out['forget_quality']:.3g}   (KS p-value vs {args.retain}; "
              f"KS statistic {out['ks_statistic']:.4f})")
    print(f"KS floor for n={n:<4}    {out['ks_floor']:.3g}   (= 2/C(2n, n), the smallest possible forget quality)")
    return 0
