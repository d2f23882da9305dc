"""Pure chunking: an article's text → sentence-aligned chunks with char offsets.

Chunks collect whole sentences until ``target_words`` is reached and never exceed
``max_words`` unless a single sentence is longer (then that sentence is cut at word boundaries,
the only place a chunk may end inside a sentence). all-MiniLM-L6-v2 truncates input at 256
tokens; 150 words of news prose is about 195 tokens, so the title prefix still fits.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from retrieval.sentences import Span, split_sentences
from retrieval.types import Article, Chunk

_WORD = re.compile(r"\S+")


def _pieces(text: str, max_words: int) -> Iterator[Span]:
    """Sentences of ``text``, with any sentence longer than ``max_words`` cut into parts."""
    for sentence in split_sentences(text):
        words = list(_WORD.finditer(sentence.text))
        if len(words) <= max_words:
            yield sentence
            continue
        for i in range(0, len(words), max_words):
            part = words[i : i + max_words]
            start = sentence.start + part[0].start()
            end = sentence.start + part[-1].end()
            yield Span(start, end, text[start:end])


def chunk_text(
    text: str, target_words: int = 120, max_words: int = 150, overlap_words: int = 0
) -> list[tuple[int, int]]:
    """Return (start, end) char ranges of chunks over ``text``. With ``overlap_words`` (less
    than ``target_words``), a chunk starts with the last sentences of the one before, up to that
    many words, when they leave room for the next sentence."""
    if overlap_words >= target_words:
        raise ValueError(f"overlap ({overlap_words} words) must be less than the chunk target ({target_words})")
    ranges: list[tuple[int, int]] = []
    current: list[tuple[Span, int]] = []  # pieces of the open chunk and their word counts
    words = 0
    for piece in _pieces(text, max_words):
        n = len(piece.text.split())
        if current and (words >= target_words or words + n > max_words):
            ranges.append((current[0][0].start, current[-1][0].end))
            current = _tail(current, overlap_words)
            words = sum(count for _, count in current)
            if words + n > max_words:
                current, words = [], 0
        current.append((piece, n))  # every chunk gets at least one sentence of its own
        words += n
    if current:
        ranges.append((current[0][0].start, current[-1][0].end))
    return ranges


def _tail(pieces: list[tuple[Span, int]], words: int) -> list[tuple[Span, int]]:
    """The last pieces holding at most ``words`` words (none when ``words`` is 0)."""
    out: list[tuple[Span, int]] = []
    total = 0
    for piece, n in reversed(pieces[1:]):  # never the whole chunk again
        if total + n > words:
            break
        out.insert(0, (piece, n))
        total += n
    return out


def chunk_article(
    article: Article, target_words: int = 120, max_words: int = 150, overlap_words: int = 0
) -> list[Chunk]:
    return [
        Chunk(article.id, i, s, e, article.text[s:e])
        for i, (s, e) in enumerate(chunk_text(article.text, target_words, max_words, overlap_words))
    ]


def embedding_text(title: str, chunk_text: str) -> str:
    """What is embedded for a chunk: the article title gives the passage its context."""
    return f"{title}\n{chunk_text}" if title else chunk_text
