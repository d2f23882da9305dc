"""The pure parts of search: fusion with the recency prior, and how ranked chunks become hits."""

from __future__ import annotations

from datetime import date

from retrieval.search import Candidate, Ranked, rank, to_hits


def _row(chunk_id: int, article: str, start: int, end: int, text: str, published: str | None = None) -> dict:
    return {"chunk_id": chunk_id, "article_id": article, "start": start, "end": end, "text": text,
            "title": f"Title {article}", "url": f"https://example.com/{article}", "source": "Example",
            "published": published, "ordinal": 0}


def _hits(rows: list[dict], k: int = 10, max_per_article: int = 0):
    ranked = [Ranked(r["chunk_id"], 1.0 / i) for i, r in enumerate(rows, 1)]
    return to_hits(None, ranked, k, max_per_article, {r["chunk_id"]: r for r in rows})


def test_overlapping_chunks_of_one_article_are_shown_once():
    rows = [_row(1, "a", 0, 700, "first chunk"), _row(2, "a", 400, 1100, "second chunk, half repeated"),
            _row(3, "b", 0, 600, "other article"), _row(4, "a", 1100, 1800, "third chunk, no overlap")]
    assert [h.chunk_id for h in _hits(rows)] == [1, 3, 4]


def test_syndicated_copies_collapse_and_third_passage_of_an_article_waits():
    rows = [_row(1, "a", 0, 10, "Same story, word for word."), _row(2, "b", 0, 10, "Same story — word for word!"),
            _row(3, "a", 20, 30, "a second"), _row(4, "a", 40, 50, "a third"), _row(5, "c", 0, 10, "c")]
    assert [h.chunk_id for h in _hits(rows, max_per_article=2)] == [1, 3, 5, 4]
    assert [h.rank for h in _hits(rows, max_per_article=2)] == [1, 2, 3, 4]


def test_recency_prior_breaks_a_tie_towards_this_weeks_article():
    old = Candidate(1, dense_rank=1, lexical_rank=2, row=_row(1, "old", 0, 5, "x", "2020-01-01"))
    new = Candidate(2, dense_rank=2, lexical_rank=1, row=_row(2, "new", 0, 5, "y", "2023-05-30"))
    future = Candidate(3, dense_rank=3, lexical_rank=3, row=_row(3, "later", 0, 5, "z", "2023-07-01"))
    ranked = rank([old, new, future], as_of=date(2023, 6, 1))
    assert [r.chunk_id for r in ranked] == [2, 1, 3]
    assert [r.chunk_id for r in rank([old, new, future], as_of=None)][2] == 3
