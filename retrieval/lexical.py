"""Query analysis for the lexical side: terms, names and the FTS5 MATCH expression. Pure."""

from __future__ import annotations

import re

STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each few for from further had hadn't has hasn't have haven't
    having he he'd he'll he's her here here's hers herself him himself his how how's i i'd i'll
    i'm i've if in into is isn't it it's its itself let's me more most mustn't my myself no nor
    not of off on once only or other ought our ours ourselves out over own same shan't she she'd
    she'll she's should shouldn't so some such than that that's the their theirs them themselves
    then there there's these they they'd they'll they're they've this those through to too under
    until up very was wasn't we we'd we'll we're we've were weren't what what's when when's where
    where's which while who who's whom why why's with won't would wouldn't you you'd you'll you're
    you've your yours yourself yourselves
    say says said tell told think thinks week weeks recently recent new news latest last year
    according reportedly per week's today yesterday
    """.split()
)

_TOKEN = re.compile(r"[\w][\w'’\-]*", re.UNICODE)
_NAME = re.compile(r"\b([A-Z][\w’'\-]+(?:\s+(?:[A-Z][\w’'\-]+|of|de|van|von|al|bin|la))*)")


def terms(text: str) -> list[str]:
    """Lower-cased content words of ``text``, in order, without stopwords or duplicates."""
    seen: dict[str, None] = {}
    for token in _TOKEN.findall(text.lower()):
        token = token.replace("’", "'").strip("'-")
        if token.endswith("'s"):
            token = token[:-2]
        if len(token) < 2 or token in STOPWORDS:
            continue
        seen.setdefault(token, None)
    return list(seen)


def match_expression(text: str) -> str:
    """An FTS5 query that ORs the question's content words (each quoted: no syntax errors)."""
    words = []
    for term in terms(text):
        for part in re.split(r"[^\w]+", term):
            if part and part not in STOPWORDS:
                words.append(f'"{part}"')
    return " OR ".join(dict.fromkeys(words))


def names(text: str) -> list[str]:
    """Capitalised word runs that look like names ("Shah Mehmood Qureshi", "Afghanistan").

    The first word of the question is skipped when it is a question word.
    """
    found = []
    for match in _NAME.finditer(text):
        name = match.group(1)
        words = name.split()
        while words and words[0].lower() in STOPWORDS:
            words = words[1:]
        if words:
            found.append(" ".join(words))
    return found
