"""Redraw time of the interactive demos, per control, as the user waits for it (target: median <= 250 ms).

Run: ``.venv/bin/python bench/bench_widgets.py [--repeats N]``.

A redraw = ``update()`` exactly as a control change runs it inside the widget: recompute the data (every timed move
uses a setting not computed before: the remembered runs are dropped before each move of a selection slider), draw
the figure with the plot helpers, render it with Agg and PNG-encode it. Each control is moved from the notebook's
settings (``--corners`` adds the heaviest corners of the sliders). Printed per row: the median wall time of the
redraw and its parts (draw = theory + plot helpers, render = Agg + PNG), the median CPU time of the process over the
redraw (on a shared machine the wall time includes waiting for a core), and ``warm``: the same settings drawn
again, the theory runs remembered, i.e. the plotting alone. The 1-minute load average is printed because the
numbers scale with it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import matplotlib

matplotlib.use("Agg")

from npo_lab import gallery  # noqa: E402
from npo_lab.widgets import DivergenceDemo, SingleLogitDemo, SyntheticExplorer  # noqa: E402

TARGET_MS = 250.0


def bench(demo, moves: list[dict], fresh: bool = False) -> dict[str, float]:
    """Medians (ms) over ``moves`` (each a dict of settings applied by one ``update()``); ``fresh`` forgets the
    remembered theory runs before each move. After each timed move the same settings are drawn once more: that
    second redraw finds the theory runs remembered, so it is the plotting alone (``warm``)."""
    demo.update()
    times: dict[str, list[float]] = {"wall": [], "cpu": [], "draw": [], "render": [], "warm": []}
    for move in moves:
        if fresh:
            gallery.clear_cache()
        c0 = time.process_time()
        times["wall"].append(demo.update(**move))
        times["cpu"].append(time.process_time() - c0)
        times["draw"].append(demo.last_timings["draw"])
        times["render"].append(demo.last_timings["render"])
        times["warm"].append(demo.update())
    assert demo.png[:4] == b"\x89PNG"
    return {k: 1e3 * statistics.median(v) for k, v in times.items()}


def rows(n: int, df, corners: bool) -> list[tuple[str, object, list[dict], bool]]:
    """(name, demo, moves, fresh) per control; every move a value not used before."""
    betas = [round(0.11 + 0.07 * i, 3) for i in range(n)]
    lrs = [round(0.31 + 0.05 * i, 3) for i in range(n)]
    steps = [(3_000, 30_000, 1_000, 100_000, 10_000)[i % 5] for i in range(n)]
    picks = [("GA", "NPO+RT"), ("NPO", "NPO+RT", "DPO+RT"), tuple(dict.fromkeys(df["method"])), ("IDK+RT",)]
    metrics = ["retain_distance", "forget_kl", "forget_distance"]
    return [
        ("single logit 10k steps: β", SingleLogitDemo(steps=10_000), [{"beta": b} for b in betas], False),
        ("single logit 10k steps: η", SingleLogitDemo(steps=10_000), [{"lr": x} for x in lrs], False),
        ("single logit: steps", SingleLogitDemo(steps=10_000), [{"steps": s} for s in steps], True),
        (
            "single logit 10k steps: z₀",
            SingleLogitDemo(steps=10_000),
            [{"z0": -1.5 + 0.5 * i} for i in range(n)],
            False,
        ),
        ("Theorem 2 2000 steps: β", DivergenceDemo(steps=2000), [{"beta": b} for b in betas], False),
        ("Theorem 2 2000 steps: η", DivergenceDemo(steps=2000), [{"lr": x} for x in lrs], False),
        ("Theorem 2: steps", DivergenceDemo(steps=2000), [{"steps": 1500 + 100 * i} for i in range(n)], False),
        ("Theorem 2 2000 steps: n_f", DivergenceDemo(steps=2000), [{"n_f": 8 + 2 * i} for i in range(n)], False),
        ("Theorem 2 2000 steps: d", DivergenceDemo(steps=2000), [{"d": 144 + 16 * i} for i in range(n)], False),
        ("synthetic explorer: methods", SyntheticExplorer(df), [{"methods": picks[i % 4]} for i in range(n)], False),
        ("synthetic explorer: metric", SyntheticExplorer(df), [{"metric": metrics[i % 3]} for i in range(n)], False),
        ("synthetic explorer: log y", SyntheticExplorer(df), [{"log_y": i % 2 == 0} for i in range(n)], False),
    ] + (corners_rows(lrs) if corners else [])


def corners_rows(lrs: list[float]) -> list[tuple[str, object, list[dict], bool]]:
    """The heaviest corners of the sliders (``--corners``)."""
    return [
        ("(corner) single logit 100k steps: η", SingleLogitDemo(steps=100_000), [{"lr": x} for x in lrs], False),
        ("(corner) Theorem 2 5000 steps: η", DivergenceDemo(steps=5000), [{"lr": x} for x in lrs], False),
        ("(corner) Theorem 2 n_f=64 d=512: η", DivergenceDemo(n_f=64, d=512), [{"lr": x} for x in lrs], False),
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed redraws per row (default 7)")
    parser.add_argument("--corners", action="store_true", help="also time the heaviest corners of the sliders")
    args = parser.parse_args(argv)
    from npo_lab.theory import random_features_experiment

    df = random_features_experiment(seeds=5, steps=2000, eval_every=25, pretrain_steps=2000)
    results = [(name, bench(demo, moves, fresh)) for name, demo, moves, fresh in rows(args.repeats, df, args.corners)]
    width = max(len(r[0]) for r in results)
    print(
        f"load average (1 min) {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; medians of {args.repeats} redraws, ms"
    )
    print(
        f"{'control':<{width}}  {'redraw':>7}  {'cpu':>6}  {'draw':>6}  {'render':>6}  {'warm':>6}  "
        f"vs {TARGET_MS:.0f} ms"
    )
    for name, m in results:
        flag = "ok" if m["wall"] <= TARGET_MS else f"over ({m['wall'] / TARGET_MS:.1f}x)"
        print(
            f"{name:<{width}}  {m['wall']:7.1f}  {m['cpu']:6.1f}  {m['draw']:6.1f}  {m['render']:6.1f}  "
            f"{m['warm']:6.1f}  {flag}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
