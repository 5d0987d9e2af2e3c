"""The schedule of an unlearning run, computed once: optimiser steps per epoch, the total, and the steps at which
the run is evaluated. The trainer's evaluation callback and the GPU planner both read it, so a plan counts the
evaluations the engine really makes.

With ``B`` forget rows per device per micro-batch, ``P`` processes and ``G`` accumulation steps, one epoch over
``n_forget`` rows is ``⌈⌈n_forget / (B·P)⌉ / G⌉`` optimiser steps (as the Hugging Face Trainer counts them), and a
run is ``max_steps`` steps when set, else ``⌈epochs × steps per epoch⌉``.
"""

from __future__ import annotations

import math

__all__ = ["steps_per_epoch", "total_steps", "is_eval_step", "eval_steps"]


def steps_per_epoch(cfg, n_forget: int, world_size: int = 1) -> int:
    """Optimiser steps per epoch: ⌈⌈n_forget / (batch_size × world_size)⌉ / gradient_accumulation_steps⌉."""
    batches = math.ceil(n_forget / (cfg.batch_size * max(1, world_size)))
    return max(1, math.ceil(batches / cfg.gradient_accumulation_steps))


def total_steps(cfg, n_forget: int, world_size: int = 1) -> int:
    """``max_steps`` if set, else ``⌈epochs × steps_per_epoch⌉``."""
    if cfg.max_steps > 0:
        return cfg.max_steps
    return max(1, math.ceil(round(cfg.epochs * steps_per_epoch(cfg, n_forget, world_size), 9)))


def is_eval_step(cfg, step: int) -> bool:
    """Whether optimiser step ``step`` is evaluated by its number: every ``early_eval_every`` steps up to
    ``early_eval_until``, and every ``eval_every`` steps (> 0). Epoch ends, the start and the end come on top."""
    early = cfg.early_eval_every > 0 and step <= cfg.early_eval_until and step % cfg.early_eval_every == 0
    return early or (cfg.eval_every > 0 and step % cfg.eval_every == 0)


def eval_steps(cfg, n_forget: int, world_size: int = 1) -> list[int]:
    """The optimiser steps at which a run is evaluated, in order: 0 when ``eval_at_start``, the early and
    periodic steps (:func:`is_eval_step`), each epoch's end when ``eval_every`` is 0, and the last step.
    ``eval_every`` -1: none."""
    if cfg.eval_every < 0:
        return []
    total = total_steps(cfg, n_forget, world_size)
    spe = steps_per_epoch(cfg, n_forget, world_size)
    at = {s for s in range(1, total + 1) if is_eval_step(cfg, s)} | {total}
    if cfg.eval_every == 0:
        at |= {min(total, e * spe) for e in range(1, math.ceil(total / spe) + 1)}
    return ([0] if cfg.eval_at_start else []) + sorted(at)
