"""``python -m npo_lab.tofu.synthetic``: write the synthetic TOFU files into a directory (as ``npo-lab authors``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import command as authors


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m npo_lab.tofu.synthetic",
        description="Generate TOFU-format synthetic authors (the offline stand-in for locuslab/TOFU).",
    )
    authors.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return authors.run(args)
    except ValueError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
