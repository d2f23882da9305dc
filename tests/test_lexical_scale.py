"""The lexical side at scale (issue 12): document frequencies are counted once per index
generation, and stay exact when the index changes, here or in another process."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval import Settings
from retrieval.embeddings import HashEmbedder


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
        _write(corpus, f"story-{i:02d}", f"Report {i}", f"The government said on day {i} that the budget "
               f"{'grew' if i % 2 else 'shrank'}.{extra}", 1 + i)
    report = hash_engine.ingest([str(corpus)])
    assert report.count("added") == 24, report.summary()
    return hash_engine


def test_document_frequency_counts_chunks_holding_the_word(engine):
    store = engine.store
    assert [store.document_frequency(w) for w in ("government", "harbour", "zeppelin", "tram")] == [24, 4, 1, 0]
    assert store.document_frequency("Zeppelin") == 1  # the FTS5 tokenizer folds case
    assert store.document_frequency("harbour") == 4  # asked again: the same count
    assert store.document_frequency('"') == 0


def test_document_frequency_is_current_after_an_ingest(engine, tmp_path):
    store = engine.store
    assert store.document_frequency("zeppelin") == 1
    _write(tmp_path / "more", "late", "Late report", "A second zeppelin flew over the harbour.", 28)
    assert engine.ingest([str(tmp_path / "more")]).count("added") == 1
    assert store.document_frequency("zeppelin") == 2 and store.document_frequency("harbour") == 5


def test_document_frequency_sees_what_another_writer_committed(engine, tmp_path):
    from retrieval.engine import Engine

    assert engine.store.document_frequency("zeppelin") == 1
    other = Engine.open(Settings(index=engine.settings.index), embedder=HashEmbedder())
    try:
        _write(tmp_path / "more", "late", "Late report", "A second zeppelin flew over the harbour.", 28)
        assert other.ingest([str(tmp_path / "more")]).count("added") == 1
    finally:
        other.close()
    assert engine.store.document_frequency("zeppelin") == 2
