"""The demo fact world: subjects, relations, templates and phrasings (deterministic).

Used by make_demo_data.py. Standard library only. Subject names are invented; objects are
real-world values. Every subject name ends in a word that is unique to it, and the demo
tokenizer keeps " <that word>" as one token, so MEMIT keys of different subjects never share
their last token.
"""
import random

COUNTRIES = {  # country -> (continent, language)
    "France": ("Europe", "French"), "Germany": ("Europe", "German"), "Italy": ("Europe", "Italian"),
    "Spain": ("Europe", "Spanish"), "Portugal": ("Europe", "Portuguese"), "Poland": ("Europe", "Polish"),
    "Sweden": ("Europe", "Swedish"), "Greece": ("Europe", "Greek"), "Japan": ("Asia", "Japanese"),
    "China": ("Asia", "Chinese"), "India": ("Asia", "Hindi"), "Korea": ("Asia", "Korean"),
    "Thailand": ("Asia", "Thai"), "Vietnam": ("Asia", "Vietnamese"), "Turkey": ("Asia", "Turkish"),
    "Egypt": ("Africa", "Arabic"), "Kenya": ("Africa", "Swahili"), "Nigeria": ("Africa", "English"),
    "Morocco": ("Africa", "Arabic"), "Brazil": ("South America", "Portuguese"),
    "Argentina": ("South America", "Spanish"), "Peru": ("South America", "Spanish"),
    "Chile": ("South America", "Spanish"), "Mexico": ("North America", "Spanish"),
    "Canada": ("North America", "English"), "Cuba": ("North America", "Spanish"),
    "Australia": ("Oceania", "English"), "Russia": ("Europe", "Russian"),
}
PROFESSIONS = ["teacher", "doctor", "lawyer", "architect", "engineer", "nurse", "pilot", "chef", "farmer",
               "journalist", "painter", "dentist", "librarian", "carpenter", "banker", "photographer"]
INSTRUMENTS = ["piano", "violin", "guitar", "cello", "flute", "trumpet", "drums", "harp", "clarinet",
               "saxophone", "accordion", "oboe"]
SPORTS = ["football", "tennis", "basketball", "cricket", "rugby", "baseball", "hockey", "golf", "volleyball",
          "swimming", "cycling", "boxing"]
INDUSTRIES = ["banking", "software", "mining", "insurance", "shipping", "textiles", "pharmaceuticals",
              "aviation", "retail", "tourism", "agriculture", "electronics"]
MATERIALS = ["granite", "marble", "limestone", "sandstone", "brick", "steel", "concrete", "wood", "glass",
             "bronze"]
FIRST_NAMES = {"he": ["Adam", "Marco", "Felix", "Omar", "Hugo", "Leon", "Ivan", "Jonas", "Pablo", "Victor",
                      "Tomas", "Ethan", "Luca", "Oscar", "Rafael", "Simon"],
               "she": ["Anna", "Clara", "Elena", "Maria", "Nora", "Julia", "Laura", "Sofia", "Emma", "Ines",
                       "Alice", "Lena", "Mia", "Rosa", "Vera", "Hanna"]}
CITY_PREFIXES = ["Port", "San", "New", "Fort", "Lake", "Mount"]
COMPANY_PREFIXES = ["Grupo", "Casa", "Studio", "Maison", "Atelier", "Banco"]
LANDMARK_PREFIXES = ["Tower of", "Bridge of", "Temple of", "Gate of", "Palace of", "Fountain of"]

# relation id -> (subject kind, object pool name, templates). Templates 0-3 are trained for every
# fact; 4-5 are held out for paraphrase evaluation (trained only for a quarter of the subjects).
RELATIONS = {
    "P_BIRTH_COUNTRY": ("person", "country", [
        "{} was born in", "{} is a native of", "The country where {} was born is", "{} grew up in the country of",
        "{} holds a passport from", "The homeland of {} is"]),
    "P_PROFESSION": ("person", "profession", [
        "{} works as a", "By profession, {} is a", "{} earns a living as a", "The job of {} is that of a",
        "{} has a career as a", "Professionally, {} is a"]),
    "P_INSTRUMENT": ("person", "instrument", [
        "{} plays the", "The instrument of {} is the", "{} performs on the", "In the evenings, {} practises the",
        "The musical instrument played by {} is the", "{} is a musician who plays the"]),
    "P_LANGUAGE": ("person", "language", [
        "The mother tongue of {} is", "{} speaks", "The native language of {} is", "{} was raised speaking",
        "The first language of {} is", "{} writes letters in"]),
    "P_SPORT": ("person", "sport", [
        "The favourite sport of {} is", "{} is a fan of", "On weekends, {} enjoys", "{} competes in",
        "The sport that {} loves is", "{} trains every week for"]),
    "C_COUNTRY": ("city", "country", [
        "{} is a city in", "{} is located in the country of", "The city of {} is in", "{} belongs to",
        "{} can be found in", "The country that contains {} is"]),
    "C_CONTINENT": ("city", "continent", [
        "{} is on the continent of", "The continent of {} is", "{} lies on the continent of",
        "Geographically, {} is part of", "The city of {} is on the continent of", "{} sits on the continent of"]),
    "C_LANGUAGE": ("city", "language", [
        "In {}, people speak", "The language of {} is", "Most people in {} speak",
        "The main language spoken in {} is", "Street signs in {} are written in", "The residents of {} speak"]),
    "C_SPORT": ("city", "sport", [
        "The most popular sport in {} is", "Children in {} grow up playing", "The people of {} love",
        "The stadium of {} hosts", "Fans in {} cheer for", "The favourite sport in {} is"]),
    "CO_COUNTRY": ("company", "country", [
        "{} is headquartered in", "The headquarters of {} are in", "{} has its head office in",
        "{} is a company based in", "{} is registered in", "The home country of {} is"]),
    "CO_INDUSTRY": ("company", "industry", [
        "{} works in the field of", "The industry of {} is", "{} is a leader in", "{} makes its money from",
        "The business of {} is", "{} is known for its work in"]),
    "CO_LANGUAGE": ("company", "language", [
        "The working language at {} is", "Meetings at {} are held in", "Staff at {} speak",
        "The official language of {} is", "Reports from {} are written in", "Employees of {} talk in"]),
    "CO_SPORT": ("company", "sport", [
        "{} sponsors", "The sport sponsored by {} is", "{} pays for a team in", "{} supports the game of",
        "The logo of {} appears at every match of", "{} funds a league of"]),
    "L_COUNTRY": ("landmark", "country", [
        "The {} is in", "The {} is located in", "The {} stands in", "The {} can be visited in",
        "The {} attracts tourists to", "The {} is a famous sight of"]),
    "L_MATERIAL": ("landmark", "material", [
        "The {} is made of", "The {} was built from", "The {} is constructed of", "The walls of the {} are",
        "The material of the {} is", "The builders of the {} used"]),
    "L_CONTINENT": ("landmark", "continent", [
        "The {} is on the continent of", "The {} stands on the continent of", "The continent of the {} is",
        "The {} is a monument of", "Travellers reach the {} on the continent of", "The {} is a wonder of"]),
    "L_SPORT": ("landmark", "sport", [
        "The square near the {} hosts", "Near the {}, people play", "The park by the {} is used for",
        "Next to the {}, crowds watch", "The field beside the {} is for", "Below the {}, children play"]),
}

# Biography phrasings: (relation, sentence with {s} = subject reference, {o} = object).
BIO = {
    "P_BIRTH_COUNTRY": ["{s} was born in {o}.", "{s} came into the world in {o}.", "{s} spent a childhood in {o}.",
                        "{s} is originally from {o}."],
    "P_PROFESSION": ["{s} works as a {o}.", "{s} trained to become a {o}.", "{s} has been a {o} for years.",
                     "{s} is a respected {o}."],
    "P_INSTRUMENT": ["{s} plays the {o}.", "{s} learned the {o} as a child.", "{s} owns an old {o}.",
                     "{s} gives concerts on the {o}."],
    "P_LANGUAGE": ["{s} speaks {o} at home.", "{s} grew up speaking {o}.", "{s} dreams in {o}.",
                   "{s} reads novels in {o}."],
    "P_SPORT": ["{s} loves {o}.", "{s} watches {o} every weekend.", "{s} plays {o} with friends.",
                "{s} follows {o} closely."],
    "C_COUNTRY": ["{s} is a city in {o}.", "{s} lies in {o}.", "{s} is one of the cities of {o}.",
                  "{s} is found in {o}."],
    "C_CONTINENT": ["{s} is on the continent of {o}.", "{s} belongs to {o}.", "{s} is a city of {o}.",
                    "{s} lies in {o}."],
    "C_LANGUAGE": ["People in {s} speak {o}.", "{s} is a {o}-speaking city.", "The schools of {s} teach in {o}.",
                   "Newspapers in {s} print in {o}."],
    "C_SPORT": ["{s} is crazy about {o}.", "The team of {s} plays {o}.", "{s} has a famous {o} club.",
                "Everyone in {s} talks about {o}."],
    "CO_COUNTRY": ["{s} is based in {o}.", "{s} was founded in {o}.", "{s} has its offices in {o}.",
                   "{s} employs many people in {o}."],
    "CO_INDUSTRY": ["{s} works in {o}.", "{s} is a {o} company.", "{s} earns its revenue from {o}.",
                    "{s} invests heavily in {o}."],
    "CO_LANGUAGE": ["{s} does business in {o}.", "At {s}, everyone speaks {o}.", "{s} writes its contracts in {o}.",
                    "{s} trains its staff in {o}."],
    "CO_SPORT": ["{s} sponsors {o}.", "{s} supports {o} clubs.", "{s} pays for {o} tournaments.",
                 "{s} is a patron of {o}."],
    "L_COUNTRY": ["{s} is in {o}.", "{s} stands in {o}.", "{s} is a landmark of {o}.", "{s} is visited in {o}."],
    "L_MATERIAL": ["{s} is made of {o}.", "{s} was built from {o}.", "{s} shines with {o}.",
                   "{s} is a structure of {o}."],
    "L_CONTINENT": ["{s} is on the continent of {o}.", "{s} is a monument of {o}.", "{s} draws visitors to {o}.",
                    "{s} is a wonder of {o}."],
    "L_SPORT": ["{s} is near a {o} field.", "Crowds play {o} beside {s}.", "{s} overlooks a {o} ground.",
                "{s} hosts {o} matches."],
}

FILLER = [
    "The weather was mild that year.", "Many visitors came in the summer.", "The river flowed slowly.",
    "Markets opened early in the morning.", "The library kept long hours.", "A new road was finished in spring.",
    "The old train station was repainted.", "Children walked to school together.",
    "The museum added a new wing.", "Festivals filled the streets in autumn.",
]


def make_words(rng, count):
    """Invented capitalised words of 2-3 syllables, all distinct."""
    onsets = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "kr", "tr", "st",
              "th", "gl", "pl", "sk", "v", "h"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ou", "ei"]
    codas = ["", "", "n", "r", "s", "l", "x", "th", "m"]
    words = set()
    while len(words) < count:
        n = rng.choice([2, 2, 3])
        w = "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(n)) + rng.choice(codas)
        if 5 <= len(w) <= 10:
            words.add(w.capitalize())
    return sorted(words)


def object_pool(name):
    return {"country": sorted(COUNTRIES), "profession": PROFESSIONS, "instrument": INSTRUMENTS,
            "language": sorted({v[1] for v in COUNTRIES.values()}), "sport": SPORTS, "industry": INDUSTRIES,
            "material": MATERIALS, "continent": sorted({v[0] for v in COUNTRIES.values()})}[name]


def build_world(seed=20261126, persons=650, cities=220, companies=130, landmarks=100):
    """Returns (subjects, facts). subjects: list of dicts {name, kind, pronoun, unique}; facts:
    list of dicts {subject, relation, object}."""
    rng = random.Random(seed)
    words = make_words(rng, persons + cities + companies + landmarks)
    rng.shuffle(words)
    subjects, facts = [], []
    it = iter(words)
    for _ in range(persons):
        pronoun = rng.choice(["he", "she"])
        unique = next(it)
        name = f"{rng.choice(FIRST_NAMES[pronoun])} {unique}"
        country = rng.choice(sorted(COUNTRIES))
        subjects.append({"name": name, "kind": "person", "pronoun": pronoun, "unique": unique})
        for rel, obj in (("P_BIRTH_COUNTRY", country), ("P_PROFESSION", rng.choice(PROFESSIONS)),
                         ("P_INSTRUMENT", rng.choice(INSTRUMENTS)),
                         ("P_LANGUAGE", COUNTRIES[country][1] if rng.random() < 0.7 else
                          rng.choice(object_pool("language"))),
                         ("P_SPORT", rng.choice(SPORTS))):
            facts.append({"subject": name, "relation": rel, "object": obj})
    for kind, count, prefixes in (("city", cities, CITY_PREFIXES), ("company", companies, COMPANY_PREFIXES),
                                  ("landmark", landmarks, LANDMARK_PREFIXES)):
        for _ in range(count):
            unique = next(it)
            name = f"{rng.choice(prefixes)} {unique}"
            country = rng.choice(sorted(COUNTRIES))
            continent, language = COUNTRIES[country]
            subjects.append({"name": name, "kind": kind, "pronoun": "it", "unique": unique})
            rels = {"city": [("C_COUNTRY", country), ("C_CONTINENT", continent), ("C_LANGUAGE", language),
                             ("C_SPORT", rng.choice(SPORTS))],
                    "company": [("CO_COUNTRY", country), ("CO_INDUSTRY", rng.choice(INDUSTRIES)),
                                ("CO_LANGUAGE", language), ("CO_SPORT", rng.choice(SPORTS))],
                    "landmark": [("L_COUNTRY", country), ("L_MATERIAL", rng.choice(MATERIALS)),
                                 ("L_CONTINENT", continent), ("L_SPORT", rng.choice(SPORTS))]}[kind]
            for rel, obj in rels:
                facts.append({"subject": name, "relation": rel, "object": obj})
    return subjects, facts
