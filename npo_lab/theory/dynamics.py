"""Toy dynamics of unlearning: a single logit and the Theorem-2 logistic model (paper Sec. 2.1 and Theorem 2).

Both toys run **full-batch descent** on an unlearning objective of :mod:`npo_lab.losses` for a forget set whose
labels the model initially predicts well; any method that reads forget answers only works (:data:`TOY_METHODS`:
GA, NPO). The gradient is the chain rule ``∂L/∂z = L'(logp) · ∂logp/∂z`` with ``L'`` the closed-form derivative
written beside the library's terms (for NPO the weight ``W = 2σ(β·log_ratio)``) and ``∂logp/∂z = 1 − σ(z)`` for a
label the model should forget (:mod:`npo_lab.theory.logistic`).

Single logit (:func:`single_logit`)
    One example, one parameter, the logit ``z``: ``logp = log σ(z)``. GD reads ``z ← z − η · L'(logp) · σ(−z)``;
    for GA ``L' = 1``, for NPO ``L' = W``. GA's gradient never shrinks, so ``z_t − z_0 ≈ −η t``: a linear walk to
    −∞. NPO's weight decays like ``e^{β z}``, and ``dz/dt = −2η e^{βz}/σ(z_0)^β`` gives
    :func:`npo_closed_form_shift`: a line of slope −1/β against log t. Python floats (one per run).

Theorem 2 (:func:`logistic_divergence`)
    Binary logistic model ``π_θ(y|x) = σ(y · xᵀθ)``, forget set of ``n_f ≤ d`` nearly orthogonal inputs
    ``x_i ~ N(0, I_d/d)`` (``‖x_i‖ ≈ 1``, ``|x_iᵀx_j| ≈ d^{-1/2}``) with labels ``y_i = ±1``; ``θ_init`` is the
    minimum-norm parameter with every margin ``m_i = y_i x_iᵀθ_init = z_0``. Descent on ``(1/n_f) Σ_i L(logp_i)``,
    ``logp_i = log σ(m_i)``, in θ-space (NumPy; several runs are rows of one matrix). The distance
    ``‖θ_t − θ_init‖_{XᵀX} = ‖m_t − m_0‖₂`` grows like ``η t/√n_f`` for GA (linear) and
    ``√n_f · (1/β) log(c η t/n_f + 1)`` for NPO (logarithmic) under plain GD.

``optimizer`` (:mod:`~npo_lab.theory.optimizers`): plain GD (the theorem's setting, the default), clipped GD or
Adam. ``backend`` (:data:`~npo_lab.theory.gradients.BACKENDS`): ``"chain"`` (the default, above) or
``"autograd"`` (autograd from :meth:`~npo_lab.losses.Method.loss` to the logit, or to θ; the reference).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from npo_lab.losses import HYPER_DEFAULTS, METHODS, LossInputs, Method, get_method

from .gradients import ObjectiveGradient, check_backend
from .logistic import LogitGradient, answer_constants
from .optimizers import Optimizer, check_optimizer
from .parallel import single_thread

__all__ = [
    "TOY_METHODS",
    "single_logit",
    "single_logit_curves",
    "npo_closed_form_shift",
    "ga_closed_form_shift",
    "logistic_divergence",
    "logistic_divergence_curves",
    "nearly_orthogonal_inputs",
    "fit_slope",
    "npo_curves",
]


def _toy_methods() -> tuple[str, ...]:
    return tuple(name for name, m in METHODS.items() if set(m.needs_by_group) == {"forget"})


#: the objectives the toys can run: every :data:`~npo_lab.losses.METHODS` entry that reads forget answers only
TOY_METHODS: tuple[str, ...] = _toy_methods()


# --------------------------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------------------------
def _check_method(method: str) -> str:
    allowed = _toy_methods()  # read at call time: a method registered later works too
    if method not in allowed:
        raise ValueError(f"method must be one of {', '.join(allowed)} (methods on forget answers only), got {method!r}")
    return method


def _check_number(value, name: str, *, positive: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    v = float(value) if ok else math.nan
    if not math.isfinite(v) or (positive and v <= 0):
        raise ValueError(f"{name} must be a finite number{' > 0' if positive else ''}, got {value!r}")
    return v


def _check_int(value: int, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_runs(runs, steps, lr, z0) -> tuple[list[tuple[str, float]], int, float, float]:
    """The checked ``runs = [(method, beta), ...]`` (at least one), ``steps``, ``lr`` and ``z0`` of the curves."""
    runs = [(_check_method(m), _check_number(b, "beta", positive=True)) for m, b in runs]
    if not runs:
        raise ValueError("runs must be a non-empty sequence of (method, beta) pairs")
    return runs, _check_int(steps, "steps", 0), _check_number(lr, "lr", positive=True), _check_number(z0, "z0")


# --------------------------------------------------------------------------------------------------------------
# the single logit: one float per run, all runs in one loop
# --------------------------------------------------------------------------------------------------------------
def _log_sigmoid(z: float) -> float:
    return -math.log1p(math.exp(-z)) if z >= 0 else z - math.log1p(math.exp(z))


def _scalar_derivative(method: Method, hyper: dict):
    """``logp ↦ ∂L/∂logp`` of one forget example (``ref_logp`` and ``n_tokens = 1`` bound): the sum of the
    method's terms' closed forms, on floats (autograd for a term without one)."""
    h = {**HYPER_DEFAULTS, **hyper}
    parts = []
    for term, w in method.terms:
        weight = float(h[w]) if isinstance(w, str) else float(w)
        kw = {k: h[k] for k in term.hyper}
        parts.append((term, weight, kw))

    def derivative(logp: float, ref: float) -> float:
        values = {"forget_logp": logp, "forget_ref_logp": ref, "forget_n_tokens": 1.0}
        total = 0.0
        for term, weight, kw in parts:
            if term.grad is not None:
                g = term.grad(*(values[n] for n in term.inputs), **kw)["forget_logp"]
            else:
                g = term.derivative(values, kw)["forget_logp"]
            total += weight * float(g)
        return total

    return derivative


def _single_logit_loop(runs, steps: int, lr: float, z0: float, optimizer: Optimizer) -> np.ndarray:
    """``z_t (steps + 1, R)`` for runs ``[(method, beta), ...]``: ``z ← z + step(L'(logp) · σ(−z))``."""
    ref = _log_sigmoid(z0)
    derivs = [_scalar_derivative(get_method(m), {"beta": b}) for m, b in runs]
    steppers = [optimizer.start(lr) for _ in runs]
    out = np.empty((steps + 1, len(runs)))
    out[0] = z0
    for r, (derivative, step) in enumerate(zip(derivs, steppers)):
        z, col = z0, out[:, r]
        for t in range(1, steps + 1):
            logp = _log_sigmoid(z)
            z += step(derivative(logp, ref) * -math.expm1(logp))  # ∂logp/∂z = 1 − σ(z) = −expm1(logp)
            col[t] = z
    return out


def _single_logit_autograd(method: str, steps: int, lr: float, beta: float, z0: float, optimizer: Optimizer):
    """The reference: autograd from ``Method.loss`` to the logit at every step, then the optimiser."""
    m = get_method(method)
    z = torch.tensor([z0], dtype=torch.float64, requires_grad=True)
    ref = F.logsigmoid(torch.tensor([z0], dtype=torch.float64))
    ones = torch.ones(1, dtype=torch.float64)
    step = optimizer.start(lr)
    out = np.empty(steps + 1, dtype=np.float64)
    out[0] = z0
    for t in range(1, steps + 1):
        inputs = LossInputs(forget_logp=F.logsigmoid(z), forget_ref_logp=ref, forget_n_tokens=ones)
        (grad,) = torch.autograd.grad(m.loss(inputs, beta=beta)[0].mean(), z)
        with torch.no_grad():
            z += step(float(grad))
        out[t] = float(z.detach())
    return out


def single_logit(
    method: str,
    steps: int,
    lr: float,
    beta: float = 1.0,
    z0: float = 2.0,
    *,
    backend: str = "chain",
    optimizer: Optimizer | str | None = None,
) -> np.ndarray:
    """Full-batch descent on one forget example (label ``y = 1``) with a single logit ``z``: ``z_t``, t = 0..steps.

    ``logp = log σ(z)``, ``ref_logp = log σ(z0)``; plain GD reads ``z ← z − lr · L'(logp) · σ(−z)``. GA walks off
    linearly (``z_t − z_0 ≈ −lr·t``), NPO logarithmically (:func:`npo_closed_form_shift`). ``beta`` is ignored by GA.

    Args:
        method: one of :data:`TOY_METHODS` (``"GA"``, ``"NPO"``).
        steps: number of steps (≥ 0); lr: step size η > 0; beta: NPO's inverse temperature β > 0.
        z0: initial logit (``σ(2) ≈ 0.88``: the model starts out knowing the forget label).
        backend: ``"chain"`` (the terms' closed-form derivatives, on floats) or ``"autograd"`` (the reference).
        optimizer: ``None`` (plain GD, Theorem 2's setting), ``"clipped_gd"``, ``"adam"`` or an :class:`Optimizer`.
    Returns:
        float64 array of shape ``(steps + 1,)``.
    """
    return single_logit_curves([(method, beta)], steps, lr, z0, backend=backend, optimizer=optimizer)[:, 0]


def single_logit_curves(
    runs, steps: int, lr: float, z0: float = 2.0, *, backend: str = "chain", optimizer=None
) -> np.ndarray:
    """:func:`single_logit` for several ``runs = [(method, beta), ...]`` in one loop: ``(steps + 1, len(runs))``."""
    runs, steps, lr, z0 = _check_runs(runs, steps, lr, z0)
    optimizer = check_optimizer(optimizer)
    if check_backend(backend) == "autograd":
        with single_thread():
            return np.stack([_single_logit_autograd(m, steps, lr, b, z0, optimizer) for m, b in runs], axis=1)
    z = _single_logit_run(tuple(runs), steps, lr, z0, optimizer)
    return z.copy()


@lru_cache(maxsize=16)
def _single_logit_run(runs: tuple, steps: int, lr: float, z0: float, optimizer: Optimizer) -> np.ndarray:
    """:func:`single_logit_curves`, remembered."""
    z = _single_logit_loop(runs, steps, lr, z0, optimizer)
    z.setflags(write=False)
    return z


# --------------------------------------------------------------------------------------------------------------
# closed forms of the single logit
# --------------------------------------------------------------------------------------------------------------
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
    lr = _check_number(lr, "lr", positive=True)
    beta = _check_number(beta, "beta", positive=True)
    z0 = _check_number(z0, "z0")
    t = np.asarray(t, dtype=np.float64)
    if np.any(t < 0):
        raise ValueError("t must be >= 0")
    log_sig = -math.log1p(math.exp(-z0)) if z0 >= 0 else z0 - math.log1p(math.exp(z0))  # log σ(z0)
    c = 2.0 * beta * lr * math.exp(beta * z0 - beta * log_sig)
    return -np.log1p(c * t) / beta


def ga_closed_form_shift(t, lr: float, z0: float = 2.0) -> np.ndarray:
    """GA's single-logit shift ``z_t − z_0``, exactly integrated in continuous time (``dz/dt = −η σ(−z)``).

    ``d(z + e^z)/dt = −η``, so ``z_t + e^{z_t} = z_0 + e^{z_0} − η t``; once ``e^{z_t}`` is negligible,
    ``z_t − z_0 = −η t + e^{z_0} + o(1)``: linear in t with slope −η. At η = 1, z₀ = 2, t = 10⁵: −99 992.6
    (discrete GD: −99 991.6).
    """
    lr = _check_number(lr, "lr", positive=True)
    z0 = _check_number(z0, "z0")
    t = np.asarray(t, dtype=np.float64)
    if np.any(t < 0):
        raise ValueError("t must be >= 0")
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
    backend: str = "chain",
    optimizer: Optimizer | str | None = None,
) -> np.ndarray:
    """Theorem 2 simulated: ``‖θ_t − θ_init‖_{XᵀX}`` for t = 0..steps under full-batch descent on GA or NPO.

    Model ``π_θ(y|x) = σ(y·xᵀθ)``; forget set from :func:`nearly_orthogonal_inputs` ``(n_f, d, seed)``; θ_init is the
    minimum-norm parameter with all margins ``y_i x_iᵀθ_init = z0``. Objective ``(1/n_f) Σ_i L(logp_i)`` with
    ``ref_logp_i = log σ(z0)``. Under plain GD (the theorem's setting) GA's distance ≈ ``η t/√n_f`` (doubles when t
    doubles), NPO's ≈ ``√n_f·(1/β)·log(1 + c η t/n_f)`` (a constant increment per doubling of t; larger β is slower).

    Args:
        method: one of :data:`TOY_METHODS`; n_f: forget-set size, ``1 ≤ n_f ≤ d``; d: input dimension.
        steps: steps (≥ 0); lr: step size η > 0; beta: NPO β > 0 (ignored by GA); seed: data seed.
        z0: initial margin of every forget sample.
        backend: ``"chain"`` (the terms' closed forms, NumPy) or ``"autograd"`` (autograd from ``Method.loss``).
        optimizer: ``None`` (plain GD), ``"clipped_gd"``, ``"adam"`` or an :class:`Optimizer`, on θ.
    Returns:
        float64 array ``(steps + 1,)``, starting at 0.
    """
    return logistic_divergence_curves(
        [(method, beta)], n_f, d, steps, lr, seed, z0=z0, backend=backend, optimizer=optimizer
    )[:, 0]


def logistic_divergence_curves(
    runs, n_f: int, d: int, steps: int, lr: float, seed: int = 0, *, z0: float = 2.0, backend="chain", optimizer=None
) -> np.ndarray:
    """:func:`logistic_divergence` for several ``runs = [(method, beta), ...]`` on the same data, in one loop (the
    runs are the rows of one parameter matrix): ``(steps + 1, len(runs))``."""
    runs, steps, lr, z0 = _check_runs(runs, steps, lr, z0)
    seed = _check_int(seed, "seed", 0)
    optimizer = check_optimizer(optimizer)
    if check_backend(backend) == "autograd":
        X, y = nearly_orthogonal_inputs(n_f, d, seed)
        with single_thread():
            return np.stack([_logistic_autograd(m, X, y, steps, lr, b, z0, optimizer) for m, b in runs], axis=1)
    return _logistic_run(tuple(runs), n_f, d, steps, lr, seed, z0, optimizer).copy()


@lru_cache(maxsize=16)
def _logistic_run(runs: tuple, n_f: int, d: int, steps: int, lr: float, seed: int, z0: float, optimizer):
    """:func:`logistic_divergence_curves` in θ-space with NumPy, remembered."""
    X, y = nearly_orthogonal_inputs(n_f, d, seed)
    theta = np.repeat(_theta_init(X, y, z0)[None, :], len(runs), axis=0)  # (R, d)
    Xt = np.ascontiguousarray(X.T)
    labels = (y[None, :] + 1.0) / 2.0  # answers in {0, 1}: the logit is xᵀθ, logp = log σ(y·xᵀθ)
    answers = {"forget": answer_constants(labels, (theta[:1] @ Xt))}
    objective = ObjectiveGradient([get_method(m) for m, _ in runs], [{"beta": b} for _, b in runs])
    grad_z = LogitGradient(objective, answers, {"forget": "z"})
    step = optimizer.start(lr)
    z = np.empty((steps + 1, len(runs), n_f))
    z[0] = theta @ Xt
    for t in range(1, steps + 1):
        theta += step(grad_z({"z": z[t - 1]})["z"] @ X)
        np.matmul(theta, Xt, out=z[t])
    distance = np.sqrt(((z - z[0]) ** 2).sum(axis=-1))  # ‖X(θ_t − θ_init)‖
    distance.setflags(write=False)
    return distance


def _theta_init(X: np.ndarray, y: np.ndarray, z0: float) -> np.ndarray:
    """The minimum-norm θ with margins ``y_i x_iᵀθ = z0``."""
    return X.T @ np.linalg.solve(X @ X.T, y * z0)


def _logistic_autograd(method: str, X, y, steps: int, lr: float, beta: float, z0: float, optimizer: Optimizer):
    """The reference: θ-space descent with autograd from ``Method.loss`` to θ, then the optimiser."""
    m = get_method(method)
    Xt, yt = torch.as_tensor(X, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    theta_init = torch.as_tensor(_theta_init(X, y, z0))
    theta = theta_init.clone().requires_grad_(True)
    ref = F.logsigmoid(yt * (Xt @ theta_init)).detach()
    ones = torch.ones_like(ref)
    step = optimizer.start(lr)
    out = np.zeros(steps + 1, dtype=np.float64)
    for t in range(1, steps + 1):
        inputs = LossInputs(forget_logp=F.logsigmoid(yt * (Xt @ theta)), forget_ref_logp=ref, forget_n_tokens=ones)
        (grad,) = torch.autograd.grad(m.loss(inputs, beta=beta)[0].mean(), theta)
        with torch.no_grad():
            theta += torch.as_tensor(step(grad.numpy()[None, :])[0])
            out[t] = float(torch.linalg.vector_norm(Xt @ (theta - theta_init)))
    return out


# --------------------------------------------------------------------------------------------------------------
# small analysis helpers
# --------------------------------------------------------------------------------------------------------------
def fit_slope(t, values, *, log_t: bool = False) -> tuple[float, float, float]:
    """Least-squares line ``values ≈ slope · x + intercept`` with ``x = t`` or ``x = ln t``: (slope, intercept, R²).

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
        b = _check_number(b, "beta", positive=True)
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
