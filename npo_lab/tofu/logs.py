"""TOFU eval logs: reading, validating and writing them, and finding the published reference logs.

Eval logs use TOFU's ``eval_log_aggregated.json`` layout: a dict with the section keys ``eval_log.json``
(retain), ``eval_real_author_wo_options.json``, ``eval_real_world_wo_options.json`` and ``eval_log_forget.json``,
each a dict of per-row fields. The fields read by :mod:`npo_lab.tofu.metrics` (per row):

========================  ===========================================================================
``avg_gt_loss``           L̄ of the answer (mean token NLL; in every section, including real authors)
``avg_paraphrased_loss``  L̄ of the paraphrased answer (= ``avg_gt_loss`` for real authors / world facts)
``average_perturb_loss``  list of L̄ of the perturbed answers (5 for retain/forget, 3 otherwise)
``rougeL_recall``         ROUGE-L recall of the generation (a float in [0, 1])
``generated_text``        ``[prompt, generation, answer]`` (not needed for the numbers)
========================  ===========================================================================

Published logs also carry summed losses (``gt_loss``, ``paraphrased_loss``, ``perturb_loss``), token counts
(``num_token_*``), ``rouge1_recall`` and ``truth_ratio`` (TOFU's per-row field holds ``1/R``). Per-row fields
are lists (this package writes lists) or dicts keyed by the row index (published logs).

Validation on read (:func:`normalize_eval_log`, and every metric that reads a field): the fields of a section
have the same rows (the same index keys, or lists of the same length) — fields are never re-paired by
position; losses (:data:`LOSS_FIELDS`) are finite and non-negative; recalls (:data:`RECALL_FIELDS`) lie in
[0, 1]; token counts are non-negative integers; a number is an ``int`` or ``float``, never a ``bool``.
Files are read as UTF-8 (``.json`` or gzip-compressed ``.json.gz``); errors name the file, section and field.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError, read_json_file
from ..files import cache_root, to_jsonable, write_json

__all__ = [
    "SECTIONS",
    "LOSS_FIELDS",
    "RECALL_FIELDS",
    "COUNT_FIELDS",
    "section_key",
    "section_name",
    "load_eval_log",
    "save_eval_log",
    "normalize_eval_log",
    "numeric_field",
    "field_rows",
    "get_section",
    "strict_json",
    "REFERENCE_LOG_URL",
    "reference_log_path",
    "load_reference_log",
]

#: short name -> key in TOFU's eval_log_aggregated.json
SECTIONS: dict[str, str] = {
    "retain": "eval_log.json",
    "real_authors": "eval_real_author_wo_options.json",
    "world_facts": "eval_real_world_wo_options.json",
    "forget": "eval_log_forget.json",
}
#: mean or summed NLLs: finite and >= 0
LOSS_FIELDS = frozenset(
    {
        "avg_gt_loss",
        "gt_loss",
        "avg_paraphrased_loss",
        "paraphrased_loss",
        "average_perturb_loss",
        "perturb_loss",
        "normalized_gt_loss",
    }
)
#: ROUGE recalls: in [0, 1]
RECALL_FIELDS = frozenset({"rouge1_recall", "rougeL_recall"})
#: token counts: non-negative integers
COUNT_FIELDS = frozenset({"num_token_gt", "num_token_paraphrased", "num_token_perturb"})


def section_key(name: str) -> str:
    """The TOFU file key of a section given its short name (``"retain"``) or its key (``"eval_log.json"``)."""
    if name in SECTIONS:
        return SECTIONS[name]
    if name in SECTIONS.values():
        return name
    allowed = ", ".join(list(SECTIONS) + list(SECTIONS.values()))
    raise ValueError(f"section must be one of {allowed}; got {name!r}")


def section_name(name: str) -> str:
    """The short name of a section given its key or short name: ``"eval_log.json"`` → ``"retain"``."""
    key = section_key(name)
    return next(s for s, k in SECTIONS.items() if k == key)


# --------------------------------------------------------------------------------------------------------------
# rows and values
# --------------------------------------------------------------------------------------------------------------
def _row_keys(value: Any, field: str, where: str) -> list[int]:
    """The row indices of a per-row field: ``0..n-1`` for a list, the integer keys of an index-keyed dict."""
    if isinstance(value, Mapping):
        try:
            return sorted(int(k) for k in value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"section {where!r}: field {field!r} is a dict whose keys are not row indices") from exc
    if isinstance(value, (list, tuple, np.ndarray)):
        return list(range(len(value)))
    raise ValueError(
        f"section {where!r}: field {field!r} must be a list or a dict keyed by row index, got {type(value).__name__}"
    )


def field_rows(value: Any, field: str, where: str) -> list:
    """A per-row field as a list, dict rows ordered by their integer keys."""
    if isinstance(value, Mapping):
        by_index = {int(k): v for k, v in value.items()}
        return [by_index[i] for i in _row_keys(value, field, where)]
    _row_keys(value, field, where)
    return value.tolist() if isinstance(value, np.ndarray) else list(value)


def _check_rows(sec: Mapping[str, Any], where: str) -> None:
    """Every field of a section has the same rows; otherwise ValueError naming the section and the field."""
    first, ref = None, None
    for field, value in sec.items():
        keys = _row_keys(value, field, where)
        if first is None:
            first, ref = field, keys
            continue
        if keys == ref:
            continue
        if len(keys) != len(ref):
            raise ValueError(
                f"section {where!r}: per-row fields have different lengths: {field!r} has {len(keys)} rows, "
                f"{first!r} has {len(ref)}"
            )
        odd = sorted(set(keys) ^ set(ref))[:3]
        raise ValueError(
            f"section {where!r}: field {field!r} is keyed by other rows than {first!r} (rows {odd} are in one but "
            "not the other); the fields of a section must describe the same rows"
        )


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))


def _check_values(arr: np.ndarray, rows: list, field: str, where: str) -> None:
    """Range checks of a known field; ``arr`` is its float array, ``rows`` its per-row values."""
    bad = None
    if np.isnan(arr).any():
        bad, what = np.isnan(arr), "NaN losses" if field in LOSS_FIELDS else "NaN values"
    elif field in LOSS_FIELDS and not (np.isfinite(arr) & (arr >= 0)).all():
        bad, what = ~(np.isfinite(arr) & (arr >= 0)), "losses that are not finite non-negative numbers"
    elif field in RECALL_FIELDS and not ((arr >= 0) & (arr <= 1)).all():
        bad, what = ~((arr >= 0) & (arr <= 1)), "recalls outside [0, 1]"
    elif field in COUNT_FIELDS and not (np.isfinite(arr) & (arr >= 0) & (arr == np.round(arr))).all():
        bad, what = ~(np.isfinite(arr) & (arr >= 0) & (arr == np.round(arr))), "counts that are not integers >= 0"
    if bad is not None:
        row = int(np.argwhere(bad)[0][0])
        raise ValueError(f"section {where!r}: field {field!r} has {what} (first at row {row}: {rows[row]!r})")


def numeric_field(sec: Mapping[str, Any], field: str, where: str) -> np.ndarray:
    """A per-row numeric field as a float array, shape (N,) or (N, K), validated (see the module docstring)."""
    if field not in sec:
        raise ValueError(f"section {where!r} is missing the key {field!r} (fields present: {sorted(sec)})")
    rows = field_rows(sec[field], field, where)
    if not rows:
        raise ValueError(f"section {where!r}: field {field!r} has no rows")
    for i, r in enumerate(rows):
        items = r if isinstance(r, (list, tuple)) else [r]
        if not all(_is_number(x) for x in items):
            raise ValueError(
                f"section {where!r}: field {field!r}, row {i}: expected a number or a list of numbers, got {r!r:.80}"
            )
    try:
        arr = np.asarray(rows, dtype=float)
    except ValueError as exc:
        raise ValueError(f"section {where!r}: field {field!r} has rows of different lengths") from exc
    if arr.ndim == 2 and arr.shape[1] == 0:
        raise ValueError(f"section {where!r}: field {field!r} has rows with no perturbed answers")
    _check_values(arr, rows, field, where)
    return arr


def get_section(log: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """The section ``name`` of a log, its rows checked to agree across fields."""
    key = section_key(name)
    if not isinstance(log, Mapping):
        raise ValueError(f"log must be a dict (an eval log), got {type(log).__name__}")
    if key not in log:
        present = [k for k in log if k in SECTIONS.values()]
        raise ValueError(f"log has no section {key!r} ({section_name(key)}); sections present: {present}")
    sec = log[key]
    if not isinstance(sec, Mapping):
        raise ValueError(f"section {key!r} must be a dict of per-row fields, got {type(sec).__name__}")
    _check_rows(sec, key)
    return sec


# --------------------------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------------------------
def normalize_eval_log(log: Mapping[str, Any]) -> dict[str, dict[str, list]]:
    """Copy of an eval log with every per-row field as a list, validated (rows agree, known fields in range).

    Sections may be given by their TOFU keys or short names (``retain``, ``forget``, ...); the result uses the
    TOFU keys. Unknown top-level keys are kept as they are (TOFU logs sometimes carry extra files).
    """
    if not isinstance(log, Mapping):
        raise ValueError(f"log must be a dict (an eval log), got {type(log).__name__}")
    out: dict[str, Any] = {}
    for name, sec in log.items():
        try:
            key = section_key(name)
        except ValueError:
            out[name] = sec
            continue
        sec = get_section({key: sec}, key)
        for field in (LOSS_FIELDS | RECALL_FIELDS | COUNT_FIELDS) & set(sec):
            numeric_field(sec, field, key)
        out[key] = {f: field_rows(v, f, key) for f, v in sec.items()}
    return out


def load_eval_log(path: str | Path) -> dict[str, dict[str, list]]:
    """Read and validate a TOFU eval log (``eval_log_aggregated.json`` layout; ``.json`` or ``.json.gz``).

    ``path`` is the file, or a directory holding ``eval_log_aggregated.json``. Returns per-row lists.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "eval_log_aggregated.json"
    if not p.is_file():
        raise UsageError(f"path: no eval log at {str(p)!r}")
    if p.suffix == ".gz":
        try:
            log = json.loads(gzip.decompress(p.read_bytes()).decode("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UsageError(f"eval log {str(p)!r} is not gzip-compressed UTF-8 JSON ({exc})") from None
    else:
        log = read_json_file(p, what="eval log")
    try:
        log = normalize_eval_log(log)
    except ValueError as exc:
        raise UsageError(f"eval log {str(p)!r}: {exc}") from None
    if not any(k in log for k in SECTIONS.values()):
        raise UsageError(f"path: {str(p)!r} has none of the eval-log sections {list(SECTIONS.values())}")
    return log


#: ``x`` made strictly JSON-serialisable (arrays as lists, NaN/inf as ``null``): the package's one NaN policy
strict_json = to_jsonable


def save_eval_log(log: Mapping[str, Any], path: str | Path) -> Path:
    """Write an eval log as strict JSON in TOFU's layout with per-row **lists**; returns the path written.

    The log is validated first; the file is written to ``path.tmp`` and renamed, so ``path`` is either the old
    file or the complete new one (the temporary file is removed if writing fails).
    """
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"path {str(p)!r} is a directory; give the eval log's file name")
    return write_json(p, normalize_eval_log(log), indent=1)


# --------------------------------------------------------------------------------------------------------------
# the published reference logs (TOFU's Llama-2-7B / phi-1.5 evaluations)
# --------------------------------------------------------------------------------------------------------------
#: where TOFU publishes its eval logs (GitHub repository locuslab/tofu, folder data/); ``{model}`` is
#: ``llama2-7b`` (lr 1e-05) or ``phi`` (lr 2e-05), ``{which}`` ``full``, ``retain90``, ``retain95``, ``retain99``.
REFERENCE_LOG_URL = (
    "https://raw.githubusercontent.com/locuslab/tofu/main/data/ft_epoch5_lr{lr}_{model}_{which}_wd0.01/"
    "eval_results/ds_size300/eval_log_aggregated.json"
)
_REFERENCE_LR = {"llama2-7b": "1e-05", "phi": "2e-05"}
_REFERENCE_WHICH = ("full", "retain90", "retain95", "retain99")


def _reference_dirs() -> list[Path]:
    dirs = []
    env = os.environ.get("NPO_LAB_TOFU_LOGS", "").strip()
    if env:
        dirs.append(Path(env).expanduser())
    data = os.environ.get("NPO_LAB_TOFU_DIR", "").strip()
    if data:
        dirs.append(Path(data).expanduser().resolve().parent / "eval_logs")
    pkg = Path(__file__).resolve().parents[1]  # the bundled copies: installed package data, or a checkout's data/
    dirs += [pkg / "bundled" / "eval_logs", pkg.parent / "data" / "eval_logs"]
    return dirs


def reference_log_path(which: str = "full", model: str = "llama2-7b", download: bool = True) -> Path:
    """Path of a published TOFU eval log ``{model}_{which}.json`` (or its bundled ``.json.gz`` copy).

    Looked up in ``$NPO_LAB_TOFU_LOGS``, in ``eval_logs/`` beside ``$NPO_LAB_TOFU_DIR`` (``…/tofu/data`` →
    ``…/tofu/eval_logs``), in the copies bundled with the package (``npo_lab/bundled/eval_logs`` when installed,
    ``data/eval_logs`` in a checkout), then in the cache
    ``$NPO_LAB_CACHE/tofu_eval_logs`` (default ``~/.cache/npo_lab/tofu_eval_logs``); if absent and
    ``download``, fetched once from :data:`REFERENCE_LOG_URL` (the locuslab/tofu GitHub repository) into the cache.
    """
    if which not in _REFERENCE_WHICH:
        raise ValueError(f"which must be one of {_REFERENCE_WHICH}, got {which!r}")
    if model not in _REFERENCE_LR:
        raise ValueError(f"model must be one of {tuple(_REFERENCE_LR)}, got {model!r}")
    name = f"{model}_{which}.json"
    for d in _reference_dirs():
        for candidate in (d / name, d / (name + ".gz")):
            if candidate.is_file():
                return candidate
    target = cache_root() / "tofu_eval_logs" / name
    if target.is_file():
        return target
    if not download:
        raise ValueError(f"reference log {name} not found (set NPO_LAB_TOFU_LOGS or allow download)")
    import urllib.request

    url = REFERENCE_LOG_URL.format(lr=_REFERENCE_LR[model], model=model, which=which)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    urllib.request.urlretrieve(url, tmp)  # noqa: S310 - a fixed https URL
    tmp.replace(target)
    return target


def load_reference_log(which: str = "full", model: str = "llama2-7b", download: bool = True) -> dict:
    """:func:`load_eval_log` of :func:`reference_log_path` (e.g. ``load_reference_log("retain90")``)."""
    return load_eval_log(reference_log_path(which, model, download))
