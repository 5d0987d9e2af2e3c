"""The unlearning engine: ``UnlearnConfig`` + ``Unlearner`` (a ``transformers.Trainer``) driving any ``METHODS`` entry.

One engine for every method (GA, GA+RT, GA+KL, IDK+RT, DPO, DPO+RT, DPO+KL, NPO, NPO+RT, NPO+KL, SimNPO), from a
0.5 M-parameter model on a laptop CPU to a 7B model on several GPUs: the ``Trainer`` brings accelerate, DDP,
FSDP/DeepSpeed, gradient accumulation, mixed precision and peft/LoRA.

How a step works (paper arXiv 2404.05868, Sec. 3 and 5; DESIGN.md §3):

* An epoch is one pass over the **forget** set. Each forget row is paired with a **retain** row (cycled through a
  seeded permutation of the retain set, so epoch ``e`` sees the next ``n_forget`` retain rows) and, for the IDK and
  DPO methods, with an "I don't know" answer (fixed per row, chosen by the seed).
* ``compute_loss`` asks the method which inputs its terms need (``Method.needs()``), runs the model only on the
  groups (forget / retain / idk) that need a log-prob or a KL, and calls ``Method.loss`` — it never branches on a
  method name. The batch objective is the mean of the per-example losses (``Method.loss`` returns ``(B,)``).
* **Cached reference.** ``ref_logp`` of the forget answers (and of DPO's chosen IDK answers) is fixed during
  unlearning, so it is computed once before the first step (no grad, eval mode, the initial model) and stored with
  the dataset as a column (and in ``reference_logps.json`` so that a resumed run reuses it). NPO then costs one
  forward + one backward per step instead of two forwards + one backward: about 3/4 of the published code's cost.
  A reference *model* stays in memory only for the KL methods (``Method.needs_ref_model``); with LoRA the
  reference is the base model (adapters disabled), no copy.
* Evaluation during training: every ``eval_every`` steps (or each epoch), on the main process, the callback runs
  :func:`npo_lab.tofu.evaluate.evaluate` + :func:`npo_lab.tofu.metrics.summarize` (forget quality against the
  retain model's eval log, model utility, forget probability, forget truth ratio) and records a few greedy answers.
  By default it also evaluates at step 0, so curves start at the fine-tuned model.

The run record (``config.json``, ``metrics.jsonl``, ``samples.jsonl``, ``summary.json``, optional ``model/``) is
described in :mod:`npo_lab.runs`.

On a GPU (e.g. notebook 08, real TOFU)::

    model = AutoModelForCausalLM.from_pretrained("locuslab/tofu_ft_phi-1.5", dtype=torch.bfloat16)
    tokenizer = AutoTokenizer.from_pretrained("locuslab/tofu_ft_phi-1.5")
    config = UnlearnConfig(method="NPO+RT", precision="bf16", gradient_checkpointing=True, batch_size=8,
                           gradient_accumulation_steps=4, epochs=10, learning_rate=1e-5, template="qa",
                           output_dir="runs/phi_npo_rt")        # lora_r=8 for LoRA instead of full fine-tuning
    result = unlearn(model, tokenizer, load_tofu("forget10", "hub"), load_tofu("retain90", "hub"), config,
                     retain_log=RETAIN_MODEL_EVAL_LOG, eval_source="hub", forget_split="forget10")

Several GPUs: the same through the CLI, ``accelerate launch --config_file configs/accelerate/ddp.yaml
--num_processes N -m npo_lab.cli unlearn ...`` (or ``deepspeed_zero3.yaml`` for models that do not fit one GPU).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import math
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from .losses import METHODS, get_method, kl_to_ref, sequence_logprob, token_count
from .runs import RunRecorder, to_jsonable

__all__ = [
    "UnlearnConfig",
    "ForgetRetainDataset",
    "Unlearner",
    "UnlearnEvalCallback",
    "RunResult",
    "reference_logps",
    "unlearn",
    "add_arguments",
    "run_cli",
]

logger = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16", "fp16")
GROUPS = ("forget", "retain", "idk")
REFERENCE_FILE = "reference_logps.json"
DEFAULT_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _f(default, help: str, **kw):
    return field(default=default, metadata={"help": help}, **kw)


# ----------------------------------------------------------------------------------------------------------------
# configuration
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UnlearnConfig:
    """Everything that defines an unlearning run; saved as ``config.json`` beside its results.

    Paper defaults on TOFU (Sec. 5): AdamW, lr 1e-5, weight decay 0.01, effective batch 32, 10 epochs, linear
    warm-up over the first epoch, β = 0.1, retain weight α = 1 (5 for forget50, 12 for forget90). The effective
    batch is ``batch_size × gradient_accumulation_steps × number of processes``.
    """

    method: str = _f("NPO+RT", f"unlearning objective, one of {', '.join(METHODS)}")
    beta: float = _f(0.1, "inverse temperature β of NPO / DPO / SimNPO (> 0)")
    alpha: float = _f(1.0, "retain weight α: weight of the retain term (RT NLL or KL), ≥ 0")
    gamma: float = _f(0.0, "SimNPO reward margin γ")
    learning_rate: float = _f(1e-5, "peak learning rate of AdamW")
    epochs: float = _f(10.0, "passes over the forget set")
    max_steps: int = _f(-1, "stop after this many optimiser steps (-1: run all epochs)")
    batch_size: int = _f(4, "forget rows per device per micro-batch (each paired with a retain row)")
    gradient_accumulation_steps: int = _f(1, "micro-batches per optimiser step")
    warmup_epochs: float = _f(1.0, "linear learning-rate warm-up, in epochs (the paper: 1)")
    lr_scheduler: str = _f("linear", "transformers scheduler name after the warm-up (linear, constant, cosine, ...)")
    weight_decay: float = _f(0.01, "AdamW weight decay")
    max_grad_norm: float = _f(1.0, "gradient clipping norm (0: off)")
    optim: str = _f("adamw_torch", "transformers optimiser name")
    seed: int = _f(0, "seed of data order, retain pairing, IDK answers and the Trainer")
    eval_every: int = _f(0, "evaluate every N optimiser steps; 0: at the end of each epoch; -1: never (no evaluation "
                            "at all, and no retain_log needed)")
    eval_at_start: bool = _f(True, "also evaluate before unlearning (step 0), so curves start at the fine-tuned model")
    eval_max_rows: int = _f(300, "rows per eval split (the paper: at most 300)")
    eval_batch_size: int = _f(16, "batch size of evaluation")
    eval_max_new_tokens: int | None = _f(None, "generation length for ROUGE (None: longest answer + margin)")
    eval_splits: tuple[str, ...] | None = _f(None, "subset of the four eval sets (None: all four)")
    num_samples: int = _f(3, "greedy answers recorded per evaluation on forget and on retain questions")
    forget_quality: bool = _f(True, "compute forget quality; requires the retain model's eval log (retain_log)")
    save_eval_logs: bool = _f(False, "also write every TOFU eval log to eval_logs/step_NNNNNN.json")
    output_dir: str = _f("runs/unlearn", "directory of the run record (and checkpoints)")
    precision: str = _f("fp32", f"training precision, one of {', '.join(PRECISIONS)} (bf16/fp16: the Trainer's mixed "
                        "precision; on a GPU also load the model in bfloat16 to halve its memory, as the CLI does)")
    gradient_checkpointing: bool = _f(False, "recompute activations in the backward pass (saves GPU memory)")
    lora_r: int = _f(0, "LoRA rank (0: full fine-tuning; > 0 wraps the model with peft)")
    lora_alpha: int = _f(32, "LoRA scaling α")
    lora_dropout: float = _f(0.05, "LoRA dropout")
    lora_target_modules: tuple[str, ...] = _f(DEFAULT_LORA_TARGETS, "module names LoRA adapts")
    template: str = _f("qa", "prompt template: qa, llama2 or chat")
    max_length: int = _f(256, "maximum tokens per question + answer")
    ref_batch_size: int = _f(16, "batch size of the one-off reference log-prob pass")
    cache_reference: bool = _f(
        True, "compute reference log-probs once before training; False recomputes them every step with a "
        "reference model, as the published code does (slower; for comparison only)")
    save_every: int = _f(0, "checkpoint every N optimiser steps; 0: each epoch (or with eval_every when > 0); -1: never")
    keep_checkpoints: bool = _f(False, "keep Trainer checkpoints after a completed run (they hold optimiser state)")
    save_model: bool = _f(False, "write the final weights to OUTPUT_DIR/model (safetensors)")
    logging_steps: int = _f(10, "Trainer logging interval (steps)")
    disable_tqdm: bool = _f(False, "hide progress bars")

    def __post_init__(self):
        get_method(self.method)  # ValueError listing the valid methods
        if not (math.isfinite(self.beta) and self.beta > 0):
            raise ValueError(f"beta must be a finite number > 0, got {self.beta!r}")
        if not (math.isfinite(self.alpha) and self.alpha >= 0):
            raise ValueError(f"alpha must be a finite number >= 0, got {self.alpha!r}")
        if not math.isfinite(self.gamma):
            raise ValueError(f"gamma must be finite, got {self.gamma!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if not self.epochs > 0:
            raise ValueError(f"epochs must be > 0, got {self.epochs!r}")
        for name in ("batch_size", "gradient_accumulation_steps", "eval_batch_size", "ref_batch_size", "max_length",
                     "logging_steps", "eval_max_rows"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.lora_r < 0:
            raise ValueError(f"lora_r must be >= 0 (0: no LoRA), got {self.lora_r!r}")
        if self.eval_every < -1 or self.save_every < -1:
            raise ValueError("eval_every and save_every must be >= -1 (-1: never, 0: each epoch, N: every N steps)")
        if self.warmup_epochs < 0 or self.weight_decay < 0 or self.num_samples < 0:
            raise ValueError("warmup_epochs, weight_decay and num_samples must be >= 0")
        # normalise sequences given as lists (e.g. read from JSON) to tuples so the dataclass stays hashable
        for name in ("lora_target_modules", "eval_splits"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, (value,))
            elif value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))

    # -------------------------------------------------------------------------------------------- JSON / help
    def to_dict(self) -> dict:
        return {f.name: to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, d: Mapping) -> "UnlearnConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown UnlearnConfig field(s) {unknown}; valid fields: {', '.join(sorted(names))}")
        return cls(**dict(d))

    @classmethod
    def from_json(cls, path: str | Path) -> "UnlearnConfig":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    @classmethod
    def help(cls) -> dict[str, str]:
        """Field name → help text."""
        return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}

    def replace(self, **changes) -> "UnlearnConfig":
        return dataclasses.replace(self, **changes)


# ----------------------------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------------------------
def _rows(rows, name: str) -> list[dict]:
    """Rows (a datasets.Dataset, a list of dicts, or a pandas DataFrame) → list of {question, answer}."""
    if rows is None:
        return []
    if hasattr(rows, "to_dict") and hasattr(rows, "columns") and not hasattr(rows, "features"):  # DataFrame
        rows = rows.to_dict("records")
    out = []
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping) or "question" not in r or "answer" not in r:
            raise ValueError(f"{name}[{i}] must be a mapping with 'question' and 'answer'; got {r!r:.120}")
        out.append({"question": str(r["question"]), "answer": str(r["answer"])})
    return out


class ForgetRetainDataset(torch.utils.data.Dataset):
    """One item per forget row: ``{"forget", "retain", "idk_answer", "forget_ref_logp", "idk_ref_logp"}`` (the
    example layout of ``npo_lab.tofu.data.ForgetRetainCollator``).

    * retain pairing: a seeded permutation of the retain rows is cycled, so in epoch ``e`` forget row ``i`` meets
      retain row ``perm[(e·n_forget + i) mod n_retain]`` (the Trainer calls :meth:`set_epoch`);
    * IDK answers: fixed per forget row (so that their reference log-probs can be cached), drawn by the seed;
    * ``forget_ref_logp`` / ``idk_ref_logp``: the cached reference columns (``None`` until computed).
    """

    def __init__(self, forget_rows, retain_rows=None, idk_answers: Sequence[str] | None = None, *, seed: int = 0,
                 with_retain: bool = True, with_idk: bool = True):
        self.forget = _rows(forget_rows, "forget_rows")
        self.retain = _rows(retain_rows, "retain_rows") if with_retain and retain_rows is not None else []
        self.seed = int(seed)
        self.epoch = 0
        rng = random.Random(self.seed)
        self.retain_perm = list(range(len(self.retain)))
        rng.shuffle(self.retain_perm)
        self.idk = [str(a) for a in idk_answers] if (with_idk and idk_answers is not None) else []
        self.idk_index = [rng.randrange(len(self.idk)) for _ in self.forget] if self.idk else []
        self.forget_ref_logp: list[float] | None = None
        self.idk_ref_logp: list[float] | None = None

    def __len__(self) -> int:
        return len(self.forget)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def retain_index(self, i: int, epoch: int | None = None) -> int | None:
        if not self.retain:
            return None
        e = self.epoch if epoch is None else int(epoch)
        return self.retain_perm[(e * len(self.forget) + i) % len(self.retain)]

    def idk_answer(self, i: int) -> str | None:
        return self.idk[self.idk_index[i]] if self.idk else None

    def idk_rows(self) -> list[dict]:
        """(forget question, its IDK answer) rows, for the reference pass of DPO's chosen answers."""
        return [{"question": r["question"], "answer": self.idk_answer(i)} for i, r in enumerate(self.forget)]

    def __getitem__(self, i: int) -> dict:
        j = self.retain_index(i)
        return {
            "forget": self.forget[i],
            "retain": self.retain[j] if j is not None else None,
            "idk_answer": self.idk_answer(i),
            "forget_ref_logp": None if self.forget_ref_logp is None else self.forget_ref_logp[i],
            "idk_ref_logp": None if self.idk_ref_logp is None else self.idk_ref_logp[i],
        }


@torch.no_grad()
def reference_logps(model, tokenizer, rows, *, template: str = "qa", max_length: int = 256, batch_size: int = 16,
                    context=None) -> list[float]:
    """``ref_logp`` = Σ answer-token log-probs of each (question, answer) row under ``model`` (eval mode, no grad).

    The rows are encoded exactly as in training (``npo_lab.tofu.data.encode_qa``), so the cached values equal the
    ones a reference model would give inside the step. ``context``: a callable returning a context manager
    (e.g. the Trainer's autocast) entered around each forward. Returns a list of floats, one per row.
    """
    from .tofu.data import QACollator

    rows = _rows(rows, "rows")
    collate = QACollator(tokenizer, template=template, max_length=max_length)
    was_training = model.training
    model.eval()
    try:
        device = model.get_input_embeddings().weight.device
    except (AttributeError, NotImplementedError):
        device = next(model.parameters()).device
    out: list[float] = []
    try:
        for start in range(0, len(rows), batch_size):
            batch = collate(rows[start:start + batch_size])
            ids = batch["input_ids"].to(device)
            mask = batch["attention_mask"].to(device)
            with (context() if context is not None else contextlib.nullcontext()):
                logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
            out.extend(sequence_logprob(logits, batch["labels"].to(device)).float().cpu().tolist())
    finally:
        model.train(was_training)
    if any(not math.isfinite(v) for v in out):
        raise ValueError("reference log-probs contain NaN/inf: check the model and the data")
    return out


# ----------------------------------------------------------------------------------------------------------------
# the Trainer
# ----------------------------------------------------------------------------------------------------------------

def _is_peft(model) -> bool:
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover
        return False
    return isinstance(model, PeftModel)


class _ReferenceCacheCallback(TrainerCallback):
    """Fills the dataset's reference columns at ``on_train_begin`` (after the model is placed / wrapped, before the
    first step) unless they are already there (given, or loaded from ``reference_logps.json`` on resume)."""

    def __init__(self, trainer: "Unlearner"):
        self.trainer = trainer

    def on_train_begin(self, args, state, control, **kwargs):
        self.trainer.cache_reference()


class Unlearner(Trainer):
    """A ``transformers.Trainer`` whose loss is an unlearning objective from :data:`npo_lab.losses.METHODS`.

    Args:
        model: the model to unlearn (the fine-tuned model; also the reference π_ref).
        args: ``TrainingArguments`` (``remove_unused_columns`` is forced to ``False``).
        method: a METHODS name or :class:`~npo_lab.losses.Method`.
        train_dataset: a :class:`ForgetRetainDataset`.
        tokenizer: the tokenizer (``processing_class``).
        beta, alpha, gamma: loss hyper-parameters (see ``npo_lab.losses``).
        template, max_length: prompt template and length for encoding (``npo_lab.tofu.data``).
        cache_reference: True (default) caches reference log-probs once; False recomputes them every step with a
            reference model (the published code's way; used by ``bench/bench_ref_cache.py``).
        ref_batch_size: batch size of the reference pass.

    ``self.ref_model`` is ``None`` unless the method has a KL term (or ``cache_reference=False``); with a peft model
    it is ``None`` as well and the reference forward runs the model with its adapters disabled.
    """

    def __init__(self, model=None, args: TrainingArguments | None = None, *, method="NPO", train_dataset=None,
                 tokenizer=None, beta: float = 0.1, alpha: float = 1.0, gamma: float = 0.0, template: str = "qa",
                 max_length: int = 256, cache_reference: bool = True, ref_batch_size: int = 16,
                 data_collator=None, callbacks=None, **kwargs):
        from .tofu.data import ForgetRetainCollator

        self.method = get_method(method) if isinstance(method, str) else method
        self.beta, self.alpha, self.gamma = float(beta), float(alpha), float(gamma)
        self.template, self.max_length = template, int(max_length)
        self.cache_reference_enabled = bool(cache_reference)
        self.ref_batch_size = int(ref_batch_size)
        if args is None:
            raise ValueError("args (TrainingArguments) is required")
        if args.remove_unused_columns:
            args.remove_unused_columns = False  # our collator reads nested rows, not model-forward columns
        if not isinstance(train_dataset, ForgetRetainDataset):
            raise ValueError("train_dataset must be a ForgetRetainDataset")
        if data_collator is None:
            data_collator = ForgetRetainCollator(tokenizer, template=template, max_length=max_length)
        self._needs_ref_forward = self.method.needs_ref_model or not self.cache_reference_enabled
        # the reference model is a frozen copy of the *initial* model, made before the Trainer wraps anything
        ref_model = None
        if self._needs_ref_forward and not _is_peft(model):
            if _zero3_enabled():
                raise ValueError(f"method {self.method.name} keeps a reference model (KL term or cache_reference="
                                 "False), which is not supported under DeepSpeed ZeRO-3 (partitioned weights cannot "
                                 "be copied); use DDP, ZeRO-1/2 or LoRA (lora_r > 0)")
            ref_model = copy.deepcopy(model).eval().requires_grad_(False)
        cbs = [_ReferenceCacheCallback(self)] + list(callbacks or [])
        super().__init__(model=model, args=args, train_dataset=train_dataset, data_collator=data_collator,
                         processing_class=tokenizer, callbacks=cbs, **kwargs)
        # compute_loss returns a per-batch mean: the Trainer divides it by the accumulation steps
        self.loss_is_scaled_for_ga = False
        self.model_accepts_loss_kwargs = False
        self.ref_model = ref_model
        if self.ref_model is not None:
            if self.is_deepspeed_enabled:
                self.ref_model = _prepare_deepspeed_ref(self.ref_model, self.accelerator)
            else:
                self.ref_model = self.ref_model.to(self.args.device)
        self._loss_sums: dict[str, torch.Tensor] = {}
        self._loss_count = 0

    # ------------------------------------------------------------------------------------------ reference
    def _ref_context(self):
        """Context in which a reference forward runs: adapters disabled for a peft model, nothing otherwise."""
        if self.ref_model is None and _is_peft(self.model):
            return self.model.disable_adapter()
        return contextlib.nullcontext()

    def _ref_forward_model(self):
        return self.ref_model if self.ref_model is not None else self.model

    @property
    def holds_ref_model(self) -> bool:
        """True when a separate reference model is kept in memory."""
        return self.ref_model is not None

    def cache_reference(self, force: bool = False) -> bool:
        """Compute the dataset's ``forget_ref_logp`` (and ``idk_ref_logp``) columns with the current model, if the
        method needs them and they are missing (or ``force``). Returns True when it computed something.

        Called automatically at the start of training (the model is then still the initial model)."""
        ds: ForgetRetainDataset = self.train_dataset
        if not self.cache_reference_enabled:
            return False
        todo = []
        if self.method.needs_forget_ref and (force or ds.forget_ref_logp is None):
            todo.append(("forget_ref_logp", ds.forget))
        if self.method.needs_idk_ref and (force or ds.idk_ref_logp is None):
            todo.append(("idk_ref_logp", ds.idk_rows()))
        if not todo:
            return False
        t0 = time.perf_counter()
        model = self._ref_forward_model()
        with self._ref_context():
            for column, rows in todo:
                values = reference_logps(model, self.processing_class, rows, template=self.template,
                                         max_length=self.max_length, batch_size=self.ref_batch_size,
                                         context=self.autocast_smart_context_manager)
                setattr(ds, column, values)
        self.reference_seconds = time.perf_counter() - t0
        if self.args.should_save:
            out = Path(self.args.output_dir)
            out.mkdir(parents=True, exist_ok=True)
            RunRecorder(out).write_json(REFERENCE_FILE, {"forget_ref_logp": ds.forget_ref_logp,
                                                         "idk_ref_logp": ds.idk_ref_logp})
        return True

    # ---------------------------------------------------------------------------------------------- loss
    def _forward_logits(self, model, inputs, group: str):
        return model(input_ids=inputs[f"{group}_input_ids"], attention_mask=inputs[f"{group}_attention_mask"],
                     use_cache=False).logits

    @torch.no_grad()
    def _ref_logits(self, inputs, group: str):
        with self._ref_context():
            return self._forward_logits(self._ref_forward_model(), inputs, group)

    def method_inputs(self, model, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The ``(B,)`` inputs the method's terms need (keys of ``Method.needs()``), computed generically per group:
        ``<g>_n_tokens`` from the labels, ``<g>_ref_logp`` from the cached column (or a reference forward when not
        cached), ``<g>_logp`` / ``<g>_kl`` from one forward of the model on the group's sequences."""
        needs = self.method.needs()
        values: dict[str, torch.Tensor] = {}
        for group in GROUPS:
            wanted = {k[len(group) + 1:] for k in needs if k.startswith(group + "_")}
            if not wanted:
                continue
            if f"{group}_labels" not in inputs:
                raise ValueError(f"method {self.method.name} needs {group} data but the batch has no {group}_labels")
            labels = inputs[f"{group}_labels"]
            if "n_tokens" in wanted:
                values[f"{group}_n_tokens"] = token_count(labels)
            if "ref_logp" in wanted:
                cached = inputs.get(f"{group}_ref_logp")
                if cached is None:
                    if not self._needs_ref_forward:
                        raise ValueError(f"the batch has no cached {group}_ref_logp; call cache_reference() first")
                    cached = sequence_logprob(self._ref_logits(inputs, group), labels)
                values[f"{group}_ref_logp"] = cached.float()
            if wanted & {"logp", "kl"}:
                logits = self._forward_logits(model, inputs, group)
                if "logp" in wanted:
                    values[f"{group}_logp"] = sequence_logprob(logits, labels)
                if "kl" in wanted:
                    values[f"{group}_kl"] = kl_to_ref(logits, self._ref_logits(inputs, group), labels)
        return values

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        values = self.method_inputs(model, inputs)
        per_example, parts = self.method.loss(values, beta=self.beta, alpha=self.alpha, gamma=self.gamma)
        loss = per_example.mean()
        if model.training:
            with torch.no_grad():
                self._accumulate("loss", loss)
                for name, value in parts.items():
                    self._accumulate(f"loss_{name}", value.mean())
                self._loss_count += 1
        if return_outputs:
            return loss, {"per_example": per_example, **parts}
        return loss

    def _accumulate(self, key: str, value: torch.Tensor) -> None:
        v = value.detach().float()
        self._loss_sums[key] = self._loss_sums[key] + v if key in self._loss_sums else v

    def pop_train_losses(self) -> dict[str, float]:
        """Mean of each loss term over the micro-batches since the last call (this process only)."""
        if not self._loss_count:
            return {}
        out = {k: float(v.item()) / self._loss_count for k, v in self._loss_sums.items()}
        self._loss_sums, self._loss_count = {}, 0
        return out


def _prepare_deepspeed_ref(ref_model, accelerator):  # pragma: no cover - needs GPUs + deepspeed
    """Wrap a frozen reference model with DeepSpeed (inference only) using the training run's ZeRO settings,
    following the recipe of TRL's trainers. Not exercised by the CPU test-suite."""
    import deepspeed

    plugin = accelerator.state.deepspeed_plugin
    config = copy.deepcopy(plugin.deepspeed_config)
    stage = config.get("zero_optimization", {}).get("stage", 0)
    if stage != 3:
        config.setdefault("zero_optimization", {})["stage"] = 0
    config.pop("optimizer", None)
    config.pop("scheduler", None)
    engine, *_ = deepspeed.initialize(model=ref_model, config=config)
    engine.eval()
    return engine


# ----------------------------------------------------------------------------------------------------------------
# evaluation callback
# ----------------------------------------------------------------------------------------------------------------
def _column(log_part: Mapping, key: str) -> list:
    value = log_part.get(key, [])
    if isinstance(value, Mapping):
        return [value[k] for k in sorted(value, key=lambda s: int(s))]
    return list(value)


def _summarize(log: Mapping, retain_log=None) -> dict:
    """``metrics.summarize`` when the log has all four eval sets; the forget-side numbers when it has only some."""
    from .tofu import metrics as M

    if all(k in log for k in ("eval_log.json", "eval_real_author_wo_options.json",
                              "eval_real_world_wo_options.json", "eval_log_forget.json")):
        return M.summarize(log, retain_log)
    out: dict[str, Any] = {}
    if "eval_log_forget.json" in log:
        out = {"forget_quality": None if retain_log is None else M.forget_quality(log, retain_log),
               "forget_probability": M.forget_probability(log), "forget_truth_ratio": M.forget_truth_ratio(log),
               "forget_rouge": M.forget_rouge(log)}
    return out


class UnlearnEvalCallback(TrainerCallback):
    """Evaluates the model during unlearning and appends to the run record (main process only).

    When: at step 0 (``config.eval_at_start``, not on resume), every ``config.eval_every`` steps (or at each epoch's
    end when it is 0), and once more at the end if the last step was not evaluated. What: ``evaluate`` →
    ``summarize(log, retain_log)`` → one ``metrics.jsonl`` line (``step``, ``epoch``, the summary, the mean loss
    terms since the previous evaluation) + ``config.num_samples`` greedy answers on forget and retain questions.
    """

    def __init__(self, trainer: Unlearner, recorder: RunRecorder, config: UnlearnConfig, *, retain_log=None,
                 eval_source=None, forget_split: str = "forget10"):
        self.trainer = trainer
        self.recorder = recorder
        self.config = config
        self.retain_log = retain_log
        self.eval_source = eval_source
        self.forget_split = forget_split
        self.last_step: int | None = None
        self.n_evaluations = 0
        self.eval_seconds = 0.0
        self.history: list[dict] = []

    # -------------------------------------------------------------------------------------------- triggers
    def on_train_begin(self, args, state, control, **kwargs):
        if state.global_step > 0:  # resumed: evaluations up to this step are already in the record
            self.last_step = state.global_step
        elif self.config.eval_at_start and self.config.eval_every >= 0:
            self.run(state)

    def on_step_end(self, args, state, control, **kwargs):
        if self.config.eval_every > 0 and state.global_step % self.config.eval_every == 0:
            self.run(state)

    def on_epoch_end(self, args, state, control, **kwargs):
        if self.config.eval_every == 0:
            self.run(state)

    def on_train_end(self, args, state, control, **kwargs):
        if self.config.eval_every >= 0 and self.last_step != state.global_step:
            self.run(state)

    # ------------------------------------------------------------------------------------------ evaluation
    def run(self, state) -> dict | None:
        if self.last_step == state.global_step:
            return None
        self.last_step = state.global_step
        trainer = self.trainer
        losses = trainer.pop_train_losses()
        row = None
        if trainer.is_world_process_zero():
            t0 = time.perf_counter()
            row = self._evaluate(state, losses)
            self.eval_seconds += time.perf_counter() - t0
        trainer.accelerator.wait_for_everyone()
        self.n_evaluations += 1
        return row

    def _evaluate(self, state, losses: dict) -> dict:
        from .tofu.evaluate import evaluate
        from .tofu.metrics import save_eval_log

        cfg = self.config
        model = self.trainer.model
        was_training = model.training
        model.eval()
        try:
            # the Trainer's autocast (bf16/fp16 when training in mixed precision), so that evaluating an fp32
            # master copy on a GPU runs at the training precision's speed
            with self.trainer.autocast_smart_context_manager():
                log = evaluate(model, self.trainer.processing_class, source=self.eval_source,
                               forget_split=self.forget_split, template=cfg.template, max_rows=cfg.eval_max_rows,
                               batch_size=cfg.eval_batch_size, max_new_tokens=cfg.eval_max_new_tokens,
                               progress=not cfg.disable_tqdm,
                               splits=list(cfg.eval_splits) if cfg.eval_splits else None,
                               max_length=cfg.max_length)
        finally:
            model.train(was_training)
        summary = _summarize(log, self.retain_log if cfg.forget_quality else None)
        step = int(state.global_step)
        row = {"step": step, "epoch": float(state.epoch or 0.0), **summary, **losses}
        self.recorder.append_metrics(row)
        self.recorder.append_samples(self._samples(log, step))
        if cfg.save_eval_logs:
            path = self.recorder.path(f"eval_logs/step_{step:06d}.json")
            path.parent.mkdir(parents=True, exist_ok=True)
            save_eval_log(log, path)
        self.history.append(to_jsonable(row))
        return row

    def _samples(self, log: Mapping, step: int) -> list[dict]:
        out = []
        for split, key in (("forget", "eval_log_forget.json"), ("retain", "eval_log.json")):
            part = log.get(key)
            if not part:
                continue
            for triple in _column(part, "generated_text")[: self.config.num_samples]:
                q, gen, ans = (list(triple) + [None, None, None])[:3]
                out.append({"step": step, "split": split, "question": q, "generation": gen, "answer": ans})
        return out


# ----------------------------------------------------------------------------------------------------------------
# the high-level entry point
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class RunResult:
    """What :func:`unlearn` returns: the (unlearned) model, the record's location and contents."""

    output_dir: Path
    config: UnlearnConfig
    model: Any
    metrics: list[dict]
    summary: dict
    interrupted: bool = False
    trainer: Any = None

    def frame(self):
        """The run's evaluations as a DataFrame (:func:`npo_lab.runs.load_run`)."""
        from .runs import load_run

        return load_run(self.output_dir)


def _steps_per_epoch(n_forget: int, cfg: UnlearnConfig, world_size: int) -> int:
    batches = math.ceil(n_forget / (cfg.batch_size * max(1, world_size)))
    return max(1, math.ceil(batches / cfg.gradient_accumulation_steps))


def training_arguments(cfg: UnlearnConfig, n_forget: int, **overrides) -> TrainingArguments:
    """``TrainingArguments`` for a config (warm-up in steps from ``warmup_epochs``; checkpoints aligned with
    evaluations when ``save_every`` is 0 and ``eval_every`` > 0)."""
    if cfg.save_every < 0:
        save = {"save_strategy": "no"}
    elif cfg.save_every > 0:
        save = {"save_strategy": "steps", "save_steps": cfg.save_every}
    elif cfg.eval_every > 0:
        save = {"save_strategy": "steps", "save_steps": cfg.eval_every}
    else:
        save = {"save_strategy": "epoch"}
    kwargs = dict(
        output_dir=cfg.output_dir,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        lr_scheduler_type=cfg.lr_scheduler,
        optim=cfg.optim,
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=cfg.precision == "bf16",
        fp16=cfg.precision == "fp16",
        remove_unused_columns=False,
        report_to="none",
        disable_tqdm=cfg.disable_tqdm,
        logging_steps=cfg.logging_steps,
        save_total_limit=1,
        eval_strategy="no",
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,  # every method uses every trainable parameter (override if not)
        dataloader_pin_memory=torch.cuda.is_available(),
        **save,
    )
    if cfg.gradient_checkpointing:  # renamed activation_checkpointing in transformers 5
        names = {f.name for f in dataclasses.fields(TrainingArguments)}
        key = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
        kwargs[key] = True
        kwargs[key + "_kwargs"] = {"use_reentrant": False}
    if not torch.cuda.is_available() and (int(os.environ.get("WORLD_SIZE", "1")) > 1 or cfg.precision != "fp32"):
        # several processes without a GPU (accelerate launch --multi_gpu / torchrun on a CPU machine): only
        # use_cpu=True makes accelerate start gloo DDP (MULTI_CPU); otherwise every process trains alone.
        # Mixed precision without a GPU (CPU autocast) also needs use_cpu=True.
        kwargs["use_cpu"] = True
    kwargs.update(overrides)
    args = TrainingArguments(**kwargs)
    steps = _steps_per_epoch(n_forget, cfg, args.world_size)
    args.warmup_steps = int(round(cfg.warmup_epochs * steps))
    return args


def _apply_lora(model, cfg: UnlearnConfig):
    from peft import LoraConfig, get_peft_model

    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in cfg.lora_target_modules if t in present]
    if not targets:
        raise ValueError(f"lora_target_modules {list(cfg.lora_target_modules)} match no module of the model; "
                         f"some module names: {sorted(present)[:20]}")
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    if cfg.gradient_checkpointing and hasattr(model, "enable_input_require_grads"):
        model.enable_input_require_grads()
    return model


def _zero3_enabled() -> bool:
    try:
        from transformers.integrations import is_deepspeed_zero3_enabled
    except ImportError:  # pragma: no cover
        return False
    return bool(is_deepspeed_zero3_enabled())


def _zero3(trainer) -> bool:
    return bool(getattr(trainer, "is_deepspeed_enabled", False)) and _zero3_enabled()


def _load_retain_log(retain_log):
    if retain_log is None or isinstance(retain_log, Mapping):
        return retain_log
    from .tofu.metrics import load_eval_log

    p = Path(retain_log)
    if not p.exists():
        raise ValueError(f"retain_log {str(p)!r} does not exist")
    return load_eval_log(p)


def _versions() -> dict:
    import transformers

    import npo_lab

    return {"npo_lab": npo_lab.__version__, "torch": torch.__version__, "transformers": transformers.__version__}


def unlearn(model, tokenizer, forget_rows, retain_rows=None, config: UnlearnConfig | None = None, *,
            idk_answers: Sequence[str] | None = None, retain_log=None, eval_source=None,
            forget_split: str = "forget10", callbacks: Iterable[TrainerCallback] | None = None,
            resume: bool | str = False, training_overrides: Mapping | None = None) -> RunResult:
    """Unlearn ``forget_rows`` from ``model`` with ``config.method`` and write the run record.

    Args:
        model: a causal LM (the fine-tuned model). It is trained **in place** (or wrapped with LoRA if
            ``lora_r > 0``): pass ``copy.deepcopy(model)`` to keep the original, e.g. to compare several methods.
            On ``resume`` pass the same initial model again (the checkpoint's weights are loaded into it).
        tokenizer: its tokenizer (a missing pad token is set to EOS).
        forget_rows / retain_rows: rows with ``question`` and ``answer`` (``datasets.Dataset``, list of dicts or a
            DataFrame); ``retain_rows`` is required by the +RT/+KL methods and SimNPO.
        config: :class:`UnlearnConfig` (default: NPO+RT with the paper's hyper-parameters).
        idk_answers: "I don't know" answers for IDK/DPO methods (default: ``load_idk_answers(eval_source)``).
        retain_log: the retain model's TOFU eval log (dict or path) — the reference of forget quality; required
            when ``config.forget_quality`` and evaluation is on.
        eval_source, forget_split: where the eval splits come from and which forget split is evaluated
            (``npo_lab.tofu.evaluate.evaluate``).
        callbacks: extra ``TrainerCallback`` objects.
        resume: True resumes from the last checkpoint in ``config.output_dir`` (or give a checkpoint path).
        training_overrides: extra ``TrainingArguments`` keyword arguments.

    Returns a :class:`RunResult`. Ctrl-C (``KeyboardInterrupt``) stops training, keeps every completed evaluation
    and writes ``summary.json`` with ``status="interrupted"``; the returned result has ``interrupted=True``.
    Bad input raises ``ValueError`` before any training.
    """
    cfg = config or UnlearnConfig()
    method = get_method(cfg.method)
    forget = _rows(forget_rows, "forget_rows")
    if not forget:
        raise ValueError("forget_rows is empty: give at least one forget row (question, answer)")
    retain = _rows(retain_rows, "retain_rows")
    if method.needs_retain and not retain:
        raise ValueError(f"method {cfg.method} needs retain data (its terms read retain_*): give retain_rows")
    evaluating = cfg.eval_every >= 0  # -1: no evaluation at all
    if evaluating and cfg.forget_quality and retain_log is None:
        raise ValueError("retain_log is required to compute forget quality (the retain model's TOFU eval log); "
                         "pass retain_log=... or set UnlearnConfig(forget_quality=False)")
    retain_log = _load_retain_log(retain_log)
    if retain_log is not None and "eval_log_forget.json" not in retain_log:
        raise ValueError("retain_log must be a TOFU eval log with the key 'eval_log_forget.json'")
    if method.needs_idk:
        if idk_answers is None:
            from .tofu.data import load_idk_answers

            idk_answers = load_idk_answers(eval_source)
        idk_answers = [a for a in idk_answers if str(a).strip()]
        if not idk_answers:
            raise ValueError(f"method {cfg.method} needs 'I don't know' answers: idk_answers is empty")
    if evaluating:
        from .tofu.data import eval_split_for, load_tofu

        load_tofu(eval_split_for(forget_split), source=eval_source)  # fails early on a bad source / split
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token

    out = Path(cfg.output_dir)
    dataset = ForgetRetainDataset(forget, retain, idk_answers, seed=cfg.seed, with_retain=method.needs_retain,
                                  with_idk=method.needs_idk)
    args = training_arguments(cfg, len(forget), **dict(training_overrides or {}))

    resume_from = None
    if resume:
        from transformers.trainer_utils import get_last_checkpoint

        resume_from = str(resume) if isinstance(resume, (str, Path)) else get_last_checkpoint(str(out)) if out.is_dir() else None
        if resume_from is None:
            raise ValueError(f"resume=True but output_dir {str(out)!r} holds no checkpoint")
        ref_file = out / REFERENCE_FILE
        if ref_file.exists():
            cached = json.loads(ref_file.read_text(encoding="utf-8"))
            dataset.forget_ref_logp = cached.get("forget_ref_logp")
            dataset.idk_ref_logp = cached.get("idk_ref_logp")
        elif method.needs_forget_ref or method.needs_idk_ref:
            raise ValueError(f"cannot resume: {ref_file} (the cached reference log-probs) is missing")

    if cfg.lora_r > 0 and not _is_peft(model):
        model = _apply_lora(model, cfg)

    recorder = RunRecorder(out, enabled=args.process_index == 0)
    trainer = Unlearner(model, args, method=method, train_dataset=dataset, tokenizer=tokenizer, beta=cfg.beta,
                        alpha=cfg.alpha, gamma=cfg.gamma, template=cfg.template, max_length=cfg.max_length,
                        cache_reference=cfg.cache_reference, ref_batch_size=cfg.ref_batch_size)
    eval_cb = None
    if evaluating and _zero3(trainer):
        logger.warning("DeepSpeed ZeRO-3 shards the parameters: evaluation during training is turned off; "
                       "evaluate the saved model afterwards (npo-lab evaluate)")
        evaluating = False
    if evaluating:
        eval_cb = UnlearnEvalCallback(trainer, recorder, cfg, retain_log=retain_log, eval_source=eval_source,
                                      forget_split=forget_split)
        trainer.add_callback(eval_cb)
    for cb in callbacks or []:
        trainer.add_callback(cb)

    if resume_from is None:
        recorder.reset()
    else:
        state_file = Path(resume_from) / "trainer_state.json"
        step = json.loads(state_file.read_text())["global_step"] if state_file.exists() else 0
        recorder.truncate_after(int(step))
    recorder.write_config(cfg.to_dict())

    interrupted = False
    t0 = time.perf_counter()
    from transformers.utils import logging as hf_logging

    bars_were_on = hf_logging.is_progress_bar_enabled()
    if cfg.disable_tqdm:
        hf_logging.disable_progress_bar()
    try:
        trainer.train(resume_from_checkpoint=resume_from)
    except KeyboardInterrupt:
        interrupted = True
        logger.warning("unlearning interrupted at step %d; the completed evaluations are kept in %s",
                       trainer.state.global_step, out)
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
    train_seconds = time.perf_counter() - t0

    if not interrupted:
        if cfg.save_model:  # every process calls it (DeepSpeed gathers shards); the main one writes
            trainer.save_model(str(out / "model"))
            if args.should_save:
                tokenizer.save_pretrained(str(out / "model"))
        if not cfg.keep_checkpoints and args.should_save:
            for ckpt in out.glob("checkpoint-*"):
                shutil.rmtree(ckpt, ignore_errors=True)

    metrics = recorder.metrics() if recorder.enabled else (eval_cb.history if eval_cb else [])
    summary = {
        "status": "interrupted" if interrupted else "completed",
        "interrupted": interrupted,
        "method": cfg.method,
        "global_step": int(trainer.state.global_step),
        "max_steps": int(trainer.state.max_steps or 0),
        "epoch": float(trainer.state.epoch or 0.0),
        "n_forget": len(forget),
        "n_retain": len(retain),
        "world_size": int(args.world_size),
        "effective_batch_size": cfg.batch_size * cfg.gradient_accumulation_steps * int(args.world_size),
        "holds_ref_model": trainer.holds_ref_model,
        "n_evaluations": len(metrics),
        "final": metrics[-1] if metrics else None,
        "seconds": {
            "total": train_seconds,
            "reference_cache": getattr(trainer, "reference_seconds", None),
            "evaluation": eval_cb.eval_seconds if eval_cb else 0.0,
        },
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": _versions(),
    }
    recorder.write_summary(summary)
    trainer.accelerator.wait_for_everyone()
    return RunResult(output_dir=out, config=cfg, model=trainer.model, metrics=metrics, summary=summary,
                     interrupted=interrupted, trainer=trainer)


# ----------------------------------------------------------------------------------------------------------------
# CLI: npo-lab unlearn
# ----------------------------------------------------------------------------------------------------------------
_CLI_FIELDS = {  # option → config field
    "beta": "beta", "alpha": "alpha", "gamma": "gamma", "lr": "learning_rate", "epochs": "epochs",
    "max_steps": "max_steps", "batch_size": "batch_size", "grad_accum": "gradient_accumulation_steps",
    "warmup_epochs": "warmup_epochs", "weight_decay": "weight_decay", "seed": "seed", "eval_every": "eval_every",
    "eval_max_rows": "eval_max_rows", "eval_batch_size": "eval_batch_size", "precision": "precision",
    "lora_r": "lora_r", "lora_alpha": "lora_alpha", "lora_dropout": "lora_dropout", "template": "template",
    "max_length": "max_length", "save_every": "save_every", "num_samples": "num_samples",
    "eval_max_new_tokens": "eval_max_new_tokens", "logging_steps": "logging_steps",
}


def add_arguments(parser) -> None:
    """Options of ``npo-lab unlearn``."""
    h = UnlearnConfig.help()
    d = UnlearnConfig()
    parser.add_argument("--model", required=True, help="fine-tuned model: a local directory or a hub name")
    parser.add_argument("--data", default=None,
                        help="TOFU source: a directory of JSON-lines files, 'hub' or 'synthetic' "
                             "(default: $NPO_LAB_TOFU_DIR, else the bundled synthetic authors)")
    parser.add_argument("--forget", default="forget10", help="forget split (forget01 ... forget90)")
    parser.add_argument("--retain", default=None, help="retain split (default: the complement of --forget)")
    parser.add_argument("--method", default=d.method, choices=list(METHODS), help=h["method"])
    parser.add_argument("--out", required=True, help=h["output_dir"])
    parser.add_argument("--retain-log", default=None, help="the retain model's TOFU eval log (for forget quality)")
    parser.add_argument("--no-forget-quality", action="store_true", help="do not compute forget quality")
    parser.add_argument("--no-eval-at-start", action="store_true", help="skip the step-0 evaluation")
    parser.add_argument("--gradient-checkpointing", action="store_true", help=h["gradient_checkpointing"])
    parser.add_argument("--save-model", action="store_true", help=h["save_model"])
    parser.add_argument("--resume", action="store_true", help="resume from the last checkpoint in --out")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument("--trust-remote-code", action="store_true", help="allow model code from the hub")
    parser.add_argument("--tokenizer", default=None,
                        help="tokenizer name or path when the model repository has none (e.g. microsoft/phi-1_5 for "
                             "locuslab/tofu_ft_phi-1.5); default: --model")
    parser.add_argument("--lora-target-modules", default=None,
                        help="comma-separated module names LoRA adapts (default: "
                             + ",".join(d.lora_target_modules) + ")")
    types = {f.name: f.type for f in dataclasses.fields(UnlearnConfig)}
    for opt, name in _CLI_FIELDS.items():
        if opt in {"precision"}:
            parser.add_argument("--precision", default=d.precision, choices=PRECISIONS, help=h[name])
            continue
        if opt == "template":
            parser.add_argument("--template", default=None, help=h[name] + " (default: guessed from the model)")
            continue
        typ = {"float": float, "int": int}.get(str(types[name]), float if isinstance(getattr(d, name), float) else int)
        parser.add_argument("--" + opt.replace("_", "-"), dest=opt, type=typ, default=getattr(d, name),
                            help=f"{h[name]} (default: {getattr(d, name)})")


def run_cli(args) -> int:
    try:
        return _run_cli(args)
    except ValueError as e:  # bad input: a one-line message, no traceback
        import sys

        print(f"npo-lab unlearn: error: {e}", file=sys.stderr)
        return 2


def _run_cli(args) -> int:
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .tofu.data import guess_template, load_tofu, retain_split_for

    values = {name: getattr(args, opt) for opt, name in _CLI_FIELDS.items() if getattr(args, opt, None) is not None}
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer or args.model, trust_remote_code=args.trust_remote_code)
    if getattr(args, "lora_target_modules", None):
        values["lora_target_modules"] = tuple(m.strip() for m in args.lora_target_modules.split(",") if m.strip())
    if args.template is None:
        values["template"] = guess_template(args.model, tokenizer)
    cfg = UnlearnConfig(method=args.method, output_dir=args.out, forget_quality=not args.no_forget_quality,
                        eval_at_start=not args.no_eval_at_start, gradient_checkpointing=args.gradient_checkpointing,
                        save_model=args.save_model, disable_tqdm=args.no_progress, **values)
    # Full fine-tuning keeps fp32 master weights and lets the Trainer autocast to bf16/fp16 (pure bf16 AdamW at
    # lr 1e-5 rounds most updates away); with LoRA the frozen base may live in bf16.
    dtype = torch.bfloat16 if (cfg.precision == "bf16" and cfg.lora_r > 0) else torch.float32
    transformers.logging.set_verbosity_warning()
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=dtype, trust_remote_code=args.trust_remote_code)
    method = get_method(cfg.method)
    forget_rows = load_tofu(args.forget, source=args.data)
    retain_rows = None
    if method.needs_retain:
        retain_rows = load_tofu(args.retain or retain_split_for(args.forget), source=args.data)
    result = unlearn(model, tokenizer, forget_rows, retain_rows, cfg, retain_log=args.retain_log,
                     eval_source=args.data, forget_split=args.forget, resume=args.resume)
    if result.trainer.is_world_process_zero():
        final = result.summary.get("final") or {}
        shown = {k: final.get(k) for k in ("step", "forget_quality", "model_utility", "forget_probability") if k in final}
        print(f"{result.summary['status']}: {cfg.method} → {result.output_dir} {json.dumps(to_jsonable(shown))}")
    return 130 if result.interrupted else 0
