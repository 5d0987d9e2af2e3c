"""Unlearning the random-features model: full-batch GD on library objectives, many runs at once (paper Sec. 4).

The runs of an experiment ("heads": one method with its learning rate and hyper-parameters each) share the data
of a seed; their heads ``θ (M, F)`` move together. Each step is the chain rule

    ∇θ = Σ_sets Φ_setᵀ · ∂L/∂z_set,     ∂L/∂z = Σ_inputs ∂L/∂input · ∂input/∂z

with ``∂L/∂input`` from the library terms' closed-form derivatives and ``∂input/∂z`` from the logistic model
(:class:`~npo_lab.theory.logistic.LogitGradient`); this is ``backend="chain"``, NumPy float64, one seed at a time
on one thread (a seed's features stay in the core's cache), the seeds split over forked processes for
``workers > 1``. ``backend="autograd"`` instead calls
:meth:`npo_lab.losses.Method.loss` for each run and differentiates all the way to θ with torch (the reference).
Each term is averaged over its own data set (forget: n_f, retain: n_r), i.e. ``L = Σ_k w_k · mean(term_k)``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from npo_lab.losses import LossInputs, Method

from .gradients import ObjectiveGradient, split_fields
from .logistic import LogitGradient, answer_constants, field_value, log_sigmoid
from .parallel import SplitProducts, map_forked, seed_chunks, single_thread
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
        # retain users first, by their forget-side terms; the others after them in the reverse order, so that a
        # term used on both sides (NPO+RT, NPO) gets adjacent rows: a slice, not a gather, at every step
        forget_terms = [tuple(sorted(t.name for t, _ in m.terms if "retain" not in t.name)) for m in methods]
        first = sorted((j for j in range(len(methods)) if uses_retain[j]), key=lambda j: forget_terms[j])
        last = sorted((j for j in range(len(methods)) if not uses_retain[j]), key=lambda j: forget_terms[j])[::-1]
        self.order = first + last
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


def _chain_setup(task: SyntheticTask, ks: slice, heads: Heads):
    """``backend="chain"`` for the seeds ``ks`` (their products batched): the NumPy GD step ``θ ← θ − lr · ∇θ``
    (in place), the evaluation and θ_ref ``(S, M, F)``; every array is taken out of the task's tensors here, so
    the loop itself runs on NumPy alone (in a forked process too, :func:`~npo_lab.theory.parallel.map_forked`)."""
    objective = ObjectiveGradient(heads.methods, heads.hypers)
    groups = {g for g, _ in split_fields(objective.needs).values()}
    theta_ref = task.theta_ref[ks].numpy()  # (S, F)
    sets = sorted({GROUP_INPUTS[g] for g in groups})  # "forget" (every head) first
    phi = {s: task.features(s)[ks].numpy() for s in sets}  # (S, n, F)
    phi_t = {s: np.ascontiguousarray(p.transpose(0, 2, 1)) for s, p in phi.items()}
    answers = {}
    for group in groups:
        z_ref = theta_ref[:, None, :] @ phi_t[GROUP_INPUTS[group]]  # (S, 1, n)
        answers[group] = answer_constants(task.labels(group)[ks].numpy()[:, None, :], z_ref)
    grad_z = LogitGradient(objective, answers, GROUP_INPUTS)
    rows = {s: heads.rows[s] for s in sets}
    lr = heads.lr.numpy()  # (1, M, 1)
    theta = np.repeat(theta_ref[:, None, :], len(heads.methods), axis=1)  # (S, M, F)
    evaluate = _numpy_evaluator(task, ks)
    grad = np.empty_like(theta)

    def step(theta: np.ndarray) -> None:
        dz = grad_z({s: np.matmul(theta[:, : rows[s]], phi_t[s]) for s in sets})
        first = True
        for s in (s for s in sets if s in dz):
            if first and rows[s] == theta.shape[1]:
                np.matmul(dz[s], phi[s], out=grad)
            else:
                if first:
                    grad.fill(0.0)
                grad[:, : rows[s]] += np.matmul(dz[s], phi[s])
            first = False
        if not first:
            np.multiply(grad, lr, out=grad)
            theta[...] -= grad

    return step, evaluate, theta


def _numpy_evaluator(task: SyntheticTask, ks: slice):
    """``θ (S, M, F)`` → the three :data:`METRICS` ``(3, S, M)`` on the evaluation sets of seeds ``ks``:
    ``E_x KL(Bern(σ(p)) ‖ Bern(σ(z)))`` with ``log σ(−z) = log σ(z) − z``."""
    pef, per = (
        np.ascontiguousarray(p[ks].numpy().transpose(0, 2, 1)) for p in (task.phi_eval_forget, task.phi_eval_retain)
    )
    retr, ref = task.theta_retr[ks].numpy()[:, None, :], task.theta_ref[ks].numpy()[:, None, :]
    targets = [retr @ pef, retr @ per, ref @ pef]  # (S, 1, n)
    consts = []
    for p in targets:
        lp1 = log_sigmoid(p)
        lp0 = lp1 - p
        p1, p0 = np.exp(lp1), np.exp(lp0)
        consts.append((p1 * lp1 + p0 * lp0, p0))  # KL = Σ p log p − p1·log σ(z) − p0·(log σ(z) − z)

    def evaluate(theta: np.ndarray) -> np.ndarray:
        zf, zr = np.matmul(theta, pef), np.matmul(theta, per)
        lf, lr_ = log_sigmoid(zf), log_sigmoid(zr)
        out = []
        for z, lq1, (neg_entropy, p0) in zip((zf, zr, zf), (lf, lr_, lf), consts):
            out.append((neg_entropy - lq1 + p0 * z).mean(axis=-1))  # −p1·lq1 − p0·(lq1 − z), p1 + p0 = 1
        return np.stack(out)

    return evaluate


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
    heads: Heads,
    steps: int,
    eval_every: int,
    backend: str,
    workers: int = 1,
    stop: threading.Event | None = None,
    tick: Callable[[int], None] | None = None,
):
    """Unlearning for every seed of ``task`` and all heads from ``θ_ref``; returns the evaluated steps and the
    metrics ``(E, 3, S, M)`` (NumPy, heads in ``heads.order``). ``workers``: threads that split the batched
    products of ``"autograd"``; processes that split the seeds of ``"chain"`` (:func:`_chain_seeds`);
    ``stop`` ends the loops early; ``tick(n)`` reports steps done; Ctrl-C keeps the evaluations done so far."""
    if backend == "chain":
        return _chain_seeds(task, heads, steps, eval_every, workers, stop, tick)
    with single_thread(), SplitProducts(workers) as products:
        done, metrics = _autograd_seeds(task, heads, steps, eval_every, products, stop, tick)
    return done, metrics.numpy()


def _interruptible(loop: Callable[[], None], stop: threading.Event | None) -> None:
    """Run ``loop``; Ctrl-C sets ``stop`` (the other seeds' loops end too) and keeps what was recorded."""
    try:
        loop()
    except KeyboardInterrupt:
        if stop is None:
            raise
        stop.set()


def _run_steps(step, evaluate, theta, steps: int, eval_every: int, stop, tick) -> tuple[list[int], list]:
    """``step(theta)`` (in place) for t = 1..``steps``, until ``stop`` is set or Ctrl-C; ``evaluate(theta)`` at
    t = 0, every ``eval_every`` steps and at the last step, ``tick(seed-steps done)`` after each evaluation.
    Returns the evaluated steps and their records."""
    done, records = [0], [evaluate(theta)]

    def loop() -> None:
        for t in range(1, steps + 1):
            if stop is not None and stop.is_set():
                break
            step(theta)
            if t % eval_every == 0 or t == steps:
                done.append(t)
                records.append(evaluate(theta))
                if tick is not None:
                    tick((t - done[-2]) * theta.shape[0])

    _interruptible(loop, stop)
    return done, records


def _chain_seeds(task, heads, steps, eval_every, workers, stop, tick):
    """The seeds one after the other on one thread (a seed's features stay in the core's cache: 15–20 % less time
    than batching the seeds in one loop), split over ``workers`` processes where they can fork
    (:func:`~npo_lab.theory.parallel.map_forked`): the NumPy step is many small operations that hold the GIL, and
    two threads contending for it took 1.4–1.6× the wall time of one."""
    runs = [_chain_setup(task, slice(k, k + 1), heads) for k in range(len(task.seeds))]  # torch → NumPy, here

    def chunk_of_seeds(chunk, stop, tick) -> list:
        out = []
        for step, evaluate, theta in runs[chunk]:
            done, records = _run_steps(step, evaluate, theta, steps, eval_every, stop, tick)
            out.append((done, np.stack(records)))
        return out

    event = stop if stop is not None else threading.Event()
    results = [r for part in map_forked(chunk_of_seeds, seed_chunks(len(runs), workers), event, tick) for r in part]
    if stop is None and event.is_set():  # Ctrl-C without a caller's stop event: raise, as one loop would
        raise KeyboardInterrupt
    n_done = min(len(done) for done, _ in results)  # an interrupted run may stop seeds at different steps
    return results[0][0][:n_done], np.concatenate([m[:n_done] for _, m in results], axis=2)


def _autograd_seeds(task, heads, steps, eval_every, products, stop, tick):
    ks = slice(None)
    step = _autograd_step(task, ks, heads, products)
    evaluate = _evaluator(task, ks, products)
    theta = task.theta_ref[ks].unsqueeze(1).repeat(1, len(heads.methods), 1)  # (S, M, F)
    with torch.no_grad():
        done, records = _run_steps(step, evaluate, theta, steps, eval_every, stop, tick)
    return done, torch.stack(records)
