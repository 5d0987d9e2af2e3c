"""The logistic model's side of the chain rule: its per-example loss inputs and their derivatives.

Every model of :mod:`npo_lab.theory` is logistic in some logit ``z`` — the single logit, the margins of Theorem 2,
the random-features head ``θᵀφ(x)`` of Sec. 4 — with answers ``y ∈ {0, 1}``:

* ``logp = log π_θ(y|x) = log σ((2y − 1) z)``, with ``∂logp/∂z = y − σ(z)``;
* ``kl = KL(π_ref ‖ π_θ)`` of the label distribution at the input, with ``∂kl/∂z = σ(z) − σ(z_ref)``;
* ``ref_logp`` (at the reference logit ``z_ref``) and ``n_tokens = 1`` (one-token answers) are constants.

:class:`~npo_lab.theory.gradients.ObjectiveGradient` gives ``∂L/∂input`` from the library's terms; the product
with ``∂input/∂z`` is ``∂L/∂z``, and ``∂z/∂θ`` is the model's input (features, or the identity).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .gradients import ObjectiveGradient, split_fields

__all__ = ["MOVING", "bernoulli_kl", "answer_constants", "field_value", "field_derivative", "LogitGradient"]


#: the loss inputs that move with θ (the others are constants of the data and π_ref)
MOVING: tuple[str, ...] = ("logp", "kl")


def bernoulli_kl(p_logit: Tensor, q_logit: Tensor) -> Tensor:
    """``KL(Bern(σ(p)) ‖ Bern(σ(q)))`` elementwise, computed from logits (stable for any logit size)."""
    lp1, lp0 = F.logsigmoid(p_logit), F.logsigmoid(-p_logit)
    lq1, lq0 = F.logsigmoid(q_logit), F.logsigmoid(-q_logit)
    return lp1.exp() * (lp1 - lq1) + lp0.exp() * (lp0 - lq0)


def answer_constants(y: Tensor, z_ref: Tensor) -> dict[str, Tensor]:
    """What stays fixed while θ moves, for answers ``y`` to inputs with reference logits ``z_ref`` (same shape):
    the sign ``2y − 1``, ``σ(z_ref)`` and the reference log-prob ``log σ((2y − 1) z_ref)``."""
    sign = 2.0 * y - 1.0
    return {
        "y": y,
        "sign": sign,
        "z_ref": z_ref,
        "sigmoid_ref": torch.sigmoid(z_ref),
        "ref_logp": F.logsigmoid(sign * z_ref),
    }


def field_value(quantity: str, z: Tensor, answers: dict[str, Tensor]) -> Tensor:
    """A per-example loss input of the logistic model at logits ``z (..., H, n)``; ``answers`` from
    :func:`answer_constants` (broadcastable to ``z``).

    ``logp = log σ((2y − 1) z)``, ``ref_logp`` the same at ``z_ref``, ``n_tokens = 1`` (one-token answers) and
    ``kl = KL(π_ref ‖ π_θ)`` of the label distribution at the input.
    """
    if quantity == "logp":
        return F.logsigmoid(answers["sign"] * z)
    if quantity == "ref_logp":
        return answers["ref_logp"].expand_as(z)
    if quantity == "n_tokens":
        return torch.ones_like(z)
    if quantity == "kl":
        return bernoulli_kl(answers["z_ref"].expand_as(z), z)
    raise ValueError(f"the logistic model does not provide the loss input {quantity!r}")


def field_derivative(quantity: str, sigmoid_z: Tensor, answers: dict[str, Tensor]) -> Tensor:
    """``∂(input)/∂z`` of the inputs that move with θ: ``logp`` → ``y − σ(z)``, ``kl`` → ``σ(z) − σ(z_ref)``."""
    if quantity == "logp":
        return answers["y"] - sigmoid_z
    if quantity == "kl":
        return sigmoid_z - answers["sigmoid_ref"]
    raise ValueError(f"the loss input {quantity!r} does not depend on the model's parameters")


class LogitGradient:
    """``∂L/∂z = Σ_inputs ∂L/∂input · ∂input/∂z`` for logistic models, one head (an unlearning run) per row.

    Args:
        objective: the heads' :class:`~npo_lab.theory.gradients.ObjectiveGradient` (``∂L/∂input`` by autograd).
        answers: ``{group: answer_constants(y, z_ref)}`` for every :class:`~npo_lab.losses.LossInputs` group the
            objective reads (e.g. ``"forget"``, ``"idk"``, ``"retain"``).
        logits_of: ``{group: key}``: which logits each group's answers are scored with (``"idk"`` answers
            answer the forget questions: the same logits as ``"forget"``).
    Calling it with ``{key: z (..., H_key, n)}`` returns ``{key: ∂L/∂z}``. The derivative of the terms that are
    linear in the moving inputs (GA and NLL in logp) is computed once, at the first call
    (:meth:`ObjectiveGradient.split`); autograd runs every call only through the others (NPO, DPO, ...).
    """

    def __init__(self, objective: ObjectiveGradient, answers: dict[str, dict[str, Tensor]], logits_of: dict[str, str]):
        self.objective = objective
        self.fields = split_fields(objective.needs)
        missing = {g for g, _ in self.fields.values()} - set(answers)
        if missing:
            raise ValueError(f"the objective reads {sorted(missing)} answers, which this model does not have")
        self.answers, self.logits_of = answers, logits_of
        self.moving = [name for name, (_, q) in self.fields.items() if q in MOVING]
        self._varying: ObjectiveGradient | None = None
        self._constant: dict[str, Tensor] | None = None
        self._fixed: dict = {}  # (name, shape) -> the value of an input that does not move

    def inputs(self, z: dict[str, Tensor], names) -> dict[str, Tensor]:
        """The loss inputs ``names`` at logits ``z``; the moving ones are autograd leaves."""
        out = {}
        for name in names:
            group, quantity = self.fields[name]
            zz = z[self.logits_of[group]]
            if name in self.moving:
                out[name] = field_value(quantity, zz, self.answers[group]).requires_grad_()
                continue
            key = (name, zz.shape)
            if key not in self._fixed:
                self._fixed[key] = field_value(quantity, zz, self.answers[group])
            out[name] = self._fixed[key]
        return out

    def _split(self, z: dict[str, Tensor]) -> dict[str, Tensor]:
        if self._constant is None:  # first call: which terms need autograd at every step
            self._varying, self._constant = self.objective.split(self.inputs(z, self.fields), self.moving)
        return self._constant

    def constant(self, z: dict[str, Tensor]) -> dict[str, Tensor] | None:
        """``{moving input: ∂L/∂input}`` when it is the same at every ``z`` (every term is linear in the moving
        inputs, as GA is), else ``None``."""
        constant = self._split(z)
        return constant if self._varying is None else None

    def loss_gradient(self, z: dict[str, Tensor]) -> dict[str, Tensor]:
        """``{moving input: ∂L/∂input}`` at logits ``z``."""
        grads = dict(self._split(z))
        if self._varying is not None:
            wrt = [name for name in self.moving if name in self._varying.needs]
            for name, g in zip(wrt, self._varying(self.inputs(z, self._varying.needs), wrt)):
                grads[name] = g + grads[name] if name in grads else g
        return grads

    def __call__(self, z: dict[str, Tensor]) -> dict[str, Tensor]:
        sigmoid = {key: torch.sigmoid(value) for key, value in z.items()}
        out: dict[str, Tensor] = {}
        for name, grad in self.loss_gradient(z).items():
            group, quantity = self.fields[name]
            key = self.logits_of[group]
            term = grad * field_derivative(quantity, sigmoid[key], self.answers[group])
            out[key] = term if key not in out else out[key] + term
        return out
