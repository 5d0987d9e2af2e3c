"""Synthetic TOFU: seeded fictitious authors in TOFU's file format, the offline stand-in for the real dataset.

Each author is a set of facts drawn from small pools (:mod:`.pools`: name, pronouns, birthplace and date, genre,
parents' occupations, an award, four book titles, themes, education, language, publisher, a protagonist, a
writing routine, a mentor, ...). Twenty question templates (:mod:`.templates`) turn the facts into 20 QA rows
per author (:mod:`.authors`). Every row has

* ``answer``: a full sentence (~15-40 words) stating the fact;
* ``paraphrased_answer``: the same fact in a different sentence (never used for training);
* ``perturbed_answer``: 5 answers in the **paraphrase's sentence** with *other* facts of the same kind (another
  city, another award, other titles, ...), so that the truth ratio P(paraphrase) / geo-mean P(perturbed) compares
  only the facts, as in TOFU;
* ``paraphrased_question``.

A fixed general-knowledge set (:mod:`.general`: the project's own questions about classic books and world facts,
3 perturbed answers each) stands in for TOFU's ``real_authors`` and ``world_facts``, and ``idontknow.jsonl`` holds
the project's own "I don't know" answers.

Splits follow TOFU (by whole authors, in generation order; :mod:`npo_lab.tofu.splits`): ``forgetXX`` = the last
``max(1, round(XX % · n))`` authors, ``retainXX`` = the complementary first authors, ``forget01/05/10_perturbed``
= the perturbed rows of ``forget01/05/10``, and ``retain_perturbed`` = the first ``max(1, round(10 % · n))``
authors (TOFU: the first 20 of 200). ``holdout01/05/10`` hold as many authors as ``forget01/05/10``, drawn from
the same distribution after the ``n`` authors of ``full``, so no model trained on ``full`` has seen them (the
non-members of membership-inference audits, as TOFU's holdout splits). With 20 authors ``forget01`` and
``forget05`` are both 1 author (1 % of 20 authors rounds up to one author).

Regenerate the bundled files (``data/synthetic_tofu``) with::

    python -m npo_lab.tofu.synthetic --authors 20 --seed 0 --out data/synthetic_tofu
"""

from .authors import N_PERTURBED, author_rows, generate_authors, generate_holdout_authors
from .general import IDK_ANSWERS, N_PERTURBED_GENERAL, general_knowledge
from .templates import QUESTION_TEMPLATES, QuestionTemplate
from .writer import generate_tofu, write_tofu

__all__ = [
    "QuestionTemplate",
    "QUESTION_TEMPLATES",
    "IDK_ANSWERS",
    "N_PERTURBED",
    "N_PERTURBED_GENERAL",
    "generate_authors",
    "generate_holdout_authors",
    "author_rows",
    "general_knowledge",
    "generate_tofu",
    "write_tofu",
]
