"""``npo-lab figures``: regenerate the README gallery (``docs/figures``) with :func:`npo_lab.gallery.make_gallery`."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("docs/figures"), help="output directory")
    parser.add_argument("--seeds", type=int, default=5, help="seeds of the synthetic experiment (default 5)")
    parser.add_argument(
        "--eval-logs",
        nargs=2,
        type=Path,
        metavar=("LOG", "RETAIN_LOG"),
        help="two TOFU eval logs for tofu_truth_ratios.png (default: the bundled Llama-2-7B full and retain90 logs)",
    )
    parser.add_argument(
        "--minitofu",
        type=Path,
        metavar="DEMO_DIR",
        help="a finished `npo-lab demo` directory: also write minitofu_trajectories.png",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test of the command)")


def run(args: argparse.Namespace) -> int:
    if args.seeds < 1:
        raise UsageError(f"--seeds must be an integer >= 1, got {args.seeds}")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {str(args.out)!r} exists and is not a directory")
    if args.minitofu is not None and not args.minitofu.is_dir():
        raise FileNotFoundError(f"--minitofu {str(args.minitofu)!r} is not a directory")
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    from ..gallery import make_gallery
    from ..tofu.metrics import load_eval_log

    logs = tuple(load_eval_log(p) for p in args.eval_logs) if args.eval_logs else None
    t0 = time.perf_counter()
    for path in make_gallery(
        args.out, seeds=args.seeds, quick=args.quick, eval_logs=logs, minitofu=args.minitofu, progress=not args.quick
    ):
        print(f"wrote {path}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0
