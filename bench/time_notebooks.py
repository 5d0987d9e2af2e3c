"""Wall time of whole notebooks, cell by cell, as a student's kernel runs them (the figures of docs/teaching.md).

Usage (from the repository root, after `make install`):

    .venv/bin/python bench/time_notebooks.py 01 02 03 05            # FULL mode, an empty model cache
    .venv/bin/python bench/time_notebooks.py 06 --cache ~/.cache/npo_lab   # reuse a cache (a warm run)
    .venv/bin/python bench/time_notebooks.py 04 --smoke             # the test suite's sizes

Each notebook runs through :func:`npo_lab.teaching.time_notebook` (nbclient, one cell after the other, in a
temporary working directory). Prints one row per notebook — wall seconds, the load average (1 min) at start and
end, the slowest cell — and writes every cell's time to ``--out`` (JSON). A load average well above the number of
cores means other work shared the machine: the times are then upper bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _notebook(number: str) -> Path:
    found = sorted((ROOT / "notebooks").glob(f"{number}_*.ipynb"))
    if not found:
        raise SystemExit(f"notebooks: no notebook numbered {number!r} in {ROOT / 'notebooks'}")
    return found[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", help="notebook numbers, e.g. 01 04 09")
    parser.add_argument("--smoke", action="store_true", help="smoke sizes (NPO_LAB_SMOKE=1); default: FULL")
    parser.add_argument("--cache", default=None, help="model cache (NPO_LAB_CACHE); default: a new, empty one")
    parser.add_argument("--out", default="bench_notebooks.json", help="JSON file of every cell's time")
    parser.add_argument("--timeout", type=int, default=7200, help="seconds per cell before it counts as hung")
    args = parser.parse_args(argv)
    paths = [_notebook(n) for n in args.notebooks]

    os.environ["NPO_LAB_SMOKE"] = "1" if args.smoke else "0"
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["NPO_LAB_CACHE"] = args.cache or tempfile.mkdtemp(prefix="npo_lab_cache_")
    from npo_lab.teaching import time_notebook

    records = []
    print(f"mode: {'SMOKE' if args.smoke else 'FULL'} | cache: {os.environ['NPO_LAB_CACHE']} | cores: {os.cpu_count()}")
    print(f"{'notebook':34s} {'wall s':>8s} {'load start → end':>18s}  slowest cell")
    for path in paths:
        with tempfile.TemporaryDirectory(prefix="npo_lab_nb_") as work:
            rec = time_notebook(path, cwd=work, timeout=args.timeout)
        rec.pop("executed")
        records.append(rec)
        slow = max(rec["cells"], key=lambda c: c["seconds"])
        load = f"{rec['load_start'][0]:.2f} → {rec['load_end'][0]:.2f}"
        slowest = f"{slow['seconds']:.1f} s ({slow['first_line']})"
        print(f"{rec['notebook']:34s} {rec['total_s']:8.1f} {load:>18s}  {slowest}")
        sys.stdout.flush()
        Path(args.out).write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
