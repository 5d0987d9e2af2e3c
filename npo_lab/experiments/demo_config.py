"""The settings of the mini-TOFU demo (:class:`DemoConfig`, saved in ``demo.json``) and where they come from.

One optimiser, learning rate, schedule and β for every method (:data:`DEMO_DEFAULTS`), chosen from a measurement
on the mini-TOFU models and recorded with the paper's TOFU values beside them (:data:`PAPER_SETTINGS`,
arXiv 2404.05868, Sec. 5) and the reason (:data:`DEFAULTS_REASON`) in every ``demo.json``. The tiny models and
the evaluation have settings of their own: a :class:`~npo_lab.minitofu.MiniTofuConfig` and an
:class:`~npo_lab.audit.AuditConfig`, held whole. A ``demo.json`` can be given back to ``npo-lab demo --config``.
"""

from __future__ import annotations

import math
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..audit.report import AuditConfig
from ..configs import Config, flat_settings, option
from ..losses import LossSettings
from ..minitofu.config import MiniTofuConfig
from ..tofu.splits import FORGET_SPLITS

__all__ = [
    "DEMO_METHODS",
    "OPTIONAL_METHODS",
    "PAPER_ALPHA",
    "PAPER_SETTINGS",
    "DEMO_DEFAULTS",
    "DEFAULTS_REASON",
    "PRESETS",
    "DEVICES",
    "DemoConfig",
    "environment",
]

DEMO_METHODS = ("GA", "GA+RT", "NPO", "NPO+RT", "IDK+RT", "DPO+RT")
OPTIONAL_METHODS = ("IDK+RT", "DPO+RT")  # skipped only when a time budget is set and would be exceeded
PAPER_ALPHA = {"forget50": 5.0, "forget90": 12.0}  # the paper's retain weight for large forget sets (Sec. 5)
DEVICES = ("auto", "cpu", "cuda", "mps")  # auto: the Trainer's choice (a GPU when there is one)

#: the paper's unlearning settings on TOFU (Sec. 5 and App. E), for the record beside the demo's
PAPER_SETTINGS: dict[str, Any] = {
    "optimiser": "AdamW",
    "learning_rate": 1e-5,
    "weight_decay": 0.01,
    "batch_size": 32,
    "epochs": 10,
    "lr_scheduler": "linear warm-up over the first epoch, then linear decay",
    "beta": 0.1,
    "alpha": 1.0,
}
#: the demo's defaults for every method (the fields of :class:`DemoConfig` they set)
DEMO_DEFAULTS: dict[str, Any] = {
    "learning_rate": 3e-4,
    "beta": 0.3,
    "lr_scheduler": "constant",
    "warmup_epochs": 0.0,
    "batch_size": 8,
    "epochs": 16.0,
    "weight_decay": 0.01,
    "max_grad_norm": 1.0,
    "ga_reduction": "token_mean",
}
DEFAULTS_REASON = (
    "AdamW with gradient clipping 1, as in every language-model run; constant learning rate, no warm-up. At this "
    "scale (a 1 M-parameter model, 40 forget rows, batch 8: 5 steps per epoch) the paper's lr 1e-5 barely moves the "
    "model. Chosen from the collapse laboratory's table (npo-lab collapse, seeds 0-2, means over seeds; utility "
    "proxy on probe rows): at lr 3e-4 GA collapsed at step 25, NPO at 27.7 (β 0.1) and 43.7 (β 0.2, 1.7× GA), "
    "while at β 0.3 NPO collapsed on no seed within 200 steps (≥ 8× GA) and reached the retain model's forget "
    "probability on all three; at β 0.5 it reached it on one seed of three. At lr 1e-4 GA collapsed at 66.7 and "
    "NPO at β ≥ 0.2 never did, but reached the retain model's forget probability on at most one seed within 200 "
    "steps. Adam rescales the update by a running gradient scale and clipping caps its norm, so NPO's fading weight "
    "W slows the step far less than under plain gradient descent (Theorem 2); β decides the regime: β → 0 is GA "
    "(Proposition 1), large β stops NPO before it forgets. So lr 3e-4 and β 0.3, for 16 epochs (80 steps). At "
    "matched forgetting NPO kept 1.18-1.24× GA's utility proxy there (1.08-1.24× in every AdamW cell that matched "
    "on all seeds). Every method runs at these settings."
)

#: named settings; ``real-tofu``: real TOFU authors need longer fine-tuning to be memorised
PRESETS: dict[str, dict[str, Any]] = {"real-tofu": {"minitofu": {"epochs": 36}}}


@flat_settings("loss")
@dataclass(frozen=True)
class DemoConfig(Config):
    """Settings of the demo (saved in ``demo.json``). :meth:`smoke` gives the sizes of a seconds-long run.

    ``loss`` (a :class:`~npo_lab.losses.LossSettings`, default β and GA reduction from :data:`DEMO_DEFAULTS`) holds
    the loss's hyper-parameters, also given, read and saved at the top level (:func:`~npo_lab.configs.flat_settings`:
    ``DemoConfig(beta=0.5)``, ``cfg.beta``, ``"beta"`` in ``demo.json``). The retain weight α is a field of its
    own, ``alpha``, because ``None`` is one of its values: the paper's weight for the forget split (1 up to
    forget30, 5 for forget50, 12 for forget90; :attr:`resolved_alpha`), which no number stored in the settings can
    say, and which must follow ``forget_split`` when that changes. A field of the class shadows the settings'
    entry of that name, so ``loss.alpha`` stays at its default and is not used (a ``loss`` with another α is
    refused); :meth:`unlearn_config` passes ``loss`` whole with α = :attr:`resolved_alpha`.

    ``minitofu`` (a :class:`~npo_lab.minitofu.MiniTofuConfig`, or a dict of its fields) sets the tiny models; its
    ``source``, ``seed`` and ``n_authors`` follow the demo's ``data``, ``seed`` and ``n_authors``. ``audit_config``
    (an :class:`~npo_lab.audit.AuditConfig`) sets the audit; the models' template and ``max_length`` are used
    unless it changes them. :meth:`from_dict` (and so :meth:`load`) also reads a ``demo.json``.
    """

    out: str = option("runs/demo", "output directory (new, empty, or an earlier demo's output)")
    methods: tuple[str, ...] = option(DEMO_METHODS, "unlearning methods, in order")
    seed: int = option(0, "seed of the models and of unlearning", ge=0)
    data: str = option("synthetic", "'synthetic', 'hub' or a directory of TOFU files")
    forget_split: str = option("forget10", "forget split of the chosen authors", choices=FORGET_SPLITS)
    n_authors: int = option(20, "authors used (20 QA pairs each)", ge=2)
    epochs: float = option(DEMO_DEFAULTS["epochs"], "unlearning epochs", gt=0, le=1e4)
    learning_rate: float = option(DEMO_DEFAULTS["learning_rate"], "unlearning peak learning rate (AdamW)", gt=0)
    lr_scheduler: str = option(
        DEMO_DEFAULTS["lr_scheduler"],
        "schedule after the warm-up (the paper: linear decay)",
        choices=("constant", "linear"),
    )
    warmup_epochs: float = option(DEMO_DEFAULTS["warmup_epochs"], "linear warm-up, in epochs (the paper: 1)", ge=0)
    loss: LossSettings = option(
        LossSettings(beta=DEMO_DEFAULTS["beta"], ga_reduction=DEMO_DEFAULTS["ga_reduction"]),
        "the loss's hyper-parameters but α (beta, ga_reduction, ...; the paper: β 0.1, GA token_mean)",
    )
    alpha: float | None = option(
        None, "retain weight (None: 1; 5 for forget50, 12 for forget90, as in the paper)", ge=0
    )
    batch_size: int = option(DEMO_DEFAULTS["batch_size"], "forget rows per step (the paper: 32)", ge=1)
    weight_decay: float = option(DEMO_DEFAULTS["weight_decay"], "AdamW weight decay (paper)", ge=0)
    max_grad_norm: float = option(DEMO_DEFAULTS["max_grad_norm"], "gradient clipping norm (0: off)", ge=0)
    eval_max_rows: int = option(300, "rows per eval split (the paper: at most 300)", ge=1)
    eval_batch_size: int = option(64, "evaluation batch size", ge=1)
    num_samples: int = option(5, "greedy answers recorded per evaluation", ge=0)
    eval_every_epochs: int = option(8, "full TOFU evaluation every N epochs (and at the probes' marked steps)", ge=1)
    early_eval_every: int = option(
        0, "also evaluate every N optimiser steps during the first early_eval_epochs (0: none)", ge=0
    )
    early_eval_epochs: float = option(0.0, "epochs of the early evaluations", ge=0)
    probe_rows: int = option(
        32, "retain and general rows each in the per-step probes (all forget rows; the collapse laboratory's 32)", ge=1
    )
    probe_every: int = option(2, "probe every N optimiser steps (the marked steps are found at this resolution)", ge=1)
    threads: int = option(2, "torch CPU threads (fixed: the same count gives the same numbers; 0: torch's)", ge=0)
    workers: int = option(
        2,
        "methods run side by side in this many processes, each with max(1, threads // workers) torch threads "
        "(1: one after the other in this process)",
        ge=1,
    )
    preset: str | None = option(None, "the named preset these settings started from (PRESETS), for the record")
    time_budget: float | None = option(
        None,
        "seconds: an optional method (IDK+RT, DPO+RT) starts only if the time spent so far plus the mean "
        "time of the methods done stays within it (None: run every method)",
        gt=0,
    )
    minitofu: MiniTofuConfig = option(MiniTofuConfig(), "the tiny models' settings (MiniTofuConfig)")
    device: str = option("auto", "where unlearning and evaluation run", choices=DEVICES)
    progress: bool = option(True, "progress bars (False: one line per stage)")
    audit: bool = option(False, "audit the models at the end (npo_lab.audit: audit.json, audit.csv, figure)")
    audit_config: AuditConfig = option(AuditConfig(), "the audit's settings (AuditConfig)")

    def __post_init__(self) -> None:
        from ..losses import HYPERS, METHODS

        super().__post_init__()
        if not self.methods:
            raise ValueError("methods must name at least one method")
        for m in self.methods:
            if m not in METHODS:
                raise ValueError(f"unknown method {m!r} in methods; choose from {', '.join(METHODS)}")
        if len(set(self.methods)) != len(self.methods):
            raise ValueError(f"methods must not repeat a method, got {list(self.methods)}")
        if self.preset is not None and self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)} or None, got {self.preset!r}")
        if not self.data.strip():
            raise ValueError("data must be 'synthetic', 'hub' or a directory of TOFU files, got ''")
        if self.loss.alpha != HYPERS["alpha"].default:
            raise ValueError(
                f"set the retain weight with alpha (None: the paper's value for the forget split), not loss.alpha; "
                f"got loss.alpha={self.loss.alpha!r}"
            )
        models = self.minitofu.replace(source=self.data, seed=self.seed, n_authors=self.n_authors)
        object.__setattr__(self, "minitofu", models)

    @classmethod
    def from_dict(cls, data: dict) -> DemoConfig:
        """A config from its fields, or from a whole ``demo.json`` (its ``"config"`` entry)."""
        if isinstance(data, dict) and isinstance(data.get("config"), dict) and "status" in data:
            data = data["config"]
        return super().from_dict(data)

    @classmethod
    def smoke(cls, **changes) -> DemoConfig:
        """A demo small enough for tests and CI (seconds to a minute): :meth:`MiniTofuConfig.smoke` models,
        2 epochs, 8 rows per eval split, :meth:`AuditConfig.smoke` audit sizes, torch's own thread count.
        ``changes`` override any field (a ``minitofu`` or ``audit_config`` dict is merged into the smoke sizes)."""
        small = MiniTofuConfig.smoke()
        models = {**small.to_dict(), **_as_dict(changes.pop("minitofu", None))}
        audit = {**AuditConfig.smoke().to_dict(), **_as_dict(changes.pop("audit_config", None))}
        base: dict[str, Any] = {"n_authors": small.n_authors, "epochs": 2.0, "eval_max_rows": 8, "probe_rows": 16}
        # threads 0: torch's own count (OMP_NUM_THREADS where set), so that smoke runs side by side (a test suite's
        # workers, a notebook beside a demo) do not each claim every core: oversubscribed OpenMP threads ran 5x slower
        base.update(eval_every_epochs=1, probe_every=1, threads=0, workers=1)
        return cls(**{**base, "minitofu": models, "audit_config": audit, **changes})

    @classmethod
    def from_preset(cls, name: str, base: DemoConfig | None = None, **changes) -> DemoConfig:
        """``base`` (default :class:`DemoConfig`) with the settings of preset ``name`` (:data:`PRESETS`), then
        ``changes``; ``minitofu`` overrides are merged."""
        if name not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {name!r}")
        base = base or cls()
        merged = {**PRESETS[name], **changes}
        merged["minitofu"] = {
            **base.minitofu.to_dict(),
            **PRESETS[name].get("minitofu", {}),
            **_as_dict(changes.get("minitofu")),
        }
        return base.replace(preset=name, **merged)

    @property
    def resolved_alpha(self) -> float:
        """The retain weight: ``alpha``, or the paper's value for the forget split (1 up to forget30)."""
        return self.alpha if self.alpha is not None else PAPER_ALPHA.get(self.forget_split, 1.0)

    def minitofu_config(self) -> MiniTofuConfig:
        """The :class:`~npo_lab.minitofu.MiniTofuConfig` of the tokenizer and both models."""
        return self.minitofu

    def audit_overrides(self) -> dict:
        """The audit's fields that differ from :class:`AuditConfig`'s defaults (the rest follow the models)."""
        default = AuditConfig().to_dict()
        return {k: v for k, v in self.audit_config.to_dict().items() if v != default[k]}

    def record(self) -> dict:
        """The ``"defaults"`` entry of ``demo.json``: the settings every method ran with, the paper's, the reason."""
        used = {k: getattr(self, k) for k in DEMO_DEFAULTS}
        used.update(optimiser="AdamW", alpha=self.resolved_alpha)
        changed = sorted(k for k in DEMO_DEFAULTS if getattr(self, k) != DEMO_DEFAULTS[k])
        return {"used": used, "paper": PAPER_SETTINGS, "reason": DEFAULTS_REASON, "changed_from_defaults": changed}

    def unlearn_config(self, method: str, output_dir: str | Path, max_length: int = 160, n_forget: int = 0):
        """The :class:`~npo_lab.unlearn.UnlearnConfig` of one method's run (``n_forget`` forget rows: the early
        evaluations cover the first :attr:`early_eval_epochs` epochs of ``ceil(n_forget / batch_size)`` steps; the
        per-epoch evaluations are every ``eval_every_epochs`` epochs)."""
        from ..unlearn import UnlearnConfig

        per_epoch = max(1, math.ceil(n_forget / self.batch_size))
        until = int(self.early_eval_epochs * per_epoch) if self.early_eval_every else 0
        return UnlearnConfig(
            method=method,
            loss=self.loss.replace(alpha=self.resolved_alpha),
            learning_rate=self.learning_rate,
            epochs=self.epochs,
            batch_size=self.batch_size,
            warmup_epochs=self.warmup_epochs,
            lr_scheduler=self.lr_scheduler,
            weight_decay=self.weight_decay,
            max_grad_norm=self.max_grad_norm,
            seed=self.seed,
            eval_every=0 if self.eval_every_epochs == 1 else self.eval_every_epochs * per_epoch,
            early_eval_every=self.early_eval_every if until else 0,
            early_eval_until=until,
            eval_at_start=False,
            eval_max_rows=self.eval_max_rows,
            eval_batch_size=self.eval_batch_size,
            num_samples=self.num_samples,
            output_dir=str(output_dir),
            template=self.minitofu.template,
            max_length=max_length,
            save_every=-1,
            logging_steps=1000,
            disable_tqdm=not self.progress,
        )


def _as_dict(value) -> dict:
    if value is None:
        return {}
    return value.to_dict() if isinstance(value, Config) else dict(value)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    """What a demo's numbers depend on besides its config: torch's thread counts, the CPU and the versions."""
    import importlib.metadata as md

    import torch

    versions = {}
    for name in ("npo_lab", "torch", "transformers", "tokenizers", "numpy", "scipy", "rouge_score"):
        try:
            versions[name] = md.version(name.replace("_", "-"))
        except md.PackageNotFoundError:
            versions[name] = None
    return {
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "versions": versions,
    }
