"""The lexical side at scale (issue 12): the phrases a question's FTS5 query scans.

``narrowed`` is pure; the rest runs on a small real index (FTS5, hash embedder) with the scan
budget lowered so that its words count as common.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval import lexical
from retrieval.lexical import match_expression, narrowed, phrases
from retrieval.store import BM25_WEIGHTS

LEGACY_SQL = (f"SELECT rowid, -bm25(chunks_fts, {BM25_WEIGHTS[0]}, {BM25_WEIGHTS[1]}) AS s "
              f"FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY s DESC LIMIT ?")


def test_phrases_of_a_match_expression():
    match = match_expression("What did the president say about the Zeppelin economy?")
    assert match == '"president" OR "zeppelin" OR "economy"'
    assert phrases(match) == ['"president"', '"zeppelin"', '"economy"'] and phrases("") == []


def test_narrowed_keeps_rare_phrases_within_the_budget():
    match = '"president" OR "zeppelin" OR "economy" OR "harbour"'
    df = {'"president"': 900, '"zeppelin"': 3, '"economy"': 700, '"harbour"': 40}
    assert narrowed(match, df, budget=2_000) == match  # all fit: the query is unchanged
    assert narrowed(match, df, budget=50) == '"zeppelin" OR "harbour"'  # in the question's order
    assert narrowed(match, df, budget=10) == '"zeppelin"'
    # Even the rarest is over budget: the rows that hold every word.
    assert narrowed(match, df, budget=2) == '"president" AND "zeppelin" AND "economy" AND "harbour"'
    assert narrowed('"zeppelin"', df, budget=2) == '"zeppelin"'
    # A word no row holds is no reason to drop the others, nor a reason to AND them.
    assert narrowed('"president" OR "qwzx"', df, budget=10) == '"president" OR "qwzx"'  # one word: as is
    assert narrowed('"president" OR "economy" OR "qwzx"', df, budget=10) == '"president" AND "economy"'


def _write(folder: Path, name: str, title: str, body: str, day: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.txt").write_text(
        f"---\ntitle: {title}\nurl: https://news.example/{name}\npublished: 2024-03-{day:02d}\n---\n{body}\n",
        encoding="utf-8")


@pytest.fixture
def engine(hash_engine, tmp_path):
    """24 articles that all name the government; one also names a zeppelin, four a harbour."""
    corpus = tmp_path / "corpus"
    for i in range(24):
        extra = " A zeppelin landed beside the ministry." if i == 7 else ""
        extra += " Dock workers at the harbour walked out." if i % 6 == 1 else ""
        _write(corpus, f"story-{i:02d}", f"Report {i}",
               f"The government said on day {i} that the budget {'grew' if i % 2 else 'shrank'}.{extra}", 1 + i)
    report = hash_engine.ingest([str(corpus)])
    assert report.count("added") == 24, report.summary()
    return hash_engine


def _legacy(store, match: str, k: int) -> list[tuple[int, float]]:
    with store._db() as conn:
        return [(int(r[0]), float(r[1])) for r in conn.execute(LEGACY_SQL, (match, k))]


def _texts(store, ids) -> list[str]:
    rows = store.chunk_rows(ids)
    return [rows[i]["text"] for i in ids]


def test_a_word_every_chunk_holds_is_not_scanned_to_find_the_rare_one(engine, monkeypatch):
    store = engine.store
    match = match_expression("What did the government say about the zeppelin?")
    assert store.document_frequency("government") == 24 and store.document_frequency("zeppelin") == 1
    legacy = _legacy(store, match, 100)
    assert len(legacy) == 24 and "zeppelin" in _texts(store, [legacy[0][0]])[0]

    monkeypatch.setattr(lexical, "SCAN_BUDGET", 10)
    found = store.lexical_search(match, 100)
    assert [i for i, _ in found] == [legacy[0][0]]  # only the rare word's chunk was scored


def test_results_are_those_of_the_full_query_when_no_word_is_common(engine, monkeypatch):
    store = engine.store
    for question in ("What did the government say about the zeppelin?",
                     "Which harbour workers walked out while the budget grew?"):
        match = match_expression(question)
        assert store.lexical_search(match, 100) == _legacy(store, match, 100)
        assert store.lexical_search(match, 3) == _legacy(store, match, 3)
    monkeypatch.setattr(lexical, "SCAN_BUDGET", 10)  # harbour (4) and zeppelin (1) still fit
    match = match_expression("zeppelin harbour")
    assert store.lexical_search(match, 100) == _legacy(store, match, 100)


def test_when_every_word_is_common_the_rows_holding_all_of_them_come_back(engine, monkeypatch):
    store = engine.store
    monkeypatch.setattr(lexical, "SCAN_BUDGET", 5)
    found = store.lexical_search(match_expression("Did the government budget grow?"), 100)
    texts = _texts(store, [i for i, _ in found])
    # "grow" is in no chunk (porter does not make "grew" "grow"): it neither narrows nor empties it.
    assert len(texts) == 24 and all("government" in t and "budget" in t for t in texts)


def test_document_frequency_counts_an_ingest_made_after_it_was_cached(engine, tmp_path):
    store = engine.store
    assert store.document_frequency("zeppelin") == 1
    _write(tmp_path / "more", "late", "Late report", "A second zeppelin flew over the harbour.", 28)
    assert engine.ingest([str(tmp_path / "more")]).count("added") == 1
    assert store.document_frequency("zeppelin") == 2
    assert store.document_frequency('"') == 0
