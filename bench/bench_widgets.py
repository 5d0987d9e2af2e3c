"""Redraw time of the interactive toy demos (target: each redraw <= 100 ms).

Run: ``.venv/bin/python bench/bench_widgets.py`` (add ``--synthetic`` to also time the full Figure-4 experiment:
6 methods × 5 seeds × 2000 steps at α = 1, with the initial/retrained models trained from scratch, no cache). A redraw = ``update()``: recompute the dynamics, rebuild the
artists and render the figure with Agg (what a slider move costs; the widget additionally PNG-encodes the
rendered figure, timed in the last column). Prints the median of 5 redraws per setting and the machine load,
because on a shared machine the numbers scale with it.
"""

from __future__ import annotations

import io
import os
import statistics

import matplotlib

matplotlib.use("Agg")

from npo_lab.theory import random_features_experiment  # noqa: E402
from npo_lab.widgets import DivergenceDemo, SingleLogitDemo, SyntheticExplorer  # noqa: E402


def bench(demo, n=5, **settings):
    demo.update(**settings)  # warm-up
    totals, computes, renders = [], [], []
    for _ in range(n):
        totals.append(demo.update(**settings))
        computes.append(demo.last_timings["compute_artists"])
        renders.append(demo.last_timings["render"])
    pngs = []
    for _ in range(3):
        buf = io.BytesIO()
        import time

        t0 = time.perf_counter()
        demo.figure.canvas.print_png(buf)
        pngs.append(time.perf_counter() - t0)
    return [1e3 * statistics.median(x) for x in (totals, computes, renders, pngs)]


def bench_synthetic():
    import time

    from npo_lab.theory import make_task

    t0 = time.perf_counter()
    task = make_task(1, 5, cache=False)
    t1 = time.perf_counter()
    random_features_experiment(task=task, steps=2000, eval_every=25)
    t2 = time.perf_counter()
    print(f"Figure-4 experiment (6 methods x 5 seeds x 2000 steps, alpha=1): initial+retrained models {t1 - t0:.1f} s "
          f"(20 000 GD steps, cached on disk after the first run), unlearning {t2 - t1:.1f} s, total {t2 - t0:.1f} s "
          f"(load average {os.getloadavg()[0]:.2f})")


def main():
    import sys

    if "--synthetic" in sys.argv:
        bench_synthetic()
    rows = []
    d = SingleLogitDemo()
    for steps in (1_000, 10_000, 100_000):
        rows.append((f"single logit, steps={steps}", bench(d, steps=steps, beta=0.5)))
    d = DivergenceDemo()
    for steps in (1000, 2000, 5000):
        rows.append((f"Theorem 2, n_f=16 d=128 steps={steps}", bench(d, steps=steps, beta=0.5)))
    rows.append(("Theorem 2, n_f=64 d=512 steps=2000", bench(d, steps=2000, n_f=64, d=512)))
    df = random_features_experiment(seeds=2, steps=200, eval_every=10, pretrain_steps=2000, cache=False)
    e = SyntheticExplorer(df)
    rows.append(("synthetic explorer, 6 methods", bench(e, metric="retain_distance")))
    rows.append(("synthetic explorer, 2 methods", bench(e, methods=("GA", "NPO+RT"))))
    width = max(len(r[0]) for r in rows)
    print(f"load average (1 min) {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'demo':<{width}}  redraw ms  (compute+artists, Agg render)  PNG encode+render ms")
    for name, (tot, comp, rend, png) in rows:
        flag = "ok" if tot <= 100 else "over 100 ms"
        print(f"{name:<{width}}  {tot:9.1f}  ({comp:6.1f}, {rend:6.1f})  {png:9.1f}   {flag}")


if __name__ == "__main__":
    main()
