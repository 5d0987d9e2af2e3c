"""The random-features logistic model of the paper's synthetic experiment (Sec. 4): data, model and pretraining.

Setting (as the NPO authors' reference code, ``synthetic/`` of licong-lin/negative-preference-optimization):

* inputs ``x ∈ R^d`` (d = 16); fixed random features ``φ(x) = ReLU(W x)``, ``W ∈ R^{128×d}`` with ``N(0, 1/d)``
  entries; the model is ``π_θ(y = 1|x) = σ(z)``, ``z = θᵀφ(x)``, with a trainable head ``θ ∈ R^128``.
* forget data: ``x ~ N(g·1, I)``, ``P(y=1|x) = σ((x − g1)ᵀθ_f + 1)``; retain data: ``x ~ N(−g·1, I)``,
  ``P(y=1|x) = σ((x + g1)ᵀθ_r − 1)``, ``θ_f = −θ_r = 1/√d · 1``, where ``g`` is the **input gap**: g = 1
  separates the two input distributions, g = 0 makes them overlap (same inputs, opposite label rules).
  n_f = 200, n_r = 1000 training samples and fresh evaluation sets of 1000 + 1000. "I don't know" answers
  (IDK+RT, the chosen answers of DPO) are random labels ``~ Bernoulli(0.5)`` on the forget inputs.
* the initial model π_ref (trained on forget ∪ retain) and the retrained model π_retr (retain only): full-batch
  GD on the mean NLL (:func:`npo_lab.losses.nll_loss`) from θ = 0, 20 000 steps at lr 0.05.

Gradients are the chain rule ``∇θ = Φᵀ (∂L/∂logp ⊙ ∂logp/∂z)`` with the model's derivatives from
:mod:`npo_lab.theory.logistic` and ``∂z/∂θ = φ(x)``.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from npo_lab.losses import TERMS

from .parallel import can_fork, check_workers, map_chunks, map_forked, seed_chunks

__all__ = ["INPUT_GAPS", "GROUP_INPUTS", "SyntheticTask", "make_task", "pretrain"]

#: the paper's two settings of the gap between forget and retain inputs
INPUT_GAPS: tuple[int, ...] = (0, 1)
#: the inputs each group of answers (:attr:`npo_lab.losses.LossInputs.GROUPS`) belongs to: "I don't know" answers
#: answer the forget questions
GROUP_INPUTS: dict[str, str] = {"forget": "forget", "idk": "forget", "retain": "retain"}


@dataclass
class SyntheticTask:
    """Data and pretrained heads of the synthetic experiment for ``S`` seeds (float64 tensors, leading dim S).

    ``phi_*``: features ``(S, n, F)``; ``y_*``: labels in {0, 1} ``(S, n)``; ``y_idk``: random labels ``(S, n_f)``;
    ``theta_ref`` / ``theta_retr``: the initial (forget ∪ retain) and retrained (retain only) heads ``(S, F)``.
    """

    input_gap: int
    seeds: tuple[int, ...]
    phi_forget: Tensor
    y_forget: Tensor
    y_idk: Tensor
    phi_retain: Tensor
    y_retain: Tensor
    phi_eval_forget: Tensor
    y_eval_forget: Tensor
    phi_eval_retain: Tensor
    y_eval_retain: Tensor
    theta_ref: Tensor
    theta_retr: Tensor
    pretrain_grad_norm: dict = field(default_factory=dict)
    pretrain_seconds: float = 0.0

    def features(self, input_set: str) -> Tensor:
        """The training features ``(S, n, F)`` of ``"forget"`` or ``"retain"`` inputs."""
        return {"forget": self.phi_forget, "retain": self.phi_retain}[input_set]

    def labels(self, group: str) -> Tensor:
        """The labels ``(S, n)`` of a :class:`~npo_lab.losses.LossInputs` group: the forget answers, the "I don't
        know" answers (to the forget inputs, :data:`GROUP_INPUTS`) or the retain answers."""
        if group not in GROUP_INPUTS:
            raise ValueError(f"the synthetic task has no {group!r} answers; it has {', '.join(GROUP_INPUTS)}")
        return {"forget": self.y_forget, "idk": self.y_idk, "retain": self.y_retain}[group]


# ------------------------------------------------------------------------------------------------------------
# data and pretraining
# ------------------------------------------------------------------------------------------------------------
def _sample_split(gen: torch.Generator, n: int, d: int, gap: float, sign: float):
    """x ~ N(sign·g·1, I); P(y=1|x) = σ(sign·((x − sign·g·1)ᵀ1/√d + 1)) — sign = +1 forget, −1 retain."""
    mu = sign * gap
    x = mu + torch.randn(n, d, generator=gen, dtype=torch.float64)
    logit = sign * ((x - mu).sum(dim=1) / math.sqrt(d) + 1.0)
    y = (torch.rand(n, generator=gen, dtype=torch.float64) < torch.sigmoid(logit)).to(torch.float64)
    return x, y


def _nll_derivative(weights: np.ndarray) -> np.ndarray:
    """``∂/∂logp`` of the weighted NLL ``Σ_i w_i · nll_i``: the retain-NLL term's closed form (``−1`` per example
    and token, :data:`npo_lab.losses.TERMS`) times ``w``; NLL is linear in logp, so this is one constant."""
    d = TERMS["retain_nll"].derivative({"retain_logp": weights, "retain_n_tokens": 1.0}, {})["retain_logp"]
    return np.broadcast_to(d, weights.shape) * weights


def pretrain(phi: Tensor, y: Tensor, weights: Tensor, steps: int, lr: float, workers: int = 1):
    """Full-batch GD from θ = 0 on weighted mean NLLs, several heads at once (the initial and retrained models).

    phi ``(S, n, F)``, y ``(S, n)``, weights ``(S, n, H)`` (each column sums to 1: a head's mean over its data).
    Chain rule: ``∇θ = Φᵀ (∂L/∂logp ⊙ (y − σ(z)))`` with ``∂L/∂logp`` from :func:`_nll_derivative`. Heads are
    rows, ``θᵀ (H, F)``; NumPy float64; seeds run one after the other (their features stay in cache), split over
    ``workers`` forked processes on Linux (:func:`~npo_lab.theory.parallel.map_forked`), threads elsewhere; the
    result does not depend on ``workers``. Returns heads ``(S, F, H)`` and final gradient
    norms ``(S, H)`` (torch tensors).
    """
    S, n, n_features = phi.shape
    H = weights.shape[-1]
    phi_np, y_np = phi.numpy(), y.numpy()
    coef = _nll_derivative(weights.numpy()).transpose(0, 2, 1)  # (S, H, n): ∂L/∂logp

    @np.errstate(over="ignore")
    def run(sl: slice, stop: threading.Event | None = None) -> list[np.ndarray]:
        out = []
        for k in range(sl.start, sl.stop):
            if stop is not None and stop.is_set():  # Ctrl-C: the caller raises KeyboardInterrupt
                break
            p, p_t, yy = phi_np[k], np.ascontiguousarray(phi_np[k].T), y_np[k][None, :]
            c = lr * coef[k]
            theta_t = np.zeros((H, n_features))
            r, g = np.empty((H, n)), np.empty((H, n_features))
            for _ in range(steps):
                np.dot(theta_t, p_t, out=r)  # logits zᵀ = θᵀΦᵀ
                np.negative(r, out=r)
                np.exp(r, out=r)  # σ(z) = 1 / (1 + e^{−z}); overflow (σ < 1e-308) gives 0
                r += 1.0
                np.reciprocal(r, out=r)
                np.subtract(yy, r, out=r)
                r *= c  # lr · ∂L/∂logp ⊙ ∂logp/∂z
                theta_t -= np.dot(r, p, out=g)  # θ ← θ − lr · Φᵀ(...)
            out.append(theta_t)
        return out

    if can_fork():  # NumPy's small operations hold the GIL: processes overlap more than threads do
        stop = threading.Event()
        chunks = map_forked(lambda sl, stop, tick: run(sl, stop), seed_chunks(S, workers), stop)
        if stop.is_set():  # Ctrl-C: each process stopped after its seed in progress
            raise KeyboardInterrupt
    else:
        chunks = map_chunks(run, seed_chunks(S, workers))
    theta = torch.from_numpy(np.stack([t for c in chunks for t in c]).transpose(0, 2, 1).copy())  # (S, F, H)
    z = torch.bmm(phi, theta)
    grad = torch.bmm(
        phi.transpose(1, 2), torch.from_numpy(coef.transpose(0, 2, 1).copy()) * (y.unsqueeze(-1) - torch.sigmoid(z))
    )
    return theta, torch.linalg.vector_norm(grad, dim=1)


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


def check_input_gap(input_gap) -> int:
    if isinstance(input_gap, bool) or input_gap not in INPUT_GAPS:
        raise ValueError(f"input_gap must be 0 or 1 (the paper's two settings), got {input_gap!r}")
    return int(input_gap)


def make_task(
    input_gap: int = 1,
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
    Training the heads (20 000 full-batch steps) dominates a cold run, so they are cached: in memory per argument
    set, and on disk as ``.npz`` (``cache=True``: ``$NPO_LAB_CACHE/synthetic``, default
    ``~/.cache/npo_lab/synthetic``; a path: that directory; ``False``: off). ``workers``: threads for the
    pretraining (``None``: 1), the seeds split between them; the result does not depend on it.
    """
    gap = check_input_gap(input_gap)
    seeds = _normalize_seeds(seeds)
    workers = check_workers(workers)
    for name, v in (
        ("d", d),
        ("n_features", n_features),
        ("n_forget", n_forget),
        ("n_retain", n_retain),
        ("n_eval", n_eval),
    ):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    if isinstance(pretrain_steps, bool) or not isinstance(pretrain_steps, int) or pretrain_steps < 0:
        raise ValueError(f"pretrain_steps must be an integer >= 0, got {pretrain_steps!r}")
    if not (isinstance(pretrain_lr, (int, float)) and math.isfinite(pretrain_lr) and pretrain_lr > 0):
        raise ValueError(f"pretrain_lr must be a finite number > 0, got {pretrain_lr!r}")
    if cache is True:
        from ..files import cache_root

        cache_dir = str(cache_root() / "synthetic")
    else:
        cache_dir = None if cache is False or cache is None else str(Path(cache))
    sizes = (d, n_features, n_forget, n_retain, n_eval)
    return _make_task_cached(gap, seeds, sizes, pretrain_steps, float(pretrain_lr), cache_dir, workers)


def _heads_file(cache_dir: str, gap: int, seeds, sizes, pretrain_steps: int, pretrain_lr: float) -> Path:
    key = f"v1-{gap}-{seeds}-{'-'.join(map(str, sizes))}-{pretrain_steps}-{pretrain_lr!r}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(cache_dir) / f"heads_gap{gap}_{digest}.npz"


def _sample(seeds, sizes, gap) -> dict[str, Tensor]:
    """Every seed's W, training, IDK and evaluation data, stacked over seeds."""
    d, n_features, n_forget, n_retain, n_eval = sizes
    cols: dict[str, list] = {k: [] for k in ("W", "xf", "yf", "idk", "xr", "yr", "xef", "yef", "xer", "yer")}
    for s in seeds:
        gen = torch.Generator().manual_seed(int(s))
        cols["W"].append(torch.randn(n_features, d, generator=gen, dtype=torch.float64) / math.sqrt(d))
        xf, yf = _sample_split(gen, n_forget, d, gap, +1.0)
        xr, yr = _sample_split(gen, n_retain, d, gap, -1.0)
        idk = (torch.rand(n_forget, generator=gen, dtype=torch.float64) < 0.5).to(torch.float64)
        xef, yef = _sample_split(gen, n_eval, d, gap, +1.0)
        xer, yer = _sample_split(gen, n_eval, d, gap, -1.0)
        for k, v in zip(
            ("xf", "yf", "idk", "xr", "yr", "xef", "yef", "xer", "yer"), (xf, yf, idk, xr, yr, xef, yef, xer, yer)
        ):
            cols[k].append(v)
    return {k: torch.stack(v) for k, v in cols.items()}


def _load_or_pretrain(path: Path | None, phi_all, y_all, w, steps, lr, workers):
    if path is not None and path.exists():
        with np.load(path, allow_pickle=False) as z:
            return torch.from_numpy(z["heads"]), torch.from_numpy(z["grad_norm"])
    heads, gnorm = pretrain(phi_all, y_all, w, steps, lr, workers)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, heads=heads.numpy(), grad_norm=gnorm.numpy())
            os.replace(tmp, path)
        except OSError as exc:  # a read-only cache must not stop the experiment
            warnings.warn(f"could not cache the pretrained heads in {path.parent}: {exc}", stacklevel=3)
    return heads, gnorm


@lru_cache(maxsize=8)
def _make_task_cached(gap, seeds, sizes, pretrain_steps, pretrain_lr, cache_dir, workers=1) -> SyntheticTask:
    st = _sample(seeds, sizes, gap)
    W = st["W"]

    def feats(x):
        return torch.relu(torch.bmm(x, W.transpose(1, 2)))

    phi_f, phi_r = feats(st["xf"]), feats(st["xr"])
    n_forget, n_retain = phi_f.shape[1], phi_r.shape[1]
    # heads: 0 = initial model (mean over forget ∪ retain), 1 = retrained model (mean over retain only)
    w = torch.zeros(len(seeds), n_forget + n_retain, 2, dtype=torch.float64)
    w[:, :, 0] = 1.0 / (n_forget + n_retain)
    w[:, n_forget:, 1] = 1.0 / n_retain
    t0 = time.perf_counter()
    path = None if cache_dir is None else _heads_file(cache_dir, gap, seeds, sizes, pretrain_steps, pretrain_lr)
    heads, gnorm = _load_or_pretrain(
        path,
        torch.cat([phi_f, phi_r], dim=1),
        torch.cat([st["yf"], st["yr"]], dim=1),
        w,
        pretrain_steps,
        pretrain_lr,
        workers,
    )
    return SyntheticTask(
        input_gap=gap,
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
        pretrain_seconds=time.perf_counter() - t0,
    )
