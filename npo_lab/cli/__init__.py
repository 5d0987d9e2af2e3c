"""The ``npo-lab`` command line.

Each subcommand is a small module ``npo_lab.cli.<name>`` defining ``add_arguments(parser)`` and
``run(args) -> int``; this file is only the table below (a module is imported only when its command runs, so
``npo-lab --help`` stays fast) and :func:`main`, which applies one error contract to every command: a user error
(a bad option, :class:`~npo_lab.errors.UsageError`, ``ValueError``, ``FileNotFoundError``) prints one line
``npo-lab <command>: error: <message>`` on stderr and exits with status 2; Ctrl-C exits with 130. Set
``NPO_LAB_TRACEBACK=1`` to see the full traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..errors import UsageError

__all__ = ["COMMANDS", "UsageError", "build_parser", "main"]

# command -> (module that implements it, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("npo_lab.cli.demo", "offline mini-TOFU main job: fine-tune, unlearn with several methods, report"),
    "synthetic": ("npo_lab.cli.synthetic", "random-features experiment (paper Sec. 4): CSV + Figures 3, 4, 9"),
    "figures": ("npo_lab.cli.figures", "regenerate the README gallery figures"),
    "metrics": ("npo_lab.cli.metrics", "TOFU model utility / forget quality of an eval log"),
    "evaluate": ("npo_lab.cli.evaluate", "run a causal LM over the TOFU eval splits and write an eval log"),
    "unlearn": ("npo_lab.cli.unlearn", "unlearn a forget split from a model with any METHODS entry"),
    "authors": ("npo_lab.cli.authors", "write the synthetic TOFU authors (the offline data) into a directory"),
    "bench-gpu": ("npo_lab.cli.bench_gpu", "GPU benchmark: step time, memory, MFU; cached vs recomputed, full vs LoRA"),
    "audit": ("npo_lab.cli.audit", "is it forgotten? membership inference, extraction, relearning, quantization"),
    "collapse": ("npo_lab.cli.collapse", "collapse laboratory: GA vs NPO steps to collapse by optimiser, lr, β, seed"),
    "colab-links": ("npo_lab.cli.colab_links", "rewrite (or --check) the notebooks' Colab badges and install cells"),
    "student-notebooks": ("npo_lab.cli.student_notebooks", "the notebooks for students: solutions replaced by stubs"),
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line too: ``npo-lab <command>: error: <message>``, exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s options are added (importing its module)."""
    parser = _Parser(prog="npo-lab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parser.commands = {}  # name -> its parser (an option it does not know is reported by it)
    for name, (module, help_text) in COMMANDS.items():
        p = parser.commands[name] = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command, return its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command is not None and command not in COMMANDS:
        build_parser().error(f"unknown command {command!r}; choose from {', '.join(COMMANDS)}")
    parser = build_parser(command)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return int(importlib.import_module(COMMANDS[args.command][0]).run(args) or 0)
    except (ValueError, FileNotFoundError) as e:  # UsageError is a ValueError
        if os.environ.get("NPO_LAB_TRACEBACK"):
            raise
        message = " ".join(str(e).split()) or type(e).__name__
        print(f"npo-lab {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"npo-lab {args.command}: interrupted", file=sys.stderr)
        return 130
