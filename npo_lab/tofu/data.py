"""TOFU data: loading the splits (tokenising QA rows: :mod:`npo_lab.prompts`).

TOFU (Maini et al. 2024, "TOFU: A Task of Fictitious Unlearning for LLMs") has 200 fictitious authors x 20 QA
pairs = ``full`` (4000 rows); the split names and arithmetic (``forgetXX`` = the last XX % of the authors,
``retainXX`` the first, the evaluation split of each forget split) live in :mod:`npo_lab.tofu.splits`.
Evaluation splits carry a ``paraphrased_answer`` and ``perturbed_answer`` (a list: 5 answers for the
forget/retain splits, 3 for ``real_authors_perturbed`` and ``world_facts_perturbed``) and, for the author splits,
a ``paraphrased_question``.

Sources (:func:`load_tofu`):

* a directory of the JSON-lines files ``{split}.json`` (one JSON object per line), e.g. a clone of the hub
  dataset;
* ``"hub"``: ``datasets.load_dataset("locuslab/TOFU", split)`` (configs named like the files, split ``train``);
* ``"synthetic"``: the bundled synthetic authors (``data/synthetic_tofu/``, written by
  :mod:`npo_lab.tofu.synthetic`), the offline default;
* ``None``: ``$NPO_LAB_TOFU_DIR`` if set, else the bundled synthetic authors.

Tokenisation with the prompt masked (:func:`encode_qa`, :func:`pad_batch`, :class:`QACollator`) lives in
:mod:`npo_lab.prompts` and is re-exported here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import read_text_file
from ..files import cache_entry, cache_root
from ..prompts import IGNORE_INDEX, QACollator, encode_prompt, encode_qa, pad_batch
from .splits import (
    EVAL_SPLITS,
    FORGET_SPLITS,
    HOLDOUT_SPLITS,
    RETAIN_SPLITS,
    SPLITS,
    check_split,
    cut_split,
    eval_split_for,
    forget_percent,
    retain_split_for,
)
from .templates import TEMPLATES, PromptTemplate, get_template, guess_template

__all__ = [
    # re-exported from npo_lab.tofu.splits, npo_lab.tofu.templates and npo_lab.prompts
    "SPLITS",
    "FORGET_SPLITS",
    "RETAIN_SPLITS",
    "EVAL_SPLITS",
    "HOLDOUT_SPLITS",
    "eval_split_for",
    "retain_split_for",
    "forget_percent",
    "PromptTemplate",
    "TEMPLATES",
    "get_template",
    "guess_template",
    # defined here
    "HUB_DATASET",
    "IGNORE_INDEX",
    "bundled_data_dir",
    "resolve_source",
    "read_jsonl",
    "load_tofu",
    "load_tofu_rows",
    "load_idk_answers",
    "encode_prompt",
    "encode_qa",
    "pad_batch",
    "QACollator",
]

HUB_DATASET = "locuslab/TOFU"
IDK_FILE = "idontknow.jsonl"


# --------------------------------------------------------------------------------------------------------------
# sources
# --------------------------------------------------------------------------------------------------------------
def bundled_data_dir() -> Path:
    """The directory of the bundled synthetic authors, ``data/synthetic_tofu/`` (regenerated into the cache if absent).

    Looked up in the installed package (``npo_lab/bundled/synthetic_tofu``: the wheel ships the repository's
    ``data/`` folder as the package data ``npo_lab.bundled``) and at the repository root
    (``<repo>/data/synthetic_tofu``, for an editable install or a source checkout).
    """
    import npo_lab

    pkg = Path(npo_lab.__file__).resolve().parent
    candidates = [pkg / "bundled" / "synthetic_tofu", pkg.parent / "data" / "synthetic_tofu"]
    for c in candidates:
        if (c / "full.json").is_file():
            return c
    # A non-editable install (e.g. `pip install git+...` on Colab) has no data/ folder: the generator is
    # deterministic and takes well under a second, so regenerate the same default set into the cache.
    cache = cache_root() / "synthetic_tofu"
    if not (cache / "full.json").is_file():
        try:
            from .synthetic import write_tofu

            cache_entry(cache, lambda d: write_tofu(d, n_authors=20, seed=0), force=cache.is_dir())
        except OSError as err:
            raise ValueError(
                "bundled synthetic TOFU data not found (looked in "
                + ", ".join(str(c) for c in candidates)
                + f") and it could not be generated into {cache}: {err}. Generate the files with "
                "`python -m npo_lab.tofu.synthetic --authors 20 --seed 0 --out DIR` and pass source=DIR "
                "(or set NPO_LAB_TOFU_DIR=DIR)."
            ) from err
    return cache


def resolve_source(source: str | os.PathLike | None = None) -> str | Path:
    """Resolve ``source`` to ``"hub"`` or an existing directory ``Path``.

    ``None`` → ``$NPO_LAB_TOFU_DIR`` if set (and non-empty), else the bundled synthetic authors;
    ``"synthetic"`` → :func:`bundled_data_dir`; ``"hub"`` → ``"hub"``; anything else is a directory.
    """
    if source is None:
        env = os.environ.get("NPO_LAB_TOFU_DIR", "").strip()
        if env:
            path = Path(env).expanduser()
            if not path.is_dir():
                raise ValueError(f"NPO_LAB_TOFU_DIR={env!r} is not a directory")
            return path
        return bundled_data_dir()
    if isinstance(source, str) and source == "hub":
        return "hub"
    if isinstance(source, str) and source == "synthetic":
        return bundled_data_dir()
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(f"source must be None, 'hub', 'synthetic' or a directory path; got {type(source).__name__}")
    path = Path(source).expanduser()
    if not path.is_dir():
        raise ValueError(
            f"source={str(source)!r} is not a directory (expected 'hub', 'synthetic', None, or a directory "
            "of TOFU JSON-lines files)"
        )
    return path


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a JSON-lines file (one JSON object per line; blank lines skipped). A JSON array file is accepted too."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"file not found: {path}")
    text = read_text_file(path, what="TOFU file")
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: malformed JSON array: {e}") from None
        for i, r in enumerate(rows):
            if not isinstance(r, dict):
                raise ValueError(f"{path}: row {i} is not a JSON object")
        return rows
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}, line {lineno}: malformed JSON: {e}") from None
        if not isinstance(row, dict):
            raise ValueError(f"{path}, line {lineno}: expected a JSON object, got {type(row).__name__}")
        rows.append(row)
    return rows


def _validate_rows(rows: list[dict], split: str, where: str) -> list[dict]:
    """Check the TOFU row schema; raise ValueError naming the split, the row and the field."""
    if not rows:
        raise ValueError(f"{where}: split {split!r} has no rows")
    perturbed = split.endswith("_perturbed")
    k_ref = None
    for i, row in enumerate(rows):
        for key in ("question", "answer"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise ValueError(f"{where}: row {i} of split {split!r} has no non-empty string field {key!r}")
        for key in ("paraphrased_answer", "paraphrased_question"):
            if key in row and not isinstance(row[key], str):
                raise ValueError(f"{where}: row {i} of split {split!r}: field {key!r} must be a string")
        if perturbed:
            pa = row.get("perturbed_answer")
            if not isinstance(pa, list) or not pa or not all(isinstance(a, str) for a in pa):
                raise ValueError(
                    f"{where}: row {i} of split {split!r}: field 'perturbed_answer' must be a non-empty list of strings"
                )
            if k_ref is None:
                k_ref = len(pa)
            elif len(pa) != k_ref:
                raise ValueError(
                    f"{where}: row {i} of split {split!r} has {len(pa)} perturbed answers, row 0 has {k_ref}"
                )
    return rows


def _load_hub_rows(split: str) -> list[dict]:
    """Rows of a split from the hub; forget/retain splits the hub does not publish as a config (older revisions
    only have forget01/05/10, retain90/95/99) are cut from ``full`` by the same rule (:func:`cut_split`)."""
    import datasets

    try:
        return [dict(r) for r in datasets.load_dataset(HUB_DATASET, split, split="train")]
    except Exception as err:  # noqa: BLE001 - a missing config surfaces as different exception types
        if split not in FORGET_SPLITS + RETAIN_SPLITS:
            raise ValueError(f"could not load split {split!r} of {HUB_DATASET} from the hub: {err}") from err
    return cut_split(split, [dict(r) for r in datasets.load_dataset(HUB_DATASET, "full", split="train")])


def load_tofu_rows(split: str, source: str | os.PathLike | None = None) -> list[dict]:
    """The rows of a TOFU split as a list of dicts (see :func:`load_tofu`)."""
    check_split(split)
    src = resolve_source(source)
    if src == "hub":
        rows = _load_hub_rows(split)
        where = f"{HUB_DATASET}/{split}"
    else:
        path = Path(src) / f"{split}.json"
        if not path.is_file():
            raise ValueError(f"split {split!r}: file {path} not found in source directory {src}")
        rows = read_jsonl(path)
        where = str(path)
    return _validate_rows(rows, split, where)


def load_tofu(split: str, source: str | os.PathLike | None = None):
    """Load a TOFU split as a ``datasets.Dataset``.

    Args:
        split: one of :data:`SPLITS` (``full``, ``forget01`` .. ``forget90``, ``retain99`` .. ``retain10``,
            ``forget01/05/10_perturbed``, ``retain_perturbed``, ``real_authors[_perturbed]``,
            ``world_facts[_perturbed]``) or :data:`HOLDOUT_SPLITS` (where the source has them).
        source: a directory of ``{split}.json`` JSON-lines files, ``"hub"`` (``locuslab/TOFU``),
            ``"synthetic"`` (the bundled synthetic authors) or ``None`` (``$NPO_LAB_TOFU_DIR``, else synthetic).

    Returns:
        A ``Dataset`` with columns ``question``, ``answer`` and, where the split has them, ``paraphrased_answer``,
        ``perturbed_answer`` (list of K strings), ``paraphrased_question`` (and ``option1..4`` for the
        multiple-choice ``real_authors`` / ``world_facts`` files).

    Raises:
        ValueError: unknown split, missing directory or file, malformed row (naming it).
    """
    import datasets

    return datasets.Dataset.from_list(load_tofu_rows(split, source))


def load_idk_answers(source: str | os.PathLike | None = None) -> list[str]:
    """The "I don't know" answers used by the IDK / DPO baselines (``idontknow.jsonl``, one plain answer a line).

    Read from the source directory when it has ``idontknow.jsonl``; otherwise (the hub, or a directory without
    the file) the bundled list written by :mod:`npo_lab.tofu.synthetic` is used.
    """
    src = resolve_source(source)
    path = None if src == "hub" else Path(src) / IDK_FILE
    if path is None or not path.is_file():
        path = bundled_data_dir() / IDK_FILE
    lines = [ln.strip() for ln in read_text_file(path, what="'I don't know' answers file").splitlines()]
    answers = [ln for ln in lines if ln]
    if not answers:
        raise ValueError(f"{path}: no 'I don't know' answers")
    return answers
