"""Run every audit on one or several models: one JSON-able result, a table, the demo's audit outputs.

:func:`audit_models` audits each model against the **retain model** (trained without the forget authors, the
target of unlearning) on three sets of rows (:class:`AuditData`): the forget eval rows (with paraphrased and
perturbed answers, and paraphrased questions), holdout rows (authors no model saw) and retain rows. Per model, a
flat dict of numbers (``None`` where an audit was not run):

* ``auc_<attack>`` / ``privleak_<attack>`` for each attack of :mod:`npo_lab.audit.mia`; ``auc`` is the AUC of
  :attr:`AuditConfig.attack` (min-k++) and ``privleak`` that of :attr:`AuditConfig.privleak_attack` (min-k, as
  open-unlearning computes MUSE's privleak on TOFU: ``configs/eval/tofu_metrics/privleak.yaml``);
* ``exact_memorization``, ``extraction_strength`` (:mod:`npo_lab.audit.memorization`);
* ``forget_probability``, ``forget_truth_ratio``, ``forget_quality`` (TOFU, vs the retain model) and
  ``retain_probability`` (as many retain rows as forget rows, spread over the retain authors);
* ``relearn_forget_probability``, ``relearn_truth_ratio``, ``relearn_forget_quality`` on the held-out half after
  relearning, against the relearned retain model, and ``relearn_recovery`` = this probability minus the
  relearned retain model's;
* ``quant<b>_forget_probability`` and ``quant<b>_retain_probability`` for each bit width ``b`` (the answers'
  probability only: one pass per set keeps the attack cheap);
* ``paraphrase_probability``, ``paraphrase_rouge``.

``pandas.DataFrame(result["models"]).T`` (or :func:`audit_table`) reads the result: one row per model.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..configs import Config
from .attacks import forget_log, forget_metrics, paraphrase_probe, quantize_model, relearned_copy, split_halves
from .memorization import memorization_scores
from .mia import ATTACKS, answer_stats, mia_aucs, privleak
from .table import TABLE_COLUMNS, audit_table

__all__ = [
    "AUDIT_FILE",
    "AUDITS",
    "TABLE_COLUMNS",
    "AuditConfig",
    "AuditData",
    "audit_data",
    "audit_model",
    "audit_models",
    "audit_table",
    "demo_audit",
    "demo_audit_entry",
    "save_audit",
]

AUDIT_FILE = "audit.json"
AUDITS = ("mia", "memorization", "forget", "relearning", "quantization", "paraphrase")


@dataclass(frozen=True)
class AuditConfig(Config):
    """Settings of an audit (saved in the result). Validated on creation by its own checks (the error names the
    field); dict/JSON save and load, :meth:`replace` and ``from_dict``'s unknown-field check come from
    :class:`~npo_lab.configs.Config`."""

    audits: tuple[str, ...] = AUDITS  # which audits run
    k: float = 0.4  # fraction of tokens of min-k % / min-k++ (open-unlearning's TOFU setting)
    attack: str = "min_k++"  # the attack of the headline ``auc``
    privleak_attack: str = "min_k"  # the attack of the headline ``privleak`` (open-unlearning's choice)
    relearn_steps: int = 8  # AdamW steps of the relearning attack
    relearn_learning_rate: float = 1e-3
    relearn_batch_size: int = 8
    seed: int = 0  # the relearning halves and batches
    bits: tuple[int, ...] = (8, 4)  # quantization bit widths
    group_size: int = 128  # quantization group (consecutive input weights of a row)
    max_rows: int | None = None  # rows per set (None: all)
    batch_size: int = 32
    template: str = "qa"
    max_length: int = 256
    generate: bool = True  # greedy answers for the paraphrase ROUGE

    def __post_init__(self) -> None:
        object.__setattr__(self, "audits", tuple(self.audits))
        object.__setattr__(self, "bits", tuple(self.bits))
        bad = [a for a in self.audits if a not in AUDITS]
        if bad or not self.audits:
            raise ValueError(f"audits must be a non-empty subset of {', '.join(AUDITS)}; got {list(self.audits)}")
        for name in ("attack", "privleak_attack"):
            if getattr(self, name) not in ATTACKS:
                raise ValueError(f"{name} must be one of {', '.join(ATTACKS)}; got {getattr(self, name)!r}")
        if not isinstance(self.k, (int, float)) or isinstance(self.k, bool) or not 0 < self.k <= 1:
            raise ValueError(f"k must be a fraction in (0, 1], got {self.k!r}")
        lr = self.relearn_learning_rate
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < math.inf:
            raise ValueError(f"relearn_learning_rate must be > 0 and finite, got {lr!r}")
        ints = {"relearn_steps": 1, "relearn_batch_size": 1, "seed": 0, "group_size": 1, "batch_size": 1}
        ints["max_length"] = 8
        for name, low in ints.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
        if self.max_rows is not None and (isinstance(self.max_rows, bool) or not isinstance(self.max_rows, int)):
            raise ValueError(f"max_rows must be a positive integer or None, got {self.max_rows!r}")
        if self.max_rows is not None and self.max_rows < 2:
            raise ValueError(f"max_rows must be >= 2 (relearning splits the rows in halves), got {self.max_rows}")
        if not self.bits or any(isinstance(b, bool) or not isinstance(b, int) or not 2 <= b <= 16 for b in self.bits):
            raise ValueError(f"bits must be a non-empty list of integers in [2, 16], got {list(self.bits)}")

    @classmethod
    def smoke(cls, **changes) -> AuditConfig:
        """Sizes for tests and smoke runs: fewer relearning steps and rows, no generation."""
        return cls(**{"relearn_steps": 2, "max_rows": 8, "generate": False, **changes})


@dataclass
class AuditData:
    """The rows an audit reads: ``forget`` eval rows (``question``, ``answer``, ``paraphrased_answer``,
    ``perturbed_answer``, ``paraphrased_question``), ``holdout`` rows of unseen authors, ``retain`` rows."""

    forget: list[dict]
    holdout: list[dict]
    retain: list[dict] = field(default_factory=list)
    forget_split: str = "forget10"

    def limited(self, max_rows: int | None) -> AuditData:
        if max_rows is None:
            return self
        return AuditData(self.forget[:max_rows], self.holdout[:max_rows], self.retain[:max_rows], self.forget_split)


def audit_data(source, forget_split: str | None = None) -> AuditData:
    """:class:`AuditData` of a prepared mini-TOFU setting (:class:`~npo_lab.minitofu.MiniTofu`) or of a TOFU source
    (``'synthetic'``, ``'hub'``, a directory or ``None``, see :func:`~npo_lab.tofu.data.load_tofu`) and
    ``forget_split`` (default: the setting's, else forget10).

    forget: ``eval_split_for(forget_split)``; holdout: the holdout split of as many authors
    (``holdout10`` for forget splits above 10 %); retain: ``retain_split_for(forget_split)``.
    """
    from ..tofu.splits import eval_split_for, forget_percent, holdout_split_for, retain_split_for

    if hasattr(source, "rows") and hasattr(source, "forget_split"):  # a MiniTofu setting
        split = forget_split or source.forget_split
        load = source.rows
    else:
        from ..tofu.data import load_tofu_rows

        split = forget_split or "forget10"
        load = lambda name: load_tofu_rows(name, source)  # noqa: E731
    holdout = holdout_split_for(f"forget{min(forget_percent(split), 10):02d}")
    try:
        holdout_rows = load(holdout)
    except (FileNotFoundError, ValueError) as err:
        raise ValueError(
            f"membership-inference audits need the holdout authors of split {holdout} (TOFU's holdout01/05/10 or "
            f"the bundled synthetic ones): {err}"
        ) from None
    return AuditData(load(eval_split_for(split)), holdout_rows, load(retain_split_for(split)), split)


# --------------------------------------------------------------------------------------------------------------
# one model
# --------------------------------------------------------------------------------------------------------------
class _Stages:
    """Progress: a tqdm bar on a terminal, else one line per stage (``say``)."""

    def __init__(self, total: int, progress: bool, say: Callable[[str], Any]):
        self.say, self.bar, self.t = say, None, time.perf_counter()
        self.lines = progress and not sys.stderr.isatty()
        if progress and not self.lines:
            from ..progress import progress_bar

            self.bar = progress_bar(total=total, desc="audit", unit="stage")

    def start(self, name: str, stage: str) -> None:
        self.t = time.perf_counter()
        if self.bar is not None:
            self.bar.set_postfix_str(f"{name}: {stage}")

    def done(self, name: str, stage: str) -> None:
        if self.bar is not None:
            self.bar.update(1)
        elif self.lines:
            self.say(f"[audit] {name}: {stage} {time.perf_counter() - self.t:.1f}s")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _stages(cfg: AuditConfig) -> list[str]:
    mia = [s for s in ("mia", "memorization") if s in cfg.audits]
    return (["mia+memorization"] if mia else []) + [s for s in AUDITS[2:] if s in cfg.audits]


def _run_stage(stage, model, tokenizer, data: AuditData, cfg: AuditConfig, ref: dict | None, art: dict) -> dict:
    """One stage's numbers; ``art`` collects what the reference model's audit lends the others."""
    kw = dict(template=cfg.template, max_length=cfg.max_length, batch_size=cfg.batch_size)
    ref = ref if ref is not None else art  # the reference model is compared with itself
    out: dict[str, Any] = {}
    if stage == "mia+memorization":
        stats = answer_stats(model, tokenizer, data.forget, **kw)
        if "memorization" in cfg.audits:
            out.update(memorization_scores(stats))
        if "mia" in cfg.audits:
            art["aucs"] = aucs = mia_aucs(stats, answer_stats(model, tokenizer, data.holdout, **kw), cfg.k)
            for a in ATTACKS:
                out[f"auc_{a}"], out[f"privleak_{a}"] = aucs[a], privleak(aucs[a], ref["aucs"][a])
            out["auc"], out["privleak"] = out[f"auc_{cfg.attack}"], out[f"privleak_{cfg.privleak_attack}"]
    elif stage == "forget":
        art["forget_log"] = log = forget_log(model, tokenizer, data.forget, **kw)
        out.update(forget_metrics(log, ref["forget_log"]))
        if data.retain:
            out["retain_probability"] = _probability(model, tokenizer, _retain_subset(data), kw)
    elif stage == "relearning":
        train, held_out = split_halves(data.forget, cfg.seed)
        m = relearned_copy(
            model,
            tokenizer,
            train,
            steps=cfg.relearn_steps,
            learning_rate=cfg.relearn_learning_rate,
            batch_size=cfg.relearn_batch_size,
            seed=cfg.seed,
            template=cfg.template,
            max_length=cfg.max_length,
        )
        art["relearn_log"] = log = forget_log(m, tokenizer, held_out, **kw)
        res = forget_metrics(log, ref["relearn_log"])
        out["relearn_forget_probability"] = res["forget_probability"]
        out["relearn_truth_ratio"] = res["forget_truth_ratio"]
        out["relearn_forget_quality"] = res["forget_quality"]
        ref_prob = forget_metrics(ref["relearn_log"])["forget_probability"]
        out["relearn_recovery"] = res["forget_probability"] - ref_prob
    elif stage == "quantization":
        out.update(_quantization(model, tokenizer, data, cfg, kw))
    elif stage == "paraphrase":
        out.update(paraphrase_probe(model, tokenizer, data.forget, generate=cfg.generate, **kw))
    return out


def _probability(model, tokenizer, rows, kw) -> float:
    from ..scoring import score_answers

    return float(score_answers(model, tokenizer, rows, **kw).probability().mean())


def _retain_subset(data: AuditData) -> list[dict]:
    """As many retain rows as forget rows, spread over the retain authors (a utility check for the attacks)."""
    return data.retain[:: max(1, len(data.retain) // len(data.forget))][: len(data.forget)]


def _quantization(model, tokenizer, data: AuditData, cfg: AuditConfig, kw) -> dict:
    """Forget (and retain) probability of each quantized copy: the answers only, one pass per set."""
    out = {}
    for b in cfg.bits:
        q = quantize_model(model, b, cfg.group_size)
        out[f"quant{b}_forget_probability"] = _probability(q, tokenizer, data.forget, kw)
        if data.retain:
            out[f"quant{b}_retain_probability"] = _probability(q, tokenizer, _retain_subset(data), kw)
        del q
    return out


def audit_model(
    model,
    tokenizer,
    data: AuditData,
    config: AuditConfig | None = None,
    reference: dict | None = None,
    *,
    name: str = "model",
    progress: bool = False,
    say: Callable[[str], Any] = print,
) -> tuple[dict, dict]:
    """Every audit of ``config`` on ``model``; returns ``(numbers, artifacts)``.

    ``reference`` is the artifacts dict of the retain model's own audit (``aucs``, ``forget_log``,
    ``relearn_log``); ``None`` audits the retain model itself (privleak 0, recovery 0, forget quality 1 by
    construction). The model is not changed (attacks work on copies).
    """
    cfg = config or AuditConfig()
    data = data.limited(cfg.max_rows)
    stages = _stages(cfg)
    bar = _Stages(len(stages), progress, say)
    numbers: dict[str, Any] = {}
    art: dict[str, Any] = {}
    try:
        for stage in stages:
            bar.start(name, stage)
            numbers.update(_run_stage(stage, model, tokenizer, data, cfg, reference, art))
            bar.done(name, stage)
    finally:
        bar.close()
    return numbers, art


# --------------------------------------------------------------------------------------------------------------
# several models
# --------------------------------------------------------------------------------------------------------------
def audit_models(
    models: Mapping[str, Any],
    tokenizer,
    setting,
    *,
    reference: str = "retain",
    config: AuditConfig | None = None,
    forget_split: str | None = None,
    progress: bool = True,
    say: Callable[[str], Any] = print,
) -> dict:
    """Audit every model of ``models`` (``{name: model}``, sharing ``tokenizer``) against ``models[reference]``.

    ``setting``: a :class:`~npo_lab.minitofu.MiniTofu`, a TOFU source (see :func:`audit_data`) or an
    :class:`AuditData`. Returns a JSON-able dict: ``config``, ``reference``, ``forget_split``, ``n_rows``
    (forget, holdout, retain), ``models`` ``{name: {metric: number}}`` (the reference first), ``seconds``
    ``{name: seconds}``, ``total_seconds`` (wall) and ``total_cpu_seconds`` (CPU time of this process, all threads).
    """
    cfg = config or AuditConfig()
    if reference not in models:
        raise ValueError(f"reference {reference!r} is not one of the models ({', '.join(models)})")
    data = setting if isinstance(setting, AuditData) else audit_data(setting, forget_split)
    order = [reference] + [n for n in models if n != reference]
    t0, c0 = time.perf_counter(), time.process_time()
    results: dict[str, dict] = {}
    seconds: dict[str, float] = {}
    ref_art = None
    for name in order:
        t = time.perf_counter()
        results[name], art = audit_model(
            models[name], tokenizer, data, cfg, ref_art, name=name, progress=progress, say=say
        )
        ref_art = art if ref_art is None else ref_art
        seconds[name] = time.perf_counter() - t
    limited = data.limited(cfg.max_rows)
    return {
        "config": cfg.to_dict(),
        "reference": reference,
        "forget_split": data.forget_split,
        "n_rows": {"forget": len(limited.forget), "holdout": len(limited.holdout), "retain": len(limited.retain)},
        "models": results,
        "seconds": seconds,
        "total_seconds": time.perf_counter() - t0,
        "total_cpu_seconds": time.process_time() - c0,
    }


def save_audit(result: Mapping, path: str | Path) -> Path:
    """Write an audit result as strict JSON (non-finite numbers as ``null``)."""
    from ..files import write_json

    return write_json(path, dict(result))


def demo_audit(
    out_dir: str | Path,
    setting,
    models: Mapping[str, Any],
    *,
    config: AuditConfig | None = None,
    progress: bool = True,
    say: Callable[[str], Any] = print,
) -> dict:
    """The demo's ``--audit`` step: audit the fine-tuned model, the retain model and every unlearned model.

    ``setting``: the demo's :class:`~npo_lab.minitofu.MiniTofu`; ``models``: ``{method: unlearned model}``.
    Writes ``audit.json`` (the result), ``audit.csv`` (:func:`audit_table`) and ``figures/audit.png``
    (:func:`~npo_lab.audit.figure.plot_audit`) into ``out_dir``; returns the result.
    """
    from .figure import plot_audit

    out = Path(out_dir)
    cfg = config or AuditConfig(max_length=setting.config.max_length, template=setting.config.template)
    all_models = {"finetuned": setting.model, "retain": setting.retain_model, **dict(models)}
    say(f"[audit] {len(all_models)} models: {', '.join(all_models)}")
    result = audit_models(all_models, setting.tokenizer, setting, config=cfg, progress=progress, say=say)
    save_audit(result, out / AUDIT_FILE)
    table = audit_table(result)
    table.to_csv(out / "audit.csv")
    try:
        (out / "figures").mkdir(parents=True, exist_ok=True)
        fig = plot_audit(result)
        fig.savefig(out / "figures" / "audit.png", dpi=120, bbox_inches="tight")
        import matplotlib.pyplot as plt

        plt.close(fig)
    except Exception as err:  # a figure must never cost the results
        say(f"[audit] figure failed: {err!r}")
    say(f"[audit] done in {result['total_seconds']:.1f}s\n" + table.to_string(float_format=lambda x: f"{x:.3g}"))
    return result


def demo_audit_entry(
    out_dir: str | Path,
    setting,
    models: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    progress: bool = True,
    say: Callable[[str], Any] = print,
) -> dict:
    """:func:`demo_audit` as the demo's last step; returns the ``"audit"`` entry of ``demo_summary.json``.

    ``overrides``: :class:`AuditConfig` fields (``DemoConfig.audit_config``; the setting's template and
    ``max_length`` by default). Never raises for a failed or interrupted (Ctrl-C) audit: the entry says so
    (``status`` ``"failed"`` with ``error``, or ``"interrupted"``) and the demo's results stay as written. A completed
    entry holds ``status``, ``file`` (``audit.json``), ``reference``, ``seconds`` and ``models``: per model the
    headline columns (:data:`TABLE_COLUMNS`, ``None`` where not measured).
    """
    from ..runs import to_jsonable

    t0 = time.perf_counter()
    try:
        base = {"max_length": setting.config.max_length, "template": setting.config.template}
        cfg = AuditConfig.from_dict({**base, **dict(overrides or {})})
        result = demo_audit(out_dir, setting, models, config=cfg, progress=progress, say=say)
    except KeyboardInterrupt:
        say("[audit] interrupted: the demo's results are kept")
        return {"status": "interrupted", "seconds": time.perf_counter() - t0}
    except Exception as err:  # the audit must never cost the demo's results
        say(f"[audit] failed: {err!r} (the demo's results are kept)")
        return {"status": "failed", "error": repr(err), "seconds": time.perf_counter() - t0}
    return {
        "status": "completed",
        "file": AUDIT_FILE,
        "reference": result["reference"],
        "seconds": result["total_seconds"],
        "models": to_jsonable(audit_table(result).to_dict(orient="index")),  # NaN -> None
    }
