"""Verbatim memorisation of answers: exact memorisation and extraction strength, as open-unlearning defines them.

Both read the model's greedy (argmax) prediction at every answer position under teacher forcing — the prompt and
the true answer prefix are given — from the same forward pass as the membership scores
(:func:`npo_lab.audit.mia.answer_stats`). For answer tokens ``y_1..y_n`` (+ EOS in npo_lab) and predictions
``ŷ_t = argmax_v π(v | x, y_<t)``:

* **exact memorisation** (Tirumala et al. 2022, arXiv 2205.10770; open-unlearning ``exact_memorization``):
  ``EM = (1/n) Σ_t 1[ŷ_t = y_t]``, the share of answer tokens the model predicts exactly;
* **extraction strength** (Wang et al. 2025, arXiv 2406.09179, Sec. 4; open-unlearning ``extraction_strength``):
  ``ES = 1 − k*/n`` with ``k* = min {k ∈ 0..n : ŷ_t = y_t for every t > k}``, the shortest given prefix after
  which the model reproduces the rest of the answer. 1: the whole answer follows from the question alone; 0:
  not even the last token is predicted. (open-unlearning's loop stops at ``k = n − 1``, so an answer with no
  matching suffix gets ``1/n`` there instead of 0.)
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["exact_memorization", "extraction_strength", "memorization_scores"]


def _pair(pred, target) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred.cpu() if isinstance(pred, torch.Tensor) else pred).reshape(-1)
    t = np.asarray(target.cpu() if isinstance(target, torch.Tensor) else target).reshape(-1)
    if p.shape != t.shape or p.size == 0:
        raise ValueError(f"pred and target must be non-empty and of the same length, got {p.size} and {t.size}")
    return p, t


def exact_memorization(pred, target) -> float:
    """``(1/n) Σ_t 1[ŷ_t = y_t]``: the fraction of answer tokens whose greedy prediction is the answer token."""
    p, t = _pair(pred, target)
    return float((p == t).mean())


def extraction_strength(pred, target) -> float:
    """``1 − k*/n``: ``k*`` is the shortest prefix after which every greedy prediction matches (0 if none does)."""
    p, t = _pair(pred, target)
    wrong = np.flatnonzero(p != t)
    k = 0 if wrong.size == 0 else int(wrong[-1]) + 1  # the suffix after the last wrong prediction matches
    return 1.0 - k / p.size


def memorization_scores(stats) -> dict[str, float]:
    """Mean ``exact_memorization`` and ``extraction_strength`` over the answers of an ``AnswerStats``."""
    if len(stats) == 0:
        raise ValueError("stats holds no answers")
    em = [exact_memorization(p, t) for p, t in zip(stats.pred, stats.target)]
    es = [extraction_strength(p, t) for p, t in zip(stats.pred, stats.target)]
    return {"exact_memorization": float(np.mean(em)), "extraction_strength": float(np.mean(es))}
