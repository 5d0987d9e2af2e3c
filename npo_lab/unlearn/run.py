"""``unlearn()``: one unlearning run, from rows and a model to a run record — prepare → train → finalise.

* **prepare** checks everything cheap first (config, rows, retain log, eval source, the output directory and, on
  resume, that the record is the same experiment — :func:`check_run`), then builds the dataset, the
  ``TrainingArguments``, the :class:`~npo_lab.unlearn.trainer.Unlearner` and its callbacks;
* **train** runs the Trainer; Ctrl-C stops it and keeps every completed evaluation;
* **finalise** saves the model if asked, removes this run's checkpoints, writes ``summary.json``.

The run record is described in :mod:`npo_lab.runs`. Several GPUs: the same through the command line,
``accelerate launch --config_file npo_lab/gpu/accelerate/ddp.yaml -m npo_lab.cli unlearn ...``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback, TrainingArguments

from ..errors import read_json_file
from ..losses import get_method
from ..progress import no_hf_widget_bars, trainer_progress
from ..runs import RunRecorder, clear_run, load_config
from ..runtime import library_bars, quiet_trainer
from .callbacks import CheckpointRecordCallback, EvalMetric, ProgressLogCallback, UnlearnEvalCallback
from .config import UnlearnConfig
from .data import ForgetRetainDataset
from .models import apply_lora, is_peft, zero3_enabled
from .record import REFERENCE_FILE, RunPlan, check_run, sha256_json
from .schedule import steps_per_epoch
from .trainer import Unlearner

__all__ = ["RunResult", "training_arguments", "unlearn", "check_run", "RunPlan"]

logger = logging.getLogger("npo_lab.unlearn")


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
        from ..runs import load_run

        return load_run(self.output_dir)


def training_arguments(cfg: UnlearnConfig, n_forget: int, **overrides) -> TrainingArguments:
    """``TrainingArguments`` for a config (warm-up in steps from ``warmup_epochs``; checkpoints aligned with
    evaluations when ``save_every`` is 0 and ``eval_every`` > 0)."""
    if cfg.save_every < 0:
        save = {"save_strategy": "no"}
    elif cfg.save_every > 0 or cfg.eval_every > 0:
        save = {"save_strategy": "steps", "save_steps": cfg.save_every or cfg.eval_every}
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
        # use_cpu=True makes accelerate start gloo DDP; CPU autocast for bf16/fp16 needs it as well
        kwargs["use_cpu"] = True
    kwargs.update(overrides)
    args = TrainingArguments(**kwargs)
    args.warmup_steps = int(round(cfg.warmup_epochs * steps_per_epoch(cfg, n_forget, args.world_size)))
    return args


# ----------------------------------------------------------------------------------------------------------------
# prepare
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class _Run:
    plan: RunPlan
    trainer: Unlearner
    recorder: RunRecorder
    eval_cb: UnlearnEvalCallback | None
    resume_from: str | None


def _resume_checkpoint(plan: RunPlan, resume) -> str | None:
    if plan.mode != "resume":
        return None
    if isinstance(resume, (str, Path)):
        return str(resume)
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(plan.output_dir))
    if last is None:
        raise ValueError(f"resume=True but output_dir {str(plan.output_dir)!r} holds no checkpoint")
    return last


def _load_reference(plan: RunPlan, dataset: ForgetRetainDataset) -> None:
    """On resume: the cached reference log-probs of the record, checked against the hash in its config."""
    path = plan.output_dir / REFERENCE_FILE
    method = get_method(plan.config.method)
    if not path.exists():
        if method.needs_forget_ref or method.needs_idk_ref:
            raise ValueError(f"cannot resume: {path} (the cached reference log-probs) is missing")
        return
    cached = read_json_file(path, what="reference log-probs")
    saved = load_config(plan.output_dir).get("experiment", {}).get("reference_logps_sha256")
    if saved is not None and sha256_json(cached) != saved:
        raise ValueError(
            f"cannot resume: {path} does not match the run record (its hash differs from "
            "config.json's reference_logps_sha256)"
        )
    dataset.forget_ref_logp = cached.get("forget_ref_logp")
    dataset.idk_ref_logp = cached.get("idk_ref_logp")
    plan.experiment["reference_logps_sha256"] = saved


def _reference_saver(plan: RunPlan, recorder: RunRecorder):
    def save(ds: ForgetRetainDataset) -> None:
        cached = {"forget_ref_logp": ds.forget_ref_logp, "idk_ref_logp": ds.idk_ref_logp}
        recorder.write_json(REFERENCE_FILE, cached)
        plan.experiment["reference_logps_sha256"] = sha256_json(cached)
        recorder.write_config({**plan.config.to_dict(), "experiment": plan.experiment})

    return save


def _add_callbacks(trainer: Unlearner, plan: RunPlan, recorder: RunRecorder, callbacks, eval_metrics):
    cfg = plan.config
    trainer.add_callback(CheckpointRecordCallback(recorder))
    eval_cb = None
    if plan.evaluating and getattr(trainer, "is_deepspeed_enabled", False) and zero3_enabled():
        logger.warning(
            "DeepSpeed ZeRO-3 shards the parameters: evaluation during training is turned off; "
            "evaluate the saved model afterwards (npo-lab evaluate)"
        )
    elif plan.evaluating:
        eval_cb = UnlearnEvalCallback(trainer, recorder, plan, eval_metrics=eval_metrics)
        trainer.add_callback(eval_cb)
    if cfg.progress_every_s > 0:  # one line per few seconds (quiet_trainer removed the per-log-step dicts)
        trainer.add_callback(ProgressLogCallback(cfg.progress_every_s))
    for cb in callbacks or []:
        if callable(getattr(cb, "bind_run", None)):  # e.g. ProbeCallback: it writes into this run's record
            cb.bind_run(trainer, recorder, eval_cb)
        trainer.add_callback(cb)
    return eval_cb


def _given_reference(dataset: ForgetRetainDataset, reference_logps: Mapping) -> None:
    """Reference log-probs computed by the caller (e.g. by a metric that needs them anyway), checked and set."""
    keys = ("forget_ref_logp", "idk_ref_logp")  # one value per forget row (an IDK answer pairs with each)
    for key, values in dict(reference_logps).items():
        if key not in keys:
            raise ValueError(f"reference_logps keys must be among {', '.join(keys)}; got {key!r}")
        values = [float(v) for v in values]
        if len(values) != len(dataset.forget) or not all(math.isfinite(v) for v in values):
            raise ValueError(f"reference_logps[{key!r}] must hold {len(dataset.forget)} finite numbers, one per row")
        setattr(dataset, key, values)


def prepare(
    model, tokenizer, plan: RunPlan, *, resume, callbacks, eval_metrics, training_overrides, reference_logps=None
) -> _Run:
    """Dataset, arguments, LoRA, trainer, callbacks and the start of the record, for a checked plan."""
    cfg = plan.config
    method = get_method(cfg.method)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    dataset = ForgetRetainDataset(
        plan.forget,
        plan.retain,
        plan.idk_answers,
        seed=cfg.seed,
        with_retain=method.needs_retain,
        with_idk=method.needs_idk,
    )
    args = training_arguments(cfg, len(plan.forget), **dict(training_overrides or {}))
    resume_from = _resume_checkpoint(plan, resume)
    if resume_from is not None:
        _load_reference(plan, dataset)
    elif reference_logps:
        _given_reference(dataset, reference_logps)
    if cfg.lora_r > 0 and not is_peft(model):
        model = apply_lora(model, cfg)
    main = args.process_index == 0
    if plan.mode == "overwrite" and main:
        logger.info(
            "overwrite: removing %s from %s", ", ".join(clear_run(plan.output_dir)) or "nothing", plan.output_dir
        )
    recorder = RunRecorder(plan.output_dir, enabled=main)
    trainer = Unlearner.from_config(
        model,
        args,
        cfg,
        train_dataset=dataset,
        tokenizer=tokenizer,
        on_reference_cached=_reference_saver(plan, recorder),
    )
    trainer_progress(quiet_trainer(trainer, progress=not cfg.disable_tqdm))  # notebooks: no bar left behind
    eval_cb = _add_callbacks(trainer, plan, recorder, callbacks, eval_metrics)
    if resume_from is None:
        recorder.reset()
    else:
        state = Path(resume_from) / "trainer_state.json"
        step = read_json_file(state, what="trainer state")["global_step"] if state.exists() else 0
        recorder.truncate_after(int(step))
    recorder.write_config({**cfg.to_dict(), "experiment": plan.experiment})
    if resume_from is None and reference_logps:
        trainer.on_reference_cached(dataset)  # recorded as if computed here, so the run can be resumed
    return _Run(plan, trainer, recorder, eval_cb, resume_from)


# ----------------------------------------------------------------------------------------------------------------
# train and finalise
# ----------------------------------------------------------------------------------------------------------------
def train(run: _Run) -> tuple[bool, float]:
    """Run the Trainer; returns (interrupted, seconds). Ctrl-C keeps the evaluations done so far."""
    t0 = time.perf_counter()
    try:
        with library_bars(not run.plan.config.disable_tqdm), no_hf_widget_bars():
            run.trainer.train(resume_from_checkpoint=run.resume_from)
        return False, time.perf_counter() - t0
    except KeyboardInterrupt:
        logger.warning(
            "unlearning interrupted at step %d; the completed evaluations are kept in %s",
            run.trainer.state.global_step,
            run.plan.output_dir,
        )
        return True, time.perf_counter() - t0


def _versions() -> dict:
    import transformers

    import npo_lab

    return {"npo_lab": npo_lab.__version__, "torch": torch.__version__, "transformers": transformers.__version__}


def _save_and_clean(run: _Run) -> None:
    """The final model (if asked) and removal of this run's checkpoints (unless kept) after a completed run."""
    cfg, trainer, recorder, out = run.plan.config, run.trainer, run.recorder, run.plan.output_dir
    if cfg.save_model:  # every process calls it (DeepSpeed gathers shards); the main one writes
        recorder.claim("model")
        with no_hf_widget_bars():
            trainer.save_model(str(out / "model"))
        if trainer.args.should_save:
            trainer.processing_class.save_pretrained(str(out / "model"))
    if not cfg.keep_checkpoints and trainer.args.should_save:
        for name in [n for n in recorder.claimed if n.startswith("checkpoint-")]:
            if (out / name).is_dir():
                shutil.rmtree(out / name, ignore_errors=True)


def _summary(run: _Run, interrupted: bool, seconds: float, metrics: list[dict]) -> dict:
    """The content of ``summary.json`` (see :mod:`npo_lab.runs`)."""
    cfg, trainer, state = run.plan.config, run.trainer, run.trainer.state
    world = int(trainer.args.world_size)
    return {
        "status": "interrupted" if interrupted else "completed",
        "interrupted": interrupted,
        "method": cfg.method,
        "global_step": int(state.global_step),
        "max_steps": int(state.max_steps or 0),
        "epoch": float(state.epoch or 0.0),
        "n_forget": len(run.plan.forget),
        "n_retain": len(run.plan.retain),
        "world_size": world,
        "effective_batch_size": cfg.batch_size * cfg.gradient_accumulation_steps * world,
        "holds_ref_model": trainer.holds_ref_model,
        "n_evaluations": len(metrics),
        "final": metrics[-1] if metrics else None,
        "seconds": {
            "total": seconds,
            "reference_cache": trainer.reference_seconds,
            "evaluation": run.eval_cb.eval_seconds if run.eval_cb else 0.0,
        },
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": _versions(),
    }


def finalise(run: _Run, interrupted: bool, seconds: float) -> RunResult:
    """Save the model (if asked), remove this run's checkpoints (unless kept), write ``summary.json``."""
    if not interrupted:
        _save_and_clean(run)
    recorder, trainer = run.recorder, run.trainer
    metrics = recorder.metrics() if recorder.enabled else (run.eval_cb.history if run.eval_cb else [])
    summary = _summary(run, interrupted, seconds, metrics)
    recorder.write_summary(summary)
    trainer.accelerator.wait_for_everyone()
    logger.info(
        "%s: %s after %d steps -> %s",
        summary["status"],
        run.plan.config.method,
        summary["global_step"],
        run.plan.output_dir,
    )
    return RunResult(run.plan.output_dir, run.plan.config, trainer.model, metrics, summary, interrupted, trainer)


def unlearn(
    model,
    tokenizer,
    forget_rows=None,
    retain_rows=None,
    config: UnlearnConfig | None = None,
    *,
    idk_answers: Sequence[str] | None = None,
    retain_log=None,
    eval_source=None,
    forget_split: str = "forget10",
    callbacks: Iterable[TrainerCallback] | None = None,
    eval_metrics: Mapping[str, EvalMetric] | None = None,
    resume: bool | str = False,
    overwrite: bool = False,
    training_overrides: Mapping | None = None,
    reference_logps: Mapping[str, Sequence[float]] | None = None,
    plan: RunPlan | None = None,
) -> RunResult:
    """Unlearn ``forget_rows`` from ``model`` with ``config.method`` and write the run record.

    Args:
        model: a causal LM (the fine-tuned model). It is trained **in place** (or wrapped with LoRA if
            ``lora_r > 0``): pass ``copy.deepcopy(model)`` to keep the original. On ``resume`` pass the same
            initial model again (the checkpoint's weights are loaded into it).
        tokenizer: its tokenizer (a missing pad token is set to EOS).
        forget_rows / retain_rows: rows with ``question`` and ``answer`` (``datasets.Dataset``, list of dicts or a
            DataFrame); ``retain_rows`` is required by the +RT/+KL methods and SimNPO.
        config: :class:`UnlearnConfig` (default: NPO+RT with the paper's hyper-parameters).
        idk_answers: "I don't know" answers for IDK/DPO methods (default: ``load_idk_answers(eval_source)``).
        retain_log: the retain model's TOFU eval log (dict or path), the reference of forget quality; required
            when ``config.forget_quality`` and evaluation is on.
        eval_source, forget_split: where the eval splits come from and which forget split is evaluated.
        callbacks: extra ``TrainerCallback`` objects; one with a ``bind_run(trainer, recorder, eval_callback)``
            method is bound to the run first (:class:`~npo_lab.unlearn.callbacks.ProbeCallback`: per-step probes).
        eval_metrics: extra per-evaluation metrics ``{name: fn(model) -> float | dict}``, written into each
            evaluation's row of ``metrics.jsonl`` (e.g. ``{"forget_kl": ...}``).
        resume: True resumes from the last checkpoint in ``config.output_dir`` (or give a checkpoint path); the
            record must be the same experiment (same model, data, split, method and hyper-parameters).
        overwrite: replace an earlier npo_lab run in ``config.output_dir`` (only the entries it created).
        training_overrides: extra ``TrainingArguments`` keyword arguments.
        reference_logps: the reference log-probs, already computed: ``{"forget_ref_logp": [...]}`` (one summed
            answer log-prob per forget row, in their order, under the initial model) and, for the IDK methods,
            ``"idk_ref_logp"``; then the run does not compute them again (they are still recorded for resume).
        plan: a :class:`~npo_lab.unlearn.record.RunPlan` from :func:`check_run` (the command line checks before
            loading the model); then the run uses it as it is, and the data arguments and ``config`` stay unset.

    Returns a :class:`RunResult`; Ctrl-C stops training, keeps every completed evaluation, writes ``summary.json``
    with ``status="interrupted"`` and returns ``interrupted=True``. Bad input raises ``ValueError`` (a
    :class:`~npo_lab.errors.UsageError` for settings and directories) before any training.
    """
    if plan is None:
        plan = check_run(
            config if config is not None else UnlearnConfig(),
            model_name=getattr(getattr(model, "config", None), "name_or_path", "") or "",
            forget_rows=forget_rows,
            retain_rows=retain_rows,
            idk_answers=idk_answers,
            retain_log=retain_log,
            eval_source=eval_source,
            forget_split=forget_split,
            resume=bool(resume),
            overwrite=overwrite,
        )
    elif not isinstance(plan, RunPlan):
        raise ValueError(f"plan must be a RunPlan from check_run, got {type(plan).__name__}")
    elif any(x is not None for x in (forget_rows, retain_rows, config, idk_answers, retain_log, eval_source)):
        raise ValueError("give either plan (checked data and config) or the data and config, not both")
    run = prepare(
        model,
        tokenizer,
        plan,
        resume=resume,
        callbacks=callbacks,
        eval_metrics=eval_metrics,
        training_overrides=training_overrides,
        reference_logps=reference_logps,
    )
    interrupted, seconds = train(run)
    return finalise(run, interrupted, seconds)
