"""Toy dynamics of unlearning: a single logit and the Theorem-2 logistic model (paper Sec. 2.1 and Theorem 2).

Both toys run **full-batch gradient descent** on an unlearning objective of :mod:`npo_lab.losses` for a forget
set whose labels the model initially predicts well; any method that reads forget answers only works
(:data:`TOY_METHODS`: GA, NPO). The gradient is the chain rule ``∂L/∂z = L'(logp) · ∂logp/∂z`` with ``L'`` by
autograd through the library's terms and ``∂logp/∂z = 1 − σ(z)`` for a label the model should forget
(:mod:`npo_lab.theory.logistic`).

Single logit (:func:`single_logit`)
    One example, one parameter, the logit ``z``: ``logp = log σ(z)``. GD reads ``z ← z − η · L'(logp) · σ(−z)``;
    for GA ``L' = 1``, for NPO ``L' = W = 2σ(β · log_ratio)`` (``npo_weight``). GA's gradient never shrinks, so
    ``z_t − z_0 ≈ −η t``: a linear walk to −∞. NPO's weight decays like ``e^{β z}``, and
    ``dz/dt = −2η e^{βz}/σ(z_0)^β`` gives :func:`npo_closed_form_shift`: a line of slope −1/β against log t.

Theorem 2 (:func:`logistic_divergence`)
    Binary logistic model ``π_θ(y|x) = σ(y · xᵀθ)``, forget set of ``n_f ≤ d`` nearly orthogonal inputs
    ``x_i ~ N(0, I_d/d)`` (``‖x_i‖ ≈ 1``, ``|x_iᵀx_j| ≈ d^{-1/2}``) with labels ``y_i = ±1``; ``θ_init`` is the
    minimum-norm parameter with every margin ``m_i = y_i x_iᵀθ_init = z_0``. GD on ``(1/n_f) Σ_i L(logp_i)``,
    ``logp_i = log σ(m_i)``. Every step moves θ inside the row space of X, so it runs on the margins,
    ``m ← m − η · K ∂L/∂m`` with ``K = (yyᵀ) ⊙ XXᵀ``. The distance ``‖θ_t − θ_init‖_{XᵀX} = ‖m_t − m_0‖₂``
    grows like ``η t/√n_f`` for GA (linear) and ``√n_f · (1/β) log(c η t/n_f + 1)`` for NPO (logarithmic).

``backend`` (:data:`~npo_lab.theory.gradients.BACKENDS`): ``"chain"`` (the default, above) or ``"autograd"``
(autograd from :meth:`~npo_lab.losses.Method.loss` to the logit, or to θ for Theorem 2; the reference). When the
objective is linear in ``logp`` (GA) its derivative is one constant and the loop runs on Python floats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from npo_lab.losses import METHODS, LossInputs, Method, get_method

from .gradients import ObjectiveGradient, check_backend
from .logistic import LogitGradient, answer_constants
from .parallel import single_thread

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


# --------------------------------------------------------------------------------------------------------------
# GD on margins (the single logit is one margin)
# --------------------------------------------------------------------------------------------------------------
def _margin_gd(method: Method, beta: float, z0: float, steps: int, lr: float, K: torch.Tensor | None) -> np.ndarray:
    """Margins ``m_t (steps + 1, n)`` from ``m_0 = z0`` under ``m ← m − lr · K ∂L/∂m`` (``K = None``: identity,
    one margin). ``L = mean_i`` of the method's terms; ``ref_logp = log σ(z0)``."""
    with single_thread():  # tiny tensors: an OpenMP team would cost more than it saves
        return _margin_loop(method, beta, z0, steps, lr, K)


def _margin_loop(method: Method, beta: float, z0: float, steps: int, lr: float, K: torch.Tensor | None) -> np.ndarray:
    n = 1 if K is None else K.shape[0]
    m = torch.full((1, n), z0, dtype=torch.float64)  # one head, n examples
    answers = {"forget": answer_constants(torch.ones_like(m), m.clone())}
    grad_z = LogitGradient(ObjectiveGradient([method], [{"beta": beta}]), answers, {"forget": "m"})
    constant = grad_z.constant({"m": m})
    if constant is not None and K is None:  # GA: ∂L/∂logp is one number, the loop runs on Python floats
        return _single_logit_floats(float(constant["forget_logp"]), steps, lr, z0)
    out = [m]
    with torch.no_grad():
        for _ in range(steps):
            g = grad_z({"m": m})["m"]
            m = torch.add(m, g if K is None else g @ K, alpha=-lr)
            out.append(m)
    return torch.cat(out).numpy()


def _sigmoid(u: float) -> float:
    if u >= 0:
        return 1.0 / (1.0 + math.exp(-u))
    e = math.exp(u)
    return e / (1.0 + e)


def _single_logit_floats(dloss: float, steps: int, lr: float, z0: float) -> np.ndarray:
    """``z ← z − lr · dloss · (1 − σ(z))`` for a constant ``dloss = ∂L/∂logp``: :func:`_margin_gd` on floats."""
    z, out = z0, [z0]
    step = lr * dloss
    for _ in range(steps):
        z -= step * (1.0 - _sigmoid(z))
        out.append(z)
    return np.asarray(out, dtype=np.float64)[:, None]


def _single_logit_autograd(method: str, steps: int, lr: float, beta: float, z0: float) -> np.ndarray:
    """The reference: autograd from ``Method.loss`` to the logit at every step."""
    m = get_method(method)
    z = torch.tensor([z0], dtype=torch.float64, requires_grad=True)
    ref = F.logsigmoid(torch.tensor([z0], dtype=torch.float64))
    ones = torch.ones(1, dtype=torch.float64)
    out = np.empty(steps + 1, dtype=np.float64)
    out[0] = z0
    for t in range(1, steps + 1):
        inputs = LossInputs(forget_logp=F.logsigmoid(z), forget_ref_logp=ref, forget_n_tokens=ones)
        (grad,) = torch.autograd.grad(m.loss(inputs, beta=beta)[0].mean(), z)
        with torch.no_grad():
            z -= lr * grad
        out[t] = float(z.detach())
    return out


def single_logit(
    method: str, steps: int, lr: float, beta: float = 1.0, z0: float = 2.0, *, backend: str = "chain"
) -> np.ndarray:
    """Full-batch GD on one forget example (label ``y = 1``) with a single logit ``z``: ``z_t``, t = 0..steps.

    ``logp = log σ(z)``, ``ref_logp = log σ(z0)``; ``z ← z − lr · L'(logp) · σ(−z)``. GA walks off linearly
    (``z_t − z_0 ≈ −lr·t``), NPO logarithmically (:func:`npo_closed_form_shift`). ``beta`` is ignored by GA.

    Args:
        method: one of :data:`TOY_METHODS` (``"GA"``, ``"NPO"``).
        steps: number of GD steps (≥ 0); lr: step size η > 0; beta: NPO's inverse temperature β > 0.
        z0: initial logit (``σ(2) ≈ 0.88``: the model starts out knowing the forget label).
        backend: ``"chain"`` or ``"autograd"`` (see the module docstring).
    Returns:
        float64 array of shape ``(steps + 1,)``.
    """
    _check_method(method)
    steps = _check_int(steps, "steps", 0)
    lr = _check_number(lr, "lr", positive=True)
    beta = _check_number(beta, "beta", positive=True)
    z0 = _check_number(z0, "z0")
    if check_backend(backend) == "autograd":
        with single_thread():
            return _single_logit_autograd(method, steps, lr, beta, z0)
    return _single_logit_run(get_method(method), steps, lr, beta, z0).copy()


@lru_cache(maxsize=16)
def _single_logit_run(method: Method, steps: int, lr: float, beta: float, z0: float) -> np.ndarray:
    """:func:`single_logit`, remembered (NPO differentiates its term every step: a 10⁵-step run takes seconds)."""
    z = _margin_gd(method, beta, z0, steps, lr, None)[:, 0]
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
) -> np.ndarray:
    """Theorem 2 simulated: ``‖θ_t − θ_init‖_{XᵀX}`` for t = 0..steps under full-batch GD on GA or NPO.

    Model ``π_θ(y|x) = σ(y·xᵀθ)``; forget set from :func:`nearly_orthogonal_inputs` ``(n_f, d, seed)``; θ_init is the
    minimum-norm parameter with all margins ``y_i x_iᵀθ_init = z0``. Objective ``(1/n_f) Σ_i L(logp_i)`` with
    ``ref_logp_i = log σ(z0)``. GA: distance ≈ ``η t/√n_f`` (doubles when t doubles). NPO: ≈
    ``√n_f·(1/β)·log(1 + c η t/n_f)`` (a constant increment per doubling of t; larger β is slower).

    Args:
        method: one of :data:`TOY_METHODS`; n_f: forget-set size, ``1 ≤ n_f ≤ d``; d: input dimension.
        steps: GD steps (≥ 0); lr: step size η > 0; beta: NPO β > 0 (ignored by GA); seed: data seed.
        z0: initial margin of every forget sample.
        backend: ``"chain"`` (margin-space GD) or ``"autograd"`` (θ-space GD, autograd from ``Method.loss``).
    Returns:
        float64 array ``(steps + 1,)``, starting at 0.
    """
    _check_method(method)
    steps = _check_int(steps, "steps", 0)
    lr = _check_number(lr, "lr", positive=True)
    beta = _check_number(beta, "beta", positive=True)
    z0 = _check_number(z0, "z0")
    seed = _check_int(seed, "seed", 0)
    if check_backend(backend) == "autograd":
        with single_thread():
            return _logistic_autograd(method, *nearly_orthogonal_inputs(n_f, d, seed), steps, lr, beta, z0)
    return _logistic_run(get_method(method), n_f, d, steps, lr, beta, seed, z0).copy()


@lru_cache(maxsize=16)
def _logistic_run(method: Method, n_f: int, d: int, steps: int, lr: float, beta: float, seed: int, z0: float):
    """:func:`logistic_divergence` on the margins, remembered."""
    X, y = nearly_orthogonal_inputs(n_f, d, seed)
    K = torch.as_tensor((y[:, None] * y[None, :]) * (X @ X.T))  # (n_f, n_f)
    margins = _margin_gd(method, beta, z0, steps, lr, K)
    distance = np.sqrt(((margins - margins[0]) ** 2).sum(axis=1))
    distance.setflags(write=False)
    return distance


def _logistic_autograd(method: str, X: np.ndarray, y: np.ndarray, steps: int, lr: float, beta: float, z0: float):
    """The reference: θ-space GD with autograd from ``Method.loss`` to θ."""
    m = get_method(method)
    Xt, yt = torch.as_tensor(X, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    theta_init = Xt.T @ torch.linalg.solve(Xt @ Xt.T, yt * z0)  # min-norm θ with margins y_i x_iᵀθ = z0
    theta = theta_init.clone().requires_grad_(True)
    ref = F.logsigmoid(yt * (Xt @ theta_init)).detach()
    ones = torch.ones_like(ref)
    out = np.zeros(steps + 1, dtype=np.float64)
    for t in range(1, steps + 1):
        inputs = LossInputs(forget_logp=F.logsigmoid(yt * (Xt @ theta)), forget_ref_logp=ref, forget_n_tokens=ones)
        (grad,) = torch.autograd.grad(m.loss(inputs, beta=beta)[0].mean(), theta)
        with torch.no_grad():
            theta -= lr * grad
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
