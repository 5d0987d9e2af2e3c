"""npo_lab: a Jupyter-first teaching and analysis package for LLM unlearning with NPO.

Negative Preference Optimization: Zhang, Lin, Bai, Mei, arXiv 2404.05868 (COLM 2024).
"""

from __future__ import annotations

import os

__version__ = "0.2.0"


def is_smoke() -> bool:
    """True when ``NPO_LAB_SMOKE`` is set to a true value: notebooks and demos shrink sizes, never code paths."""
    return os.environ.get("NPO_LAB_SMOKE", "").strip().lower() in {"1", "true", "yes", "on"}
