"""``npo-lab unlearn``: unlearn a TOFU forget split from a model with any ``METHODS`` entry, into a run record.

Every option of :class:`~npo_lab.unlearn.UnlearnConfig` that a command line needs, plus where the model and the
data come from. Settings, data, the retain log and ``--out`` (new, ``--resume`` of the same experiment, or
``--overwrite`` of an earlier npo_lab run) are checked before the model is loaded. When the output is not a
terminal (a log file, CI) there are no progress bars: one line per stage and one every 10 seconds of training, on
stderr.

Several processes: ``accelerate launch --config_file npo_lab/gpu/accelerate/ddp.yaml -m npo_lab.cli unlearn ...``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ..errors import UsageError
from ..runtime import quiet_library_bars
from .options import given_fields, option_fields

__all__ = ["add_arguments", "run"]

# option -> UnlearnConfig field
_FIELDS = option_fields(
    "lr:learning_rate epochs max_steps batch_size grad_accum:gradient_accumulation_steps warmup_epochs weight_decay "
    "seed eval_every eval_max_rows eval_batch_size precision lora_r lora_alpha lora_dropout max_length save_every "
    "num_samples eval_max_new_tokens logging_steps"
)
_CHOICES = {"precision"}
PROGRESS_EVERY_S = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``npo-lab unlearn``."""
    from ..hyper import add_options
    from ..losses import METHODS, loss_hypers
    from ..tofu.splits import FORGET_SPLITS
    from ..unlearn.config import UnlearnConfig

    h, d = UnlearnConfig.help(), UnlearnConfig()
    parser.add_argument("--model", required=True, help="fine-tuned model: a local directory or a hub name")
    parser.add_argument(
        "--data",
        default=None,
        help="TOFU source: a directory of JSON-lines files, 'hub' or "
        "'synthetic' (default: $NPO_LAB_TOFU_DIR, else the bundled synthetic authors)",
    )
    parser.add_argument("--forget", default="forget10", choices=FORGET_SPLITS, help="forget split")
    parser.add_argument("--retain", default=None, help="retain split (default: the complement of --forget)")
    parser.add_argument("--method", default=d.method, choices=list(METHODS), help=h["method"])
    parser.add_argument("--out", required=True, help=h["output_dir"])
    parser.add_argument("--retain-log", default=None, help="the retain model's TOFU eval log (for forget quality)")
    parser.add_argument("--no-forget-quality", action="store_true", help="do not compute forget quality")
    parser.add_argument("--no-eval-at-start", action="store_true", help="skip the step-0 evaluation")
    parser.add_argument("--gradient-checkpointing", action="store_true", help=h["gradient_checkpointing"])
    parser.add_argument("--save-model", action="store_true", help=h["save_model"])
    parser.add_argument(
        "--resume",
        action="store_true",
        help="resume from the last checkpoint in --out (the same "
        "experiment: model, data, split, method and hyper-parameters must match)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier npo_lab run in --out (only the files that run created; anything else is left alone)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars and no progress lines")
    parser.add_argument("--trust-remote-code", action="store_true", help="allow model code from the hub")
    parser.add_argument(
        "--tokenizer",
        default=None,
        help="tokenizer name or path when the model repository has "
        "none (e.g. microsoft/phi-1_5 for locuslab/tofu_ft_phi-1.5); default: --model",
    )
    parser.add_argument("--template", default=None, help=h["template"] + " (default: guessed from the model)")
    parser.add_argument(
        "--lora-target-modules",
        default=None,
        help="comma-separated module names LoRA adapts (default: " + ",".join(d.lora_target_modules) + ")",
    )
    add_options(parser, loss_hypers())  # --beta, --alpha, ...: one per hyper-parameter the loss declares
    types = {"int": int, "float": float, "int | None": int}
    for opt, name in _FIELDS.items():
        flag, default = "--" + opt.replace("_", "-"), getattr(d, name)
        if opt in _CHOICES:
            choices = UnlearnConfig.__dataclass_fields__[name].metadata["choices"]
            parser.add_argument(flag, dest=opt, default=default, choices=choices, help=h[name])
        else:
            typ = types[UnlearnConfig.__dataclass_fields__[name].type]
            parser.add_argument(flag, dest=opt, type=typ, default=default, help=f"{h[name]} (default: {default})")


def _config(args):
    """The run's config from the options (validated: a bad number is a one-line error, before any loading)."""
    from ..losses import loss_hypers
    from ..unlearn.config import UnlearnConfig

    values = given_fields(args, _FIELDS)
    values.update(given_fields(args, {h: h for h in loss_hypers()}))
    if args.lora_target_modules:
        values["lora_target_modules"] = tuple(m.strip() for m in args.lora_target_modules.split(",") if m.strip())
    bars = not args.no_progress and sys.stdout.isatty() and sys.stderr.isatty()
    lines = not args.no_progress and not bars
    return UnlearnConfig(
        method=args.method,
        output_dir=args.out,
        forget_quality=not args.no_forget_quality,
        eval_at_start=not args.no_eval_at_start,
        gradient_checkpointing=args.gradient_checkpointing,
        save_model=args.save_model,
        template=args.template or "qa",
        disable_tqdm=not bars,
        progress_every_s=PROGRESS_EVERY_S if lines else 0.0,
        **values,
    )


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def _quiet(cfg) -> None:
    """Library bars off when they are off for training; npo_lab's stage lines on stderr (main process only)."""
    import transformers

    transformers.logging.set_verbosity_warning()
    if cfg.disable_tqdm:
        quiet_library_bars()
    log = logging.getLogger("npo_lab")
    if cfg.progress_every_s > 0 and not any(isinstance(h, _StderrHandler) for h in log.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("npo-lab unlearn: %(message)s"))
        log.addHandler(handler)
        log.propagate = False  # not twice when something configures the root logger
        log.setLevel(logging.INFO if int(os.environ.get("RANK", "0")) == 0 else logging.WARNING)


def _load_tokenizer(args):
    from transformers import AutoTokenizer

    name = args.tokenizer or args.model
    try:
        return AutoTokenizer.from_pretrained(name, trust_remote_code=args.trust_remote_code)
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot load the tokenizer of {name!r}: {str(e).splitlines()[0]}") from None


def _load_model(args, cfg):
    import torch
    from transformers import AutoModelForCausalLM

    # Full fine-tuning keeps fp32 master weights and lets the Trainer autocast to bf16/fp16 (pure bf16 AdamW at
    # lr 1e-5 rounds most updates away); with LoRA the frozen base may live in bf16.
    dtype = torch.bfloat16 if (cfg.precision == "bf16" and cfg.lora_r > 0) else torch.float32
    try:
        return AutoModelForCausalLM.from_pretrained(args.model, dtype=dtype, trust_remote_code=args.trust_remote_code)
    except OSError as e:
        raise UsageError(f"cannot load --model {args.model!r}: {str(e).splitlines()[0]}") from None


def run(args: argparse.Namespace) -> int:
    from ..files import json_text
    from ..losses import get_method
    from ..tofu.data import load_tofu
    from ..tofu.splits import retain_split_for
    from ..tofu.templates import guess_template
    from ..unlearn import check_run, unlearn

    cfg = _config(args)
    _quiet(cfg)
    tokenizer = _load_tokenizer(args)
    if args.template is None:
        cfg = cfg.replace(template=guess_template(args.model, tokenizer))
    forget_rows = load_tofu(args.forget, source=args.data)
    retain_rows = None
    if get_method(cfg.method).needs_retain:
        retain_rows = load_tofu(args.retain or retain_split_for(args.forget), source=args.data)
    plan = check_run(  # data, --out and the resume identity, once, before the model is loaded
        cfg,
        model_name=args.model,
        forget_rows=forget_rows,
        retain_rows=retain_rows,
        retain_log=args.retain_log,
        eval_source=args.data,
        forget_split=args.forget,
        resume=args.resume,
        overwrite=args.overwrite,
    )
    model = _load_model(args, cfg)
    result = unlearn(model, tokenizer, plan=plan, resume=args.resume)
    if result.trainer.is_world_process_zero():
        final = result.summary.get("final") or {}
        keys = ("step", "forget_quality", "model_utility", "forget_probability")
        shown = {k: final[k] for k in keys if k in final}
        print(f"{result.summary['status']}: {cfg.method} → {result.output_dir} {json_text(shown, indent=None)}")
    return 130 if result.interrupted else 0
