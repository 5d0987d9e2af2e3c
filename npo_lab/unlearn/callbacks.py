"""Trainer callbacks of unlearning: the reference cache, evaluation (with pluggable metrics), progress lines and
the record of checkpoints the run created.

Evaluation (:class:`UnlearnEvalCallback`, main process only) runs at step 0 (``eval_at_start``), every
``eval_every`` steps (or at each epoch's end when it is 0), every ``early_eval_every`` steps up to step
``early_eval_until`` (to time a collapse early in training) and once more at the end: the TOFU evaluation
(:func:`npo_lab.tofu.evaluate.evaluate` + :func:`npo_lab.tofu.metrics.summarize`: forget quality against the
retain model's eval log, model utility, forget probability, forget truth ratio), the mean training-loss terms
since the previous evaluation, and every extra metric of ``eval_metrics`` — ``{name: fn}`` with
``fn(model) -> float | dict[str, float]`` (a float lands as ``name``, a dict's keys land as they are) — all in
one row of ``metrics.jsonl``, plus a few greedy answers in ``samples.jsonl``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from transformers import TrainerCallback

from ..runs import RunRecorder, to_jsonable

__all__ = [
    "ReferenceCacheCallback",
    "UnlearnEvalCallback",
    "ProgressLogCallback",
    "CheckpointRecordCallback",
    "EvalMetric",
]

logger = logging.getLogger("npo_lab.unlearn")

#: an extra per-evaluation metric: the model (eval mode, no grad) -> a number or named numbers
EvalMetric = Callable[[Any], "float | Mapping[str, float]"]


class ReferenceCacheCallback(TrainerCallback):
    """Fills the dataset's reference columns at ``on_train_begin`` — after the model is placed or wrapped, before
    the first step — unless they are already there (loaded from the record on resume)."""

    def __init__(self, trainer):
        self.trainer = trainer

    def on_train_begin(self, args, state, control, **kwargs):
        if self.trainer.cache_reference():
            logger.info("reference log-probs cached (%.1f s)", self.trainer.reference_seconds)


class CheckpointRecordCallback(TrainerCallback):
    """Adds every checkpoint the Trainer writes to the record's manifest, so that only checkpoints of this run
    are ever removed (:meth:`npo_lab.runs.RunRecorder.claim`)."""

    def __init__(self, recorder: RunRecorder):
        self.recorder = recorder

    def on_save(self, args, state, control, **kwargs):
        self.recorder.claim(f"checkpoint-{state.global_step}")


class ProgressLogCallback(TrainerCallback):
    """A log line at most every ``every_s`` seconds (step, epoch, elapsed time), for logs that are not a terminal."""

    def __init__(self, every_s: float):
        self.every_s = float(every_s)
        self._t0 = self._last = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self._t0 = self._last = time.perf_counter()
        if state.is_world_process_zero:
            logger.info("training: %d steps (from step %d)", state.max_steps, state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        now = time.perf_counter()
        if state.is_world_process_zero and now - self._last >= self.every_s:
            self._last = now
            logger.info(
                "step %d/%d (epoch %.2f, %.0f s)",
                state.global_step,
                state.max_steps,
                state.epoch or 0.0,
                now - self._t0,
            )


def _column(log_part: Mapping, key: str) -> list:
    value = log_part.get(key, [])
    if isinstance(value, Mapping):
        return [value[k] for k in sorted(value, key=lambda s: int(s))]
    return list(value)


_TOFU_KEYS = (
    "eval_log.json",
    "eval_real_author_wo_options.json",
    "eval_real_world_wo_options.json",
    "eval_log_forget.json",
)


def _summarize(log: Mapping, retain_log=None) -> dict:
    """``metrics.summarize`` when the log has all four eval sets; the forget-side numbers when it has only some."""
    from ..tofu import metrics as M

    if all(k in log for k in _TOFU_KEYS):
        return M.summarize(log, retain_log)
    if "eval_log_forget.json" not in log:
        return {}
    return {
        "forget_quality": None if retain_log is None else M.forget_quality(log, retain_log),
        "forget_probability": M.forget_probability(log),
        "forget_truth_ratio": M.forget_truth_ratio(log),
        "forget_rouge": M.forget_rouge(log),
    }


class UnlearnEvalCallback(TrainerCallback):
    """Evaluates the model during unlearning and appends a row to the run record (see the module docstring)."""

    def __init__(
        self,
        trainer,
        recorder: RunRecorder,
        config,
        *,
        retain_log=None,
        eval_source=None,
        forget_split: str = "forget10",
        eval_metrics: Mapping[str, EvalMetric] | None = None,
    ):
        self.trainer = trainer
        self.recorder = recorder
        self.config = config
        self.retain_log = retain_log
        self.eval_source = eval_source
        self.forget_split = forget_split
        self.eval_metrics = dict(eval_metrics or {})
        self.last_step: int | None = None
        self.eval_seconds = 0.0
        self.history: list[dict] = []

    # -------------------------------------------------------------------------------------------- triggers
    def on_train_begin(self, args, state, control, **kwargs):
        if state.global_step > 0:  # resumed: evaluations up to this step are already in the record
            self.last_step = state.global_step
        elif self.config.eval_at_start:
            self.run(state)

    def on_step_end(self, args, state, control, **kwargs):
        step, cfg = state.global_step, self.config
        early = cfg.early_eval_every > 0 and step <= cfg.early_eval_until and step % cfg.early_eval_every == 0
        if early or (cfg.eval_every > 0 and step % cfg.eval_every == 0):
            self.run(state)

    def on_epoch_end(self, args, state, control, **kwargs):
        if self.config.eval_every == 0:
            self.run(state)

    def on_train_end(self, args, state, control, **kwargs):
        self.run(state)

    # ------------------------------------------------------------------------------------------ evaluation
    def run(self, state) -> dict | None:
        """Evaluate at ``state.global_step`` unless already done; every process takes part in the barrier."""
        if self.last_step == state.global_step:
            return None
        self.last_step = state.global_step
        losses = self.trainer.pop_train_losses()
        row = None
        if self.trainer.is_world_process_zero():
            t0 = time.perf_counter()
            logger.info("evaluating at step %d", state.global_step)
            row = self._evaluate(state, losses)
            self.eval_seconds += time.perf_counter() - t0
        self.trainer.accelerator.wait_for_everyone()
        return row

    def _evaluate(self, state, losses: dict) -> dict:
        model = self.trainer.model
        was_training = model.training
        model.eval()
        try:
            # the Trainer's autocast (bf16/fp16 in mixed precision), so evaluation runs at the training precision
            with self.trainer.autocast_smart_context_manager():
                log = self._tofu_log(model)
                extra = self._extra_metrics(model)
        finally:
            model.train(was_training)
        step = int(state.global_step)
        row = {
            "step": step,
            "epoch": float(state.epoch or 0.0),
            **_summarize(log, self.retain_log if self.config.forget_quality else None),
            **extra,
            **losses,
        }
        self.recorder.append_metrics(row)
        self.recorder.append_samples(self._samples(log, step))
        if self.config.save_eval_logs:
            from ..tofu.logs import save_eval_log

            save_eval_log(log, self.recorder.path(f"eval_logs/step_{step:06d}.json"))
        self.history.append(to_jsonable(row))
        return row

    def _tofu_log(self, model) -> dict:
        from ..tofu.evaluate import evaluate

        cfg = self.config
        return evaluate(
            model,
            self.trainer.processing_class,
            source=self.eval_source,
            forget_split=self.forget_split,
            template=cfg.template,
            max_rows=cfg.eval_max_rows,
            batch_size=cfg.eval_batch_size,
            max_new_tokens=cfg.eval_max_new_tokens,
            progress=not cfg.disable_tqdm,
            splits=list(cfg.eval_splits) if cfg.eval_splits else None,
            max_length=cfg.max_length,
        )

    def _extra_metrics(self, model) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, fn in self.eval_metrics.items():
            with torch.no_grad():
                value = fn(model)
            if isinstance(value, Mapping):
                out.update({str(k): float(v) for k, v in value.items()})
            else:
                out[name] = float(value)
        return out

    def _samples(self, log: Mapping, step: int) -> list[dict]:
        out = []
        for split, key in (("forget", "eval_log_forget.json"), ("retain", "eval_log.json")):
            for triple in _column(log.get(key) or {}, "generated_text")[: self.config.num_samples]:
                q, gen, ans = (list(triple) + [None, None, None])[:3]
                out.append({"step": step, "split": split, "question": q, "generation": gen, "answer": ans})
        return out
