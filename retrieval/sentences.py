"""Sentence boundaries with character offsets, tuned for news prose.

Pure and dependency-free. Off-the-shelf splitters were considered: nltk's punkt needs a data
download at run time, and pysbd/syntok/blingfire have not been released in years. News text
needs a few specific rules, all here:

* a sentence ends at ``.``, ``!`` or ``?`` (plus any closing quotes/brackets) followed by
  white space and something that can start a sentence (capital, digit, opening quote);
* abbreviations (``Mr.``, ``U.S.``, ``Jan.``, single initials) do not end a sentence;
* a line break always ends a sentence (paragraphs and headlines have no other end mark).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Titles and abbreviations after which a full stop does not end the sentence.
_ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof sr jr st mt gen col lt sgt capt cmdr adm gov sen rep rev hon pres
    jan feb mar apr jun jul aug sep sept oct nov dec
    inc ltd co corp dept univ ave blvd rd no vs etc approx est fig al
    u.s u.k u.n e.u u.s.a d.c a.m p.m i.e e.g
    """.split()
)

# Candidate boundary: terminal punctuation, optional closing quotes/brackets, then white space.
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")
# What may start the next sentence: capital letter, digit or opening quote/bracket.
_STARTER = re.compile(r"\s+[\"'“‘(\[]*[A-Z0-9]")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)\.$")
_LINE_BREAK = re.compile(r"\n")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


def _is_abbreviation(text: str, dot_index: int) -> bool:
    """True when the full stop at ``dot_index`` closes an abbreviation or an initial."""
    match = _WORD_BEFORE.search(text, max(0, dot_index - 12), dot_index + 1)
    if not match or match.end() != dot_index + 1:
        return False
    word = match.group(1).lower().rstrip(".")
    if word in _ABBREVIATIONS:
        return True
    # Single initials ("John F. Kennedy") and dotted acronyms ("U.S.", "a.m.").
    return len(word) == 1 or bool(re.fullmatch(r"(?:[a-z]\.)+[a-z]", word))


def _split_block(text: str, offset: int, out: list[Span]) -> None:
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.end()
        if not _STARTER.match(text, end):
            continue
        if text[match.start()] == "." and match.end() - match.start() == 1:
            if _is_abbreviation(text, match.start()):
                continue
        _emit(text, start, end, offset, out)
        start = end
    _emit(text, start, len(text), offset, out)


def _emit(text: str, start: int, end: int, offset: int, out: list[Span]) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return
    lead = len(piece) - len(piece.lstrip())
    s = offset + start + lead
    out.append(Span(s, s + len(stripped), stripped))


def split_sentences(text: str) -> list[Span]:
    """Split ``text`` into sentences; ``text[span.start:span.end] == span.text`` always."""
    spans: list[Span] = []
    pos = 0
    for match in _LINE_BREAK.finditer(text):
        _split_block(text[pos : match.start()], pos, spans)
        pos = match.end()
    _split_block(text[pos:], pos, spans)
    return spans

