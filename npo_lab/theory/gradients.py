"""The derivative of a library objective with respect to its per-example inputs, from the terms' closed forms.

Every objective of :mod:`npo_lab.losses` is a weighted sum of terms, each a function of per-example inputs
(:class:`~npo_lab.losses.LossInputs`: ``logp = log π_θ(y|x)``, its reference value, token counts, a KL). The
gradient a model needs is the chain rule (paper Sec. 2.1)

    ∇_θ L = Σ_i ∂L/∂logp_i · ∇_θ logp_i      (and the same for every other input that depends on θ).

:class:`ObjectiveGradient` computes the first factor from each term's derivative (:meth:`~npo_lab.losses.Term.
derivative`: the closed form written beside the term, e.g. NPO's weight ``W = 2σ(β·log_ratio)``, or autograd for a
term without one), for many unlearning runs ("heads") at once, each with its method and hyper-parameters, on NumPy
arrays; the models of :mod:`npo_lab.theory` supply the second factor. A term added to :mod:`npo_lab.losses`
therefore reaches the toy models and the synthetic experiment with no code here. ``backend="autograd"`` (the
reference) differentiates :meth:`~npo_lab.losses.Method.loss` with torch.autograd all the way to the parameters.

Layout: an input is an array ``(..., H, n)`` (heads on axis −2, their ``n`` examples last); every head's terms are
averaged over its ``n`` examples, so the objective is ``Σ_heads Σ_k w_k · mean_i term_k``. The examples are
one-token answers: token counts are the number ``1.0``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from npo_lab.losses import HYPER_DEFAULTS, LossInputs, Method, Term

__all__ = ["BACKENDS", "check_backend", "ObjectiveGradient", "split_fields"]

#: how the theory differentiates an objective, everywhere in :mod:`npo_lab.theory`: ``"chain"`` — the terms'
#: closed-form derivatives with respect to the per-example loss inputs, times the model's analytic derivative of
#: those inputs; ``"autograd"`` — torch.autograd from :meth:`~npo_lab.losses.Method.loss` to the parameters (the
#: reference)
BACKENDS: tuple[str, ...] = ("chain", "autograd")


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    return backend


def split_fields(names) -> dict[str, tuple[str, str]]:
    """``{field: (group, quantity)}`` for :class:`~npo_lab.losses.LossInputs` field names (e.g. ``"idk_logp"`` →
    ``("idk", "logp")``), built from ``LossInputs.GROUPS`` and ``QUANTITIES``."""
    parts = {LossInputs.field(g, q): (g, q) for g in LossInputs.GROUPS for q in LossInputs.QUANTITIES}
    return {name: parts[name] for name in names}


@dataclass
class _TermPlan:
    """One term of the objective, evaluated in one call for the heads ``rows`` that use it."""

    term: Term
    rows: list[int]
    weights: np.ndarray  # (R, 1): the term's weight in each head's method
    hyper: dict  # name -> one value shared by the rows, or a (R, 1) array of per-head values

    def __post_init__(self) -> None:
        r0, r1 = self.rows[0], self.rows[-1] + 1
        self._slice = slice(r0, r1) if r1 - r0 == len(self.rows) else np.asarray(self.rows)

    def select(self, x):
        """The rows of ``x (..., H, n)`` that use the term (a number is the same for every row)."""
        if isinstance(x, (int, float)):
            return x
        s = self._slice
        if isinstance(s, slice) and s.start == 0 and s.stop == x.shape[-2]:
            return x
        return x[..., s, :]

    def add_to(self, out: dict, key, value: np.ndarray, shape, dtype=np.float64) -> None:
        """``out[key] += value`` on the term's rows (``out[key]``: zeros of ``shape`` until the first addition)."""
        if key not in out:
            out[key] = np.zeros(shape, dtype=dtype)
        if self.select(out[key]) is out[key]:
            out[key] += value
        else:
            out[key][..., self._slice, :] += value

    def derivative(self, inputs: Mapping) -> dict[str, np.ndarray]:
        """``{moving input: w/n · ∂term/∂input}`` for the term's rows (arrays that broadcast to ``(..., R, n)``)."""
        return self.on_rows({name: self.select(inputs[name]) for name in self.term.inputs})

    def on_rows(self, values: Mapping) -> dict[str, np.ndarray]:
        """:meth:`derivative` from inputs already restricted to the term's rows."""
        term = self.term
        if not term.moving:  # reads no input that moves with θ: no part in the gradient
            return {}
        scale = self.weights / np.shape(values[term.moving[0]])[-1]
        if term.grad is not None:  # the closed form, called directly (this runs at every step)
            grads = term.grad(*[values[n] for n in term.inputs], **self.hyper)
        else:
            grads = term.derivative(values, self.hyper)
        return {k: g * scale for k, g in grads.items()}


class ObjectiveGradient:
    """``∂/∂inputs`` of ``Σ_h Σ_k w_hk · mean_i term_k`` for heads ``h`` with methods and hyper-parameters.

    Args:
        methods: one :class:`~npo_lab.losses.Method` per head.
        hypers: one mapping per head (``beta``, ``alpha``, ``gamma``, ``ga_reduction``; the library's defaults
            fill the rest). A weight that names a hyper-parameter (``"alpha"``) takes the head's value.
    Each term is evaluated once for all heads that use it; a hyper-parameter that differs between those heads is
    passed as a per-head ``(R, 1)`` array (the closed forms are elementwise). :attr:`needs` lists the inputs,
    :attr:`moving` those that move with θ.
    """

    def __init__(self, methods: Sequence[Method], hypers: Sequence[Mapping]):
        if len(methods) != len(hypers) or not methods:
            raise ValueError("methods and hypers must be non-empty sequences of the same length")
        self.methods = tuple(methods)
        self.needs: frozenset[str] = frozenset().union(*(m.needs for m in methods))
        plans: dict[str, tuple[Term, list]] = {}
        for h, (method, hyper) in enumerate(zip(methods, hypers)):
            values = {**HYPER_DEFAULTS, **hyper}
            for term, w in method.terms:
                weight = float(values[w]) if isinstance(w, str) else float(w)
                plans.setdefault(term.name, (term, []))[1].append((h, weight, values))
        self._plans = [self._plan(term, uses) for term, uses in plans.values()]
        self.moving = tuple(sorted({n for p in self._plans for n in p.term.moving}))
        self._constant: dict | None = None  # the summed derivative of the terms linear in the moving inputs
        self._varying: list[_TermPlan] | None = None

    @staticmethod
    def _plan(term: Term, uses: list) -> _TermPlan:
        hyper = {}
        for name in term.hyper:
            values = [v[name] for _, _, v in uses]
            if all(v == values[0] for v in values):
                hyper[name] = values[0]
            elif all(isinstance(v, (int, float)) for v in values):
                hyper[name] = np.asarray(values, dtype=np.float64)[:, None]
            else:
                raise ValueError(f"heads using the term {term.name!r} must share {name}, got {values}")
        weights = np.asarray([w for _, w, _ in uses], dtype=np.float64)[:, None]
        return _TermPlan(term, [h for h, _, _ in uses], weights, hyper)

    def _add(self, out: dict, plan: _TermPlan, grads: dict, shapes: Mapping) -> None:
        for name, g in grads.items():
            plan.add_to(out, name, g, shapes[name])

    @staticmethod
    def _shifted(inputs: Mapping, plan: _TermPlan, step: float) -> dict:
        moving = plan.term.moving  # each moving input shifted by a different amount (DPO reads two)
        return {k: v + step * (1 + moving.index(k)) if k in moving else v for k, v in inputs.items()}

    @staticmethod
    def _same(a: dict, b: dict) -> bool:
        return all(np.array_equal(np.broadcast_to(b[k], np.shape(v)), v) for k, v in a.items())

    def prepare(self, inputs: Mapping) -> None:
        """Sort the terms, once, into those whose derivative is constant while the moving inputs move (GA and the
        NLLs are linear in logp, the KL term in kl: probed at ``inputs`` and at a shifted point) and the others;
        the constant part is summed once. ``inputs``: every needed input at its full ``(..., H_group, n)`` shape."""
        shapes = {k: np.shape(v) for k, v in inputs.items()}
        self._constant, self._varying = {}, []
        for plan in self._plans:
            at = plan.derivative(inputs)
            if all(self._same(at, plan.derivative(self._shifted(inputs, plan, s))) for s in (0.731, -1.19)):
                self._add(self._constant, plan, at, shapes)
            else:
                self._varying.append(plan)
        self.varying_needs = frozenset(n for p in self._varying for n in p.term.inputs)

    def __call__(self, inputs: Mapping) -> dict[str, np.ndarray]:
        """``{moving input: ∂objective/∂input}`` at ``inputs`` (field name → array ``(..., H_group, n)``, or a number
        for a token count); after :meth:`prepare` only the varying terms' inputs are read."""
        if self._varying is None:
            self.prepare(inputs)
        out = {k: v.copy() for k, v in self._constant.items()}
        shapes = {k: np.shape(v) for k, v in inputs.items()}
        for plan in self._varying:
            self._add(out, plan, plan.derivative(inputs), shapes)
        return out
