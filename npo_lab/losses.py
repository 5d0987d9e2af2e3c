"""Every unlearning objective, once: per-example losses of per-sequence log-probs, and the METHODS registry.

Notation (NPO paper, arXiv 2404.05868, Sec. 2–3):

* ``logp``      = log π_θ(y|x), the **sum** of the answer tokens' log-probs (prompt masked, EOS target
  included), shape ``(B,)``; ``n_tokens`` = |y|, shape ``(B,)``.
* ``ref_logp``  = the same under the reference model π_ref (the fine-tuned model before unlearning).
* ``log_ratio`` = ``logp − ref_logp``.

The public functions (:func:`npo_loss`, :func:`dpo_loss`, ...) return per-example losses ``(B,)`` and check their
inputs (finite, non-empty, matching shapes). A *term* is a plain function whose positional parameters name the
:class:`LossInputs` fields it reads and whose keyword-only parameters name the hyper-parameters it uses — its needs
are declared once, by its signature. A :class:`Method` is a weighted list of terms (a number, or the name of a
hyper-parameter such as ``"alpha"``). Trainers and the theory code ask a method what it needs
(:attr:`Method.needs_by_group`) and call :meth:`Method.loss`; nothing branches on method or term names. Beside
each term is its closed-form derivative (``_d_npo``: NPO's weight W); :meth:`Method.input_gradient` sums them.

Scaling, as in the NPO authors' reference code (TOFU ``dataloader.py`` of licong-lin/negative-preference-optimization):
the GA forget term and every NLL term (retain, "I don't know") are the Hugging Face ``outputs.loss``, i.e. the
**mean over the batch's answer tokens**; NPO, DPO and SimNPO use per-sequence summed log-probs. The paper writes
every term as an expectation of the summed log-prob; with the summed GA its forget term would be ≈ |y| times
stronger against the retain term than in the published runs. ``ga_reduction="sum"`` keeps the summed GA as an
explicit option. A batch token-mean is written per example as ``x_i · B / Σ_j n_j``, so that the batch mean of the
per-example values is the token mean.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from functools import cached_property

import torch
import torch.nn.functional as F
from torch import Tensor

from .hyper import Hyper, Settings
from .logprobs import autograd_derivative, kl_to_ref, per_token, sequence_logprob, sigmoid, token_count

# fmt: off
__all__ = [
    "sequence_logprob", "token_count", "ga_loss", "nll_loss", "npo_loss", "npo_weight", "dpo_loss", "simnpo_loss",
    "kl_to_ref", "LossInputs", "Term", "Method", "TERMS", "METHODS", "GA_REDUCTIONS", "BETA_MAX", "get_method",
    "Hyper", "HYPERS", "LossSettings", "loss_hypers",
]
# fmt: on

#: β above this is refused: (2/β) would vanish in float32 arithmetic long before β reaches float64 limits.
BETA_MAX = 1e6
BETA = 0.1  # β's default (the paper's TOFU setting), declared once: HYPERS and the functions' defaults read it
#: how the GA forget term reduces over answer tokens: the reference code's batch token-mean, or the sum.
GA_REDUCTIONS = ("token_mean", "sum")


# --------------------------------------------------------------------------------------------------------------
# input checks (used by the public functions; Method.loss runs none, so the training step never syncs the host)
# --------------------------------------------------------------------------------------------------------------
def _check_beta(beta: float, name: str = "beta") -> float:
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 < float(beta) <= BETA_MAX:
        raise ValueError(f"{name} must be a finite number in (0, {BETA_MAX:g}], got {beta!r}")
    return float(beta)


def _check(x: Tensor, name: str) -> Tensor:
    """A non-empty ``(B,)`` tensor of finite values."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 1:
        raise ValueError(f"{name} must have shape (B,), got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (batch of 0 examples)")
    if not torch.isfinite(x.detach()).all():
        raise ValueError(f"{name} contains non-finite values; log-probs must be finite")
    return x


def _check_same_shape(**tensors: Tensor) -> None:
    (name0, t0), *rest = tensors.items()
    for name, t in rest:
        if t.shape != t0.shape:
            raise ValueError(f"{name} has shape {tuple(t.shape)} but {name0} has shape {tuple(t0.shape)}")


def _check_counts(n_tokens: Tensor, like: Tensor, name: str = "n_tokens") -> Tensor:
    _check_same_shape(logp=like, **{name: n_tokens})
    if not (torch.isfinite(n_tokens) & (n_tokens == n_tokens.round()) & (n_tokens > 0)).all():
        raise ValueError(f"{name} must be > 0 for every sequence and whole (all labels masked?): {n_tokens.tolist()}")
    return n_tokens


# --------------------------------------------------------------------------------------------------------------
# the math, unchecked (what the terms call) ...
# --------------------------------------------------------------------------------------------------------------
def _token_mean_scale(n_tokens: Tensor, like: Tensor) -> Tensor:
    """``B / Σ_j n_j``: per-example values times this have the batch token-mean as their batch mean."""
    return like.new_tensor(float(like.shape[0])) / n_tokens.sum().to(like.dtype)


def _npo(logp: Tensor, ref_logp: Tensor, beta: float) -> Tensor:
    return (2.0 / beta) * F.softplus(beta * (logp - ref_logp))


def _dpo(chosen: Tensor, rejected: Tensor, ref_chosen: Tensor, ref_rejected: Tensor, beta: float) -> Tensor:
    return -(2.0 / beta) * F.logsigmoid(beta * ((chosen - ref_chosen) - (rejected - ref_rejected)))


def _simnpo(logp: Tensor, n_tokens: Tensor, beta: float, gamma: float) -> Tensor:
    return -(2.0 / beta) * F.logsigmoid(-beta * logp / n_tokens.to(logp.dtype) - gamma)


# --------------------------------------------------------------------------------------------------------------
# ... and the public per-example losses, which check their inputs
# --------------------------------------------------------------------------------------------------------------
def ga_loss(logp: Tensor, n_tokens: Tensor | None = None) -> Tensor:
    """Gradient ascent written as a loss to minimise (paper Sec. 2.1): ``L_GA = E_forget[log π_θ(y|x)]``.

    Without ``n_tokens``: ``logp`` per example (the paper's summed form). With ``n_tokens``: the reference code's
    batch token-mean, ``logp_i · B / Σ_j n_j`` (its batch mean is Σ logp / Σ |y| = −``outputs.loss``).
    Unbounded below: the source of catastrophic collapse.

    Shapes: ``logp (B,)``, ``n_tokens (B,)`` or ``None`` -> ``(B,)``.
    """
    _check(logp, "logp")
    if n_tokens is None:
        return logp
    return logp * _token_mean_scale(_check_counts(n_tokens, logp), logp)


def nll_loss(logp: Tensor, n_tokens: Tensor | None = None) -> Tensor:
    """Negative log-likelihood, the retain (RT) and "I don't know" terms (paper Sec. 5).

    Without ``n_tokens``: ``−logp``. With ``n_tokens``: the batch token-mean ``−logp_i · B / Σ_j n_j`` (the
    Hugging Face ``outputs.loss`` of the batch, as in the reference code).

    Shapes: ``logp (B,)``, ``n_tokens (B,)`` or ``None`` -> ``(B,)``.
    """
    return -ga_loss(logp, n_tokens)


def npo_loss(logp: Tensor, ref_logp: Tensor, beta: float = BETA) -> Tensor:
    """Negative Preference Optimization (paper Eq. 3):

    ``L_NPO = (2/β) · softplus(β · (logp − ref_logp)) = −(2/β) · logsigmoid(−β · log_ratio)``.

    Non-negative, ``(2/β)·log 2`` at ``log_ratio = 0``, → 0 as the forget answer becomes unlikely (bounded below,
    unlike GA). ``∂L/∂logp = npo_weight(logp, ref_logp, beta)``.

    Shapes: ``logp (B,)``, ``ref_logp (B,)`` -> ``(B,)``.
    """
    b = _check_beta(beta)
    _check_same_shape(logp=_check(logp, "logp"), ref_logp=_check(ref_logp, "ref_logp"))
    return _npo(logp, ref_logp, b)


def npo_weight(logp: Tensor, ref_logp: Tensor, beta: float = BETA) -> Tensor:
    """The adaptive weight ``W = 2σ(β · log_ratio) = 2π_θ^β / (π_θ^β + π_ref^β) = ∂L_NPO/∂logp`` (paper Eq. 4).

    ``∇L_NPO = E[W · ∇logp]`` and ``∇L_GA = E[∇logp]``: W = 1 at the start and → 0 once a sample is forgotten, which
    is why NPO diverges logarithmically rather than linearly (Theorem 2).

    Shapes: ``(B,), (B,) -> (B,)``.
    """
    b = _check_beta(beta)
    _check_same_shape(logp=_check(logp, "logp"), ref_logp=_check(ref_logp, "ref_logp"))
    return 2.0 * torch.sigmoid(b * (logp - ref_logp))


def dpo_loss(
    chosen_logp: Tensor, rejected_logp: Tensor, ref_chosen_logp: Tensor, ref_rejected_logp: Tensor, beta: float = BETA
) -> Tensor:
    """DPO with the reference code's 2/β scaling (paper Eq. 2 times 2/β):

    ``L_DPO = −(2/β) · logsigmoid(β · [(chosen − ref_chosen) − (rejected − ref_rejected)])``.

    For unlearning the forget answer is *rejected* and an "I don't know" answer *chosen*. ``(2/β)·log 2`` at zero
    margin; NPO is DPO without the chosen term.

    Shapes: four ``(B,)`` tensors -> ``(B,)``.
    """
    b = _check_beta(beta)
    named = dict(chosen_logp=chosen_logp, rejected_logp=rejected_logp)
    named.update(ref_chosen_logp=ref_chosen_logp, ref_rejected_logp=ref_rejected_logp)
    _check_same_shape(**{k: _check(v, k) for k, v in named.items()})
    return _dpo(chosen_logp, rejected_logp, ref_chosen_logp, ref_rejected_logp, b)


def simnpo_loss(logp: Tensor, n_tokens: Tensor, beta: float, gamma: float = 0.0) -> Tensor:
    """SimNPO (Fan et al. 2024, arXiv 2410.07163), reference-free and length-normalised:

    ``L_SimNPO = −(2/β) · logsigmoid(−β · logp / |y| − γ)``.

    Shapes: ``logp (B,)``, ``n_tokens (B,)`` -> ``(B,)``.
    """
    b = _check_beta(beta)
    g = HYPERS["gamma"].check(gamma)
    return _simnpo(logp, _check_counts(n_tokens, _check(logp, "logp")), b, g)


# --------------------------------------------------------------------------------------------------------------
# typed inputs, terms and methods
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LossInputs:
    """What a trainer (or a toy model) computed for one batch: ``(B,)`` tensors, ``None`` where not needed.

    Field names are ``<group>_<quantity>``; :attr:`GROUPS` and :attr:`QUANTITIES` list the parts, and
    :meth:`field` builds a name from them, so that no caller parses strings.
    """

    forget_logp: Tensor | None = None
    forget_ref_logp: Tensor | None = None
    forget_n_tokens: Tensor | None = None
    retain_logp: Tensor | None = None
    retain_n_tokens: Tensor | None = None
    retain_kl: Tensor | None = None
    idk_logp: Tensor | None = None
    idk_ref_logp: Tensor | None = None
    idk_n_tokens: Tensor | None = None

    GROUPS = ("forget", "retain", "idk")
    QUANTITIES = ("logp", "ref_logp", "n_tokens", "kl")
    MOVING = ("logp", "kl")  # the quantities that depend on θ (the others are fixed by the data and π_ref)

    @staticmethod
    def field(group: str, quantity: str) -> str:
        return f"{group}_{quantity}"

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


_FIELD_PARTS = {LossInputs.field(g, q): (g, q) for g in LossInputs.GROUPS for q in LossInputs.QUANTITIES}
_FIELD_PARTS = {k: v for k, v in _FIELD_PARTS.items() if k in LossInputs.names()}


@dataclass(frozen=True)
class Term:
    """One named term: ``fn(*inputs, **hyper)`` -> ``(B,)``; ``inputs`` and ``hyper`` come from ``fn``'s signature.

    ``grad`` (optional, same signature): the closed-form derivative ``{input: ∂term_i/∂input_i}`` for the inputs
    that move with θ (:attr:`moving`); a value may be anything that broadcasts to the input (a constant). It must
    accept torch tensors, NumPy arrays and floats (the theory iterates on NumPy). Without it, :meth:`derivative`
    uses autograd through ``fn``. A term's value for example i depends on example i's moving inputs only.
    """

    name: str
    fn: Callable[..., Tensor]
    doc: str
    grad: Callable[..., dict] | None = None
    #: hyper-parameters this term introduces (declared once, here; the shared ones are in :data:`HYPERS`)
    hypers: tuple[Hyper, ...] = ()

    @cached_property
    def inputs(self) -> tuple[str, ...]:
        params = inspect.signature(self.fn).parameters.values()
        return tuple(p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD)

    @cached_property
    def hyper(self) -> tuple[str, ...]:
        params = inspect.signature(self.fn).parameters.values()
        return tuple(p.name for p in params if p.kind is p.KEYWORD_ONLY)

    @cached_property
    def moving(self) -> tuple[str, ...]:
        """The inputs that move with θ (``logp`` and ``kl`` fields; reference log-probs and counts are fixed)."""
        return tuple(n for n in self.inputs if _FIELD_PARTS[n][1] in LossInputs.MOVING)

    def _args(self, x) -> list:
        args = []
        for name in self.inputs:
            value = x[name] if isinstance(x, Mapping) else getattr(x, name)
            if value is None:
                raise ValueError(f"loss term {self.name!r} needs the input {name!r}, which is None")
            args.append(value)
        return args

    def __call__(self, x: LossInputs, hyper: dict) -> Tensor:
        return self.fn(*self._args(x), **{h: hyper[h] for h in self.hyper})

    def derivative(self, x: LossInputs | Mapping, hyper: dict) -> dict:
        """``{moving input: ∂term_i/∂input_i}``: :attr:`grad` if the term has one, else autograd through ``fn``.
        ``x``: a :class:`LossInputs` or a mapping of its field names (tensors, NumPy arrays or floats)."""
        args, kw = self._args(x), {h: hyper[h] for h in self.hyper}
        return self.grad(*args, **kw) if self.grad is not None else autograd_derivative(self, args, kw)


def _ga(forget_logp, forget_n_tokens, *, ga_reduction):
    if ga_reduction == "sum":
        return forget_logp
    return forget_logp * _token_mean_scale(forget_n_tokens, forget_logp)


def _d_ga(forget_logp, forget_n_tokens, *, ga_reduction):  # 1 (summed) or B / Σ_j n_j (token-mean)
    return {"forget_logp": 1.0 if ga_reduction == "sum" else per_token(forget_n_tokens, forget_logp)}


def _idk_nll(idk_logp, idk_n_tokens):
    return -idk_logp * _token_mean_scale(idk_n_tokens, idk_logp)


def _d_idk_nll(idk_logp, idk_n_tokens):  # −B / Σ_j n_j
    return {"idk_logp": -per_token(idk_n_tokens, idk_logp)}


def _retain_nll(retain_logp, retain_n_tokens):
    return -retain_logp * _token_mean_scale(retain_n_tokens, retain_logp)


def _d_retain_nll(retain_logp, retain_n_tokens):  # −B / Σ_j n_j
    return {"retain_logp": -per_token(retain_n_tokens, retain_logp)}


def _retain_kl(retain_kl):
    return retain_kl


def _d_retain_kl(retain_kl):  # 1
    return {"retain_kl": 1.0}


def _npo_term(forget_logp, forget_ref_logp, *, beta):
    return _npo(forget_logp, forget_ref_logp, beta)


def _d_npo(forget_logp, forget_ref_logp, *, beta):  # W = 2σ(β·log_ratio), paper Eq. 4
    return {"forget_logp": 2.0 * sigmoid(beta * (forget_logp - forget_ref_logp))}


def _simnpo_term(forget_logp, forget_n_tokens, *, beta, gamma):
    return _simnpo(forget_logp, forget_n_tokens, beta, gamma)


def _d_simnpo(forget_logp, forget_n_tokens, *, beta, gamma):  # (2/|y|)·σ(β·logp/|y| + γ)
    n = forget_n_tokens.to(forget_logp.dtype) if isinstance(forget_n_tokens, Tensor) else forget_n_tokens
    return {"forget_logp": (2.0 / n) * sigmoid(beta * forget_logp / n + gamma)}


def _dpo_term(idk_logp, forget_logp, idk_ref_logp, forget_ref_logp, *, beta):
    return _dpo(idk_logp, forget_logp, idk_ref_logp, forget_ref_logp, beta)


def _d_dpo(idk_logp, forget_logp, idk_ref_logp, forget_ref_logp, *, beta):  # ∓2σ(−β·margin)
    w = 2.0 * sigmoid(beta * ((forget_logp - forget_ref_logp) - (idk_logp - idk_ref_logp)))
    return {"idk_logp": -w, "forget_logp": w}


TERMS: dict[str, Term] = {
    t.name: t
    for t in [
        Term("ga", _ga, "GA on forget answers (token-mean as the reference code, or summed)", _d_ga),
        Term("npo", _npo_term, "NPO on forget answers", _d_npo),
        Term("simnpo", _simnpo_term, "SimNPO on forget answers", _d_simnpo),
        Term("dpo", _dpo_term, "DPO: 'I don't know' chosen, forget answer rejected", _d_dpo),
        Term("idk_nll", _idk_nll, "NLL (batch token-mean) of 'I don't know' answers to forget questions", _d_idk_nll),
        Term("retain_nll", _retain_nll, "NLL (batch token-mean) on retain answers", _d_retain_nll),
        Term("retain_kl", _retain_kl, "KL(π_ref ‖ π_θ) on retain answers (token-mean per sequence)", _d_retain_kl),
    ]
}
for _t in TERMS.values():  # every term reads LossInputs fields only
    assert set(_t.inputs) <= set(LossInputs.names()), _t.name

Weight = float | str
#: the loss's hyper-parameters, declared once (paper Sec. 3, App. E); a term gets those its signature names
HYPERS: dict[str, Hyper] = {
    h.name: h
    for h in (
        Hyper("beta", BETA, "inverse temperature β of NPO / DPO / SimNPO", gt=0, le=BETA_MAX),
        Hyper("alpha", 1.0, "retain weight α: weight of the retain term (RT NLL or KL)", ge=0),
        Hyper("gamma", 0.0, "SimNPO reward margin γ"),
        Hyper("ga_reduction", "token_mean", "GA over answer tokens: token_mean or sum", choices=GA_REDUCTIONS),
    )
}
HYPER_DEFAULTS = {n: h.default for n, h in HYPERS.items()}  # derived: the defaults of the shared ones


def loss_hypers() -> dict[str, Hyper]:
    """:data:`HYPERS` and the hyper-parameters that the terms of :data:`METHODS` introduce (:attr:`Term.hypers`)."""
    extra = {h.name: h for m in METHODS.values() for t, _ in m.terms for h in t.hypers if h.name not in HYPERS}
    return {**HYPERS, **extra}


class LossSettings(Settings):
    """The loss's hyper-parameters as one immutable object (:func:`loss_hypers`: defaults, bounds, help), checked
    once when made: ``LossSettings(beta=0.2).alpha == 1.0``. Configs hold it; :meth:`Method.loss` takes it."""

    __slots__ = ()
    what = "loss hyper-parameter"
    registry = staticmethod(loss_hypers)


@dataclass(frozen=True)
class Method:
    """An objective ``Σ_k w_k · term_k``; a weight is a number or the name of a hyper-parameter (``"alpha"``)."""

    name: str
    terms: tuple[tuple[Term, Weight], ...]
    description: str

    @property
    def needs(self) -> frozenset[str]:
        """The :class:`LossInputs` fields the method's terms read."""
        return frozenset(i for t, _ in self.terms for i in t.inputs)

    @property
    def needs_by_group(self) -> dict[str, frozenset[str]]:
        """``{group: quantities}``, e.g. ``{"forget": {"logp", "ref_logp"}}``: what to compute for each group."""
        out: dict[str, set[str]] = {}
        for name in self.needs:
            group, quantity = _FIELD_PARTS[name]
            out.setdefault(group, set()).add(quantity)
        return {g: frozenset(q) for g, q in out.items()}

    @property
    def hyperparameters(self) -> frozenset[str]:
        weights = {w for _, w in self.terms if isinstance(w, str)}
        return frozenset(h for t, _ in self.terms for h in t.hyper) | weights

    @property
    def needs_retain(self) -> bool:
        return "retain" in self.needs_by_group

    @property
    def needs_idk(self) -> bool:
        return "idk" in self.needs_by_group

    @property
    def needs_ref_model(self) -> bool:
        """True when a reference *model* must stay in memory (KL terms); cached reference log-probs suffice else."""
        return any("kl" in q for q in self.needs_by_group.values())

    @property
    def needs_forget_ref(self) -> bool:
        return "forget_ref_logp" in self.needs

    @property
    def needs_idk_ref(self) -> bool:
        return "idk_ref_logp" in self.needs

    def loss(self, inputs: LossInputs, settings: LossSettings | None = None, /, **hyper) -> tuple[Tensor, dict]:
        """Per-example objective ``(B,)`` and the unweighted per-term values; the batch objective is ``total.mean()``.

        ``settings`` (a :class:`LossSettings`) and/or ``hyper`` keywords (``beta=0.2``, ...); missing ones take
        their defaults. Only these Python numbers are checked: no tensor is inspected, so a training step never
        waits for the device.
        """
        h = _settings(inputs, settings, hyper)
        parts = {term.name: term(inputs, h) for term, _ in self.terms}
        total = sum((h[w] if isinstance(w, str) else w) * parts[t.name] for t, w in self.terms)
        return total, parts

    def input_gradient(self, inputs: LossInputs, settings: LossSettings | None = None, /, **hyper) -> dict:
        """``{moving input: ∂total_i/∂input_i}`` ``(B,)`` each, the weighted sum ``Σ_k w_k ∂term_k/∂input`` of the
        terms' closed forms (autograd for a term without one); e.g. NPO's ``forget_logp`` entry is the weight W.
        The batch objective ``total.mean()`` has gradient ``this / B``. ``hyper``: as :meth:`loss`."""
        h = _settings(inputs, settings, hyper)
        out: dict[str, Tensor] = {}
        for term, w in self.terms:
            weight = h[w] if isinstance(w, str) else w
            for name, g in term.derivative(inputs, h).items():
                out[name] = weight * g if name not in out else out[name] + weight * g
        return {name: g + torch.zeros_like(getattr(inputs, name)) for name, g in out.items()}


def _settings(inputs, settings, hyper: dict) -> LossSettings:
    if not isinstance(inputs, LossInputs):
        raise ValueError(f"inputs must be a LossInputs, got {type(inputs).__name__}")
    return LossSettings.of(settings, **hyper)


def _m(name: str, description: str, *terms: tuple[str, Weight]) -> Method:
    return Method(name, tuple((TERMS[t], w) for t, w in terms), description)


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        _m("GA", "gradient ascent on the forget set", ("ga", 1.0)),
        _m("GA+RT", "GA + alpha * retain NLL", ("ga", 1.0), ("retain_nll", "alpha")),
        _m("GA+KL", "GA + alpha * KL(ref||theta) on retain", ("ga", 1.0), ("retain_kl", "alpha")),
        _m("IDK+RT", "learn 'I don't know' on forget + retain NLL", ("idk_nll", 1.0), ("retain_nll", "alpha")),
        _m("DPO", "DPO with IDK answers chosen, forget answers rejected", ("dpo", 1.0)),
        _m("DPO+RT", "DPO + alpha * retain NLL", ("dpo", 1.0), ("retain_nll", "alpha")),
        _m("DPO+KL", "DPO + alpha * KL(ref||theta) on retain", ("dpo", 1.0), ("retain_kl", "alpha")),
        _m("NPO", "negative preference optimization on the forget set", ("npo", 1.0)),
        _m("NPO+RT", "NPO + alpha * retain NLL", ("npo", 1.0), ("retain_nll", "alpha")),
        _m("NPO+KL", "NPO + alpha * KL(ref||theta) on retain", ("npo", 1.0), ("retain_kl", "alpha")),
        _m("SimNPO", "reference-free SimNPO + alpha * retain NLL", ("simnpo", 1.0), ("retain_nll", "alpha")),
    ]
}


def get_method(name: str) -> Method:
    """Look up a method by the paper's name; raises ``ValueError`` listing the valid names."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(METHODS)}") from None
