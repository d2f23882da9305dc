"""Near-duplicate stories: MinHash over word shingles, banded for lookup (LSH).

Pure and cheap: no model, no index. An article's *shingles* are its overlapping runs of
:data:`SHINGLE_WORDS` lower-cased words (title and text); two articles are near copies when
the Jaccard similarity of their shingle sets reaches :data:`NEAR_COPY_JACCARD`. A
:class:`Signature` keeps :data:`PERMUTATIONS` minimum hashes, whose agreement rate estimates
that Jaccard; its :data:`BANDS` band keys (:data:`ROWS` minima each, hashed to one integer) are
what the store indexes, so finding candidates for a new article is a handful of indexed
lookups, never a scan. Two articles share at least one band key with probability
``1 - (1 - J**ROWS)**BANDS``: 0.98 at J = 0.6, 0.44 at J = 0.35, 0.05 at J = 0.2.

The constants are measured on the 7,374 rtqa articles (``benchmarks/bench_dupes.py``,
docs/BENCHMARKS.md). Changing any of them changes every signature: stored ones are then
recomputed (``PARAMS`` is recorded in the index).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np

#: Words per shingle. Five words are specific enough that two different stories share few
#: shingles (rtqa: different stories on one template stay below J 0.2) and short enough that
#: an edit costs at most five shingles.
SHINGLE_WORDS = 5
#: Minimum hashes per signature; the estimate of J has a standard error of about
#: sqrt(J(1-J)/128) ≈ 0.04 at J = 0.5.
PERMUTATIONS = 128
#: LSH bands x rows per band (BANDS * ROWS == PERMUTATIONS). 32 x 4 finds pairs from J ≈ 0.4
#: up (see above), below the folding threshold, so the threshold decides, not the bands.
BANDS, ROWS = 32, 4
#: Jaccard (exact, on the stored text) from which a new article may be folded into a stored
#: story; candidates are first screened on the estimate, from ``NEAR_COPY_JACCARD - 0.1``.
#: Chosen on rtqa (docs/BENCHMARKS.md, "Near-duplicate stories"): between 0.4 and 0.6 the
#: pairs are one outlet's successive versions of a developing story (a launch, then its
#: splashdown) and "5 things to know" roundups of different days.
NEAR_COPY_JACCARD = 0.7
#: ... and only when the new article has at most this many shingles of its own (not in the
#: story): folding drops its text, so it must add no more than a headline and some trimmed
#: boilerplate. On rtqa, CNN's World Cup pages share ~5,000 words of live coverage (J 0.73-0.83)
#: yet each has 400+ words of its own story; true copies there have at most ~150.
MAX_OWN_SHINGLES = 150
#: Share of a new headline's content words that must occur in the story's text.
HEADLINE_IN_TEXT = 0.5
#: An article shorter than this many words is never folded: a short text shares a large part
#: of its shingles with any longer text on the same template (briefs, captions).
MIN_WORDS = 60
#: Seed of the hash family: fixed, so every process computes the same signatures.
_SEED = 20240611
#: Recorded in the index with the signatures; a different value means "recompute them".
PARAMS = {"shingle_words": SHINGLE_WORDS, "permutations": PERMUTATIONS, "bands": BANDS,
          "rows": ROWS, "seed": _SEED}

_WORD = re.compile(r"\w+")
_rng = np.random.default_rng(_SEED)
# Multiply-shift hashing of 32-bit shingle hashes: (a*x + b) mod 2**64, top 32 bits; a odd.
_A = _rng.integers(1, 2**63, size=PERMUTATIONS, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_B = _rng.integers(0, 2**63, size=PERMUTATIONS, dtype=np.uint64)
_BLOCK = 4096  # shingles hashed at a time: bounds memory to PERMUTATIONS * _BLOCK * 8 bytes


@dataclass(frozen=True)
class Signature:
    """The MinHash signature of one text and the number of words it was made from."""

    mins: np.ndarray  # uint32, PERMUTATIONS values
    words: int

    def bands(self) -> list[int]:
        """The LSH band keys: one signed 64-bit integer per band (SQLite INTEGER)."""
        rows = self.mins.reshape(BANDS, ROWS)
        return [
            int.from_bytes(hashlib.blake2b(row.tobytes(), digest_size=8).digest(), "little", signed=True)
            ^ band  # the band number is mixed in: equal minima in different bands are no match
            for band, row in enumerate(rows)
        ]

    def similarity(self, other: "Signature") -> float:
        """Estimated Jaccard similarity of the two shingle sets."""
        return float(np.mean(self.mins == other.mins))

    @property
    def foldable(self) -> bool:
        return self.words >= MIN_WORDS

    def to_bytes(self) -> bytes:
        return self.mins.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, words: int) -> "Signature":
        return cls(np.frombuffer(data, dtype="<u4").astype(np.uint32), words)


@dataclass(frozen=True)
class NearCopy:
    """Why a new article is a near copy of a stored story (the exact figures)."""

    jaccard: float
    own_shingles: int  # shingles of the new article that the story lacks


def near_copy(title: str, text: str, story_title: str, story_text: str) -> NearCopy | None:
    """The exact check behind folding: Jaccard >= NEAR_COPY_JACCARD, at most MAX_OWN_SHINGLES
    shingles of its own, and a headline the story's text bears out (HEADLINE_IN_TEXT). The
    last rule keeps apart different stories over one text (rtqa: 60 The Week pages whose
    extracted text is the same subscriber article under unrelated headlines): however an
    outlet rewrites a wire headline, its words come from the story."""
    if len(words(text)) < MIN_WORDS or not headline_fits(title, story_text):
        return None
    new = shingles(words(title + "\n" + text))
    old = shingles(words(story_title + "\n" + story_text))
    common = len(new & old)
    score = common / len(new | old) if new or old else 1.0
    own = len(new) - common
    if score < NEAR_COPY_JACCARD or own > MAX_OWN_SHINGLES:
        return None
    return NearCopy(score, own)


_SUFFIX = re.compile(r"\s+[|\-–—]\s+[^|\-–—]{1,40}$")  # " | CNN", " - The Week UK"


def title_words(title: str) -> set[str]:
    """Content words of a headline without an outlet suffix ("… | CNN Politics")."""
    from retrieval.lexical import terms

    return set(terms(_SUFFIX.sub("", title.strip()).rstrip(". …")))


def headline_fits(title: str, text: str) -> bool:
    """At least HEADLINE_IN_TEXT of the headline's content words occur in ``text``."""
    from retrieval.lexical import terms

    wanted = title_words(title)
    if not wanted:
        return True
    return len(wanted & set(terms(text))) >= HEADLINE_IN_TEXT * len(wanted)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def shingles(tokens: list[str]) -> set[str]:
    """The set of SHINGLE_WORDS-word runs (the whole text when it is shorter)."""
    if len(tokens) <= SHINGLE_WORDS:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i : i + SHINGLE_WORDS]) for i in range(len(tokens) - SHINGLE_WORDS + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    """Exact Jaccard similarity (benchmarks compare the estimate with it)."""
    return len(a & b) / len(a | b) if a or b else 1.0


def signature(title: str, text: str) -> Signature:
    """MinHash signature of an article (title and text; headlines differ, so they weigh as
    little as their few shingles)."""
    tokens = words(title + "\n" + text)
    grams = shingles(tokens)
    hashes = np.fromiter(
        (int.from_bytes(hashlib.blake2b(g.encode(), digest_size=4).digest(), "little") for g in grams),
        dtype=np.uint64, count=len(grams),
    )
    mins = np.full(PERMUTATIONS, np.iinfo(np.uint32).max, dtype=np.uint64)
    for start in range(0, len(hashes), _BLOCK):
        block = hashes[start : start + _BLOCK]
        values = (_A[:, None] * block[None, :] + _B[:, None]) >> np.uint64(32)
        np.minimum(mins, values.min(axis=1), out=mins)
    return Signature(mins.astype(np.uint32), len(tokens))
