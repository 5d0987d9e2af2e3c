"""Time of the Figure-4 experiment (6 methods × 5 seeds × 2000 steps, input gap 1): ≤ 6.3 s cold, ≤ 1.5 s warm.

Run: ``.venv/bin/python bench/bench_synthetic.py [--workers 1 2] [--check] [--save CSV]``.

For each ``workers`` value (threads: the pretraining splits the seeds between them, the unlearning its batched
matrix products):

* **cold**: a fresh, empty ``$NPO_LAB_CACHE`` directory, so the initial and retrained models are trained (20 000
  full-batch GD steps from θ = 0 at lr 0.05, as in the paper) and then the 2000 unlearning steps run with an
  evaluation every 25 steps;
* **warm**: the same again in the same process after clearing the in-memory cache, so the models come from the
  ``.npz`` written by the cold run (what every later run, notebook 04 and ``npo-lab synthetic`` see).

Printed: wall seconds (and process CPU seconds) of pretraining, unlearning and the total, the ratio of the total to
its target (6.3 s cold, 1.5 s warm), and the 1-minute load average before and after (the machine may be shared: then
the wall times are pessimistic; the CPU seconds less so). ``--check`` also runs the unlearning with
``backend="autograd"`` (torch.autograd from ``Method.loss`` to the parameters, the reference) and prints its time
and the largest difference of the table; ``--save CSV`` writes the last table with full float precision.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

TARGETS_S = {"cold": 6.3, "warm": 1.5}


def run_once(workers: int, cache_dir: str) -> dict[str, float]:
    from npo_lab.theory import make_task, random_features, random_features_experiment

    random_features._make_task_cached.cache_clear()
    os.environ["NPO_LAB_CACHE"] = cache_dir
    w0, c0 = time.perf_counter(), time.process_time()
    task = make_task(1, 5, workers=workers)
    w1, c1 = time.perf_counter(), time.process_time()
    df = random_features_experiment(task=task, steps=2000, eval_every=25, workers=workers)
    w2, c2 = time.perf_counter(), time.process_time()
    assert len(df) == 6 * 5 * 81, len(df)
    return {
        "pretrain": w1 - w0,
        "pretrain_cpu": c1 - c0,
        "unlearn": w2 - w1,
        "unlearn_cpu": c2 - c1,
        "total": w2 - w0,
        "total_cpu": c2 - c0,
        "df": df,
        "task": task,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="thread counts to time (default 1 2)")
    parser.add_argument("--check", action="store_true", help="compare with the autograd reference (slow)")
    parser.add_argument("--save", metavar="CSV", help="write the last table (full float precision) to CSV")
    args = parser.parse_args(argv)
    print(f"load average (1 min) {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'run':<16} {'pretrain s':>11} {'unlearn s':>10} {'total s':>8} {'cpu s':>6}  {'target s':>8}  ratio")
    last = None
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as cache_dir:
            for kind in ("cold", "warm"):
                r = run_once(workers, cache_dir)
                print(
                    f"{kind + f' workers={workers}':<16} {r['pretrain']:11.2f} {r['unlearn']:10.2f} "
                    f"{r['total']:8.2f} {r['total_cpu']:6.1f}  {TARGETS_S[kind]:8.1f}  "
                    f"{r['total'] / TARGETS_S[kind]:5.2f}x"
                )
                last = r
    print(f"load average (1 min) {os.getloadavg()[0]:.2f} after the runs")
    if args.save and last is not None:
        last["df"].to_csv(args.save, index=False, float_format="%.17g")
        print(f"wrote {args.save}")
    if args.check and last is not None:
        import numpy as np

        from npo_lab.theory import random_features_experiment

        t0 = time.perf_counter()
        ref = random_features_experiment(task=last["task"], steps=2000, eval_every=25, backend="autograd")
        cols = ["forget_distance", "retain_distance", "forget_kl"]
        diff = np.abs(ref[cols].to_numpy() - last["df"][cols].to_numpy()).max()
        t_ref = time.perf_counter() - t0
        print(
            f"autograd reference (unlearning only): {t_ref:.1f} s vs closed forms {last['unlearn']:.2f} s "
            f"({t_ref / last['unlearn']:.1f}x); largest difference of the table {diff:.2e}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
