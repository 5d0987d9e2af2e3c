"""``npo-lab demo``: the offline mini-TOFU job (``make demo``): fine-tune, unlearn with several methods, report.

Settings come from the :class:`~npo_lab.experiments.DemoConfig` defaults — its :meth:`~DemoConfig.smoke` sizes
with ``--smoke`` or ``NPO_LAB_SMOKE=1`` — or from a ``--config`` JSON file, and the options given override them.
Every setting, the device and ``--out`` are checked before any model is trained; user errors raise ``ValueError``
(one line from ``npo-lab``, exit status 2). Figures are drawn on Agg canvases (no display needed). When stdout is
not a terminal (a log file, CI) there are no progress bars: one line per stage.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from .. import is_smoke
from ..runtime import quiet_library_bars
from ..tofu.splits import FORGET_SPLITS
from .options import given_fields, option_fields

__all__ = ["add_arguments", "run"]

# option -> DemoConfig field (options left out keep the base config's value)
_FIELDS = option_fields(
    "out methods seed data forget:forget_split authors:n_authors epochs lr:learning_rate lr_scheduler warmup_epochs "
    "batch_size beta ga_reduction threads workers alpha eval_max_rows device audit"
)


def _budget(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds or 'inf', got {text!r}") from None
    return None if math.isinf(value) and value > 0 else value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..experiments import DEMO_METHODS, DemoConfig

    d = DemoConfig()
    parser.add_argument(
        "--config",
        metavar="JSON",
        help="a DemoConfig JSON file (DemoConfig.save) or an earlier demo's demo.json; the options below override it",
    )
    parser.add_argument("--smoke", action="store_true", help="seconds-long sizes (also NPO_LAB_SMOKE=1)")
    parser.add_argument("--out", help=f"output directory: new, empty or an earlier demo's (default {d.out})")
    parser.add_argument(
        "--methods", nargs="+", metavar="METHOD", help=f"unlearning methods (default: {' '.join(DEMO_METHODS)})"
    )
    parser.add_argument("--seed", type=int, help=f"seed of models and unlearning (default {d.seed})")
    parser.add_argument(
        "--data",
        help="'synthetic' (bundled authors, default), 'hub', or a directory of TOFU "
        "JSON-lines files (e.g. the first 20 real authors; the real-tofu preset is then chosen)",
    )
    parser.add_argument(
        "--forget",
        choices=FORGET_SPLITS,
        help=f"forget split of the chosen authors (default {d.forget_split} = 2 of 20 authors)",
    )
    parser.add_argument("--authors", type=int, help=f"number of authors (default {d.n_authors})")
    parser.add_argument("--epochs", type=float, help=f"unlearning epochs (default {d.epochs:g})")
    parser.add_argument("--ft-epochs", type=int, help="epochs of the mini-TOFU fine-tuning of both models (default 24)")
    parser.add_argument("--lr", type=float, help=f"unlearning learning rate (default {d.learning_rate:g})")
    parser.add_argument(
        "--lr-scheduler", help=f"schedule after the warm-up: constant or linear (default {d.lr_scheduler})"
    )
    parser.add_argument("--warmup-epochs", type=float, help=f"linear warm-up in epochs (default {d.warmup_epochs:g})")
    parser.add_argument("--batch-size", type=int, help=f"forget rows per step (default {d.batch_size})")
    parser.add_argument("--beta", type=float, help=f"β of NPO/DPO (default {d.beta:g}; the paper: 0.1)")
    parser.add_argument("--ga-reduction", help=f"GA forget term: token_mean or sum (default {d.ga_reduction})")
    parser.add_argument(
        "--threads",
        type=int,
        help=f"torch CPU threads, fixed for reproducible numbers (default {d.threads}; 0: torch's)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        help=f"processes that run the methods side by side, each with threads // workers torch threads "
        f"(default {d.workers}; 1: one after the other)",
    )
    parser.add_argument("--alpha", type=float, help="retain weight (default 1; 5/12 for forget50/90)")
    parser.add_argument("--eval-max-rows", type=int, help=f"rows per eval split (default {d.eval_max_rows})")
    parser.add_argument(
        "--time-budget",
        type=_budget,
        default=argparse.SUPPRESS,
        metavar="SECONDS",
        help="run the optional methods (IDK+RT, DPO+RT) only while the job stays within this many "
        "seconds (default: no budget, every method runs; 'inf': the same)",
    )
    parser.add_argument(
        "--preset",
        help="named settings (real-tofu: --ft-epochs 36; chosen automatically when --data is a "
        "directory; 'none' to turn that off); options given explicitly override the preset",
    )
    parser.add_argument("--device", help="where unlearning and evaluation run: auto (default), cpu, cuda, mps")
    parser.add_argument(
        "--audit",
        action="store_true",
        default=None,
        help="at the end, audit the fine-tuned, retain and unlearned models (npo_lab.audit: membership inference, "
        "extraction, relearning, quantization, paraphrases) into audit.json, audit.csv and figures/audit.png",
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars, one line per stage (the default when stdout is not a terminal)",
    )


def demo_config(args: argparse.Namespace):
    """The :class:`~npo_lab.experiments.DemoConfig` the options describe (raises ``ValueError`` on bad ones)."""
    from ..experiments import PRESETS, DemoConfig

    if args.config:
        base = DemoConfig.load(args.config)
    else:
        base = DemoConfig.smoke() if (args.smoke or is_smoke()) else DemoConfig()
    changes = given_fields(args, _FIELDS)
    if "time_budget" in args:
        changes["time_budget"] = args.time_budget
    if args.ft_epochs is not None:
        changes["minitofu"] = base.minitofu.replace(epochs=args.ft_epochs)
    changes["progress"] = not args.no_progress and sys.stdout.isatty()
    preset = getattr(args, "preset", None)
    auto = not args.config and not (args.smoke or is_smoke())  # smoke sizes stay seconds-long
    if preset is None and auto and changes.get("data", base.data) not in ("synthetic", "hub"):
        preset = "real-tofu"
    if preset in (None, "none"):
        return base.replace(**changes)
    if preset not in PRESETS:
        raise ValueError(f"--preset must be one of {', '.join(PRESETS)} or none, got {preset!r}")
    return DemoConfig.from_preset(preset, base, **changes)


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 when at least one method ran, 1 when none did, 130 when interrupted (Ctrl-C, also during
    the audit). A failed audit is reported (``demo_summary.json``'s ``audit`` entry) and does not change the status."""
    import json

    from ..experiments import DEMO_FILE, run_demo

    cfg = demo_config(args)
    if not cfg.progress:
        quiet_library_bars()
    summary = run_demo(cfg, print_fn=lambda line: print(line, flush=True))
    info = json.loads((Path(cfg.out) / DEMO_FILE).read_text(encoding="utf-8"))
    if info.get("interrupted") or info.get("audit") == "interrupted":
        return 130
    return 0 if summary.get("methods") else 1
