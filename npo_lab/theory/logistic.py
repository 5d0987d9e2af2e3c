"""The logistic model's side of the chain rule: its per-example loss inputs and their derivatives.

Every model of :mod:`npo_lab.theory` is logistic in some logit ``z`` — the single logit, the margins of Theorem 2,
the random-features head ``θᵀφ(x)`` of Sec. 4 — with answers ``y ∈ {0, 1}``:

* ``logp = log π_θ(y|x) = log σ((2y − 1) z)``, with ``∂logp/∂z = y − σ(z)``;
* ``kl = KL(π_ref ‖ π_θ)`` of the label distribution at the input, with ``∂kl/∂z = σ(z) − σ(z_ref)``;
* ``ref_logp`` (at the reference logit ``z_ref``) and ``n_tokens = 1`` (one-token answers) are constants.

:class:`~npo_lab.theory.gradients.ObjectiveGradient` gives ``∂L/∂input`` from the library's terms; the product
with ``∂input/∂z`` is ``∂L/∂z``, and ``∂z/∂θ`` is the model's input (features, or the identity). The per-step
arithmetic is NumPy (float64): on these small arrays it costs a fraction of torch's per-operation overhead.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .gradients import ObjectiveGradient, split_fields

__all__ = ["MOVING", "bernoulli_kl", "log_sigmoid", "sigmoid", "answer_constants", "field_value", "LogitGradient"]


#: the loss inputs that move with θ (the others are constants of the data and π_ref)
MOVING: tuple[str, ...] = ("logp", "kl")


def bernoulli_kl(p_logit: Tensor, q_logit: Tensor) -> Tensor:
    """``KL(Bern(σ(p)) ‖ Bern(σ(q)))`` elementwise, computed from logits (stable for any logit size); torch tensors
    or NumPy arrays."""
    if not isinstance(p_logit, Tensor):
        lp1, lp0 = log_sigmoid(p_logit), log_sigmoid(-p_logit)
        return np.exp(lp1) * (lp1 - log_sigmoid(q_logit)) + np.exp(lp0) * (lp0 - log_sigmoid(-q_logit))
    lp1, lp0 = F.logsigmoid(p_logit), F.logsigmoid(-p_logit)
    lq1, lq0 = F.logsigmoid(q_logit), F.logsigmoid(-q_logit)
    return lp1.exp() * (lp1 - lq1) + lp0.exp() * (lp0 - lq0)


def log_sigmoid(u: np.ndarray) -> np.ndarray:
    """``log σ(u) = min(u, 0) − log(1 + e^{−|u|})``, accurate for any ``u`` (NumPy; faster than ``logaddexp``)."""
    return np.minimum(u, 0.0) - np.log1p(np.exp(-np.abs(u)))


def sigmoid(u: np.ndarray) -> np.ndarray:
    """``σ(u) = 1 / (1 + e^{−u})`` (NumPy; accurate in both tails; ``u < −709`` gives ~1e-308 instead of
    overflowing)."""
    e = np.exp(np.minimum(-u, 709.0))
    e += 1.0
    return np.reciprocal(e, out=e)


def answer_constants(y, z_ref) -> dict[str, np.ndarray]:
    """What stays fixed while θ moves, for answers ``y`` to inputs with reference logits ``z_ref`` (same shape,
    arrays or tensors): the sign ``2y − 1``, ``σ(z_ref)`` and the reference log-prob ``log σ((2y − 1) z_ref)``."""
    y = np.asarray(y.numpy() if isinstance(y, Tensor) else y, dtype=np.float64)
    z_ref = np.asarray(z_ref.numpy() if isinstance(z_ref, Tensor) else z_ref, dtype=np.float64)
    sign = 2.0 * y - 1.0
    return {"y": y, "sign": sign, "z_ref": z_ref, "sigmoid_ref": sigmoid(z_ref), "ref_logp": log_sigmoid(sign * z_ref)}


def field_value(quantity: str, z, answers: dict):
    """A per-example loss input of the logistic model at logits ``z (..., H, n)``; ``answers`` from
    :func:`answer_constants` (broadcastable to ``z``). NumPy arrays, or torch tensors (the autograd reference).

    ``logp = log σ((2y − 1) z)``, ``ref_logp`` the same at ``z_ref``, ``n_tokens = 1`` (one-token answers) and
    ``kl = KL(π_ref ‖ π_θ)`` of the label distribution at the input.
    """
    if isinstance(z, Tensor):
        a = {k: torch.as_tensor(v, dtype=z.dtype) for k, v in answers.items()}
        if quantity == "logp":
            return F.logsigmoid(a["sign"] * z)
        if quantity == "ref_logp":
            return a["ref_logp"].expand_as(z)
        if quantity == "n_tokens":
            return torch.ones_like(z)
        if quantity == "kl":
            return bernoulli_kl(a["z_ref"].expand_as(z), z)
    elif quantity == "logp":
        return log_sigmoid(answers["sign"] * z)
    elif quantity == "ref_logp":
        return np.broadcast_to(answers["ref_logp"], z.shape)
    elif quantity == "n_tokens":
        return 1.0
    elif quantity == "kl":
        return bernoulli_kl(answers["z_ref"], z)
    raise ValueError(f"the logistic model does not provide the loss input {quantity!r}")


class LogitGradient:
    """``∂L/∂z = Σ_inputs ∂L/∂input · ∂input/∂z`` for logistic models, one head (an unlearning run) per row.

    Args:
        objective: the heads' :class:`~npo_lab.theory.gradients.ObjectiveGradient` (the terms' closed forms).
        answers: ``{group: answer_constants(y, z_ref)}`` for every :class:`~npo_lab.losses.LossInputs` group the
            objective reads (e.g. ``"forget"``, ``"idk"``, ``"retain"``).
        logits_of: ``{group: key}``: which logits each group's answers are scored with (``"idk"`` answers
            answer the forget questions: the same logits as ``"forget"``).
    Calling it with ``{key: z (..., H_key, n)}`` (NumPy) returns ``{key: ∂L/∂z}``. At the first call the terms
    whose derivative is constant (GA and the NLLs in logp, the KL term in kl) are folded into two arrays per key,
    ``∂L/∂z = A + B ⊙ σ(z)`` (as ``∂logp/∂z = y − σ(z)`` and ``∂kl/∂z = σ(z) − σ(z_ref)``); every other term is
    evaluated on its own rows only, from the loss inputs it reads.
    """

    def __init__(self, objective: ObjectiveGradient, answers: dict[str, dict], logits_of: dict[str, str]):
        self.objective = objective
        self.fields = split_fields(objective.needs)
        missing = {g for g, _ in self.fields.values()} - set(answers)
        if missing:
            raise ValueError(f"the objective reads {sorted(missing)} answers, which this model does not have")
        self.answers, self.logits_of = answers, logits_of
        self.moving = [name for name, (_, q) in self.fields.items() if q in MOVING]
        self._affine: dict | None = None  # key -> (A, B)
        self._varying: list = []  # (plan, {fixed input: value on the plan's rows})

    def inputs(self, z: dict, names) -> dict:
        """The loss inputs ``names`` at logits ``z`` (every row)."""
        out = {}
        for name in names:
            group, quantity = self.fields[name]
            out[name] = field_value(quantity, z[self.logits_of[group]], self.answers[group])
        return out

    def _prepare(self, z: dict) -> None:
        self.objective.prepare(self.inputs(z, self.fields))
        self._affine = {}
        for name, c in self.objective._constant.items():  # ∂L/∂input = c: c ⊙ (y − σ) or c ⊙ (σ − σ_ref)
            group, quantity = self.fields[name]
            key, a = self.logits_of[group], self.answers[group]
            A, B = self._affine.get(key, (0.0, 0.0))
            if quantity == "logp":
                self._affine[key] = (A + c * a["y"], B - c)
            else:
                self._affine[key] = (A - c * a["sigmoid_ref"], B + c)
        self._varying = [self._compile(plan, z) for plan in self.objective._varying]

    def _compile(self, plan, z: dict) -> tuple:
        """What a varying term needs at every step, looked up once: its fixed inputs on its rows,
        ``(name, quantity, key, answer constants)`` of each moving input and ``(key, quantity, constant)`` of each
        derivative's chain factor ``y − σ`` or ``σ − σ_ref``."""
        answers = {g: {k: plan.select(v) if np.ndim(v) >= 2 and np.shape(v)[-2] > 1 else v for k, v in a.items()}
                   for g, a in self.answers.items()}  # fmt: skip
        fixed, moving, chain = {}, [], {}
        for name in plan.term.inputs:
            group, quantity = self.fields[name]
            key = self.logits_of[group]
            if name in self.moving:
                moving.append((name, quantity, key, answers[group]))
                chain[name] = (key, quantity, answers[group]["y" if quantity == "logp" else "sigmoid_ref"])
            else:
                fixed[name] = plan.select(field_value(quantity, z[key], self.answers[group]))
        return plan, fixed, moving, chain

    def __call__(self, z: dict) -> dict[str, np.ndarray]:
        if self._affine is None:
            self._prepare(z)
        sig = {key: sigmoid(value) for key, value in z.items()}
        out = {key: A + B * sig[key] for key, (A, B) in self._affine.items()}
        for plan, fixed, moving, chain in self._varying:
            values = dict(fixed)
            for name, quantity, key, a in moving:
                zk = plan.select(z[key])
                values[name] = log_sigmoid(a["sign"] * zk) if quantity == "logp" else field_value(quantity, zk, a)
            for name, g in plan.on_rows(values).items():
                key, quantity, const = chain[name]
                s = plan.select(sig[key])
                term = const - s if quantity == "logp" else s - const
                term *= g  # ∂L/∂input · ∂input/∂z
                plan.add_to(out, key, term, z[key].shape, z[key].dtype)
        return out
