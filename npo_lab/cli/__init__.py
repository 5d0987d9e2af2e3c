"""The ``npo-lab`` command line.

Each subcommand lives with the code it drives: the owning module defines ``add_arguments(parser)`` and
``run_cli(args) -> int``. This file is only the table below, so ``npo-lab --help`` stays fast (a module is imported
only when its command runs).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command -> (module that implements it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("npo_lab.demo", "offline mini-TOFU main job: fine-tune, unlearn with several methods, report"),
    "synthetic": ("npo_lab.theory.synthetic", "random-features experiment (paper Sec. 4): CSV + Figures 3, 4, 9"),
    "figures": ("npo_lab.gallery", "regenerate the README gallery figures"),
    "metrics": ("npo_lab.tofu.metrics", "TOFU model utility / forget quality of an eval log"),
    "evaluate": ("npo_lab.tofu.evaluate", "run a causal LM over the TOFU eval splits and write an eval log"),
    "unlearn": ("npo_lab.unlearn", "unlearn a forget split from a model with any METHODS entry"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="npo-lab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command is not None and command not in COMMANDS:
        build_parser().error(f"unknown command {command!r}; choose from {', '.join(COMMANDS)}")
    args = build_parser(command).parse_args(argv)
    return int(importlib.import_module(COMMANDS[args.command][0]).run_cli(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
