"""The data of mini-TOFU: the first ``n_authors`` authors of a TOFU-format source, as a small TOFU-format directory.

The source is the bundled synthetic authors, a local directory of the TOFU JSON-lines files, or the hub. Its
first ``n_authors`` authors become the subset's ``full``; the splits of the subset directory
(:func:`write_subset_source`) are cut from it by TOFU's rules (:mod:`npo_lab.tofu.splits`), so every downstream
tool (``load_tofu``, ``evaluate``, ``unlearn``) reads that directory unchanged. Holdout authors (never trained on)
come from the source's ``holdoutXX`` files where present, else from the authors of ``full`` after the first
``n_authors``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..tofu.splits import (
    EVAL_SPLITS,
    FORGET_PERCENTS,
    GENERAL_SPLITS,
    HOLDOUT_SPLITS,
    QUESTIONS_PER_AUTHOR,
    eval_split_for,
    n_split_authors,
    retain_split_for,
)
from .cache import cache_entry, cache_root

__all__ = ["SUBSET_FORMAT", "load_source_rows", "write_subset_source"]

SUBSET_FORMAT = 2  # bump when write_subset_source changes what it writes (2: the holdout splits)

_AUTHOR_EVAL_SPLITS = tuple(s for s in EVAL_SPLITS if s not in GENERAL_SPLITS)  # forget01/05/10_, retain_perturbed
_EVAL_KEYS = ("question", "answer", "paraphrased_answer", "perturbed_answer", "paraphrased_question")


def _holdout_percent(holdout_split: str) -> int:
    """``holdout05`` → 5: a holdout split has as many authors as the forget split of the same percentage."""
    return int(holdout_split.removeprefix("holdout"))


_N_HOLDOUT_PERCENT = max(map(_holdout_percent, HOLDOUT_SPLITS))  # holdout authors: as many as in holdout10


def _try_load(split: str, source) -> list[dict] | None:
    from ..tofu.data import load_tofu_rows

    try:
        return load_tofu_rows(split, source)
    except (ValueError, FileNotFoundError):
        return None


def _qa(rows: Sequence[dict]) -> list[dict]:
    return [{"question": r["question"], "answer": r["answer"]} for r in rows]


def _with_eval_answers(full: list[dict], source) -> list[dict]:
    """``full`` rows with paraphrased/perturbed answers where one of the source's author eval splits has them."""
    lookup: dict[str, dict] = {}
    for split in _AUTHOR_EVAL_SPLITS:
        for r in _try_load(split, source) or []:
            lookup.setdefault(r["question"], r)
    rows = []
    for r in full:
        row = {"question": r["question"], "answer": r["answer"]}
        p = lookup.get(r["question"])
        if p is not None and p.get("perturbed_answer"):
            row["paraphrased_answer"] = p.get("paraphrased_answer") or r["answer"]
            row["perturbed_answer"] = list(p["perturbed_answer"])
            if p.get("paraphrased_question"):
                row["paraphrased_question"] = p["paraphrased_question"]
        rows.append(row)
    return rows


def _holdout_rows(source, full: list[dict], n_authors: int) -> list[dict]:
    """``n_split_authors(n_authors, 10)`` authors that the subset's ``full`` does not contain.

    The first authors of the source's largest holdout split when it has enough; else the authors of the source's
    ``full`` right after the subset's; else none (the subset then has no holdout splits).
    """
    n = n_split_authors(n_authors, _N_HOLDOUT_PERCENT) * QUESTIONS_PER_AUTHOR
    for split in sorted(HOLDOUT_SPLITS, key=_holdout_percent, reverse=True):
        rows = _try_load(split, source)
        if rows is not None and len(rows) >= n:
            return _qa(rows[:n])
    start = n_authors * QUESTIONS_PER_AUTHOR
    return _qa(full[start : start + n]) if len(full) >= start + n else []


def load_source_rows(
    source: str | Path | None = "synthetic", n_authors: int = 20, *, cache: str | Path | None = None
) -> dict[str, Any]:
    """The first ``n_authors`` authors of a TOFU-format source, their eval answers, and holdout authors.

    Returns ``{"full", "holdout", "real_authors_perturbed", "world_facts_perturbed", "idk"}``. ``full`` rows carry
    ``question, answer`` and, where one of the source's ``*_perturbed`` splits has the same question,
    ``paraphrased_answer, perturbed_answer`` (+ ``paraphrased_question``): real TOFU has them for the first 20
    authors (``retain_perturbed``) and the last 10 %, the bundled synthetic set for its first and last 10 %.
    ``holdout`` has ``question, answer`` rows of ``n_split_authors(n_authors, 10)`` authors outside ``full``
    (see :func:`_holdout_rows`; empty when the source has none). Raises ValueError when the source has fewer
    authors than asked.
    """
    from ..tofu.data import load_idk_answers, load_tofu_rows

    if isinstance(n_authors, bool) or not isinstance(n_authors, int) or n_authors < 2:
        raise ValueError(f"n_authors must be an integer >= 2, got {n_authors!r}")
    source = _synthetic_source(source, n_authors, cache)
    full = load_tofu_rows("full", source)
    n = n_authors * QUESTIONS_PER_AUTHOR
    if len(full) < n:
        raise ValueError(
            f"n_authors={n_authors} asks for {n} rows of `full` but the source has {len(full)} "
            f"({len(full) // QUESTIONS_PER_AUTHOR} authors)"
        )
    out: dict[str, Any] = {
        "full": _with_eval_answers(full[:n], source),
        "holdout": _holdout_rows(source, full, n_authors),
    }
    for split in GENERAL_SPLITS:
        out[split] = [{k: v for k, v in r.items() if k in _EVAL_KEYS} for r in load_tofu_rows(split, source)]
    try:
        out["idk"] = list(load_idk_answers(source))
    except (ValueError, FileNotFoundError):
        out["idk"] = []
    return out


def _synthetic_source(source, n_authors: int, cache=None):
    """``"synthetic"`` with another number of authors than the bundled set: the generator's set of exactly
    ``n_authors`` authors (seed 0; written once into the cache), whose first and last 10 % carry perturbed answers
    as the subset needs. Any other source is returned unchanged."""
    if not (isinstance(source, str) and source == "synthetic"):
        return source
    from ..tofu.data import bundled_data_dir

    with open(bundled_data_dir() / "full.json", encoding="utf-8") as f:
        n_bundled = sum(1 for line in f if line.strip()) // QUESTIONS_PER_AUTHOR
    if n_bundled == n_authors:
        return source
    from ..tofu.synthetic import write_tofu

    d = cache_root(cache) / "minitofu" / f"synthetic-{n_authors}authors-seed0"
    cache_entry(d, lambda t: write_tofu(t, n_authors=n_authors, seed=0))
    return d


def _write_jsonl(path: Path, rows: Sequence[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def _with_perturbed(rows: Sequence[dict], what: str) -> list[dict]:
    for r in rows:
        if not r.get("perturbed_answer"):
            raise ValueError(
                f"{what}: row {r['question'][:60]!r} has no paraphrased/perturbed answers in the "
                f"source's *_perturbed splits; choose another n_authors"
            )
    return list(rows)


def write_subset_source(rows: dict[str, Any], directory: str | Path) -> Path:
    """Write ``rows`` (from :func:`load_source_rows`) as a TOFU-format directory that refers to the subset only.

    With n authors (20 rows each): ``full``; ``forgetXX`` = the last ``max(1, round(XX/100·n))`` authors and
    ``retainYY`` = the other (first) authors, XX in 1, 5, 10, 20, 30, 50, 90; ``forget01/05/10_perturbed`` =
    those forget rows with their paraphrased/perturbed answers; ``retain_perturbed`` = the first 10 % of the
    authors (as TOFU's first 20 of 200, so it never overlaps a forget split up to 90 %); ``holdout01/05/10`` = the
    last ``max(1, round(XX/100·n))`` holdout authors (when ``rows`` has holdout rows); ``real_authors_perturbed``,
    ``world_facts_perturbed`` copied; ``idontknow.jsonl`` when the source has IDK answers. A forget split that
    would take every author (e.g. ``forget90`` of 5 authors) is not written.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    full = rows["full"]
    n_rows = len(full)
    n_authors = n_rows // QUESTIONS_PER_AUTHOR
    qa = _qa(full)
    _write_jsonl(d / "full.json", qa)
    for split, pct in FORGET_PERCENTS.items():
        k = n_split_authors(n_authors, pct) * QUESTIONS_PER_AUTHOR
        if k >= n_rows:  # e.g. forget90 of 5 authors: not written (loading it then names the missing file)
            continue
        _write_jsonl(d / f"{split}.json", qa[n_rows - k :])
        _write_jsonl(d / f"{retain_split_for(split)}.json", qa[: n_rows - k])
        if eval_split_for(split) == f"{split}_perturbed":
            _write_jsonl(d / f"{split}_perturbed.json", _with_perturbed(full[n_rows - k :], f"{split}_perturbed"))
    k = n_split_authors(n_authors, 10) * QUESTIONS_PER_AUTHOR
    _write_jsonl(d / "retain_perturbed.json", _with_perturbed(full[:k], "retain_perturbed"))
    holdout = rows.get("holdout") or []
    for split in HOLDOUT_SPLITS if holdout else ():
        k = n_split_authors(n_authors, _holdout_percent(split)) * QUESTIONS_PER_AUTHOR
        _write_jsonl(d / f"{split}.json", holdout[len(holdout) - k :])
    for split in GENERAL_SPLITS:
        _write_jsonl(d / f"{split}.json", rows[split])
    if rows.get("idk"):
        (d / "idontknow.jsonl").write_text("".join(a.strip() + "\n" for a in rows["idk"] if a.strip()))
    return d
