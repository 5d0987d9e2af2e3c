"""``python -m npo_lab.gpu NAME [--out-dir DIR]``: print the path of a packaged accelerate config file."""

from __future__ import annotations

import argparse
import sys

from . import ACCELERATE_CONFIGS, accelerate_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m npo_lab.gpu", description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=list(ACCELERATE_CONFIGS), help="the config file (without .yaml)")
    parser.add_argument("--out-dir", help="copy it here, with the DeepSpeed JSON path made absolute")
    args = parser.parse_args(argv)
    try:
        print(accelerate_config(args.name, args.out_dir))
    except (ValueError, OSError) as err:
        print(f"python -m npo_lab.gpu: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
