"""``UnlearnConfig``: everything that defines an unlearning run, saved as the run record's ``config.json``.

Fields come in five groups — loss, optimisation, evaluation, LoRA, output — and are validated when the config is
created (finite numbers, integer sizes, allowed ranges and choices; the error names the field). Paper defaults
on TOFU (arXiv 2404.05868, Sec. 5 and App. E): AdamW, lr 1e-5, weight decay 0.01, effective batch 32, 10 epochs,
linear warm-up over the first epoch, β = 0.1, retain weight α = 1 (5 for forget50, 12 for forget90). The effective
batch is ``batch_size × gradient_accumulation_steps × number of processes``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..configs import Config, flat_settings, option
from ..losses import METHODS, LossSettings, get_method
from ..tofu.templates import TEMPLATES

__all__ = ["UnlearnConfig", "PRECISIONS", "DEFAULT_LORA_TARGETS", "RESUMABLE_FIELDS"]

PRECISIONS = ("fp32", "bf16", "fp16")
DEFAULT_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
EVAL_SETS = ("forget", "retain", "real_authors", "world_facts")

#: fields that may differ when a run is resumed: they change how it runs or what is kept, not what is learnt
RESUMABLE_FIELDS = frozenset(
    {
        "output_dir",
        "save_every",
        "keep_checkpoints",
        "save_model",
        "logging_steps",
        "disable_tqdm",
        "progress_every_s",
        "eval_batch_size",
        "ref_batch_size",
        "gradient_checkpointing",
        "save_eval_logs",
        "num_samples",
        "early_eval_every",
        "early_eval_until",
    }
)


def _check_transformers_name(field: str, value: str, module: str, enum: str) -> None:
    """``value`` must be a member of the transformers enum ``module.enum`` (scheduler and optimiser names)."""
    import importlib

    names = [e.value for e in getattr(importlib.import_module(module), enum)]
    if value not in names:
        raise ValueError(f"{field} must be one of {', '.join(names)}; got {value!r}")


def _loss(default, help, **kw):
    return option(default, help, group="loss", **kw)


def _optim(default, help, **kw):
    return option(default, help, group="optimisation", **kw)


def _eval(default, help, **kw):
    return option(default, help, group="evaluation", **kw)


def _lora(default, help, **kw):
    return option(default, help, group="lora", **kw)


def _output(default, help, **kw):
    return option(default, help, group="output", **kw)


@flat_settings("loss")
@dataclass(frozen=True)
class UnlearnConfig(Config):
    """The settings of one unlearning run (see the module docstring); ``UnlearnConfig.help()`` lists them all."""

    # loss: the objective (paper Sec. 3, npo_lab.losses)
    method: str = _loss("NPO+RT", f"unlearning objective, one of {', '.join(METHODS)}")
    loss: LossSettings = _loss(
        LossSettings(), "the loss's hyper-parameters (beta, alpha, gamma, ga_reduction, ...: npo_lab.losses.HYPERS)"
    )

    # optimisation
    learning_rate: float = _optim(1e-5, "peak learning rate of AdamW", gt=0)
    epochs: float = _optim(10.0, "passes over the forget set", gt=0, le=1e6)
    max_steps: int = _optim(-1, "stop after this many optimiser steps (-1: run all epochs)", ge=-1)
    batch_size: int = _optim(4, "forget rows per device per micro-batch (each paired with a retain row)", ge=1)
    gradient_accumulation_steps: int = _optim(1, "micro-batches per optimiser step", ge=1)
    warmup_epochs: float = _optim(1.0, "linear learning-rate warm-up, in epochs (the paper: 1)", ge=0)
    lr_scheduler: str = _optim("linear", "transformers scheduler after the warm-up (linear, constant, cosine, ...)")
    weight_decay: float = _optim(0.01, "AdamW weight decay", ge=0)
    max_grad_norm: float = _optim(1.0, "gradient clipping norm (0: off)", ge=0)
    optim: str = _optim("adamw_torch", "transformers optimiser name")
    seed: int = _optim(0, "seed of data order, retain pairing, IDK answers and the Trainer", ge=0)
    precision: str = _optim(
        "fp32",
        f"training precision, one of {', '.join(PRECISIONS)} (bf16/fp16: the Trainer's mixed precision)",
        choices=PRECISIONS,
    )
    gradient_checkpointing: bool = _optim(False, "recompute activations in the backward pass (saves GPU memory)")
    template: str = _optim("qa", f"prompt template, one of {', '.join(TEMPLATES)}", choices=tuple(TEMPLATES))
    max_length: int = _optim(256, "maximum tokens per question + answer", ge=2)
    cache_reference: bool = _optim(
        True,
        "compute reference log-probs once before training; False recomputes them "
        "every step with a reference model, as the published code does (for comparison)",
    )
    ref_batch_size: int = _optim(16, "batch size of the one-off reference log-prob pass", ge=1)

    # evaluation
    eval_every: int = _eval(
        0,
        "evaluate every N optimiser steps; 0: at the end of each epoch; -1: never (no "
        "evaluation at all, and no retain_log needed)",
        ge=-1,
    )
    early_eval_every: int = _eval(
        0, "also evaluate every N optimiser steps up to step early_eval_until (0: no early evaluations)", ge=0
    )
    early_eval_until: int = _eval(0, "last optimiser step of the early evaluations (early_eval_every)", ge=0)
    eval_at_start: bool = _eval(
        True, "also evaluate before unlearning (step 0), so curves start at the fine-tuned model"
    )
    eval_max_rows: int = _eval(300, "rows per eval split (the paper: at most 300)", ge=1)
    eval_batch_size: int = _eval(16, "batch size of evaluation", ge=1)
    eval_max_new_tokens: int | None = _eval(None, "generation length for ROUGE (None: longest answer + margin)", ge=1)
    eval_splits: tuple[str, ...] | None = _eval(None, f"subset of the eval sets {', '.join(EVAL_SETS)} (None: all)")
    num_samples: int = _eval(3, "greedy answers recorded per evaluation on forget and on retain questions", ge=0)
    forget_quality: bool = _eval(True, "compute forget quality; requires the retain model's eval log (retain_log)")
    save_eval_logs: bool = _eval(False, "also write every TOFU eval log to eval_logs/step_NNNNNN.json")

    # LoRA (peft)
    lora_r: int = _lora(0, "LoRA rank (0: full fine-tuning; > 0 wraps the model with peft)", ge=0)
    lora_alpha: int = _lora(32, "LoRA scaling α", ge=1)
    lora_dropout: float = _lora(0.05, "LoRA dropout", ge=0, le=1)
    lora_target_modules: tuple[str, ...] = _lora(DEFAULT_LORA_TARGETS, "module names LoRA adapts")

    # output
    output_dir: str = _output("runs/unlearn", "directory of the run record (and checkpoints)")
    save_every: int = _output(
        0, "checkpoint every N optimiser steps; 0: each epoch (or with eval_every when > 0); -1: never", ge=-1
    )
    keep_checkpoints: bool = _output(
        False, "keep Trainer checkpoints after a completed run (they hold optimiser state)"
    )
    save_model: bool = _output(False, "write the final weights to OUTPUT_DIR/model (safetensors)")
    logging_steps: int = _output(10, "Trainer logging interval (steps)", ge=1)
    disable_tqdm: bool = _output(False, "hide progress bars")
    progress_every_s: float = _output(
        0.0,
        "log a progress line at most every N seconds (0: none; the command line "
        "uses 10 when its output is not a terminal)",
        ge=0,
    )

    #: a run record's config.json also holds the run's identity (npo_lab.runs), ignored when loading the config
    record_keys = ("experiment",)

    def __post_init__(self) -> None:
        super().__post_init__()
        get_method(self.method)  # ValueError listing the valid methods
        if self.max_steps == 0:
            raise ValueError("max_steps must be -1 (run all epochs) or >= 1, got 0")
        if self.eval_splits is not None:
            bad = sorted(set(self.eval_splits) - set(EVAL_SETS))
            if bad or not self.eval_splits:
                raise ValueError(
                    f"eval_splits must be a non-empty subset of {', '.join(EVAL_SETS)}; got {list(self.eval_splits)}"
                )
        if not self.lora_target_modules:
            raise ValueError("lora_target_modules must name at least one module")
        if not self.output_dir.strip():
            raise ValueError("output_dir must not be empty")
        _check_transformers_name("lr_scheduler", self.lr_scheduler, "transformers.trainer_utils", "SchedulerType")
        _check_transformers_name("optim", self.optim, "transformers.training_args", "OptimizerNames")

    def experiment(self) -> dict:
        """The fields that define what is learnt (all but :data:`RESUMABLE_FIELDS`), for resume checks."""
        return {k: v for k, v in self.to_dict().items() if k not in RESUMABLE_FIELDS}


assert RESUMABLE_FIELDS <= {f.name for f in fields(UnlearnConfig)}
