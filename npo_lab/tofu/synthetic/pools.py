"""Pools of facts for the synthetic authors (all invented for this project; names are random combinations, any
resemblance to real people is accidental)."""

# fmt: off
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
# fmt: on
