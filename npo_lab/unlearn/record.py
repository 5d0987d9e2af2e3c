"""What a run is, checked before any model is loaded: its inputs, its output directory and, on resume, that the
record there is the same experiment.

The identity of an experiment (stored as ``config.json``'s ``"experiment"`` section, see :mod:`npo_lab.runs`) is
the model's name, the data source, the forget split, SHA-256 hashes of the forget rows, retain rows and "I don't
know" answers (and, once computed, of the cached reference log-probs), together with every config field except
:data:`~npo_lab.unlearn.config.RESUMABLE_FIELDS`. Resuming with any of them changed would mix two experiments in
one record (e.g. reuse forget10's reference log-probs for forget01's rows), so :func:`check_run` refuses and
names what differs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..losses import get_method
from ..runs import CONFIG_FILE, REFERENCE_FILE, check_output_dir, load_config, to_jsonable
from .config import UnlearnConfig
from .data import qa_rows

__all__ = ["RunPlan", "check_run", "experiment_identity", "check_resume", "sha256_json", "REFERENCE_FILE"]


def sha256_json(obj: Any) -> str:
    """SHA-256 of the canonical JSON text of ``obj`` (sorted keys, no spaces)."""
    text = json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _source(eval_source) -> str | None:
    if eval_source is None:
        return None
    p = Path(eval_source)
    return str(p.resolve()) if p.exists() else str(eval_source)


def experiment_identity(plan: RunPlan, model_name: str) -> dict:
    """The ``"experiment"`` section of ``config.json`` (everything but the config fields themselves)."""
    return {
        "model": str(model_name),
        "data_source": _source(plan.eval_source),
        "forget_split": plan.forget_split,
        "n_forget": len(plan.forget),
        "n_retain": len(plan.retain),
        "forget_rows_sha256": sha256_json([[r["question"], r["answer"]] for r in plan.forget]),
        "retain_rows_sha256": sha256_json([[r["question"], r["answer"]] for r in plan.retain]),
        "idk_answers_sha256": sha256_json(list(plan.idk_answers or [])),
    }


def _show(value) -> str:
    """A value for an error message; hashes shortened to 12 hex digits."""
    if isinstance(value, str) and len(value) == 64:
        return repr(value[:12] + "…")
    return repr(value)


def check_resume(output_dir: str | Path, cfg: UnlearnConfig, experiment: dict) -> None:
    """Raise :class:`UsageError` naming every setting in which the record in ``output_dir`` differs."""
    saved = load_config(output_dir)
    there = saved.get("experiment")
    if not isinstance(there, dict):
        raise UsageError(
            f"cannot resume in {str(output_dir)!r}: its {CONFIG_FILE} has no experiment record, so it "
            "cannot be checked to be the same experiment; start a new output directory"
        )
    now = {**to_jsonable(cfg.experiment()), **{k: v for k, v in experiment.items() if k != "reference_logps_sha256"}}
    was = {**saved, **there}
    diffs = [f"{k}: {_show(was.get(k))} there, {_show(v)} now" for k, v in now.items() if was.get(k) != v]
    if diffs:
        raise UsageError(
            f"cannot resume in {str(output_dir)!r}: it holds a different experiment ("
            + "; ".join(diffs)
            + "); use a new output directory, or overwrite to replace that run"
        )


@dataclass
class RunPlan:
    """A checked run: its config, rows, evaluation inputs, output-directory mode and experiment identity."""

    config: UnlearnConfig
    forget: list[dict]
    retain: list[dict]
    idk_answers: list[str] | None
    retain_log: dict | None
    eval_source: Any
    forget_split: str
    mode: str  # "new", "resume" or "overwrite" (npo_lab.runs.check_output_dir)
    experiment: dict = field(default_factory=dict)

    @property
    def output_dir(self) -> Path:
        return Path(self.config.output_dir)

    @property
    def evaluating(self) -> bool:
        return self.config.eval_every >= 0


def _load_retain_log(retain_log):
    if retain_log is None:
        return None
    if not isinstance(retain_log, dict):
        from ..tofu.logs import load_eval_log

        p = Path(retain_log)
        if not p.exists():
            raise ValueError(f"retain_log {str(p)!r} does not exist")
        retain_log = load_eval_log(p)
    if "eval_log_forget.json" not in retain_log:
        raise ValueError("retain_log must be a TOFU eval log with the key 'eval_log_forget.json'")
    return retain_log


def _idk(method, idk_answers, eval_source) -> list[str] | None:
    if not method.needs_idk:
        return None
    if idk_answers is None:
        from ..tofu.data import load_idk_answers

        idk_answers = load_idk_answers(eval_source)
    idk = [str(a) for a in idk_answers if str(a).strip()]
    if not idk:
        raise ValueError(f"method {method.name} needs 'I don't know' answers: idk_answers is empty")
    return idk


def check_run(
    cfg: UnlearnConfig,
    *,
    model_name: str,
    forget_rows,
    retain_rows=None,
    idk_answers=None,
    retain_log=None,
    eval_source=None,
    forget_split: str = "forget10",
    resume: bool = False,
    overwrite: bool = False,
) -> RunPlan:
    """Every check that needs no model: config, rows, retain log, eval source, output directory, resume match."""
    if not isinstance(cfg, UnlearnConfig):
        raise ValueError(f"config must be an UnlearnConfig, got {type(cfg).__name__}")
    method = get_method(cfg.method)
    forget = qa_rows(forget_rows, "forget_rows")
    if not forget:
        raise ValueError("forget_rows is empty: give at least one forget row (question, answer)")
    retain = qa_rows(retain_rows, "retain_rows") if method.needs_retain else []
    if method.needs_retain and not retain:
        raise ValueError(f"method {cfg.method} needs retain data (its terms read retain_*): give retain_rows")
    evaluating = cfg.eval_every >= 0
    if evaluating and cfg.forget_quality and retain_log is None:
        raise ValueError(
            "retain_log is required to compute forget quality (the retain model's TOFU eval log); "
            "pass retain_log=... or set UnlearnConfig(forget_quality=False)"
        )
    retain_log = _load_retain_log(retain_log)
    idk = _idk(method, idk_answers, eval_source)
    if evaluating:
        from ..tofu.data import load_tofu
        from ..tofu.splits import eval_split_for

        load_tofu(eval_split_for(forget_split), source=eval_source)  # fails early on a bad source or split
    mode = check_output_dir(cfg.output_dir, resume=resume, overwrite=overwrite)
    plan = RunPlan(cfg, forget, retain, idk, retain_log, eval_source, forget_split, mode)
    plan.experiment = experiment_identity(plan, model_name)
    if mode == "resume":
        check_resume(cfg.output_dir, cfg, plan.experiment)
    return plan
