"""``npo-lab collapse``: the collapse laboratory — a grid of probed unlearning runs on the mini-TOFU models.

Steps to collapse and utility at matched forgetting for GA and NPO over optimisers (AdamW / SGD, with and without
clipping), learning rates, β, GA reductions and seeds (:mod:`npo_lab.experiments.collapse`). Settings come from the
:class:`~npo_lab.experiments.collapse.CollapseConfig` defaults — its :meth:`~CollapseConfig.smoke` sizes with
``--smoke`` or ``NPO_LAB_SMOKE=1`` — or a ``--config`` JSON file; the options given override them (one option per
config field, help and default from the config). Running again into the same ``--out`` continues: finished cells
are kept, the others run.
"""

from __future__ import annotations

import argparse

from .. import is_smoke

__all__ = ["add_arguments", "run", "collapse_config"]

# option -> CollapseConfig field
_FIELDS = {
    "out": "out",
    "optimisers": "optimisers",
    "adamw_lrs": "adamw_lrs",
    "sgd_lrs": "sgd_lrs",
    "betas": "betas",
    "ga_reductions": "ga_reductions",
    "seeds": "seeds",
    "steps": "steps",
    "batch_size": "batch_size",
    "max_grad_norm": "max_grad_norm",
    "weight_decay": "weight_decay",
    "stop_after_marks": "stop_after_marks",
    "n_retain_probe": "n_retain_probe",
    "n_general_probe": "n_general_probe",
    "collapse_fraction": "collapse_fraction",
    "data": "data",
    "authors": "n_authors",
    "forget": "forget_split",
    "workers": "workers",
    "threads": "threads",
}
# a field's annotation -> argparse keywords
_TYPES = {
    "int": {"type": int},
    "float": {"type": float},
    "str": {"type": str},
    "bool": {"action": argparse.BooleanOptionalAction},
    "Sequence[float]": {"type": float, "nargs": "+"},
    "Sequence[int]": {"type": int, "nargs": "+"},
    "tuple[str, ...]": {"type": str, "nargs": "+"},
}


def _shown(value) -> str:
    return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``npo-lab collapse``: one per :class:`CollapseConfig` field of :data:`_FIELDS`."""
    from ..experiments.collapse import CollapseConfig

    h, d, fields = CollapseConfig.help(), CollapseConfig(), CollapseConfig.__dataclass_fields__
    parser.add_argument(
        "--config", metavar="JSON", help="a CollapseConfig JSON file (CollapseConfig.save); the options override it"
    )
    parser.add_argument("--smoke", action="store_true", help="seconds-long sizes (also NPO_LAB_SMOKE=1)")
    for opt, name in _FIELDS.items():
        f = fields[name]
        kw = dict(_TYPES[f.type])
        if f.metadata.get("choices"):
            kw["choices"] = f.metadata["choices"]
        parser.add_argument(
            "--" + opt.replace("_", "-"),
            dest=opt,
            default=None,
            help=f"{h[name]} (default: {_shown(getattr(d, name))})",
            **kw,
        )


def collapse_config(args: argparse.Namespace):
    """The :class:`CollapseConfig` the options describe (raises ``ValueError`` naming the field on bad values)."""
    from ..experiments.collapse import CollapseConfig

    if args.config:
        base = CollapseConfig.load(args.config)
    else:
        base = CollapseConfig.smoke() if (args.smoke or is_smoke()) else CollapseConfig()
    changes = {name: getattr(args, opt) for opt, name in _FIELDS.items() if getattr(args, opt, None) is not None}
    return base.replace(**changes)


def run(args: argparse.Namespace) -> int:
    """Run the grid; 0 when every cell finished, 130 when interrupted (finished cells are kept)."""
    import matplotlib

    matplotlib.use("Agg")
    from transformers.utils import logging as hf_logging

    from ..experiments.collapse import run_collapse

    cfg = collapse_config(args)
    hf_logging.disable_progress_bar()
    info = run_collapse(cfg, print_fn=lambda line: print(line, flush=True))
    if info["status"] == "interrupted":
        return 130
    return 0 if info["n_finished"] == info["n_cells"] else 1
