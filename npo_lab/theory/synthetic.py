"""The paper's synthetic experiment (Sec. 4, Figs. 3, 4, 9): unlearning a random-features logistic model.

Setting (DESIGN.md §3, following the official code ``synthetic/`` of licong-lin/negative-preference-optimization):

* inputs ``x ∈ R^d`` (d = 16); fixed random features ``φ(x) = ReLU(W x)``, ``W ∈ R^{128×d}`` with ``N(0, 1/d)``
  entries; the model is ``π_θ(y = 1|x) = σ(θᵀφ(x))`` with a trainable head ``θ ∈ R^128``.
* forget data: ``x ~ N(α·1, I)``, ``P(y=1|x) = σ((x − α1)ᵀθ_f + 1)``; retain data: ``x ~ N(−α·1, I)``,
  ``P(y=1|x) = σ((x + α1)ᵀθ_r − 1)``, ``θ_f = −θ_r = 1/√d · 1``. α = 1 separates the two input distributions,
  α = 0 makes them overlap (same inputs, opposite label rules). n_f = 200, n_r = 1000 training samples, and
  fresh evaluation sets of 1000 + 1000.
* initial model π_ref (trained on forget ∪ retain) and retrained model π_retr (retain only): full-batch GD on the
  mean NLL from θ = 0, 20 000 steps at lr 0.05.
* unlearning: full-batch GD from π_ref for 2000 steps on a :data:`npo_lab.losses.METHODS` objective, the loss
  terms computed by the library (``(B,)`` per-example log-probs ``logp = log π_θ(y|x)``) and differentiated by
  autograd. Each term is averaged over its own data set (forget: 200, retain: 1000), i.e.
  ``L = Σ_k w_k · mean(term_k)`` — e.g. NPO+RT = E_forget[npo] + α_rt · E_retain[nll].
  "I don't know" answers (IDK+RT, the chosen answers of DPO) are random labels ``~ Bernoulli(0.5)``.
* metrics every ``eval_every`` steps on the evaluation sets: forget distance ``E_forget KL(π_retr‖π_θ)``, retain
  distance ``E_retain KL(π_retr‖π_θ)`` (both → 0 is ideal), forget KL ``E_forget KL(π_ref‖π_θ)``.

Speed (Float64 throughout, as in the official code): the two pretraining heads of a seed share each step's matrix
products, and each seed runs all its steps before the next so that its features stay in the core's cache; the
unlearning runs all methods of a seed as one ``(M, 128)`` block of heads with the derivatives of the library's
terms written out (``backend="analytic"``; ``backend="autograd"`` differentiates the library's terms with autograd,
the reference: same table to ~1e-13); seeds are split over ``workers`` threads. ``bench/bench_synthetic.py``
times the full Figure-4 run.

CLI: ``npo-lab synthetic --alpha {0,1} --out DIR [--seeds N --steps N --sweep-steps N]`` writes
``synthetic_alpha{α}.csv`` (Fig. 4/9 runs), ``beta_sweep_alpha{α}.csv`` (Fig. 3 runs) and ``figure3/4/9`` PNGs.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from npo_lab.losses import TERMS, get_method

__all__ = [
    "UnlearnSpec",
    "SyntheticTask",
    "PAPER_METHODS",
    "SWEEP_BETAS",
    "paper_specs",
    "beta_sweep_specs",
    "make_task",
    "random_features_experiment",
    "summarize_experiment",
    "bernoulli_kl",
    "add_arguments",
    "run_cli",
]

#: the six methods of the paper's Fig. 4
PAPER_METHODS: tuple[str, ...] = ("GA", "GA+RT", "IDK+RT", "NPO", "NPO+RT", "DPO+RT")

# learning rate and β per method and α (paper App. / official ``synthetic/parameter_values.yml``)
_PAPER_HPARAMS: dict[int, dict[str, tuple[float, float]]] = {
    1: {
        "GA": (5e-4, 1.0),
        "GA+RT": (5e-4, 1.0),
        "GA+KL": (5e-4, 1.0),
        "IDK+RT": (5e-4, 1.0),
        "NPO": (5e-3, 1.0),
        "NPO+RT": (5e-3, 1.0),
        "NPO+KL": (5e-3, 1.0),
        "DPO": (5e-3, 0.1),
        "DPO+RT": (5e-3, 0.1),
        "DPO+KL": (5e-3, 0.1),
    },
    0: {
        "GA": (1e-4, 1.0),
        "GA+RT": (1e-4, 1.0),
        "GA+KL": (1e-4, 1.0),
        "IDK+RT": (1e-4, 1.0),
        "NPO": (5e-2, 10.0),
        "NPO+RT": (5e-2, 10.0),
        "NPO+KL": (5e-2, 10.0),
        "DPO": (5e-2, 5.0),
        # the official parameter file uses 2e-2 for DPO+RT at α = 0 (5e-2 for DPO and DPO+KL)
        "DPO+RT": (2e-2, 5.0),
        "DPO+KL": (5e-2, 5.0),
    },
}
_SUPPORTED = tuple(_PAPER_HPARAMS[1])
#: the β sweep of Fig. 3 (Proposition 1: NPO → GA as β → 0), all at lr 5e-4 for 10 000 steps
SWEEP_BETAS: tuple[float, ...] = (0.01, 0.1, 0.2, 0.5, 1.0)
SWEEP_LR = 5e-4
SWEEP_STEPS = 10_000


@dataclass(frozen=True)
class UnlearnSpec:
    """One unlearning run of the synthetic experiment: a ``METHODS`` objective with its step size and β.

    ``label`` names the run in tables and legends (defaults to the method name; use e.g. ``"NPO β=0.1"`` in sweeps).
    Any :data:`npo_lab.losses.METHODS` entry works (``gamma`` is SimNPO's margin; answers have length |y| = 1 here).
    """

    method: str
    lr: float
    beta: float = 1.0
    retain_weight: float = 1.0
    label: str = ""
    gamma: float = 0.0

    def __post_init__(self):
        get_method(self.method)  # ValueError naming the valid methods
        if not math.isfinite(self.gamma):
            raise ValueError(f"gamma must be a finite number, got {self.gamma!r}")
        for name in ("lr", "beta"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
        if not (math.isfinite(self.retain_weight) and self.retain_weight >= 0):
            raise ValueError(f"retain_weight must be a finite number >= 0, got {self.retain_weight!r}")
        if not self.label:
            object.__setattr__(self, "label", self.method)


@contextlib.contextmanager
def _single_thread():
    """Run torch on one thread: the matrices here are small, and several OpenMP threads on a shared machine spin on
    each other (measured 30× slower with 2 threads on 2 busy cores)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _check_alpha(alpha) -> int:
    if alpha not in (0, 1):
        raise ValueError(f"alpha must be 0 or 1 (the paper's two settings), got {alpha!r}")
    return int(alpha)


def paper_specs(alpha: int = 1, methods: Sequence[str] = PAPER_METHODS) -> list[UnlearnSpec]:
    """The paper's learning rates and β for ``methods`` at gap ``alpha`` (DESIGN.md §3)."""
    a = _check_alpha(alpha)
    specs = []
    for name in methods:
        if name not in _PAPER_HPARAMS[a]:
            raise ValueError(
                f"method must be one of {', '.join(_SUPPORTED)} to use the paper's settings, got {name!r} "
                "(pass an UnlearnSpec with your own lr and beta for other METHODS entries)"
            )
        lr, beta = _PAPER_HPARAMS[a][name]
        specs.append(UnlearnSpec(name, lr, beta))
    return specs


def beta_sweep_specs(betas: Sequence[float] = SWEEP_BETAS, lr: float = SWEEP_LR) -> list[UnlearnSpec]:
    """Fig. 3: NPO for each β and GA, all at the same step size (Proposition 1: NPO → GA as β → 0)."""
    return [UnlearnSpec("NPO", lr, float(b), label=f"NPO β={b:g}") for b in betas] + [UnlearnSpec("GA", lr, label="GA")]


# --------------------------------------------------------------------------------------------------------------
# the task: data, features, initial and retrained models (batched over seeds)
# --------------------------------------------------------------------------------------------------------------
@dataclass
class SyntheticTask:
    """Data and pretrained heads of the synthetic experiment for ``S`` seeds (all tensors float64, leading dim S).

    ``phi_*``: features ``(S, n, F)``; ``y_*``: labels in {0, 1} ``(S, n)``; ``y_idk``: random labels ``(S, n_f)``;
    ``theta_ref`` / ``theta_retr``: the initial (forget ∪ retain) and retrained (retain only) heads ``(S, F)``.
    """

    alpha: int
    seeds: tuple[int, ...]
    phi_forget: torch.Tensor
    y_forget: torch.Tensor
    y_idk: torch.Tensor
    phi_retain: torch.Tensor
    y_retain: torch.Tensor
    phi_eval_forget: torch.Tensor
    y_eval_forget: torch.Tensor
    phi_eval_retain: torch.Tensor
    y_eval_retain: torch.Tensor
    theta_ref: torch.Tensor
    theta_retr: torch.Tensor
    pretrain_grad_norm: dict = field(default_factory=dict)
    pretrain_seconds: float = 0.0


def _sample_split(gen: torch.Generator, n: int, d: int, alpha: float, sign: float):
    """x ~ N(sign·α·1, I); P(y=1|x) = σ(sign·((x − sign·α·1)ᵀ1/√d + 1)) — sign = +1 forget, −1 retain."""
    mu = sign * alpha
    x = mu + torch.randn(n, d, generator=gen, dtype=torch.float64)
    logit = sign * ((x - mu).sum(dim=1) / math.sqrt(d) + 1.0)
    y = (torch.rand(n, generator=gen, dtype=torch.float64) < torch.sigmoid(logit)).to(torch.float64)
    return x, y


def _logp(phi: torch.Tensor, theta: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``log π_θ(y|x) = log σ((2y − 1) · θᵀφ(x))``; phi ``(S, n, F)``, theta ``(S, F, M)``, y ``(S, n)`` → ``(S, n, M)``."""
    z = torch.bmm(phi, theta)
    return F.logsigmoid((2.0 * y - 1.0).unsqueeze(-1) * z)


def bernoulli_kl(p_logit: torch.Tensor, q_logit: torch.Tensor) -> torch.Tensor:
    """``KL(Bern(σ(p)) ‖ Bern(σ(q)))`` elementwise, computed from logits (stable for any logit size)."""
    lp1, lp0 = F.logsigmoid(p_logit), F.logsigmoid(-p_logit)
    lq1, lq0 = F.logsigmoid(q_logit), F.logsigmoid(-q_logit)
    return lp1.exp() * (lp1 - lq1) + lp0.exp() * (lp0 - lq0)


def _pretrain(phi: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, steps: int, lr: float, workers: int = 1):
    """Full-batch GD on weighted mean NLLs from θ = 0, several heads at once.

    phi ``(S, n, F)``, y ``(S, n)``, weights ``(S, n, H)`` (each column sums to 1: the per-head mean over its data).
    The gradient of ``Σ_i w_i · nll_i`` is written out, ``Φᵀ(w ⊙ (σ(z) − y))`` (that is ``nll_loss``'s gradient
    through ``logp = log σ((2y−1)z)``; the tests check it against autograd), because this loop runs 20 000 times.
    The heads are stored as rows, ``θᵀ (H, F)`` and logits ``zᵀ = θᵀΦᵀ (H, n)``: each step is two skinny matrix
    products and three in-place elementwise ops, with ``lr · w`` folded in once. Seeds run one after the other, all
    steps each, so that one seed's Φ stays in cache (1.8× faster than a batched product over seeds, which reads
    every seed's Φ from L3 at each step). Seeds are independent, so ``workers > 1`` splits them over threads
    (torch releases the GIL inside each op); the result does not depend on ``workers``.
    Returns heads ``(S, F, H)`` and the final gradient norms ``(S, H)``.
    """
    S, n, Fdim = phi.shape
    H = weights.shape[-1]

    def run(sl: slice) -> torch.Tensor:
        torch.set_num_threads(1)  # per OS thread (OpenMP): a worker thread does not inherit the caller's setting
        out = []
        for k in range(sl.start, sl.stop):  # one seed at a time: its Φ (1.2 MB) stays in the core's L2 cache
            p = phi[k].contiguous()  # (n, F); the forward product reads it through the transposed view
            lw = (lr * weights[k]).t().contiguous()  # (H, n)
            yy = y[k].unsqueeze(0)  # (1, n)
            theta_t = torch.zeros(H, Fdim, dtype=phi.dtype)
            r = torch.empty(H, n, dtype=phi.dtype)
            for _ in range(steps):
                torch.mm(theta_t, p.t(), out=r)  # logits zᵀ = θᵀΦᵀ
                torch.sigmoid(r, out=r)
                r.sub_(yy).mul_(lw)  # lr · w ⊙ (σ(z) − y)
                theta_t.sub_(torch.mm(r, p))  # θ ← θ − lr · Φᵀ(w ⊙ (σ(z) − y))
            out.append(theta_t)
        return torch.stack(out)

    with _single_thread():  # one intra-op thread per worker (set once, here: the setting is process-wide)
        theta_t = torch.cat(_map_chunks(run, _seed_chunks(S, workers)))
    theta = theta_t.transpose(1, 2).contiguous()
    z = torch.bmm(phi, theta)
    grad = torch.bmm(phi.transpose(1, 2), weights * (torch.sigmoid(z) - y.unsqueeze(-1)))
    return theta, torch.linalg.vector_norm(grad, dim=1)


def _seed_chunks(S: int, workers: int) -> list[slice]:
    """Split ``S`` seeds into ``min(workers, S)`` contiguous, nearly equal slices."""
    k = max(1, min(int(workers), S))
    bounds = [round(i * S / k) for i in range(k + 1)]
    return [slice(bounds[i], bounds[i + 1]) for i in range(k)]


def _map_chunks(fn, chunks: list[slice]) -> list:
    """``[fn(c) for c in chunks]``, on one thread per chunk when there are several."""
    if len(chunks) == 1:
        return [fn(chunks[0])]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(chunks)) as pool:
        return list(pool.map(fn, chunks))


def _check_workers(workers) -> int:
    """``None`` → 1 thread; else an int ≥ 1.

    One thread is the default because two did not help where it was measured (a shared 2-core machine: the seeds'
    threads then share one core and its L2 cache; ``bench/bench_synthetic.py --workers 1 2`` measures both). On
    two free cores ``workers=2`` splits the independent seeds 3/2."""
    if workers is None:
        return 1
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be None or an integer >= 1, got {workers!r}")
    return int(workers)


def _normalize_seeds(seeds) -> tuple[int, ...]:
    if isinstance(seeds, bool):
        raise ValueError(f"seeds must be a positive int or a sequence of ints, got {seeds!r}")
    if isinstance(seeds, (int, np.integer)):
        if seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {seeds!r}")
        return tuple(range(int(seeds)))
    out = tuple(int(s) for s in seeds)
    if not out or len(set(out)) != len(out) or any(s < 0 for s in out):
        raise ValueError(f"seeds must be a non-empty sequence of distinct ints >= 0, got {seeds!r}")
    return out


def make_task(
    alpha: int = 1,
    seeds=5,
    *,
    d: int = 16,
    n_features: int = 128,
    n_forget: int = 200,
    n_retain: int = 1000,
    n_eval: int = 1000,
    pretrain_steps: int = 20_000,
    pretrain_lr: float = 0.05,
    cache: bool | str | Path = True,
    workers: int | None = None,
) -> SyntheticTask:
    """Sample the data of each seed and train the initial and retrained heads.

    Seed ``s`` draws W, the training sets, the IDK labels and the evaluation sets from ``torch.Generator(s)``.
    Training the two heads (20 000 full-batch steps) dominates a cold run (≈6–10 s for 5 seeds on one shared CPU
    core), so the heads are cached: in memory per argument set, and on disk as ``.npz`` (``cache=True``:
    ``$NPO_LAB_CACHE/synthetic``, default ``~/.cache/npo_lab/synthetic``; a path: that directory; ``False``: off).
    ``workers``: threads for the pretraining, the seeds split between them (``None``: 1, see
    :func:`_check_workers`); the result does not depend on it.
    """
    a = _check_alpha(alpha)
    seeds = _normalize_seeds(seeds)
    workers = _check_workers(workers)
    for name, v in (("d", d), ("n_features", n_features), ("n_forget", n_forget), ("n_retain", n_retain),
                    ("n_eval", n_eval)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    if isinstance(pretrain_steps, bool) or not isinstance(pretrain_steps, int) or pretrain_steps < 0:
        raise ValueError(f"pretrain_steps must be an integer >= 0, got {pretrain_steps!r}")
    if not (math.isfinite(pretrain_lr) and pretrain_lr > 0):
        raise ValueError(f"pretrain_lr must be a finite number > 0, got {pretrain_lr!r}")
    if cache is True:
        cache_dir = Path(os.environ.get("NPO_LAB_CACHE", "").strip() or Path.home() / ".cache" / "npo_lab") / "synthetic"
    elif cache is False or cache is None:
        cache_dir = None
    else:
        cache_dir = Path(cache)
    return _make_task_cached(
        a, seeds, d, n_features, n_forget, n_retain, n_eval, pretrain_steps, float(pretrain_lr),
        None if cache_dir is None else str(cache_dir), workers,
    )


def _heads_file(cache_dir, alpha, seeds, d, n_features, n_forget, n_retain, n_eval, pretrain_steps, pretrain_lr):
    key = f"v1-{alpha}-{seeds}-{d}-{n_features}-{n_forget}-{n_retain}-{n_eval}-{pretrain_steps}-{pretrain_lr!r}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(cache_dir) / f"heads_alpha{alpha}_{digest}.npz"


@lru_cache(maxsize=8)
def _make_task_cached(alpha, seeds, d, n_features, n_forget, n_retain, n_eval, pretrain_steps, pretrain_lr, cache_dir,
                      workers=1):
    cols = {k: [] for k in ("W", "xf", "yf", "idk", "xr", "yr", "xef", "yef", "xer", "yer")}
    for s in seeds:
        gen = torch.Generator().manual_seed(int(s))
        cols["W"].append(torch.randn(n_features, d, generator=gen, dtype=torch.float64) / math.sqrt(d))
        xf, yf = _sample_split(gen, n_forget, d, alpha, +1.0)
        xr, yr = _sample_split(gen, n_retain, d, alpha, -1.0)
        idk = (torch.rand(n_forget, generator=gen, dtype=torch.float64) < 0.5).to(torch.float64)
        xef, yef = _sample_split(gen, n_eval, d, alpha, +1.0)
        xer, yer = _sample_split(gen, n_eval, d, alpha, -1.0)
        for k, v in zip(("xf", "yf", "idk", "xr", "yr", "xef", "yef", "xer", "yer"), (xf, yf, idk, xr, yr, xef, yef, xer, yer)):
            cols[k].append(v)
    st = {k: torch.stack(v) for k, v in cols.items()}
    W = st["W"]

    def feats(x):
        return torch.relu(torch.bmm(x, W.transpose(1, 2)))

    phi_f, phi_r = feats(st["xf"]), feats(st["xr"])
    S = len(seeds)
    # heads: 0 = initial model (mean over forget ∪ retain), 1 = retrained model (mean over retain only)
    phi_all = torch.cat([phi_f, phi_r], dim=1)
    y_all = torch.cat([st["yf"], st["yr"]], dim=1)
    w = torch.zeros(S, n_forget + n_retain, 2, dtype=torch.float64)
    w[:, :, 0] = 1.0 / (n_forget + n_retain)
    w[:, n_forget:, 1] = 1.0 / n_retain
    t0 = time.perf_counter()
    path = None
    if cache_dir is not None:
        path = _heads_file(cache_dir, alpha, seeds, d, n_features, n_forget, n_retain, n_eval, pretrain_steps, pretrain_lr)
    if path is not None and path.exists():
        with np.load(path, allow_pickle=False) as z:
            heads, gnorm = torch.from_numpy(z["heads"]), torch.from_numpy(z["grad_norm"])
    else:
        heads, gnorm = _pretrain(phi_all, y_all, w, pretrain_steps, pretrain_lr, workers)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp.npz")
                np.savez(tmp, heads=heads.numpy(), grad_norm=gnorm.numpy())
                os.replace(tmp, path)
            except OSError as exc:  # a read-only cache must not stop the experiment
                warnings.warn(f"could not cache the pretrained heads in {path.parent}: {exc}", stacklevel=2)
    seconds = time.perf_counter() - t0
    return SyntheticTask(
        alpha=alpha,
        seeds=seeds,
        phi_forget=phi_f,
        y_forget=st["yf"],
        y_idk=st["idk"],
        phi_retain=phi_r,
        y_retain=st["yr"],
        phi_eval_forget=feats(st["xef"]),
        y_eval_forget=st["yef"],
        phi_eval_retain=feats(st["xer"]),
        y_eval_retain=st["yer"],
        theta_ref=heads[:, :, 0].contiguous(),
        theta_retr=heads[:, :, 1].contiguous(),
        pretrain_grad_norm={"initial": gnorm[:, 0].tolist(), "retrained": gnorm[:, 1].tolist()},
        pretrain_seconds=seconds,
    )


# --------------------------------------------------------------------------------------------------------------
# unlearning, batched over seeds and methods
# --------------------------------------------------------------------------------------------------------------
def _evaluate(task: SyntheticTask, theta: torch.Tensor) -> dict[str, torch.Tensor]:
    """The three distances for heads ``theta (S, F, M)`` → each ``(S, M)``."""
    zf = torch.bmm(task.phi_eval_forget, theta)
    zr = torch.bmm(task.phi_eval_retain, theta)
    zf_retr = (task.phi_eval_forget @ task.theta_retr.unsqueeze(-1)).expand_as(zf)
    zr_retr = (task.phi_eval_retain @ task.theta_retr.unsqueeze(-1)).expand_as(zr)
    zf_ref = (task.phi_eval_forget @ task.theta_ref.unsqueeze(-1)).expand_as(zf)
    return {
        "forget_distance": bernoulli_kl(zf_retr, zf).mean(dim=1),
        "retain_distance": bernoulli_kl(zr_retr, zr).mean(dim=1),
        "forget_kl": bernoulli_kl(zf_ref, zf).mean(dim=1),
    }


def _objective(task: SyntheticTask, specs: Sequence[UnlearnSpec], z_f: torch.Tensor, z_r: torch.Tensor | None,
               ref: dict, needs: set) -> torch.Tensor:
    """``Σ_m Σ_s Σ_k w_k · mean_i term_k`` with the library's loss terms (flattened to ``(S·n,)`` per call).

    ``z_f (S, n_f, M)`` and ``z_r (S, n_r, M)`` are the logits ``θᵀφ(x)`` of the forget and retain inputs for the M
    heads; the caller back-propagates from the logits to θ (one matrix product per data set).
    """
    logp_f = F.logsigmoid(ref["sign_forget"] * z_f)  # log π_θ(y|x) of the forget labels
    logp_idk = F.logsigmoid(ref["sign_idk"] * z_f) if "idk_logp" in needs else None
    logp_r = F.logsigmoid(ref["sign_retain"] * z_r) if "retain_logp" in needs else None
    # "+KL": KL(π_ref ‖ π_θ) of the label distribution on each retain input (the binary analogue of kl_to_ref)
    kl_r = bernoulli_kl(ref["retain_logit"].expand_as(z_r), z_r) if "retain_kl" in needs else None
    S, n_f, _ = logp_f.shape
    n_r = task.phi_retain.shape[1]
    ones_f = torch.ones(S * n_f, dtype=z_f.dtype)
    ones_r = torch.ones(S * n_r, dtype=z_f.dtype)
    total = z_f.new_zeros(())

    def columns(x):  # (S, n, M) -> M flat (S·n,) views; unbind's backward is one stack, not M scatters
        return [None] * len(specs) if x is None else [c.reshape(-1) for c in x.movedim(-1, 0).contiguous().unbind(0)]

    cols_f, cols_r, cols_idk, cols_kl = columns(logp_f), columns(logp_r), columns(logp_idk), columns(kl_r)
    for j, spec in enumerate(specs):
        inputs = {
            "forget_logp": cols_f[j],
            "forget_ref_logp": ref["forget"],
            "forget_n_tokens": ones_f,
            "retain_logp": cols_r[j],
            "retain_n_tokens": ones_r,
            "idk_logp": cols_idk[j],
            "idk_ref_logp": ref["idk"],
            "retain_kl": cols_kl[j],
            "idk_n_tokens": ones_f,
        }
        weights = {"one": 1.0, "alpha": spec.retain_weight}
        for term, wname in get_method(spec.method).terms:
            value = TERMS[term].fn(inputs, spec.beta, spec.gamma)  # (S·n,)
            n = value.numel() // S
            total = total + weights[wname] * value.view(S, n).mean(dim=1).sum()
    return total


# the retain-side and forget-side terms whose derivative ∂term/∂input is written out in _unlearn_seeds
_ANALYTIC_TERMS = frozenset({"ga", "npo", "simnpo", "dpo", "idk_nll", "retain_nll", "retain_kl"})
_BACKENDS = ("analytic", "autograd")


class _KL:
    """``KL(Bern(σ(p)) ‖ Bern(σ(q)))`` averaged over inputs for a fixed ``p`` (precomputed) and many ``q``:
    the same formula as :func:`bernoulli_kl`, for logits laid out as ``(S, M, n)``."""

    def __init__(self, p_logit: torch.Tensor):
        self.lp1, self.lp0 = F.logsigmoid(p_logit), F.logsigmoid(-p_logit)
        self.p1, self.p0 = self.lp1.exp(), self.lp0.exp()

    def mean(self, q_logit: torch.Tensor) -> torch.Tensor:
        kl = self.p1 * (self.lp1 - F.logsigmoid(q_logit)) + self.p0 * (self.lp0 - F.logsigmoid(-q_logit))
        return kl.mean(dim=-1)


def _unlearn_seeds(task: SyntheticTask, k: int, specs: Sequence[UnlearnSpec], steps: int, eval_every: int,
                   stop=None, tick=None) -> tuple[list[int], dict[str, np.ndarray]]:
    """Unlearning for seed index ``k`` and all ``specs`` at once, with the loss gradient written out.

    Layout: heads as rows, ``θᵀ (M, F)``, logits ``zᵀ = θᵀΦᵀ (M, n)``. With ``logp = log σ(s·z)``, ``s = 2y − 1``,
    ``∂logp/∂z = s·σ(−s·z)`` and the derivatives of the library's terms (:data:`npo_lab.losses.TERMS`, each
    averaged over its data set, weights ``one``/``alpha``):

    * ga: ``∂/∂logp_f = 1``; npo: ``2σ(β(logp_f − ref_logp_f))`` (``npo_weight``); simnpo (|y| = 1):
      ``2σ(β·logp_f + γ)``; dpo with margin ``m = (logp_idk − ref_idk) − (logp_f − ref_f)``: ``∂/∂logp_f =
      2σ(−βm) = −∂/∂logp_idk``; idk_nll: ``∂/∂logp_idk = −1``; retain_nll: ``∂/∂logp_r = −1``;
      retain_kl (``KL(π_ref‖π_θ)``): ``∂/∂z_r = σ(z_r) − σ(z_ref)``.

    ``∇θ = Σ_sets Φᵀ ∂L/∂z``. ``random_features_experiment(..., backend="autograd")`` differentiates the library's
    terms with autograd instead (the reference; the two agree to ~1e-12 over 2000 steps).
    Each term is evaluated for every head with a per-head coefficient (0 for heads whose method lacks the term),
    so one step is a fixed ~25 tensor ops whatever the methods. Returns the evaluation steps and the three
    metrics as ``(E, M)`` arrays. ``stop`` (a ``threading.Event``) ends the loop early; ``tick(n)`` reports steps.
    """
    dt = task.phi_forget.dtype
    M = len(specs)
    pf, pr = task.phi_forget[k], task.phi_retain[k]  # (n_f, F), (n_r, F)
    n_f, n_r = pf.shape[0], pr.shape[0]
    methods = [get_method(sp.method) for sp in specs]
    term_sets = [{t for t, _ in m.terms} for m in methods]
    present = set().union(*term_sets)
    uses_r = [bool(ts & {"retain_nll", "retain_kl"}) for ts in term_sets]
    # heads that need the retain set first, so that their logits are one contiguous block
    order = [j for j in range(M) if uses_r[j]] + [j for j in range(M) if not uses_r[j]]
    Mr = sum(uses_r)

    def per_head(term, value, default):  # (M, 1) in head order: value(spec, weight name) where the method has term
        out = torch.full((M, 1), float(default), dtype=dt)
        for i, j in enumerate(order):
            for t, wname in methods[j].terms:
                if t == term:
                    out[i, 0] = value(specs[j], wname)
        return out

    def w(term, n):  # the term's weight (1 or retain_weight) / its data-set size; 0 for heads without the term
        return per_head(term, lambda sp, wname: (1.0 if wname == "one" else sp.retain_weight) / n, 0.0)

    def param(term, name, default):  # β or γ of the heads with the term (a harmless default elsewhere)
        return per_head(term, lambda sp, wname: getattr(sp, name), default)

    th_ref = task.theta_ref[k].unsqueeze(0)  # (1, F)
    theta = th_ref.repeat(M, 1)  # (M, F)
    lr = torch.tensor([[specs[j].lr] for j in order], dtype=dt)
    s_f = (2.0 * task.y_forget[k] - 1.0).unsqueeze(0)  # (1, n_f)
    s_i = (2.0 * task.y_idk[k] - 1.0).unsqueeze(0)
    s_r = (2.0 * task.y_retain[k] - 1.0).unsqueeze(0)
    z_ref_f = th_ref @ pf.t()  # (1, n_f)
    ref_f, ref_i = F.logsigmoid(s_f * z_ref_f), F.logsigmoid(s_i * z_ref_f)
    sig_ref_r = torch.sigmoid(th_ref @ pr.t())  # (1, n_r)
    # constant parts of ∂L/∂logp (GA, IDK NLL, retain NLL) and the per-head coefficients of the others
    const_f = w("ga", n_f)
    const_i = -w("idk_nll", n_f)
    const_r = -w("retain_nll", n_r)[:Mr]
    need_idk = bool(present & {"dpo", "idk_nll"})
    need_logp_f = bool(present & {"npo", "dpo", "simnpo"})
    c_npo, b_npo = (w("npo", n_f), param("npo", "beta", 1.0)) if "npo" in present else (None, None)
    c_sim, b_sim, g_sim = ((w("simnpo", n_f), param("simnpo", "beta", 1.0), param("simnpo", "gamma", 0.0))
                           if "simnpo" in present else (None, None, None))
    c_dpo, b_dpo = (w("dpo", n_f), param("dpo", "beta", 1.0)) if "dpo" in present else (None, None)
    c_kl = w("retain_kl", n_r)[:Mr] if "retain_kl" in present else None
    use_nll_r = bool((const_r != 0).any())

    kl_f_retr = _KL((task.theta_retr[k].unsqueeze(0) @ task.phi_eval_forget[k].t()))
    kl_r_retr = _KL((task.theta_retr[k].unsqueeze(0) @ task.phi_eval_retain[k].t()))
    kl_f_ref = _KL((th_ref @ task.phi_eval_forget[k].t()))
    pef_t, per_t = task.phi_eval_forget[k].t(), task.phi_eval_retain[k].t()
    eval_steps: list[int] = []
    evals: list[torch.Tensor] = []

    def record(step):
        zf, zr = theta @ pef_t, theta @ per_t  # (M, n_eval)
        evals.append(torch.stack([kl_f_retr.mean(zf), kl_r_retr.mean(zr), kl_f_ref.mean(zf)]))
        eval_steps.append(step)

    pf_t, pr_t = pf.t(), pr.t()
    record(0)
    done = 0
    try:
        for step in range(1, steps + 1):
            if stop is not None and stop.is_set():
                break
            z_f = theta @ pf_t  # (M, n_f)
            u_f = s_f * z_f
            a_f = const_f.expand(M, n_f).clone()  # ∂L/∂logp_f
            logp_f = F.logsigmoid(u_f) if need_logp_f else None
            if need_idk:
                u_i = s_i * z_f
                a_i = const_i.expand(M, n_f).clone()  # ∂L/∂logp_idk
            if c_npo is not None:
                a_f.add_(c_npo * 2.0 * torch.sigmoid(b_npo * (logp_f - ref_f)))
            if c_sim is not None:
                a_f.add_(c_sim * 2.0 * torch.sigmoid(b_sim * logp_f + g_sim))
            if c_dpo is not None:
                margin = (F.logsigmoid(u_i) - ref_i) - (logp_f - ref_f)
                c = c_dpo * 2.0 * torch.sigmoid(-b_dpo * margin)
                a_f.add_(c)
                a_i.sub_(c)
            g_zf = a_f.mul_(torch.sigmoid(-u_f)).mul_(s_f)  # ∂L/∂z_f
            if need_idk:
                g_zf.add_(a_i.mul_(torch.sigmoid(-u_i)).mul_(s_i))
            grad = g_zf @ pf  # (M, F)
            if Mr:
                z_r = theta[:Mr] @ pr_t  # (Mr, n_r)
                g_zr = None
                if use_nll_r:
                    g_zr = (const_r * s_r) * torch.sigmoid(-s_r * z_r)
                if c_kl is not None:
                    kl = c_kl * (torch.sigmoid(z_r) - sig_ref_r)
                    g_zr = kl if g_zr is None else g_zr.add_(kl)
                grad[:Mr].add_(g_zr @ pr)
            theta.sub_(lr * grad)
            done += 1
            if step % eval_every == 0 or step == steps:
                record(step)
                if tick is not None:
                    tick(done)
                    done = 0
    except KeyboardInterrupt:  # keep the evaluations done so far (the caller warns)
        if stop is not None:
            stop.set()
    if tick is not None and done:
        tick(done)
    inv = np.argsort(order)
    arr = torch.stack(evals).numpy()[:, :, inv] if evals else np.zeros((0, 3, M))  # (E, 3, M), spec order
    return eval_steps, {name: arr[:, i, :] for i, name in enumerate(("forget_distance", "retain_distance", "forget_kl"))}


def _unlearn_analytic(task, specs, steps, eval_every, workers, bar):
    """All seeds, ``workers`` threads (seeds split between them, each seed run to the end before the next so that
    its features stay in cache). Returns ``{seed index: (steps, metrics)}``; Ctrl-C keeps what is done."""
    import threading

    stop = threading.Event()
    lock = threading.Lock()

    def tick(n):
        if bar is not None:
            with lock:
                bar.update(n)

    def run(sl):
        torch.set_num_threads(1)  # per OS thread (see _pretrain)
        out = {}
        for k in range(sl.start, sl.stop):
            if stop.is_set():
                break
            out[k] = _unlearn_seeds(task, k, specs, steps, eval_every, stop, tick)
        return out

    chunks = _seed_chunks(len(task.seeds), workers)
    results: dict = {}
    with _single_thread(), torch.no_grad():
        if len(chunks) == 1:
            results = run(chunks[0])
        else:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(len(chunks))
            futures = [pool.submit(run, c) for c in chunks]
            try:
                for f in futures:
                    results.update(f.result())
            except KeyboardInterrupt:
                stop.set()
                for f in futures:
                    results.update(f.result())
            finally:
                pool.shutdown(wait=True)
    if stop.is_set():
        warnings.warn("interrupted: returning the evaluations done so far", stacklevel=3)
    return results


def _unlearn_autograd(task: SyntheticTask, specs: Sequence[UnlearnSpec], steps: int, eval_every: int, bar):
    """The reference: all seeds batched, autograd through the library's terms (:func:`_objective`) every step.
    Returns ``{seed index: (steps, metrics (E, M))}`` like :func:`_unlearn_analytic`."""
    M = len(specs)
    theta = task.theta_ref.unsqueeze(-1).repeat(1, 1, M)  # (S, F, M): one head per seed and method
    lr = torch.tensor([s.lr for s in specs], dtype=theta.dtype)
    with torch.no_grad():
        ref = {
            "forget": _logp(task.phi_forget, task.theta_ref.unsqueeze(-1), task.y_forget)[:, :, 0].reshape(-1),
            "idk": _logp(task.phi_forget, task.theta_ref.unsqueeze(-1), task.y_idk)[:, :, 0].reshape(-1),
            "retain_logit": torch.bmm(task.phi_retain, task.theta_ref.unsqueeze(-1)),
            "sign_forget": (2.0 * task.y_forget - 1.0).unsqueeze(-1),
            "sign_idk": (2.0 * task.y_idk - 1.0).unsqueeze(-1),
            "sign_retain": (2.0 * task.y_retain - 1.0).unsqueeze(-1),
        }
    needs = set().union(*(get_method(spec.method).needs() for spec in specs))
    use_retain = bool(needs & {"retain_logp", "retain_kl"})
    phi_f_t = task.phi_forget.transpose(1, 2).contiguous()
    phi_r_t = task.phi_retain.transpose(1, 2).contiguous()
    records: list[tuple[int, dict]] = []

    def record(step):
        with torch.no_grad():
            records.append((step, {k: v.numpy().copy() for k, v in _evaluate(task, theta).items()}))

    with _single_thread():
        try:
            record(0)
            for step in range(1, steps + 1):
                # logits of the M heads; autograd runs through the library's loss terms down to the logits,
                # and the chain rule to θ is one matrix product per data set: ∇θ = Φᵀ ∂L/∂z
                z_f = torch.bmm(task.phi_forget, theta).requires_grad_(True)
                z_r = torch.bmm(task.phi_retain, theta).requires_grad_(True) if use_retain else None
                loss = _objective(task, specs, z_f, z_r, ref, needs)
                if use_retain:
                    g_f, g_r = torch.autograd.grad(loss, (z_f, z_r))
                    grad = torch.bmm(phi_f_t, g_f) + torch.bmm(phi_r_t, g_r)
                else:
                    (g_f,) = torch.autograd.grad(loss, z_f)
                    grad = torch.bmm(phi_f_t, g_f)
                theta -= lr * grad
                if step % eval_every == 0 or step == steps:
                    record(step)
                if bar is not None:
                    bar.update(len(task.seeds))
        except KeyboardInterrupt:
            warnings.warn(f"interrupted: returning the {len(records)} evaluations done so far", stacklevel=3)
    steps_done = [s for s, _ in records]
    return {
        k: (steps_done, {m: np.stack([v[m][k] for _, v in records]) for m in ("forget_distance", "retain_distance",
                                                                              "forget_kl")})
        for k in range(len(task.seeds))
    }


def random_features_experiment(
    alpha: int = 1,
    methods: Sequence[str | UnlearnSpec] | None = None,
    seeds=5,
    steps: int = 2000,
    eval_every: int = 25,
    *,
    task: SyntheticTask | None = None,
    progress: bool = False,
    workers: int | None = None,
    backend: str = "analytic",
    **task_kwargs,
) -> pd.DataFrame:
    """Run the synthetic unlearning experiment; returns a tidy DataFrame, one row per (seed, method, evaluation).

    Columns: ``seed, method, step, forget_distance, retain_distance, forget_kl`` (+ ``base_method, lr, beta,
    alpha``). ``method`` holds each run's label.

    Args:
        alpha: 1 (separated forget/retain inputs) or 0 (overlapping), the paper's two settings.
        methods: method names (the paper's lr and β for ``alpha`` are used, :func:`paper_specs`) or
            :class:`UnlearnSpec` objects; default :data:`PAPER_METHODS`.
        seeds: number of seeds (0..n−1) or a sequence of seeds.
        steps: GD steps of unlearning; eval_every: steps between evaluations (step 0 and the last step included).
        task: a prebuilt :func:`make_task` (its alpha/seeds win); otherwise ``make_task(alpha, seeds, **task_kwargs)``
            (e.g. ``pretrain_steps=2000`` for quick tests).
        progress: show a tqdm bar.
        workers: threads, the seeds split between them (``None``: 1); results do not depend on it.
        backend: ``"analytic"`` (default: the derivatives of the library's loss terms written out, one seed at a time,
            see :func:`_unlearn_seeds`) or ``"autograd"`` (autograd through the library's terms each step, all seeds
            batched; the slower reference, same numbers to ~1e-12).
    Interrupting (Ctrl-C) returns the evaluations done so far, with a warning.
    """
    if methods is None:
        methods = PAPER_METHODS
    if isinstance(methods, (str, UnlearnSpec)):
        methods = [methods]
    if len(methods) == 0:
        raise ValueError("methods must be a non-empty sequence of method names or UnlearnSpec objects")
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(_BACKENDS)}, got {backend!r}")
    workers = _check_workers(workers)
    if task is None:
        task = make_task(alpha, seeds, workers=workers, **task_kwargs)
    elif task_kwargs:
        raise ValueError(f"pass either task or task settings, not both (got {sorted(task_kwargs)})")
    alpha = task.alpha
    specs = [m if isinstance(m, UnlearnSpec) else paper_specs(alpha, [m])[0] for m in methods]
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"methods must have distinct labels, got {labels}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    if isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 1:
        raise ValueError(f"eval_every must be an integer >= 1, got {eval_every!r}")

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps * len(task.seeds), desc=f"synthetic α={alpha}", leave=False, mininterval=1.0)
    try:
        if backend == "analytic" and all(t in _ANALYTIC_TERMS for sp in specs for t, _ in get_method(sp.method).terms):
            per_seed = _unlearn_analytic(task, specs, steps, eval_every, workers, bar)
        else:
            per_seed = _unlearn_autograd(task, specs, steps, eval_every, bar)
    finally:
        if bar is not None:
            bar.close()

    rows = []
    for k in sorted(per_seed):
        seed = task.seeds[k]
        eval_steps, vals = per_seed[k]
        for e, step in enumerate(eval_steps):
            for j, spec in enumerate(specs):
                rows.append(
                    {
                        "seed": seed,
                        "method": spec.label,
                        "step": step,
                        "forget_distance": float(vals["forget_distance"][e, j]),
                        "retain_distance": float(vals["retain_distance"][e, j]),
                        "forget_kl": float(vals["forget_kl"][e, j]),
                        "base_method": spec.method,
                        "lr": spec.lr,
                        "beta": spec.beta,
                        "alpha": alpha,
                    }
                )
    df = pd.DataFrame(rows)
    order = {lab: i for i, lab in enumerate(labels)}
    df = df.sort_values(["method", "seed", "step"], key=lambda c: c.map(order) if c.name == "method" else c)
    return df.reset_index(drop=True)


def summarize_experiment(df: pd.DataFrame) -> pd.DataFrame:
    """Per method: start and end (mean over seeds) of each distance, the minimum of the seed-mean forget distance
    and its step, and the retain distance there."""
    needed = {"seed", "method", "step", "forget_distance", "retain_distance", "forget_kl"}
    missing = needed - set(df.columns)
    if missing:
        raise ValueError(f"df lacks the columns {sorted(missing)}")
    mean = df.groupby(["method", "step"], sort=False)[["forget_distance", "retain_distance", "forget_kl"]].mean()
    out = []
    for method, g in mean.groupby(level=0, sort=False):
        g = g.droplevel(0)
        i_min = g["forget_distance"].idxmin()
        out.append(
            {
                "method": method,
                "forget_start": g["forget_distance"].iloc[0],
                "retain_start": g["retain_distance"].iloc[0],
                "forget_min": g["forget_distance"].min(),
                "step_of_forget_min": int(i_min),
                "retain_at_forget_min": g.loc[i_min, "retain_distance"],
                "forget_end": g["forget_distance"].iloc[-1],
                "retain_end": g["retain_distance"].iloc[-1],
                "retain_max": g["retain_distance"].max(),
                "forget_kl_end": g["forget_kl"].iloc[-1],
            }
        )
    return pd.DataFrame(out).set_index("method")


# --------------------------------------------------------------------------------------------------------------
# CLI: npo-lab synthetic
# --------------------------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--alpha", type=int, choices=(0, 1), default=1, help="gap between forget and retain inputs")
    parser.add_argument("--out", type=Path, required=True, help="output directory (CSV + PNG)")
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (default 5)")
    parser.add_argument("--steps", type=int, default=2000, help="unlearning steps for Figs. 4 and 9 (default 2000)")
    parser.add_argument("--sweep-steps", type=int, default=SWEEP_STEPS, help="steps of the Fig. 3 β sweep (default 10000; 0 skips it)")
    parser.add_argument("--eval-every", type=int, default=25, help="steps between evaluations (default 25)")
    parser.add_argument("--pretrain-steps", type=int, default=20_000, help="GD steps of the initial/retrained models")
    parser.add_argument("--workers", type=int, default=None, help="threads (seeds split between them; default 1)")


def run_cli(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from npo_lab.plotting import set_style
    from npo_lab.plotting.theory import synthetic_figure

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    workers = getattr(args, "workers", None)
    task = make_task(args.alpha, args.seeds, pretrain_steps=args.pretrain_steps, workers=workers)
    print(f"initial/retrained models: {task.pretrain_seconds:.1f} s, final gradient norms "
          f"{max(task.pretrain_grad_norm['initial']):.1e} / {max(task.pretrain_grad_norm['retrained']):.1e}")
    df = random_features_experiment(task=task, steps=args.steps, eval_every=args.eval_every, progress=True,
                                    workers=workers)
    csv = out / f"synthetic_alpha{args.alpha}.csv"
    df.to_csv(csv, index=False)
    print(f"wrote {csv}")
    print(summarize_experiment(df).round(4).to_string())
    set_style()
    for kind in ("figure4", "figure9"):
        fig = synthetic_figure(df, kind)
        path = out / f"{kind}_alpha{args.alpha}.png"
        fig.savefig(path, bbox_inches="tight")
        plt.close(fig)
        print(f"wrote {path}")
    if args.sweep_steps > 0:
        sweep = random_features_experiment(task=task, methods=beta_sweep_specs(), steps=args.sweep_steps,
                                           eval_every=args.eval_every, progress=True, workers=workers)
        csv = out / f"beta_sweep_alpha{args.alpha}.csv"
        sweep.to_csv(csv, index=False)
        print(f"wrote {csv}")
        fig = synthetic_figure(sweep, "figure3")
        path = out / f"figure3_alpha{args.alpha}.png"
        fig.savefig(path, bbox_inches="tight")
        plt.close(fig)
        print(f"wrote {path}")
    print(f"total {time.perf_counter() - t0:.1f} s")
    return 0
