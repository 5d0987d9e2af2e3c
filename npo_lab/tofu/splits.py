"""TOFU split arithmetic: split names, forget/retain percentages, authors per split, and the companion splits.

TOFU (Maini et al. 2024, "TOFU: A Task of Fictitious Unlearning for LLMs", §2) has :data:`AUTHORS` = 200
fictitious authors with :data:`QUESTIONS_PER_AUTHOR` = 20 QA pairs each, in author order: ``full`` (4000 rows).

* ``forgetXX`` is the **last** XX % of the authors of ``full``; ``retain(100-XX)`` the first authors, its
  complement (``forget10`` + ``retain90`` = ``full``).
* Evaluation splits (:data:`EVAL_SPLITS`) carry paraphrased and perturbed answers. TOFU publishes them for the
  forget splits up to 10 %; every larger forget split is evaluated on ``forget10_perturbed``, a subset of it
  (forget splits are suffixes of ``full``).
* Holdout splits (:data:`HOLDOUT_SPLITS`): authors of the same kind the model never saw, as many as in
  ``forget01/05/10``.

Every function validates its argument and raises ``ValueError`` naming it and the allowed values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import TypeVar

__all__ = [
    "AUTHORS",
    "QUESTIONS_PER_AUTHOR",
    "FORGET_SPLITS",
    "FORGET_PERCENTS",
    "RETAIN_SPLITS",
    "EVAL_SPLITS",
    "GENERAL_SPLITS",
    "HOLDOUT_SPLITS",
    "SPLITS",
    "check_split",
    "forget_percent",
    "retain_percent",
    "n_split_authors",
    "retain_split_for",
    "eval_split_for",
    "holdout_split_for",
    "cut_split",
]

AUTHORS = 200
QUESTIONS_PER_AUTHOR = 20

FORGET_PERCENTS: dict[str, int] = {
    "forget01": 1,
    "forget05": 5,
    "forget10": 10,
    "forget20": 20,
    "forget30": 30,
    "forget50": 50,
    "forget90": 90,
}
FORGET_SPLITS: tuple[str, ...] = tuple(FORGET_PERCENTS)
RETAIN_SPLITS: tuple[str, ...] = tuple(f"retain{100 - p:02d}" for p in FORGET_PERCENTS.values())
EVAL_SPLITS: tuple[str, ...] = (
    "forget01_perturbed",
    "forget05_perturbed",
    "forget10_perturbed",
    "retain_perturbed",
    "real_authors_perturbed",
    "world_facts_perturbed",
)
GENERAL_SPLITS: tuple[str, ...] = ("real_authors_perturbed", "world_facts_perturbed")
HOLDOUT_SPLITS: tuple[str, ...] = ("holdout01", "holdout05", "holdout10")
# the files of a TOFU source, in the order of the dataset card (holdout splits are optional; see check_split)
SPLITS: tuple[str, ...] = (
    ("full",)
    + FORGET_SPLITS
    + RETAIN_SPLITS
    + EVAL_SPLITS[:4]
    + ("real_authors", "real_authors_perturbed", "world_facts", "world_facts_perturbed")
)

_Row = TypeVar("_Row")


def check_split(split: str) -> str:
    """``split`` unchanged if it names a TOFU split (:data:`SPLITS` or :data:`HOLDOUT_SPLITS`), else ValueError."""
    if not isinstance(split, str) or split not in SPLITS + HOLDOUT_SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS + HOLDOUT_SPLITS)}; got {split!r}")
    return split


def forget_percent(forget_split: str) -> int:
    """The percentage of authors a forget split removes: ``forget10`` → 10."""
    if not isinstance(forget_split, str) or forget_split not in FORGET_PERCENTS:
        raise ValueError(f"forget_split must be one of {', '.join(FORGET_SPLITS)}; got {forget_split!r}")
    return FORGET_PERCENTS[forget_split]


def retain_percent(retain_split: str) -> int:
    """The percentage of authors a retain split keeps: ``retain90`` → 90."""
    if not isinstance(retain_split, str) or retain_split not in RETAIN_SPLITS:
        raise ValueError(f"retain_split must be one of {', '.join(RETAIN_SPLITS)}; got {retain_split!r}")
    return int(retain_split[len("retain") :])


def n_split_authors(n_authors: int, percent: float) -> int:
    """Authors in a split of ``percent`` % of ``n_authors``: ``max(1, ⌊n·p/100 + ½⌋)`` (round half up, ≥ 1).

    TOFU counts whole authors: with 200 authors, 1 % is 2 authors. Half rounds **up** (20 authors, 5 % → 1;
    30 authors, 5 % → 2), never to 0 (a split has at least one author). Integer arguments are computed exactly.
    """
    if isinstance(n_authors, bool) or not isinstance(n_authors, int) or n_authors < 1:
        raise ValueError(f"n_authors must be a positive integer; got {n_authors!r}")
    if isinstance(percent, bool) or not isinstance(percent, Real) or not 0 < percent <= 100:
        raise ValueError(f"percent must be a number in (0, 100]; got {percent!r}")
    if isinstance(percent, int):
        k = (n_authors * percent + 50) // 100
    else:
        k = math.floor(n_authors * float(percent) / 100 + 0.5)
    return max(1, int(k))


def retain_split_for(forget_split: str) -> str:
    """The complementary retain split: ``forget10`` → ``retain90`` (``forgetXX`` + ``retain(100-XX)`` = full)."""
    return f"retain{100 - forget_percent(forget_split):02d}"


def eval_split_for(forget_split: str) -> str:
    """The evaluation split (paraphrased + perturbed answers) of a forget split.

    ``forget01`` → ``forget01_perturbed``, ``forget05`` → ``forget05_perturbed``; ``forget10`` and every larger
    forget split → ``forget10_perturbed`` (TOFU publishes perturbed answers only up to 10 %; the last 10 % of the
    authors are part of every larger forget split).
    """
    pct = forget_percent(forget_split)
    return f"{forget_split}_perturbed" if pct <= 10 else "forget10_perturbed"


def holdout_split_for(forget_split: str) -> str:
    """The holdout split with as many (unseen) authors as a forget split: ``forget05`` → ``holdout05``.

    Only ``forget01``, ``forget05`` and ``forget10`` have one (TOFU publishes no larger holdout set).
    """
    pct = forget_percent(forget_split)
    if pct > 10:
        raise ValueError(
            f"forget_split={forget_split!r} has no holdout split of the same size; "
            "use one of forget01, forget05, forget10"
        )
    return f"holdout{pct:02d}"


def cut_split(split: str, full_rows: Sequence[_Row]) -> list[_Row]:
    """A forget or retain split cut from the rows of ``full``: ``forgetXX`` the last authors, ``retainXX`` the first.

    ``full_rows`` holds :data:`QUESTIONS_PER_AUTHOR` consecutive rows per author; the split has
    ``n_split_authors(n_authors, XX)`` authors (a retain split is the complement of its forget split).
    """
    if not isinstance(split, str) or split not in FORGET_SPLITS + RETAIN_SPLITS:
        raise ValueError(f"split must be one of {', '.join(FORGET_SPLITS + RETAIN_SPLITS)}; got {split!r}")
    n_rows = len(full_rows)
    if n_rows == 0 or n_rows % QUESTIONS_PER_AUTHOR:
        raise ValueError(
            f"full_rows must hold {QUESTIONS_PER_AUTHOR} rows per author (a positive multiple of "
            f"{QUESTIONS_PER_AUTHOR}); got {n_rows} rows"
        )
    n_authors = n_rows // QUESTIONS_PER_AUTHOR
    forget = split if split in FORGET_PERCENTS else f"forget{100 - retain_percent(split):02d}"
    k = n_split_authors(n_authors, forget_percent(forget)) * QUESTIONS_PER_AUTHOR
    return list(full_rows[n_rows - k :]) if split == forget else list(full_rows[: n_rows - k])
