"""Benchmark of the audit (`npo_lab.audit`) on the demo's models: its extra time, and the audit targets per seed.

Usage (from the repository root, after `make install`):

    .venv/bin/python bench/bench_audit.py --seeds 0 1 2          # bundled synthetic authors, the demo's settings
    .venv/bin/python bench/bench_audit.py --smoke                # seconds: small models, few rows
    .venv/bin/python bench/bench_audit.py --seeds 0 --threads 1  # a shared, loaded machine: one torch thread

For each seed: the demo's mini-TOFU setting (`DemoConfig(seed=s)`: tokenizer, fine-tuned and retain models, cached),
one unlearning run per method with the demo's hyper-parameters (no evaluation during training), then
`audit_models` on the fine-tuned model, the retain model and every unlearned model — what `npo-lab demo --audit`
adds to the demo. Reported per seed and as mean ± sd over seeds:

* the audit's wall time (target ≤ 60 s on 2 CPU cores for the demo's 6 methods + 2 reference models), next to the
  1-minute load average (timings taken while other work shares the CPU are pessimistic);
* the MIA sanity targets: forget-vs-holdout AUC (min-k++) ≥ 0.9 for the fine-tuned model, within 0.5 ± 0.1 for the
  retain model; the retain model's privleak (0 by construction);
* per model: AUC, privleak, extraction strength, relearning recovery, forget probability after 8- and 4-bit
  quantization, paraphrased-question probability.

Writes `bench_audit.json` (every number) into --out.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

COLUMNS = (
    "auc",
    "privleak",
    "extraction_strength",
    "forget_probability",
    "relearn_recovery",
    "quant8_forget_probability",
    "quant4_forget_probability",
    "paraphrase_probability",
    "paraphrase_rouge",
)


def unlearn_methods(setting, demo, methods, out: Path) -> tuple[dict, dict]:
    """``({method: unlearned model}, {method: seconds})`` with the demo's hyper-parameters, no evaluation."""
    from npo_lab.losses import get_method
    from npo_lab.unlearn import unlearn

    idk = setting.idk_answers() if any(get_method(m).needs_idk for m in methods) else None
    models, seconds = {}, {}
    for m in methods:
        cfg = demo.unlearn_config(m, out / m.replace("+", "_"), max_length=setting.config.max_length)
        cfg = cfg.replace(eval_every=-1, forget_quality=False, disable_tqdm=True)
        t = time.perf_counter()
        res = unlearn(
            setting.fresh_model(),
            setting.tokenizer,
            setting.forget_rows,
            setting.retain_rows,
            cfg,
            idk_answers=idk,
            eval_source=setting.source_dir,
            forget_split=demo.forget_split,
            overwrite=True,
        )
        models[m], seconds[m] = res.model.eval(), time.perf_counter() - t
    return models, seconds


def one_seed(seed: int, methods, smoke: bool, tmp: Path) -> dict:
    from npo_lab.audit import AuditConfig, audit_models
    from npo_lab.experiments import DemoConfig
    from npo_lab.minitofu import prepare

    demo = DemoConfig.smoke(seed=seed) if smoke else DemoConfig(seed=seed)
    t = time.perf_counter()
    setting = prepare(demo.minitofu_config(), demo.forget_split, progress=False)
    t_prepare = time.perf_counter() - t
    models, t_unlearn = unlearn_methods(setting, demo, methods, tmp / f"seed{seed}")
    cfg = AuditConfig(template=setting.config.template, max_length=setting.config.max_length)
    if smoke:
        cfg = AuditConfig.smoke(template=cfg.template, max_length=cfg.max_length)
    all_models = {"finetuned": setting.model, "retain": setting.retain_model, **models}
    load_before = os.getloadavg()[0]
    result = audit_models(all_models, setting.tokenizer, setting, config=cfg, progress=False, say=lambda s: None)
    return {
        "seed": seed,
        "audit_seconds": result["total_seconds"],
        "audit_cpu_seconds": result["total_cpu_seconds"],
        "audit_seconds_per_model": result["seconds"],
        "load_average_1min": [load_before, os.getloadavg()[0]],
        "prepare_seconds": t_prepare,
        "unlearn_seconds": t_unlearn,
        "n_rows": result["n_rows"],
        "models": {name: {c: r.get(c) for c in COLUMNS} for name, r in result["models"].items()},
        "all": result["models"],
    }


def _mean_sd(values) -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return "–"
    sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return f"{statistics.mean(vals):.3g} ± {sd:.2g}"


def summarise(runs: list[dict]) -> tuple[dict, str]:
    names = list(runs[0]["models"])
    table = {n: {c: _mean_sd([r["models"][n][c] for r in runs]) for c in COLUMNS} for n in names}
    ft = [r["models"]["finetuned"]["auc"] for r in runs]
    rt = [r["models"]["retain"]["auc"] for r in runs]
    targets = {
        "finetuned_auc_ge_0.9": all(a is not None and a >= 0.9 for a in ft),
        "retain_auc_within_0.5_pm_0.1": all(a is not None and abs(a - 0.5) <= 0.1 for a in rt),
        "retain_privleak_zero": all(abs(r["models"]["retain"]["privleak"]) < 1e-6 for r in runs),
        "audit_le_60s": all(r["audit_seconds"] <= 60 for r in runs),
    }
    width = max(len(n) for n in names) + 2
    lines = [" " * width + " | ".join(f"{c[:14]:>16s}" for c in COLUMNS)]
    lines += [f"{n:<{width}}" + " | ".join(f"{table[n][c]:>16s}" for c in COLUMNS) for n in names]
    return {"table": table, "targets": targets}, "\n".join(lines)


def main(argv=None) -> int:
    from npo_lab.experiments import DEMO_METHODS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--methods", nargs="+", default=list(DEMO_METHODS))
    p.add_argument("--smoke", action="store_true", help="small models and rows (seconds)")
    p.add_argument("--out", default=None, help="directory for bench_audit.json (default: a temporary one)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = p.parse_args(argv)
    import torch

    if args.threads:  # on a loaded machine, one thread per process avoids OpenMP contention on these tiny models
        torch.set_num_threads(args.threads)

    out = Path(args.out or tempfile.mkdtemp(prefix="bench_audit_"))
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench_audit_runs_") as tmp:
        for seed in args.seeds:
            r = one_seed(seed, args.methods, args.smoke, Path(tmp))
            runs.append(r)
            print(
                f"seed {seed}: audit of {len(r['models'])} models {r['audit_seconds']:.1f}s wall, "
                f"{r['audit_cpu_seconds']:.1f}s CPU "
                f"(load average {r['load_average_1min'][0]:.1f} → {r['load_average_1min'][1]:.1f}, "
                f"{os.cpu_count()} cores, {torch.get_num_threads()} torch threads); unlearning "
                f"{sum(r['unlearn_seconds'].values()):.1f}s, prepare {r['prepare_seconds']:.1f}s",
                flush=True,
            )
    summary, text = summarise(runs)
    print(f"\nmean ± sd over seeds {args.seeds} (auc: min-k++, privleak: min-k)\n{text}")
    for name in ("finetuned", "retain"):
        aucs = {a: _mean_sd([r["all"][name][f"auc_{a}"] for r in runs]) for a in ("loss", "zlib", "min_k", "min_k++")}
        print(f"{name} forget-vs-holdout AUC by attack: {aucs}")
    print("\ntargets:", json.dumps(summary["targets"]))
    print("audit seconds per seed:", [round(r["audit_seconds"], 1) for r in runs], "(the machine may be shared)")
    path = out / "bench_audit.json"
    path.write_text(json.dumps({"runs": runs, **summary}, indent=2, default=float) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
