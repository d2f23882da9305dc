"""Names as they are written in questions and answers, and a guess at what they name. Pure.

:mod:`retrieval.lexical` finds the capitalised runs that search needs ("York" of "a New York
court", since "new" is a stopword there); follow-up resolution needs whole names ("New York",
"E. Jean Carroll", "Phantom of the Opera"), whether a name is a place ("India", from
``data/places.txt``) or looks like a person ("Biden", not "Eiffel Tower"), and names without
their titles ("House Speaker Kevin McCarthy" → "Kevin McCarthy").
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from retrieval.lexical import STOPWORDS

#: Words before a name that are not part of it ("House Speaker Kevin McCarthy").
TITLES = frozenset("""
    mr mrs ms dr prof sir dame lord lady president vice prime minister foreign finance defense
    secretary senator sen rep representative governor gov mayor general chancellor king queen
    prince princess pope ambassador chief judge justice spokesman spokeswoman house speaker
    founder ceo chairman chairwoman coach leader mp star actor actress singer rapper former
    """.split())
#: Words that make a name an organisation or a thing rather than a person.
NOT_PERSON = {"tower", "college", "university", "park", "league", "company", "inc", "party",
               "court", "council", "senate", "house", "congress", "parliament", "assembly",
               "union", "bank", "fund", "group", "department", "ministry", "agency", "museum",
               "festival", "summit", "mall", "airport", "station", "bridge", "river", "lake"}
CALENDAR = frozenset("""monday tuesday wednesday thursday friday saturday sunday january february
    march april may june july august september october november december""".split())
#: Single words that name a people, not a person: "European", "Ukrainian", "Chinese".
DEMONYM = ("ian", "ean", "ese", "ish", "ic")
NAME_RUN = re.compile(
    r"(?:[A-Z][a-z]{0,2}\.|[A-Z][\w’'\-]*)"
    r"(?:\s+(?:(?:of|de|van|von|al|bin|la)(?:\s+the)?\s+)?(?:[A-Z][a-z]{0,2}\.|[A-Z][\w’'\-]*))*"
)


@cache
def _places() -> frozenset[str]:
    lines = resources.files("retrieval").joinpath("data/places.txt").read_text("utf-8")
    return frozenset(line.strip() for line in lines.splitlines() if line and not line.startswith("#"))


def bare(phrase: str) -> str:
    return re.sub(r"^(?:the|a|an)\s+", "", phrase.strip(" ?.,!"), flags=re.I)


def is_place(phrase: str) -> bool:
    """True for a country, US state, region or big city ("the United States", "India")."""
    return bare(phrase).lower().replace("’", "'") in _places()


def is_person(name: str) -> bool:
    """A guess from the name alone: not a place, an acronym ("FTX"), a demonym ("European"),
    an organisation or a thing ("Eiffel Tower", "Wheel of Fortune")."""
    words = [w.lower().strip(".,'’") for w in name.split()]
    if not words or is_place(name) or name.isupper() or set(words) & (NOT_PERSON | {"of", "the"}):
        return False
    return not (len(words) == 1 and words[0].endswith(DEMONYM))


def clean_name(name: str) -> str:
    """"Pakistan's Foreign Minister Shah Mehmood Qureshi" → "Shah Mehmood Qureshi", "Ghana's"
    → "Ghana"; "" when only titles are left ("Wyoming Rep.")."""
    name = re.split(r"['’]s\s+", name)[-1]
    name = re.sub(r"['’]s?$", "", name)
    words = name.split()
    titles = [i for i, w in enumerate(words) if w.lower().strip(".") in TITLES]
    if titles and titles[-1] < len(words) - 1:
        words = words[titles[-1] + 1 :]
    elif titles and all(i in titles or is_place(w) or w.lower().endswith(DEMONYM)
                        for i, w in enumerate(words)):
        return ""  # "Wyoming Rep.": no name after the title ("Aaron Judge" stays whole)
    return " ".join(words)


def whole_names(text: str) -> list[str]:
    """Capitalised runs of ``text`` without a leading stopword ("Eiffel Tower", "E. Jean
    Carroll", "Phantom of the Opera", "New York"): lexical.names keeps runs that search needs,
    this keeps whole names."""
    found = []
    for match in NAME_RUN.finditer(text):
        words = match.group(0).split()
        while words and words[0].lower().strip(".") in STOPWORDS - {"new"}:
            words = words[1:]
        if words and not (len(words) == 1 and words[0].lower() in CALENDAR):
            found.append(" ".join(words))
    return found
