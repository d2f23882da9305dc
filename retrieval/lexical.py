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


#: Most index rows one lexical query should score. FTS5 ranks by scoring every row that matches
#: any phrase of an OR query before it applies LIMIT, at a few µs a row, so a question made of
#: words most news chunks hold costs ~1 s at 1M chunks (benchmarks/bench_lexical.py). Below
#: this many matches (every question on an index of up to ~10k chunks) nothing changes.
SCAN_BUDGET = 10_000


def phrases(match: str) -> list[str]:
    """The quoted phrases of a :func:`match_expression` (``'"a" OR "b"'`` → ``['"a"', '"b"']``)."""
    return [p for p in match.split(" OR ") if p] if match else []


def narrowed(match: str, frequency: dict[str, int], budget: int | None = None) -> str:
    """``match`` cut down to the phrases worth scanning, given each phrase's document frequency.

    The rarest phrases are kept while their frequencies add up to at most ``budget`` (the rarest
    one always; words no row holds are left out): the rows that hold none of them only hold words that are everywhere, whose
    inverse document frequency is close to zero, so they rarely rank. The dropped phrases also
    no longer add to the score of the rows kept. When even the rarest phrase is over budget,
    rows must hold every phrase (AND): for "What did the president say about the economy?"
    the passages with both words. ``match`` itself is returned when it all fits. ``budget``
    defaults to :data:`SCAN_BUDGET`.
    """
    budget = SCAN_BUDGET if budget is None else budget
    parts = phrases(match)
    present = [p for p in parts if frequency.get(p, 0)]  # the others match no row
    kept, total = set(), 0
    for p in sorted(present, key=lambda p: frequency[p]):
        if kept and total + frequency[p] > budget:
            break
        kept.add(p)
        total += frequency[p]
    if len(kept) == len(present):
        return match
    if total > budget:  # the rarest word alone is over budget: all of them, together
        return " AND ".join(present)
    return " OR ".join(p for p in present if p in kept)

#: Document frequencies are only used to choose the phrases to scan (FTS5 computes the scores),
#: so a count may be this many ingests old; ``Store.document_frequency`` is always current.
STALE_GENERATIONS = 50
#: Phrases whose frequency is kept (a few MB); past this the cache starts over.
FREQUENCY_CACHE = 50_000
