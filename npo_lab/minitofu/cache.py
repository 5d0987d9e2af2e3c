"""The on-disk cache of mini-TOFU: its root and content hashes as keys. Entries are built with
:func:`npo_lab.files.cache_entry` (atomically, under a file lock), so processes may share one cache."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..files import cache_entry, cache_root, file_lock

__all__ = ["cache_root", "content_hash", "cache_entry", "file_lock"]


def content_hash(obj: Any, n: int = 16) -> str:
    """The first ``n`` hex digits of the SHA-256 of ``obj`` as canonical JSON (sorted keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:n]
