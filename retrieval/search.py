"""Hybrid search: dense (FAISS, cosine) and lexical (FTS5 BM25) candidates fused by rank.

Fusion is reciprocal rank fusion: ``score(d) = Σ w_i / (RRF_K + rank_i(d))``. RRF needs no
score calibration between a cosine and a BM25 score, which live on different scales. RRF_K = 60
is the constant of Cormack et al. (2009); it flattens the head of each list so that one
system's first place cannot outvote agreement between the two.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from retrieval.lexical import match_expression, names
from retrieval.sources import parse_date
from retrieval.store import Store
from retrieval.types import Filters, Hit

RRF_K = 60
#: Candidates taken from each side before fusion.
CANDIDATES = 100


@dataclass(frozen=True)
class Ranked:
    chunk_id: int
    score: float


def rrf(lists: Sequence[Sequence[tuple[int, float]]], weights: Sequence[float]) -> list[Ranked]:
    """Reciprocal rank fusion of ranked (id, score) lists."""
    fused: dict[int, float] = {}
    for ranked, weight in zip(lists, weights):
        for rank, (chunk_id, _) in enumerate(ranked, 1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (RRF_K + rank)
    return [Ranked(i, s) for i, s in sorted(fused.items(), key=lambda kv: -kv[1])]


def _normalised(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def to_hits(store: Store, ranked: Sequence[Ranked], k: int) -> list[Hit]:
    """Materialise the top ``k`` ranked chunks as hits, collapsing identical passages
    (syndicated copies of the same story)."""
    rows = store.chunk_rows([r.chunk_id for r in ranked[: k * 3]])
    hits: list[Hit] = []
    seen: set[str] = set()
    for r in ranked:
        row = rows.get(r.chunk_id)
        if row is None:
            continue
        key = _normalised(row["text"])[:300]
        if key in seen:
            continue
        seen.add(key)
        hits.append(
            Hit(
                rank=len(hits) + 1,
                score=r.score,
                chunk_id=r.chunk_id,
                article_id=row["article_id"],
                text=row["text"],
                title=row["title"],
                url=row["url"],
                source=row["source"],
                published=parse_date(row["published"]),
                start=row["start"],
                end=row["end"],
            )
        )
        if len(hits) == k:
            break
    return hits


@dataclass(frozen=True)
class SearchParams:
    """Knobs of the ranking, with the defaults the benchmark supports (docs/BENCHMARKS.md)."""

    rrf_k: int = RRF_K
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    #: Bonus, in units of one first place in one list (1 / (rrf_k + 1)), for a passage published
    #: on the as-of date; it decays as 1 / (1 + days_old / recency_days).
    recency_weight: float = 0.0
    recency_days: float = 7.0
    #: Bonus, same units, for a passage that contains a multi-word name from the question.
    name_weight: float = 0.0
    candidates: int = CANDIDATES


DEFAULT_PARAMS = SearchParams()


@dataclass
class Candidate:
    """A chunk in the running, with what each ranking said about it."""

    chunk_id: int
    dense_rank: int | None = None
    lexical_rank: int | None = None
    row: dict | None = None  # chunk + article fields from the store


def gather(
    store: Store,
    query: str,
    query_vector: np.ndarray,
    filters: Filters | None,
    mode: str = "hybrid",
    n: int = CANDIDATES,
) -> list[Candidate]:
    """Candidates from the dense and/or lexical side, with their ranks and stored fields."""
    pool: dict[int, Candidate] = {}
    if mode in ("hybrid", "dense"):
        for rank, (chunk_id, _) in enumerate(store.dense_search(query_vector, n, filters), 1):
            pool.setdefault(chunk_id, Candidate(chunk_id)).dense_rank = rank
    if mode in ("hybrid", "lexical"):
        for rank, (chunk_id, _) in enumerate(store.lexical_search(match_expression(query), n, filters), 1):
            pool.setdefault(chunk_id, Candidate(chunk_id)).lexical_rank = rank
    rows = store.chunk_rows(list(pool))
    for chunk_id, candidate in pool.items():
        candidate.row = rows.get(chunk_id)
    return [c for c in pool.values() if c.row is not None]


def _recency(published: str | None, as_of: date | None, scale: float) -> float:
    if not as_of or not published:
        return 0.0
    day = parse_date(published)
    if day is None:
        return 0.0
    age = (as_of - day).days
    if age < -3:  # published after the question was asked: not what it is about
        return 0.0
    return 1.0 / (1.0 + max(age, 0) / scale)


def rank(
    candidates: list[Candidate],
    query: str,
    as_of: date | None = None,
    params: SearchParams = DEFAULT_PARAMS,
) -> list[Ranked]:
    """Fuse the rankings (weighted RRF) and add the recency and exact-name bonuses. Pure."""
    unit = 1.0 / (params.rrf_k + 1)
    phrases = [p.lower() for p in names(query) if " " in p] if params.name_weight else []
    out = []
    for c in candidates:
        score = 0.0
        if c.dense_rank:
            score += params.dense_weight / (params.rrf_k + c.dense_rank)
        if c.lexical_rank:
            score += params.lexical_weight / (params.rrf_k + c.lexical_rank)
        if params.recency_weight:
            score += params.recency_weight * unit * _recency(c.row["published"], as_of, params.recency_days)
        if phrases:
            haystack = (c.row["title"] + " " + c.row["text"]).lower()
            if any(p in haystack for p in phrases):
                score += params.name_weight * unit
        out.append(Ranked(c.chunk_id, score))
    out.sort(key=lambda r: -r.score)
    return out


def hybrid(
    store: Store,
    query: str,
    query_vector: np.ndarray,
    k: int,
    filters: Filters | None = None,
    mode: str = "hybrid",
    as_of: date | None = None,
    params: SearchParams = DEFAULT_PARAMS,
) -> list[Hit]:
    """Top ``k`` passages. ``mode`` is "hybrid", "dense" or "lexical" (the last two rank by
    one side alone, for benchmarks and diagnosis)."""
    candidates = gather(store, query, query_vector, filters, mode, params.candidates)
    if mode == "hybrid":
        ranked = rank(candidates, query, as_of, params)
    else:
        key = (lambda c: c.dense_rank) if mode == "dense" else (lambda c: c.lexical_rank)
        ranked = [Ranked(c.chunk_id, 1.0 / key(c)) for c in sorted(candidates, key=key)]
    return to_hits(store, ranked, k)
