"""Synthetic authors: facts drawn from the pools, and the 20 QA rows of an author in TOFU's perturbed-row schema."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from itertools import islice

from ..splits import n_split_authors
from .pools import (
    AWARDS,
    CHARACTER_ROLES,
    CITIES,
    FIRST_NAMES,
    GENRES,
    LANGUAGES,
    LAST_NAMES,
    MONTHS,
    NUMBER_WORDS,
    OCCUPATIONS,
    PRONOUNS,
    PUBLISHERS,
    ROUTINES,
    SUBJECTS,
    THEMES,
    TITLE_ADJ,
    TITLE_NOUN,
    TITLE_PATTERNS,
    UNIVERSITIES,
)
from .templates import QUESTION_TEMPLATES

N_PERTURBED = 5  # perturbed answers per author row (TOFU: 5)
HOLDOUT_PERCENT = 10  # holdout authors: as many as the largest holdout split (TOFU's holdout10)


# fact samplers (each returns a dict of the fact keys it sets; perturbed answers re-draw the template's slots)
def _person_name(rng: random.Random, gender: str | None = None) -> str:
    g = gender or rng.choice(sorted(FIRST_NAMES))
    return f"{rng.choice(FIRST_NAMES[g])} {rng.choice(LAST_NAMES)}"


def _title(rng: random.Random) -> str:
    pattern = rng.choice(TITLE_PATTERNS)
    n, m = rng.sample(TITLE_NOUN, 2)
    return pattern.format(A=rng.choice(TITLE_ADJ), N=n, M=m)


def _date(rng: random.Random) -> tuple[str, int]:
    year = rng.randint(1938, 1992)
    return f"{rng.randint(1, 28)} {rng.choice(MONTHS)} {year}", year


def _birthplace(rng):
    city, country, _ = rng.choice(CITIES)
    return {"city": city, "country": country}


def _home(rng):
    city, country, _ = rng.choice(CITIES)
    return {"home_city": f"{city}, {country}"}


SLOT_SAMPLERS: dict[str, Callable[[random.Random], dict]] = {
    "name": lambda rng: {"name": _person_name(rng)},
    "birthplace": _birthplace,
    "date": lambda rng: {"date": _date(rng)[0]},
    "genre": lambda rng: {"genre": rng.choice(GENRES)},
    "father_job": lambda rng: {"father_job": rng.choice(OCCUPATIONS)},
    "mother_job": lambda rng: {"mother_job": rng.choice(OCCUPATIONS)},
    "award": lambda rng: {"award": rng.choice(AWARDS)},
    "award_year": lambda rng: {"award_year": str(rng.randint(1975, 2023))},
    "book1": lambda rng: {"book1": _title(rng)},
    "book2": lambda rng: {"book2": _title(rng)},
    "book3": lambda rng: {"book3": _title(rng)},
    "book4": lambda rng: {"book4": _title(rng)},
    "debut_year": lambda rng: {"debut_year": str(rng.randint(1960, 2015))},
    "theme1": lambda rng: {"theme1": rng.choice(THEMES)},
    "theme2": lambda rng: {"theme2": rng.choice(THEMES)},
    "university": lambda rng: {"university": rng.choice(UNIVERSITIES)},
    "subject": lambda rng: {"subject": rng.choice(SUBJECTS)},
    "language": lambda rng: {"language": rng.choice(LANGUAGES)},
    "publisher": lambda rng: {"publisher": rng.choice(PUBLISHERS)},
    "hero": lambda rng: {"hero": _person_name(rng)},
    "hero_role": lambda rng: {"hero_role": rng.choice(CHARACTER_ROLES)},
    "routine": lambda rng: {"routine": rng.choice(ROUTINES)},
    "n_books": lambda rng: {"n_books": NUMBER_WORDS[rng.randint(3, 20)]},
    "home_city": _home,
    "mentor": lambda rng: {"mentor": _person_name(rng)},
}


SLOT_KEY = {"birthplace": "city"}  # the fact that must change when a slot is re-drawn (default: the slot itself)


# authors and their rows
def _check_n_authors(n_authors: int) -> int:
    if isinstance(n_authors, bool) or not isinstance(n_authors, int) or not 10 <= n_authors <= 1000:
        raise ValueError(f"n_authors must be an integer between 10 and 1000, got {n_authors!r}")
    return n_authors


def _draw_author(rng: random.Random, names: set[str], titles: set[str]) -> dict:
    """One author; its name and book titles are added to ``names`` / ``titles`` and differ from those already in."""
    gender = rng.choice(["he", "he", "she", "she", "they"])
    name = _person_name(rng, gender)
    while name in names:
        name = _person_name(rng, gender)
    names.add(name)
    city, country, language = rng.choice(CITIES)
    date, year = _date(rng)
    books = []
    while len(books) < 4:
        t = _title(rng)
        if t not in titles:
            titles.add(t)
            books.append(t)
    father_job, mother_job = rng.sample(OCCUPATIONS, 2)
    theme1, theme2 = rng.sample(THEMES, 2)
    debut = year + rng.randint(21, 34)
    award_year = min(debut + rng.randint(3, 15), 2023)
    hero = _person_name(rng)
    home_city, home_country, _ = rng.choice(CITIES)
    pron, poss, obj = PRONOUNS[gender]
    return {
        "name": name,
        "gender": gender,
        "pron": pron,
        "poss": poss,
        "obj": obj,
        "city": city,
        "country": country,
        "language": language,
        "date": date,
        "birth_year": year,
        "genre": rng.choice(GENRES),
        "father_job": father_job,
        "mother_job": mother_job,
        "award": rng.choice(AWARDS),
        "award_year": str(award_year),
        "book1": books[0],
        "book2": books[1],
        "book3": books[2],
        "book4": books[3],
        "debut_year": str(debut),
        "theme1": theme1,
        "theme2": theme2,
        "university": rng.choice(UNIVERSITIES),
        "subject": rng.choice(SUBJECTS),
        "publisher": rng.choice(PUBLISHERS),
        "hero": hero,
        "hero_role": rng.choice(CHARACTER_ROLES),
        "routine": rng.choice(ROUTINES),
        "n_books": NUMBER_WORDS[rng.randint(4, 18)],
        "home_city": f"{home_city}, {home_country}",
        "mentor": _person_name(rng),
    }


def _author_stream(seed: int) -> Iterator[dict]:
    """The endless, seeded sequence of authors with pairwise distinct names and book titles."""
    rng = random.Random(f"npo_lab-synthetic-authors-{seed}")
    names: set[str] = set()
    titles: set[str] = set()
    while True:
        yield _draw_author(rng, names, titles)


def generate_authors(n_authors: int, seed: int = 0) -> list[dict]:
    """The first ``n_authors`` (10..1000) authors of the seeded sequence: distinct names, distinct book titles.

    Returns a list of fact dicts (the keys used by :data:`QUESTION_TEMPLATES`, plus ``gender``, ``pron``,
    ``poss``, ``obj`` and ``birth_year``).
    """
    return list(islice(_author_stream(seed), _check_n_authors(n_authors)))


def generate_holdout_authors(n_authors: int, seed: int = 0) -> list[dict]:
    """The holdout authors of a set of ``n_authors``: the next ``n_split_authors(n_authors, 10)`` authors of the
    same seeded sequence, after the first ``n_authors`` (same distribution; names and titles differ from theirs).

    They mirror TOFU's ``holdout10`` (as many authors as ``forget10``) and are never part of ``full``.
    """
    n = _check_n_authors(n_authors)
    return list(islice(_author_stream(seed), n, n + n_split_authors(n, HOLDOUT_PERCENT)))


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _fmt(template: str, facts: dict) -> str:
    return _cap(template.format(**facts))


def author_rows(author: dict, rng: random.Random, n_perturbed: int = N_PERTURBED) -> list[dict]:
    """The 20 QA rows of one author in TOFU's perturbed-row schema (``question, answer, paraphrased_answer,
    perturbed_answer, paraphrased_question``). Perturbed answers are distinct, and differ from the paraphrase."""
    rows = []
    for tpl in QUESTION_TEMPLATES:
        para = _fmt(tpl.paraphrased_answer, author)
        perturbed: list[str] = []
        tries = 0
        while len(perturbed) < n_perturbed:
            tries += 1
            if tries > 1000:
                raise RuntimeError(f"could not draw {n_perturbed} distinct perturbed answers for {tpl.key!r}")
            facts = dict(author)
            for slot in tpl.slots:
                facts.update(SLOT_SAMPLERS[slot](rng))
            if any(facts[SLOT_KEY.get(slot, slot)] == author[SLOT_KEY.get(slot, slot)] for slot in tpl.slots):
                continue  # every replaced fact must differ from the true one
            text = _fmt(tpl.paraphrased_answer, facts)
            if text != para and text not in perturbed:
                perturbed.append(text)
        rows.append(
            {
                "question": _fmt(tpl.question, author),
                "answer": _fmt(tpl.answer, author),
                "paraphrased_answer": para,
                "perturbed_answer": perturbed,
                "paraphrased_question": _fmt(tpl.paraphrased_question, author),
            }
        )
    return rows
