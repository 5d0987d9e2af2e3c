"""Toy dynamics of unlearning: a single logit and the Theorem-2 logistic model (paper Sec. 2.1 and Theorem 2).

Both toys run **full-batch gradient descent** on an unlearning objective from :mod:`npo_lab.losses` (GA or NPO)
for a forget set whose labels the model initially predicts well.

Single logit (``single_logit``)
    One example with label ``y = 1`` and one parameter, the logit ``z``: ``logp = log σ(z)``,
    ``∂logp/∂z = σ(−z)``. GD on ``L(logp)`` reads ``z ← z − η · L'(logp) · σ(−z)`` with

    * GA:  ``L = logp``,                               ``L' = 1``;
    * NPO: ``L = (2/β) softplus(β (logp − ref_logp))``, ``L' = W = 2 σ(β · log_ratio)`` (``npo_weight``).

    GA's gradient never shrinks (``σ(−z) → 1``), so ``z_t − z_0 ≈ −η t``: a linear walk to −∞. NPO's weight decays
    like ``e^{β z}``, and solving ``dz/dt = −2η e^{βz}/σ(z_0)^β`` gives the closed form (:func:`npo_closed_form_shift`)

    ``z_t − z_0 ≈ −(1/β) · log(1 + 2βη · e^{β z_0} · t / σ(z_0)^β)``   — a line of slope −1/β against log t.

Theorem 2 (``logistic_divergence``)
    Binary logistic model ``π_θ(y|x) = σ(y · xᵀθ)``, forget set of ``n_f ≤ d`` nearly orthogonal inputs
    ``x_i ~ N(0, I_d/d)`` (so ``‖x_i‖ ≈ 1``, ``|x_iᵀx_j| ≈ d^{-1/2}``) with labels ``y_i = ±1``; the initial model
    ``θ_init`` is the minimum-norm parameter with every margin ``m_i = y_i x_iᵀθ_init = z_0`` (it "knows" the
    forget set). GD on ``(1/n_f) Σ_i L(logp_i)`` with ``logp_i = log σ(m_i)``. The distance reported is the
    ``XᵀX`` norm ``‖θ_t − θ_init‖_{XᵀX} = ‖X(θ_t − θ_init)‖₂``: GA grows like ``η t/√n_f`` (linear), NPO like
    ``√n_f · (1/β) log(c η t/n_f + 1)`` (logarithmic).

Implementation: two interchangeable back-ends. ``backend="torch"`` runs autograd through the library's loss
terms (``METHODS[method]``) every step; it is the reference, and slow (~100 µs/step). ``backend="numpy"`` (the
default, ~1 µs/step) uses the derivative ``L'`` written out — GA: 1, NPO: ``npo_weight``'s formula — and the
tests check that both back-ends give the same trajectory, so the fast path is the library's objective.
The Theorem-2 numpy path works in margin space: every GD step moves θ inside the row space of X, so
``m ← m − (η/n_f) · K (L' ⊙ σ(−m))`` with ``K = (yyᵀ) ⊙ XXᵀ`` is exactly the θ-space iteration.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = [
    "TOY_METHODS",
    "single_logit",
    "npo_closed_form_shift",
    "ga_closed_form_shift",
    "logistic_divergence",
    "nearly_orthogonal_inputs",
    "fit_slope",
    "npo_curves",
]

#: the objectives the toy dynamics support (names as in :data:`npo_lab.losses.METHODS`)
TOY_METHODS: tuple[str, ...] = ("GA", "NPO")
_BACKENDS = ("numpy", "torch")


# --------------------------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------------------------
def _check_method(method: str) -> str:
    if method not in TOY_METHODS:
        raise ValueError(f"method must be one of {', '.join(TOY_METHODS)}, got {method!r}")
    return method


def _check_positive(value: float, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def _check_finite(value: float, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return v


def _check_int(value: int, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_backend(backend: str) -> str:
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(_BACKENDS)}, got {backend!r}")
    return backend


# --------------------------------------------------------------------------------------------------------------
# the single logit
# --------------------------------------------------------------------------------------------------------------
def _log_sigmoid(z: float) -> float:
    """Stable scalar ``log σ(z)``."""
    if z >= 0:
        return -math.log1p(math.exp(-z))
    return z - math.log1p(math.exp(z))


def _sigmoid(u: float) -> float:
    if u >= 0:
        return 1.0 / (1.0 + math.exp(-u))
    e = math.exp(u)
    return e / (1.0 + e)


def single_logit(
    method: str, steps: int, lr: float, beta: float = 1.0, z0: float = 2.0, *, backend: str = "numpy"
) -> np.ndarray:
    """Full-batch GD on one forget example (label ``y = 1``) with a single logit ``z``: returns ``z_t``, t = 0..steps.

    ``logp = log σ(z)``, ``ref_logp = log σ(z0)``; the update is ``z ← z − lr · L'(logp) · σ(−z)`` where ``L`` is the
    GA loss (``L' = 1``) or the NPO loss (``L' = npo_weight = 2σ(β·log_ratio)``). GA walks off linearly
    (``z_t − z_0 ≈ −lr·t``); NPO logarithmically (:func:`npo_closed_form_shift`). ``beta`` is ignored for GA.

    Args:
        method: ``"GA"`` or ``"NPO"``.
        steps: number of GD steps (≥ 0).
        lr: step size η > 0.
        beta: NPO inverse temperature β > 0.
        z0: initial logit (``σ(2) ≈ 0.88``: the model starts out knowing the forget label).
        backend: ``"numpy"`` (fast scalar loop, ~0.1 s for 10⁵ steps) or ``"torch"`` (autograd through
            ``npo_lab.losses.METHODS[method]`` each step; the reference implementation, ~100× slower).
    Returns:
        float64 array of shape ``(steps + 1,)``.
    """
    _check_method(method)
    steps = _check_int(steps, "steps", 0)
    lr = _check_positive(lr, "lr")
    beta = _check_positive(beta, "beta")
    z0 = _check_finite(z0, "z0")
    if _check_backend(backend) == "torch":
        return _single_logit_torch(method, steps, lr, beta, z0)

    return _single_logit_numpy(method, steps, lr, beta, z0)


def _single_logit_numpy(method: str, steps: int, lr: float, beta: float, z0: float, *, start: float | None = None
                        ) -> np.ndarray:
    """The scalar GD loop of :func:`single_logit` (validated arguments); ``start`` continues a run (the logit after
    some steps; ``z0`` still fixes ``ref_logp``) and returns ``steps + 1`` values beginning with ``start``.

    Bit-for-bit the iteration written in :func:`single_logit`'s docstring, made cheaper without changing any
    floating-point operation: common subexpressions are computed once, values are collected in a list, and GA's
    tail is one ``cumsum``: once ``1 + e^z == 1`` in float64, ``σ(−z)`` evaluates to exactly 1 and every later step
    subtracts exactly ``lr`` (GA's z only decreases), which ``np.cumsum`` reproduces exactly (sequential sums).
    """
    z = z0 if start is None else float(start)
    out = [z]
    ref_logp = _log_sigmoid(z0)
    exp, log1p = math.exp, math.log1p
    append = out.append
    if method == "GA":
        t = 0
        while t < steps:
            if z < 700:
                e = exp(z)
                if 1.0 + e == 1.0:  # σ(−z) == 1.0 from here on
                    tail = np.full(steps - t + 1, -lr)
                    tail[0] = z
                    return np.concatenate([np.asarray(out[:-1], dtype=np.float64), np.cumsum(tail)])
                # σ(−z): the gradient of log σ(z); L' = 1
                z -= lr * (1.0 / (1.0 + e))
            else:
                z -= lr * exp(-z)
            append(z)
            t += 1
    else:  # NPO
        for _ in range(steps):
            if z >= 0:
                e = exp(-z)
                logp = -log1p(e)
                grad_logp = e / (1.0 + e)
            else:
                e = exp(z)
                logp = z - log1p(e)
                grad_logp = 1.0 / (1.0 + e)
            u = beta * (logp - ref_logp)
            # npo_weight: W = 2σ(β · log_ratio)
            if u >= 0:
                w = 2.0 / (1.0 + exp(-u))
            else:
                eu = exp(u)
                w = 2.0 * eu / (1.0 + eu)
            z -= lr * w * grad_logp
            append(z)
    return np.asarray(out, dtype=np.float64)


def _single_logit_torch(method: str, steps: int, lr: float, beta: float, z0: float) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    from npo_lab.losses import get_method

    m = get_method(method)
    z = torch.tensor([z0], dtype=torch.float64, requires_grad=True)
    ref_logp = F.logsigmoid(torch.tensor([z0], dtype=torch.float64))
    out = np.empty(steps + 1, dtype=np.float64)
    out[0] = z0
    for t in range(1, steps + 1):
        logp = F.logsigmoid(z)
        total, _ = m.loss({"forget_logp": logp, "forget_ref_logp": ref_logp}, beta=beta)
        (grad,) = torch.autograd.grad(total.mean(), z)
        with torch.no_grad():
            z -= lr * grad
        out[t] = float(z.detach())
    return out


def npo_closed_form_shift(t, lr: float, beta: float = 1.0, z0: float = 2.0) -> np.ndarray:
    """Asymptotic NPO logit shift of the single-logit model (Theorem 2, one sample):

    ``z_t − z_0 ≈ −(1/β) · log(1 + 2βη · e^{β z_0} · t / σ(z_0)^β)``.

    Derivation: once ``z ≪ 0``, ``log σ(z) ≈ z`` and ``σ(−z) ≈ 1``, so ``dz/dt = −2η e^{βz} / σ(z_0)^β``, whose
    solution is ``e^{−β z_t} = e^{−β z_0} + 2βη t / σ(z_0)^β``. On a log-t axis this is a line of slope −1/β.
    Values at η = 1, z₀ = 2, t = 10⁵: β = 1 → −14.33, β = 0.1 → −101.2.

    Args:
        t: step count(s), scalar or array (≥ 0).
    Returns:
        array of the same shape as ``t``.
    """
    lr = _check_positive(lr, "lr")
    beta = _check_positive(beta, "beta")
    z0 = _check_finite(z0, "z0")
    t = np.asarray(t, dtype=np.float64)
    if np.any(t < 0):
        raise ValueError("t must be >= 0")
    log_sig = _log_sigmoid(z0)
    c = 2.0 * beta * lr * math.exp(beta * z0 - beta * log_sig)
    return -np.log1p(c * t) / beta


def ga_closed_form_shift(t, lr: float, z0: float = 2.0) -> np.ndarray:
    """GA's single-logit shift, exactly integrated in continuous time: ``z_t − z_0`` from ``dz/dt = −η σ(−z)``.

    ``z + e^{z}`` decreases by ``η`` per unit time, so ``z_t + e^{z_t} = z_0 + e^{z_0} − η t``; for large t,
    ``z_t − z_0 ≈ −η t − e^{z_0}``: linear in t with slope −η.
    """
    lr = _check_positive(lr, "lr")
    z0 = _check_finite(z0, "z0")
    t = np.asarray(t, dtype=np.float64)
    target = z0 + math.exp(z0) - lr * t
    # solve z + e^z = target by Newton from a good start
    z = np.where(target < 0, target, np.log(np.maximum(target, 1e-300)))
    z = np.minimum(z, target)
    for _ in range(60):
        f = z + np.exp(z) - target
        z = z - f / (1.0 + np.exp(z))
    return z - z0


# --------------------------------------------------------------------------------------------------------------
# Theorem 2: the logistic model on nearly orthogonal inputs
# --------------------------------------------------------------------------------------------------------------
def nearly_orthogonal_inputs(n_f: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The forget set of Theorem 2: ``X`` of shape ``(n_f, d)`` with rows ``~ N(0, I_d/d)`` and labels ``y = ±1``.

    Rows have norm ≈ 1 and pairwise inner products of order ``d^{-1/2}``; ``n_f ≤ d`` keeps ``XXᵀ`` invertible.
    """
    n_f = _check_int(n_f, "n_f", 1)
    d = _check_int(d, "d", 1)
    if n_f > d:
        raise ValueError(f"n_f must be <= d (Theorem 2 needs linearly independent inputs), got n_f={n_f}, d={d}")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_f, d)) / math.sqrt(d)
    y = rng.choice(np.array([-1.0, 1.0]), size=n_f)
    return X, y


def _dloss_dlogp(method: str, logp: np.ndarray, ref_logp: np.ndarray, beta: float) -> np.ndarray:
    """``∂L/∂logp`` per example (numpy mirror of the library losses): GA → 1, NPO → ``2σ(β·log_ratio)``."""
    if method == "GA":
        return np.ones_like(logp)
    u = beta * (logp - ref_logp)
    return 2.0 * np.exp(-np.logaddexp(0.0, -u))


def logistic_divergence(
    method: str,
    n_f: int,
    d: int,
    steps: int,
    lr: float,
    beta: float = 1.0,
    seed: int = 0,
    *,
    z0: float = 2.0,
    backend: str = "numpy",
) -> np.ndarray:
    """Theorem 2 simulated: ``‖θ_t − θ_init‖_{XᵀX}`` for t = 0..steps under full-batch GD on GA or NPO.

    Model ``π_θ(y|x) = σ(y·xᵀθ)``; forget set from :func:`nearly_orthogonal_inputs` ``(n_f, d, seed)``; θ_init is the
    minimum-norm parameter with all margins ``y_i x_iᵀθ_init = z0``. Objective ``(1/n_f) Σ_i L(logp_i)``, L = GA or
    NPO with ``ref_logp_i = log σ(z0)``. GA: distance ≈ ``η t/√n_f`` (doubles when t doubles). NPO: ≈
    ``√n_f·(1/β)·log(1 + c η t/n_f)`` (a constant increment per doubling of t; larger β is slower).

    Args:
        method: ``"GA"`` or ``"NPO"``.
        n_f: forget-set size, ``1 ≤ n_f ≤ d``.
        d: input dimension.
        steps: GD steps (≥ 0); lr: step size η > 0; beta: NPO β > 0 (ignored by GA); seed: data seed.
        z0: initial margin of every forget sample.
        backend: ``"numpy"`` (margin-space iteration, fast) or ``"torch"`` (θ-space GD with autograd through
            ``npo_lab.losses.METHODS[method]``; the reference).
    Returns:
        float64 array ``(steps + 1,)``, starting at 0.
    """
    _check_method(method)
    steps = _check_int(steps, "steps", 0)
    lr = _check_positive(lr, "lr")
    beta = _check_positive(beta, "beta")
    z0 = _check_finite(z0, "z0")
    seed = _check_int(seed, "seed", 0)
    X, y = nearly_orthogonal_inputs(n_f, d, seed)
    if _check_backend(backend) == "torch":
        return _logistic_torch(method, X, y, steps, lr, beta, z0)
    return _logistic_numpy([(method, beta)], X, y, steps, lr, z0)[0]


def _logistic_numpy(
    runs: Sequence[tuple[str, float]], X: np.ndarray, y: np.ndarray, steps: int, lr: float, z0: float
) -> np.ndarray:
    """Margin-space GD for several ``(method, beta)`` runs at once on the same forget set: ``(R, steps + 1)``."""
    m0 = np.full((len(runs), X.shape[0]), z0, dtype=np.float64)
    history = _margins_numpy(runs, X, y, steps, lr, z0, m0)
    return np.sqrt(((history - history[0]) ** 2).sum(axis=2)).T


def _margins_numpy(runs, X, y, steps, lr, z0, m_start) -> np.ndarray:
    """The margins ``m_t (steps + 1, R, n_f)`` from ``m_start (R, n_f)`` (``z0`` fixes ``ref_logp``; a later
    ``m_start`` continues a run exactly)."""
    n_f = X.shape[0]
    K = (y[:, None] * y[None, :]) * (X @ X.T)  # (n_f, n_f)
    R = len(runs)
    history = np.empty((steps + 1, R, n_f), dtype=np.float64)
    m = np.array(m_start, dtype=np.float64)
    history[0] = m
    ref_logp = -np.logaddexp(0.0, -z0)
    is_npo = np.array([meth == "NPO" for meth, _ in runs])
    any_npo = bool(is_npo.any())
    all_npo = bool(is_npo.all())
    neg_betas = -np.array([b if meth == "NPO" else 1.0 for meth, b in runs], dtype=np.float64)[:, None]
    step = lr / n_f
    # the same ufuncs as ``m ← m − step·((w ⊙ σ(−m)) @ K)`` written with preallocated outputs (bit-for-bit equal)
    logp, g, u, gk = (np.empty_like(m) for _ in range(4))
    with np.errstate(over="ignore", under="ignore"):
        for t in range(1, steps + 1):
            np.negative(m, out=u)
            np.logaddexp(0.0, u, out=u)
            np.negative(u, out=logp)  # log σ(m)
            np.exp(logp, out=g)
            np.subtract(1.0, g, out=g)  # σ(−m) = ∂logp/∂m
            if any_npo:
                np.subtract(logp, ref_logp, out=u)
                np.multiply(neg_betas, u, out=u)
                np.exp(u, out=u)
                np.add(1.0, u, out=u)
                np.divide(2.0, u, out=u)  # npo_weight = 2σ(β·log_ratio)
                if all_npo:
                    np.multiply(u, g, out=g)
                else:
                    g = np.where(is_npo[:, None], u * g, g)
            np.matmul(g, K, out=gk)
            np.multiply(step, gk, out=gk)
            np.subtract(m, gk, out=history[t])
            m = history[t]
    return history


def _logistic_torch(method: str, X: np.ndarray, y: np.ndarray, steps: int, lr: float, beta: float, z0: float):
    import torch
    import torch.nn.functional as F

    from npo_lab.losses import get_method

    m = get_method(method)
    Xt = torch.as_tensor(X, dtype=torch.float64)
    yt = torch.as_tensor(y, dtype=torch.float64)
    # minimum-norm θ with margins y_i x_iᵀθ = z0: θ = Xᵀ (XXᵀ)^{-1} (y z0)
    theta_init = Xt.T @ torch.linalg.solve(Xt @ Xt.T, yt * z0)
    theta = theta_init.clone().requires_grad_(True)
    ref_logp = F.logsigmoid(yt * (Xt @ theta_init)).detach()
    out = np.zeros(steps + 1, dtype=np.float64)
    for t in range(1, steps + 1):
        logp = F.logsigmoid(yt * (Xt @ theta))
        total, _ = m.loss({"forget_logp": logp, "forget_ref_logp": ref_logp}, beta=beta)
        (grad,) = torch.autograd.grad(total.mean(), theta)
        with torch.no_grad():
            theta -= lr * grad
            out[t] = float(torch.linalg.vector_norm(Xt @ (theta - theta_init)))
    return out


# --------------------------------------------------------------------------------------------------------------
# small analysis helpers
# --------------------------------------------------------------------------------------------------------------
def fit_slope(t, values, *, log_t: bool = False) -> tuple[float, float, float]:
    """Least-squares line ``values ≈ slope · x + intercept`` with ``x = t`` or ``x = ln t``; returns (slope, intercept, R²).

    On a log-t axis NPO's single-logit shift has slope −1/β; on a linear axis GA's has slope −η.
    """
    x = np.asarray(t, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if x.shape != v.shape or x.ndim != 1 or x.size < 2:
        raise ValueError(f"t and values must be 1-D arrays of the same length >= 2, got {x.shape} and {v.shape}")
    if log_t:
        if np.any(x <= 0):
            raise ValueError("t must be > 0 when log_t=True")
        x = np.log(x)
    slope, intercept = np.polyfit(x, v, 1)
    resid = v - (slope * x + intercept)
    ss_tot = float(((v - v.mean()) ** 2).sum())
    r2 = 1.0 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else 1.0
    return float(slope), float(intercept), r2


def npo_curves(log_ratio=None, betas: Sequence[float] = (0.1, 0.5, 1.0, 2.0)):
    """NPO loss and weight as functions of the log-ratio, computed with the library (``npo_loss``, ``npo_weight``).

    Returns a tidy DataFrame with columns ``log_ratio, beta, loss, weight`` plus rows with ``beta = NaN`` holding the
    GA loss (``= log_ratio`` up to a constant, weight 1) for comparison (Proposition 1: β → 0 recovers GA).
    """
    import pandas as pd
    import torch

    from npo_lab.losses import npo_loss, npo_weight

    x = np.linspace(-10, 5, 301) if log_ratio is None else np.asarray(log_ratio, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError("log_ratio must be a non-empty 1-D array")
    if len(betas) == 0:
        raise ValueError("betas must be a non-empty sequence of numbers > 0")
    lt = torch.as_tensor(x, dtype=torch.float64)
    zero = torch.zeros_like(lt)
    frames = []
    for b in betas:
        b = _check_positive(b, "beta")
        frames.append(
            pd.DataFrame(
                {
                    "log_ratio": x,
                    "beta": b,
                    "loss": npo_loss(lt, zero, b).numpy(),
                    "weight": npo_weight(lt, zero, b).numpy(),
                    "method": "NPO",
                }
            )
        )
    frames.append(pd.DataFrame({"log_ratio": x, "beta": np.nan, "loss": x, "weight": 1.0, "method": "GA"}))
    return pd.concat(frames, ignore_index=True)
