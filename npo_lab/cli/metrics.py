"""``npo-lab metrics LOG [--retain RETAIN_LOG] [--mean geometric|arithmetic] [--json]``.

Prints model utility, its nine parts, the forget-set numbers and (with ``--retain``) forget quality of a TOFU
eval log. The logs are validated on read (:mod:`npo_lab.tofu.logs`); a bad log raises ``ValueError`` naming the
file, section and field (one line from ``npo-lab``, exit status 2).

``--json`` prints one strict JSON object (RFC 8259): a value that is not a finite number (NaN, ±inf) is written
as ``null``.
"""

from __future__ import annotations

import argparse
import json

from ..tofu.metrics import TRUTH_RATIO_MEANS, UTILITY_SECTIONS

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", metavar="LOG", help="eval log (TOFU eval_log_aggregated.json layout, or its directory)")
    parser.add_argument(
        "--retain",
        metavar="RETAIN_LOG",
        default=None,
        help="eval log of the retain model (same forget rows) for forget quality",
    )
    parser.add_argument(
        "--mean",
        choices=TRUTH_RATIO_MEANS,
        default="geometric",
        help="mean over perturbed answers in the truth ratio (default: geometric, as TOFU)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one strict JSON object (non-finite numbers as null) instead"
    )


def _numbers(args: argparse.Namespace) -> dict:
    from ..tofu.metrics import ks_floor, ks_test, load_eval_log, log10_ks_floor, summarize

    log = load_eval_log(args.log)
    retain_log = load_eval_log(args.retain) if args.retain else None
    out = summarize(log, retain_log, mean=args.mean)
    n = out["n_forget"]
    out["ks_floor"] = ks_floor(n)
    out["log10_ks_floor"] = log10_ks_floor(n)
    if retain_log is not None:
        out["ks_statistic"] = ks_test(log, retain_log, mean=args.mean)["statistic"]
    return out


def _print_table(out: dict, args: argparse.Namespace) -> None:
    labels = {"retain": "retain", "real_authors": "real authors", "world_facts": "world facts"}
    n = out["n_forget"]
    print(f"eval log: {args.log}")
    print(f"model utility          {out['model_utility']:.4f}   (harmonic mean of 9 parts, truth ratio: {args.mean})")
    for s in UTILITY_SECTIONS:
        print(
            f"  {labels[s]:<13} probability {out[s + '_probability']:.4f}   ROUGE-L recall {out[s + '_rouge']:.4f}"
            f"   truth ratio {out[s + '_truth_ratio']:.4f}"
        )
    print(
        f"forget ({n} rows)       probability {out['forget_probability']:.4f}   ROUGE-L recall "
        f"{out['forget_rouge']:.4f}   truth ratio {out['forget_truth_ratio']:.4f}"
    )
    if args.retain is None:
        print("forget quality         n/a (give --retain RETAIN_LOG)")
    else:
        print(
            f"forget quality         {out['forget_quality']:.3g}   (KS p-value vs {args.retain}; "
            f"KS statistic {out['ks_statistic']:.4f})"
        )
    print(f"KS floor for n={n:<4}    {out['ks_floor']:.3g}   (= 2/C(2n, n), the smallest possible forget quality)")


def run(args: argparse.Namespace) -> int:
    from ..tofu.logs import strict_json

    out = _numbers(args)
    if args.json:
        print(json.dumps(strict_json(out), indent=2, allow_nan=False))
    else:
        _print_table(out, args)
    return 0
