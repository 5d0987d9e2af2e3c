"""A notebook session on a (Colab) GPU: which runs fit the time, where the runs live so that they survive a
disconnect, logging in for gated hub models, resuming runs, and the comparison with published numbers.

A free Colab runtime is reclaimed after a while (:data:`FREE_COLAB_MINUTES` is the plan's budget) and its disk
(``/content``) goes with it: only runs written to a mounted Google Drive folder (:func:`mount_drive`) survive and
resume (:func:`run_or_resume`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .plan import Card, Estimate, estimate, forget_rows, steps_per_epoch

__all__ = [
    "FREE_COLAB_MINUTES",
    "SessionPlan",
    "SESSION_PLANS",
    "choose_plan",
    "run_settings",
    "needs_lora",
    "evaluated_log",
    "mount_drive",
    "hub_login",
    "run_state",
    "run_or_resume",
    "PUBLISHED_METHOD",
    "compare_with_published",
]

FREE_COLAB_MINUTES = 90  # plan a free Colab session for at most this long
MEMORY_HEADROOM = 0.9  # full fine-tuning when its estimated peak is below this fraction of the card's memory
MAX_CHECKPOINT_GIB = 2.0  # larger checkpoints (full fine-tuning: 12 bytes per parameter) are not written


# --------------------------------------------------------------------------------------------------------------
# a session's plan
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SessionPlan:
    """What one session runs: the methods, one after another, with the paper's schedule (10 epochs, effective
    batch 32 in micro-batches of 4), evaluated every ``eval_every_epochs`` epochs on ``eval_max_rows`` rows per
    eval set (the paper: every epoch, 300). :meth:`unlearn_config` turns it into the run's settings."""

    name: str
    methods: tuple[str, ...] = ("GA", "NPO", "NPO+RT")
    epochs: int = 10
    effective_batch: int = 32
    batch_size: int = 4
    eval_every_epochs: int = 1
    eval_max_rows: int = 300
    eval_batch_size: int = 16
    max_new_tokens: int | None = None
    max_length: int = 256

    def __post_init__(self) -> None:
        if not self.methods:
            raise ValueError("methods must name at least one method")
        if self.effective_batch % self.batch_size:
            raise ValueError(f"effective_batch {self.effective_batch} must be a multiple of batch_size")

    def unlearn_config(self, method: str, n_forget: int, **settings):
        """The :class:`~npo_lab.unlearn.UnlearnConfig` of ``method``: this plan's schedule and evaluation, plus
        ``settings`` (learning rate, LoRA, precision, output directory, ...). Evaluation at the start is off:
        the fine-tuned model is evaluated once for all methods."""
        from ..unlearn import UnlearnConfig

        base = UnlearnConfig(
            method=method,
            epochs=self.epochs,
            batch_size=self.batch_size,
            gradient_accumulation_steps=self.effective_batch // self.batch_size,
            eval_at_start=False,
            eval_max_rows=self.eval_max_rows,
            eval_batch_size=self.eval_batch_size,
            eval_max_new_tokens=self.max_new_tokens,
            max_length=self.max_length,
        )
        every = 0 if self.eval_every_epochs == 1 else self.eval_every_epochs * steps_per_epoch(base, n_forget)
        return base.replace(**{"eval_every": every, **settings})

    def configs(self, n_forget: int, runs_dir: str | Path | None = None, **settings) -> list:
        """One :meth:`unlearn_config` per method; with ``runs_dir`` each writes to ``runs_dir/<method>``
        (``NPO+RT`` → ``NPO_RT``, the layout :func:`npo_lab.experiments.reports.answers_table` reads)."""
        from ..experiments.reports import run_dir_name

        def where(m: str) -> dict:
            return {"output_dir": str(Path(runs_dir) / run_dir_name(m))} if runs_dir is not None else {}

        return [self.unlearn_config(m, n_forget, **{**settings, **where(m)}) for m in self.methods]

    def replace(self, **changes) -> SessionPlan:
        """A copy with ``changes`` (e.g. the smoke sizes, or other methods)."""
        return dataclasses.replace(self, **changes)


#: from the paper's schedule to ever cheaper ones; :func:`choose_plan` takes the first that fits the time
SESSION_PLANS = (
    SessionPlan("paper: every epoch, 300 rows per eval set"),
    SessionPlan("every 2nd epoch, 300 rows", eval_every_epochs=2),
    SessionPlan("every 2nd epoch, 100 rows", eval_every_epochs=2, eval_max_rows=100),
    SessionPlan("NPO+RT alone, every 2nd epoch, 100 rows", ("NPO+RT",), eval_every_epochs=2, eval_max_rows=100),
)


def choose_plan(
    hub_id: str,
    card: str | Card,
    *,
    budget_minutes: float = FREE_COLAB_MINUTES,
    plans: Sequence[SessionPlan] = SESSION_PLANS,
    forget_split: str = "forget10",
    extra_evaluations: int = 2,
    **settings,
) -> tuple[SessionPlan, Estimate]:
    """The first of ``plans`` whose :func:`estimate` takes at most ``budget_minutes`` (else the last), with its
    estimate; ``settings`` go to :meth:`SessionPlan.unlearn_config` (``lora_r``, ``gradient_checkpointing``,
    ...); ``extra_evaluations``: the fine-tuned and retain models."""
    if not plans:
        raise ValueError("plans must hold at least one SessionPlan")
    n = forget_rows(forget_split)
    for plan in plans:
        est = estimate(
            hub_id, card, plan.configs(n, **settings), forget_split=forget_split, extra_evaluations=extra_evaluations
        )
        if est.total_minutes <= budget_minutes:
            break
    return plan, est


def run_settings(hub_id: str, lora_r: int = 0, **settings) -> dict:
    """The :class:`~npo_lab.unlearn.UnlearnConfig` settings a checkpoint implies, beyond a plan's schedule: its
    prompt template and LoRA target modules (the registry), gradient checkpointing, and checkpoints for resuming
    (every evaluation, when one is at most :data:`MAX_CHECKPOINT_GIB`; full fine-tuning's are not written).
    ``settings`` (hyper-parameters, precision, ...) are added and take precedence."""
    from ..tofu.checkpoints import get_checkpoint
    from ..unlearn import UnlearnConfig
    from .plan import checkpoint_gib

    ckpt = get_checkpoint(hub_id)
    out = {"template": ckpt.template, "lora_r": lora_r, "gradient_checkpointing": True}
    if ckpt.lora_target_modules:
        out["lora_target_modules"] = ckpt.lora_target_modules
    small = checkpoint_gib(hub_id, UnlearnConfig(**out)) <= MAX_CHECKPOINT_GIB
    return {**out, "save_every": 0 if small else -1, **settings}


def needs_lora(hub_id: str, memory_gib: float, plan: SessionPlan = SESSION_PLANS[0]) -> bool:
    """Whether full fine-tuning (:func:`npo_lab.gpu.plan.memory_gib` of the plan's most demanding method) would
    exceed :data:`MEMORY_HEADROOM` of a card's ``memory_gib``."""
    from .plan import memory_gib as estimated

    configs = plan.configs(forget_rows(), **run_settings(hub_id, lora_r=0))
    return max(estimated(hub_id, c) for c in configs) > MEMORY_HEADROOM * memory_gib


def evaluated_log(path: str | Path, load_model: Callable[[], Any], tokenizer, **evaluate_kwargs) -> dict:
    """The TOFU eval log saved at ``path``, or :func:`npo_lab.tofu.evaluate.evaluate` of ``load_model()`` saved
    there (so a rerun reads it instead of evaluating again)."""
    import time

    from ..tofu.evaluate import evaluate
    from ..tofu.logs import load_eval_log, save_eval_log
    from .load import free_memory

    path = Path(path)
    if path.is_file():
        return load_eval_log(path)
    model = load_model()
    t0 = time.perf_counter()
    log = evaluate(model, tokenizer, **evaluate_kwargs)
    print(f"evaluated in {time.perf_counter() - t0:.0f} s; saved to {path}")
    save_eval_log(log, path)
    del model
    free_memory()
    return log


# --------------------------------------------------------------------------------------------------------------
# where the runs live, hub login
# --------------------------------------------------------------------------------------------------------------
def mount_drive(folder: str = "npo_lab_runs", mountpoint: str = "/content/drive") -> Path:
    """Mount Google Drive (Colab asks for permission) and return ``MyDrive/<folder>``, created if missing: runs
    written there survive a disconnect, and a rerun resumes or skips them."""
    try:
        from google.colab import drive
    except ImportError as err:
        raise RuntimeError(
            "mount_drive works on Google Colab only; elsewhere point NPO_LAB_RUNS at a directory that lasts"
        ) from err
    drive.mount(mountpoint)
    path = Path(mountpoint) / "MyDrive" / folder
    path.mkdir(parents=True, exist_ok=True)
    return path


def hub_login(token: str | None = None) -> None:
    """Log in to the Hugging Face hub, for gated models (e.g. ``meta-llama/*``, whose licence you accept on the
    model's page first): with ``token`` or ``$HF_TOKEN`` (on Colab: the ``HF_TOKEN`` secret), else interactively
    (a widget in a notebook)."""
    from huggingface_hub import login, notebook_login

    token = token or os.environ.get("HF_TOKEN", "").strip() or None
    if token:
        login(token=token)
    else:
        notebook_login()


# --------------------------------------------------------------------------------------------------------------
# runs: skip, resume or start
# --------------------------------------------------------------------------------------------------------------
def _differences(saved: Mapping, config) -> list[str]:
    from ..runs import to_jsonable

    want = json.loads(json.dumps(to_jsonable(config.experiment())))
    return [f"{k}: {saved.get(k)!r} there, {v!r} now" for k, v in want.items() if saved.get(k) != v]


def run_state(run_dir: str | Path, config=None) -> str:
    """What ``run_dir`` holds: ``"completed"`` (a finished run; with ``config``, one of the same experiment, else
    a UsageError naming the differences), ``"resume"`` (a run record and a checkpoint to continue from),
    ``"restart"`` (a run record without a checkpoint: stopped before its first one) or ``"new"``."""
    from transformers.trainer_utils import get_last_checkpoint

    from ..runs import CONFIG_FILE, SUMMARY_FILE, load_config, load_summary

    d = Path(run_dir)
    if not d.is_dir() or not any(d.iterdir()):
        return "new"
    if (d / SUMMARY_FILE).is_file() and load_summary(d).get("status") == "completed":
        diff = _differences(load_config(d), config) if config is not None else []
        if diff:
            raise UsageError(
                f"{str(d)!r} holds a completed run of another experiment ({'; '.join(diff[:3])}): "
                "choose another directory or delete it"
            )
        return "completed"
    if (d / CONFIG_FILE).is_file() and get_last_checkpoint(str(d)):
        return "resume"
    return "restart"


def run_or_resume(config, load_model: Callable[[], Any], tokenizer, forget_rows, retain_rows=None, **kwargs):
    """:func:`npo_lab.unlearn.unlearn` into ``config.output_dir`` unless it is done there: a completed run is
    kept (returns ``None``), a run record with a checkpoint is resumed (the record must be the same experiment),
    one without a checkpoint is replaced. ``load_model()`` is called only when training runs; ``kwargs`` go to
    ``unlearn`` (``retain_log``, ``eval_source``, ``forget_split``, ...)."""
    from ..unlearn import unlearn

    state = run_state(config.output_dir, config)
    if state == "completed":
        return None
    mode = {"resume": {"resume": True}, "restart": {"overwrite": True}}.get(state, {})
    return unlearn(load_model(), tokenizer, forget_rows, retain_rows, config, **mode, **kwargs)


# --------------------------------------------------------------------------------------------------------------
# published numbers
# --------------------------------------------------------------------------------------------------------------
#: our method -> the name of the same objective in open-unlearning's tables, whose NPO, SimNPO and GradDiff
#: trainers add the retain NLL term with α = 1 (src/trainer/unlearn/npo.py extends grad_diff.py there)
PUBLISHED_METHOD = {"NPO+RT": "NPO", "GA+RT": "GradDiff", "SimNPO": "SimNPO"}


def compare_with_published(hub_id: str, ours: Mapping[str, Mapping], forget_split: str = "forget10"):
    """A table of our numbers next to the published ones (:func:`npo_lab.tofu.checkpoints.published`):
    ``ours`` maps ``finetuned``, ``retain`` and method names to summaries (``forget_quality``,
    ``model_utility``, ``n_forget`` from :func:`npo_lab.tofu.metrics.summarize`). Forget quality is a p-value
    whose size depends on the number of forget rows: compare only at the same n."""
    import pandas as pd

    from ..tofu.checkpoints import published

    rows = []
    for name, s in ours.items():
        theirs = name if name in ("finetuned", "retain") else PUBLISHED_METHOD.get(name)
        ref = published(hub_id, theirs, forget_split) if theirs else None
        rows.append(
            {
                "run": name,
                "forget quality": s.get("forget_quality"),
                "model utility": s.get("model_utility"),
                "n forget": s.get("n_forget"),
                "published as": theirs if ref else None,
                "published forget quality": ref.forget_quality if ref else None,
                "published model utility": ref.model_utility if ref else None,
                "source": ref.source if ref else None,
            }
        )
    return pd.DataFrame(rows).set_index("run")
