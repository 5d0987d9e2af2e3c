"""The general-knowledge stand-ins for TOFU's ``real_authors`` / ``world_facts`` and the "I don't know" answers
(all questions and answers written for this project; the facts are well-known public facts)."""

from __future__ import annotations

import random

from .authors import _cap

N_PERTURBED_GENERAL = 3  # perturbed answers per general-knowledge row (TOFU: 3)

# fmt: off
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


# fmt: on


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


def with_options(rows: list[dict], rng: random.Random) -> list[dict]:
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


# "I don't know" answers (written for this project), for the IDK / DPO baselines
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
