"""The mini-TOFU demo: the paper's TOFU experiment (arXiv 2404.05868, Sec. 5) on a laptop CPU in minutes.

1. :func:`npo_lab.minitofu.prepare`: a byte-level BPE tokenizer, a tiny Llama-style **fine-tuned** model that has
   memorised all authors (+ the general-knowledge set) and a **retain** model that never saw the forget authors
   (both cached, so a second run starts in seconds).
2. TOFU evaluation of both models (:func:`reference_logs`, cached too); the retain model's eval log is the
   reference of forget quality.
3. Unlearning of the forget authors with each method of :attr:`DemoConfig.methods`
   (:func:`npo_lab.unlearn.unlearn`, one run record per method), all at the same optimiser, learning rate,
   schedule and β (:data:`~npo_lab.experiments.demo_config.DEMO_DEFAULTS`), with torch's thread count fixed
   (``threads``). Cheap probes (:class:`~npo_lab.unlearn.callbacks.ProbeCallback`: the forget rows', a fixed
   sample of retain and general rows' answer probability, NPO's W) run every ``probe_every`` steps and mark
   collapse and matched forgetting; the full TOFU evaluation (the same rows, generation and ROUGE) runs every
   ``eval_every_epochs`` epochs, at the end and at the marked steps, and records the forget KL and the forget
   rows' log-ratios (:class:`~npo_lab.experiments.forget_kl.ForgetKL`).
4. The reports (:mod:`npo_lab.experiments.reports`): ``demo_summary.json``, tables, sample answers, figures.
5. With ``audit``, last: every model's audit (:func:`npo_lab.audit.demo_audit_entry`; ``audit.json``, ...).

The output directory's layout is described in :mod:`npo_lab.experiments`. Ctrl-C stops the current method, keeps
every completed evaluation and still writes the summary, tables and figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import files
from ..audit.report import demo_audit_entry
from ..runtime import WorkerPool, interruptible, resolve_device
from .demo_config import DEMO_METHODS, OPTIONAL_METHODS, PAPER_ALPHA, PRESETS, DemoConfig, environment
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

DEMO_FILE = "demo.json"


# --------------------------------------------------------------------------------------------------------------
# checks before any work
# --------------------------------------------------------------------------------------------------------------
def check_out_dir(out: str | Path) -> Path:
    """``out`` as a path the demo may write into: a new directory, an empty one, or an earlier demo's output
    (it holds ``demo.json``); the demo never deletes a file. Raises :class:`~npo_lab.errors.UsageError`."""
    return files.check_out_dir(out, marker=DEMO_FILE)


def check_data(data: str) -> None:
    """Raise ``FileNotFoundError`` unless ``data`` is 'synthetic', 'hub' or an existing directory."""
    if data not in ("synthetic", "hub") and not Path(data).expanduser().is_dir():
        raise FileNotFoundError(f"data {data!r} is neither 'synthetic', 'hub' nor an existing directory of TOFU files")


def check_device(device: str) -> None:
    """Raise :class:`~npo_lab.errors.UsageError` when ``device`` (cpu, cuda, mps, auto) is not available here."""
    resolve_device(device, what="device")


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

        self.info["wall_seconds"] = self.seconds()
        files.write_json(self.out / DEMO_FILE, self.info)


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
    files.write_json(job.out / "answers_finetuned.json", answers, indent=1)
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


def _probe_rows(cfg: DemoConfig, setting):
    """The per-step probes' scorer: all forget rows, a fixed sample (``cfg.seed``) of retain and general rows."""
    from ..unlearn.probes import ProbeScorer, sample_rows

    groups = {"forget": setting.forget_rows, "retain": sample_rows(setting.retain_rows, cfg.probe_rows, cfg.seed)}
    if setting.general_rows():
        groups["general"] = sample_rows(setting.general_rows(), cfg.probe_rows, cfg.seed)
    return ProbeScorer(setting.tokenizer, groups, template=cfg.minitofu.template, max_length=setting.config.max_length)


def _probe_targets(job: _Job, setting, scorer) -> tuple[float, float]:
    """``(retain model's forget probability, fine-tuned model's utility proxy)`` on the probes' rows, recorded."""
    retain, finetuned = scorer.score(setting.retain_model), scorer.score(setting.model)
    job.info["probes"] = {
        "rows": {g: len(r) for g, r in scorer.rows.items()},
        "retain_model": {k: retain[k] for k in ("forget_probability", "utility")},
        "finetuned": {k: finetuned[k] for k in ("forget_probability", "utility")},
    }
    return retain["forget_probability"], finetuned["utility"]


def _shared(job: _Job, setting):
    """What every method's run reads besides the models: the IDK answers (when a method needs them) and the
    forget KL's reference (:class:`~npo_lab.experiments.forget_kl.ForgetKL`, computed once)."""
    from ..losses import get_method
    from .forget_kl import ForgetKL

    cfg = job.cfg
    idk = setting.idk_answers() if any(get_method(m).needs_idk for m in cfg.methods) else None
    kl = ForgetKL(
        setting.model,
        setting.tokenizer,
        setting.forget_rows,
        max_length=setting.config.max_length,
        batch_size=cfg.eval_batch_size,
    )
    return idk, kl


def _unlearn_one(job: _Job, setting, method: str, retain_log: dict, shared, probes):
    """One method's run into ``<out>/runs/<method>`` (an earlier demo's record of it is replaced), probed after
    every step; a full evaluation also runs at the probes' marked steps (collapse, matched forgetting). Returns
    ``(result, record)``: the :class:`~npo_lab.unlearn.UnlearnResult` and ``{seconds, status, last, interrupted}``
    (``last``: the final evaluation's forget quality, model utility and forget KL)."""
    from ..unlearn import unlearn
    from ..unlearn.callbacks import ProbeCallback
    from .reports import COLLAPSE_FRACTION

    cfg = job.cfg
    t0 = time.perf_counter()
    d = job.out / "runs" / run_dir_name(method)
    job.run_dirs[method] = d
    overrides = {"use_cpu": True} if cfg.device == "cpu" else None
    model = setting.fresh_model()
    if cfg.device != "auto":
        model.to(cfg.device)
    idk, kl = shared
    scorer, forget_target, utility_start = probes
    probe = ProbeCallback(
        scorer,
        forget_target=forget_target,
        utility_start=utility_start,
        collapse_fraction=COLLAPSE_FRACTION,
        every=cfg.probe_every,
    )
    kl.log_ratios = []
    try:
        result = unlearn(
            model,
            setting.tokenizer,
            setting.forget_rows,
            setting.retain_rows,
            cfg.unlearn_config(method, d, max_length=setting.config.max_length, n_forget=len(setting.forget_rows)),
            idk_answers=idk,
            retain_log=retain_log,
            eval_source=setting.source_dir,
            forget_split=cfg.forget_split,
            eval_metrics={"forget_kl": kl},
            overwrite=True,
            training_overrides=overrides,
            callbacks=[probe],
        )
    finally:
        kl.write_log_ratios(d)
    last = result.metrics[-1] if result.metrics else {}
    record = {
        "seconds": time.perf_counter() - t0,
        "status": result.summary["status"],
        "last": {k: last.get(k) for k in ("forget_quality", "model_utility", "forget_kl")},
        "interrupted": bool(result.interrupted),
    }
    return result, record


def _record(job: _Job, method: str, record: dict) -> None:
    job.info["methods"][method] = {"seconds": record["seconds"], "status": record["status"]}


def _done(job: _Job, method: str, record: dict) -> None:
    """Record and print one finished method; Ctrl-C inside its run ends the demo here."""
    from .reports import format_number as fmt

    _record(job, method, record)
    last = record["last"]
    job.say(
        f"[demo] {method:7s} done in {record['seconds']:5.1f}s: forget quality "
        f"{fmt(last.get('forget_quality'))}, model utility {fmt(last.get('model_utility'))}, "
        f"forget KL {fmt(last.get('forget_kl'))}"
    )
    if record["interrupted"]:
        raise KeyboardInterrupt


def _method_workers(cfg: DemoConfig) -> int:
    """Processes for the methods: ``cfg.workers``, but 1 with the audit (it needs the models in memory) and
    on an accelerator (one device runs one method at a time)."""
    if cfg.workers == 1 or len(cfg.methods) == 1 or cfg.audit or resolve_device(cfg.device).type != "cpu":
        return 1
    return min(cfg.workers, len(cfg.methods))


def _unlearn_methods(job: _Job, setting, retain_log: dict, pool=None) -> None:
    """One unlearning run per method (optional methods within the time budget), one after the other or in the
    worker processes of ``pool`` (:func:`_method_pool`); Ctrl-C propagates."""
    from ..progress import progress_bar

    cfg = job.cfg
    scorer = _probe_rows(cfg, setting)
    targets = _probe_targets(job, setting, scorer)
    if pool is not None:
        return _unlearn_in_workers(job, pool, targets)
    shared = _shared(job, setting)
    durations: list[float] = []
    for method in progress_bar(cfg.methods, desc="methods", disable=not cfg.progress):
        if _over_budget(job, method, durations):
            continue
        result, record = _unlearn_one(job, setting, method, retain_log, shared, (scorer, *targets))
        durations.append(record["seconds"])
        if cfg.audit:
            job.models[method] = result.model
        _done(job, method, record)


_WORKER: dict = {}  # a worker process's setting, loaded once for all the methods it runs


def _method_job(cfg_json: str, out: str, method: str, targets: tuple[float, float]) -> dict:
    """One method in a worker process: the models from the cache the parent filled, the retain model's eval log
    from ``out``, the parent's probe targets (so every process marks the same levels); returns the record."""
    if _WORKER.get("key") != (cfg_json, out):
        from ..minitofu import prepare
        from ..tofu.metrics import load_eval_log

        cfg = DemoConfig.from_json(cfg_json)
        job = _Job(cfg, Path(out), say=lambda _: None)
        setting = prepare(cfg.minitofu_config(), cfg.forget_split, progress=False, check=False)
        retain_log = load_eval_log(Path(out) / "eval_logs" / "retain.json")
        _WORKER.update(
            key=(cfg_json, out), state=(job, setting, retain_log, _shared(job, setting), _probe_rows(cfg, setting))
        )
    job, setting, retain_log, shared, scorer = _WORKER["state"]
    with interruptible():
        return _unlearn_one(job, setting, method, retain_log, shared, (scorer, *targets))[1]


def _warm_worker() -> None:
    """A worker's first task: the imports a method's run needs, done while the parent prepares the models."""
    from .. import unlearn  # noqa: F401
    from ..minitofu import prepare  # noqa: F401
    from ..tofu import evaluate  # noqa: F401


def _method_pool(cfg: DemoConfig) -> WorkerPool | None:
    """``None`` (the methods run in this process) or :func:`_method_workers` processes with ``threads // workers``
    torch threads each (at least 1), already importing what they need."""
    import torch

    workers = _method_workers(cfg)
    if workers == 1:
        return None
    return WorkerPool.start(workers, max(1, (cfg.threads or torch.get_num_threads()) // workers), warm=_warm_worker)


def _unlearn_in_workers(job: _Job, pool: WorkerPool, targets: tuple[float, float]) -> None:
    """The methods side by side in the processes of ``pool`` (:func:`_method_pool`); a method starts when a
    process is free (the time budget is checked then). Ctrl-C: the runs in flight stop at their next step and
    keep what they evaluated, as in one process."""
    from concurrent.futures import FIRST_COMPLETED, wait

    cfg = job.cfg
    workers, threads = pool.workers, pool.threads
    job.info["method_workers"] = {"processes": workers, "torch_threads_each": threads}
    job.say(f"[demo] {len(cfg.methods)} methods in {workers} processes, {threads} torch thread(s) each")
    quiet = cfg.replace(progress=False).to_json()
    pending, running, durations = list(cfg.methods), {}, []
    try:
        while pending or running:
            while pending and len(running) < workers:
                method = pending.pop(0)
                if not _over_budget(job, method, durations):
                    job.run_dirs[method] = job.out / "runs" / run_dir_name(method)
                    running[pool.executor.submit(_method_job, quiet, str(job.out), method, targets)] = method
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                record = future.result()
                durations.append(record["seconds"])
                _done(job, running.pop(future), record)
    except BaseException:
        _stop_workers(job, pool, running)
        raise


def _stop_workers(job: _Job, pool: WorkerPool, running: dict) -> None:
    """After Ctrl-C (or an error) in the parent: nothing new starts, the runs in flight are interrupted once and
    write what they evaluated (:meth:`~npo_lab.runtime.WorkerPool.interrupt`), and are recorded."""
    for future in running:
        future.cancel()
    pool.interrupt()
    for future, method in running.items():
        if future.cancelled() or future.exception() is not None:
            continue
        record = future.result()
        _record(job, method, record)
        job.say(f"[demo] {method:7s} stopped after {record['seconds']:5.1f}s: its evaluations are kept")


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
    files.write_json(job.out / DEMO_SUMMARY_FILE, summary)


def _finish(job: _Job) -> dict:
    from .reports import method_frames, method_probes, summarize_runs

    frames = method_frames(job.run_dirs)
    summary = summarize_runs(frames, job.finetuned, job.retain, job.seconds(), method_probes(job.run_dirs))
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
    With ``workers > 1`` the methods run in spawned processes (:mod:`multiprocessing`): a script that calls this
    function keeps its top-level code under ``if __name__ == "__main__":`` (notebooks and ``npo-lab`` need nothing).
    """
    cfg = config or DemoConfig()
    if not isinstance(cfg, DemoConfig):
        raise ValueError(f"config must be a DemoConfig, got {type(cfg).__name__}")
    check_data(cfg.data)
    check_device(cfg.device)
    out = check_out_dir(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    import torch

    threads = torch.get_num_threads()
    if cfg.threads:  # fixed, so that two machines with the same count compute the same numbers
        torch.set_num_threads(cfg.threads)
    info = {"config": cfg.to_dict(), "defaults": cfg.record(), "environment": environment()}
    job = _Job(cfg, out, print_fn, info={**info, "status": "running", "methods": {}, "interrupted": False})
    pool = _method_pool(cfg)  # started now: the workers import while the models are prepared here
    try:
        job.write_info()  # marks the directory as a demo's output from the start
        try:
            setting = _prepare(job)
            retain_log = _reference_models(job, setting)
            _unlearn_methods(job, setting, retain_log, pool)
        except KeyboardInterrupt:
            job.info["interrupted"] = True
            print_fn("[demo] interrupted: writing what is done")
        summary = _finish(job)
        if cfg.audit and not job.info["interrupted"]:  # last: a failure or Ctrl-C is recorded, nothing is lost
            overrides = cfg.audit_overrides()
            summary["audit"] = demo_audit_entry(out, setting, job.models, overrides, cfg.progress, print_fn)
            job.info["audit"] = summary["audit"]["status"]
            _write_summary(job, summary)
            job.write_info()
    finally:
        if pool is not None:
            pool.close()
        torch.set_num_threads(threads)
    return summary
