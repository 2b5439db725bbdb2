"""Word banks and sentence generators for the bundled sample crawl (``operators.samplegen``).

Everything here was written for raysift: no third-party page or text is copied. English prose comes
from ~40 sentence templates filled from topic word banks (hundreds of distinct words), so it reads
grammatical-ish, has stop words, varied sentence lengths and terminal punctuation, and passes the
Gopher / C4 / FineWeb rules. German, French, Spanish, Chinese and Japanese prose comes from small
per-language banks, enough for a character n-gram language detector. Math prose carries TeX
formulas that :func:`tex_to_mathml` turns into MathML (for MathML and KaTeX markup).

Every generator takes a ``random.Random`` so a fixed seed gives the same text.
"""

from __future__ import annotations

import random
import re
from html import escape

# ---------------------------------------------------------------------------------------------
# English morphology
# ---------------------------------------------------------------------------------------------

_IRREGULAR_PAST = {
    "build": "built", "catch": "caught", "dig": "dug", "feed": "fed", "find": "found", "hear": "heard",
    "leave": "left", "lead": "led", "lose": "lost", "make": "made", "meet": "met", "win": "won",
    "sing": "sang", "spot": "spotted", "plan": "planned", "stir": "stirred", "chop": "chopped",
    "ship": "shipped", "drop": "dropped", "swim": "swam", "run": "ran", "write": "wrote",
    "take": "took", "bring": "brought", "teach": "taught", "keep": "kept", "sell": "sold",
    "beat": "beat", "hold": "held", "grow": "grew", "draw": "drew", "begin": "began",
    "see": "saw", "give": "gave", "read": "read", "cut": "cut", "set": "set", "put": "put",
    "fit": "fitted", "trim": "trimmed", "map": "mapped", "tap": "tapped", "admit": "admitted",
}
_IRREGULAR_PLURAL = {
    "leaf": "leaves", "shelf": "shelves", "knife": "knives", "loaf": "loaves", "wolf": "wolves",
    "deer": "deer", "salmon": "salmon", "sheep": "sheep", "child": "children", "person": "people",
    "bacterium": "bacteria", "fungus": "fungi", "tomato": "tomatoes", "potato": "potatoes",
    "hero": "heroes", "echo": "echoes", "series": "series", "species": "species", "mouse": "mice",
    "fish": "fish", "woman": "women", "man": "men", "analysis": "analyses", "thesis": "theses",
}
_VOWELS = "aeiou"


def plural(noun: str) -> str:
    """English plural of the last word of ``noun``."""
    head, _, last = noun.rpartition(" ")
    if last in _IRREGULAR_PLURAL:
        p = _IRREGULAR_PLURAL[last]
    elif last.endswith(("s", "sh", "ch", "x", "z")):
        p = last + "es"
    elif last.endswith("y") and last[-2:-1] not in _VOWELS:
        p = last[:-1] + "ies"
    else:
        p = last + "s"
    return f"{head} {p}" if head else p


def third(verb: str) -> str:
    """Third person singular present."""
    if verb in ("have", "do", "go"):
        return {"have": "has", "do": "does", "go": "goes"}[verb]
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2:-1] not in _VOWELS:
        return verb[:-1] + "ies"
    return verb + "s"


def past(verb: str) -> str:
    """Simple past."""
    if verb in _IRREGULAR_PAST:
        return _IRREGULAR_PAST[verb]
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2:-1] not in _VOWELS:
        return verb[:-1] + "ied"
    return verb + "ed"


_AN_RE = re.compile(r"\b([Aa]) (?=([A-Za-z]+))")


def _fix_articles(text: str) -> str:
    def repl(m: re.Match) -> str:
        w = m.group(2).lower()
        vowel = w[0] in _VOWELS and not w.startswith(("uni", "use", "usu", "uti", "eu", "one", "once"))
        vowel = vowel or w.startswith(("hour", "honest"))
        return (m.group(1) + "n ") if vowel else m.group(0)

    return _AN_RE.sub(repl, text)


def cap(s: str) -> str:
    """Upper-case the first letter (skipping leading quotes)."""
    for i, ch in enumerate(s):
        if ch.isalpha():
            return s[:i] + ch.upper() + s[i + 1:]
    return s


def title_case(s: str) -> str:
    small = {"a", "an", "the", "of", "and", "or", "in", "on", "at", "to", "for", "with", "from", "by"}
    words = s.split()
    return " ".join(w if (i and w in small) else cap(w) for i, w in enumerate(words))


def slugify(s: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")


# ---------------------------------------------------------------------------------------------
# English word banks
# ---------------------------------------------------------------------------------------------

TOPICS: dict[str, dict[str, list[str]]] = {
    "gardening": {
        "nouns": ["garden", "rose", "tomato plant", "hedge", "seedling", "greenhouse", "compost heap",
                  "root", "leaf", "flower bed", "shrub", "orchard", "pear tree", "vegetable patch", "spade",
                  "watering can", "bulb", "vine", "trellis", "lawn", "clay pot", "bean row", "herb border",
                  "fruit cage", "hose", "raised bed", "cold frame"],
        "verbs": ["prune", "water", "plant", "dig", "harvest", "protect", "feed", "cover", "shade", "divide",
                  "mulch", "transplant", "train", "support", "inspect", "trim", "sow"],
        "adjs": ["hardy", "sunny", "damp", "fertile", "overgrown", "tender", "evergreen", "fragrant", "shady",
                 "sheltered", "frosty", "leafy", "thirsty", "flowering"],
        "roles": ["gardener", "grower", "allotment holder", "botanist", "nursery owner", "landscape designer",
                  "beekeeper"],
        "places": ["the walled garden", "a village allotment", "the south border", "the old orchard",
                   "a hillside terrace", "the kitchen garden", "a community garden"],
        "heads": ["Soil and water", "Choosing the right spot", "Spring tasks", "Pests and patience",
                  "Autumn routine", "Tools that help", "What to plant next", "Lessons from last year"],
    },
    "cooking": {
        "nouns": ["recipe", "sauce", "onion", "frying pan", "oven", "loaf", "pastry", "dumpling", "stew",
                  "spice blend", "lemon tart", "broth", "omelette", "knife", "cutting board", "dough", "salad",
                  "roast", "garlic clove", "mushroom", "pancake", "kitchen scale", "mixing bowl", "soup",
                  "flatbread", "marinade"],
        "verbs": ["simmer", "chop", "bake", "season", "stir", "taste", "roast", "fold", "whisk", "grill",
                  "marinate", "slice", "serve", "prepare", "reduce", "knead"],
        "adjs": ["crisp", "tender", "savoury", "sweet", "buttery", "tangy", "golden", "smoky", "fresh", "rich",
                 "creamy", "spicy", "crumbly", "warm"],
        "roles": ["cook", "chef", "baker", "food writer", "home cook", "restaurant owner", "cheesemaker"],
        "places": ["a busy kitchen", "the family bakery", "a street market", "the village inn",
                   "a harbour restaurant", "the school canteen"],
        "heads": ["Ingredients", "Before you start", "The method", "Serving suggestions", "A note on timing",
                  "Variations", "Storing leftovers", "Why this works"],
    },
    "travel": {
        "nouns": ["train", "ferry", "hostel", "harbour", "mountain pass", "guidebook", "suitcase", "itinerary",
                  "border crossing", "museum", "market square", "night bus", "coastal path", "cathedral",
                  "ticket", "map", "campsite", "bridge", "station", "cabin", "island", "valley", "trail",
                  "lighthouse", "backpack"],
        "verbs": ["visit", "explore", "cross", "book", "follow", "photograph", "reach", "discover", "leave",
                  "describe", "recommend", "avoid", "pack", "plan", "enjoy", "map"],
        "adjs": ["remote", "crowded", "scenic", "quiet", "historic", "cheap", "windy", "colourful", "narrow",
                 "ancient", "peaceful", "busy", "sunlit"],
        "roles": ["traveller", "tourist", "guide", "backpacker", "ferry captain", "hotel owner", "cyclist"],
        "places": ["a quiet fishing village", "the northern coast", "the old town", "a mountain village",
                   "the river delta", "the eastern islands", "a border town"],
        "heads": ["Getting there", "Where to stay", "What to see", "Eating out", "Practical tips",
                  "The second day", "Leaving town", "Budget"],
    },
    "history": {
        "nouns": ["empire", "treaty", "monastery", "archive", "manuscript", "castle", "rebellion", "kingdom",
                  "parliament", "merchant guild", "trade route", "fortress", "chronicle", "coin", "statue",
                  "dynasty", "colony", "siege", "charter", "ruin", "battlefield", "scroll", "letter", "census",
                  "harbour wall"],
        "verbs": ["record", "conquer", "sign", "build", "defend", "abandon", "restore", "study", "translate",
                  "collect", "trade", "govern", "rebuild", "challenge", "preserve", "excavate"],
        "adjs": ["medieval", "ancient", "royal", "forgotten", "powerful", "wealthy", "fragile", "disputed",
                 "famous", "rural", "coastal", "early"],
        "roles": ["historian", "archivist", "monk", "merchant", "soldier", "archaeologist", "scribe",
                  "museum curator"],
        "places": ["the northern provinces", "a coastal trading town", "the river valley", "the old capital",
                   "a remote monastery", "the frontier"],
        "heads": ["Background", "The first years", "A turning point", "Sources", "Later accounts",
                  "What remains today", "Legacy", "Open questions"],
    },
    "sport": {
        "nouns": ["team", "match", "league", "goalkeeper", "stadium", "coach", "season", "trophy",
                  "tournament", "training session", "penalty", "striker", "referee", "final", "race",
                  "marathon", "bicycle", "club", "record", "medal", "pitch", "defender", "transfer", "champion",
                  "relay"],
        "verbs": ["win", "lose", "score", "train", "defend", "coach", "celebrate", "beat", "chase", "watch",
                  "sign", "support", "miss", "challenge", "lead"],
        "adjs": ["young", "talented", "experienced", "injured", "unbeaten", "exhausted", "decisive", "loyal",
                 "confident", "disciplined", "narrow", "fearless"],
        "roles": ["player", "coach", "referee", "supporter", "captain", "manager", "athlete", "commentator"],
        "places": ["the home stadium", "a small town club", "the national league", "the mountain stage",
                   "the training ground", "an indoor arena"],
        "heads": ["The first half", "Tactics", "Turning points", "Injuries", "Looking ahead", "Season review",
                  "The numbers", "Reactions"],
    },
    "technology": {
        "nouns": ["laptop", "server", "database", "network", "software update", "battery", "processor",
                  "smartphone", "algorithm", "keyboard", "cable", "router", "startup", "sensor", "screen",
                  "program", "backup", "password", "cloud service", "chip", "camera", "printer", "device",
                  "interface", "app"],
        "verbs": ["install", "update", "test", "repair", "connect", "design", "upgrade", "measure", "replace",
                  "store", "encrypt", "release", "debug", "configure", "monitor"],
        "adjs": ["fast", "reliable", "cheap", "outdated", "wireless", "powerful", "secure", "portable",
                 "efficient", "noisy", "modern", "compact"],
        "roles": ["engineer", "developer", "technician", "designer", "programmer", "researcher",
                  "system administrator"],
        "places": ["a small office", "the data centre", "a university lab", "the repair shop",
                   "a busy workshop", "a shared studio"],
        "heads": ["The problem", "First attempts", "What we changed", "Results", "Security notes",
                  "Costs", "Next steps", "Lessons learned"],
    },
    "science": {
        "nouns": ["experiment", "telescope", "molecule", "cell", "hypothesis", "sample", "microscope",
                  "laboratory", "theory", "measurement", "particle", "crystal", "enzyme", "fossil", "planet",
                  "comet", "gene", "protein", "bacterium", "magnet", "signal", "observation", "climate model",
                  "species", "reaction"],
        "verbs": ["observe", "measure", "test", "predict", "analyse", "confirm", "detect", "explain",
                  "isolate", "compare", "publish", "describe", "examine", "record", "simulate"],
        "adjs": ["tiny", "stable", "rare", "unusual", "bright", "dense", "accurate", "surprising", "complex",
                 "organic", "frozen", "faint"],
        "roles": ["scientist", "researcher", "biologist", "chemist", "physicist", "student", "astronomer",
                  "geologist"],
        "places": ["a field station", "the university laboratory", "a remote observatory",
                   "the research vessel", "the polar station", "a mountain observatory"],
        "heads": ["Methods", "The data", "A closer look", "Why it matters", "Caveats", "Earlier work",
                  "What comes next", "Summary"],
    },
    "music": {
        "nouns": ["song", "album", "guitar", "piano", "concert", "melody", "choir", "orchestra", "violin",
                  "festival", "rehearsal", "lyric", "chord", "band", "studio", "tour", "symphony", "ballad",
                  "microphone", "stage", "audience", "drum kit", "recording", "chorus"],
        "verbs": ["play", "record", "compose", "perform", "rehearse", "tune", "sing", "release", "arrange",
                  "hear", "practise", "accompany", "improvise", "mix"],
        "adjs": ["quiet", "loud", "haunting", "cheerful", "melodic", "acoustic", "slow", "lively", "familiar",
                 "gentle", "bright", "classical"],
        "roles": ["musician", "singer", "composer", "drummer", "violinist", "producer", "conductor",
                  "pianist"],
        "places": ["a small jazz club", "the concert hall", "the recording studio", "a summer festival",
                   "the village church", "a rooftop bar"],
        "heads": ["The songs", "In the studio", "On stage", "Influences", "The band", "Reception",
                  "Standout tracks", "Final thoughts"],
    },
    "health": {
        "nouns": ["habit", "diet", "exercise", "sleep schedule", "clinic", "vitamin", "walk", "meal plan",
                  "muscle", "heart rate", "vaccine", "symptom", "treatment", "breakfast", "stretch", "posture",
                  "injury", "routine", "appointment", "water bottle", "bicycle ride", "blood test"],
        "verbs": ["improve", "reduce", "prevent", "recommend", "track", "treat", "support", "check",
                  "strengthen", "measure", "manage", "encourage", "avoid", "plan", "follow"],
        "adjs": ["healthy", "regular", "gentle", "balanced", "daily", "tired", "active", "mild", "chronic",
                 "sensible", "steady", "simple"],
        "roles": ["doctor", "nurse", "patient", "physiotherapist", "trainer", "dietitian", "pharmacist"],
        "places": ["a local clinic", "the community centre", "a busy hospital", "the public pool",
                   "a family practice", "the town gym"],
        "heads": ["Getting started", "Common mistakes", "What the evidence says", "Small changes",
                  "When to ask for help", "A weekly plan", "Sleep", "Keeping it up"],
    },
    "architecture": {
        "nouns": ["building", "facade", "roof", "staircase", "window", "courtyard", "tower", "column", "arch",
                  "brick wall", "apartment block", "library", "town hall", "balcony", "timber frame",
                  "foundation", "chapel", "station hall", "warehouse", "skylight", "doorway", "corridor",
                  "dome"],
        "verbs": ["design", "build", "restore", "demolish", "extend", "convert", "support", "frame", "paint",
                  "light", "renovate", "inspect", "plan", "insulate", "decorate"],
        "adjs": ["tall", "modern", "elegant", "narrow", "concrete", "spacious", "symmetrical", "wooden",
                 "bright", "crumbling", "ornate", "sturdy"],
        "roles": ["architect", "builder", "structural engineer", "carpenter", "planner", "resident",
                  "surveyor"],
        "places": ["the old harbour district", "a quiet suburb", "the city centre", "a hillside village",
                   "the riverside quarter", "an industrial estate"],
        "heads": ["The site", "Materials", "Light and space", "Restoration", "The brief", "Inside",
                  "Costs and delays", "Reception"],
    },
    "wildlife": {
        "nouns": ["fox", "owl", "heron", "badger", "otter", "deer", "butterfly", "nest", "burrow", "hedgehog",
                  "swallow", "beetle", "salmon", "wolf", "eagle", "pond", "meadow", "forest", "river", "seal",
                  "frog", "hare", "woodpecker", "wetland"],
        "verbs": ["watch", "follow", "feed", "count", "photograph", "protect", "track", "hunt", "spot",
                  "study", "disturb", "shelter", "release", "attract"],
        "adjs": ["shy", "wild", "nocturnal", "endangered", "curious", "common", "migratory", "elusive",
                 "young", "native", "hungry", "silent"],
        "roles": ["ranger", "birdwatcher", "ecologist", "volunteer", "wildlife photographer", "farmer",
                  "naturalist"],
        "places": ["the river meadow", "a coastal marsh", "the ancient woodland", "a nature reserve",
                   "the moorland edge", "an estuary"],
        "heads": ["Where to look", "Habitat", "Seasons", "Counting", "Threats", "How to help", "Field notes",
                  "Best times"],
    },
    "business": {
        "nouns": ["shop", "market", "customer", "price", "loan", "company", "budget", "invoice", "supplier",
                  "product", "contract", "brand", "investor", "profit", "bakery", "delivery van", "office",
                  "meeting", "strategy", "employee", "payroll", "workshop", "warehouse", "online store"],
        "verbs": ["sell", "hire", "fund", "launch", "negotiate", "lower", "raise", "manage", "open", "expand",
                  "advertise", "review", "ship", "cut", "reward"],
        "adjs": ["profitable", "small", "local", "independent", "seasonal", "risky", "competitive",
                 "family-run", "growing", "careful", "ambitious", "lean"],
        "roles": ["owner", "manager", "accountant", "founder", "shopkeeper", "consultant", "economist"],
        "places": ["the high street", "a small market town", "the industrial park", "a busy shopping centre",
                   "the harbour front", "a rural village"],
        "heads": ["The idea", "Early customers", "Money", "Hiring", "Competition", "Growth", "Mistakes",
                  "Advice for founders"],
    },
    "math": {
        "nouns": ["function", "sequence", "integer", "polynomial", "matrix", "series", "set", "proof", "lemma",
                  "bound", "root", "prime", "triangle", "vector", "derivative", "identity", "coefficient", "limit",
                  "inequality", "eigenvalue", "subgroup", "interval", "partial sum", "exponent", "denominator",
                  "counterexample", "induction step", "base case"],
        "verbs": ["bound", "divide", "satisfy", "approximate", "define", "factor", "compute", "prove",
                  "generalise", "estimate", "simplify", "expand", "differentiate", "integrate", "count",
                  "rewrite", "check"],
        "adjs": ["positive", "finite", "continuous", "rational", "convex", "bounded", "symmetric", "real", "smooth",
                 "nonzero", "odd", "even", "monotone", "periodic", "integral"],
        "roles": ["student", "professor", "reader", "author", "mathematician", "tutor", "referee"],
        "places": ["the previous lecture", "the first chapter", "the exercise sheet", "the appendix",
                   "the textbook", "the last section", "the original paper"],
        "heads": ["Definition", "Example", "Remark", "Exercise", "Corollary", "Discussion"],
    },
    "community": {
        "nouns": ["question", "answer", "moderator", "tag", "bounty", "edit", "comment", "vote", "badge",
                  "review queue", "duplicate", "policy", "guideline", "newcomer", "homework question", "flag",
                  "chat room", "close reason", "reputation limit", "help page", "community wiki", "title"],
        "verbs": ["close", "edit", "flag", "review", "answer", "migrate", "welcome", "discuss", "reopen",
                  "delete", "merge", "accept", "upvote", "retag", "explain"],
        "adjs": ["vague", "helpful", "unclear", "off-topic", "friendly", "strict", "old", "popular", "duplicate",
                 "abandoned", "detailed", "polite"],
        "roles": ["moderator", "user", "newcomer", "reviewer", "member", "editor", "regular"],
        "places": ["the meta site", "the help centre", "the main site", "the review queue", "the chat room",
                   "the tag wiki"],
        "heads": ["Proposal", "Current policy", "Discussion", "Update", "Summary", "Feedback"],
    },
}

GENERAL_ADJS = ["important", "small", "large", "difficult", "careful", "simple", "interesting", "unusual",
                "common", "obvious", "practical", "useful", "familiar", "surprising", "ordinary", "remarkable",
                "strange", "popular", "modest", "generous", "steady", "gradual", "sudden", "significant",
                "clear", "honest", "expensive", "delicate", "patient", "serious", "local", "traditional"]
EVAL_ADJS = ["wise", "easy", "hard", "tempting", "sensible", "risky", "worthwhile", "helpful", "pointless",
             "natural", "unusual", "possible", "essential", "tricky"]
ADVERBS = ["carefully", "slowly", "quickly", "quietly", "gradually", "regularly", "often", "rarely",
           "suddenly", "patiently", "easily", "eventually", "completely", "deliberately", "happily",
           "reluctantly", "steadily", "cautiously", "confidently", "briefly", "openly", "thoroughly",
           "gently", "properly", "badly", "twice"]
DEGREES = ["very", "rather", "surprisingly", "remarkably", "quite", "fairly", "unusually", "almost",
           "slightly", "far too"]
CONNECTIVES = ["however", "in practice", "for example", "as a result", "meanwhile", "in the end",
               "at the same time", "on the other hand", "later", "even so", "in many cases", "by contrast",
               "not surprisingly", "of course", "above all", "in addition", "still", "for this reason",
               "sometimes", "years later", "at first", "nevertheless", "unfortunately", "fortunately",
               "in other words", "surprisingly", "to be fair", "in short", "as it turned out", "eventually"]
LATE_CONNECTIVES = ["however", "meanwhile", "still", "instead", "otherwise", "even so", "in turn",
                    "at least", "by contrast"]
TIMES = ["in the early morning", "during the winter", "after a long week", "every spring",
         "at the end of the day", "in the late afternoon", "over the summer", "last year", "two weeks later",
         "within a few hours", "on a rainy Sunday", "during the holidays", "at night", "by the next morning",
         "for several months", "on most weekends", "in recent years", "before lunch", "after the storm",
         "in the first week", "every few days", "since the autumn", "around midday", "once a month"]
SAID = ["said", "explained", "noted", "argued", "admitted", "insisted", "suggested", "recalled",
        "remarked", "added", "warned", "wrote"]
NUMBER_WORDS = ["two", "three", "four", "five", "six", "seven", "eight", "ten", "twelve", "twenty",
                "fifteen", "thirty"]
ORDINALS = ["first", "second", "third", "fourth", "final", "last", "next", "earlier"]
FIRST_NAMES = ["Anna", "Tomas", "Leila", "Marcus", "Ines", "Priya", "Jonas", "Clara", "David", "Hannah",
               "Omar", "Sofia", "Peter", "Maya", "Lucas", "Elena", "Samuel", "Nora", "Felix", "Amara",
               "Daniel", "Rosa", "Viktor", "Grace", "Mateo", "Ruth", "Kenji", "Alice", "Ivan", "Zoe",
               "Bruno", "Lena", "Tariq", "Esther", "Niall", "Ingrid"]
SURNAMES = ["Field", "Marsh", "Okafor", "Lindqvist", "Moreau", "Patel", "Brennan", "Kowalski", "Haddad",
            "Nakamura", "Ferreira", "Holt", "Varga", "Sutherland", "Ibarra", "Dahl", "Mensah", "Quinn",
            "Rossi", "Whitaker", "Novak", "Castell", "Berg", "Delgado", "Fairweather", "Kaur", "Lowell",
            "Oyelaran", "Petrov", "Sato", "Tan", "Underwood", "Weller", "Ashdown", "Crane", "Eriksen"]

# Sentence templates. Slots: N singular noun phrase, Ns plural noun phrase, V 3rd-person verb,
# Vb base verb, Vd past verb, NOUN/NOUNS bare nouns, ROLE/ROLES people, others from the banks.
EN_TEMPLATES = [
    "{CONN}, {N} {V} {N} {TIME}.",
    "{N} {V} {N} {ADV}.",
    "{Ns} {Vb} {N} more {ADV} than {Ns} do.",
    "Most {ROLES} agree that {N} {V} {N}, although {Ns} rarely {Vb} {Ns}.",
    "When {N} {V} {N}, {Ns} tend to {Vb} {N} {ADV}.",
    "{NAME}, a {ROLE} from {PLACE}, {SAID} that {N} {Vd} {N} {TIME}.",
    "It is {EVAL} to {Vb} {N} before {Ns} {Vb} {Ns}.",
    "The {NOUN} {V} {N} only if {Ns} are {ADJ} enough.",
    "{CONN}, there are at least {NUMW} {ADJ} {NOUNS} that {Vb} {N} in {PLACE}.",
    "Why do {Ns} {Vb} {N} so {ADV}?",
    "{N} {Vd} {N} in {YEAR}, and {Ns} {Vd} {Ns} soon after.",
    "One {ADJ} {NOUN} is often enough to {Vb} {N}.",
    "{ROLES} often {Vb} {N} with {N} and {N}.",
    "{N} is {DEG} {ADJ}, which makes {N} {GADJ} for {ROLES}.",
    "If you {Vb} {N} {TIME}, {N} will {Vb} {N} {ADV}.",
    "{CONN}, {N} and {N} {Vb} {Ns} together.",
    "\"{N} {V} {N}, and {N} {V} {Ns},\" {SAID} {NAME}, who has worked with {NOUNS} for {NUMW} years.",
    "{Ns} {Vb} {N} because {N} {V} {N} {TIME}.",
    "Nobody expected {N} to {Vb} {N} in {PLACE}.",
    "The {ORD} {NOUN} {Vd} {N}, while the {ORD} {NOUN} {Vd} {Ns}.",
    "{N} {V} {N}; {LCONN}, {Ns} {Vb} {Ns}.",
    "Can {N} really {Vb} {N} without {N}?",
    "{ROLES} in {PLACE} {Vd} {Ns} {TIME}, and the results were {GADJ}.",
    "There is nothing {GADJ} about {N} that {V} {N}.",
    "{CONN}, {NAME} {Vd} {N} and {Vd} {Ns} {ADV}.",
    "According to {NAME}, {N} {V} {Ns} {TIME}.",
    "{N} {V} {N} {ADV}, but {N} {V} {N} {ADV}.",
    "Few {ROLES} would {Vb} {N} {TIME}, yet {Ns} {Vb} {Ns} {ADV}.",
    "What happens when {N} {V} {N}?",
    "{CONN}, it took {NUMW} weeks for {N} to {Vb} {N}.",
    "{N} {Vd} {N} in {PLACE}, which surprised {Ns}.",
    "Each {NOUN} {V} {N} in a {GADJ} way.",
    "{Ns} that {Vb} {Ns} usually {Vb} {N} as well.",
    "{NAME} {SAID} that {Ns} should {Vb} {N} {ADV}.",
    "{CONN}, the {NOUN} {Vd} {N} and the {NOUN} {Vd} {N}.",
    "This is why {ROLES} {Vb} {Ns} {TIME}.",
    "Even a {GADJ} {NOUN} can {Vb} {N} {ADV}!",
    "In {YEAR}, {ROLES} from {PLACE} {Vd} {NUMW} {ADJ} {NOUNS}.",
    "{N} needs {N}, and {N} needs {Ns}.",
    "The best way to {Vb} {N} is to {Vb} {N} {ADV}.",
    "{N} {V} {N}.",
    "{Ns} {Vd} {N} {TIME}.",
    "Ask any {ROLE} and you will hear that {N} {V} {Ns}.",
    "{CONN}, {Ns} near {PLACE} {Vd} {N} without any help.",
]
_SLOT_RE = re.compile(r"\{([A-Za-z]+)\}")


_COMPILED = [[(part, i % 2 == 1) for i, part in enumerate(_SLOT_RE.split(t)) if part] for t in EN_TEMPLATES]


class EnglishWriter:
    """Template English on one topic (see module docstring)."""

    def __init__(self, rng: random.Random, topic: str):
        self.rng = rng
        self.topic = topic
        t = TOPICS[topic]
        self.nouns = t["nouns"]
        self.verbs = t["verbs"]
        self.adjs = t["adjs"]
        self.roles = t["roles"]
        self.places = t["places"]
        self.heads = t["heads"]
        rand = rng.random
        self._rand = rand

        def pick(seq: list[str]):
            n = len(seq)
            return lambda: seq[int(rand() * n)]

        verbs3 = [third(v) for v in self.verbs]
        verbsd = [past(v) for v in self.verbs]
        self._plural_nouns = [plural(n) for n in self.nouns]
        self._slots = {
            "N": self.np, "Ns": self.nps, "V": pick(verbs3), "Vb": pick(self.verbs), "Vd": pick(verbsd),
            "NOUN": pick(self.nouns), "NOUNS": pick(self._plural_nouns),
            "ROLE": pick(self.roles), "ROLES": pick([plural(x) for x in self.roles]),
            "PLACE": pick(self.places), "NAME": self.name, "SAID": pick(SAID),
            "ADJ": self.adj, "GADJ": pick(GENERAL_ADJS), "EVAL": pick(EVAL_ADJS),
            "ADV": pick(ADVERBS), "DEG": pick(DEGREES),
            "CONN": pick(CONNECTIVES), "LCONN": pick(LATE_CONNECTIVES),
            "TIME": pick(TIMES), "NUMW": pick(NUMBER_WORDS),
            "ORD": pick(ORDINALS), "YEAR": lambda: str(1780 + int(rand() * 244)),
        }
        self._pick = pick
        self._det = pick(["the", "the", "the", "a", "a", "this", "every", "one", "that", "our", "their", "each"])
        self._dets = pick(["the", "the", "many", "some", "most", "these", "several", "few", "", "", "our", "those"])
        self._noun = pick(self.nouns)
        self._pnoun = pick(self._plural_nouns)
        self._tadj = pick(self.adjs)
        self._gadj = pick(GENERAL_ADJS)
        self._place = pick(self.places)
        self._first = pick(FIRST_NAMES)
        self._sur = pick(SURNAMES)
        self._tpl = pick(_COMPILED)

    def adj(self) -> str:
        return self._tadj() if self._rand() < 0.6 else self._gadj()

    def name(self) -> str:
        return f"{self._first()} {self._sur()}"

    def np(self) -> str:
        rand = self._rand
        core = self._noun()
        if rand() < 0.45:
            core = f"{self.adj()} {core}"
        x = rand()
        if x < 0.08:
            core += f" of {self._place()}"
        elif x < 0.14:
            core += f" near {self._place()}"
        return f"{self._det()} {core}"

    def nps(self) -> str:
        det = self._dets()
        core = self._pnoun()
        if self._rand() < 0.4:
            core = f"{self.adj()} {core}"
        return f"{det} {core}" if det else core

    def sentence(self) -> str:
        slots = self._slots
        s = "".join(slots[part]() if is_slot else part for part, is_slot in self._tpl())
        if " a " in s or s.startswith("A ") or '"A ' in s:
            s = _fix_articles(s)
        return cap(s)

    def paragraph(self, n_sentences: int) -> str:
        return " ".join([self.sentence() for _ in range(n_sentences)])

    def title(self) -> str:
        r = self.rng
        n1, n2 = r.sample(self.nouns, 2)
        form = r.randrange(8)
        if form == 0:
            t = f"How to {r.choice(self.verbs)} {plural(n1)} {r.choice(TIMES)}"
        elif form == 1:
            t = f"{cap(r.choice(NUMBER_WORDS))} {r.choice(self.adjs)} {plural(n1)} worth knowing about"
        elif form == 2:
            t = f"Why {plural(r.choice(self.roles))} {r.choice(self.verbs)} {plural(n1)}"
        elif form == 3:
            t = f"The {r.choice(self.adjs)} {n1} of {r.choice(self.places)}"
        elif form == 4:
            t = f"What we learned from a {r.choice(GENERAL_ADJS)} {n1}"
        elif form == 5:
            t = f"A guide to {r.choice(self.adjs)} {plural(n1)} and {plural(n2)}"
        elif form == 6:
            t = f"{self.name()} on {plural(n1)} and {plural(n2)}"
        else:
            t = f"{cap(plural(n1))}, {plural(n2)} and the {r.choice(GENERAL_ADJS)} season"
        return title_case(_fix_articles(t))

    def article(self, n_words: int, *, headings: bool = True) -> list[tuple[str, str]]:
        """Blocks ``("h2"|"p", text)`` with at least ``n_words`` words of paragraph text."""
        r = self.rng
        blocks: list[tuple[str, str]] = []
        words = 0
        heads = r.sample(self.heads, len(self.heads)) if headings and r.random() < 0.6 else []
        since_head = 0
        while words < n_words:
            if heads and since_head >= r.randint(2, 4):
                blocks.append(("h2", heads.pop()))
                since_head = 0
            p = self.paragraph(r.randint(3, 7))
            blocks.append(("p", p))
            words += len(p.split())
            since_head += 1
        return blocks


# ---------------------------------------------------------------------------------------------
# Small English banks for page furniture and low-quality kinds
# ---------------------------------------------------------------------------------------------

COMMENTS = [
    "Thanks for writing this up, it answered most of my questions.",
    "I tried this last spring and it worked better than I expected.",
    "Does anyone know whether the same approach works in a colder climate?",
    "Great read. I shared it with my brother, who has the same problem.",
    "I disagree with the second point, but the rest is very helpful.",
    "We visited last month and can confirm everything in this article.",
    "Could you write a follow-up with more detail on the costs?",
    "This brought back memories of my grandmother's stories.",
    "Very clear explanation, much better than the official guide.",
    "I would add that patience matters more than any tool.",
    "Bookmarked for later. The photos are lovely too.",
    "Is there a printable version of this anywhere?",
    "My experience was quite different, but I enjoyed reading yours.",
    "The part about the early years was new to me.",
    "Finally someone explains this without jargon!",
    "I have been doing this for ten years and still learned something.",
]
JS_WARNINGS = [
    "Please enable JavaScript in your browser to view the comments.",
    "You need to enable JavaScript to run this app.",
    "JavaScript is disabled in your browser, so some features may not work.",
    "This site requires JavaScript to display the interactive map.",
    "Turn on JavaScript to watch the embedded video player.",
]
SPAM_PRODUCTS = ["cheap flights", "discount watches", "car insurance quotes", "best running shoes",
                 "cheap hotel deals", "online payday loans", "designer handbags sale", "weight loss pills",
                 "free phone ringtones", "replica sunglasses", "cheap web hosting", "casino bonus codes"]
LOREM = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore "
         "et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip "
         "ex ea commodo consequat duis aute irure in reprehenderit voluptate velit esse cillum fugiat nulla "
         "pariatur excepteur sint occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim "
         "id est laborum").split()
ACCENTED = [
    "The café on the corner serves a crème brûlée that visitors remember for years.",
    "Its façade was restored by a naïve but talented apprentice from Zürich.",
    "Locals call the square the Plaza Mayor, and the señora at the kiosk sells jalapeño crisps.",
    "The old résumé of the château listed a pâtissier, a sommelier and a déjà vu of earlier owners.",
    "A tour of the Göteborg harbour costs £12, or about €14 at today's rate.",
]
CP1252_EXTRA = [
    "“It is a strange place,” the guide said – and then he laughed.",
    "The so‑called ‘quiet season’ lasts from November to March… or so they say.",
]


def lorem_paragraph(rng: random.Random, n_words: int) -> str:
    words = ["lorem", "ipsum"] + [rng.choice(LOREM) for _ in range(n_words - 2)]
    out, sent = [], []
    for w in words:
        sent.append(w)
        if len(sent) >= rng.randint(6, 14):
            out.append(cap(" ".join(sent)) + ".")
            sent = []
    if sent:
        out.append(cap(" ".join(sent)) + ".")
    return " ".join(out)


def code_snippet(rng: random.Random) -> str:
    name = rng.choice(["average", "totalPrice", "countWords", "parseDate", "clamp", "retryFetch", "sumSquares"])
    arg = rng.choice(["values", "items", "rows", "input", "data"])
    forms = [
        f"function {name}({arg}) {{\n  const total = {arg}.reduce((sum, x) => sum + x, 0);\n"
        f"  return total / {arg}.length;\n}}",
        f"int {name}(int *{arg}, int n) {{\n  int acc = 0;\n  for (int i = 0; i < n; i++) {{\n"
        f"    acc += {arg}[i] * {arg}[i];\n  }}\n  return acc;\n}}",
        f"const config = {{\n  retries: {rng.randint(2, 9)},\n  timeout: {rng.randint(10, 90) * 100},\n"
        f"  verbose: {rng.choice(['true', 'false'])}\n}};",
        f"if ({arg}.length === 0) {{\n  console.log(\"nothing to do\");\n}} else {{\n  {name}({arg});\n}}",
    ]
    return rng.choice(forms)


def inline_code_sentence(rng: random.Random) -> str:
    """A prose line carrying ``{`` that survives C4's line filters (so C4's bracket rule sees it)."""
    key = rng.choice(["retries", "timeout", "depth", "limit", "batch", "port"])
    val = rng.randint(2, 900)
    forms = [
        f"In our setup the options object is {{{key}: {val}}}, and nothing else needs to change.",
        f"The handler receives a payload such as {{\"{key}\": {val}}} and returns it unchanged.",
        f"Write the block as if (ready) {{ start({val}); }} so that the loop exits early.",
        f"Most readers will recognise the pattern {{{key}}} from the template engine we used before.",
    ]
    return rng.choice(forms)


# ---------------------------------------------------------------------------------------------
# Other languages (subjects x verb phrases x adverbials; enough for a language detector)
# ---------------------------------------------------------------------------------------------

LANG_BANKS: dict[str, dict[str, list[str]]] = {
    "de": {
        "subj": ["der alte Bauer", "die junge Lehrerin", "unser Nachbar", "das kleine Dorf", "die Regierung",
                 "der Koch", "meine Großmutter", "die Stadtverwaltung", "der Verein", "ein erfahrener Handwerker",
                 "die Familie", "der Bürgermeister", "die Studentin", "der Förster", "das Museum",
                 "die Bäckerei", "mein Bruder", "die Zeitung"],
        "verb": ["besucht", "repariert", "kocht", "schreibt", "pflanzt", "erklärt", "verkauft", "liest",
                 "baut", "findet", "beschreibt", "öffnet", "bezahlt", "organisiert", "sucht", "vergisst"],
        "obj": ["den Markt", "das Dach", "eine kräftige Suppe", "einen langen Brief", "neue Bäume",
                "die Regeln", "frisches Gemüse", "die Zeitung", "eine neue Brücke", "keine Lösung",
                "das Problem", "die Tür", "die Rechnung", "ein großes Fest", "den Schlüssel", "die Wahrheit",
                "das Wetter", "einen Ausflug"],
        "adv": ["am frühen Morgen", "jeden Sonntag", "im letzten Sommer", "trotz des schlechten Wetters",
                "nach der Arbeit", "mit großer Geduld", "in der Nähe des Bahnhofs", "seit vielen Jahren",
                "ohne Hilfe", "zum ersten Mal", "gegen Abend", "während der Ferien"],
        "conn": ["Deshalb", "Außerdem", "Trotzdem", "Danach", "Heute", "Manchmal", "Leider", "Natürlich",
                 "Später", "Zum Glück"],
        "because": ["weil"], "think": ["Viele Leute glauben, dass", "Niemand weiß genau, ob",
                                         "Es ist bekannt, dass", "Man sagt, dass"],
    },
    "fr": {
        "subj": ["le vieux boulanger", "la jeune enseignante", "notre voisin", "le petit village",
                 "le gouvernement", "le cuisinier", "ma grand-mère", "la mairie", "l'association",
                 "un artisan expérimenté", "la famille", "le maire", "l'étudiante", "le garde forestier",
                 "le musée", "la boulangerie", "mon frère", "le journal"],
        "vp": ["prépare le pain chaque matin", "répare le toit de la maison", "écrit une longue lettre",
               "plante de nouveaux arbres", "explique les règles du jeu", "vend des légumes frais",
               "lit le journal", "construit un nouveau pont", "ne trouve aucune solution",
               "décrit le problème", "ouvre la porte", "paie la facture", "organise une grande fête",
               "cherche la clé", "raconte une histoire étrange", "visite le marché"],
        "adv": ["pendant l'été", "après le travail", "avec beaucoup de patience", "près de la gare",
                "depuis plusieurs années", "sans aucune aide", "pour la première fois", "vers le soir",
                "pendant les vacances", "tous les dimanches", "malgré le mauvais temps", "au début du mois"],
        "conn": ["Ensuite,", "Cependant,", "Par ailleurs,", "En revanche,", "Aujourd'hui,", "Parfois,",
                 "Malheureusement,", "Bien sûr,", "Plus tard,", "Heureusement,"],
        "because": ["parce que", "puisque"], "think": ["Beaucoup de gens pensent que", "On dit que",
                                                     "Personne ne sait si", "Il est évident que"],
    },
    "es": {
        "subj": ["el viejo panadero", "la joven maestra", "nuestro vecino", "el pequeño pueblo", "el gobierno",
                 "el cocinero", "mi abuela", "el ayuntamiento", "la asociación", "un artesano experimentado",
                 "la familia", "el alcalde", "la estudiante", "el guardabosques", "el museo", "la panadería",
                 "mi hermano", "el periódico"],
        "vp": ["prepara el pan cada mañana", "repara el tejado de la casa", "escribe una carta larga",
               "planta nuevos árboles", "explica las reglas del juego", "vende verduras frescas",
               "lee el periódico", "construye un puente nuevo", "no encuentra ninguna solución",
               "describe el problema", "abre la puerta", "paga la cuenta", "organiza una gran fiesta",
               "busca la llave", "cuenta una historia extraña", "visita el mercado"],
        "adv": ["durante el verano", "después del trabajo", "con mucha paciencia", "cerca de la estación",
                "desde hace varios años", "sin ninguna ayuda", "por primera vez", "hacia la noche",
                "durante las vacaciones", "todos los domingos", "a pesar del mal tiempo", "a principios de mes"],
        "conn": ["Después,", "Sin embargo,", "Además,", "En cambio,", "Hoy,", "A veces,",
                 "Por desgracia,", "Por supuesto,", "Más tarde,", "Por suerte,"],
        "because": ["porque", "ya que"], "think": ["Mucha gente cree que", "Se dice que", "Nadie sabe si",
                                                  "Está claro que"],
    },
    "zh": {
        "subj": ["我的朋友", "这个城市", "老师", "我们的邻居", "很多年轻人", "那位医生", "我的父母", "这家公司",
                 "学校的学生", "村里的老人", "政府", "那个作家"],
        "vp": ["每天早上去公园散步", "正在学习新的技术", "喜欢在周末做饭", "决定明年去北方旅行", "认为这个问题很重要",
               "在河边种了很多树", "常常去图书馆看书", "开了一家小饭馆", "希望找到更好的工作", "写了一本关于历史的书",
               "把房子打扫得很干净", "觉得天气越来越冷了"],
        "adv": ["", "", "最近", "今年", "其实", "一直", "昨天", "现在"],
        "conn": ["", "", "但是", "所以", "因此", "另外", "后来", "而且", "不过", "同时"],
    },
    "ja": {
        "subj": ["私の友達は", "この町は", "先生は", "多くの学生は", "あの医者は", "私の両親は", "その会社は",
                 "村のお年寄りは", "隣の人は", "若い作家は", "駅の前の店は", "兄は"],
        "vp": ["毎朝公園を散歩します", "新しい技術を勉強しています", "週末に料理を作るのが好きです",
               "来年北の町へ旅行するつもりです", "この問題はとても大切だと思っています", "川の近くにたくさんの木を植えました",
               "よく図書館で本を読みます", "小さな食堂を開きました", "もっと良い仕事を探しています",
               "歴史についての本を書きました", "部屋をきれいに掃除しました", "だんだん寒くなってきたと感じています"],
        "adv": ["", "", "最近、", "今年は", "実は", "ずっと", "昨日", "今は"],
        "conn": ["", "", "しかし、", "そして、", "それから、", "だから、", "また、", "ところで、"],
    },
}


def foreign_sentence(rng: random.Random, lang: str) -> str:
    b = LANG_BANKS[lang]
    if lang in ("zh", "ja"):
        return f"{rng.choice(b['conn'])}{rng.choice(b['adv'])}{rng.choice(b['subj'])}{rng.choice(b['vp'])}。"
    if lang == "de":
        s, v, o, a = rng.choice(b["subj"]), rng.choice(b["verb"]), rng.choice(b["obj"]), rng.choice(b["adv"])
        form = rng.randrange(4)
        if form == 0:
            return cap(f"{s} {v} {a} {o}.")
        if form == 1:
            return f"{rng.choice(b['conn'])} {v} {s} {o} {a}."
        if form == 2:
            s2, v2, o2 = rng.choice(b["subj"]), rng.choice(b["verb"]), rng.choice(b["obj"])
            return cap(f"{s} {v} {o}, weil {s2} {o2} {v2}.")
        return f"{rng.choice(b['think'])} {s} {a} {o} {v}."
    s, vp, a = rng.choice(b["subj"]), rng.choice(b["vp"]), rng.choice(b["adv"])
    form = rng.randrange(4)
    if form == 0:
        return cap(f"{s} {vp} {a}.")
    if form == 1:
        return f"{rng.choice(b['conn'])} {s} {vp}."
    if form == 2:
        return cap(f"{s} {vp} {a}, {rng.choice(b['because'])} {rng.choice(b['subj'])} {rng.choice(b['vp'])}.")
    return f"{rng.choice(b['think'])} {s} {vp} {a}."


def foreign_paragraph(rng: random.Random, lang: str, n_sentences: int) -> str:
    sep = "" if lang in ("zh", "ja") else " "
    return sep.join(foreign_sentence(rng, lang) for _ in range(n_sentences))


FOREIGN_TITLES = {
    "de": ["Ein Sommer auf dem Land", "Neues aus der Stadt", "Erinnerungen an das alte Dorf",
           "Der Markt am Sonntag", "Gedanken über die Arbeit", "Eine Reise in den Norden"],
    "fr": ["Un été à la campagne", "Nouvelles de la ville", "Souvenirs du vieux village",
           "Le marché du dimanche", "Réflexions sur le travail", "Un voyage vers le nord"],
    "es": ["Un verano en el campo", "Noticias de la ciudad", "Recuerdos del viejo pueblo",
           "El mercado del domingo", "Reflexiones sobre el trabajo", "Un viaje hacia el norte"],
    "zh": ["乡下的夏天", "城市新闻", "关于老村子的回忆", "星期天的市场", "关于工作的想法", "去北方的旅行"],
    "ja": ["田舎の夏", "町のニュース", "古い村の思い出", "日曜日の市場", "仕事についての考え", "北への旅"],
}
CHROME_WORDS = {
    "en": {"home": "Home", "about": "About us", "contact": "Contact", "rights": "All rights reserved.",
           "privacy": "Privacy Policy", "terms": "Terms of Use", "related": "Related articles",
           "popular": "Popular posts", "share": "Share this:", "comments": "comments",
           "cookie": "We use cookies to improve your experience. By continuing to browse you accept our "
                     "cookie policy.", "accept": "Accept", "subscribe": "Subscribe to our newsletter",
           "by": "By", "search": "Search"},
    "de": {"home": "Startseite", "about": "Über uns", "contact": "Kontakt", "rights": "Alle Rechte vorbehalten.",
           "privacy": "Datenschutz", "terms": "Impressum", "related": "Ähnliche Artikel",
           "popular": "Beliebte Beiträge", "share": "Teilen:", "comments": "Kommentare",
           "cookie": "Wir verwenden Cookies, um Ihnen ein besseres Erlebnis zu bieten.", "accept": "Akzeptieren",
           "subscribe": "Newsletter abonnieren", "by": "Von", "search": "Suche"},
    "fr": {"home": "Accueil", "about": "À propos", "contact": "Contact", "rights": "Tous droits réservés.",
           "privacy": "Confidentialité", "terms": "Mentions légales", "related": "Articles similaires",
           "popular": "Articles populaires", "share": "Partager :", "comments": "commentaires",
           "cookie": "Nous utilisons des cookies pour améliorer votre expérience.", "accept": "Accepter",
           "subscribe": "Abonnez-vous à la lettre", "by": "Par", "search": "Rechercher"},
    "es": {"home": "Inicio", "about": "Quiénes somos", "contact": "Contacto",
           "rights": "Todos los derechos reservados.", "privacy": "Privacidad", "terms": "Aviso legal",
           "related": "Artículos relacionados", "popular": "Lo más leído", "share": "Compartir:",
           "comments": "comentarios", "cookie": "Usamos cookies para mejorar su experiencia.",
           "accept": "Aceptar", "subscribe": "Suscríbase al boletín", "by": "Por", "search": "Buscar"},
    "zh": {"home": "首页", "about": "关于我们", "contact": "联系", "rights": "版权所有。", "privacy": "隐私政策",
           "terms": "使用条款", "related": "相关文章", "popular": "热门文章", "share": "分享：", "comments": "评论",
           "cookie": "本网站使用Cookie。", "accept": "接受", "subscribe": "订阅", "by": "作者", "search": "搜索"},
    "ja": {"home": "ホーム", "about": "私たちについて", "contact": "お問い合わせ", "rights": "無断転載を禁じます。",
           "privacy": "プライバシー", "terms": "利用規約", "related": "関連記事", "popular": "人気の記事",
           "share": "共有：", "comments": "コメント", "cookie": "このサイトはクッキーを使用しています。",
           "accept": "同意する", "subscribe": "購読する", "by": "著者", "search": "検索"},
}


# ---------------------------------------------------------------------------------------------
# TeX subset -> MathML / plain text (for MathML and KaTeX markup of generated formulas)
# ---------------------------------------------------------------------------------------------

_TEX_TOKEN = re.compile(r"\\[A-Za-z]+|\\[,;! {}]|\\\\|[0-9]+(?:\.[0-9]+)?|[A-Za-z]|\S")
_SYMBOLS = {  # tex -> (mathml element, unicode)
    "\\pi": ("mi", "π"), "\\alpha": ("mi", "α"), "\\beta": ("mi", "β"), "\\theta": ("mi", "θ"),
    "\\lambda": ("mi", "λ"), "\\varepsilon": ("mi", "ε"), "\\epsilon": ("mi", "ϵ"), "\\delta": ("mi", "δ"),
    "\\infty": ("mi", "∞"), "\\pm": ("mo", "±"), "\\cdot": ("mo", "⋅"), "\\times": ("mo", "×"),
    "\\le": ("mo", "≤"), "\\leq": ("mo", "≤"), "\\ge": ("mo", "≥"), "\\geq": ("mo", "≥"),
    "\\ne": ("mo", "≠"), "\\neq": ("mo", "≠"), "\\equiv": ("mo", "≡"), "\\to": ("mo", "→"),
    "\\in": ("mo", "∈"), "\\mid": ("mo", "∣"), "\\ldots": ("mo", "…"), "\\cdots": ("mo", "⋯"),
    "\\Rightarrow": ("mo", "⇒"), "\\iff": ("mo", "⟺"), "\\approx": ("mo", "≈"), "\\{": ("mo", "{"),
    "\\}": ("mo", "}"), "\\sum": ("mo", "∑"), "\\prod": ("mo", "∏"), "\\int": ("mo", "∫"),
    "\\partial": ("mi", "∂"), "\\nmid": ("mo", "∤"),
}
_FUNCS = {"\\sin", "\\cos", "\\tan", "\\log", "\\ln", "\\exp", "\\det", "\\gcd", "\\lim", "\\max", "\\min"}
_BIG = {"\\sum", "\\prod", "\\lim"}


class _TexParser:
    def __init__(self, tex: str):
        self.toks = _TEX_TOKEN.findall(tex)
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        t = self.toks[self.i]
        self.i += 1
        return t

    def row(self, stops: tuple[str, ...] = ()) -> list:
        items = []
        while self.peek() is not None and self.peek() not in stops:
            items.append(self.script(self.atom()))
        return items

    def group(self) -> tuple:
        if self.peek() == "{":
            self.take()
            items = self.row(("}",))
            if self.peek() == "}":
                self.take()
            return ("row", items)
        return self.atom()

    def script(self, base: tuple) -> tuple:
        sub = sup = None
        while self.peek() in ("_", "^"):
            op = self.take()
            g = self.group()
            if op == "_":
                sub = g
            else:
                sup = g
        if sub is None and sup is None:
            return base
        return ("script", base, sub, sup)

    def atom(self) -> tuple:
        t = self.take()
        if t == "{":
            items = self.row(("}",))
            if self.peek() == "}":
                self.take()
            return ("row", items)
        if t in ("\\frac", "\\dfrac", "\\tfrac"):
            return ("frac", self.group(), self.group())
        if t == "\\binom":
            return ("binom", self.group(), self.group())
        if t == "\\sqrt":
            return ("sqrt", self.group())
        if t == "\\pmod":
            return ("pmod", self.group())
        if t in ("\\mathbb", "\\mathrm", "\\text", "\\operatorname"):
            g = self.group()
            return ("bb" if t == "\\mathbb" else "text", g)
        if t == "\\begin":
            self.group()
            rows, cells = [], []
            while self.peek() is not None and self.peek() != "\\end":
                cells.append(("row", self.row(("&", "\\\\", "\\end"))))
                sep = self.peek()
                if sep == "&":
                    self.take()
                elif sep == "\\\\":
                    self.take()
                    rows.append(cells)
                    cells = []
            if cells:
                rows.append(cells)
            if self.peek() == "\\end":
                self.take()
                self.group()
            return ("matrix", rows)
        if t in ("\\left", "\\right"):
            return ("op", self.take() if self.peek() else "")
        if t in ("\\,", "\\;", "\\!", "\\ "):
            return ("space",)
        if t in _FUNCS:
            return ("fn", t[1:])
        if t in _SYMBOLS:
            kind, uni = _SYMBOLS[t]
            return ("big" if t in _BIG else kind, uni) if kind == "mo" else (kind, uni)
        if t[0].isdigit():
            return ("mn", t)
        if t.isalpha():
            return ("mi", t)
        if t.startswith("\\"):
            return ("mi", t[1:])
        return ("mo", t)


def _ml(node: tuple) -> str:
    k = node[0]
    if k == "row":
        inner = "".join(_ml(n) for n in node[1])
        return inner if len(node[1]) == 1 else f"<mrow>{inner}</mrow>"
    if k in ("mi", "mn", "mo"):
        return f"<{k}>{escape(node[1])}</{k}>"
    if k == "big":
        return f"<mo>{node[1]}</mo>"
    if k == "fn":
        return f"<mi>{node[1]}</mi>"
    if k == "op":
        return f"<mo>{escape(node[1])}</mo>"
    if k == "space":
        return '<mspace width="0.167em"></mspace>'
    if k == "frac":
        return f"<mfrac>{_ml(node[1])}{_ml(node[2])}</mfrac>"
    if k == "binom":
        return f'<mrow><mo>(</mo><mfrac linethickness="0">{_ml(node[1])}{_ml(node[2])}</mfrac><mo>)</mo></mrow>'
    if k == "sqrt":
        return f"<msqrt>{_ml(node[1])}</msqrt>"
    if k == "pmod":
        return f'<mrow><mo>(</mo><mi>mod</mi><mspace width="0.333em"></mspace>{_ml(node[1])}<mo>)</mo></mrow>'
    if k == "bb":
        return f'<mi mathvariant="double-struck">{_text(node[1])}</mi>'
    if k == "text":
        return f"<mtext>{escape(_text(node[1]))}</mtext>"
    if k == "matrix":
        rows = "".join("<mtr>" + "".join(f"<mtd>{_ml(c)}</mtd>" for c in r) + "</mtr>" for r in node[1])
        return f"<mrow><mo>(</mo><mtable>{rows}</mtable><mo>)</mo></mrow>"
    if k == "script":
        base, sub, sup = node[1], node[2], node[3]
        under = base[0] == "big" and base[1] in ("∑", "∏") or base == ("fn", "lim")
        b = _ml(base)
        if sub is not None and sup is not None:
            tag = "munderover" if under else "msubsup"
            return f"<{tag}>{b}{_ml(sub)}{_ml(sup)}</{tag}>"
        if sub is not None:
            tag = "munder" if under else "msub"
            return f"<{tag}>{b}{_ml(sub)}</{tag}>"
        return f"<msup>{b}{_ml(sup)}</msup>"
    raise ValueError(f"unknown TeX node {k!r}")


def _text(node: tuple) -> str:
    k = node[0]
    if k == "row":
        return "".join(_text(n) for n in node[1])
    if k in ("mi", "mn", "mo", "big", "fn", "op"):
        return node[1]
    if k == "space":
        return " "
    if k in ("frac", "binom"):
        return _text(node[1]) + _text(node[2])
    if k in ("sqrt", "bb", "text"):
        return ("√" if k == "sqrt" else "") + _text(node[1])
    if k == "pmod":
        return "(mod " + _text(node[1]) + ")"
    if k == "matrix":
        return " ".join(_text(c) for r in node[1] for c in r)
    if k == "script":
        return _text(node[1]) + "".join(_text(x) for x in node[2:] if x is not None)
    raise ValueError(f"unknown TeX node {k!r}")


def tex_to_mathml(tex: str, display: bool = False) -> str:
    """MathML for the TeX subset used by the generator (fractions, scripts, roots, matrices, ...)."""
    tree = ("row", _TexParser(tex).row())
    mode = "block" if display else "inline"
    return f'<math xmlns="http://www.w3.org/1998/Math/MathML" display="{mode}">{_ml(tree)}</math>'


def tex_to_text(tex: str) -> str:
    """The flattened text a renderer's visual HTML would show (as KaTeX's ``katex-html`` does)."""
    return _text(("row", _TexParser(tex).row()))


# ---------------------------------------------------------------------------------------------
# Math prose. A paragraph is a list of segments: str, or ("m", tex, display).
# ---------------------------------------------------------------------------------------------

MATH_FILLER = [
    "The same argument works for every positive integer, as long as the base case holds.",
    "It is worth checking the small cases by hand before trusting the general formula.",
    "Note that we never used the assumption that the terms are positive.",
    "This is the standard trick, and it appears in almost every textbook on the subject.",
    "A picture helps here: draw the region and compare the areas of the rectangles.",
    "I think the cleanest way to see this is to split the problem into two cases.",
    "Students often forget the constant of integration at this step.",
    "The converse is false, and a simple counterexample shows why.",
    "If you prefer a combinatorial proof, count the same set in two different ways.",
    "The bound is sharp, since equality holds for the example above.",
    "One can also prove this by induction, although the computation is longer.",
    "This completes the proof.",
    "Thanks, that makes sense now, I was missing the substitution.",
    "The key observation is that the expression factors nicely.",
    "We will need this identity again in the next lecture.",
    "Compare this with the continuous version of the same statement.",
]


def _m(tex: str, display: bool = False) -> tuple[str, str, bool]:
    return ("m", tex, display)


def math_topic(rng: random.Random) -> tuple[str, list[str], list[list]]:
    """One generated math exposition: ``(title, tags, paragraphs)``."""
    k = rng.randrange(10)
    r = rng
    if k == 0:
        p = r.choice((1, 2, 3))
        closed = {1: "\\frac{n(n+1)}{2}", 2: "\\frac{n(n+1)(2n+1)}{6}", 3: "\\left(\\frac{n(n+1)}{2}\\right)^2"}[p]
        n = r.randint(5, 30)
        val = {1: n * (n + 1) // 2, 2: n * (n + 1) * (2 * n + 1) // 6, 3: (n * (n + 1) // 2) ** 2}[p]
        title = f"Closed form for the sum of the first n {['', '', 'squares', 'cubes'][p] or 'integers'}"
        paras = [
            ["We want to show that for every positive integer ", _m("n"), " the identity ",
             _m(f"\\sum_{{k=1}}^{{n}} k^{{{p}}} = {closed}", True), " holds."],
            ["For ", _m("n = 1"), " both sides equal ", _m("1"), ", so the base case is true. Assume the "
             "identity for ", _m("n"), " and add ", _m(f"(n+1)^{{{p}}}"), " to both sides."],
            ["After simplifying, the right hand side becomes the same expression with ", _m("n+1"),
             " in place of ", _m("n"), ", which completes the induction step."],
            ["As a check, for ", _m(f"n = {n}"), " the formula gives ", _m(f"\\sum_{{k=1}}^{{{n}}} k^{{{p}}} = {val}"),
             ", which agrees with a direct computation."],
        ]
        return title, ["sequences-and-series", "induction"], paras
    if k == 1:
        p, a = r.randint(2, 6), r.randint(2, 9)
        title = f"Evaluating the integral of x^{p} from 0 to {a}"
        paras = [
            ["How do I evaluate ", _m(f"\\int_0^{{{a}}} x^{{{p}}}\\,dx"), " without a calculator? I know the "
             "power rule but I keep getting the wrong constant."],
            ["By the power rule an antiderivative of ", _m(f"x^{{{p}}}"), " is ",
             _m(f"\\frac{{x^{{{p + 1}}}}}{{{p + 1}}}"),
             ", so by the fundamental theorem of calculus ",
             _m(f"\\int_0^{{{a}}} x^{{{p}}}\\,dx = \\frac{{{a}^{{{p + 1}}}}}{{{p + 1}}}", True)],
            ["More generally ", _m("\\int_0^1 f(x)\\,dx"), " is the limit of the Riemann sums ",
             _m("\\frac{1}{n}\\sum_{k=1}^{n} f\\left(\\frac{k}{n}\\right)"), " for any continuous ", _m("f"), "."],
        ]
        return title, ["calculus", "integration"], paras
    if k == 2:
        m, n = sorted(r.sample(range(1, 9), 2), reverse=True)
        a, b, c = m * m - n * n, 2 * m * n, m * m + n * n
        title = f"Why {a}, {b} and {c} form a Pythagorean triple"
        paras = [
            ["A Pythagorean triple is a triple of positive integers with ", _m("x^2+y^2=z^2", True)],
            ["Every primitive triple arises from integers ", _m("m > n > 0"), " as ",
             _m("x = m^2-n^2"), ", ", _m("y = 2mn"), " and ", _m("z = m^2+n^2"), "."],
            ["Taking ", _m(f"m = {m}"), " and ", _m(f"n = {n}"), " we get ", _m(f"{a}^2 + {b}^2 = {c}^2"),
             ", and indeed ", _m(f"{a * a} + {b * b} = {c * c}"), "."],
            ["The identity ", _m("(m^2-n^2)^2 + (2mn)^2 = (m^2+n^2)^2"), " is checked by expanding both sides."],
        ]
        return title, ["number-theory", "geometry"], paras
    if k == 3:
        q = r.choice((2, 3, 5, 7, 11, 13))
        title = f"The square root of {q} is irrational"
        paras = [
            ["Suppose, for a contradiction, that ", _m(f"\\sqrt{{{q}}} = \\frac{{a}}{{b}}"), " with integers ",
             _m("a"), " and ", _m("b"), " that have no common factor."],
            ["Squaring gives ", _m(f"a^2 = {q} b^2", True), " so ", _m(str(q)), " divides ", _m("a^2"),
             " and, because it is prime, it divides ", _m("a"), "."],
            ["Writing ", _m("a = " + str(q) + "c"), " we find ", _m(f"b^2 = {q} c^2"), ", so ", _m(str(q)),
             " divides ", _m("b"), " as well, which contradicts ", _m("\\gcd(a,b) = 1"), "."],
        ]
        return title, ["number-theory", "proof-writing"], paras
    if k == 4:
        a, b, c, d = (r.randint(-9, 9) for _ in range(4))
        if a * d - b * c == 0:
            d += 1
        det = a * d - b * c
        title = "Inverse of a two by two matrix"
        paras = [
            ["Let ", _m(f"A = \\begin{{pmatrix}} {a} & {b} \\\\ {c} & {d} \\end{{pmatrix}}"),
             ". Its determinant is ", _m(f"\\det A = ({a})({d}) - ({b})({c}) = {det}"), "."],
            ["Since the determinant is not zero, ", _m("A"), " is invertible and ",
             _m(f"A^{{-1}} = \\frac{{1}}{{{det}}} "
                f"\\begin{{pmatrix}} {d} & {-b} \\\\ {-c} & {a} \\end{{pmatrix}}", True)],
            ["In general ", _m("\\det\\begin{pmatrix} a & b \\\\ c & d \\end{pmatrix} = ad - bc"),
             " and the inverse exists exactly when ", _m("ad - bc \\neq 0"), "."],
        ]
        return title, ["linear-algebra", "matrices"], paras
    if k == 5:
        a, b, c = r.randint(1, 5), r.randint(-12, 12), r.randint(-9, 9)
        disc = b * b - 4 * a * c
        title = f"Solving {a}x^2 + {b}x + {c} = 0 with the quadratic formula"
        paras = [
            ["The roots of ", _m("ax^2+bx+c=0"), " with ", _m("a \\neq 0"), " are ",
             _m("x = \\frac{-b \\pm \\sqrt{b^2-4ac}}{2a}", True)],
            ["Here ", _m(f"a = {a}"), ", ", _m(f"b = {b}"), " and ", _m(f"c = {c}"), ", so the discriminant is ",
             _m(f"b^2-4ac = {disc}"), "."],
            ["Because the discriminant is " + ("positive" if disc > 0 else "zero" if disc == 0 else "negative")
             + ", the equation has " + ("two real roots." if disc > 0 else "one double root." if disc == 0
                                         else "no real roots but two complex conjugate roots.")],
        ]
        return title, ["algebra", "polynomials"], paras
    if k == 6:
        q = r.randint(2, 9)
        title = f"Sum of the geometric series with ratio 1/{q}"
        paras = [
            ["For ", _m("|r| < 1"), " the geometric series converges and ",
             _m("\\sum_{k=0}^{\\infty} r^k = \\frac{1}{1-r}", True)],
            ["With ", _m(f"r = \\frac{{1}}{{{q}}}"), " this gives ",
             _m(f"\\sum_{{k=0}}^{{\\infty}} \\frac{{1}}{{{q}^k}} = \\frac{{{q}}}{{{q - 1}}}"), "."],
            ["The partial sums satisfy ", _m("S_n = \\frac{1-r^{n+1}}{1-r}"), ", and ", _m("r^{n+1} \\to 0"),
             " as ", _m("n \\to \\infty"), "."],
        ]
        return title, ["sequences-and-series", "convergence"], paras
    if k == 7:
        n = r.randint(2, 9)
        title = f"Derivative of x^{n} from the definition"
        paras = [
            ["By definition ", _m("f'(x) = \\lim_{h \\to 0} \\frac{f(x+h)-f(x)}{h}", True)],
            ["For ", _m(f"f(x) = x^{{{n}}}"), " the binomial theorem gives ",
             _m(f"(x+h)^{{{n}}} = x^{{{n}}} + {n}x^{{{n - 1}}}h + \\ldots"), ", so ",
             _m(f"f'(x) = {n}x^{{{n - 1}}}"), "."],
            ["A related classical limit is ", _m("\\lim_{x \\to 0} \\frac{\\sin x}{x} = 1"),
             ", which is usually proved with a geometric argument."],
        ]
        return title, ["calculus", "derivatives"], paras
    if k == 8:
        n = r.randint(3, 8)
        title = f"Expanding (a+b)^{n} with the binomial theorem"
        paras = [
            ["The binomial theorem states that ", _m("(a+b)^n = \\sum_{k=0}^{n} \\binom{n}{k} a^k b^{n-k}", True)],
            ["For ", _m(f"n = {n}"), " the coefficients are the entries of row ", _m(str(n)),
             " of the triangle, and their sum is ", _m(f"2^{{{n}}} = {2 ** n}"), "."],
            ["Setting ", _m("a = b = 1"), " gives the identity ", _m("\\sum_{k=0}^{n} \\binom{n}{k} = 2^n"), "."],
        ]
        return title, ["combinatorics", "binomial-coefficients"], paras
    p = r.choice((5, 7, 11, 13, 17, 19, 23))
    a = r.randint(2, p - 1)
    title = f"Computing {a}^{p - 1} modulo {p} with Fermat's little theorem"
    paras = [
        ["If ", _m("p"), " is prime and ", _m("p \\nmid a"), " then ", _m("a^{p-1} \\equiv 1 \\pmod{p}", True)],
        ["Therefore ", _m(f"{a}^{{{p - 1}}} \\equiv 1 \\pmod{{{p}}}"), " without any long computation, and ",
         _m(f"{a}^{{{p}}} \\equiv {a} \\pmod{{{p}}}"), "."],
        ["The proof multiplies the residues ", _m("1, 2, \\ldots, p-1"), " by ", _m("a"),
         " and observes that this only permutes them."],
    ]
    return title, ["number-theory", "modular-arithmetic"], paras
