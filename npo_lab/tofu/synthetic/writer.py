"""The synthetic TOFU files: every split of TOFU's layout (plus the holdout splits), as rows or written to disk."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

from ..splits import FORGET_PERCENTS, HOLDOUT_SPLITS, n_split_authors, retain_split_for
from .authors import author_rows, generate_authors, generate_holdout_authors
from .general import IDK_ANSWERS, general_knowledge, with_options

PERTURBED_UP_TO = 10  # TOFU publishes forgetXX_perturbed for XX <= 10 and retain_perturbed for the first 10 %


def _qa(rows: Sequence[dict]) -> list[dict]:
    return [{"question": r["question"], "answer": r["answer"]} for r in rows]


def _flat(blocks: Sequence[list[dict]]) -> list[dict]:
    return [r for b in blocks for r in b]


def _author_splits(per_author: list[list[dict]]) -> dict[str, list[dict]]:
    """``full``, ``forgetXX`` (last authors), ``retainYY`` (first authors) and the ``*_perturbed`` splits."""
    n = len(per_author)
    out = {"full": _qa(_flat(per_author))}
    for split, pct in FORGET_PERCENTS.items():
        k = n_split_authors(n, pct)
        out[split] = _qa(_flat(per_author[n - k :]))
        out[retain_split_for(split)] = _qa(_flat(per_author[: n - k]))
        if pct <= PERTURBED_UP_TO:
            out[f"{split}_perturbed"] = _flat(per_author[n - k :])
    out["retain_perturbed"] = _flat(per_author[: n_split_authors(n, PERTURBED_UP_TO)])
    return out


def _holdout_splits(n_authors: int, per_holdout: list[list[dict]]) -> dict[str, list[dict]]:
    """``holdoutXX``: the last ``n_split_authors(n_authors, XX)`` holdout authors (as many as ``forgetXX``)."""
    out = {}
    for split in HOLDOUT_SPLITS:
        k = n_split_authors(n_authors, int(split.removeprefix("holdout")))
        out[split] = _qa(_flat(per_holdout[len(per_holdout) - k :]))
    return out


def generate_tofu(n_authors: int = 20, seed: int = 0) -> dict[str, list]:
    """All TOFU files for ``n_authors`` synthetic authors: ``{file stem: rows}`` plus ``"idontknow"`` (lines),
    ``"authors"`` and ``"holdout_authors"`` (the fact tables).

    ``full`` has ``20 · n_authors`` rows (authors in order, their 20 questions in template order); ``forgetXX`` /
    ``retainYY`` / ``*_perturbed`` follow TOFU's split semantics (:mod:`npo_lab.tofu.splits`). ``holdout01/05/10``
    hold ``question, answer`` rows of authors outside ``full`` (:func:`generate_holdout_authors`). The holdout
    authors and their rows are drawn after everything else, so they leave every other file unchanged.
    """
    authors = generate_authors(n_authors, seed)
    holdout = generate_holdout_authors(n_authors, seed)
    rng = random.Random(f"npo_lab-synthetic-rows-{seed}")
    per_author = [author_rows(a, rng) for a in authors]
    per_holdout = [author_rows(a, rng) for a in holdout]  # after the authors: their rows do not change
    out: dict[str, list] = _author_splits(per_author)
    general = general_knowledge(seed)
    opt_rng = random.Random(f"npo_lab-synthetic-options-{seed}")
    for name in ("real_authors", "world_facts"):
        out[f"{name}_perturbed"] = general[name]
        out[name] = with_options(general[name], opt_rng)
    out.update(_holdout_splits(n_authors, per_holdout))
    out["idontknow"] = list(IDK_ANSWERS)
    out["authors"] = authors
    out["holdout_authors"] = holdout
    return out


def _jsonl(rows: Sequence[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def write_tofu(out_dir: str | Path, n_authors: int = 20, seed: int = 0) -> Path:
    """Write the synthetic TOFU files into ``out_dir`` and return it.

    Same names and JSON-lines format as the real TOFU files (``full.json``, ``forget10.json``, ...,
    ``holdout10.json``, ``idontknow.jsonl`` with one plain answer per line), plus the fact tables
    ``authors.jsonl`` and ``holdout_authors.jsonl`` (not TOFU files).
    """
    files: dict[str, str] = {}  # generated first: a bad n_authors or seed leaves the disk untouched
    for name, rows in generate_tofu(n_authors, seed).items():
        if name == "idontknow":
            files["idontknow.jsonl"] = "".join(f"{line}\n" for line in rows)
        elif name in ("authors", "holdout_authors"):
            files[f"{name}.jsonl"] = _jsonl(rows)
        else:
            files[f"{name}.json"] = _jsonl(rows)
    out = Path(out_dir)
    if out.is_dir():
        # only an earlier output of this function may be overwritten, never a directory of the user's own
        foreign = sorted(p.name for p in out.iterdir() if p.name not in files)
        if foreign:
            shown = ", ".join(foreign[:4]) + (", ..." if len(foreign) > 4 else "")
            raise ValueError(
                f"out_dir {str(out)!r} holds files that are not synthetic TOFU files ({shown}); "
                "choose a new or empty directory, or an earlier output of npo-lab authors"
            )
    out.mkdir(parents=True, exist_ok=True)
    for fname, text in files.items():
        tmp = out / f".{fname}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out / fname)
    return out
