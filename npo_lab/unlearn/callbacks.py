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

Probes (:class:`ProbeCallback`) are the cheap per-step record beside it: the answer probabilities of fixed forget,
retain and general rows and NPO's per-example weight W after every optimiser step, in ``probes.jsonl``
(:mod:`npo_lab.unlearn.probes`), with the collapse and matched-forgetting steps marked; a full evaluation runs
at each marked step when evaluation is on.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from transformers import TrainerCallback

from ..losses import BETA
from ..runs import RunRecorder, to_jsonable
from .record import RunPlan
from .schedule import is_eval_step

__all__ = [
    "ReferenceCacheCallback",
    "UnlearnEvalCallback",
    "ProgressLogCallback",
    "CheckpointRecordCallback",
    "ProbeCallback",
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
        plan: RunPlan,
        *,
        eval_metrics: Mapping[str, EvalMetric] | None = None,
    ):
        self.trainer = trainer
        self.recorder = recorder
        self.plan = plan
        self.config = plan.config
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
        if is_eval_step(self.config, state.global_step):
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
        from ..scoring import eval_mode

        model = self.trainer.model
        # the Trainer's autocast (bf16/fp16 in mixed precision), so evaluation runs at the training precision
        with eval_mode(model), self.trainer.autocast_smart_context_manager():
            log = self._tofu_log(model)
            extra = self._extra_metrics(model)
        step = int(state.global_step)
        row = {
            "step": step,
            "epoch": float(state.epoch or 0.0),
            **_summarize(log, self.plan.retain_log if self.config.forget_quality else None),
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
            source=self.plan.eval_source,
            forget_split=self.plan.forget_split,
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


class ProbeCallback(TrainerCallback):
    """Probes the model at step 0 and after every ``every``-th optimiser step (:mod:`npo_lab.unlearn.probes`).

    Each probe is a row of ``probes.jsonl`` in the run record: ``step``, ``epoch``, the probe values of
    :meth:`ProbeScorer.row <npo_lab.unlearn.probes.ProbeScorer.row>` and ``marks`` (the names of the steps
    marked at this step: ``collapse``, ``matched_forgetting``). ``ref_logp`` of W is the forget rows' log-prob
    at step 0 (the initial model, π_ref).

    Args:
        scorer: the rows to probe (:class:`~npo_lab.unlearn.probes.ProbeScorer`).
        beta: β of W (default: the trainer's β).
        forget_target: the retain model's forget probability (marks matched forgetting; None: not marked).
        utility_start: the fine-tuned model's utility proxy (default: the step-0 probe's).
        collapse_fraction: collapse = utility proxy below this fraction of ``utility_start``.
        every: probe every N optimiser steps.
        stop_after_marks: stop training once both steps are marked.
        evaluate_at_marks: run the full evaluation at a marked step (when the run evaluates).

    :func:`npo_lab.unlearn.unlearn` binds it to the run (:meth:`bind_run`); without a run it keeps the rows in
    :attr:`rows` only. The probe's time is in :attr:`seconds` (no wall-clock value enters the record).
    """

    def __init__(
        self,
        scorer,
        *,
        beta: float | None = None,
        forget_target: float | None = None,
        utility_start: float | None = None,
        collapse_fraction: float = 0.5,
        every: int = 1,
        stop_after_marks: bool = False,
        evaluate_at_marks: bool = True,
    ):
        from .probes import ProbeMarks

        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"every must be an integer >= 1, got {every!r}")
        self.scorer, self.beta, self.every = scorer, beta, every
        self._marks_args = (utility_start, forget_target, collapse_fraction)
        self.marks = ProbeMarks(*self._marks_args)
        self.stop_after_marks, self.evaluate_at_marks = bool(stop_after_marks), bool(evaluate_at_marks)
        self.trainer = self.recorder = self.eval_cb = None
        self.ref_logp: torch.Tensor | None = None
        self.rows: list[dict] = []
        self.seconds, self.n_probes = 0.0, 0

    def bind_run(self, trainer, recorder: RunRecorder | None, eval_cb=None) -> None:
        """Attach the run's trainer (model, autocast, β), record and evaluation callback."""
        self.trainer, self.recorder, self.eval_cb = trainer, recorder, eval_cb
        if self.beta is None:
            self.beta = getattr(trainer, "hyper", {}).get("beta")

    def _model(self, kwargs):
        return self.trainer.model if self.trainer is not None else kwargs["model"]

    def _writes(self) -> bool:
        return self.recorder is not None and self.recorder.enabled

    def on_train_begin(self, args, state, control, **kwargs):
        from ..files import write_text
        from ..runs import read_jsonl
        from .probes import PROBES_FILE, ProbeMarks

        if state.global_step > 0 and self._writes():  # resumed: keep the probes up to the checkpoint
            path = self.recorder.path(PROBES_FILE)
            kept = [r for r in read_jsonl(path) if int(r.get("step", 0)) <= state.global_step]
            if not kept or kept[0].get("step") != 0:
                raise ValueError(f"cannot resume the probes: {path} has no step-0 probe")
            self.recorder.claim(PROBES_FILE)
            write_text(path, "".join(json.dumps(r, allow_nan=False) + "\n" for r in kept))
            self.ref_logp = torch.tensor(kept[0]["forget_logp_rows"])
            self.rows = kept
            for r in kept:
                self.marks.update(r["step"], r)
            return
        if self._writes() and PROBES_FILE in self.recorder.claimed:  # a fresh start of this run
            self.recorder.path(PROBES_FILE).unlink(missing_ok=True)
        self.ref_logp, self.rows, self.marks = None, [], ProbeMarks(*self._marks_args)
        self._probe(state, self._model(kwargs))

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step % self.every:
            return
        marked = self._probe(state, self._model(kwargs))
        if marked and self.evaluate_at_marks and self.eval_cb is not None:
            self.eval_cb.run(state)
        if self.stop_after_marks and self.marks.complete:
            control.should_training_stop = True

    def _probe(self, state, model) -> list[str]:
        t0 = time.perf_counter()
        context = self.trainer.autocast_smart_context_manager if self.trainer is not None else None
        logp = self.scorer.logp(model, context)
        if self.ref_logp is None:
            self.ref_logp = logp[self.scorer.slices["forget"]].clone()
        beta = self.beta if self.beta is not None else BETA  # GA's run: β only sets the W recorded beside it
        row = {"step": int(state.global_step), "epoch": float(state.epoch or 0.0)}
        row.update(self.scorer.row(logp, ref_logp=self.ref_logp, beta=beta))
        marked = self.marks.update(row["step"], row)
        row["marks"] = marked
        self.rows.append(to_jsonable(row))
        if self._writes():
            from .probes import PROBES_FILE

            self.recorder._append(PROBES_FILE, [row])
        self.seconds += time.perf_counter() - t0
        self.n_probes += 1
        return marked
