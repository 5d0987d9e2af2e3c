"""The paper's synthetic experiment (Sec. 4, Figs. 3, 4, 9): unlearning a random-features logistic model.

The model, data and pretraining are in :mod:`npo_lab.theory.random_features`, the GD loops in
:mod:`npo_lab.theory.training`. Here: the runs (:class:`UnlearnSpec`, the paper's settings), the experiment
(:func:`random_features_experiment`, a tidy table) and its summary.

Unlearning: full-batch GD from π_ref for 2000 steps on any :data:`npo_lab.losses.METHODS` objective, each term
averaged over its own data set (forget: 200, retain: 1000), e.g. NPO+RT = E_forget[npo] + α · E_retain[nll].
Metrics every ``eval_every`` steps on the evaluation sets: forget distance ``E_forget KL(π_retr‖π_θ)``, retain
distance ``E_retain KL(π_retr‖π_θ)`` (both → 0 is ideal) and forget KL ``E_forget KL(π_ref‖π_θ)``.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from npo_lab.configs import Config, flat_settings, option
from npo_lab.losses import LossSettings, get_method

from .gradients import check_backend
from .parallel import check_workers
from .random_features import SyntheticTask, check_input_gap, make_task
from .training import METRICS, Heads, unlearn_seeds

__all__ = [
    "UnlearnSpec",
    "PAPER_METHODS",
    "SWEEP_BETAS",
    "SWEEP_LR",
    "SWEEP_STEPS",
    "paper_specs",
    "beta_sweep_specs",
    "random_features_experiment",
    "summarize_experiment",
]

#: the six methods of the paper's Fig. 4
PAPER_METHODS: tuple[str, ...] = ("GA", "GA+RT", "IDK+RT", "NPO", "NPO+RT", "DPO+RT")

# learning rate and β per method and input gap (paper App., and the reference code's synthetic/parameter_values.yml):
# the methods of one family share them, but for DPO+RT at gap 0 (the reference code: 2e-2; 5e-2 for DPO and DPO+KL)
_GA_FAMILY, _NPO_FAMILY, _DPO_FAMILY = (
    ("GA", "GA+RT", "GA+KL", "IDK+RT"),
    ("NPO", "NPO+RT", "NPO+KL"),
    ("DPO", "DPO+RT", "DPO+KL"),
)
_PAPER_HPARAMS: dict[int, dict[str, tuple[float, float]]] = {
    1: {
        **dict.fromkeys(_GA_FAMILY, (5e-4, 1.0)),
        **dict.fromkeys(_NPO_FAMILY, (5e-3, 1.0)),
        **dict.fromkeys(_DPO_FAMILY, (5e-3, 0.1)),
    },
    0: {
        **dict.fromkeys(_GA_FAMILY, (1e-4, 1.0)),
        **dict.fromkeys(_NPO_FAMILY, (5e-2, 10.0)),
        **dict.fromkeys(_DPO_FAMILY, (5e-2, 5.0)),
        "DPO+RT": (2e-2, 5.0),
    },
}
#: the β sweep of Fig. 3 (Proposition 1: NPO → GA as β → 0), all at lr 5e-4 for 10 000 steps
SWEEP_BETAS: tuple[float, ...] = (0.01, 0.1, 0.2, 0.5, 1.0)
SWEEP_LR = 5e-4
SWEEP_STEPS = 10_000


@flat_settings("loss", positional=("method", "learning_rate", "beta", "alpha", "label", "gamma"))
@dataclass(frozen=True)
class UnlearnSpec(Config):
    """One unlearning run of the synthetic experiment: a :data:`~npo_lab.losses.METHODS` objective with its step
    size and its :class:`~npo_lab.losses.LossSettings` ``loss`` (default β = 1, the paper's value for most methods
    here; α = 1, γ = 0), whose entries are also given, read and saved at the top level
    (:func:`~npo_lab.configs.flat_settings`): ``UnlearnSpec("NPO+RT", 1e-3, alpha=2.0)``, ``spec.beta``.
    Positional arguments: method, learning_rate, beta, alpha, label, gamma (``UnlearnSpec("NPO", 0.1, 2.0)``).
    Answers have one token here, so SimNPO's length normalisation and ``ga_reduction`` are moot.
    ``label`` names the run in tables and legends (default: the method; e.g. ``"NPO β=0.1"`` in sweeps)."""

    method: str = field(metadata={"help": "a METHODS name, e.g. NPO+RT"})
    learning_rate: float = field(metadata={"help": "GD step size", "gt": 0})
    loss: LossSettings = option(LossSettings(beta=1.0), "the loss's hyper-parameters (beta, alpha, gamma, ...)")
    label: str = option("", "name of the run in tables and legends (default: the method)")

    def __post_init__(self) -> None:
        super().__post_init__()
        get_method(self.method)  # ValueError naming the valid methods
        if not self.label:
            object.__setattr__(self, "label", self.method)

    @property
    def hyper(self) -> dict:
        """Every loss hyper-parameter (:attr:`loss` as a dict), as :meth:`npo_lab.losses.Method.loss` takes them."""
        return dict(self.loss)


def paper_specs(input_gap: int = 1, methods: Sequence[str] = PAPER_METHODS) -> list[UnlearnSpec]:
    """The paper's learning rates and β for ``methods`` at ``input_gap`` 1 (separated) or 0 (overlapping)."""
    gap = check_input_gap(input_gap)
    specs = []
    for name in methods:
        if name not in _PAPER_HPARAMS[gap]:
            raise ValueError(
                f"method must be one of {', '.join(_PAPER_HPARAMS[gap])} to use the paper's settings, got {name!r} "
                "(pass an UnlearnSpec with your own learning_rate and beta for other METHODS entries)"
            )
        lr, beta = _PAPER_HPARAMS[gap][name]
        specs.append(UnlearnSpec(name, lr, beta))
    return specs


def beta_sweep_specs(betas: Sequence[float] = SWEEP_BETAS, learning_rate: float = SWEEP_LR) -> list[UnlearnSpec]:
    """Fig. 3: NPO for each β and GA, all at the same step size (Proposition 1: NPO → GA as β → 0)."""
    npo = [UnlearnSpec("NPO", learning_rate, float(b), label=f"NPO β={b:g}") for b in betas]
    return npo + [UnlearnSpec("GA", learning_rate, label="GA")]


def _check_count(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _specs(methods, input_gap: int) -> list[UnlearnSpec]:
    if methods is None:
        methods = PAPER_METHODS
    if isinstance(methods, (str, UnlearnSpec)):
        methods = [methods]
    if len(methods) == 0:
        raise ValueError("methods must be a non-empty sequence of method names or UnlearnSpec objects")
    specs = [m if isinstance(m, UnlearnSpec) else paper_specs(input_gap, [m])[0] for m in methods]
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"methods must have distinct labels, got {labels}")
    return specs


def _run(task: SyntheticTask, heads: Heads, steps: int, eval_every: int, workers: int, backend: str, bar):
    """All seeds (:func:`~npo_lab.theory.training.unlearn_seeds`: ``workers`` threads for ``"autograd"``);
    returns ``(evaluated steps, metrics (E, 3, S, M) in heads order)``."""
    stop = threading.Event()
    tick = None if bar is None else bar.update
    done, metrics = unlearn_seeds(task, heads, steps, eval_every, backend, workers, stop, tick)
    if stop.is_set():
        warnings.warn(f"interrupted: returning the {len(done)} evaluations done so far", stacklevel=3)
    return done, metrics


def random_features_experiment(
    input_gap: int = 1,
    methods: Sequence[str | UnlearnSpec] | None = None,
    seeds=5,
    steps: int = 2000,
    eval_every: int = 25,
    *,
    task: SyntheticTask | None = None,
    progress: bool = False,
    workers: int | None = None,
    backend: str = "chain",
    **task_kwargs,
) -> pd.DataFrame:
    """Run the synthetic unlearning experiment; one row per (method, seed, evaluation), in that order.

    Columns: ``seed, method, step, forget_distance, retain_distance, forget_kl`` and the run's settings
    ``base_method, learning_rate, beta, alpha, gamma, input_gap``; ``method`` holds each run's label.

    Args:
        input_gap: 1 (separated forget/retain inputs) or 0 (overlapping), the paper's two settings.
        methods: method names (with the paper's settings for ``input_gap``, :func:`paper_specs`) or
            :class:`UnlearnSpec` objects; default :data:`PAPER_METHODS`.
        seeds: number of seeds (0..n−1) or a sequence of seeds.
        steps: GD steps of unlearning; eval_every: steps between evaluations (step 0 and the last included).
        task: a prebuilt :func:`make_task` (its gap and seeds win); otherwise ``make_task(input_gap, seeds,
            **task_kwargs)`` (e.g. ``pretrain_steps=2000`` for quick tests).
        progress: show a bar (:func:`npo_lab.progress.progress_bar`). workers: how many cores (``None``: 1):
            threads that split the pretraining's seeds and the ``"autograd"`` backend's products; processes that
            split the ``"chain"`` unlearning's seeds (forked, on Linux; elsewhere it runs on one thread: NumPy's
            small operations hold the GIL, so threads would not help); the table does not depend on it.
        backend: ``"chain"`` (the terms' closed-form derivatives w.r.t. the loss inputs, times the model's
            derivative; NumPy) or ``"autograd"`` (torch.autograd from :meth:`~npo_lab.losses.Method.loss` to θ; the
            reference, slower); the same table to ~1e-10.
    Interrupting (Ctrl-C) returns the evaluations done so far, with a warning.
    """
    check_backend(backend)
    workers = check_workers(workers)
    steps, eval_every = _check_count(steps, "steps", 0), _check_count(eval_every, "eval_every", 1)
    if task is None:
        task = make_task(input_gap, seeds, workers=workers, **task_kwargs)
    elif task_kwargs:
        raise ValueError(f"pass either task or task settings, not both (got {sorted(task_kwargs)})")
    specs = _specs(methods, task.input_gap)
    heads = Heads([get_method(s.method) for s in specs], [s.hyper for s in specs], [s.learning_rate for s in specs])
    bar = None
    if progress:
        from ..progress import progress_bar

        bar = progress_bar(total=steps * len(task.seeds), desc=f"synthetic gap={task.input_gap}", mininterval=1.0)
    try:
        done, metrics = _run(task, heads, steps, eval_every, workers, backend, bar)
    finally:
        if bar is not None:
            bar.close()
    return _table(task, specs, done, metrics[..., np.argsort(heads.order)])


def _table(task: SyntheticTask, specs: list[UnlearnSpec], done: list[int], metrics: np.ndarray) -> pd.DataFrame:
    """The tidy frame from ``metrics (E, 3, S, M)``: rows ordered by method (as given), seed, step."""
    E, _, S, M = metrics.shape
    values = metrics.transpose(3, 2, 0, 1).reshape(-1, 3)  # (M·S·E, 3)
    df = pd.DataFrame(
        {
            "seed": np.tile(np.repeat(np.array(task.seeds), E), M),
            "method": np.repeat([s.label for s in specs], S * E),
            "step": np.tile(np.array(done), M * S),
            **{name: values[:, i] for i, name in enumerate(METRICS)},
        }
    )
    for col in ("base_method", "learning_rate", "beta", "alpha", "gamma"):
        df[col] = np.repeat([getattr(s, "method" if col == "base_method" else col) for s in specs], S * E)
    df["input_gap"] = task.input_gap
    return df


def summarize_experiment(df: pd.DataFrame) -> pd.DataFrame:
    """Per method: start and end (mean over seeds) of each distance, the minimum of the seed-mean forget distance
    and its step, and the retain distance there."""
    missing = {"seed", "method", "step", *METRICS} - set(df.columns)
    if missing:
        raise ValueError(f"df lacks the columns {sorted(missing)}")
    mean = df.groupby(["method", "step"], sort=False)[list(METRICS)].mean()
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
