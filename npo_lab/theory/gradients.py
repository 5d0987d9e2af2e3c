"""The derivative of a library objective with respect to its per-example inputs, by autograd.

Every objective of :mod:`npo_lab.losses` is a weighted sum of terms, each a function of per-example inputs
(:class:`~npo_lab.losses.LossInputs`: ``logp = log π_θ(y|x)``, its reference value, token counts, a KL). The
gradient a model needs is the chain rule (paper Sec. 2.1)

    ∇_θ L = Σ_i ∂L/∂logp_i · ∇_θ logp_i      (and the same for every other input that depends on θ).

:class:`ObjectiveGradient` computes the first factor by autograd *through the library's own terms*, for many
unlearning runs ("heads") at once, each with its method and hyper-parameters; the models of :mod:`npo_lab.theory`
supply the second factor. A term added to :mod:`npo_lab.losses` therefore reaches the toy models and the
synthetic experiment with no code here.

Layout: an input is a tensor ``(..., H, n)`` (heads on dim −2, their ``n`` examples last); every head's terms are
averaged over its ``n`` examples, so the objective is ``Σ_heads Σ_k w_k · mean_i term_k``. The examples are
one-token answers (``n_tokens = 1``), where the library's batch token-mean is the plain mean.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from npo_lab.losses import HYPER_DEFAULTS, LossInputs, Method, Term

__all__ = ["BACKENDS", "check_backend", "ObjectiveGradient", "split_fields"]

#: how the theory differentiates an objective, everywhere in :mod:`npo_lab.theory`: ``"chain"`` — autograd through
#: the library's terms to the per-example loss inputs, times the model's analytic derivative of those inputs;
#: ``"autograd"`` — autograd from :meth:`~npo_lab.losses.Method.loss` all the way to the parameters (the reference)
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
    inputs: tuple[str, ...]  # the term's LossInputs fields (read once: Term.inputs inspects the signature)
    rows: list[int]
    weights: Tensor  # (R, 1): the term's weight in each head's method
    hyper: dict  # name -> one value shared by the rows, or a (R, 1) tensor of per-head values
    _flat: dict = field(default_factory=dict)  # (name, shape) -> per-example tensor, built once per layout
    _index: Tensor | None = None
    _last: dict = field(default_factory=dict)  # slot -> (constant input, its selection)

    def select(self, x: Tensor, slot: int) -> Tensor:
        """The rows of ``x (..., H, n)`` (the term's input number ``slot``) that use the term, flattened to the
        library's ``(B,)``; a constant input that is the same tensor at every call is selected once."""
        cached = self._last.get(slot)
        if cached is not None and cached[0] is x:
            return cached[1]
        r0, r1 = self.rows[0], self.rows[-1] + 1
        if r1 - r0 != len(self.rows):
            if self._index is None or self._index.device != x.device:
                self._index = torch.tensor(self.rows, device=x.device)
            flat = x.index_select(-2, self._index).reshape(-1)
        else:
            flat = (x if (r0, r1) == (0, x.shape[-2]) else x[..., r0:r1, :]).reshape(-1)
        if not x.requires_grad:
            self._last[slot] = (x, flat)
        return flat

    def per_example(self, name: str, value: Tensor, shape: tuple, like: Tensor, scale: float = 1.0) -> Tensor:
        """``scale ·`` a per-head ``(R, 1)`` value, broadcast to the selected inputs' ``shape`` and flattened
        (built once per layout)."""
        key = (name, shape)
        if key not in self._flat:
            self._flat[key] = (value * scale).to(like).expand(shape).reshape(-1)
        return self._flat[key]

    def evaluate(self, inputs: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """The term's per-example values ``(B,)`` for its rows and their weights ``w / n`` in the objective."""
        first = inputs[self.inputs[0]]
        shape = (*first.shape[:-2], len(self.rows), first.shape[-1])
        args = [self.select(inputs[name], i) for i, name in enumerate(self.inputs)]
        hyper = {
            k: self.per_example(k, v, shape, args[0]) if isinstance(v, Tensor) else v for k, v in self.hyper.items()
        }
        weight = self.per_example("weight / n", self.weights, shape, args[0], scale=1.0 / shape[-1])
        return self.term.fn(*args, **hyper), weight

    def value(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """``Σ_rows w · mean_i term``: the term's contribution to the objective (a scalar)."""
        return torch.dot(*self.evaluate(inputs))


class ObjectiveGradient:
    """``∂/∂inputs`` of ``Σ_h Σ_k w_hk · mean_i term_k`` for heads ``h`` with methods and hyper-parameters.

    Args:
        methods: one :class:`~npo_lab.losses.Method` per head.
        hypers: one mapping per head (``beta``, ``alpha``, ``gamma``, ``ga_reduction``; the library's defaults
            fill the rest). A weight that names a hyper-parameter (``"alpha"``) takes the head's value.
    Each term is evaluated once for all heads that use it; a hyper-parameter that differs between those heads is
    passed as a per-head tensor (the terms are elementwise formulas). :attr:`needs` lists the inputs.
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

    @staticmethod
    def _plan(term: Term, uses: list) -> _TermPlan:
        hyper = {}
        for name in term.hyper:
            values = [v[name] for _, _, v in uses]
            if all(v == values[0] for v in values):
                hyper[name] = values[0]
            elif all(isinstance(v, (int, float)) for v in values):
                hyper[name] = torch.tensor(values, dtype=torch.float64).unsqueeze(-1)
            else:
                raise ValueError(f"heads using the term {term.name!r} must share {name}, got {values}")
        weights = torch.tensor([w for _, w, _ in uses], dtype=torch.float64).unsqueeze(-1)
        return _TermPlan(term, term.inputs, [h for h, _, _ in uses], weights, hyper)

    def objective(self, inputs: Mapping[str, Tensor]) -> Tensor:
        """The scalar ``Σ_h Σ_k w_hk · mean_i term_k`` from ``inputs`` (field name → ``(..., H, n)``)."""
        total = self._plans[0].value(inputs)
        for plan in self._plans[1:]:
            total = total + plan.value(inputs)
        return total

    def __call__(self, inputs: Mapping[str, Tensor], wrt: Sequence[str]) -> list[Tensor]:
        """``[∂objective/∂inputs[name] for name in wrt]``; those inputs must require grad. (One backward pass
        from the terms' values with their weights as output gradients: the objective's derivative.)"""
        with torch.enable_grad():
            values, weights = zip(*(plan.evaluate(inputs) for plan in self._plans))
            return list(torch.autograd.grad(values, [inputs[k] for k in wrt], weights))

    def split(self, inputs: Mapping[str, Tensor], wrt: Sequence[str]):
        """Separate the terms whose derivative depends on the ``wrt`` inputs from the others.

        A term linear in them (GA and NLL are linear in logp) has a derivative that does not change while they move
        (the other inputs — reference log-probs, token counts — held fixed): one autograd evaluation at ``inputs``
        serves every later step. Returns ``(varying, constant)``: an :class:`ObjectiveGradient` of the other
        terms (``None`` if there are none) and ``{name: summed constant derivative}``.
        """
        varying, constant = [], {}
        with torch.enable_grad():
            for plan in self._plans:
                names = [k for k in wrt if k in plan.inputs]
                if not names:  # reads no moving input: no part in the gradient
                    continue
                grads = torch.autograd.grad(plan.value(inputs), [inputs[k] for k in names], create_graph=True)
                if any(g.requires_grad for g in grads):
                    varying.append(plan)
                    continue
                for k, g in zip(names, grads):
                    constant[k] = g.detach() if k not in constant else constant[k] + g.detach()
        if not varying:
            return None, constant
        part = copy.copy(self)
        part._plans = varying
        part.needs = frozenset(name for plan in varying for name in plan.inputs)
        return part, constant
