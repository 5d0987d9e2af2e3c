"""Membership inference on answers: per-token statistics, LOSS / zlib / min-k % / min-k++ scores, ROC AUC, privleak.

A membership-inference attack (MIA) scores each answer; a good attack separates answers the model was trained on
(the forget set, *members*) from answers of authors it never saw (the holdout set, *non-members*). Every score
here follows open-unlearning's sign convention (``src/evals/metrics/mia``): **higher = looks less like training
data** (like a loss), and :func:`roc_auc` is the probability that a random holdout answer scores higher than a
random forget answer — 1.0: the forget answers are clearly members, 0.5: indistinguishable from unseen ones
(what a model that never saw the forget authors gives), below 0.5: *less* likely than unseen text (over-unlearned).

Per-token quantities are over the answer tokens + EOS (the targets of training, as everywhere in npo_lab;
open-unlearning drops the EOS target). For answer ``y`` with tokens ``y_1..y_n`` and ``ℓ_t = log π(y_t | x, y_<t)``:

* **LOSS** (Yeom et al. 2018, arXiv 1709.01604): ``−(1/n) Σ_t ℓ_t``;
* **zlib** (Carlini et al. 2021, arXiv 2012.07805, Sec. 6.1): LOSS / ``len(zlib.compress(answer.encode("utf-8")))``;
* **min-k %** (Shi et al. 2023, arXiv 2310.16789): ``−mean`` of the ``max(1, ⌊k·n⌋)`` smallest ``ℓ_t``;
* **min-k++** (Zhang et al. 2024, arXiv 2404.02936, Eq. 3): the same over the standardised log-probs
  ``z_t = (ℓ_t − μ_t) / σ_t``, ``μ_t = E_{v∼π(·|x,y_<t)} log π(v|·)``, ``σ_t² = E_v (log π(v|·))² − μ_t²``
  (the mean and variance of the log-prob under the model's own next-token distribution, so it needs the full
  logits; ``σ_t²`` is clamped at 1e-6 as in open-unlearning). ``k = 0.4`` is open-unlearning's TOFU setting.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "ATTACKS",
    "AnswerStats",
    "answer_stats",
    "loss_score",
    "zlib_score",
    "min_k_score",
    "min_k_plus_plus_score",
    "mia_scores",
    "roc_auc",
    "mia_aucs",
    "privleak",
]

ATTACKS = ("loss", "zlib", "min_k", "min_k++")
_VAR_FLOOR = 1e-6


@dataclass(frozen=True)
class AnswerStats:
    """Per-answer statistics of one forward pass (lists of 1-D CPU tensors, one entry per row, length ``n_i``).

    ``token_logps``: ``ℓ_t``; ``mu`` / ``var``: mean and variance of ``log π(v|·)`` under ``v ∼ π(·|·)``;
    ``pred``: the greedy (argmax) token at each answer position; ``target``: the answer token; ``texts``: answers.
    """

    token_logps: list[torch.Tensor]
    mu: list[torch.Tensor]
    var: list[torch.Tensor]
    pred: list[torch.Tensor]
    target: list[torch.Tensor]
    texts: list[str]

    def __len__(self) -> int:
        return len(self.token_logps)


def answer_stats(model, tokenizer, rows, **options) -> AnswerStats:
    """:class:`AnswerStats` of every row, from the batched no-grad passes of :func:`npo_lab.scoring.iter_forward`
    (``options``: the fields of :class:`npo_lab.scoring.ForwardOptions`: ``template``, ``max_length``,
    ``batch_size``, ``question_key``, ``answer_key``, ``device``, ``context``).

    At each answer position the log-softmax ``(V,)`` gives ``ℓ_t`` (gathered at the target, the same numbers as
    ``score_answers(..., token_logps=True)``), ``μ_t``, ``σ_t²`` and the argmax; only answer positions are kept.
    """
    from ..scoring import ForwardOptions, iter_forward

    rows = list(rows)
    answer_key = ForwardOptions(**options).answer_key
    cols: dict[str, list[torch.Tensor]] = {k: [] for k in ("token_logps", "mu", "var", "pred", "target")}
    for batch, logits in iter_forward(model, tokenizer, rows, **options):
        target = batch["labels"][:, 1:]
        for i in range(target.shape[0]):
            keep = target[i] != -100
            lp = torch.log_softmax(logits[i, :-1][keep].float(), dim=-1)  # (n_i, V)
            tgt = target[i][keep]
            mu = (lp.exp() * lp).sum(-1)
            cols["token_logps"].append(lp.gather(-1, tgt.unsqueeze(-1)).squeeze(-1).cpu())
            cols["mu"].append(mu.cpu())
            cols["var"].append(((lp.exp() * lp.square()).sum(-1) - mu.square()).cpu())
            cols["pred"].append(lp.argmax(-1).cpu())
            cols["target"].append(tgt.cpu())
    return AnswerStats(**cols, texts=[str(r[answer_key]) for r in rows])


def _logps(token_logps) -> np.ndarray:
    lp = np.asarray(token_logps, dtype=np.float64).reshape(-1)
    if lp.size == 0:
        raise ValueError("token_logps must hold at least one token log-prob")
    if not np.isfinite(lp).all():
        raise ValueError("token_logps must be finite")
    return lp


def _check_k(k: float) -> float:
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not 0 < k <= 1:
        raise ValueError(f"k must be a fraction in (0, 1], got {k!r}")
    return float(k)


def _bottom_k_mean(values: np.ndarray, k: float) -> float:
    n = max(1, int(len(values) * _check_k(k)))
    return float(np.sort(values)[:n].mean())


def loss_score(token_logps) -> float:
    """LOSS: the mean token NLL ``−(1/n) Σ_t ℓ_t``."""
    return float(-_logps(token_logps).mean())


def zlib_score(token_logps, text: str) -> float:
    """zlib: LOSS divided by the zlib-compressed length (bytes) of the answer text (its "entropy")."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"text must be a non-empty string, got {text!r}")
    return loss_score(token_logps) / len(zlib.compress(text.encode("utf-8")))


def min_k_score(token_logps, k: float = 0.4) -> float:
    """min-k %: ``−mean`` of the ``max(1, ⌊k·n⌋)`` lowest token log-probs."""
    return -_bottom_k_mean(_logps(token_logps), k)


def min_k_plus_plus_score(token_logps, mu, var, k: float = 0.4) -> float:
    """min-k++: ``−mean`` of the ``max(1, ⌊k·n⌋)`` lowest ``z_t = (ℓ_t − μ_t) / sqrt(max(σ_t², 1e-6))``."""
    lp = _logps(token_logps)
    mu = np.asarray(mu, dtype=np.float64).reshape(-1)
    var = np.asarray(var, dtype=np.float64).reshape(-1)
    if mu.shape != lp.shape or var.shape != lp.shape:
        raise ValueError(f"mu and var must have one value per token ({lp.size}), got {mu.size} and {var.size}")
    z = (lp - mu) / np.sqrt(np.maximum(var, _VAR_FLOOR))
    return -_bottom_k_mean(z, k)


def mia_scores(stats: AnswerStats, k: float = 0.4, attacks: Sequence[str] = ATTACKS) -> dict[str, np.ndarray]:
    """``{attack: (N,) scores}`` of every answer in ``stats`` (higher = less likely a member)."""
    bad = [a for a in attacks if a not in ATTACKS]
    if bad or not attacks:
        raise ValueError(f"attacks must be a non-empty subset of {', '.join(ATTACKS)}; got {list(attacks)}")
    fns = {
        "loss": lambda i: loss_score(stats.token_logps[i]),
        "zlib": lambda i: zlib_score(stats.token_logps[i], stats.texts[i]),
        "min_k": lambda i: min_k_score(stats.token_logps[i], k),
        "min_k++": lambda i: min_k_plus_plus_score(stats.token_logps[i], stats.mu[i], stats.var[i], k),
    }
    return {a: np.array([fns[a](i) for i in range(len(stats))]) for a in attacks}


def roc_auc(forget_scores, holdout_scores) -> float:
    """ROC AUC of telling forget (members) from holdout (non-members) answers, scores "higher = non-member".

    ``AUC = [#{(f, h): s_h > s_f} + ½ #{(f, h): s_h = s_f}] / (n_f · n_h)``, computed from the Mann–Whitney U
    statistic of the pooled ranks (ties get their average rank): ``U = R_h − n_h(n_h + 1)/2`` with ``R_h`` the
    rank sum of the holdout scores, ``AUC = U / (n_f n_h)``. This equals ``sklearn.metrics.roc_auc_score`` with
    labels forget = 0, holdout = 1 (open-unlearning's ``mia_auc``) without a scikit-learn dependency for one
    formula; ``O((n_f + n_h) log(n_f + n_h))``.
    """
    from scipy.stats import rankdata

    f = np.asarray(forget_scores, dtype=np.float64).reshape(-1)
    h = np.asarray(holdout_scores, dtype=np.float64).reshape(-1)
    if f.size == 0 or h.size == 0:
        raise ValueError(f"forget_scores and holdout_scores must be non-empty, got {f.size} and {h.size} scores")
    if not (np.isfinite(f).all() and np.isfinite(h).all()):
        raise ValueError("forget_scores and holdout_scores must be finite")
    ranks = rankdata(np.concatenate([f, h]), method="average")
    u = ranks[f.size :].sum() - h.size * (h.size + 1) / 2
    return float(u / (f.size * h.size))


def mia_aucs(forget: AnswerStats, holdout: AnswerStats, k: float = 0.4, attacks=ATTACKS) -> dict[str, float]:
    """``{attack: roc_auc(forget scores, holdout scores)}`` for every attack."""
    fs, hs = mia_scores(forget, k, attacks), mia_scores(holdout, k, attacks)
    return {a: roc_auc(fs[a], hs[a]) for a in attacks}


def privleak(auc: float, retain_auc: float) -> float:
    """MUSE's privacy leakage (Shi et al. 2024, arXiv 2407.06460, Sec. 3, C3) of a model relative to the retain model.

    MUSE defines ``PrivLeak = (AUC_unlearned − AUC_retain) / AUC_retain × 100`` with its AUC oriented the other
    way round (MUSE's AUC ≈ 0 for a model that memorised the forget set). open-unlearning
    (``src/evals/metrics/privacy.py``, ``privleak``) therefore converts its own AUC ``a`` (this module's
    convention, 1 = members clearly detected) to ``1 − a`` first, which gives

        ``privleak = ((1 − a_u) − (1 − a_r)) / (1 − a_r + 1e-10) × 100``

    (the ``1e-10`` as there). 0: the attack sees what it sees on the retain model (the target; the retain model
    itself scores 0 by construction); about −100: the forget answers look as much like training data as they do
    for the fine-tuned model (under-unlearning); large positive: they look *less* familiar than unseen text
    (over-unlearning, itself a membership signal).
    """
    for name, v in (("auc", auc), ("retain_auc", retain_auc)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1 or math.isnan(v):
            raise ValueError(f"{name} must be an AUC in [0, 1], got {v!r}")
    score, ref = 1.0 - float(auc), 1.0 - float(retain_auc)
    return (score - ref) / (ref + 1e-10) * 100.0
