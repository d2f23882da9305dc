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

import numpy as np

from retrieval.lexical import match_expression
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


def dense_ranking(store: Store, query_vector: np.ndarray, filters: Filters | None, n: int = CANDIDATES):
    return store.dense_search(query_vector, n, filters)


def lexical_ranking(store: Store, query: str, filters: Filters | None, n: int = CANDIDATES):
    return store.lexical_search(match_expression(query), n, filters)


def hybrid(
    store: Store,
    query: str,
    query_vector: np.ndarray,
    k: int,
    filters: Filters | None = None,
    mode: str = "hybrid",
) -> list[Hit]:
    """Top ``k`` passages. ``mode`` is "hybrid", "dense" or "lexical" (the last two for
    benchmarks and diagnosis)."""
    dense = dense_ranking(store, query_vector, filters) if mode in ("hybrid", "dense") else []
    lexical = lexical_ranking(store, query, filters) if mode in ("hybrid", "lexical") else []
    if mode == "dense":
        ranked = [Ranked(i, s) for i, s in dense]
    elif mode == "lexical":
        ranked = [Ranked(i, s) for i, s in lexical]
    else:
        ranked = rrf([dense, lexical], [1.0, 1.0])
    return to_hits(store, ranked, k)
