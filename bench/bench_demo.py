"""Benchmark of `npo-lab demo` (what `make demo` runs): wall time cold and warm, and the demo's targets, per seed.

Usage (from the repository root, after `make install`):

    .venv/bin/python bench/bench_demo.py --seeds 0 1 2                              # bundled synthetic authors
    .venv/bin/python bench/bench_demo.py --seeds 0 1 2 --data path/to/tofu/data     # 20 real TOFU authors

For each seed: a **cold** run (an empty cache: the tokenizer and both models are trained) and a **warm** run (the
same cache: models loaded), each as a separate `npo-lab demo` process, timed from process start to exit.
The targets: wall time ≤ 180 s cold and ≤ 90 s warm (a quiet 2-core machine, every method run), and the
paper's claims as the demo computes them (`demo_summary.json`'s `claims`, :mod:`npo_lab.experiments.claims`:
GA collapses; NPO collapses ≥ 2× later or never while reaching the retain model's forget probability; NPO keeps
≥ 1.5× GA's utility at matched forgetting; NPO+RT reaches forget quality ≥ 0.1 at ≥ 80 % utility; GA+RT differs
from GA), per seed and over the seeds (mean ± sd). The 1-minute load average is printed before and after each run.

Writes `bench_demo.json` (every number) into --out and prints a table. Timings taken while other work shares the
CPU are pessimistic: compare them only with the load average printed beside them.
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


def check(summary: dict) -> dict:
    """The claims of one demo summary (computed by the demo) and the fine-tuned model's numbers."""
    ft = summary["finetuned"]
    return {
        "finetuned_forget_quality": ft["forget_quality"],
        "finetuned_model_utility": ft["model_utility"],
        "retain_model_utility": summary["retain"]["model_utility"],
        "claims": summary.get("claims", {}),
    }


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


def _line(seed: int, entry: dict) -> str:
    parts = [f"seed {seed}:"]
    for k, limit in (("cold", 180), ("warm", 90)):
        if k + "_seconds" in entry:
            load = entry.get(k + "_load_average_1min")
            ok = "ok" if entry[k + "_seconds"] <= limit else f"over {limit}s"
            parts.append(
                f"{k} {entry[k + '_seconds']:.0f}s ({ok}" + (f"; load {load[0]:.1f}→{load[1]:.1f})" if load else ")")
            )
    for name, c in entry["targets"]["claims"].items():
        verdict = {True: "yes", False: "NO", None: "n/a"}[c.get("holds")]
        nums = ", ".join(f"{k}={v:.3g}" for k, v in c.items() if isinstance(v, float))
        parts.append(f"| {name}: {verdict}" + (f" ({nums})" if nums else ""))
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

    methods = args.methods or list(DEMO_METHODS)
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
        print(_line(seed, entry), flush=True)
    from npo_lab.experiments import seed_table

    table = seed_table({seed: e["targets"]["claims"] for seed, e in results["seeds"].items()})
    results["over_seeds"] = table.to_dict(orient="records")
    (root / "bench_demo.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table.to_string(index=False))
    print(f"load average now {os.getloadavg()}; wrote {root / 'bench_demo.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
