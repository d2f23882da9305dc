"""Copying an index into another store (retrieval/migrate.py): everything a query or the bot
needs arrives, vectors are reused, a stopped copy is finished by running it again, and a second
run adds nothing. Real index folders and milvus-lite databases, the hash embedder."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone

import numpy as np
import pytest

from index_support import cli, write_corpus
from retrieval import Settings
from retrieval.embeddings import HashEmbedder
from retrieval.engine import Engine
from retrieval.errors import ModelMismatchError
from retrieval.migrate import copy_index
from retrieval.store import DB_FILE, Store, encode_vector
from retrieval.stores import create_store

try:
    import milvus_lite  # noqa: F401
    import pymilvus  # noqa: F401

    NO_MILVUS = ""
except ImportError as exc:  # the dev extra installs both
    NO_MILVUS = f"pymilvus / milvus-lite cannot be imported ({exc}); pip install -e '.[dev]'"
needs_milvus = pytest.mark.skipif(bool(NO_MILVUS), reason=NO_MILVUS or "installed")
from support import SEED, milvus_fields

NOW = datetime(2024, 3, 30, tzinfo=timezone.utc)


def _front(title: str, url: str, source: str, text: str) -> str:
    return f"---\ntitle: {title}\nurl: {url}\nsource: {source}\npublished: 2021-09-24\n---\n{text}\n"


@pytest.fixture
def source(tmp_path):
    """An index of 25 articles, a story with a folded copy from another outlet, a feed (polled
    once) and two subscriptions."""
    engine = Engine.open(Settings(index=tmp_path / "source", model=HashEmbedder().name), create=True)
    assert engine.ingest([str(write_corpus(tmp_path / "corpus", 24, 260, seed=5))]).count("added") == 24
    story = engine.ingest([str(SEED)]).results[0]
    text = engine.store.article(story.article_id).text
    copy = tmp_path / "copy.md"
    copy.write_text(_front("Pakistan seeks closer engagement with US", "https://copy.example/pk", "Copy News",
                           text + "\n\nSign up to our free daily newsletter."))
    assert engine.ingest([str(copy)]).count("folded") == 1
    store = engine.store
    feed, _ = store.put_feed("https://feeds.example/rss", 30, "Example", NOW)
    store.save_poll(type(feed)(**{**feed.__dict__, "etag": "v1", "errors": 2, "last_error": "timed out"}), added=7)
    store.put_subscription(42, "Qureshi", NOW)
    store.put_subscription(-1001, "Mars", NOW)
    yield engine
    engine.close()


def _settings(kind: str, folder) -> Settings:
    if kind == "milvus":
        return Settings(store="milvus", model=HashEmbedder().name, **milvus_fields(folder))
    return Settings(index=folder, model=HashEmbedder().name)


def _target(path, source, kind: str = "embedded"):
    return create_store(_settings(kind, path), model=source.model, dimension=source.dimension,
                        chunking=source.chunking)


def _hits(engine: Engine, question: str) -> list[tuple]:
    """What a reader sees of the hits (chunk ids are the store's own)."""
    return [(h.rank, h.article_id, h.title, h.text, h.url, h.also) for h in engine.search(question, k=5)]


QUESTIONS = ("What did Qureshi say about Afghanistan?", "story 3", "lake")


def test_a_copy_holds_everything_and_answers_the_same(source, tmp_path):
    target = _target(tmp_path / "target", source.store)
    report = copy_index(source.store, target, batch_articles=7)
    assert (report.articles, report.present, report.sources, report.feeds, report.subscriptions) == (25, 0, 1, 1, 2)
    assert target.counts() == source.store.counts()
    for article_id in source.store.article_ids():
        assert target.article(article_id) == source.store.article(article_id)
        _, chunks, vectors = source.store.article_chunks(article_id)
        _, copied, copied_vectors = target.article_chunks(article_id)
        assert copied == chunks and np.array_equal(copied_vectors, vectors)
    [folded] = source.store.folded_sources()
    assert target.alternative(folded.id) == folded  # the story cites the copy, with its hash
    assert target.find_by_hash(folded.hash) is None and target.alternative(folded.source.url) == folded
    [feed] = target.feeds()
    assert (feed.url, feed.source, feed.etag, feed.errors, feed.articles_added) == (
        "https://feeds.example/rss", "Example", "v1", 2, 7)
    assert {(s.chat, s.topic) for s in target.subscriptions()} == {(42, "Qureshi"), (-1001, "Mars")}
    target.close()

    copied = Engine.open(Settings(index=tmp_path / "target", model=HashEmbedder().name))
    for question in QUESTIONS:
        assert copied.search(question, k=5) == source.search(question, k=5)
    assert copied.ask("What did Qureshi say about Afghanistan?").text == \
        source.ask("What did Qureshi say about Afghanistan?").text
    copied.close()


@needs_milvus
def test_a_copy_to_milvus_and_back_holds_everything_and_answers_the_same(source, tmp_path):
    milvus = _target(tmp_path / "m", source.store, "milvus")
    there = copy_index(source.store, milvus, batch_articles=7)
    assert (there.articles, there.sources, there.feeds, there.subscriptions) == (25, 1, 1, 2)
    assert milvus.counts() == source.store.counts()
    for article_id in source.store.article_ids():
        assert milvus.article(article_id) == source.store.article(article_id)
        _, chunks, vectors = source.store.article_chunks(article_id)
        _, copied, copied_vectors = milvus.article_chunks(article_id)
        assert copied == chunks and np.allclose(copied_vectors, vectors, atol=1e-3)
    [folded] = source.store.folded_sources()
    assert milvus.alternative(folded.id) == folded
    assert [(f.url, f.etag, f.errors, f.articles_added) for f in milvus.feeds()] == [
        ("https://feeds.example/rss", "v1", 2, 7)]
    assert {(s.chat, s.topic) for s in milvus.subscriptions()} == {(42, "Qureshi"), (-1001, "Mars")}
    assert copy_index(source.store, milvus).articles == 0  # again: nothing to add

    back = _target(tmp_path / "back", milvus)
    assert copy_index(milvus, back).articles == 25
    milvus.close()
    back.close()
    copied = Engine.open(_settings("embedded", tmp_path / "back"))
    for question in QUESTIONS:
        assert _hits(copied, question) == _hits(source, question)
    copied.close()


def test_the_stored_vectors_are_copied_not_embedded_again(source, tmp_path):
    marked = np.random.default_rng(1).standard_normal(source.store.dimension).astype(np.float32)
    marked /= np.linalg.norm(marked)  # a vector no embedder makes for that chunk
    conn = sqlite3.connect(tmp_path / "source" / DB_FILE)
    with conn:
        conn.execute("UPDATE chunks SET vector=? WHERE id=(SELECT MIN(id) FROM chunks)", (encode_vector(marked),))
    conn.close()
    target = _target(tmp_path / "target", source.store)
    copy_index(source.store, target)
    first = source.store.article_ids()[0]
    assert np.allclose(target.article_chunks(first)[2][0], marked, atol=1e-3)
    assert target.dense_search(marked, 1)[0][0] == target.article_chunks(first)[0][0]
    target.close()


def test_a_stopped_copy_is_finished_by_running_it_again_and_a_third_run_adds_nothing(source, tmp_path):
    target = _target(tmp_path / "target", source.store)

    def stop_after_two_batches(report, total):
        if report.articles >= 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        copy_index(source.store, target, batch_articles=5, progress=stop_after_two_batches)
    assert target.counts()[0] == 10  # the committed batches stay
    again = copy_index(source.store, target, batch_articles=5)
    assert (again.articles, again.present) == (15, 10)
    assert target.counts() == source.store.counts()
    third = copy_index(source.store, target)
    assert (third.articles, third.present, third.sources, third.feeds, third.subscriptions) == (0, 25, 0, 0, 0)
    assert target.counts() == source.store.counts()
    target.close()


def test_a_target_with_another_model_is_refused_before_anything_is_written(source, tmp_path):
    target = Store.create(tmp_path / "other", model="hash-128", dimension=128, chunking=source.store.chunking)
    with pytest.raises(ModelMismatchError, match="hash-256.*hash-128"):
        copy_index(source.store, target)
    assert target.counts() == (0, 0)
    target.close()


@needs_milvus
def test_retriever_migrate_copies_to_milvus_and_back_and_says_what_it_did(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", 8, 260, seed=7)
    folder = tmp_path / "index"
    assert cli("--index", str(folder), "ingest", str(corpus)).returncode == 0
    milvus = {"RETRIEVER_MILVUS_URI": str(tmp_path / "milvus.db"), "RETRIEVER_MILVUS_ANALYZER": "standard"}

    to = cli("--index", str(folder), "migrate", "--to", "milvus", env=milvus)
    assert to.returncode == 0, to.stderr
    assert "8 article(s) copied" in to.stdout and "Traceback" not in to.stderr
    again = cli("--index", str(folder), "migrate", "--to", "milvus", env=milvus)
    assert again.returncode == 0 and "0 article(s) copied" in again.stdout and "8 already there" in again.stdout

    local = cli("--index", str(folder), "search", "story 2", "-k", "1", "--json")
    remote = cli("search", "story 2", "-k", "1", "--json", env={**milvus, "RETRIEVER_STORE": "milvus"})
    assert remote.returncode == 0, remote.stderr
    assert json.loads(remote.stdout)["results"][0]["url"] == json.loads(local.stdout)["results"][0]["url"]

    back = cli("--index", str(tmp_path / "back"), "migrate", "--from", "milvus", env=milvus)
    assert back.returncode == 0 and "8 article(s) copied" in back.stdout, back.stderr


def test_retriever_migrate_needs_one_direction_and_an_index_to_copy(tmp_path):
    both = cli("--index", str(tmp_path / "index"), "migrate")
    assert both.returncode == 2 and "--to milvus or --from milvus" in both.stderr
    missing = cli("--index", str(tmp_path / "nothing"), "migrate", "--to", "milvus",
                  env={"RETRIEVER_MILVUS_URI": str(tmp_path / "milvus.db")})
    assert missing.returncode == 1 and "no index at" in missing.stderr and "Traceback" not in missing.stderr


def test_an_article_changed_since_the_last_copy_is_copied_again(source, tmp_path):
    target = _target(tmp_path / "target", source.store)
    copy_index(source.store, target)
    story_id = source.store.article_ids()[-1]  # the seed story (with its folded copy)
    article = source.store.article(story_id)
    changed = type(article)(**{**article.__dict__, "text": article.text + "\n\nAn update: talks resume on Monday."})
    with source.store.writing() as writer, writer.batch() as batch:
        _, chunks, vectors = source.store.article_chunks(story_id)
        batch.put(changed, chunks, vectors)
    again = copy_index(source.store, target)
    assert (again.articles, again.updated, again.present) == (1, 1, 24)
    assert target.article(story_id).text.endswith("talks resume on Monday.")
    assert target.counts() == source.store.counts()
    target.close()
