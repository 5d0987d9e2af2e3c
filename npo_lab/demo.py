"""``npo-lab demo``: the offline main job — the paper's TOFU story on a laptop CPU in minutes.

1. :func:`npo_lab.minitofu.prepare`: a byte-level BPE tokenizer, a tiny Llama-style **fine-tuned** model that has
   memorised all authors (+ the general-knowledge set) and a **retain** model that never saw the forget authors
   (both cached, so a second run starts in seconds).
2. TOFU evaluation of both models (:func:`npo_lab.tofu.evaluate.evaluate`); the retain model's eval log is the
   reference of forget quality.
3. Unlearning of the forget authors (≈ 10 %) with GA, GA+RT, NPO, NPO+RT, IDK+RT and DPO+RT
   (:func:`npo_lab.unlearn.unlearn`), evaluated after every epoch, plus the forget KL E_forget KL(π_ref‖π_θ).
4. Outputs in ``--out`` (default ``runs/demo``): one run record per method (``runs/<method>/``), the two eval logs,
   figures (forget quality on the paper's dual linear/log scale vs model utility; per-epoch forget quality, model
   utility, forget probability and forget KL), ``table.csv`` (also printed), ``answers.csv`` / ``answers.md``
   (sample answers per method), ``summary.json`` (below) and ``demo.json`` (configuration, timings).

``summary.json``::

    {"finetuned": {"forget_quality": x, "model_utility": x}, "retain": {"model_utility": x},
     "methods": {"GA": {"epochs": [{"epoch": 1, "forget_quality": x, "model_utility": x,
                                    "forget_probability": x}, ...],
                        "peak_forget_quality": x, "epoch_of_peak": n, "model_utility_at_peak": x}, ...},
     "wall_seconds": x}

Ctrl-C stops the current method, keeps every completed evaluation and still writes the summary, table and figures.
Smoke mode (``NPO_LAB_SMOKE=1``) shrinks the model, data and epochs so the whole job takes seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from transformers import TrainerCallback

from . import is_smoke
from .minitofu import FORGET_PERCENTS, MiniTofuConfig, prepare

__all__ = [
    "DEMO_METHODS",
    "DemoConfig",
    "ForgetKLCallback",
    "forget_kl",
    "reference_logs",
    "run_demo",
    "summarize_runs",
    "load_demo",
    "repetition_rate",
    "answers_table",
    "results_table",
    "add_arguments",
    "run_cli",
]

DEMO_METHODS = ("GA", "GA+RT", "NPO", "NPO+RT", "IDK+RT", "DPO+RT")
# run only while the time budget allows (the issue: "IDK+RT, DPO+RT where the time budget allows")
OPTIONAL_METHODS = ("IDK+RT", "DPO+RT")
# the paper's retain weight for large forget sets (Sec. 5: 5 for forget50, 12 for forget90)
PAPER_ALPHA = {"forget50": 5.0, "forget90": 12.0}


def _slug(method: str) -> str:
    return method.replace("+", "_")


@dataclass(frozen=True)
class DemoConfig:
    """Settings of the demo (saved in ``demo.json``). ``None`` fields take the smoke/normal default."""

    out: str = field(default="runs/demo", metadata={"help": "output directory"})
    methods: tuple[str, ...] = field(default=DEMO_METHODS, metadata={"help": "unlearning methods, in order"})
    seed: int = field(default=0, metadata={"help": "seed of the models and of unlearning"})
    data: str = field(default="synthetic", metadata={"help": "'synthetic', 'hub' or a directory of TOFU files"})
    forget_split: str = field(default="forget10", metadata={"help": "forget01 ... forget90 of the chosen authors"})
    n_authors: int | None = field(default=None, metadata={"help": "authors used (default 20; smoke 10)"})
    epochs: float | None = field(default=None, metadata={"help": "unlearning epochs (default 10; smoke 2)"})
    learning_rate: float = field(default=1e-3, metadata={"help": "unlearning peak learning rate"})
    beta: float = field(default=0.05, metadata={"help": "β of NPO/DPO (small at this scale: logp sums ~40 "
                                                          "sharply memorised tokens; 0.05 measured best on the "
                                                          "synthetic authors, 0.02 on 20 real TOFU authors)"})
    alpha: float | None = field(default=None, metadata={"help": "retain weight (default 1; 5 for forget50, "
                                                                "12 for forget90, as in the paper)"})
    batch_size: int = field(default=8, metadata={"help": "forget rows per step"})
    warmup_epochs: float = field(default=1.0, metadata={"help": "linear warm-up, then linear decay (paper)"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay (paper)"})
    eval_max_rows: int | None = field(default=None, metadata={"help": "rows per eval split (default 300; smoke 8)"})
    eval_batch_size: int = field(default=32, metadata={"help": "evaluation batch size"})
    num_samples: int = field(default=5, metadata={"help": "greedy answers recorded per evaluation"})
    time_budget: float | None = field(default=240.0, metadata={
        "help": "seconds: an optional method (IDK+RT, DPO+RT) starts only if the time spent so far plus the mean "
                "time of the methods done stays within it (None or inf: run every method)"})
    minitofu: dict = field(default_factory=dict, metadata={"help": "MiniTofuConfig overrides"})
    progress: bool = field(default=True, metadata={"help": "progress bars"})

    def __post_init__(self):
        from .losses import METHODS

        methods = (self.methods,) if isinstance(self.methods, str) else tuple(self.methods)
        object.__setattr__(self, "methods", methods)
        if not methods:
            raise ValueError("methods must name at least one method")
        for m in methods:
            if m not in METHODS:
                raise ValueError(f"unknown method {m!r} in methods; choose from {', '.join(METHODS)}")
        if self.forget_split not in FORGET_PERCENTS:
            raise ValueError(f"forget_split must be one of {', '.join(FORGET_PERCENTS)}, got {self.forget_split!r}")
        if not self.beta > 0:
            raise ValueError(f"beta must be > 0, got {self.beta!r}")

    # resolved settings ----------------------------------------------------------------------------------------
    @property
    def resolved_epochs(self) -> float:
        return self.epochs if self.epochs is not None else (2.0 if is_smoke() else 10.0)

    @property
    def resolved_alpha(self) -> float:
        return self.alpha if self.alpha is not None else PAPER_ALPHA.get(self.forget_split, 1.0)

    @property
    def resolved_eval_max_rows(self) -> int:
        return self.eval_max_rows if self.eval_max_rows is not None else (8 if is_smoke() else 300)

    def minitofu_config(self) -> MiniTofuConfig:
        kw: dict[str, Any] = {"source": str(self.data), "seed": self.seed}
        if self.n_authors is not None:
            kw["n_authors"] = self.n_authors
        kw.update(self.minitofu)
        return MiniTofuConfig.smoke(**kw) if is_smoke() else MiniTofuConfig(**kw)

    def unlearn_config(self, method: str, output_dir: str | Path, max_length: int = 160):
        from .unlearn import UnlearnConfig

        return UnlearnConfig(
            method=method, beta=self.beta, alpha=self.resolved_alpha, learning_rate=self.learning_rate,
            epochs=self.resolved_epochs, batch_size=self.batch_size, warmup_epochs=self.warmup_epochs,
            lr_scheduler="linear", weight_decay=self.weight_decay, seed=self.seed, eval_every=0,
            eval_at_start=False, eval_max_rows=self.resolved_eval_max_rows, eval_batch_size=self.eval_batch_size,
            num_samples=self.num_samples, output_dir=str(output_dir), template="qa", max_length=max_length,
            save_every=-1, logging_steps=1000, disable_tqdm=not self.progress)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["methods"] = list(self.methods)
        return d


# --------------------------------------------------------------------------------------------------------------
# forget KL over epochs
# --------------------------------------------------------------------------------------------------------------
@torch.no_grad()
def _logits(model, batch):
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()


def forget_kl(model, ref_model, tokenizer, rows: Sequence[Mapping], *, template: str = "qa", max_length: int = 160,
              batch_size: int = 32) -> float:
    """Forget KL = mean over forget rows of the answer-token mean KL(π_ref ‖ π_θ) (:func:`npo_lab.losses.kl_to_ref`)."""
    cb = ForgetKLCallback(tokenizer, rows, template=template, max_length=max_length, batch_size=batch_size)
    cb._reference(ref_model)
    return cb.value(model)


class ForgetKLCallback(TrainerCallback):
    """Records E_forget KL(π_ref ‖ π_θ) (answer tokens) at the start and after every epoch of unlearning.

    The reference logits are taken from the model when training begins (the fine-tuned model) and kept in memory
    (forget set × length × vocabulary floats: a few MB here). Values go to ``history`` and, when ``path`` is
    given, to a JSON-lines file (``step``, ``epoch``, ``forget_kl``).
    """

    def __init__(self, tokenizer, forget_rows: Sequence[Mapping], *, path: str | Path | None = None,
                 template: str = "qa", max_length: int = 160, batch_size: int = 32):
        from .tofu.data import QACollator

        rows = [{"question": r["question"], "answer": r["answer"]} for r in forget_rows]
        if not rows:
            raise ValueError("forget_rows is empty")
        collate = QACollator(tokenizer, template=template, max_length=max_length)
        self.batches = [collate(rows[i:i + batch_size]) for i in range(0, len(rows), batch_size)]
        self.path = Path(path) if path is not None else None
        self.ref_logits: list[torch.Tensor] | None = None
        self.history: list[dict] = []

    def _reference(self, model) -> None:
        self.ref_logits = [_logits(model, self._to(b, model)) for b in self.batches]

    @staticmethod
    def _to(batch, model):
        device = next(model.parameters()).device
        return {k: v.to(device) for k, v in batch.items()}

    @torch.no_grad()
    def value(self, model) -> float:
        from .losses import kl_to_ref

        if self.ref_logits is None:
            raise ValueError("no reference logits yet: call on_train_begin (or forget_kl) first")
        was_training = model.training
        model.eval()
        total, n = 0.0, 0
        for b, ref in zip(self.batches, self.ref_logits):
            b = self._to(b, model)
            kl = kl_to_ref(_logits(model, b), ref.to(b["input_ids"].device), b["labels"])
            total += float(kl.sum())
            n += kl.numel()
        model.train(was_training)
        return total / max(n, 1)

    def _record(self, state, model) -> None:
        row = {"step": int(state.global_step), "epoch": float(state.epoch or 0.0), "forget_kl": self.value(model)}
        self.history.append(row)
        if self.path is not None:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if self.path is not None and self.path.exists() and state.global_step == 0:
            self.path.unlink()
        self._reference(model)
        self._record(state, model)

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        self._record(state, model)


# --------------------------------------------------------------------------------------------------------------
# tables and the summary
# --------------------------------------------------------------------------------------------------------------
def _num(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _method_frames(run_dirs: Mapping[str, Path]):
    """``{method: DataFrame}`` of the recorded evaluations (with ``forget_kl`` merged in by step)."""
    import pandas as pd

    from .runs import load_run, read_jsonl

    frames = {}
    for method, d in run_dirs.items():
        if not (Path(d) / "metrics.jsonl").exists():
            continue
        df = load_run(d)
        kl_path = Path(d) / "forget_kl.jsonl"
        if kl_path.exists() and len(df):
            kl = pd.DataFrame(read_jsonl(kl_path))
            if len(kl):
                df = df.merge(kl[["step", "forget_kl"]].drop_duplicates("step", keep="last"), on="step", how="left")
        frames[method] = df
    return frames


def load_demo(out: str | Path) -> tuple[dict, dict]:
    """``(summary, frames)`` of a finished (or interrupted) demo directory: ``summary.json`` and
    ``{method: DataFrame}`` with one row per evaluation (``forget_kl`` merged in)."""
    out = Path(out)
    p = out / "summary.json"
    if not p.exists():
        raise ValueError(f"out {str(out)!r} holds no summary.json (run the demo first)")
    summary = json.loads(p.read_text())
    run_dirs = {m: out / "runs" / _slug(m) for m in summary["methods"]}
    return summary, _method_frames(run_dirs)


def repetition_rate(text: str, n: int = 5) -> float:
    """Share of repeated character ``n``-grams in a generation: ``1 − #distinct n-grams / #n-grams``.

    About 0.0–0.1 for a fluent sentence, → 1 for the degenerate repetition gradient ascent produces
    (``"DarioDarioDario…"``, ``"the the the …"``). Case-insensitive, whitespace collapsed; 0 for text shorter than n.
    """
    t = " ".join(str(text).lower().split())
    grams = [t[i:i + n] for i in range(len(t) - n + 1)]
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def summarize_runs(frames: Mapping[str, Any], finetuned: Mapping, retain: Mapping, wall_seconds: float) -> dict:
    """The demo's ``summary.json`` from per-method frames (one row per evaluation; epoch-0 rows are skipped)."""
    out: dict[str, Any] = {
        "finetuned": {"forget_quality": _num(finetuned.get("forget_quality")),
                      "model_utility": _num(finetuned.get("model_utility"))},
        "retain": {"model_utility": _num(retain.get("model_utility"))},
        "methods": {},
        "wall_seconds": float(wall_seconds),
    }
    for method, df in frames.items():
        epochs = []
        for _, r in df.iterrows():
            if float(r["epoch"]) <= 0:
                continue
            e = float(r["epoch"])
            epochs.append({"epoch": int(round(e)) if abs(e - round(e)) < 1e-6 else e,
                           "forget_quality": _num(r.get("forget_quality")),
                           "model_utility": _num(r.get("model_utility")),
                           "forget_probability": _num(r.get("forget_probability"))})
        entry: dict[str, Any] = {"epochs": epochs, "peak_forget_quality": None, "epoch_of_peak": None,
                                 "model_utility_at_peak": None}
        scored = [e for e in epochs if e["forget_quality"] is not None]
        if scored:
            best = max(scored, key=lambda e: e["forget_quality"])  # first epoch of the maximum
            entry.update(peak_forget_quality=best["forget_quality"], epoch_of_peak=best["epoch"],
                         model_utility_at_peak=best["model_utility"])
        out["methods"][method] = entry
    return out


def results_table(summary: Mapping):
    """One row per method: peak forget quality, its epoch, utility there (absolute and / fine-tuned), the first
    epoch with forget quality > 0.05 at ≥ 80 % of the fine-tuned utility, and the final epoch's numbers."""
    import pandas as pd

    mu_ft = summary["finetuned"]["model_utility"]
    mu_ft = float("nan") if mu_ft is None else float(mu_ft)
    rows = [{"method": "fine-tuned", "peak_forget_quality": summary["finetuned"]["forget_quality"],
             "epoch_of_peak": 0, "model_utility_at_peak": mu_ft, "utility_ratio_at_peak": 1.0}]
    for method, m in summary["methods"].items():
        ep = m["epochs"]
        good = [e["epoch"] for e in ep if (e["forget_quality"] or 0) > 0.05 and (e["model_utility"] or 0) >= 0.8 * mu_ft]
        mu_peak = m["model_utility_at_peak"]
        rows.append({
            "method": method, "peak_forget_quality": m["peak_forget_quality"], "epoch_of_peak": m["epoch_of_peak"],
            "model_utility_at_peak": mu_peak,
            "utility_ratio_at_peak": (mu_peak / mu_ft) if (mu_peak is not None and mu_ft > 0) else None,
            "first_good_epoch": good[0] if good else None,
            "final_forget_quality": ep[-1]["forget_quality"] if ep else None,
            "final_model_utility": ep[-1]["model_utility"] if ep else None,
            "final_forget_probability": ep[-1]["forget_probability"] if ep else None,
        })
    return pd.DataFrame(rows)


def answers_table(out: str | Path, split: str = "forget", step: str = "last"):
    """Sample greedy answers per method (the demo's run records): columns question, answer (ground truth),
    ``fine-tuned`` and one column per method at its last evaluation (``step="last"``) or a given step."""
    import pandas as pd

    from .runs import load_samples

    out = Path(out)
    base = out / "answers_finetuned.json"
    table: dict[str, dict] = {}
    order: list[str] = []
    if base.exists():
        for r in json.loads(base.read_text()):
            if r["split"] != split:
                continue
            table.setdefault(r["question"], {"question": r["question"], "answer": r["answer"]})["fine-tuned"] = \
                r["generation"]
            order.append(r["question"])
    for d in sorted((out / "runs").glob("*")) if (out / "runs").is_dir() else []:
        cfg = d / "config.json"
        if not cfg.exists() or not (d / "samples.jsonl").exists():
            continue
        method = json.loads(cfg.read_text())["method"]
        s = load_samples(d)
        if s.empty:
            continue
        s = s[s["split"] == split]
        if s.empty:
            continue
        at = s["step"].max() if step == "last" else int(step)
        for _, r in s[s["step"] == at].iterrows():
            q = _question(r["question"])
            row = table.setdefault(q, {"question": q, "answer": r["answer"]})
            row[method] = r["generation"]
            if q not in order:
                order.append(q)
    return pd.DataFrame([table[q] for q in dict.fromkeys(order)])


def _fmt(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}g}" if (abs(x) < 1e-3 and x != 0) else f"{x:.{digits}f}"
    return str(x)


def format_table(df) -> str:
    cols = list(df.columns)
    cells = [[_fmt(v) for v in row] for row in df.itertuples(index=False)]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
    line = lambda vals: "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths)))  # noqa
    return "\n".join([line(cols), line(["-" * w for w in widths])] + [line(r) for r in cells])


# --------------------------------------------------------------------------------------------------------------
# the job
# --------------------------------------------------------------------------------------------------------------
def _figures(out: Path, frames, finetuned: Mapping, retain: Mapping) -> list[Path]:
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plotting import (plot_forget_kl_over_epochs, plot_forget_probability_over_epochs,
                           plot_forget_quality_over_epochs, plot_forget_quality_vs_utility,
                           plot_model_utility_over_epochs)

    if not frames:
        return []
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    fig, ax = plt.subplots(figsize=(6, 4.5))
    plot_forget_quality_vs_utility(frames, finetuned=finetuned, retain=retain, ax=ax)
    ax.set_title("mini-TOFU: forget quality vs model utility over epochs")
    fig.tight_layout()
    paths.append(fig_dir / "forget_quality_vs_utility.png")
    fig.savefig(paths[-1])
    plt.close(fig)
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    plot_forget_quality_over_epochs(frames, ax=axes[0, 0])
    plot_model_utility_over_epochs(frames, ax=axes[0, 1], finetuned=finetuned.get("model_utility"),
                                   retain=retain.get("model_utility"))
    plot_forget_probability_over_epochs(frames, ax=axes[1, 0], finetuned=finetuned.get("forget_probability"),
                                        retain=retain.get("forget_probability"))
    if any("forget_kl" in df.columns for df in frames.values()):
        plot_forget_kl_over_epochs({k: v for k, v in frames.items() if "forget_kl" in v.columns}, ax=axes[1, 1])
    fig.tight_layout()
    paths.append(fig_dir / "over_epochs.png")
    fig.savefig(paths[-1])
    plt.close(fig)
    return paths


def _eval(model, tokenizer, setting, cfg: DemoConfig):
    from .tofu.evaluate import evaluate

    return evaluate(model, tokenizer, source=setting.source_dir, forget_split=setting.forget_split, template="qa",
                    max_rows=cfg.resolved_eval_max_rows, batch_size=cfg.eval_batch_size, progress=cfg.progress,
                    max_length=setting.config.max_length)


def reference_logs(setting, cfg: DemoConfig) -> tuple[dict, dict]:
    """TOFU eval logs of the retain model and the fine-tuned model, cached beside the models (evaluation is
    greedy and deterministic, so a warm run skips it)."""
    from .tofu.metrics import load_eval_log, save_eval_log

    d = Path(setting.log["cache_dir"]) / "eval_logs"
    n = cfg.resolved_eval_max_rows
    logs = []
    for name, model in ((f"retain-{setting.forget_split}", setting.retain_model),
                        (f"finetuned-{setting.forget_split}", setting.model)):
        path = d / f"{name}_rows{n}.json"
        if path.exists():
            logs.append(load_eval_log(path))
            continue
        log = _eval(model, setting.tokenizer, setting, cfg)
        save_eval_log(log, path)
        logs.append(log)
    return logs[0], logs[1]


def _question(text: str) -> str:
    """The question of a ``generated_text`` prompt (the ``qa`` template's ``Question: ...\nAnswer:`` removed)."""
    t = str(text).strip()
    if t.startswith("Question:"):
        t = t[len("Question:"):]
    if t.endswith("Answer:"):
        t = t[: -len("Answer:")]
    return t.strip()


def _samples_from_log(log: Mapping, n: int) -> list[dict]:
    out = []
    for split, key in (("forget", "eval_log_forget.json"), ("retain", "eval_log.json")):
        gen = log.get(key, {}).get("generated_text", [])
        gen = [gen[k] for k in sorted(gen, key=int)] if isinstance(gen, Mapping) else list(gen)
        for q, g, a in gen[:n]:
            out.append({"split": split, "question": _question(q), "generation": g, "answer": a})
    return out


def run_demo(config: DemoConfig | None = None, *, print_fn=print) -> dict:
    """Run the whole demo (see the module docstring) and return ``summary.json``'s content.

    Interrupting (Ctrl-C) stops at the current method; what was completed is summarised and written.
    """
    from tqdm.auto import tqdm

    from .tofu.metrics import save_eval_log, summarize
    from .unlearn import unlearn

    cfg = config or DemoConfig()
    t0 = time.perf_counter()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {"config": cfg.to_dict(), "smoke": is_smoke(), "methods": {}, "interrupted": False}
    frames: dict = {}
    finetuned: dict = {}
    retain: dict = {}
    run_dirs: dict[str, Path] = {}
    try:
        print_fn(f"[demo] preparing tokenizer, fine-tuned and retain models ({cfg.data}, {cfg.forget_split}) ...")
        setting = prepare(cfg.minitofu_config(), cfg.forget_split, progress=cfg.progress)
        info["minitofu"] = {"config": setting.config.to_dict(), "log": setting.log,
                            "source_dir": str(setting.source_dir)}
        cached = setting.log.get("cached", {})
        print_fn(f"[demo] models ready in {time.perf_counter() - t0:.1f}s "
                 f"({'cached' if cached and all(cached.values()) else 'trained'}; cache {setting.log['cache_dir']})")
        tok = setting.tokenizer
        t1 = time.perf_counter()
        retain_log, ft_log = reference_logs(setting, cfg)
        save_eval_log(retain_log, out / "eval_logs" / "retain.json")
        save_eval_log(ft_log, out / "eval_logs" / "finetuned.json")
        retain = summarize(retain_log, retain_log)
        finetuned = summarize(ft_log, retain_log)
        (out / "answers_finetuned.json").write_text(json.dumps(_samples_from_log(ft_log, cfg.num_samples), indent=1))
        info["eval_seconds_reference_models"] = time.perf_counter() - t1
        print_fn(f"[demo] fine-tuned: model utility {finetuned['model_utility']:.3f}, forget quality "
                 f"{finetuned['forget_quality']:.3g}, forget probability {finetuned['forget_probability']:.3f} | "
                 f"retain model: model utility {retain['model_utility']:.3f}, forget probability "
                 f"{retain['forget_probability']:.3f}")
        forget_rows, retain_rows = setting.forget_rows, setting.retain_rows
        idk = setting.idk_answers() if any(m.startswith(("IDK", "DPO")) for m in cfg.methods) else None
        durations: list[float] = []
        for method in tqdm(cfg.methods, desc="methods", disable=not cfg.progress):
            spent = time.perf_counter() - t0
            if (cfg.time_budget is not None and method in OPTIONAL_METHODS and durations
                    and spent + sum(durations) / len(durations) > cfg.time_budget):
                info.setdefault("skipped", []).append(method)
                print_fn(f"[demo] skipping {method}: {spent:.0f}s spent, time budget {cfg.time_budget:.0f}s")
                continue
            d = out / "runs" / _slug(method)
            run_dirs[method] = d
            ucfg = cfg.unlearn_config(method, d, max_length=setting.config.max_length)
            kl_cb = ForgetKLCallback(tok, forget_rows, path=None, max_length=setting.config.max_length)
            d.mkdir(parents=True, exist_ok=True)
            kl_cb.path = d / "forget_kl.jsonl"
            tm = time.perf_counter()
            result = unlearn(setting.fresh_model(), tok, forget_rows, retain_rows, ucfg, idk_answers=idk,
                             retain_log=retain_log, eval_source=setting.source_dir, forget_split=cfg.forget_split,
                             callbacks=[kl_cb])
            durations.append(time.perf_counter() - tm)
            info["methods"][method] = {"seconds": durations[-1], "status": result.summary["status"]}
            last = result.metrics[-1] if result.metrics else {}
            print_fn(f"[demo] {method:7s} done in {time.perf_counter() - tm:5.1f}s: forget quality "
                     f"{_fmt(_num(last.get('forget_quality')))}, model utility {_fmt(_num(last.get('model_utility')))}")
            if result.interrupted:
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        info["interrupted"] = True
        print_fn("[demo] interrupted: writing what is done")
    frames = _method_frames(run_dirs)
    wall = time.perf_counter() - t0
    summary = summarize_runs(frames, finetuned, retain, wall)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if finetuned:
        table = results_table(summary)
        table.to_csv(out / "table.csv", index=False)
        print_fn("\n" + format_table(table) + "\n")
        try:
            paths = _figures(out, frames, finetuned, retain)
            info["figures"] = [str(p) for p in paths]
        except Exception as err:  # a figure must never cost the results
            info["figures_error"] = repr(err)
            print_fn(f"[demo] figures failed: {err!r}")
        answers = answers_table(out)
        if len(answers):
            answers.to_csv(out / "answers.csv", index=False)
            (out / "answers.md").write_text(_answers_markdown(answers))
            print_fn(_answers_text(answers, n=2))
    info["wall_seconds"] = time.perf_counter() - t0
    (out / "demo.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
    print_fn(f"[demo] wrote {out} in {info['wall_seconds']:.1f}s")
    return summary


def _answers_markdown(df) -> str:
    lines = ["# Sample answers on forget questions (greedy, last evaluated epoch)", ""]
    for _, r in df.iterrows():
        lines += [f"## {r['question']}", "", f"- **ground truth**: {r['answer']}"]
        for c in df.columns:
            if c not in ("question", "answer") and isinstance(r[c], str):
                lines.append(f"- **{c}**: {r[c]}")
        lines.append("")
    return "\n".join(lines)


def _answers_text(df, n: int = 2) -> str:
    lines = ["sample answers on forget questions (last epoch):"]
    for _, r in df.head(n).iterrows():
        lines.append(f"  Q: {r['question']}")
        lines.append(f"    {'truth':>10}: {r['answer'][:110]}")
        for c in df.columns:
            if c not in ("question", "answer") and isinstance(r[c], str):
                lines.append(f"    {c:>10}: {r[c][:110]}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = DemoConfig()
    parser.add_argument("--out", default=d.out, help=f"output directory (default {d.out})")
    parser.add_argument("--methods", nargs="+", default=list(d.methods), metavar="METHOD",
                        help=f"unlearning methods (default: {' '.join(d.methods)})")
    parser.add_argument("--seed", type=int, default=d.seed, help="seed of models and unlearning (default 0)")
    parser.add_argument("--data", default=d.data,
                        help="'synthetic' (bundled authors, default), 'hub', or a directory of TOFU JSON-lines "
                             "files (e.g. ../shared/tofu/data: the first 20 real authors; measured best there with "
                             "--ft-epochs 36 --beta 0.02)")
    parser.add_argument("--forget", default=d.forget_split, choices=list(FORGET_PERCENTS),
                        help="forget split of the chosen authors (default forget10 = 2 of 20 authors)")
    parser.add_argument("--authors", type=int, default=None, help="number of authors (default 20; smoke 10)")
    parser.add_argument("--epochs", type=float, default=None, help="unlearning epochs (default 10; smoke 2)")
    parser.add_argument("--ft-epochs", type=int, default=None,
                        help="epochs of the mini-TOFU fine-tuning of both models (default 24; smoke 4)")
    parser.add_argument("--lr", type=float, default=d.learning_rate, help=f"unlearning lr (default {d.learning_rate})")
    parser.add_argument("--beta", type=float, default=d.beta, help=f"β of NPO/DPO (default {d.beta})")
    parser.add_argument("--alpha", type=float, default=None, help="retain weight (default 1; 5/12 for forget50/90)")
    parser.add_argument("--eval-max-rows", type=int, default=None, help="rows per eval split (default 300)")
    parser.add_argument("--time-budget", type=float, default=d.time_budget, metavar="SECONDS",
                        help="run the optional methods (IDK+RT, DPO+RT) only while the job stays within this many "
                             f"seconds (default {d.time_budget:g}; 'inf': always run them)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run_cli(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    cfg = DemoConfig(out=args.out, methods=tuple(args.methods), seed=args.seed, data=args.data,
                     forget_split=args.forget, n_authors=args.authors, epochs=args.epochs,
                     learning_rate=args.lr, beta=args.beta, alpha=args.alpha, eval_max_rows=args.eval_max_rows,
                     time_budget=args.time_budget, progress=not args.no_progress,
                     minitofu={} if args.ft_epochs is None else {"epochs": args.ft_epochs})
    summary = run_demo(cfg)
    return 0 if summary.get("methods") else 1


if __name__ == "__main__":  # pragma: no cover
    from .cli import main

    sys.exit(main(["demo", *sys.argv[1:]]))
