"""Redraw time of the interactive demos as the user waits for it (target: each redraw <= 100 ms).

Run: ``.venv/bin/python bench/bench_widgets.py [--repeats N]``.

A redraw = ``update()`` exactly as a slider move runs it inside the widget: recompute the data (cache misses: every
timed update uses a setting not seen before), move it into the existing artists, render the figure once with Agg
and PNG-encode it for the ``ipywidgets.Image``. Printed per demo: the median wall time of the redraw and its parts
(compute, artists, render+PNG), and the median CPU time of the process over the redraw (on a shared machine the
wall time includes waiting for a core; the CPU time is closer to what a quiet machine shows). The 1-minute load
average is printed because the numbers scale with it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import matplotlib

matplotlib.use("Agg")

from npo_lab.widgets import DivergenceDemo, SingleLogitDemo, SyntheticExplorer  # noqa: E402

TARGET_MS = 100.0


class _ImageSink:
    """Stands in for the ``ipywidgets.Image``: ``update()`` then PNG-encodes every redraw, as in the widget."""

    value = b""


def bench(demo, moves: list[dict]) -> dict[str, float]:
    """Median (ms) over ``moves`` (each a dict of settings applied by one ``update()``)."""
    demo._image = _ImageSink()
    walls, cpus, parts = [], [], {"compute": [], "artists": [], "render": []}
    for move in moves:
        c0 = time.process_time()
        walls.append(demo.update(**move))
        cpus.append(time.process_time() - c0)
        for k in parts:
            parts[k].append(demo.last_timings[k])
    assert demo._image.value[:4] == b"\x89PNG"
    med = {k: 1e3 * statistics.median(v) for k, v in parts.items()}
    med["wall"] = 1e3 * statistics.median(walls)
    med["cpu"] = 1e3 * statistics.median(cpus)
    return med


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed redraws per row (default 7)")
    args = parser.parse_args(argv)
    n = args.repeats
    betas = [round(0.11 + 0.07 * i, 3) for i in range(n)]  # fresh values: every update recomputes NPO
    lrs = [round(0.31 + 0.05 * i, 3) for i in range(n)]
    rows = []

    for steps in (1_000, 10_000, 100_000):
        d = SingleLogitDemo(steps=steps)
        d.update()  # builds the figure (once per widget, not per move)
        rows.append((f"single logit {steps:>7,} steps, move β", bench(d, [{"beta": b} for b in betas])))
    rows.append((f"single logit {100_000:>7,} steps, move η", bench(d, [{"lr": x} for x in lrs])))
    d = SingleLogitDemo(steps=1_000)
    d.update()
    steps_moves = [{"steps": s} for s in (3_000, 10_000, 30_000, 100_000, 30_000, 10_000, 3_000)][:n]
    rows.append(("single logit, move steps 3k → 100k → 3k", bench(d, steps_moves)))

    for steps in (1000, 2000, 5000):
        d = DivergenceDemo(steps=steps)
        d.update()
        rows.append((f"Theorem 2 n_f=16 d=128 {steps} steps, move β", bench(d, [{"beta": b} for b in betas])))
    rows.append(("Theorem 2 n_f=16 d=128 5000 steps, move η", bench(d, [{"lr": x} for x in lrs])))
    d = DivergenceDemo(steps=2000, n_f=64, d=512)
    d.update()
    rows.append(("Theorem 2 n_f=64 d=512 2000 steps, move η", bench(d, [{"lr": x} for x in lrs])))

    from npo_lab.theory import random_features_experiment

    df = random_features_experiment(seeds=5, steps=2000, eval_every=25, pretrain_steps=2000, cache=False)
    e = SyntheticExplorer(df)
    e.update()
    metrics = ["retain_distance", "forget_kl", "forget_distance"] * n
    rows.append(("synthetic explorer 6 methods, switch metric", bench(e, [{"metric": m} for m in metrics[:n]])))
    picks = [("GA", "NPO+RT"), ("NPO", "NPO+RT", "DPO+RT"), tuple(dict.fromkeys(df["method"])), ("IDK+RT",)] * n
    rows.append(("synthetic explorer, pick methods", bench(e, [{"methods": p} for p in picks[:n]])))

    width = max(len(r[0]) for r in rows)
    print(f"load average (1 min) {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; medians of {n} redraws, ms")
    print(f"{'demo':<{width}}  {'redraw':>7}  {'cpu':>6}  {'compute':>7}  {'artists':>7}  {'render+png':>10}  vs 100 ms")
    for name, m in rows:
        flag = "ok" if m["wall"] <= TARGET_MS else f"over ({m['wall'] / TARGET_MS:.1f}x)"
        print(f"{name:<{width}}  {m['wall']:7.1f}  {m['cpu']:6.1f}  {m['compute']:7.1f}  {m['artists']:7.1f}  "
              f"{m['render']:10.1f}  {flag}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
