"""The mini-TOFU demo: the paper's TOFU experiment (arXiv 2404.05868, Sec. 5) on a laptop CPU in minutes.

1. :func:`npo_lab.minitofu.prepare`: a byte-level BPE tokenizer, a tiny Llama-style **fine-tuned** model that has
   memorised all authors (+ the general-knowledge set) and a **retain** model that never saw the forget authors
   (both cached, so a second run starts in seconds).
2. TOFU evaluation of both models (:func:`reference_logs`, cached too); the retain model's eval log is the
   reference of forget quality.
3. Unlearning of the forget authors with each method of :attr:`DemoConfig.methods`
   (:func:`npo_lab.unlearn.unlearn`, one run record per method), all at the same learning rate and schedule,
   evaluated after every ``early_eval_every`` optimiser steps during the first ``early_eval_epochs`` epochs (where
   GA and NPO collapse: ``steps_to_collapse``) and after every epoch; the forget KL and the forget rows'
   log-ratios (:class:`~npo_lab.experiments.forget_kl.ForgetKL`) are recorded at each evaluation. Every
   evaluation is the full TOFU evaluation (the same rows, generation and ROUGE), so early and late numbers compare.
4. The reports (:mod:`npo_lab.experiments.reports`): ``demo_summary.json``, tables, sample answers, figures.
5. With ``audit``, last: every model's audit (:func:`npo_lab.audit.demo_audit_entry`; ``audit.json``, ...).

The output directory's layout is described in :mod:`npo_lab.experiments`. Ctrl-C stops the current method, keeps
every completed evaluation and still writes the summary, tables and figures.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..audit.report import AuditConfig, demo_audit_entry
from ..configs import Config, option
from ..errors import UsageError
from ..losses import BETA_MAX
from ..tofu.splits import FORGET_SPLITS
from .reports import DEMO_SUMMARY_FILE, run_dir_name

__all__ = [
    "DEMO_METHODS",
    "OPTIONAL_METHODS",
    "PAPER_ALPHA",
    "PRESETS",
    "DEMO_FILE",
    "DemoConfig",
    "check_out_dir",
    "check_data",
    "check_device",
    "reference_logs",
    "run_demo",
]

DEMO_METHODS = ("GA", "GA+RT", "NPO", "NPO+RT", "IDK+RT", "DPO+RT")
OPTIONAL_METHODS = ("IDK+RT", "DPO+RT")  # run only while the time budget allows
PAPER_ALPHA = {"forget50": 5.0, "forget90": 12.0}  # the paper's retain weight for large forget sets (Sec. 5)
DEMO_FILE = "demo.json"
DEVICES = ("auto", "cpu", "cuda", "mps")  # auto: the Trainer's choice (a GPU when there is one)
#: named settings; ``real-tofu``: real TOFU authors need longer fine-tuning to be memorised and a smaller β
#: (their answers are longer and less regular than the synthetic ones)
PRESETS: dict[str, dict[str, Any]] = {"real-tofu": {"beta": 0.02, "minitofu": {"epochs": 36}}}


@dataclass(frozen=True)
class DemoConfig(Config):
    """Settings of the demo (saved in ``demo.json``). :meth:`smoke` gives the sizes of a seconds-long run."""

    out: str = option("runs/demo", "output directory (new, empty, or an earlier demo's output)")
    methods: tuple[str, ...] = option(DEMO_METHODS, "unlearning methods, in order")
    seed: int = option(0, "seed of the models and of unlearning", ge=0)
    data: str = option("synthetic", "'synthetic', 'hub' or a directory of TOFU files")
    forget_split: str = option("forget10", "forget split of the chosen authors", choices=FORGET_SPLITS)
    n_authors: int = option(20, "authors used (20 QA pairs each)", ge=2)
    epochs: float = option(10.0, "unlearning epochs", gt=0, le=1e4)
    learning_rate: float = option(1e-3, "unlearning peak learning rate", gt=0)
    beta: float = option(
        0.05,
        "β of NPO/DPO (small at this scale: logp sums ~40 sharply memorised tokens; 0.05 "
        "measured best on the synthetic authors, 0.02 on 20 real TOFU authors)",
        gt=0,
        le=BETA_MAX,
    )
    alpha: float | None = option(
        None, "retain weight (None: 1; 5 for forget50, 12 for forget90, as in the paper)", ge=0
    )
    batch_size: int = option(8, "forget rows per step", ge=1)
    warmup_epochs: float = option(1.0, "linear warm-up, then linear decay (the paper's schedule)", ge=0)
    weight_decay: float = option(0.01, "AdamW weight decay (paper)", ge=0)
    eval_max_rows: int = option(300, "rows per eval split", ge=1)
    eval_batch_size: int = option(32, "evaluation batch size", ge=1)
    num_samples: int = option(5, "greedy answers recorded per evaluation", ge=0)
    early_eval_every: int = option(
        1, "also evaluate every N optimiser steps during the first early_eval_epochs (0: once per epoch only)", ge=0
    )
    early_eval_epochs: float = option(4.0, "epochs of the early evaluations (where GA and NPO collapse)", ge=0)
    preset: str | None = option(None, "the named preset these settings started from (PRESETS), for the record")
    time_budget: float | None = option(
        240.0,
        "seconds: an optional method (IDK+RT, DPO+RT) starts only if the time spent so far plus the mean "
        "time of the methods done stays within it (None: run every method)",
        gt=0,
    )
    minitofu: dict | None = option(None, "MiniTofuConfig overrides (None: its defaults)")
    device: str = option("auto", "where unlearning and evaluation run", choices=DEVICES)
    progress: bool = option(True, "progress bars (False: one line per stage)")
    audit: bool = option(False, "audit the models at the end (npo_lab.audit: audit.json, audit.csv, figure)")
    audit_config: dict | None = option(None, "AuditConfig overrides (None: its defaults; smoke: its smoke sizes)")

    def __post_init__(self) -> None:
        from ..losses import METHODS

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
        self.minitofu_config()  # validates the overrides
        if self.audit_config is not None:
            AuditConfig.from_dict(self.audit_config)  # validates the overrides

    @classmethod
    def smoke(cls, **changes) -> DemoConfig:
        """A demo small enough for tests and CI (seconds to a minute): :meth:`MiniTofuConfig.smoke` models,
        2 epochs, 8 rows per eval split, one early evaluation, :meth:`AuditConfig.smoke` audit sizes. ``changes``
        override any field (``minitofu`` is merged)."""
        from ..minitofu import MiniTofuConfig

        small, full = MiniTofuConfig.smoke().to_dict(), MiniTofuConfig().to_dict()
        audit_small, audit_full = AuditConfig.smoke().to_dict(), AuditConfig().to_dict()
        sizes = {k: v for k, v in small.items() if v != full[k] and k not in ("source", "seed", "n_authors")}
        sizes.update(changes.pop("minitofu", None) or {})
        base: dict[str, Any] = {
            **{"n_authors": small["n_authors"], "epochs": 2.0, "eval_max_rows": 8, "minitofu": sizes},
            **{"early_eval_every": 2, "early_eval_epochs": 1.0},  # one early evaluation (step 2) per method
            "audit_config": {k: v for k, v in audit_small.items() if v != audit_full[k]},
        }
        return cls(**{**base, **changes})

    @classmethod
    def from_preset(cls, name: str, base: DemoConfig | None = None, **changes) -> DemoConfig:
        """``base`` (default :class:`DemoConfig`) with the settings of preset ``name`` (:data:`PRESETS`), then
        ``changes``; ``minitofu`` overrides are merged."""
        if name not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {name!r}")
        base = base or cls()
        merged = {**PRESETS[name], **changes}
        merged["minitofu"] = {
            **(base.minitofu or {}),
            **PRESETS[name].get("minitofu", {}),
            **(changes.get("minitofu") or {}),
        }
        return base.replace(preset=name, **merged)

    @property
    def resolved_alpha(self) -> float:
        """The retain weight: ``alpha``, or the paper's value for the forget split (1 up to forget30)."""
        return self.alpha if self.alpha is not None else PAPER_ALPHA.get(self.forget_split, 1.0)

    def minitofu_config(self):
        """The :class:`~npo_lab.minitofu.MiniTofuConfig` of the tokenizer and both models."""
        from ..minitofu import MiniTofuConfig

        return MiniTofuConfig.from_dict(
            {"source": self.data, "seed": self.seed, "n_authors": self.n_authors, **(self.minitofu or {})}
        )

    def unlearn_config(self, method: str, output_dir: str | Path, max_length: int = 160, n_forget: int = 0):
        """The :class:`~npo_lab.unlearn.UnlearnConfig` of one method's run (``n_forget`` forget rows: the early
        evaluations cover the first :attr:`early_eval_epochs` epochs of ``ceil(n_forget / batch_size)`` steps)."""
        from ..unlearn import UnlearnConfig

        until = int(self.early_eval_epochs * math.ceil(n_forget / self.batch_size)) if self.early_eval_every else 0

        return UnlearnConfig(
            method=method,
            beta=self.beta,
            alpha=self.resolved_alpha,
            learning_rate=self.learning_rate,
            epochs=self.epochs,
            batch_size=self.batch_size,
            warmup_epochs=self.warmup_epochs,
            lr_scheduler="linear",
            weight_decay=self.weight_decay,
            seed=self.seed,
            eval_every=0,
            early_eval_every=self.early_eval_every if until else 0,
            early_eval_until=until,
            eval_at_start=False,
            eval_max_rows=self.eval_max_rows,
            eval_batch_size=self.eval_batch_size,
            num_samples=self.num_samples,
            output_dir=str(output_dir),
            template="qa",
            max_length=max_length,
            save_every=-1,
            logging_steps=1000,
            disable_tqdm=not self.progress,
        )


# --------------------------------------------------------------------------------------------------------------
# checks before any work
# --------------------------------------------------------------------------------------------------------------
def check_out_dir(out: str | Path) -> Path:
    """``out`` as a path the demo may write into: a new directory, an empty one, or an earlier demo's output
    (it holds ``demo.json``); the demo never deletes a file. Raises :class:`~npo_lab.errors.UsageError`."""
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise UsageError(f"out {str(p)!r} is an existing file; give a directory (new, empty or an earlier demo's)")
    if p.is_dir() and any(p.iterdir()) and not (p / DEMO_FILE).exists():
        raise UsageError(
            f"out {str(p)!r} is a non-empty directory without {DEMO_FILE} (not a demo's output); "
            "give a new or empty directory"
        )
    parent = p
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"out {str(p)!r} cannot be created or written: {str(parent)!r} is not a writable directory")
    return p


def check_data(data: str) -> None:
    """Raise ``FileNotFoundError`` unless ``data`` is 'synthetic', 'hub' or an existing directory."""
    if data not in ("synthetic", "hub") and not Path(data).expanduser().is_dir():
        raise FileNotFoundError(f"data {data!r} is neither 'synthetic', 'hub' nor an existing directory of TOFU files")


def check_device(device: str) -> None:
    """Raise :class:`~npo_lab.errors.UsageError` when ``device`` (cpu, cuda, mps, auto) is not available here."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    available = {"auto": True, "cpu": True, "cuda": torch.cuda.is_available(), "mps": bool(mps and mps.is_available())}
    if device not in available:
        raise UsageError(f"device must be one of {', '.join(available)}; got {device!r}")
    if not available[device]:
        raise UsageError(f"device {device!r} is not available on this machine (use auto or cpu)")


# --------------------------------------------------------------------------------------------------------------
# the job
# --------------------------------------------------------------------------------------------------------------
@dataclass
class _Job:
    """What the stages of one demo share: the settings, where to write, what is done so far."""

    cfg: DemoConfig
    out: Path
    say: Callable[[str], Any]
    t0: float = field(default_factory=time.perf_counter)
    info: dict = field(default_factory=dict)
    finetuned: dict = field(default_factory=dict)
    retain: dict = field(default_factory=dict)
    run_dirs: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)  # {method: final unlearned model}, kept for the audit only

    def seconds(self) -> float:
        return time.perf_counter() - self.t0

    def write_info(self) -> None:
        from ..runs import to_jsonable

        self.info["wall_seconds"] = self.seconds()
        (self.out / DEMO_FILE).write_text(json.dumps(to_jsonable(self.info), indent=2) + "\n", encoding="utf-8")


def reference_logs(setting, cfg: DemoConfig) -> tuple[dict, dict]:
    """TOFU eval logs ``(retain, fine-tuned)`` of the two models, cached beside them (evaluation is greedy and
    deterministic, so a warm run skips it)."""
    from ..tofu.evaluate import evaluate
    from ..tofu.metrics import load_eval_log, save_eval_log

    d = Path(setting.log["cache_dir"]) / "eval_logs"
    logs = []
    for name, model in (("retain", setting.retain_model), ("finetuned", setting.model)):
        path = d / f"{name}-{setting.forget_split}_rows{cfg.eval_max_rows}.json"
        if path.exists():
            logs.append(load_eval_log(path))
            continue
        log = evaluate(
            model,
            setting.tokenizer,
            source=setting.source_dir,
            forget_split=setting.forget_split,
            template="qa",
            max_rows=cfg.eval_max_rows,
            batch_size=cfg.eval_batch_size,
            progress=cfg.progress,
            max_length=setting.config.max_length,
        )
        save_eval_log(log, path)
        logs.append(log)
    return logs[0], logs[1]


def _prepare(job: _Job):
    from ..minitofu import prepare

    cfg = job.cfg
    job.say(f"[demo] preparing tokenizer, fine-tuned and retain models ({cfg.data}, {cfg.forget_split}) ...")
    setting = prepare(cfg.minitofu_config(), cfg.forget_split, progress=cfg.progress)
    if cfg.device != "auto":
        setting.model.to(cfg.device)
        setting.retain_model.to(cfg.device)
    job.info["minitofu"] = {
        "config": setting.config.to_dict(),
        "log": setting.log,
        "source_dir": str(setting.source_dir),
    }
    cached = setting.log.get("cached", {})
    job.say(
        f"[demo] models ready in {job.seconds():.1f}s ({'cached' if cached and all(cached.values()) else 'trained'}"
        f"; cache {setting.log['cache_dir']})"
    )
    return setting


def _reference_models(job: _Job, setting) -> dict:
    """Evaluate (or load) both models; record the fine-tuned model's sample answers. Returns the retain log."""
    from ..tofu.metrics import save_eval_log, summarize
    from .reports import samples_from_log

    t1 = time.perf_counter()
    retain_log, ft_log = reference_logs(setting, job.cfg)
    save_eval_log(retain_log, job.out / "eval_logs" / "retain.json")
    save_eval_log(ft_log, job.out / "eval_logs" / "finetuned.json")
    job.retain, job.finetuned = summarize(retain_log, retain_log), summarize(ft_log, retain_log)
    answers = samples_from_log(ft_log, job.cfg.num_samples)
    (job.out / "answers_finetuned.json").write_text(json.dumps(answers, indent=1), encoding="utf-8")
    job.info["eval_seconds_reference_models"] = time.perf_counter() - t1
    ft, rt = job.finetuned, job.retain
    job.say(
        f"[demo] fine-tuned: model utility {ft['model_utility']:.3f}, forget quality {ft['forget_quality']:.3g}, "
        f"forget probability {ft['forget_probability']:.3f} | retain model: model utility "
        f"{rt['model_utility']:.3f}, forget probability {rt['forget_probability']:.3f}"
    )
    return retain_log


def _over_budget(job: _Job, method: str, durations: Sequence[float]) -> bool:
    budget = job.cfg.time_budget
    spent = job.seconds()
    if budget is None or method not in OPTIONAL_METHODS or not durations:
        return False
    if spent + sum(durations) / len(durations) <= budget:
        return False
    job.info.setdefault("skipped", []).append(method)
    job.say(f"[demo] skipping {method}: {spent:.0f}s spent, time budget {budget:.0f}s")
    return True


def _unlearn_one(job: _Job, setting, method: str, retain_log: dict, idk, metrics: dict):
    """One method's run into ``<out>/runs/<method>`` (an earlier demo's record of it is replaced)."""
    from ..unlearn import unlearn

    cfg = job.cfg
    d = job.out / "runs" / run_dir_name(method)
    job.run_dirs[method] = d
    overrides = {"use_cpu": True} if cfg.device == "cpu" else None
    model = setting.fresh_model()
    if cfg.device != "auto":
        model.to(cfg.device)
    n_forget = len(setting.forget_rows)
    return unlearn(
        model,
        setting.tokenizer,
        setting.forget_rows,
        setting.retain_rows,
        cfg.unlearn_config(method, d, max_length=setting.config.max_length, n_forget=n_forget),
        idk_answers=idk,
        retain_log=retain_log,
        eval_source=setting.source_dir,
        forget_split=cfg.forget_split,
        eval_metrics=metrics,
        overwrite=True,
        training_overrides=overrides,
    )


def _unlearn_methods(job: _Job, setting, retain_log: dict) -> None:
    """One unlearning run per method (optional methods within the time budget); Ctrl-C propagates."""
    from tqdm.auto import tqdm

    from ..losses import get_method
    from .forget_kl import ForgetKL
    from .reports import format_number as fmt

    cfg = job.cfg
    idk = setting.idk_answers() if any(get_method(m).needs_idk for m in cfg.methods) else None
    kl = ForgetKL(
        setting.model,
        setting.tokenizer,
        setting.forget_rows,
        max_length=setting.config.max_length,
        batch_size=cfg.eval_batch_size,
    )
    durations: list[float] = []
    for method in tqdm(cfg.methods, desc="methods", disable=not cfg.progress):
        if _over_budget(job, method, durations):
            continue
        tm = time.perf_counter()
        kl.log_ratios = []
        try:
            result = _unlearn_one(job, setting, method, retain_log, idk, {"forget_kl": kl})
        finally:
            kl.write_log_ratios(job.run_dirs[method])
        durations.append(time.perf_counter() - tm)
        if cfg.audit:
            job.models[method] = result.model
        job.info["methods"][method] = {"seconds": durations[-1], "status": result.summary["status"]}
        last = result.metrics[-1] if result.metrics else {}
        job.say(
            f"[demo] {method:7s} done in {durations[-1]:5.1f}s: forget quality "
            f"{fmt(last.get('forget_quality'))}, model utility {fmt(last.get('model_utility'))}, "
            f"forget KL {fmt(last.get('forget_kl'))}"
        )
        if result.interrupted:
            raise KeyboardInterrupt


def _reports(job: _Job, summary: dict, frames: dict) -> None:
    from .reports import answers_markdown, answers_table, answers_text, format_table, results_table, write_figures

    table = results_table(summary)
    table.to_csv(job.out / "table.csv", index=False)
    job.say("\n" + format_table(table) + "\n")
    try:
        job.info["figures"] = [str(p) for p in write_figures(job.out, frames, job.finetuned, job.retain)]
    except Exception as err:  # a figure must never cost the results
        job.info["figures_error"] = repr(err)
        job.say(f"[demo] figures failed: {err!r}")
    answers = answers_table(job.out)
    if len(answers):
        answers.to_csv(job.out / "answers.csv", index=False)
        (job.out / "answers.md").write_text(answers_markdown(answers), encoding="utf-8")
        job.say(answers_text(answers, n=2))


def _write_summary(job: _Job, summary: dict) -> None:
    (job.out / DEMO_SUMMARY_FILE).write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def _finish(job: _Job) -> dict:
    from .reports import method_frames, summarize_runs

    frames = method_frames(job.run_dirs)
    summary = summarize_runs(frames, job.finetuned, job.retain, job.seconds())
    _write_summary(job, summary)
    if job.finetuned:
        _reports(job, summary, frames)
    job.info["status"] = "interrupted" if job.info["interrupted"] else "completed"
    job.write_info()
    job.say(f"[demo] wrote {job.out} in {job.info['wall_seconds']:.1f}s")
    return summary


def run_demo(config: DemoConfig | None = None, *, print_fn: Callable[[str], Any] = print) -> dict:
    """Run the whole demo (module docstring) into ``config.out`` and return ``demo_summary.json``'s content.

    ``print_fn`` receives one line per stage. Interrupting (Ctrl-C) stops at the current method; what was
    completed is summarised and written. Bad settings raise ``ValueError`` before any model is trained.
    """
    cfg = config or DemoConfig()
    if not isinstance(cfg, DemoConfig):
        raise ValueError(f"config must be a DemoConfig, got {type(cfg).__name__}")
    check_data(cfg.data)
    check_device(cfg.device)
    out = check_out_dir(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    job = _Job(
        cfg, out, print_fn, info={"config": cfg.to_dict(), "status": "running", "methods": {}, "interrupted": False}
    )
    job.write_info()  # marks the directory as a demo's output from the start
    try:
        setting = _prepare(job)
        retain_log = _reference_models(job, setting)
        _unlearn_methods(job, setting, retain_log)
    except KeyboardInterrupt:
        job.info["interrupted"] = True
        print_fn("[demo] interrupted: writing what is done")
    summary = _finish(job)
    if cfg.audit and not job.info["interrupted"]:  # last: its failure or Ctrl-C is recorded, nothing written is lost
        summary["audit"] = demo_audit_entry(out, setting, job.models, cfg.audit_config, cfg.progress, print_fn)
        job.info["audit"] = summary["audit"]["status"]
        _write_summary(job, summary)
        job.write_info()
    return summary
