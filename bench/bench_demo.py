"""Benchmark of `npo-lab demo` (what `make demo` runs): wall time cold and warm, and the demo's targets, per seed.

Usage (from the repository root, after `make install`):

    .venv/bin/python bench/bench_demo.py --seeds 0 1 2                              # bundled synthetic authors
    .venv/bin/python bench/bench_demo.py --seeds 0 1 2 --data path/to/tofu/data     # 20 real TOFU authors

For each seed: a **cold** run (an empty cache: the tokenizer and both models are trained) and a **warm** run (the
same cache: models loaded), each as a separate `npo-lab demo` process, timed from process start to exit.
The targets are checked on the cold run's `demo_summary.json`:

* wall time ≤ 180 s cold, ≤ 90 s warm (2 CPU cores);
* the fine-tuned model's forget quality against the retain model ≤ 1e-3 (the benchmark can tell them apart);
* GA collapses: its model utility falls below half of the fine-tuned model's (`steps_to_collapse` is set);
* NPO collapses at least twice as late as GA (steps to collapse, paper Sec. 4: the divergence is exponentially
  slower); reported as the ratio, `null` when a method never collapses;
* NPO+RT reaches forget quality > 0.05 at an evaluation where model utility ≥ 80 % of the fine-tuned model's
  (`forget_quality_at_matched_utility`), and GA never does.

Writes `bench_demo.json` (every number) into --out and prints a table. Timings taken while other work shares the
CPU are pessimistic.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def good_epochs(method: dict, mu_ft: float) -> list:
    return [
        e["epoch"]
        for e in method["evaluations"]
        if (e["forget_quality"] or 0) > 0.05 and (e["model_utility"] or 0) >= 0.8 * mu_ft
    ]


def _method(m: dict, mu_ft: float) -> dict:
    mus = [e["model_utility"] for e in m["evaluations"] if e["model_utility"] is not None]
    mu_peak = m["model_utility_at_peak"]
    return {
        "peak_forget_quality": m["peak_forget_quality"],
        "epoch_of_peak": m["epoch_of_peak"],
        "utility_ratio_at_peak": mu_peak / mu_ft if mu_peak is not None else None,
        "min_utility_ratio": min(mus) / mu_ft if mus else None,
        "final_utility_ratio": mus[-1] / mu_ft if mus else None,
        "steps_to_collapse": m["steps_to_collapse"],
        "forget_quality_at_matched_utility": m["forget_quality_at_matched_utility"],
        "utility_by_step": [(e["step"], e["model_utility"]) for e in m["evaluations"]],
        "good_epochs": good_epochs(m, mu_ft),
    }


def check(summary: dict) -> dict:
    """The targets on one demo_summary.json."""
    ft = summary["finetuned"]
    mu_ft = ft["model_utility"]
    methods = summary["methods"]
    out = {
        "finetuned_forget_quality": ft["forget_quality"],
        "finetuned_model_utility": mu_ft,
        "retain_model_utility": summary["retain"]["model_utility"],
        "target_finetuned_fq_le_1e-3": ft["forget_quality"] is not None and ft["forget_quality"] <= 1e-3,
    }
    for name, m in methods.items():
        out[name] = _method(m, mu_ft)
    if "GA" in methods:
        out["target_GA_collapses"] = out["GA"]["steps_to_collapse"] is not None
        out["target_GA_never_good"] = not out["GA"]["good_epochs"]
    if "GA" in methods and "NPO" in methods:
        ga, npo = out["GA"]["steps_to_collapse"], out["NPO"]["steps_to_collapse"]
        out["NPO_over_GA_steps_to_collapse"] = npo / ga if (ga and npo) else None
        out["target_NPO_collapses_2x_later"] = bool(ga) and (npo is None or npo >= 2 * ga)
    if "NPO+RT" in methods:
        out["target_NPO_RT_good"] = bool(out["NPO+RT"]["good_epochs"])
    return out


def run_once(out: Path, cache: Path, seed: int, data: str, methods: list[str], extra: list[str]) -> dict:
    env = dict(os.environ, NPO_LAB_CACHE=str(cache), HF_HUB_OFFLINE="1")
    env.pop("NPO_LAB_SMOKE", None)
    exe = shutil.which("npo-lab", path=str(Path(sys.executable).parent)) or "npo-lab"
    cmd = [
        exe,
        "demo",
        "--out",
        str(out),
        "--seed",
        str(seed),
        "--data",
        data,
        "--no-progress",
        "--methods",
        *methods,
        *extra,
    ]
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    load_after = os.getloadavg()[0]
    (out.parent / f"{out.name}.log").write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    summary = json.loads((out / "demo_summary.json").read_text())
    return {
        "command": " ".join(cmd),
        "process_seconds": wall,
        "load_average_1min": [load_before, load_after],  # the demo itself loads the 2 cores: ~2 is quiet
        "summary_wall_seconds": summary["wall_seconds"],
        "summary": summary,
    }


def _line(seed: int, entry: dict, methods: list[str]) -> str:
    t = entry["targets"]
    parts = [f"seed {seed}:"]
    for k in ("cold", "warm"):
        if k + "_seconds" in entry:
            load = entry.get(k + "_load_average_1min")
            parts.append(f"{k} {entry[k + '_seconds']:.0f}s" + (f" (load {load[0]:.1f}→{load[1]:.1f})" if load else ""))
    parts.append(f"| FQ(fine-tuned) {t['finetuned_forget_quality']:.2e}")
    for m in methods:
        r = t.get(m)
        if not r or r["peak_forget_quality"] is None:
            continue
        parts.append(
            f"| {m}: peak FQ {r['peak_forget_quality']:.3g} at ep {r['epoch_of_peak']} "
            f"(MU {r['utility_ratio_at_peak']:.0%}), min MU {r['min_utility_ratio']:.0%}, "
            f"collapse at step {r['steps_to_collapse']}, FQ at matched MU "
            f"{r['forget_quality_at_matched_utility']}"
        )
    if t.get("NPO_over_GA_steps_to_collapse") is not None:
        parts.append(f"| NPO/GA steps to collapse {t['NPO_over_GA_steps_to_collapse']:.2f}")
    return " ".join(parts)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--data", default="synthetic")
    p.add_argument("--methods", nargs="+", default=None, help="default: the demo's methods")
    p.add_argument("--out", default=None, help="where runs and bench_demo.json go (default: a temp dir)")
    p.add_argument("--no-warm", action="store_true", help="skip the warm re-run")
    p.add_argument(
        "--warm-only",
        action="store_true",
        help="skip the cold run: time only warm runs on an existing --cache (trained by an earlier run)",
    )
    p.add_argument("--cache", default=None, help="cache root to use (default: a fresh one per seed under --out)")
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more `npo-lab demo` options")
    args = p.parse_args(argv)
    from npo_lab.experiments import DEMO_METHODS

    methods = args.methods or list(DEMO_METHODS)  # the optional ones run only within --time-budget (240 s)
    root = Path(args.out or tempfile.mkdtemp(prefix="bench_demo_"))
    root.mkdir(parents=True, exist_ok=True)
    results = {"data": args.data, "methods": methods, "cpu_count": os.cpu_count(), "seeds": {}}
    for seed in args.seeds:
        cache = Path(args.cache) if args.cache else root / f"cache_seed{seed}"
        if args.warm_only:
            warm = run_once(root / f"seed{seed}_warm", cache, seed, args.data, methods, args.extra)
            entry = {
                "warm_seconds": warm["process_seconds"],
                "command": warm["command"],
                "targets": check(warm["summary"]),
                "methods_run": list(warm["summary"]["methods"]),
            }
        else:
            if not args.cache:
                shutil.rmtree(cache, ignore_errors=True)
            cold = run_once(root / f"seed{seed}_cold", cache, seed, args.data, methods, args.extra)
            entry = {
                "cold_seconds": cold["process_seconds"],
                "cold_load_average_1min": cold["load_average_1min"],
                "command": cold["command"],
                "targets": check(cold["summary"]),
                "methods_run": list(cold["summary"]["methods"]),
            }
            if not args.no_warm:
                warm = run_once(root / f"seed{seed}_warm", cache, seed, args.data, methods, args.extra)
                entry["warm_seconds"] = warm["process_seconds"]
                entry["warm_load_average_1min"] = warm["load_average_1min"]
                entry["warm_methods_run"] = list(warm["summary"]["methods"])
        results["seeds"][seed] = entry
        (root / "bench_demo.json").write_text(json.dumps(results, indent=2) + "\n")
        print(_line(seed, entry, methods), flush=True)
    print(f"wrote {root / 'bench_demo.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
