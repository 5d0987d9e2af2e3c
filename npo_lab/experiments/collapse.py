"""The collapse laboratory: when does gradient ascent collapse a language model, and how much later does NPO?

Theorem 2 of the NPO paper (arXiv 2404.05868, Sec. 4) is a statement about plain gradient descent: the step is
``η·W·∇logp`` and NPO's weight ``W = 2σ(β·log_ratio)`` fades as a forget row is unlearned, so NPO diverges
logarithmically where GA (W ≡ 1) diverges linearly. Language models are unlearned with AdamW and gradient
clipping, which rescale the step. This module measures what that does on the mini-TOFU models
(:mod:`npo_lab.minitofu`): a grid of unlearning runs over

* the optimiser — AdamW and SGD, each with and without gradient clipping (:data:`OPTIMISERS`),
* the learning rate (constant, no warm-up),
* the method — GA (the β → 0 end of NPO, Proposition 1) with each GA reduction of
  :data:`npo_lab.losses.GA_REDUCTIONS` (``sum``: the paper's summed log-prob, ``token_mean``: the reference
  code's), and NPO with each β,
* the seed (of the mini-TOFU models and of unlearning),

one run per cell through :func:`npo_lab.unlearn.unlearn` with a :class:`~npo_lab.unlearn.callbacks.ProbeCallback`
that probes the model after every optimiser step (:mod:`npo_lab.unlearn.probes`). Per cell it records the
**steps to collapse** (utility proxy below half the fine-tuned model's) and **matched forgetting** (the first step
at which the forget rows' probability falls to the retain model's) and the utility proxy there. A run stops once
both are marked (``stop_after_marks``) or after ``steps``.

Output directory (``out``)::

    collapse.json           the CollapseConfig, status, timings and the load average
    cells/<cell>.json       one finished cell (written atomically; a finished cell is never recomputed)
    runs/<cell>/            its unlearning run record (npo_lab.runs; probes.jsonl holds every step's probe)
    table.csv, table.json   one row per cell (:func:`cell_table`)
    comparison.csv/.json    GA vs NPO per optimiser, learning rate, β and GA reduction, over seeds
    figures/collapse_steps.png, collapse_frontier.png, collapse_weights.png

Cells run in ``workers`` processes (spawned, ``threads`` torch threads each). The tables and figures are in
:mod:`npo_lab.experiments.collapse_report`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..configs import Config, option
from ..losses import BETA, BETA_MAX, GA_REDUCTIONS
from ..runtime import WorkerPool, init_worker, interruptible
from ..tofu.splits import FORGET_SPLITS

__all__ = ["OPTIMISERS", "COLLAPSE_FILE", "CollapseConfig", "grid_cells", "run_cell", "run_collapse"]

#: optimiser name -> (transformers optimiser, gradient clipping on)
OPTIMISERS: dict[str, tuple[str, bool]] = {
    "adamw": ("adamw_torch", True),
    "adamw_noclip": ("adamw_torch", False),
    "sgd": ("sgd", True),
    "sgd_noclip": ("sgd", False),
}
COLLAPSE_FILE = "collapse.json"
_CELL_FORMAT = 1  # bump when a cell's record changes meaning (old cells are then recomputed)


def _numbers(name: str, value, kind: type, *, positive: bool = True, le: float | None = None) -> tuple:
    """A non-empty tuple of distinct finite numbers of ``kind`` (``ValueError`` naming ``name`` otherwise)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{name} must be a non-empty list of numbers, got {value!r}")
    out = []
    for v in value:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if ok and kind is int:
            ok = float(v).is_integer() and v >= 0
        if ok and kind is float and positive:
            ok = v > 0 and (le is None or v <= le)
        if not ok:
            what = "integers >= 0" if kind is int else "finite numbers > 0" + (f" and <= {le:g}" if le else "")
            raise ValueError(f"{name} must hold {what}, got {v!r}")
        out.append(kind(v))
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must not repeat a value, got {list(out)}")
    return tuple(out)


def _names(name: str, value, allowed: Sequence[str]) -> tuple[str, ...]:
    value = (value,) if isinstance(value, str) else value
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{name} must name at least one of {', '.join(allowed)}")
    bad = [v for v in value if v not in allowed]
    if bad:
        raise ValueError(f"{name} must be drawn from {', '.join(allowed)}; got {bad[0]!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"{name} must not repeat a value, got {list(value)}")
    return tuple(value)


@dataclass(frozen=True)
class CollapseConfig(Config):
    """Settings of the collapse laboratory (saved in ``collapse.json``); :meth:`smoke` runs in seconds.

    The defaults (108 cells on 3 seeds, ≤ 30 min on 2 cores) cover the regime a one-seed probe pointed at (AdamW
    1e-4 with clipping: GA collapses near step 60, NPO β = 0.2 later, β ≥ 0.3 not within 200 steps) and the
    demo's setting (AdamW 3e-4); β = 0.05 and AdamW 3e-5 / SGD 0.01 are left to the command line (on seed 0 they
    collapse with GA, or after 150+ steps). Constant learning rate, batch 8 of the 40 forget rows.
    """

    out: str = option("runs/collapse", "output directory (new, empty, or an earlier laboratory's output)", group="grid")
    optimisers: tuple[str, ...] = option(
        tuple(OPTIMISERS), f"optimisers: {', '.join(OPTIMISERS)} (noclip: max_grad_norm 0)", group="grid"
    )
    adamw_lrs: Sequence[float] = option((1e-4, 3e-4), "learning rates of the AdamW optimisers", group="grid")
    sgd_lrs: Sequence[float] = option((0.05,), "learning rates of the SGD optimisers", group="grid")
    betas: Sequence[float] = option((0.1, 0.2, 0.3, 0.5), f"NPO's β values, in (0, {BETA_MAX:g}]", group="grid")
    ga_reductions: tuple[str, ...] = option(
        GA_REDUCTIONS, "GA's forget term: sum (the paper) and/or token_mean (the reference code)", group="grid"
    )
    seeds: Sequence[int] = option((0, 1, 2), "seeds (of the mini-TOFU models and of unlearning)", group="grid")
    steps: int = option(200, "optimiser steps per run at most", group="run", ge=1)
    batch_size: int = option(8, "forget rows per step", group="run", ge=1)
    max_grad_norm: float = option(1.0, "the clipping norm of the clipped optimisers", group="run", gt=0)
    weight_decay: float = option(0.01, "weight decay (AdamW and SGD)", group="run", ge=0)
    stop_after_marks: bool = option(
        True, "stop a run once it has collapsed and reached matched forgetting", group="run"
    )
    n_retain_probe: int = option(32, "retain rows in the utility probe (a fixed sample)", group="probe", ge=1)
    n_general_probe: int = option(32, "general rows in the utility probe (a fixed sample)", group="probe", ge=0)
    collapse_fraction: float = option(
        0.5, "collapse: utility proxy below this fraction of the fine-tuned model's", group="probe", gt=0, le=0.99
    )
    data: str = option("synthetic", "'synthetic', 'hub' or a directory of TOFU files", group="models")
    n_authors: int = option(20, "authors of the mini-TOFU models (20 QA pairs each)", group="models", ge=2)
    forget_split: str = option("forget10", "forget split", group="models", choices=FORGET_SPLITS)
    minitofu: dict | None = option(None, "MiniTofuConfig overrides (None: its defaults)", group="models")
    workers: int = option(2, "cells run in this many worker processes (1: in this process)", group="compute", ge=1)
    threads: int = option(1, "torch threads per worker", group="compute", ge=1)

    def __post_init__(self) -> None:
        super().__post_init__()
        set_ = object.__setattr__
        set_(self, "optimisers", _names("optimisers", self.optimisers, tuple(OPTIMISERS)))
        set_(self, "ga_reductions", _names("ga_reductions", self.ga_reductions, GA_REDUCTIONS))
        set_(self, "adamw_lrs", _numbers("adamw_lrs", self.adamw_lrs, float))
        set_(self, "sgd_lrs", _numbers("sgd_lrs", self.sgd_lrs, float))
        set_(self, "betas", _numbers("betas", self.betas, float, le=BETA_MAX))
        set_(self, "seeds", _numbers("seeds", self.seeds, int))
        if not self.out.strip():
            raise ValueError("out must not be empty")
        self.minitofu_config(self.seeds[0])  # validates the overrides

    @classmethod
    def smoke(cls, **changes) -> CollapseConfig:
        """Seconds-long sizes for tests: :meth:`MiniTofuConfig.smoke` models, one learning rate and β, 6 steps."""
        from ..minitofu import MiniTofuConfig

        small, full = MiniTofuConfig.smoke().to_dict(), MiniTofuConfig().to_dict()
        sizes = {k: v for k, v in small.items() if v != full[k] and k not in ("source", "seed", "n_authors")}
        base: dict[str, Any] = dict(
            optimisers=("adamw", "sgd"),
            adamw_lrs=(1e-3,),
            sgd_lrs=(0.05,),
            betas=(0.1,),
            ga_reductions=("sum",),
            seeds=(0,),
            steps=6,
            batch_size=4,
            n_retain_probe=4,
            n_general_probe=4,
            n_authors=small["n_authors"],
            minitofu=sizes,
            workers=1,
        )
        base.update(changes)
        return cls(**base)

    def minitofu_config(self, seed: int):
        """The :class:`~npo_lab.minitofu.MiniTofuConfig` of a seed's models (as the demo's of that seed)."""
        from ..minitofu import MiniTofuConfig

        return MiniTofuConfig.from_dict(
            {"source": self.data, "seed": int(seed), "n_authors": self.n_authors, **(self.minitofu or {})}
        )

    def learning_rates(self, optimiser: str) -> tuple[float, ...]:
        return self.sgd_lrs if OPTIMISERS[optimiser][0] == "sgd" else self.adamw_lrs


# --------------------------------------------------------------------------------------------------------------
# cells
# --------------------------------------------------------------------------------------------------------------
def _cell_key(spec: dict) -> str:
    text = json.dumps(spec, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def grid_cells(cfg: CollapseConfig) -> list[dict]:
    """Every cell of the grid: ``{"id", "optimiser", "lr", "method", "beta", "ga_reduction", "seed", "shared"}``;
    ``id`` is readable and ends with a hash of everything that defines the cell's result."""
    shared = {
        k: v
        for k, v in cfg.to_dict().items()
        if k in ("steps", "batch_size", "max_grad_norm", "weight_decay", "stop_after_marks")
        or k in ("n_retain_probe", "n_general_probe", "collapse_fraction", "data", "n_authors")
        or k in ("forget_split", "minitofu")
    }
    cells = []
    for seed in cfg.seeds:
        for opt in cfg.optimisers:
            for lr in cfg.learning_rates(opt):
                methods = [("GA", None, r) for r in cfg.ga_reductions] + [("NPO", b, None) for b in cfg.betas]
                for method, beta, red in methods:
                    spec = {
                        "optimiser": opt,
                        "lr": lr,
                        "method": method,
                        "beta": beta,
                        "ga_reduction": red,
                        "seed": seed,
                    }
                    key = _cell_key({**spec, "shared": shared, "format": _CELL_FORMAT})
                    tag = f"GA-{red}" if method == "GA" else f"NPO-b{beta:g}"
                    spec["id"] = f"{opt}_lr{lr:g}_{tag}_s{seed}_{key}"
                    spec["shared"] = shared
                    cells.append(spec)
    return cells


_SETTINGS: dict = {}  # per process: (minitofu config json, forget split) -> (setting, retain forget probability)


def _setting(cfg: CollapseConfig, seed: int):
    """The seed's mini-TOFU setting and the retain model's forget probability (the matched-forgetting target)."""
    from ..minitofu import prepare
    from ..unlearn.probes import ProbeScorer

    mcfg = cfg.minitofu_config(seed)
    key = (mcfg.to_json(), cfg.forget_split)
    if key not in _SETTINGS:
        setting = prepare(mcfg, cfg.forget_split, progress=False, check=False)
        scorer = ProbeScorer(setting.tokenizer, {"forget": setting.forget_rows}, max_length=setting.config.max_length)
        target = scorer.score(setting.retain_model)["forget_probability"]
        _SETTINGS[key] = (setting, target)
    return _SETTINGS[key]


def _unlearn_config(cfg: CollapseConfig, cell: dict, out: Path, max_length: int):
    from ..unlearn import UnlearnConfig

    optim, clip = OPTIMISERS[cell["optimiser"]]
    return UnlearnConfig(
        method=cell["method"],
        beta=cell["beta"] if cell["beta"] is not None else BETA,  # GA: β only sets the W recorded beside it
        ga_reduction=cell["ga_reduction"] or "token_mean",
        learning_rate=cell["lr"],
        max_steps=cfg.steps,
        epochs=1e6,
        batch_size=cfg.batch_size,
        warmup_epochs=0.0,
        lr_scheduler="constant",
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm if clip else 0.0,
        optim=optim,
        seed=cell["seed"],
        eval_every=-1,
        eval_at_start=False,
        output_dir=str(out),
        template="qa",
        max_length=max_length,
        save_every=-1,
        logging_steps=10**6,
        disable_tqdm=True,
    )


def _w_quantiles(rows: list[dict]) -> dict:
    import numpy as np

    qs = (0.1, 0.25, 0.5, 0.75, 0.9)
    out: dict[str, list] = {"step": [], **{f"q{int(q * 100)}": [] for q in qs}}
    for r in rows:
        if r.get("W_rows"):
            out["step"].append(r["step"])
            vals = np.quantile(np.asarray(r["W_rows"], dtype=float), qs)
            for q, v in zip(qs, vals, strict=True):
                out[f"q{int(q * 100)}"].append(float(f"{v:.5g}"))
    return out


def summarize_probes(rows: list[dict], marks: dict, forget_target: float) -> dict:
    """A cell's numbers from its probe rows: the marked steps, the utility proxy at matched forgetting (absolute
    and relative to the start), the last probe, and the trajectories (step, utility, forget probability, W mean)."""
    start, last = rows[0], rows[-1]
    u0 = start["utility"]
    by_step = {r["step"]: r for r in rows}
    matched = marks.get("matched_forgetting")
    u_matched = by_step[matched]["utility"] if matched is not None else None
    return {
        "collapse_step": marks.get("collapse"),
        "matched_step": matched,
        "utility_start": u0,
        "forget_probability_start": start["forget_probability"],
        "forget_target": forget_target,
        "utility_at_matched": u_matched,
        "utility_at_matched_rel": None if u_matched is None else u_matched / u0,
        "final_step": last["step"],
        "final_utility": last["utility"],
        "final_utility_rel": last["utility"] / u0,
        "final_forget_probability": last["forget_probability"],
        "final_W_mean": last.get("W_mean"),
        "min_utility_rel": min(r["utility"] for r in rows) / u0,
        "trajectory": {
            "step": [r["step"] for r in rows],
            "utility": [round(r["utility"], 6) for r in rows],
            "forget_probability": [round(r["forget_probability"], 6) for r in rows],
            "W_mean": [r.get("W_mean") for r in rows],
        },
        "W_quantiles": _w_quantiles(rows),
    }


def run_cell(cfg: CollapseConfig, cell: dict, out: str | Path) -> dict:
    """Run one cell (an unlearning run with probes) into ``out/runs/<id>`` and write ``out/cells/<id>.json``
    atomically; returns the cell record. A cell whose record exists is loaded, not recomputed; a cell another
    process is running (its lock ``cells/<id>.lock`` is held) is waited for, then loaded."""
    from ..files import file_lock

    with file_lock(Path(out) / "cells" / f"{cell['id']}.lock"):
        return _run_cell(cfg, cell, Path(out))


def _run_cell(cfg: CollapseConfig, cell: dict, out: Path) -> dict:
    from ..files import write_json
    from ..unlearn import unlearn
    from ..unlearn.callbacks import ProbeCallback
    from ..unlearn.probes import ProbeScorer, sample_rows

    path = out / "cells" / f"{cell['id']}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    t0, c0 = time.perf_counter(), time.process_time()
    setting, target = _setting(cfg, cell["seed"])
    groups = {
        "forget": setting.forget_rows,
        "retain": sample_rows(setting.retain_rows, cfg.n_retain_probe, seed=cell["seed"]),
    }
    if cfg.n_general_probe and setting.general_rows():
        groups["general"] = sample_rows(setting.general_rows(), cfg.n_general_probe, seed=cell["seed"])
    max_length = setting.config.max_length
    scorer = ProbeScorer(setting.tokenizer, groups, max_length=max_length)
    probe = ProbeCallback(
        scorer,
        forget_target=target,
        collapse_fraction=cfg.collapse_fraction,
        stop_after_marks=cfg.stop_after_marks,
    )
    run_dir = out / "runs" / cell["id"]
    result = unlearn(
        setting.fresh_model(),
        setting.tokenizer,
        setting.forget_rows,
        None,
        _unlearn_config(cfg, cell, run_dir, max_length),
        callbacks=[probe],
        overwrite=run_dir.exists(),
    )
    if result.interrupted:
        raise KeyboardInterrupt
    seconds = time.perf_counter() - t0
    record = {
        **{k: v for k, v in cell.items() if k != "shared"},
        "clip": OPTIMISERS[cell["optimiser"]][1],
        **summarize_probes(probe.rows, probe.marks.steps, target),
        "steps_max": cfg.steps,
        "probe_seconds_per_step": probe.seconds / max(probe.n_probes, 1),
        "seconds": seconds,
        "cpu_seconds": time.process_time() - c0,  # this process's CPU time: the cost on an unshared core
        "shared": cell["shared"],
    }
    write_json(path, record)
    return record


# --------------------------------------------------------------------------------------------------------------
# the grid
# --------------------------------------------------------------------------------------------------------------
def _cell_job(cfg_json: str, cell: dict, out: str) -> dict:
    with interruptible():
        return run_cell(CollapseConfig.from_json(cfg_json), cell, out)


def _run_cells(cfg: CollapseConfig, todo: list[dict], out: Path, say: Callable[[str], Any]) -> list[dict]:
    done: list[dict] = []

    def report(rec: dict) -> None:
        done.append(rec)
        say(
            f"[collapse] {len(done)}/{len(todo)} {rec['id']}: collapse {rec['collapse_step']}, matched "
            f"{rec['matched_step']}, {rec['seconds']:.1f}s ({rec['probe_seconds_per_step'] * 1e3:.0f} ms/probe)"
        )

    if cfg.workers == 1 or len(todo) <= 1:
        init_worker(cfg.threads)
        for cell in todo:
            report(run_cell(cfg, cell, out))
        return done
    from concurrent.futures import as_completed

    pool = WorkerPool.start(cfg.workers, cfg.threads)
    futures = {pool.executor.submit(_cell_job, cfg.to_json(), cell, str(out)): cell["id"] for cell in todo}
    try:
        for f in as_completed(futures):
            try:
                rec = f.result()
            except Exception as err:  # one failed cell does not stop the others; a rerun retries it
                say(f"[collapse] cell {futures[f]} failed: {err!r}")
                continue
            report(rec)
    except BaseException:  # Ctrl-C: the cells in flight stop and are not recorded; a rerun runs them again
        pool.interrupt()
        raise
    pool.close()
    return done


def run_collapse(config: CollapseConfig | None = None, *, print_fn: Callable[[str], Any] = print) -> dict:
    """Run the laboratory (module docstring) into ``config.out``; returns ``collapse.json``'s content.

    Finished cells are loaded, the others run (``workers`` processes); then the tables and figures are written.
    Bad settings raise ``ValueError`` before any model is trained.
    """
    from ..files import check_out_dir, write_json
    from .collapse_report import write_reports

    cfg = config or CollapseConfig()
    if not isinstance(cfg, CollapseConfig):
        raise ValueError(f"config must be a CollapseConfig, got {type(cfg).__name__}")
    if cfg.data not in ("synthetic", "hub") and not Path(cfg.data).expanduser().is_dir():
        raise FileNotFoundError(f"data {cfg.data!r} is neither 'synthetic', 'hub' nor an existing directory")
    out = check_out_dir(cfg.out, marker=COLLAPSE_FILE)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    info: dict = {"config": cfg.to_dict(), "status": "running", "load_average_start": list(os.getloadavg())}
    write_json(out / COLLAPSE_FILE, info)
    cells = grid_cells(cfg)
    todo = [c for c in cells if not (out / "cells" / f"{c['id']}.json").exists()]
    # seed by seed, the clipped optimisers first: a partial run (Ctrl-C, a time limit) has the main comparisons
    todo.sort(key=lambda c: (cfg.seeds.index(c["seed"]), not OPTIMISERS[c["optimiser"]][1]))
    print_fn(f"[collapse] {len(cells)} cells, {len(cells) - len(todo)} finished earlier, {len(todo)} to run")
    if todo:  # the first seed's models trained (or loaded) before the workers start; later seeds' by the workers
        _, target = _setting(cfg, todo[0]["seed"])  # (the cache's lock makes one process train, the others wait)
        print_fn(f"[collapse] seed {todo[0]['seed']}: models ready, retain model's forget probability {target:.4f}")
    try:
        _run_cells(cfg, todo, out, print_fn)
        info["status"] = "completed"
    except KeyboardInterrupt:
        info["status"] = "interrupted"
        print_fn("[collapse] interrupted: the finished cells are kept; run again to continue")
    records = [
        json.loads(p.read_text(encoding="utf-8")) for c in cells if (p := out / "cells" / f"{c['id']}.json").exists()
    ]
    if info["status"] == "completed" and len(records) < len(cells):
        info["status"] = "incomplete"  # a cell failed (see the log): running again retries it
    info.update(
        n_cells=len(cells),
        n_finished=len(records),
        n_run_now=len(todo),
        wall_seconds=time.perf_counter() - t0,
        load_average_end=list(os.getloadavg()),
    )
    if records:
        info["outputs"] = write_reports(records, out, cfg)
    write_json(out / COLLAPSE_FILE, info)
    print_fn(f"[collapse] wrote {out} in {info['wall_seconds']:.1f}s ({len(records)}/{len(cells)} cells)")
    return info
