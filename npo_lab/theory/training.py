"""Unlearning the random-features model: full-batch GD on library objectives, many runs at once (paper Sec. 4).

The runs of an experiment ("heads": one method with its learning rate and hyper-parameters each) share the data
of a seed; their heads ``θ (S, M, F)`` move together, for a block of seeds at a time. Each step is the chain rule

    ∇θ = Σ_sets Φ_setᵀ · ∂L/∂z_set,     ∂L/∂z = Σ_inputs ∂L/∂input · ∂input/∂z

with ``∂L/∂input`` by autograd through the library's terms and ``∂input/∂z`` from the logistic model
(:class:`~npo_lab.theory.logistic.LogitGradient`); this is ``backend="chain"``. ``backend="autograd"`` instead
calls :meth:`npo_lab.losses.Method.loss` for each run and differentiates all the way to θ (the reference).
Each term is averaged over its own data set (forget: n_f, retain: n_r), i.e. ``L = Σ_k w_k · mean(term_k)``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from npo_lab.losses import LossInputs, Method

from .gradients import ObjectiveGradient, split_fields
from .logistic import LogitGradient, answer_constants, field_value
from .parallel import SplitProducts
from .random_features import GROUP_INPUTS, SyntheticTask

__all__ = ["METRICS", "Heads", "unlearn_seeds"]

#: the distances recorded at every evaluation (each ``E_x KL(π_target ‖ π_θ)`` on an evaluation set)
METRICS: tuple[str, ...] = ("forget_distance", "retain_distance", "forget_kl")


class Heads:
    """The runs of one experiment, reordered so that the runs that read retain data come first (their retain
    logits are one block ``θ[:, :n_retain]``). ``methods[j]``, ``hypers[j]`` and ``lr[j]`` describe run
    ``order[j]`` of the caller's list."""

    def __init__(self, methods: Sequence[Method], hypers: Sequence[dict], lrs: Sequence[float]):
        uses_retain = [any(GROUP_INPUTS[g] == "retain" for g in m.needs_by_group) for m in methods]
        self.order = sorted(range(len(methods)), key=lambda j: not uses_retain[j])
        self.methods = [methods[j] for j in self.order]
        self.hypers = [hypers[j] for j in self.order]
        self.lr = torch.tensor([lrs[j] for j in self.order], dtype=torch.float64).view(1, -1, 1)
        self.n_retain = sum(uses_retain)
        self.rows = {"forget": len(methods), "retain": self.n_retain}  # heads whose logits each set needs


class _Distances:
    """``E_x KL(Bern(σ(p)) ‖ Bern(σ(q)))`` over inputs for fixed target logits ``p (S, 1, n)`` and many ``q``."""

    def __init__(self, p_logit: Tensor):
        self.lp1, self.lp0 = F.logsigmoid(p_logit), F.logsigmoid(-p_logit)
        self.p1, self.p0 = self.lp1.exp(), self.lp0.exp()

    def __call__(self, q_logit: Tensor) -> Tensor:
        kl = self.p1 * (self.lp1 - F.logsigmoid(q_logit)) + self.p0 * (self.lp0 - F.logsigmoid(-q_logit))
        return kl.mean(dim=-1)


def _evaluator(task: SyntheticTask, ks: slice, products: SplitProducts) -> Callable[[Tensor], Tensor]:
    """``θ (S, M, F)`` → the three :data:`METRICS` ``(3, S, M)`` on the evaluation sets of seeds ``ks``."""
    pef, per = task.phi_eval_forget[ks].transpose(1, 2), task.phi_eval_retain[ks].transpose(1, 2)
    retr, ref = task.theta_retr[ks].unsqueeze(1), task.theta_ref[ks].unsqueeze(1)  # (S, 1, F)
    to_retr_f, to_retr_r, to_ref_f = _Distances(retr @ pef), _Distances(retr @ per), _Distances(ref @ pef)

    def evaluate(theta: Tensor) -> Tensor:
        zf, zr = products.bmm(theta, pef), products.bmm(theta, per)
        return torch.stack([to_retr_f(zf), to_retr_r(zr), to_ref_f(zf)])

    return evaluate


def _answers(task: SyntheticTask, ks: slice, groups) -> dict[str, dict[str, Tensor]]:
    """:func:`~npo_lab.theory.logistic.answer_constants` of each group, shaped ``(S, 1, n)``."""
    out = {}
    for group in groups:
        z_ref = task.theta_ref[ks].unsqueeze(1) @ task.features(GROUP_INPUTS[group])[ks].transpose(1, 2)
        out[group] = answer_constants(task.labels(group)[ks].unsqueeze(1), z_ref)
    return out


def _chain_step(task: SyntheticTask, ks: slice, heads: Heads, products: SplitProducts):
    """The GD step ``θ ← θ − lr · ∇θ`` of ``backend="chain"`` (see the module docstring)."""
    objective = ObjectiveGradient(heads.methods, heads.hypers)
    groups = {g for g, _ in split_fields(objective.needs).values()}
    grad_z = LogitGradient(objective, _answers(task, ks, groups), GROUP_INPUTS)
    sets = sorted({GROUP_INPUTS[g] for g in groups})
    phi = {s: task.features(s)[ks] for s in sets}
    phi_t = {s: p.transpose(1, 2) for s, p in phi.items()}

    def step(theta: Tensor) -> None:
        z = {s: products.bmm(theta[:, : heads.rows[s]], phi_t[s]) for s in sets}
        grad = None
        for s, dz in sorted(grad_z(z).items()):  # "forget" (every head) first
            g = products.bmm(dz, phi[s])  # ∂L/∂θ through this set's logits
            if grad is None and g.shape == theta.shape:
                grad = g
                continue
            grad = torch.zeros_like(theta) if grad is None else grad
            grad[:, : heads.rows[s]].add_(g)
        if grad is not None:
            theta.sub_(grad.mul_(heads.lr))

    return step


def _split_by_set(method: Method) -> dict[str, Method]:
    """The method's terms grouped by the data set they average over (forget or retain inputs)."""
    out: dict[str, list] = {}
    for term, weight in method.terms:
        sets = {GROUP_INPUTS[g] for g, _ in split_fields(term.inputs).values()}
        if len(sets) != 1:
            raise ValueError(
                f"the term {term.name!r} reads both forget and retain data; the synthetic experiment "
                "averages each term over one data set"
            )
        out.setdefault(sets.pop(), []).append((term, weight))
    return {s: Method(f"{method.name} [{s}]", tuple(terms), method.description) for s, terms in out.items()}


def _autograd_step(task: SyntheticTask, ks: slice, heads: Heads, products: SplitProducts):
    """The GD step of ``backend="autograd"``: :meth:`Method.loss` per run and data set, autograd down to θ."""
    parts = [_split_by_set(m) for m in heads.methods]
    needs = {s: split_fields(frozenset().union(*(p[s].needs for p in parts if s in p))) for s in ("forget", "retain")}
    answers = _answers(task, ks, {g for f in needs.values() for g, _ in f.values()})
    phi_t = {s: task.features(s)[ks].transpose(1, 2) for s in needs}

    def step(theta: Tensor) -> None:
        with torch.enable_grad():
            leaf = theta.detach().requires_grad_(True)
            z = {s: torch.bmm(leaf, phi_t[s]) for s in needs if needs[s]}  # (S, M, n)
            total = leaf.new_zeros(())
            for j, (by_set, hyper) in enumerate(zip(parts, heads.hypers)):
                for s, method in by_set.items():
                    fields = {
                        name: field_value(q, z[s][:, j : j + 1], answers[g]).reshape(-1)
                        for name, (g, q) in needs[s].items()
                    }
                    value, _ = method.loss(LossInputs(**fields), **hyper)
                    total = total + value.sum() / z[s].shape[-1]  # each seed's mean over its data set
            (grad,) = torch.autograd.grad(total, leaf)
        theta.sub_(heads.lr * grad)

    return step


def unlearn_seeds(
    task: SyntheticTask,
    ks: slice,
    heads: Heads,
    steps: int,
    eval_every: int,
    backend: str,
    products: SplitProducts,
    stop: threading.Event | None = None,
    tick: Callable[[int], None] | None = None,
):
    """Unlearning for seeds ``ks`` and all heads from ``θ_ref``; returns the evaluated steps and the metrics
    ``(E, 3, S, M)`` (heads in ``heads.order``). ``products`` computes the matrix products (split over threads);
    ``stop`` ends the loop early; ``tick(n)`` reports steps done; Ctrl-C keeps the evaluations done so far."""
    step = (_chain_step if backend == "chain" else _autograd_step)(task, ks, heads, products)
    evaluate = _evaluator(task, ks, products)
    theta = task.theta_ref[ks].unsqueeze(1).repeat(1, len(heads.methods), 1)  # (S, M, F)
    done, records = [0], [evaluate(theta)]
    try:
        with torch.no_grad():
            for t in range(1, steps + 1):
                if stop is not None and stop.is_set():
                    break
                step(theta)
                if t % eval_every == 0 or t == steps:
                    done.append(t)
                    records.append(evaluate(theta))
                    if tick is not None:
                        tick((t - done[-2]) * theta.shape[0])
    except KeyboardInterrupt:
        if stop is not None:
            stop.set()
    return done, torch.stack(records)
