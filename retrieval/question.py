"""A question, analysed once: what every later stage needs from its text. Pure.

The engine builds one :class:`Question` at the top of ``search`` and ``ask`` and hands it down
to lexical search, fusion, sentence features, abstention and attribution, so the text is
tokenised and parsed in one place instead of once per stage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cached_property

from retrieval.attribution import SpeakerQuestion, parse_speaker_question
from retrieval.lexical import STOPWORDS, match_expression, names, terms

_NUMERIC = re.compile(
    r"\bhow (many|much|old|long|far|tall|big|large|often)\b|\bwhat (year|percentage|percent|age|number|amount)\b"
    r"|\bwhen\b",
    re.I,
)
_ENTITY = re.compile(r"\b(who|whom|whose|which|where)\b|\bwhat (is|was|are|were) the name\b", re.I)
NUMBER = re.compile(r"\d[\d,.]*")
#: A year the question names: "the 2030 World Cup", "in 1998" (a four-digit number 1900–2099).
YEAR = re.compile(r"(?<![\d,.])(19\d\d|20\d\d)(?![\d,.]\d)")


@dataclass(frozen=True)
class Question:
    text: str  # whitespace collapsed
    terms: tuple[str, ...]  # content words, lower-cased, in order (lexical.terms)
    words: frozenset[str]  # every word, lower-cased
    numbers: frozenset[str]  # numbers as written
    names: tuple[str, ...]  # capitalised runs ("Shah Mehmood Qureshi"), question word skipped
    numeric: bool  # expects a number or a date: how many / how old / when …
    entity: bool  # expects a name: who / which / where …
    speaker: SpeakerQuestion | None  # "what did X say (about Y)"
    match: str  # the FTS5 expression of the lexical side
    as_of: date | None = None  # the day it is asked
    years: tuple[int, ...] = ()  # years it names, in order

    @classmethod
    def parse(cls, text: str, as_of: date | None = None) -> "Question":
        text = " ".join(text.split())
        return cls(
            text=text,
            terms=tuple(terms(text)),
            words=frozenset(w.lower() for w in re.findall(r"\w+", text)),
            numbers=frozenset(NUMBER.findall(text)),
            names=tuple(names(text)),
            numeric=bool(_NUMERIC.search(text)),
            entity=bool(_ENTITY.search(text)),
            speaker=parse_speaker_question(text),
            match=match_expression(text),
            as_of=as_of,
            years=tuple(int(y) for y in YEAR.findall(text)),
        )

    @cached_property
    def foreign(self) -> bool:
        """Clearly not English (``retrieval.language``; the model loads on first use)."""
        from retrieval.language import is_foreign

        return is_foreign(self.text)

    @property
    def specific_names(self) -> list[str]:
        """Names beyond the first (often the subject), or all of them; stopwords dropped."""
        return [n for n in self.names[1:] or self.names if n.lower() not in STOPWORDS]
