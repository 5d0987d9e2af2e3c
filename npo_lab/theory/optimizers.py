"""Optimisers for the toy dynamics: plain GD (Theorem 2's setting), norm-clipped GD and Adam (every LM run).

Theorem 2 is a statement about plain gradient descent, ``θ ← θ − η·∇L``: NPO's gradient is GA's scaled by the
weight ``W = 2σ(β·log_ratio)``, so when W fades the step shrinks and the divergence is logarithmic. The language-
model runs use AdamW with gradient clipping, which change the *size* of the step:

* **clipped GD** (``max_norm`` c): ``θ ← θ − η·min(1, c/‖∇L‖)·∇L`` — while ``‖∇L‖ > c`` every step has length ``η·c``,
  whatever W is; below c it is plain GD.
* **Adam** (Kingma & Ba 2015, Algorithm 1): ``m ← β₁m + (1−β₁)g``, ``v ← β₂v + (1−β₂)g²``, bias-corrected
  ``m̂ = m/(1−β₁ᵗ)``, ``v̂ = v/(1−β₂ᵗ)``, ``θ ← θ − η·m̂/(√v̂ + ε)``, per coordinate. Its first step is
  ``η·g/(|g| + ε) ≈ η·sign(g)``, and multiplying every gradient by a constant leaves its steps unchanged (up to ε):
  a uniformly smaller W gives, in the short run, the same step.

:class:`Optimizer` is the setting (a config, saved as JSON); :meth:`Optimizer.start` gives a stepper for one run's
parameters: called with the gradient, it returns the change to add. Parameters are floats (one parameter) or NumPy
arrays ``(..., H, P)`` — one row per head, the norm of clipped GD taken over each row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from npo_lab.configs import Config, option

__all__ = ["OPTIMIZERS", "Optimizer", "check_optimizer"]

#: the optimisers of the toy dynamics
OPTIMIZERS: tuple[str, ...] = ("gd", "clipped_gd", "adam")


@dataclass(frozen=True)
class Optimizer(Config):
    """The optimiser of a toy run (the step size η is the run's ``lr``)."""

    name: str = option("gd", "gd (plain gradient descent), clipped_gd (norm clipping) or adam", choices=OPTIMIZERS)
    max_norm: float = option(1.0, "clipped_gd: the largest gradient norm c (‖∇L‖ > c is scaled to c)", gt=0)
    beta1: float = option(0.9, "adam: decay of the first moment, in [0, 1)", ge=0)
    beta2: float = option(0.999, "adam: decay of the second moment, in [0, 1)", ge=0)
    eps: float = option(1e-8, "adam: ε added to √v̂", gt=0)
    bias_correction: bool = option(True, "adam: divide m and v by 1 − βᵗ")

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("beta1", "beta2"):
            if not getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)!r}")

    def start(self, lr: float):
        """A stepper for one run: ``step(grad) -> change`` (``θ ← θ + change``), keeping Adam's moments."""
        if self.name == "gd":
            return lambda g: -lr * g
        if self.name == "clipped_gd":
            return _Clipped(lr, self.max_norm)
        return _Adam(lr, self)

    @property
    def label(self) -> str:
        """A short name for legends: ``"GD"``, ``"clipped GD (c=1)"``, ``"Adam (β₁=0.9, β₂=0.999)"``."""
        if self.name == "gd":
            return "GD"
        if self.name == "clipped_gd":
            return f"clipped GD (c={self.max_norm:g})"
        return f"Adam (β₁={self.beta1:g}, β₂={self.beta2:g})"


def check_optimizer(optimizer) -> Optimizer:
    """``None`` → plain GD; a name in :data:`OPTIMIZERS` → its defaults; an :class:`Optimizer` as it is."""
    if optimizer is None:
        return Optimizer()
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer in OPTIMIZERS:
        return Optimizer(optimizer)
    raise ValueError(f"optimizer must be None, one of {', '.join(OPTIMIZERS)} or an Optimizer, got {optimizer!r}")


class _Clipped:
    def __init__(self, lr: float, max_norm: float):
        self.lr, self.c = lr, max_norm

    def __call__(self, g):
        if isinstance(g, float):
            norm = abs(g)
            return -self.lr * g * (self.c / norm if norm > self.c else 1.0)
        norm = np.sqrt(np.sum(g * g, axis=-1, keepdims=True))
        return -self.lr * g * np.minimum(1.0, self.c / np.maximum(norm, 1e-300))


class _Adam:
    def __init__(self, lr: float, opt: Optimizer):
        self.lr, self.b1, self.b2, self.eps, self.bc = lr, opt.beta1, opt.beta2, opt.eps, opt.bias_correction
        self.m = self.v = 0.0
        self.t = 0

    def __call__(self, g):
        self.t += 1
        self.m = self.b1 * self.m + (1.0 - self.b1) * g
        self.v = self.b2 * self.v + (1.0 - self.b2) * (g * g)
        c1 = 1.0 - self.b1**self.t if self.bc else 1.0
        c2 = 1.0 - self.b2**self.t if self.bc else 1.0
        root = math.sqrt(self.v / c2) if isinstance(g, float) else np.sqrt(self.v / c2)
        return -self.lr * (self.m / c1) / (root + self.eps)
