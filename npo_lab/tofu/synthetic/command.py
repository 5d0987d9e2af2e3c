"""The command that writes the synthetic authors: ``npo-lab authors`` and ``python -m npo_lab.tofu.synthetic``.

The same files as the bundled ``data/synthetic_tofu`` (which is ``--authors 20 --seed 0``): every TOFU split, the
holdout splits, the "I don't know" answers and the fact tables.
"""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--authors", type=int, default=20, help="number of authors (10..1000; TOFU has 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--out", default="data/synthetic_tofu", help="output directory")


def run(args: argparse.Namespace) -> int:
    from .writer import write_tofu

    try:
        out = write_tofu(args.out, n_authors=args.authors, seed=args.seed)  # ValueError: a bad count or --out
    except OSError as err:
        raise ValueError(f"--out {args.out}: cannot write there ({err.strerror or err})") from err
    n = len(list(out.glob("*.json")))
    print(f"wrote {n} TOFU files for {args.authors} synthetic authors (seed {args.seed}) to {out}")
    return 0
