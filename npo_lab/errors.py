"""User errors and safe file reading.

:class:`UsageError` is what a bad setting, a missing or unreadable file or an unusable output directory raises;
the command line turns it (and any ``ValueError`` / ``FileNotFoundError``) into one line on stderr and exit
status 2. :func:`read_json_file` / :func:`read_jsonl_file` read UTF-8 and name the file (and line) when it is not
valid, instead of a bare ``UnicodeDecodeError`` or ``JSONDecodeError``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

__all__ = ["UsageError", "read_text_file", "read_json_file", "read_jsonl_file"]


class UsageError(ValueError):
    """A user error: bad settings, a missing/unreadable file, an unusable output directory, an unknown device."""


def read_text_file(path: str | Path, *, what: str = "file") -> str:
    """The UTF-8 text of ``path``; a missing file raises ``FileNotFoundError``, an unreadable or non-UTF-8 one
    a ``ValueError``, both naming ``what`` and the path."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{what} {str(p)!r} does not exist")
    if not p.is_file():
        raise UsageError(f"{what} {str(p)!r} is not a file")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{what} {str(p)!r} is not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise UsageError(f"cannot read {what} {str(p)!r}: {e.strerror or e}") from None


def read_json_file(path: str | Path, *, what: str = "JSON file") -> Any:
    """The JSON value stored in ``path`` (UTF-8); errors name the file, line and column."""
    text = read_text_file(path, what=what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(
            f"{what} {str(path)!r} is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})"
        ) from None


def read_jsonl_file(
    path: str | Path, *, what: str = "JSON-lines file", torn_tail_ok: bool = False, objects_only: bool = False
) -> list:
    """The JSON values of a JSON-lines file, one per non-blank line.

    A line that is not valid JSON raises a ``ValueError`` naming the file and line; with ``torn_tail_ok`` an
    invalid *last* line (cut short by a kill while it was written) is dropped instead. With ``objects_only`` a
    line that is valid JSON but not an object is skipped with a warning naming the file and line.
    """
    lines = read_text_file(path, what=what).splitlines()
    values = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            if torn_tail_ok and i == len(lines) - 1:
                break
            raise UsageError(f"{what} {str(path)!r}: line {i + 1} is not valid JSON ({e.msg})") from None
        if objects_only and not isinstance(value, dict):
            warnings.warn(f"{what} {str(path)!r}: line {i + 1} is not a JSON object; skipped", stacklevel=2)
            continue
        values.append(value)
    return values
