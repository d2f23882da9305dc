"""Hybrid search: dense (FAISS, cosine) and lexical (FTS5 BM25) candidates fused by rank.

Fusion is reciprocal rank fusion: ``score(d) = Σ w_i / (RRF_K + rank_i(d))``, computed here
for the embedded store and inside Milvus (``hybrid_search`` with an RRF ranker, unweighted)
for the Milvus store. RRF needs no
score calibration between a cosine and a BM25 score, which live on different scales. RRF_K = 60
is the constant of Cormack et al. (2009); it flattens the head of each list so that one
system's first place cannot outvote agreement between the two. On top of it: a recency bonus
relative to the question's as-of date, and at most two passages per article ahead of the rest.
``gather`` (I/O) and ``rank`` (pure) are separate so benchmarks can re-rank the same
candidates under other :class:`SearchParams`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from retrieval.question import Question
from retrieval.sources import parse_date
from retrieval.stores import RRF_K, Candidate, IndexStore
from retrieval.types import Filters, Hit

__all__ = ["CANDIDATES", "RRF_K", "Candidate", "Ranked", "SearchParams", "gather", "hybrid", "rank", "to_hits"]
#: Candidates taken from each side before fusion.
CANDIDATES = 100


@dataclass(frozen=True)
class Ranked:
    chunk_id: int
    score: float


def _normalised(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def to_hits(
    store: IndexStore,
    ranked: Sequence[Ranked],
    k: int,
    max_per_article: int = 0,
    rows: dict[int, dict] | None = None,
) -> list[Hit]:
    """Materialise the top ``k`` ranked chunks as hits, collapsing identical passages
    (syndicated copies of the same story) and chunks that overlap one already taken. Passages beyond ``max_per_article`` of one article
    are moved behind the others, not dropped: a one-article corpus still fills ``k``.
    ``rows`` (chunk id → stored fields) saves reading them again when the caller has them."""
    if rows is None:
        rows = store.chunk_rows([r.chunk_id for r in ranked[: k * 4]])
    kept: list[tuple[Ranked, dict]] = []
    deferred: list[tuple[Ranked, dict]] = []
    seen: set[str] = set()
    per_article: dict[str, int] = {}
    spans: dict[str, list[tuple[int, int]]] = {}  # kept character ranges per article
    for r in ranked:
        row = rows.get(r.chunk_id)
        if row is None:
            continue
        key = _normalised(row["text"][:600])[:300]  # not the whole text: ~140 rows a search
        taken = spans.setdefault(row["article_id"], [])
        if key in seen or any(row["start"] < end and start < row["end"] for start, end in taken):
            continue  # a copy, or overlapping chunks (RETRIEVER_CHUNK_OVERLAP_WORDS) of one article
        seen.add(key)
        taken.append((row["start"], row["end"]))
        count = per_article.get(row["article_id"], 0)
        per_article[row["article_id"]] = count + 1
        (deferred if max_per_article and count >= max_per_article else kept).append((r, row))
        if len(kept) == k:
            break
    return [_hit(rank, r, row) for rank, (r, row) in enumerate((kept + deferred)[:k], 1)]


def _hit(rank: int, r: Ranked, row: dict) -> Hit:
    return Hit(
        rank=rank,
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
        also=row.get("also", ()),
    )


@dataclass(frozen=True)
class SearchParams:
    """Knobs of the ranking, with the defaults the benchmark supports (docs/BENCHMARKS.md).
    Levers measured as no gain (an exact-name bonus, pseudo-relevance feedback, an article
    bonus) were taken out; their figures stay in docs/BENCHMARKS.md."""

    rrf_k: int = RRF_K
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    #: Bonus, in units of one first place in one list (1 / (rrf_k + 1)), for a passage published
    #: on the as-of date; it decays as 1 / (1 + days_old / recency_days). News questions are
    #: about the news of their day: on rtqa dev, 1.0 lifts answer recall @600 from 0.76 to 0.815.
    recency_weight: float = 1.0
    recency_days: float = 7.0
    #: At most this many passages of one article in the results (0 = no cap). 2 leaves answer
    #: recall unchanged and lifts url recall@5 (0.86 → 0.89 on rtqa dev): more sources per answer.
    max_per_article: int = 2
    candidates: int = CANDIDATES


DEFAULT_PARAMS = SearchParams()


def gather(
    store: IndexStore,
    question: Question,
    query_vector: np.ndarray,
    filters: Filters | None,
    mode: str = "hybrid",
    n: int = CANDIDATES,
    rrf_k: int = RRF_K,
) -> list[Candidate]:
    """Candidates from the dense and/or lexical side (``n`` from each), with their stored
    fields: with their ranks from the embedded store, already fused by a store that fuses
    (Milvus: ``Candidate.fused``, the RRF score with ``rrf_k``)."""
    return store.candidates(query_vector, question.match, n, filters, mode, rrf_k)


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
    as_of: date | None = None,
    params: SearchParams = DEFAULT_PARAMS,
) -> list[Ranked]:
    """Fuse the rankings (weighted RRF) and add the recency bonus. Pure."""
    unit = 1.0 / (params.rrf_k + 1)
    out = []
    for c in candidates:
        score = _rrf_base(c, params)
        if params.recency_weight:
            score += params.recency_weight * unit * _recency(c.row["published"], as_of, params.recency_days)
        out.append(Ranked(c.chunk_id, score))
    out.sort(key=lambda r: -r.score)
    return out


def _rrf_base(c: Candidate, params: SearchParams) -> float:
    if c.fused is not None:  # fused by the store (unweighted: the weights do not apply)
        return c.fused
    score = 0.0
    if c.dense_rank:
        score += params.dense_weight / (params.rrf_k + c.dense_rank)
    if c.lexical_rank:
        score += params.lexical_weight / (params.rrf_k + c.lexical_rank)
    return score


def hybrid(
    store: IndexStore,
    question: Question,
    query_vector: np.ndarray,
    k: int,
    filters: Filters | None = None,
    mode: str = "hybrid",
    params: SearchParams = DEFAULT_PARAMS,
) -> list[Hit]:
    """Top ``k`` passages as of the question's date. ``mode`` is "hybrid", "dense" or
    "lexical" (the last two rank by one side alone, for benchmarks and diagnosis)."""
    candidates = gather(store, question, query_vector, filters, mode, params.candidates, params.rrf_k)
    if mode == "hybrid":
        ranked = rank(candidates, question.as_of, params)
    else:
        key = (lambda c: c.dense_rank) if mode == "dense" else (lambda c: c.lexical_rank)
        ranked = [Ranked(c.chunk_id, 1.0 / key(c)) for c in sorted(candidates, key=key)]
    rows = {c.chunk_id: c.row for c in candidates}  # gather already read them
    return to_hits(store, ranked, k, params.max_per_article, rows)
