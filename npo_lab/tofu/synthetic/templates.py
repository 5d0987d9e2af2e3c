"""The 20 question templates asked about every synthetic author."""

from __future__ import annotations

from dataclasses import dataclass

from ..splits import QUESTIONS_PER_AUTHOR


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
        "Readers of {name} will find {theme1} and {theme2} at the heart of almost every story the author has written.",
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
        "So far {name} has published {n_books} books, and each new title is eagerly awaited by readers of {genre}.",
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
        "The writer who influenced {name} most was the novelist {mentor}, according to the author's own interviews.",
        ("mentor",),
    ),
)
assert len(QUESTION_TEMPLATES) == QUESTIONS_PER_AUTHOR
