"""``npo-lab synthetic``: the random-features experiment of the paper (Sec. 4) — tables and Figures 3, 4, 9.

Writes ``synthetic_gap{g}.csv`` (the paper's six methods, Figs. 4 and 9), ``beta_sweep_gap{g}.csv`` (Fig. 3) and
``figure{3,4,9}_gap{g}.png`` into ``--out``, for input gap ``g`` = 1 (separated forget/retain inputs) or 0
(overlapping).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..theory.synthetic import SWEEP_STEPS

    parser.add_argument(
        "--input-gap",
        type=int,
        choices=(0, 1),
        default=1,
        help="gap between forget and retain inputs: 1 separated (default), 0 overlapping",
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory (CSV + PNG)")
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (default 5)")
    parser.add_argument("--steps", type=int, default=2000, help="unlearning steps for Figs. 4 and 9 (default 2000)")
    parser.add_argument(
        "--sweep-steps",
        type=int,
        default=SWEEP_STEPS,
        help=f"steps of the Fig. 3 β sweep (default {SWEEP_STEPS}; 0 skips it)",
    )
    parser.add_argument("--eval-every", type=int, default=25, help="steps between evaluations (default 25)")
    parser.add_argument("--pretrain-steps", type=int, default=20_000, help="GD steps of the initial/retrained models")
    parser.add_argument(
        "--workers", type=int, default=1, help="cores: threads or processes, the seeds split between them (default 1)"
    )


def _check(args: argparse.Namespace) -> None:
    for name, minimum in (
        ("seeds", 1),
        ("steps", 0),
        ("sweep_steps", 0),
        ("eval_every", 1),
        ("pretrain_steps", 0),
        ("workers", 1),
    ):
        if getattr(args, name) < minimum:
            raise UsageError(f"--{name.replace('_', '-')} must be an integer >= {minimum}, got {getattr(args, name)}")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {str(args.out)!r} exists and is not a directory")


def _save_figure(df, kind: str, path: Path, **kw) -> None:
    import matplotlib.pyplot as plt

    from ..plotting.theory import synthetic_figure

    fig = synthetic_figure(df, kind, **kw)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {path}")


def run(args: argparse.Namespace) -> int:
    _check(args)
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    from ..plotting import set_style
    from ..theory import beta_sweep_specs, make_task, random_features_experiment, summarize_experiment

    out, gap, t0 = args.out, args.input_gap, time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    task = make_task(gap, args.seeds, pretrain_steps=args.pretrain_steps, workers=args.workers)
    norms = task.pretrain_grad_norm
    print(
        f"initial/retrained models: {task.pretrain_seconds:.1f} s, final gradient norms "
        f"{max(norms['initial']):.1e} / {max(norms['retrained']):.1e}"
    )
    df = random_features_experiment(
        task=task, steps=args.steps, eval_every=args.eval_every, progress=True, workers=args.workers
    )
    df.to_csv(out / f"synthetic_gap{gap}.csv", index=False)
    print(f"wrote {out / f'synthetic_gap{gap}.csv'}")
    print(summarize_experiment(df).round(4).to_string())
    set_style()
    for kind in ("figure4", "figure9"):
        _save_figure(df, kind, out / f"{kind}_gap{gap}.png")
    if args.sweep_steps > 0:
        sweep = random_features_experiment(
            task=task,
            methods=beta_sweep_specs(),
            steps=args.sweep_steps,
            eval_every=args.eval_every,
            progress=True,
            workers=args.workers,
        )
        sweep.to_csv(out / f"beta_sweep_gap{gap}.csv", index=False)
        print(f"wrote {out / f'beta_sweep_gap{gap}.csv'}")
        _save_figure(sweep, "figure3", out / f"figure3_gap{gap}.png")
    print(f"total {time.perf_counter() - t0:.1f} s")
    return 0
