"""The index folder: manifest checks, model mismatch, atomic writes, the writer lock, FAISS
cache recovery, and search results checked against brute force."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from support import SEED
from retrieval import Settings
from retrieval.embeddings import HashEmbedder
from retrieval.engine import Engine
from retrieval.errors import IndexFormatError, IndexLockedError, IndexMissingError, ModelMismatchError
from retrieval.store import LOCK_FILE, MANIFEST_FILE, VECTORS_DIR, _acquire_lock, _release_lock

ARTICLES = [
    ("Wildfire forces evacuations", "Thousands fled as a wildfire spread through dry hills near the city on Sunday."),
    ("Parliament passes budget", "Lawmakers approved the national budget after a long night of debate."),
    ("Team wins championship", "The home team won the championship with a goal in the final minute."),
    ("Drought hits farmers", "A long drought has cut harvests and forced farmers to sell cattle early."),
]


def _write_articles(folder, articles=ARTICLES):
    folder.mkdir(exist_ok=True)
    for i, (title, body) in enumerate(articles):
        (folder / f"{i}.txt").write_text(
            f"---\ntitle: {title}\nurl: https://ex.com/{folder.name}/{i}\n---\n{body}\n"
        )
    return folder


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexMissingError, match="no index at"):
        Engine.open(Settings(index=tmp_path / "none"))


def test_model_mismatch_names_both(hash_engine, tmp_path):
    hash_engine.ingest([str(SEED)])
    with pytest.raises(ModelMismatchError) as err:
        Engine.open(Settings(index=hash_engine.settings.index), embedder=HashEmbedder(128))
    assert "'hash-256'" in str(err.value) and "'hash-128'" in str(err.value)
    with pytest.raises(ModelMismatchError, match="all-MiniLM-L6-v2"):
        Engine.open(Settings(index=hash_engine.settings.index))


def test_manifest_disagreement_has_the_numbers(hash_engine):
    hash_engine.ingest([str(SEED)])
    manifest_path = hash_engine.settings.index / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    assert manifest["counts"] == {"articles": 1, "chunks": hash_engine.store.counts()[1]}
    assert manifest["model"] == "hash-256" and manifest["dimension"] == 256
    manifest["dimension"] = 384
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match="dimension=384.*256"):
        Engine.open(Settings(index=hash_engine.settings.index), embedder=HashEmbedder())


def test_format_version_checked(hash_engine):
    hash_engine.ingest([str(SEED)])
    db = sqlite3.connect(hash_engine.settings.index / "index.sqlite")
    db.execute("UPDATE meta SET value='99' WHERE key='format_version'")
    db.commit()
    db.close()
    with pytest.raises(IndexFormatError, match="format version 99.*version 1"):
        Engine.open(Settings(index=hash_engine.settings.index), embedder=HashEmbedder())


class FailingEmbedder(HashEmbedder):
    """Raises on the n-th call: an ingest interrupted half-way."""

    def __init__(self, fail_on_call: int):
        super().__init__()
        self.calls = 0
        self.fail_on_call = fail_on_call

    def embed(self, texts, *, progress=False):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise RuntimeError("power cut")
        return super().embed(texts, progress=progress)


def test_interrupted_ingest_keeps_previous_index(tmp_path):
    index = tmp_path / "index"
    engine = Engine.open(Settings(index=index), embedder=HashEmbedder(), create=True)
    engine.ingest([str(_write_articles(tmp_path / "first"))])
    before = engine.store.counts()
    engine.close()

    broken = Engine.open(Settings(index=index), embedder=FailingEmbedder(fail_on_call=1))
    more = _write_articles(tmp_path / "second", [("Flood warning issued", "Rivers rose after heavy rain.")])
    with pytest.raises(RuntimeError, match="power cut"):
        broken.ingest([str(more)])
    broken.close()

    reopened = Engine.open(Settings(index=index), embedder=HashEmbedder())
    assert reopened.store.counts() == before
    assert reopened.search("wildfire evacuations", k=1)[0].title == "Wildfire forces evacuations"
    assert not (index / LOCK_FILE).read_text()  # the lock was released
    assert reopened.ingest([str(more)]).count("added") == 1
    reopened.close()


def test_crash_between_commit_and_vector_save_is_recovered(tmp_path):
    """SQLite committed but FAISS was not saved: the vectors are rebuilt from SQLite."""
    index = tmp_path / "index"
    engine = Engine.open(Settings(index=index), embedder=HashEmbedder(), create=True)
    engine.ingest([str(_write_articles(tmp_path / "a", ARTICLES[:2]))])
    stale = {p.name: p.read_bytes() for p in (index / VECTORS_DIR).iterdir()}
    stale_manifest = (index / MANIFEST_FILE).read_text()
    engine.ingest([str(_write_articles(tmp_path / "b", ARTICLES[2:]))])
    engine.close()
    for name, data in stale.items():  # as if the process died before saving
        (index / VECTORS_DIR / name).write_bytes(data)
    (index / MANIFEST_FILE).write_text(stale_manifest)

    reopened = Engine.open(Settings(index=index), embedder=HashEmbedder())
    hits = reopened.search("championship goal final minute", k=1, mode="dense")
    assert hits[0].title == "Team wins championship"
    reopened.close()


def test_second_writer_is_refused(hash_engine, tmp_path):
    hash_engine.ingest([str(SEED)])
    held = _acquire_lock(hash_engine.settings.index / LOCK_FILE)
    try:
        other = Engine.open(Settings(index=hash_engine.settings.index), embedder=HashEmbedder())
        with pytest.raises(IndexLockedError, match=r"being written by another process \(pid \d+\)"):
            other.ingest([str(_write_articles(tmp_path / "x"))])
        other.close()
    finally:
        _release_lock(held)
    assert hash_engine.store.counts()[0] == 1


def test_dense_search_matches_brute_force(tmp_path):
    engine = Engine.open(Settings(index=tmp_path / "index"), embedder=HashEmbedder(), create=True)
    engine.ingest([str(_write_articles(tmp_path / "a")), str(SEED)])
    store = engine.store
    rows = store.chunk_rows(list(range(1, 100)))
    ids = sorted(rows)
    vectors = store.vectors_for(ids)
    query = HashEmbedder().embed(["farmers drought harvest cattle"])[0]
    scores = vectors @ query
    got = store.dense_search(query, 5)
    # Same scores in the same order; ids agree wherever scores are not tied.
    np.testing.assert_allclose([s for _, s in got], np.sort(scores)[::-1][:5], rtol=1e-5)
    assert got[0][0] == ids[int(np.argmax(scores))]
    engine.close()


def test_filters_restrict_both_sides(tmp_path):
    folder = tmp_path / "dated"
    folder.mkdir()
    for i, (day, source) in enumerate([("2024-01-05", "Alpha"), ("2024-03-09", "Beta"), ("2024-06-01", "Alpha")]):
        (folder / f"{i}.txt").write_text(
            f"---\ntitle: Election update {i}\nurl: https://ex.com/e{i}\nsource: {source}\npublished: {day}\n---\n"
            f"Election officials counted ballots in district {i} late into the night.\n"
        )
    engine = Engine.open(Settings(index=tmp_path / "index"), embedder=HashEmbedder(), create=True)
    engine.ingest([str(folder)])
    from retrieval.types import Filters

    for mode in ("dense", "lexical", "hybrid"):
        hits = engine.search("election ballots", k=5, mode=mode, filters=Filters(since=__import__("datetime").date(2024, 2, 1)))
        assert {h.title for h in hits} == {"Election update 1", "Election update 2"}, mode
        hits = engine.search("election ballots", k=5, mode=mode, filters=Filters(sources=("alpha",)))
        assert {h.title for h in hits} == {"Election update 0", "Election update 2"}, mode
    engine.close()
