"""Files: strict JSON written atomically, the on-disk cache (its root, locks, entries built atomically) and the
checks of an output path before any work.

* :func:`write_json` / :func:`write_text` write to a temporary sibling and ``os.replace`` it into place, so a
  reader sees the old file or the complete new one, never a torn one. JSON is strict: non-finite numbers are
  written as ``null`` (:func:`to_jsonable`), tensors and numpy scalars as Python numbers.
* :func:`cache_root` is the one place ``$NPO_LAB_CACHE`` is read (default ``~/.cache/npo_lab``).
* :func:`cache_entry` builds a cache entry (a directory) in a temporary sibling and renames it into place while
  holding an exclusive lock (``fcntl.flock`` on ``<entry>.lock``): a second process that wants the same entry
  waits for the first and then uses its result; nobody ever reads a half-written entry.
* :func:`check_out_file` / :func:`check_out_dir` decide whether an output path may be written (the command-line
  ``--out`` of ``evaluate``, ``audit``, ``demo``); a run directory's own rules are in :mod:`npo_lab.runs`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .errors import UsageError

__all__ = [
    "to_jsonable",
    "json_text",
    "write_text",
    "write_json",
    "cache_root",
    "file_lock",
    "cache_entry",
    "writable_parent",
    "check_out_file",
    "check_out_dir",
]


def to_jsonable(value: Any) -> Any:
    """Plain-JSON version of ``value``: tensors/numpy scalars → Python numbers, tuples → lists,
    non-finite floats → ``None`` (strict JSON has no NaN/inf)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    item = getattr(value, "item", None)  # numpy / torch scalars
    if callable(item):
        try:
            return to_jsonable(item())
        except (ValueError, RuntimeError):
            pass
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return to_jsonable(tolist())
    raise ValueError(f"cannot write a value of type {type(value).__name__} to JSON: {value!r}")


def json_text(obj: Any, *, indent: int | None = 2, **kw) -> str:
    """``obj`` as strict JSON text (:func:`to_jsonable` first: NaN/inf become ``null``)."""
    return json.dumps(to_jsonable(obj), indent=indent, allow_nan=False, **kw)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically: a temporary sibling renamed over it. Returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def write_json(path: str | Path, obj: Any, *, indent: int | None = 2, **kw) -> Path:
    """Write ``obj`` as strict JSON (:func:`json_text`, a final newline) to ``path`` atomically."""
    return write_text(path, json_text(obj, indent=indent, **kw) + "\n")


# ----------------------------------------------------------------------------------------------------------------
# the cache
# ----------------------------------------------------------------------------------------------------------------
def cache_root(cache: str | Path | None = None) -> Path:
    """The on-disk cache: ``cache`` if given, else ``$NPO_LAB_CACHE``, else ``~/.cache/npo_lab``."""
    if cache is not None:
        return Path(cache).expanduser()
    env = os.environ.get("NPO_LAB_CACHE", "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "npo_lab"


@contextlib.contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive ``fcntl.flock`` on ``path`` (created if needed) for the ``with`` block; other processes
    asking for the same lock wait. Where ``fcntl`` does not exist (Windows) the block runs unlocked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def cache_entry(entry: str | Path, build: Callable[[Path], Any], *, force: bool = False) -> bool:
    """Make sure the cache directory ``entry`` exists, building it with ``build(tmp_dir)`` if needed; returns
    whether this call built it.

    Under the lock ``<entry>.lock``: an existing entry is kept (unless ``force``); otherwise ``build`` writes into
    a fresh temporary sibling, which is renamed to ``entry`` (a replaced entry is renamed away first and then
    removed). A process that waited for another one finds the finished entry and builds nothing; a failed build
    leaves no entry behind.
    """
    final = Path(entry)
    with file_lock(final.with_name(final.name + ".lock")):
        if final.is_dir() and not force:
            return False
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
        try:
            build(tmp)
            old = None
            if final.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
                os.rename(final, old / "entry")
            os.rename(tmp, final)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return True


# ----------------------------------------------------------------------------------------------------------------
# output paths
# ----------------------------------------------------------------------------------------------------------------
def writable_parent(path: str | Path, what: str = "--out") -> Path:
    """The nearest existing ancestor of ``path`` (``path`` itself when it exists); a :class:`UsageError` when it
    is not a writable directory, so ``path`` could not be created."""
    p = Path(path)
    parent = p
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        why = "" if parent.is_dir() else " (it is not a directory)"
        raise UsageError(
            f"{what} {str(p)!r} cannot be created or written: {str(parent)!r} is not a writable directory{why}"
        )
    return parent


def check_out_file(
    path: str | Path, *, overwrite: bool = False, what: str = "--out", example: str = "out.json"
) -> Path:
    """``path`` as a file that may be written: not a directory, not an existing file unless ``overwrite``, and
    inside a directory that exists or can be created. Reads only; raises :class:`UsageError`."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise UsageError(f"{what} {str(path)!r} is a directory; give a file name (e.g. {path}/{example})")
    if p.exists() and not overwrite:
        raise UsageError(f"{what} {str(path)!r} already exists; choose another file or pass --overwrite to replace it")
    writable_parent(p.parent, what)
    return p


def check_out_dir(path: str | Path, *, marker: str | None = None, what: str = "out") -> Path:
    """``path`` as a directory that may be written: new, empty, or (with ``marker``) one that holds ``marker``
    (an earlier output of the same kind, written into again). Reads only; raises :class:`UsageError`."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise UsageError(f"{what} {str(p)!r} is an existing file; give a directory (new, empty or an earlier output)")
    if p.is_dir() and any(p.iterdir()) and not (marker and (p / marker).exists()):
        kind = f" without {marker} (not an earlier output)" if marker else ""
        raise UsageError(f"{what} {str(p)!r} is a non-empty directory{kind}; give a new or empty directory")
    writable_parent(p, what)
    return p
