"""Option types shared by the ``npo-lab`` subcommands (argparse turns their errors into one usage line)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

__all__ = ["positive_int", "option_fields", "given_fields"]


def positive_int(text: str) -> int:
    """An integer >= 1, for options such as ``--batch-size``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def option_fields(spec: str) -> dict[str, str]:
    """``{option: config field}`` from a spec of white-space separated ``option`` (the field of the same name) or
    ``option:field`` entries, in order: ``"seed lr:learning_rate"`` -> ``{"seed": "seed", "lr": "learning_rate"}``.
    """
    pairs = (entry.partition(":") for entry in spec.split())
    return {opt: field or opt for opt, _, field in pairs}


def given_fields(args: argparse.Namespace, fields: Mapping[str, str]) -> dict:
    """``{field: value}`` of the options of ``fields`` (``{option: field}``) given on the command line (an option
    left out is ``None``)."""
    return {field: getattr(args, opt) for opt, field in fields.items() if getattr(args, opt, None) is not None}
