"""Unlearning objectives as pure functions of per-sequence log-probabilities, and the METHODS registry.

Conventions (DESIGN.md §3, paper arXiv 2404.05868):

* ``logp``      = log π_θ(y|x): the **sum** of the answer tokens' log-probs (prompt masked with -100, EOS target
  included), shape ``(B,)``.
* ``ref_logp``  = the same under the reference model π_ref (the fine-tuned model before unlearning), ``(B,)``.
* ``log_ratio`` = ``logp - ref_logp``.

Every loss returns **per-example** losses of shape ``(B,)``; the objective is their mean over the batch.
All formulas use numerically stable forms (``F.softplus``, ``F.logsigmoid``, ``log_softmax``) so that they are
finite for log-ratios of any size, in float32 and bfloat16.

A method (``GA``, ``NPO+RT``, ...) is a weighted sum of named *terms*; the registry ``METHODS`` maps the paper's
names to :class:`Method` objects, and :func:`get_method` looks one up. No code branches on method names: a
trainer asks a method which inputs its terms need (:meth:`Method.needs`) and calls :meth:`Method.loss`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "sequence_logprob",
    "token_count",
    "ga_loss",
    "nll_loss",
    "npo_loss",
    "npo_weight",
    "dpo_loss",
    "simnpo_loss",
    "kl_to_ref",
    "LossTerm",
    "Method",
    "TERMS",
    "METHODS",
    "get_method",
]


# --------------------------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------------------------
def _check_beta(beta: float, name: str = "beta") -> float:
    b = float(beta)
    if not math.isfinite(b) or b <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {beta!r}")
    return b


def _check_tensor(x: Tensor, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 1:
        raise ValueError(f"{name} must have shape (B,), got shape {tuple(x.shape)}")
    if torch.isnan(x.detach()).any():
        raise ValueError(f"{name} contains NaN values")
    return x


def _check_same_shape(**tensors: Tensor) -> None:
    items = list(tensors.items())
    name0, t0 = items[0]
    for name, t in items[1:]:
        if t.shape != t0.shape:
            raise ValueError(
                f"{name} has shape {tuple(t.shape)} but {name0} has shape {tuple(t0.shape)}; they must match"
            )


# --------------------------------------------------------------------------------------------------------------
# from logits to per-sequence log-probs
# --------------------------------------------------------------------------------------------------------------
def sequence_logprob(logits: Tensor, labels: Tensor, ignore_index: int = -100) -> Tensor:
    """Sum of the label tokens' log-probabilities per sequence: ``logp = Σ_t log π_θ(y_t | y_<t, x)``.

    Causal shift: the logits at position ``t`` predict ``labels[t + 1]``. Positions whose (shifted) label equals
    ``ignore_index`` (prompt and padding) contribute nothing.

    Args:
        logits: ``(B, T, V)`` float logits of a causal LM.
        labels: ``(B, T)`` long token ids, ``ignore_index`` where masked.
    Returns:
        ``(B,)`` float32 tensor of summed log-probs (≤ 0).
    """
    if logits.dim() != 3:
        raise ValueError(f"logits must have shape (B, T, V), got shape {tuple(logits.shape)}")
    if labels.shape != logits.shape[:2]:
        raise ValueError(
            f"labels must have shape (B, T) = {tuple(logits.shape[:2])} to match logits, got {tuple(labels.shape)}"
        )
    shift_logits = logits[:, :-1, :].float()
    shift_labels = labels[:, 1:]
    mask = shift_labels != ignore_index
    safe_labels = shift_labels.masked_fill(~mask, 0)
    logprobs = torch.log_softmax(shift_logits, dim=-1)
    tok = logprobs.gather(-1, safe_labels.unsqueeze(-1)).squeeze(-1)
    return (tok * mask).sum(dim=-1)


def token_count(labels: Tensor, ignore_index: int = -100) -> Tensor:
    """Number of label tokens per sequence after the causal shift: ``|y|``, shape ``(B,)`` (long)."""
    return (labels[:, 1:] != ignore_index).sum(dim=-1)


# --------------------------------------------------------------------------------------------------------------
# per-example losses
# --------------------------------------------------------------------------------------------------------------
def ga_loss(logp: Tensor) -> Tensor:
    """Gradient ascent on the forget set, written as a loss to *minimise*: ``L_GA = logp``.

    Paper Sec. 2.1: ``L_GA(θ) = E_forget[log π_θ(y|x)]``; descent on it lowers the forget likelihood and is
    unbounded below (the source of catastrophic collapse).

    Shapes: ``logp (B,) -> (B,)``.
    """
    _check_tensor(logp, "logp")
    return logp


def nll_loss(logp: Tensor, n_tokens: Tensor | None = None) -> Tensor:
    """Negative log-likelihood ``-logp``; the mean per token ``-logp / |y|`` when ``n_tokens`` is given.

    Used for the retain term (RT) and for IDK answers (paper Sec. 5, "+RT" and IDK).

    Shapes: ``logp (B,)``, ``n_tokens (B,)`` or ``None`` -> ``(B,)``.
    """
    _check_tensor(logp, "logp")
    if n_tokens is None:
        return -logp
    _check_same_shape(logp=logp, n_tokens=n_tokens)
    if (n_tokens <= 0).any():
        raise ValueError("n_tokens must be > 0 for every sequence (an answer with no label tokens?)")
    return -logp / n_tokens.to(logp.dtype)


def npo_loss(logp: Tensor, ref_logp: Tensor, beta: float = 0.1) -> Tensor:
    """Negative Preference Optimization (paper Eq. 3):

    ``L_NPO = (2/β) · softplus(β · (logp − ref_logp)) = −(2/β) · logsigmoid(−β · log_ratio)``.

    Non-negative, equals ``(2/β)·log 2`` at ``log_ratio = 0``, and tends to 0 as the forget answer becomes
    unlikely (bounded below, unlike GA). ``∂L/∂logp = npo_weight(logp, ref_logp, beta)``.

    Shapes: ``logp (B,)``, ``ref_logp (B,)`` -> ``(B,)``.
    """
    b = _check_beta(beta)
    _check_tensor(logp, "logp")
    _check_tensor(ref_logp, "ref_logp")
    _check_same_shape(logp=logp, ref_logp=ref_logp)
    return (2.0 / b) * F.softplus(b * (logp - ref_logp))


def npo_weight(logp: Tensor, ref_logp: Tensor, beta: float = 0.1) -> Tensor:
    """The adaptive weight ``W = 2 σ(β · (logp − ref_logp)) = ∂L_NPO/∂logp`` (paper Eq. 4).

    ``∇L_NPO = E[W · ∇logp]`` while ``∇L_GA = E[∇logp]``: W = 1 at the start of unlearning and → 0 once a sample
    is forgotten, which is why NPO diverges logarithmically rather than linearly (Theorem 2).

    Shapes: ``(B,), (B,) -> (B,)``.
    """
    b = _check_beta(beta)
    _check_tensor(logp, "logp")
    _check_tensor(ref_logp, "ref_logp")
    _check_same_shape(logp=logp, ref_logp=ref_logp)
    return 2.0 * torch.sigmoid(b * (logp - ref_logp))


def dpo_loss(
    chosen_logp: Tensor,
    rejected_logp: Tensor,
    ref_chosen_logp: Tensor,
    ref_rejected_logp: Tensor,
    beta: float = 0.1,
) -> Tensor:
    """Direct Preference Optimization with the official unlearning code's 2/β scaling (paper Eq. 2):

    ``L_DPO = −(2/β) · logsigmoid(β · [(chosen − ref_chosen) − (rejected − ref_rejected)])``.

    For unlearning the forget answer is *rejected* and an "I don't know" answer is *chosen*. At zero margin the
    loss equals ``(2/β)·log 2``; NPO is DPO with the chosen term dropped.

    Shapes: four ``(B,)`` tensors -> ``(B,)``.
    """
    b = _check_beta(beta)
    for name, t in (
        ("chosen_logp", chosen_logp),
        ("rejected_logp", rejected_logp),
        ("ref_chosen_logp", ref_chosen_logp),
        ("ref_rejected_logp", ref_rejected_logp),
    ):
        _check_tensor(t, name)
    _check_same_shape(
        chosen_logp=chosen_logp,
        rejected_logp=rejected_logp,
        ref_chosen_logp=ref_chosen_logp,
        ref_rejected_logp=ref_rejected_logp,
    )
    margin = (chosen_logp - ref_chosen_logp) - (rejected_logp - ref_rejected_logp)
    return -(2.0 / b) * F.logsigmoid(b * margin)


def simnpo_loss(logp: Tensor, n_tokens: Tensor, beta: float, gamma: float = 0.0) -> Tensor:
    """SimNPO (Fan et al. 2024), reference-free and length-normalised:

    ``L_SimNPO = −(2/β) · logsigmoid(−β · logp / |y| − γ)``.

    Shapes: ``logp (B,)``, ``n_tokens (B,)`` -> ``(B,)``.
    """
    b = _check_beta(beta)
    g = float(gamma)
    if not math.isfinite(g):
        raise ValueError(f"gamma must be a finite number, got {gamma!r}")
    _check_tensor(logp, "logp")
    _check_same_shape(logp=logp, n_tokens=n_tokens)
    if (n_tokens <= 0).any():
        raise ValueError("n_tokens must be > 0 for every sequence")
    return -(2.0 / b) * F.logsigmoid(-b * logp / n_tokens.to(logp.dtype) - g)


def kl_to_ref(logits: Tensor, ref_logits: Tensor, labels: Tensor, ignore_index: int = -100) -> Tensor:
    """Per-sequence mean over **answer tokens** of ``KL(π_ref(·|prefix) ‖ π_θ(·|prefix))`` (the "+KL" term).

    ``KL_t = Σ_v π_ref(v) · (log π_ref(v) − log π_θ(v))`` at every position whose shifted label is not
    ``ignore_index``; the result is ``Σ_t KL_t / |y|``. The TOFU reference code averages over prompt and padding
    positions too; we average over answer tokens only so that the value does not depend on padding.

    Shapes: ``logits (B, T, V)``, ``ref_logits (B, T, V)``, ``labels (B, T)`` -> ``(B,)``.
    """
    if logits.shape != ref_logits.shape:
        raise ValueError(
            f"ref_logits has shape {tuple(ref_logits.shape)} but logits has shape {tuple(logits.shape)}; they must match"
        )
    if logits.dim() != 3 or labels.shape != logits.shape[:2]:
        raise ValueError(
            f"labels must have shape (B, T) matching logits (B, T, V); got labels {tuple(labels.shape)}, "
            f"logits {tuple(logits.shape)}"
        )
    mask = (labels[:, 1:] != ignore_index).float()
    logq = torch.log_softmax(logits[:, :-1, :].float(), dim=-1)
    logr = torch.log_softmax(ref_logits[:, :-1, :].float(), dim=-1)
    kl_tok = (logr.exp() * (logr - logq)).sum(dim=-1)
    return (kl_tok * mask).sum(dim=-1) / mask.sum(dim=-1).clamp_min(1.0)


# --------------------------------------------------------------------------------------------------------------
# terms and methods
# --------------------------------------------------------------------------------------------------------------
# The inputs a trainer may provide to a term (all (B,) tensors):
#   forget_logp, forget_ref_logp, forget_n_tokens     — the forget answers
#   retain_logp, retain_n_tokens                      — retain answers
#   idk_logp, idk_ref_logp, idk_n_tokens              — "I don't know" answers to the forget questions
#   retain_kl                                          — kl_to_ref on retain data (needs a reference model)
Inputs = Mapping[str, Tensor]


@dataclass(frozen=True)
class LossTerm:
    """One named term of an objective: a per-example loss computed from named inputs."""

    name: str
    needs: tuple[str, ...]
    fn: Callable[[Inputs, float, float], Tensor]
    doc: str


def _need(inputs: Inputs, key: str) -> Tensor:
    if key not in inputs or inputs[key] is None:
        raise ValueError(f"this loss term needs the input {key!r}; provided: {sorted(k for k in inputs)}")
    return inputs[key]


TERMS: dict[str, LossTerm] = {
    t.name: t
    for t in [
        LossTerm("ga", ("forget_logp",), lambda i, beta, gamma: ga_loss(_need(i, "forget_logp")), "GA on forget"),
        LossTerm(
            "npo",
            ("forget_logp", "forget_ref_logp"),
            lambda i, beta, gamma: npo_loss(_need(i, "forget_logp"), _need(i, "forget_ref_logp"), beta),
            "NPO on forget",
        ),
        LossTerm(
            "simnpo",
            ("forget_logp", "forget_n_tokens"),
            lambda i, beta, gamma: simnpo_loss(_need(i, "forget_logp"), _need(i, "forget_n_tokens"), beta, gamma),
            "SimNPO on forget",
        ),
        LossTerm(
            "dpo",
            ("idk_logp", "forget_logp", "idk_ref_logp", "forget_ref_logp"),
            lambda i, beta, gamma: dpo_loss(
                _need(i, "idk_logp"), _need(i, "forget_logp"), _need(i, "idk_ref_logp"), _need(i, "forget_ref_logp"), beta
            ),
            "DPO: IDK answer chosen, forget answer rejected",
        ),
        LossTerm(
            "idk_nll",
            ("idk_logp", "idk_n_tokens"),
            lambda i, beta, gamma: nll_loss(_need(i, "idk_logp"), _need(i, "idk_n_tokens")),
            "NLL (per token) of IDK answers to forget questions",
        ),
        LossTerm(
            "retain_nll",
            ("retain_logp", "retain_n_tokens"),
            lambda i, beta, gamma: nll_loss(_need(i, "retain_logp"), _need(i, "retain_n_tokens")),
            "NLL (per token) on retain data",
        ),
        LossTerm("retain_kl", ("retain_kl",), lambda i, beta, gamma: _need(i, "retain_kl"), "KL(ref‖θ) on retain"),
    ]
}


@dataclass(frozen=True)
class Method:
    """An unlearning objective: ``Σ_k weight_k · term_k``, where a weight is ``1`` or the retain weight ``alpha``.

    ``terms`` holds ``(term name, weight name)`` pairs with weight name ``"one"`` or ``"alpha"``.
    """

    name: str
    terms: tuple[tuple[str, str], ...]
    description: str

    def needs(self) -> frozenset[str]:
        """Every input key the method's terms read (see the comment above ``TERMS``)."""
        return frozenset(k for t, _ in self.terms for k in TERMS[t].needs)

    @property
    def needs_retain(self) -> bool:
        return any(k.startswith("retain_") for k in self.needs())

    @property
    def needs_idk(self) -> bool:
        return any(k.startswith("idk_") for k in self.needs())

    @property
    def needs_ref_model(self) -> bool:
        """True when a reference *model* must stay in memory (KL terms); cached ref log-probs suffice otherwise."""
        return "retain_kl" in self.needs()

    @property
    def needs_forget_ref(self) -> bool:
        return "forget_ref_logp" in self.needs()

    @property
    def needs_idk_ref(self) -> bool:
        return "idk_ref_logp" in self.needs()

    def loss(
        self, inputs: Inputs, *, beta: float = 0.1, alpha: float = 1.0, gamma: float = 0.0
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Per-example objective ``(B,)`` and the per-term values (each ``(B,)``, unweighted).

        The batch objective is ``total.mean()``. ``alpha`` must be ≥ 0 and finite; ``beta`` > 0.
        """
        a = float(alpha)
        if not math.isfinite(a) or a < 0:
            raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
        _check_beta(beta)
        weights = {"one": 1.0, "alpha": a}
        parts: dict[str, Tensor] = {}
        total: Tensor | None = None
        for term, w in self.terms:
            value = TERMS[term].fn(inputs, beta, gamma)
            parts[term] = value
            total = weights[w] * value if total is None else total + weights[w] * value
        assert total is not None
        return total, parts


def _m(name: str, terms: list[tuple[str, str]], description: str) -> Method:
    return Method(name, tuple(terms), description)


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        _m("GA", [("ga", "one")], "gradient ascent on the forget set"),
        _m("GA+RT", [("ga", "one"), ("retain_nll", "alpha")], "GA + alpha * retain NLL"),
        _m("GA+KL", [("ga", "one"), ("retain_kl", "alpha")], "GA + alpha * KL(ref||theta) on retain"),
        _m("IDK+RT", [("idk_nll", "one"), ("retain_nll", "alpha")], "learn 'I don't know' on forget + retain NLL"),
        _m("DPO", [("dpo", "one")], "DPO with IDK answers as chosen, forget answers as rejected"),
        _m("DPO+RT", [("dpo", "one"), ("retain_nll", "alpha")], "DPO + alpha * retain NLL"),
        _m("DPO+KL", [("dpo", "one"), ("retain_kl", "alpha")], "DPO + alpha * KL(ref||theta) on retain"),
        _m("NPO", [("npo", "one")], "negative preference optimization on the forget set"),
        _m("NPO+RT", [("npo", "one"), ("retain_nll", "alpha")], "NPO + alpha * retain NLL"),
        _m("NPO+KL", [("npo", "one"), ("retain_kl", "alpha")], "NPO + alpha * KL(ref||theta) on retain"),
        _m("SimNPO", [("simnpo", "one"), ("retain_nll", "alpha")], "reference-free SimNPO + alpha * retain NLL"),
    ]
}


def get_method(name: str) -> Method:
    """Look up a method by the paper's name; raises ``ValueError`` listing the valid names."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(METHODS)}") from None
