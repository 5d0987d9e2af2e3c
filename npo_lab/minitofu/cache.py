"""The on-disk cache of mini-TOFU: its root, content hashes as keys, and atomic writes of cache entries."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["cache_root", "content_hash", "atomic_save", "is_complete"]


def cache_root(cache: str | Path | None = None) -> Path:
    """The on-disk cache: ``cache`` if given, else ``$NPO_LAB_CACHE``, else ``~/.cache/npo_lab``."""
    if cache is not None:
        return Path(cache).expanduser()
    env = os.environ.get("NPO_LAB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "npo_lab"


def content_hash(obj: Any, n: int = 16) -> str:
    """The first ``n`` hex digits of the SHA-256 of ``obj`` as canonical JSON (sorted keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:n]


def atomic_save(save: Callable[[Path], Any], final: Path, *, mark_complete: bool = False) -> None:
    """Run ``save(tmp_dir)`` into a fresh sibling directory, then rename it to ``final`` (replacing it).

    A reader never sees a half-written entry; when another process finished the same entry first, theirs is kept.
    ``mark_complete`` also writes ``.complete`` into the entry (see :func:`is_complete`).
    """
    tmp = final.with_name(final.name + f".tmp{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save(tmp)
    if mark_complete:
        (tmp / ".complete").write_text("ok\n")
    if final.exists():
        shutil.rmtree(final)
    try:
        tmp.rename(final)
    except OSError:
        if not final.exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def is_complete(entry: Path) -> bool:
    """Whether a cache entry written with ``atomic_save(..., mark_complete=True)`` exists."""
    return (entry / ".complete").exists()
