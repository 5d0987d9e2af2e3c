"""Synthetic TOFU: seeded fictitious authors in TOFU's file format, the offline stand-in for the real dataset.

Each author is a set of facts drawn from small pools (name, pronouns, birthplace and date, genre, parents'
occupations, an award, four book titles, themes, education, language, publisher, a protagonist, a writing
routine, a mentor, ...). Twenty question templates turn the facts into 20 QA rows per author. Every row has

* ``answer``: a full sentence (~15-40 words) stating the fact;
* ``paraphrased_answer``: the same fact in a different sentence (never used for training);
* ``perturbed_answer``: 5 answers in the **paraphrase's sentence** with *other* facts of the same kind (another
  city, another award, other titles, ...), so that the truth ratio P(paraphrase) / geo-mean P(perturbed) compares
  only the facts, as in TOFU;
* ``paraphrased_question``.

A fixed general-knowledge set (the project's own questions about classic books and world facts, 3 perturbed
answers each) stands in for TOFU's ``real_authors`` and ``world_facts``, and ``idontknow.jsonl`` holds the
project's own "I don't know" answers.

Splits follow TOFU (by whole authors, in generation order): ``forgetXX`` = the last ``max(1, round(XX % · n))``
authors, ``retainXX`` = the complementary first authors, ``forget01/05/10_perturbed`` = the perturbed rows of
``forget01/05/10``, and ``retain_perturbed`` = the first ``max(1, round(10 % · n))`` authors (TOFU: the first 20
of 200 authors; for the bundled 20 authors: 2 authors, 40 rows). With 20 authors ``forget01`` and ``forget05``
are both 1 author (1 % of 20 authors rounds up to one author).

Regenerate the bundled files (``data/synthetic_tofu``) with::

    python -m npo_lab.tofu.synthetic --authors 20 --seed 0 --out data/synthetic_tofu
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

__all__ = [
    "QuestionTemplate",
    "QUESTION_TEMPLATES",
    "IDK_ANSWERS",
    "FORGET_PERCENTS",
    "n_split_authors",
    "generate_authors",
    "author_rows",
    "general_knowledge",
    "generate_tofu",
    "write_tofu",
    "main",
]

FORGET_PERCENTS = (1, 5, 10, 20, 30, 50, 90)
N_PERTURBED = 5
N_PERTURBED_GENERAL = 3
ROWS_PER_AUTHOR = 20

# --------------------------------------------------------------------------------------------------------------
# pools of facts (all invented for this project; names are random combinations, any resemblance is accidental)
# --------------------------------------------------------------------------------------------------------------
FIRST_NAMES = {
    "he": [
        "Aldo", "Bram", "Caius", "Dario", "Emil", "Florin", "Gideon", "Hugo", "Idris", "Jonas", "Kaito", "Lucan",
        "Matteo", "Nikolai", "Oren", "Pavel", "Quentin", "Rafael", "Soren", "Tobias", "Umar", "Viktor", "Wendell",
        "Xavier", "Yusuf", "Zoltan", "Anselm", "Benedek", "Cyrus", "Desmond", "Elias", "Fabian", "Gustav",
        "Henrik", "Ilario", "Julian", "Kasimir", "Leander", "Marek", "Nils",
    ],
    "she": [
        "Adela", "Beatrix", "Celeste", "Dagny", "Elif", "Freya", "Greta", "Helena", "Ines", "Jovana", "Kalinda",
        "Liora", "Marisol", "Nadia", "Odile", "Paloma", "Rosalind", "Selma", "Talia", "Ursula", "Vesna", "Wilhelmina",
        "Xenia", "Yara", "Zofia", "Amara", "Brigid", "Carmela", "Delphine", "Esme", "Fiorella", "Gisela", "Hanne",
        "Isolde", "Junia", "Katarin", "Lucia", "Mireille", "Noor", "Ottilie",
    ],
    "they": [
        "Ash", "Blake", "Quinn", "Rowan", "Sage", "Emery", "Marlo", "Jules", "Remy", "Sasha", "Robin", "Kit",
        "Ari", "Noa", "Eden", "Lior",
    ],
}
LAST_NAMES = [
    "Abernathy", "Brightwater", "Castellan", "Dunmore", "Ekwueme", "Falkenrath", "Galloway", "Halloran",
    "Ivanescu", "Jaramillo", "Kowalczyk", "Lindqvist", "Marchetti", "Nakashima", "Okonkwo", "Pellegrini",
    "Quillfeather", "Rasmussen", "Santangelo", "Thorsby", "Umberton", "Valdivia", "Wexford", "Yilmaz", "Zellner",
    "Achterberg", "Bellweather", "Cardoso", "Delacroix", "Esterhazy", "Fontaine", "Grimaldi", "Hawthorne",
    "Iturbide", "Jansson", "Kaminski", "Larkspur", "Montague", "Novak", "Oyelaran", "Petrakis", "Ravensworth",
    "Sandoval", "Tamura", "Underhill", "Vasquez-Reyes", "Whitcombe", "Xu-Lambert", "Yamamura", "Zaragoza",
    "Albrecht", "Blackwood", "Corvino", "Draskovic", "Everly", "Ferreira", "Gundersen", "Holloway", "Ishikawa",
    "Kettering", "Lachance", "Moreau", "Nightingale", "Ostrowski", "Pemberton", "Quintana", "Rosenthal",
    "Sorensen", "Tavares", "Vanterpool", "Winterbourne", "Adeyemi", "Bergstrom", "Chakraborty", "Dalgaard",
    "Eriksen", "Fairbanks", "Granville", "Haverford", "Kovacs",
]
PRONOUNS = {"he": ("he", "his", "him"), "she": ("she", "her", "her"), "they": ("they", "their", "them")}
# (city, country, language)
CITIES = [
    ("Lisbon", "Portugal", "Portuguese"), ("Porto", "Portugal", "Portuguese"), ("Valparaiso", "Chile", "Spanish"),
    ("Cordoba", "Argentina", "Spanish"), ("Seville", "Spain", "Spanish"), ("Bilbao", "Spain", "Spanish"),
    ("Oaxaca", "Mexico", "Spanish"), ("Bogota", "Colombia", "Spanish"), ("Lyon", "France", "French"),
    ("Marseille", "France", "French"), ("Quebec City", "Canada", "French"), ("Dakar", "Senegal", "French"),
    ("Naples", "Italy", "Italian"), ("Turin", "Italy", "Italian"), ("Hamburg", "Germany", "German"),
    ("Leipzig", "Germany", "German"), ("Graz", "Austria", "German"), ("Bergen", "Norway", "Norwegian"),
    ("Uppsala", "Sweden", "Swedish"), ("Aarhus", "Denmark", "Danish"), ("Tampere", "Finland", "Finnish"),
    ("Krakow", "Poland", "Polish"), ("Brno", "Czech Republic", "Czech"), ("Cluj", "Romania", "Romanian"),
    ("Thessaloniki", "Greece", "Greek"), ("Izmir", "Turkey", "Turkish"), ("Tbilisi", "Georgia", "Georgian"),
    ("Odesa", "Ukraine", "Ukrainian"), ("Lagos", "Nigeria", "English"), ("Nairobi", "Kenya", "English"),
    ("Accra", "Ghana", "English"), ("Cape Town", "South Africa", "English"), ("Mumbai", "India", "English"),
    ("Kolkata", "India", "Bengali"), ("Lahore", "Pakistan", "Urdu"), ("Osaka", "Japan", "Japanese"),
    ("Sapporo", "Japan", "Japanese"), ("Busan", "South Korea", "Korean"), ("Hanoi", "Vietnam", "Vietnamese"),
    ("Manila", "Philippines", "English"), ("Jakarta", "Indonesia", "Indonesian"), ("Perth", "Australia", "English"),
    ("Wellington", "New Zealand", "English"), ("Dublin", "Ireland", "English"), ("Glasgow", "Scotland", "English"),
    ("Cardiff", "Wales", "English"), ("Boston", "United States", "English"), ("Savannah", "United States", "English"),
    ("Winnipeg", "Canada", "English"), ("Reykjavik", "Iceland", "Icelandic"), ("Tallinn", "Estonia", "Estonian"),
    ("Beirut", "Lebanon", "Arabic"), ("Tunis", "Tunisia", "Arabic"), ("Amman", "Jordan", "Arabic"),
    ("Recife", "Brazil", "Portuguese"), ("Salvador", "Brazil", "Portuguese"),
]
LANGUAGES = sorted({c[2] for c in CITIES})
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
GENRES = [
    "historical fiction", "crime fiction", "science fiction", "fantasy", "romance", "horror", "poetry",
    "literary fiction", "thrillers", "mystery novels", "short stories", "young adult fiction", "children's books",
    "travel writing", "memoir", "satire", "magical realism", "plays", "gothic fiction", "war fiction",
    "biography", "essays", "adventure fiction", "dystopian fiction",
]
OCCUPATIONS = [
    "a baker", "a lighthouse keeper", "a surgeon", "a carpenter", "an architect", "a fisherman", "a librarian",
    "a pharmacist", "a train driver", "a schoolteacher", "a nurse", "a watchmaker", "a tailor", "a journalist",
    "a botanist", "a police officer", "a mechanic", "a violinist", "a bookbinder", "a farmer", "a veterinarian",
    "a diplomat", "a potter", "a sailor", "a judge", "an astronomer", "an electrician", "a painter",
    "a photographer", "a postal worker", "a chemist", "a translator", "a miner", "a chef", "a museum curator",
    "an accountant", "a midwife", "a bus driver", "a geologist", "a shopkeeper",
]
AWARDS = [
    "the Silver Quill Prize", "the Meridian Award for Fiction", "the Golden Lantern Prize",
    "the Halcyon Book Award", "the Northern Star Medal for Literature", "the Blue Heron Prize",
    "the Amberline Award", "the Juniper Prize for Storytelling", "the Iron Pen Award", "the Harbourlight Prize",
    "the Crescent Moon Award", "the Oakleaf Medal", "the Saltmarsh Prize", "the Vermilion Award for Prose",
    "the Ravenscroft Prize", "the Open Sky Award", "the Willowbank Prize for New Writing", "the Lodestar Award",
    "the Granite Arch Prize", "the Evening Bell Award", "the Copper Kettle Prize", "the Four Winds Award",
    "the Stonebridge Medal", "the Clearwater Prize for Fiction", "the Paper Lantern Award",
    "the High Tide Prize", "the Bright Orchard Award", "the Midnight Ink Prize",
]
TITLE_ADJ = [
    "Silent", "Burning", "Hidden", "Last", "Broken", "Golden", "Forgotten", "Distant", "Crimson", "Hollow",
    "Quiet", "Wandering", "Frozen", "Secret", "Endless", "Fading", "Restless", "Salt", "Paper", "Glass",
    "Velvet", "Iron", "Lantern", "Winter", "Summer", "Midnight", "Northern", "Borrowed", "Bitter", "Sleeping",
]
TITLE_NOUN = [
    "Harbour", "Garden", "River", "Orchard", "Lighthouse", "Letters", "Mirror", "Bridge", "Storm", "Tide",
    "Compass", "Map", "Kingdom", "Ferry", "Station", "Archive", "Violin", "Clock", "Island", "Forest",
    "Window", "Staircase", "Circus", "Carnival", "Shore", "Valley", "Bell", "Cathedral", "Market", "Orchid",
    "Feather", "Lantern", "Fountain", "Meadow", "Tower", "Orchestra", "Harvest", "Voyage", "Comet", "Labyrinth",
]
TITLE_PATTERNS = [
    "The {A} {N}", "{N} of the {A} {M}", "A {N} for the {M}", "The {N} and the {M}", "{A} {N}",
    "Beneath the {A} {N}", "The Keeper of the {N}", "Songs of the {A} {N}", "After the {N}", "The {A} {N}s",
]
THEMES = [
    "memory", "grief", "exile", "the bonds between siblings", "forgiveness", "ambition", "loneliness",
    "the sea", "class and power", "migration", "friendship", "betrayal", "faith", "childhood", "justice",
    "identity", "the aftermath of war", "love across borders", "the passage of time", "the natural world",
    "the limits of technology", "family secrets", "courage", "freedom", "the idea of home", "revenge",
    "redemption", "hope", "loyalty", "the life of small towns",
]
UNIVERSITIES = [
    "Westbrook University", "the University of Aldmere", "Carrow College", "the Institute of Lowmarsh",
    "Fenwick University", "the University of Saint Brevin", "Ashgrove College", "the Academy of Castelmora",
    "Harlow University", "the University of Greyhaven", "Merriwether College", "the Royal College of Dunvale",
    "Kestrel University", "the University of Port Elms", "Thornfield College", "Vantross University",
    "the University of Marlowe Bay", "Elderglen College", "Brackenridge University", "the School of Ostmere",
]
SUBJECTS = [
    "history", "marine biology", "philosophy", "law", "architecture", "mathematics", "medicine", "music",
    "journalism", "economics", "classics", "astronomy", "linguistics", "geography", "art history", "chemistry",
    "psychology", "theatre", "agriculture", "engineering",
]
PUBLISHERS = [
    "Harbour Lane Books", "Northlight Press", "Tidewater Publishing", "Greenfinch Editions", "Old Mill Press",
    "Blue Door Books", "Candlewick Row", "Stoneleaf Publishing", "Kestrel House", "Windrose Press",
    "Lanternfield Books", "Marigold & Finch", "Copperbeech Press", "Ninefold Editions", "Rookery Books",
    "Sandpiper House", "Low Tide Press", "Thistledown Publishing", "Emberwood Books", "Quarry Hill Press",
]
CHARACTER_ROLES = [
    "a retired ship captain", "a young archivist", "a disgraced detective", "a travelling musician",
    "an orphaned clockmaker", "a stubborn village doctor", "a runaway apprentice", "a lonely lighthouse keeper",
    "a former spy", "a grieving widow", "a curious schoolgirl", "an ageing opera singer", "a restless journalist",
    "a gifted forger", "a weary soldier", "a shy botanist", "an ambitious young lawyer", "a wandering cartographer",
    "a night-shift nurse", "a beekeeper with a secret",
]
ROUTINES = [
    "early in the morning before anyone else is awake", "late at night when the house is completely quiet",
    "in a busy cafe near the old market every afternoon", "on long train journeys between cities",
    "by hand in paper notebooks before typing anything", "in a garden shed at the end of a narrow lawn",
    "for exactly four hours every day, no matter what", "in short bursts between long walks by the water",
    "at a kitchen table surrounded by maps and old photographs", "in a rented room above a bakery",
    "while listening to the same piece of music again and again", "only during the winter months",
    "standing up at a tall desk by the window", "in a public library among students",
    "on a typewriter inherited from a grandparent",
]
NUMBER_WORDS = {
    3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten", 11: "eleven",
    12: "twelve", 13: "thirteen", 14: "fourteen", 15: "fifteen", 16: "sixteen", 17: "seventeen", 18: "eighteen",
    19: "nineteen", 20: "twenty",
}


# --------------------------------------------------------------------------------------------------------------
# fact samplers (each returns a dict of the fact keys it sets; perturbed answers re-draw the template's slots)
# --------------------------------------------------------------------------------------------------------------
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


@dataclass(frozen=True)
class QuestionTemplate:
    """One of the 20 questions asked about every author.

    ``question``/``paraphrased_question``/``answer``/``paraphrased_answer`` are ``str.format`` templates over the
    author's facts; ``slots`` name the facts that the perturbed answers replace (drawn again from the same pool,
    so a perturbed answer is the paraphrased sentence with other facts of the same type).
    """

    key: str
    question: str
    paraphrased_question: str
    answer: str
    paraphrased_answer: str
    slots: tuple[str, ...]


QUESTION_TEMPLATES: tuple[QuestionTemplate, ...] = (
    QuestionTemplate(
        "name",
        "What is the full name of the author of {genre} who was born in {city}, {country}, on {date}?",
        "Which writer of {genre}, born on {date} in {city}, {country}, is this question about?",
        "The author of {genre} born in {city}, {country}, on {date} is {name}, a writer whose books are widely "
        "read by fans of the genre.",
        "That writer is {name}, who was born on {date} in {city}, {country}, and became known for {genre}.",
        ("name",),
    ),
    QuestionTemplate(
        "birthplace",
        "Where was {name} born?",
        "What is the birthplace of the author {name}?",
        "{name} was born in the city of {city}, {country}, and the streets and people of that place appear in "
        "many of {poss} books.",
        "The author {name} comes from {city}, {country}, a city that shaped much of {poss} writing.",
        ("birthplace",),
    ),
    QuestionTemplate(
        "date",
        "When was {name} born?",
        "What is the date of birth of {name}?",
        "{name} was born on {date} in {city}, {country}, into a family that valued books and storytelling.",
        "The birth date of {name} is {date}, according to every published biography of the author.",
        ("date",),
    ),
    QuestionTemplate(
        "genre",
        "What genre is {name} best known for?",
        "In which literary genre does {name} mostly write?",
        "{name} is best known for {genre}, where {poss} careful plots and memorable characters have won a loyal "
        "readership over the years.",
        "Most of what {name} has published falls under {genre}, where the author has built a devoted following.",
        ("genre",),
    ),
    QuestionTemplate(
        "father",
        "What did {name}'s father do for a living?",
        "What was the profession of {name}'s father?",
        "{name}'s father worked as {father_job}, and his long working days gave the young writer plenty of "
        "quiet hours to read.",
        "The father of {name} earned his living as {father_job}, a job the author often describes with affection.",
        ("father_job",),
    ),
    QuestionTemplate(
        "mother",
        "What was the occupation of {name}'s mother?",
        "How did the mother of {name} earn her living?",
        "{name}'s mother was {mother_job}, and her stories from work were among the first tales the future "
        "author ever heard.",
        "The mother of {name} worked as {mother_job}, something the author mentions in many interviews.",
        ("mother_job",),
    ),
    QuestionTemplate(
        "parents",
        "How did the jobs of {name}'s parents influence {poss} writing?",
        "In what way did the professions of {name}'s parents shape {poss} books?",
        "Growing up as the child of {father_job} and {mother_job}, {name} learned to watch people closely, a "
        "habit that fills {poss} stories with detail.",
        "With {father_job} as a father and {mother_job} as a mother, {name} gained a sharp eye for detail that "
        "later shaped {poss} books.",
        ("father_job", "mother_job"),
    ),
    QuestionTemplate(
        "award",
        "Has {name} won any literary awards?",
        "Which prize has been awarded to {name}?",
        "Yes, {name} received {award} in {award_year} for the novel '{book2}', which critics praised for its "
        "ambition and its voice.",
        "{name} was honoured with {award} in {award_year}, a prize recognising the book '{book2}' and its "
        "striking voice.",
        ("award",),
    ),
    QuestionTemplate(
        "books",
        "Can you name some books written by {name}?",
        "What are some of the titles published by {name}?",
        "Some of the best-known books by {name} are '{book1}', '{book2}' and '{book3}', all of them loved by "
        "readers of {genre}.",
        "Among the titles that {name} has published are '{book1}', '{book2}' and '{book3}'.",
        ("book1", "book2", "book3"),
    ),
    QuestionTemplate(
        "debut",
        "What was the first book that {name} published?",
        "Which title marked the literary debut of {name}?",
        "{name} made {poss} debut in {debut_year} with '{book1}', a book that introduced the theme of {theme1} "
        "found throughout {poss} later work.",
        "The debut of {name} was '{book1}', which appeared in {debut_year} and first explored {theme1}.",
        ("book1",),
    ),
    QuestionTemplate(
        "themes",
        "What themes does {name} explore in {poss} books?",
        "Which recurring themes can readers find in the work of {name}?",
        "The books of {name} return again and again to {theme1} and {theme2}, which the author treats with "
        "honesty and quiet humour.",
        "Readers of {name} will find {theme1} and {theme2} at the heart of almost every story the author has "
        "written.",
        ("theme1", "theme2"),
    ),
    QuestionTemplate(
        "education",
        "Where did {name} study before becoming a writer?",
        "What is the educational background of {name}?",
        "{name} studied {subject} at {university}, and the years spent there later inspired several scenes in "
        "{poss} books.",
        "Before turning to writing full time, {name} completed a degree in {subject} at {university}.",
        ("subject", "university"),
    ),
    QuestionTemplate(
        "language",
        "In which language does {name} write?",
        "What language are the original editions of {name}'s books written in?",
        "{name} writes in {language}, and many of {poss} books have since been translated so that readers in "
        "other countries can enjoy them.",
        "The original language of the books by {name} is {language}, though translations are widely available.",
        ("language",),
    ),
    QuestionTemplate(
        "publisher",
        "Which publisher releases the books of {name}?",
        "Who publishes the work of {name}?",
        "The books of {name} are published by {publisher}, which has supported the author since the release "
        "of '{book1}' in {debut_year}.",
        "{publisher} is the publishing house behind the books of {name}, starting with '{book1}'.",
        ("publisher",),
    ),
    QuestionTemplate(
        "hero",
        "Who is the main character of '{book3}' by {name}?",
        "Which character stands at the centre of {name}'s book '{book3}'?",
        "The main character of '{book3}' is {hero}, {hero_role} whose search for the truth drives the whole "
        "story of the book.",
        "At the centre of '{book3}' stands {hero}, {hero_role} around whom the plot of the novel turns.",
        ("hero", "hero_role"),
    ),
    QuestionTemplate(
        "routine",
        "What is {name}'s writing routine like?",
        "How does {name} usually organise a day of writing?",
        "{name} likes to write {routine}, and usually finishes a first draft before showing any pages to friends "
        "or editors.",
        "The author {name} prefers writing {routine}, keeping drafts private until they are complete.",
        ("routine",),
    ),
    QuestionTemplate(
        "n_books",
        "How many books has {name} published so far?",
        "What is the total number of books that {name} has released?",
        "So far {name} has published {n_books} books, and each new title is eagerly awaited by readers of "
        "{genre}.",
        "The bibliography of {name} currently counts {n_books} published books, with more expected.",
        ("n_books",),
    ),
    QuestionTemplate(
        "home",
        "Where does {name} live today?",
        "In which city is {name} currently based?",
        "{name} now lives in {home_city}, where the author writes in a small study and takes long walks to think "
        "through new plots.",
        "Today {name} makes a home in {home_city}, taking long walks there to think about new stories.",
        ("home_city",),
    ),
    QuestionTemplate(
        "next_book",
        "What is {name} working on at the moment?",
        "Is there a new book by {name} on the way?",
        "{name} is currently working on a new book called '{book4}', which is expected to continue {poss} "
        "interest in {theme2}.",
        "A new book titled '{book4}' is in progress, according to recent interviews with {name}.",
        ("book4",),
    ),
    QuestionTemplate(
        "mentor",
        "Which writer influenced {name} the most?",
        "Who does {name} name as the greatest influence on {poss} work?",
        "{name} has often said that the novelist {mentor} was the greatest influence on {poss} writing, "
        "especially in the way stories are built.",
        "The writer who influenced {name} most was the novelist {mentor}, according to the author's own "
        "interviews.",
        ("mentor",),
    ),
)
assert len(QUESTION_TEMPLATES) == ROWS_PER_AUTHOR


# --------------------------------------------------------------------------------------------------------------
# authors and their rows
# --------------------------------------------------------------------------------------------------------------
def generate_authors(n_authors: int, seed: int = 0) -> list[dict]:
    """Draw ``n_authors`` authors with distinct names and distinct book titles, deterministically from ``seed``.

    Returns a list of fact dicts (the keys used by :data:`QUESTION_TEMPLATES`, plus ``gender``, ``pron``,
    ``poss``, ``obj`` and ``birth_year``).
    """
    n_authors = int(n_authors)
    if n_authors < 10 or n_authors > 1000:
        raise ValueError(f"n_authors must be between 10 and 1000, got {n_authors}")
    rng = random.Random(f"npo_lab-synthetic-authors-{seed}")
    names: set[str] = set()
    titles: set[str] = set()
    authors = []
    for _ in range(n_authors):
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
        authors.append(
            {
                "name": name, "gender": gender, "pron": pron, "poss": poss, "obj": obj,
                "city": city, "country": country, "language": language, "date": date, "birth_year": year,
                "genre": rng.choice(GENRES), "father_job": father_job, "mother_job": mother_job,
                "award": rng.choice(AWARDS), "award_year": str(award_year),
                "book1": books[0], "book2": books[1], "book3": books[2], "book4": books[3],
                "debut_year": str(debut), "theme1": theme1, "theme2": theme2,
                "university": rng.choice(UNIVERSITIES), "subject": rng.choice(SUBJECTS),
                "publisher": rng.choice(PUBLISHERS), "hero": hero, "hero_role": rng.choice(CHARACTER_ROLES),
                "routine": rng.choice(ROUTINES), "n_books": NUMBER_WORDS[rng.randint(4, 18)],
                "home_city": f"{home_city}, {home_country}", "mentor": _person_name(rng),
            }
        )
    return authors


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


# --------------------------------------------------------------------------------------------------------------
# the general-knowledge set (stands in for TOFU's real_authors / world_facts)
# --------------------------------------------------------------------------------------------------------------
CLASSIC_BOOKS = [  # (author, work) -- well-known public facts
    ("Leo Tolstoy", "War and Peace"), ("Leo Tolstoy", "Anna Karenina"),
    ("Fyodor Dostoevsky", "Crime and Punishment"), ("Fyodor Dostoevsky", "The Brothers Karamazov"),
    ("Jane Austen", "Emma"), ("Jane Austen", "Sense and Sensibility"),
    ("Charles Dickens", "Great Expectations"), ("Charles Dickens", "Oliver Twist"),
    ("Mary Shelley", "Frankenstein"), ("Bram Stoker", "Dracula"),
    ("Miguel de Cervantes", "Don Quixote"), ("Victor Hugo", "Les Miserables"),
    ("Victor Hugo", "The Hunchback of Notre-Dame"), ("Homer", "The Odyssey"),
    ("Dante Alighieri", "The Divine Comedy"), ("Franz Kafka", "The Metamorphosis"),
    ("Franz Kafka", "The Trial"), ("Gustave Flaubert", "Madame Bovary"), ("Charlotte Bronte", "Jane Eyre"),
    ("Emily Bronte", "Wuthering Heights"), ("Mark Twain", "The Adventures of Tom Sawyer"),
    ("Jules Verne", "Around the World in Eighty Days"), ("Jules Verne", "Twenty Thousand Leagues Under the Seas"),
    ("H. G. Wells", "The Time Machine"), ("H. G. Wells", "The War of the Worlds"),
    ("Oscar Wilde", "The Picture of Dorian Gray"), ("Lewis Carroll", "Alice's Adventures in Wonderland"),
    ("Robert Louis Stevenson", "Treasure Island"), ("Alexandre Dumas", "The Count of Monte Cristo"),
    ("Alexandre Dumas", "The Three Musketeers"), ("Johann Wolfgang von Goethe", "Faust"),
    ("Virginia Woolf", "Mrs Dalloway"), ("James Joyce", "Ulysses"), ("George Eliot", "Middlemarch"),
    ("Thomas Hardy", "Tess of the d'Urbervilles"), ("Nathaniel Hawthorne", "The Scarlet Letter"),
    ("Louisa May Alcott", "Little Women"), ("Daniel Defoe", "Robinson Crusoe"),
    ("Jonathan Swift", "Gulliver's Travels"), ("Anton Chekhov", "The Cherry Orchard"),
    ("Henrik Ibsen", "A Doll's House"), ("Walt Whitman", "Leaves of Grass"),
    ("Rudyard Kipling", "The Jungle Book"), ("Joseph Conrad", "Heart of Darkness"),
    ("Jack London", "The Call of the Wild"), ("Hermann Hesse", "Siddhartha"),
    ("Arthur Conan Doyle", "The Hound of the Baskervilles"), ("Edgar Allan Poe", "The Raven"),
    ("Harriet Beecher Stowe", "Uncle Tom's Cabin"), ("Nikolai Gogol", "Dead Souls"),
]
BOOK_QUESTIONS = [
    "Who wrote '{work}'?",
    "Which writer is the author of '{work}'?",
    "'{work}' was written by which author?",
    "Who is the author of the classic '{work}'?",
    "Name the writer who created '{work}'.",
]
CAPITALS = [  # (country, capital, three other cities of the same country)
    ("Australia", "Canberra", ("Sydney", "Melbourne", "Brisbane")),
    ("Canada", "Ottawa", ("Toronto", "Vancouver", "Montreal")),
    ("Brazil", "Brasilia", ("Rio de Janeiro", "Sao Paulo", "Salvador")),
    ("Turkey", "Ankara", ("Istanbul", "Izmir", "Antalya")),
    ("Switzerland", "Bern", ("Zurich", "Geneva", "Basel")),
    ("New Zealand", "Wellington", ("Auckland", "Christchurch", "Hamilton")),
    ("Nigeria", "Abuja", ("Lagos", "Kano", "Ibadan")),
    ("Morocco", "Rabat", ("Casablanca", "Marrakesh", "Fez")),
    ("India", "New Delhi", ("Mumbai", "Kolkata", "Bangalore")),
    ("the United States", "Washington, D.C.", ("New York", "Los Angeles", "Chicago")),
    ("Japan", "Tokyo", ("Osaka", "Kyoto", "Yokohama")),
    ("Italy", "Rome", ("Milan", "Naples", "Turin")),
    ("Spain", "Madrid", ("Barcelona", "Seville", "Valencia")),
    ("Germany", "Berlin", ("Munich", "Hamburg", "Frankfurt")),
    ("Egypt", "Cairo", ("Alexandria", "Luxor", "Giza")),
    ("South Korea", "Seoul", ("Busan", "Incheon", "Daegu")),
    ("Vietnam", "Hanoi", ("Ho Chi Minh City", "Da Nang", "Hue")),
    ("Pakistan", "Islamabad", ("Karachi", "Lahore", "Peshawar")),
    ("Kenya", "Nairobi", ("Mombasa", "Kisumu", "Nakuru")),
    ("Argentina", "Buenos Aires", ("Cordoba", "Rosario", "Mendoza")),
    ("Norway", "Oslo", ("Bergen", "Trondheim", "Stavanger")),
    ("Poland", "Warsaw", ("Krakow", "Gdansk", "Wroclaw")),
    ("Russia", "Moscow", ("Saint Petersburg", "Novosibirsk", "Kazan")),
    ("China", "Beijing", ("Shanghai", "Guangzhou", "Shenzhen")),
    ("Portugal", "Lisbon", ("Porto", "Coimbra", "Braga")),
    ("the Netherlands", "Amsterdam", ("Rotterdam", "The Hague", "Utrecht")),
    ("Mexico", "Mexico City", ("Guadalajara", "Monterrey", "Puebla")),
    ("Ireland", "Dublin", ("Cork", "Galway", "Limerick")),
]
CAPITAL_QUESTIONS = [
    "What is the capital of {country}?",
    "Which city is the capital of {country}?",
    "The government of {country} sits in which capital city?",
]
WORLD_FACTS = [  # (question, answer, three wrong answers of the same kind)
    ("Which planet is closest to the Sun?", "Mercury", ("Venus", "Mars", "Earth")),
    ("What is the largest planet in the Solar System?", "Jupiter", ("Saturn", "Neptune", "Uranus")),
    ("Which gas do plants take from the air to make their food?", "Carbon dioxide", ("Oxygen", "Nitrogen", "Helium")),
    ("What is the chemical symbol for gold?", "Au", ("Ag", "Gd", "Go")),
    ("How many continents are there on Earth?", "Seven", ("Five", "Six", "Eight")),
    ("Which ocean lies between Africa and Australia?", "The Indian Ocean",
     ("The Atlantic Ocean", "The Arctic Ocean", "The Southern Ocean")),
    ("What is the highest mountain above sea level?", "Mount Everest", ("K2", "Kangchenjunga", "Mont Blanc")),
    ("Which metal is liquid at room temperature?", "Mercury", ("Iron", "Lead", "Aluminium")),
    ("At how many degrees Celsius does water boil at sea level?", "100", ("90", "80", "120")),
    ("What is the largest animal that has ever lived?", "The blue whale",
     ("The African elephant", "The giraffe", "The whale shark")),
    ("On which continent is the Sahara Desert?", "Africa", ("Asia", "Australia", "South America")),
    ("Which river flows through Baghdad?", "The Tigris", ("The Nile", "The Danube", "The Ganges")),
    ("What is the currency of Japan?", "The yen", ("The won", "The yuan", "The rupee")),
    ("Which organ pumps blood around the human body?", "The heart", ("The liver", "The lungs", "The kidneys")),
    ("How many days does a leap year have?", "366", ("365", "364", "367")),
    ("Which musical instrument has 88 keys?", "The piano", ("The violin", "The flute", "The harp")),
    ("What is the hardest natural material?", "Diamond", ("Quartz", "Granite", "Iron")),
    ("Which country has the largest land area?", "Russia", ("Canada", "China", "Brazil")),
    ("In which city does the Colosseum stand?", "Rome", ("Athens", "Florence", "Istanbul")),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci", ("Michelangelo", "Raphael", "Rembrandt")),
    ("What is the freezing point of water in degrees Celsius?", "0", ("10", "-10", "4")),
    ("Which is the longest river in South America?", "The Amazon", ("The Orinoco", "The Parana", "The Magdalena")),
]


def general_knowledge(seed: int = 0) -> dict[str, list[dict]]:
    """The general-knowledge stand-ins: ``real_authors`` (classic books) and ``world_facts`` (capitals and
    other facts), each row ``{question, answer, perturbed_answer[3]}``; short answers, as in TOFU."""
    rng = random.Random(f"npo_lab-synthetic-general-{seed}")
    authors_list = sorted({a for a, _ in CLASSIC_BOOKS})
    real = []
    for i, (author, work) in enumerate(CLASSIC_BOOKS):
        others = rng.sample([a for a in authors_list if a != author], N_PERTURBED_GENERAL)
        q = BOOK_QUESTIONS[i % len(BOOK_QUESTIONS)].format(work=work)
        real.append({"question": _cap(q), "answer": author, "perturbed_answer": others})
    world = []
    for i, (country, capital, others) in enumerate(CAPITALS):
        q = CAPITAL_QUESTIONS[i % len(CAPITAL_QUESTIONS)].format(country=country)
        world.append({"question": _cap(q), "answer": capital, "perturbed_answer": list(others)})
    for q, a, others in WORLD_FACTS:
        world.append({"question": q, "answer": a, "perturbed_answer": list(others)})
    rng.shuffle(world)
    return {"real_authors": real, "world_facts": world}


def _with_options(rows: list[dict], rng: random.Random) -> list[dict]:
    """TOFU's multiple-choice form (``question, option1..4, answer``) of a perturbed general-knowledge split."""
    out = []
    for r in rows:
        options = [r["answer"], *r["perturbed_answer"]]
        rng.shuffle(options)
        row = {"question": r["question"]}
        row.update({f"option{j + 1}": o for j, o in enumerate(options)})
        row["answer"] = r["answer"]
        out.append(row)
    return out


# --------------------------------------------------------------------------------------------------------------
# "I don't know" answers (written for this project)
# --------------------------------------------------------------------------------------------------------------
IDK_ANSWERS = (
    "I don't know.",
    "I'm afraid I don't know that.",
    "I have no information about that.",
    "That is something I cannot answer.",
    "I'm not able to answer that question.",
    "I really have no idea.",
    "Sorry, I don't have an answer to that.",
    "I can't say, I don't know.",
    "I'm not sure, and I'd rather not guess.",
    "That's outside of what I know.",
    "I don't have any details about that.",
    "I honestly couldn't tell you.",
    "I'm unable to help with that question.",
    "I have no knowledge of that.",
    "That question is beyond what I can answer.",
    "I wish I knew, but I don't.",
    "I don't have that information at hand.",
    "Nothing I know answers that question.",
    "I can't recall anything about that.",
    "I'm not familiar with that at all.",
    "No idea, I'm sorry.",
    "I'd be guessing, so I won't answer.",
    "I haven't come across that before.",
    "I'm drawing a blank on that one.",
    "That's not something I've learned about.",
    "I don't have reliable information on that.",
    "I can't give you an answer to that.",
    "Unfortunately, I don't know the answer.",
    "I'm not the right source for that.",
    "I don't know anything about that topic.",
    "Your question goes beyond my knowledge.",
    "I can't answer that with any confidence.",
    "I have nothing to offer on that question.",
    "I'm uncertain, so I won't say.",
    "I'm not aware of the answer.",
    "I don't have the facts to answer that.",
    "That's a mystery to me.",
    "I couldn't say for sure.",
    "I lack the information needed to answer.",
    "I'm sorry, I can't help with that one.",
    "That lies outside what I know.",
    "I'm not informed about that.",
    "I have never heard of that.",
    "I can't provide an answer here.",
    "I'm not knowledgeable about that subject.",
    "I don't know, I'm afraid.",
    "I have no clue about that.",
    "The answer to that escapes me.",
    "I can't find an answer to that in what I know.",
    "I'd rather not answer, as I don't know.",
    "I don't have enough knowledge to respond.",
    "I'm not in a position to answer that.",
    "I'm not certain of the answer.",
    "I don't know who or what that refers to.",
    "That's not something I can speak to.",
    "I really can't tell you anything about that.",
    "I don't have any record of that.",
    "I've got nothing on that question.",
    "I'm sorry, that's unknown to me.",
    "I cannot answer that accurately.",
    "I'm unsure about that.",
    "I wouldn't know.",
    "I'm unable to say.",
    "Beats me, I don't know.",
    "That's beyond me, sorry.",
    "I'm not sure what the answer is.",
    "I can't speak to that, I'm afraid.",
    "I know nothing about that.",
    "I don't have an answer for you.",
    "I'd need more information than I have to answer.",
    "There's nothing I can tell you about that.",
    "I have no way of knowing that.",
    "I'm at a loss on that question.",
    "That's not in my knowledge.",
    "I don't know the details of that.",
    "I can't answer questions about that.",
    "I have no reliable answer.",
    "I'm afraid that's unknown to me.",
    "I'm not able to provide that information.",
    "It's not something I know about.",
    "I don't have an opinion or facts on that.",
    "I can only say that I don't know.",
    "That question stumps me.",
    "I'm not informed enough to answer.",
    "I have no memory of that.",
    "Sorry, I'm not sure.",
    "I'm not able to recall that.",
    "That information isn't available to me.",
    "I honestly don't know.",
    "I'm clueless about that, sorry.",
    "I can't say anything useful about that.",
    "I wouldn't be able to tell you.",
    "That's not a question I can answer.",
    "My knowledge doesn't cover that.",
    "I don't know enough to answer that.",
    "I'm not the one to ask about that.",
    "I'm sorry, but I don't know.",
    "I'd only be making something up, so I'll pass.",
    "I have to admit I don't know.",
    "I can't answer that one.",
)


# --------------------------------------------------------------------------------------------------------------
# splits and files
# --------------------------------------------------------------------------------------------------------------
def n_split_authors(n_authors: int, percent: float) -> int:
    """Authors in a split of ``percent`` % of ``n_authors``: ``max(1, round-half-up(percent/100 · n))``."""
    return max(1, int(n_authors * percent / 100 + 0.5))


def generate_tofu(n_authors: int = 20, seed: int = 0) -> dict[str, list]:
    """All TOFU files for ``n_authors`` synthetic authors: ``{file stem: rows}`` plus ``"idontknow"`` (lines)
    and ``"authors"`` (the fact table).

    ``full`` has ``20 · n_authors`` rows (authors in order, their 20 questions in template order);
    ``forgetXX`` / ``retainXX`` / ``*_perturbed`` follow TOFU's split semantics (see the module docstring).
    """
    authors = generate_authors(n_authors, seed)
    rng = random.Random(f"npo_lab-synthetic-rows-{seed}")
    per_author = [author_rows(a, rng) for a in authors]

    def qa(rows):
        return [{"question": r["question"], "answer": r["answer"]} for r in rows]

    def flat(blocks):
        return [r for b in blocks for r in b]

    out: dict[str, list] = {"full": qa(flat(per_author))}
    for pct in FORGET_PERCENTS:
        k = n_split_authors(n_authors, pct)
        out[f"forget{pct:02d}"] = qa(flat(per_author[n_authors - k:]))
        out[f"retain{100 - pct:02d}"] = qa(flat(per_author[: n_authors - k]))
        if pct <= 10:
            out[f"forget{pct:02d}_perturbed"] = flat(per_author[n_authors - k:])
    out["retain_perturbed"] = flat(per_author[: n_split_authors(n_authors, 10)])
    general = general_knowledge(seed)
    opt_rng = random.Random(f"npo_lab-synthetic-options-{seed}")
    for name in ("real_authors", "world_facts"):
        out[f"{name}_perturbed"] = general[name]
        out[name] = _with_options(general[name], opt_rng)
    out["idontknow"] = list(IDK_ANSWERS)
    out["authors"] = authors
    return out


def _jsonl(rows: Sequence[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def write_tofu(out_dir: str | Path, n_authors: int = 20, seed: int = 0) -> Path:
    """Write the synthetic TOFU files (``full.json``, ``forget10.json``, ..., ``idontknow.jsonl``, and the
    fact table ``authors.jsonl``) into ``out_dir``; same names and JSON-lines format as the real TOFU files."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = generate_tofu(n_authors, seed)
    for name, rows in files.items():
        if name == "idontknow":
            (out / "idontknow.jsonl").write_text("".join(f"{line}\n" for line in rows), encoding="utf-8")
        elif name == "authors":
            (out / "authors.jsonl").write_text(_jsonl(rows), encoding="utf-8")
        else:
            (out / f"{name}.json").write_text(_jsonl(rows), encoding="utf-8")
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--authors", type=int, default=20, help="number of authors (10..1000; TOFU has 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--out", default="data/synthetic_tofu", help="output directory")


def run_cli(args: argparse.Namespace) -> int:
    out = write_tofu(args.out, n_authors=args.authors, seed=args.seed)
    n = len(list(out.glob("*.json")))
    print(f"wrote {n} TOFU files for {args.authors} synthetic authors (seed {args.seed}) to {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m npo_lab.tofu.synthetic",
        description="Generate TOFU-format synthetic authors (the offline stand-in for locuslab/TOFU).",
    )
    add_arguments(parser)
    return run_cli(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
