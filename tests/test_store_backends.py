"""The same behaviour on both stores (retrieval/stores.py): the embedded folder and Milvus,
here milvus-lite with a local ``.db`` folder under tmp_path (the standard analyzer: it refuses
``english``). Results are compared as sets and ranks, never as raw BM25 scores (FTS5 and
Milvus score differently, and milvus-lite's BM25 uses k1 = 1.5 and per-segment IDF).

The hash embedder where meaning does not matter; the packaged model for the seed answer."""

from __future__ import annotations

import socket
import time
from datetime import date

import numpy as np
import pytest

from index_support import write_corpus
from retrieval import Settings
from retrieval.embeddings import HashEmbedder
from retrieval.engine import Engine
from retrieval.errors import IndexLockedError, IndexMissingError, ModelMismatchError, RetrievalError
from retrieval.types import Filters
from support import ROOT, SEED, milvus_fields

try:
    import milvus_lite  # noqa: F401
    import pymilvus  # noqa: F401

    NO_MILVUS = ""
except ImportError as exc:  # the dev extra installs both
    NO_MILVUS = f"pymilvus / milvus-lite cannot be imported ({exc}); pip install -e '.[dev]'"

needs_milvus = pytest.mark.skipif(bool(NO_MILVUS), reason=NO_MILVUS or "installed")
BACKENDS = ["embedded", pytest.param("milvus", marks=needs_milvus)]
ARTICLES, WORDS = 12, 300  # about 3 chunks each


def settings_for(backend: str, folder, **fields) -> Settings:
    if backend == "milvus":
        return Settings(store="milvus", **{"milvus_collection": "news_test", **milvus_fields(folder)},
                        index=folder / "unused", **fields)
    return Settings(index=folder / "index", **fields)


def open_engine(backend: str, folder, embedder=None, **kwargs) -> Engine:
    return Engine.open(settings_for(backend, folder), embedder=embedder or HashEmbedder(), **kwargs)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus"), ARTICLES, WORDS)


@pytest.fixture(scope="module")
def engines(tmp_path_factory, corpus):
    """Both backends with the same corpus ingested (module-wide: read-only use)."""
    if NO_MILVUS:
        pytest.skip(NO_MILVUS)
    out = {}
    for backend in ("embedded", "milvus"):
        engine = open_engine(backend, tmp_path_factory.mktemp(backend), create=True)
        report = engine.ingest([str(corpus)])
        assert report.count("added") == ARTICLES, report.summary()
        out[backend] = engine
    yield out
    for engine in out.values():
        engine.close()


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path, corpus):
    """A fresh engine of one backend with the corpus ingested (may be written)."""
    engine = open_engine(request.param, tmp_path, create=True)
    engine.ingest([str(corpus)])
    yield engine
    engine.close()


def _key(hit) -> tuple[str, int]:
    return hit.article_id, hit.start


def _question(corpus, i: int, words: int = 6) -> str:
    body = (corpus / f"story-{i:03d}.txt").read_text().split("---\n", 2)[2]
    return " ".join(body.split()[40 : 40 + words])


# ---------------------------------------------------------------------------- the same results


def test_same_articles_chunks_and_dates(engines):
    embedded, milvus = (engines[b].stats() for b in ("embedded", "milvus"))
    assert (milvus.articles, milvus.chunks) == (embedded.articles, embedded.chunks) == (ARTICLES, milvus.chunks)
    assert (milvus.oldest_published, milvus.newest_published) == (date(2024, 3, 1), date(2024, 3, 12))
    assert (embedded.oldest_published, embedded.newest_published) == (date(2024, 3, 1), date(2024, 3, 12))
    assert milvus.model == embedded.model == "hash-256" and milvus.dimension == 256
    assert "news_test" in milvus.path
    assert milvus.index_bytes is None and embedded.index_bytes > 0  # a server's bytes are its own


def test_chunks_and_articles_read_back_the_same(engines):
    e, m = engines["embedded"].store, engines["milvus"].store
    for i in (0, 5):
        ref = f"https://news.example/story/{i}"
        article_id = e.resolve(ref)
        assert article_id and m.resolve(ref) == article_id == m.resolve(article_id)
        assert m.article(article_id) == e.article(article_id)
        assert m.article_hash(article_id) == e.article_hash(article_id)
        assert m.find_by_hash(e.article_hash(article_id)) == article_id
        assert m.has_url(ref) and not m.has_url(ref + "/other")
        e_ids, e_chunks, e_vectors = e.article_chunks(article_id)
        m_ids, m_chunks, m_vectors = m.article_chunks(article_id)
        assert m_chunks == e_chunks
        assert np.allclose(m_vectors, e_vectors, atol=2e-3)  # the embedded store keeps float16
        assert np.allclose(m.vectors_for(m_ids[::-1]), m_vectors[::-1])
        rows = m.chunk_rows(m_ids)
        assert [rows[i]["text"] for i in m_ids] == [c.text for c in m_chunks]
        assert rows[m_ids[0]]["url"] == ref and rows[m_ids[0]]["published"] == f"2024-03-{1 + i:02d}"
    assert m.article("nope") is None and m.resolve("nope") is None


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_each_side_finds_the_article_a_passage_comes_from(engines, corpus, mode):
    """A question made of six words of one article: that article first, on both stores."""
    for i in range(0, ARTICLES, 3):
        question = _question(corpus, i)
        tops = {b: engines[b].search(question, k=5, mode=mode) for b in engines}
        url = f"https://news.example/story/{i}"
        assert tops["embedded"][0].url == url, (mode, i)
        assert tops["milvus"][0].url == url, (mode, i)


def test_dense_ranks_agree(engines, corpus):
    """Exact search on both: the same chunks in the same order (float16 ties aside)."""
    for i in range(ARTICLES):
        vector = HashEmbedder().embed([_question(corpus, i, 12)])[0]
        e = engines["embedded"].store.dense_search(vector, 10)
        m = engines["milvus"].store.dense_search(vector, 10)
        e_keys = [_key(h) for h in engines["embedded"].search(_question(corpus, i, 12), k=10, mode="dense")]
        m_keys = [_key(h) for h in engines["milvus"].search(_question(corpus, i, 12), k=10, mode="dense")]
        assert e_keys[:3] == m_keys[:3]
        assert len(set(e_keys) & set(m_keys)) >= 8
        assert [round(s, 2) for _, s in m] == pytest.approx([round(s, 2) for _, s in e], abs=0.02)


def test_document_frequencies_agree(engines, corpus):
    """Chunks holding a word: FTS5 (Porter stems) and Milvus (milvus-lite counts through its
    BM25 index, a server through TEXT_MATCH) agree on the corpus's made-up words."""
    words = sorted({w.lower().strip(".") for w in _question(corpus, 1, 40).split()})
    e, m = engines["embedded"].store, engines["milvus"].store
    assert m.lite
    agree = [w for w in words if e.document_frequency(w) == m.document_frequency(w) > 0]
    assert len(agree) >= 0.8 * len(words), (words, agree)
    assert m.document_frequency("zzzqqq") == e.document_frequency("zzzqqq") == 0


def test_hybrid_results_overlap(engines, corpus):
    for i in range(ARTICLES):
        question = _question(corpus, i, 10)
        e = [_key(h) for h in engines["embedded"].search(question, k=10)]
        m = [_key(h) for h in engines["milvus"].search(question, k=10)]
        assert e[0] == m[0]
        assert len(set(e) & set(m)) >= 6, (e, m)


# ---------------------------------------------------------------------------- behaviour, per backend


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_filters_restrict_every_side(engine, corpus, mode):
    question = _question(corpus, 4, 12) + " " + _question(corpus, 9, 12)
    dated = Filters(since=date(2024, 3, 3), until=date(2024, 3, 6))
    hits = engine.search(question, k=10, filters=dated, mode=mode)
    assert hits and all(date(2024, 3, 3) <= h.published <= date(2024, 3, 6) for h in hits)
    assert hits[0].url == "https://news.example/story/4"
    assert not engine.search(question, k=10, filters=Filters(since=date(2025, 1, 1)), mode=mode)
    assert not engine.search(question, k=10, filters=Filters(sources=("nowhere",)), mode=mode)
    outlet = engine.search(question, k=10, filters=Filters(sources=("NEWS.EXAMPLE",)), mode=mode)
    assert outlet and {h.source for h in outlet} == {"news.example"}  # outlets match in any case


def test_ingest_again_changes_nothing_and_update_replaces(engine, corpus):
    before = engine.stats()
    report = engine.ingest([str(corpus)])
    assert report.count("unchanged") == ARTICLES
    path = corpus.parent / "changed" / "story-003.txt"
    path.parent.mkdir(exist_ok=True)
    original = (corpus / "story-003.txt").read_text()
    path.write_text(original.replace("---\n", "---\n", 1).rstrip() + " Zorblat quintessence arrived.\n")
    generation = engine.store.generation()
    report = engine.ingest([str(path)])
    assert report.count("updated") == 1, report.results
    assert engine.store.generation() > generation
    assert engine.stats().articles == before.articles
    hits = engine.search("zorblat quintessence", k=3, mode="lexical")
    assert hits and hits[0].url == "https://news.example/story/3"


def test_remove_and_reopen(engine, tmp_path):
    url = "https://news.example/story/7"
    article_id = engine.store.resolve(url)
    chunks = engine.stats().chunks
    removed = engine.remove(url)
    assert removed is not None and removed.id == article_id
    assert engine.store.article(article_id) is None and not engine.store.has_url(url)
    stats = engine.stats()
    assert stats.articles == ARTICLES - 1 and stats.chunks < chunks
    assert all(h.article_id != article_id for h in engine.search("story", k=50))
    assert engine.remove(url) is None
    settings = engine.settings
    engine.close()
    reopened = Engine.open(settings, embedder=HashEmbedder())
    try:
        assert reopened.stats().articles == ARTICLES - 1
        assert reopened.store.resolve(url) is None
        assert reopened.search("story", k=3)
    finally:
        reopened.close()


def test_retention_and_days(engine):
    store = engine.store
    assert store.latest_day(date(2024, 3, 30)) == date(2024, 3, 12)
    assert store.latest_day(date(2024, 2, 1)) is None
    assert len(store.articles_of_day(date(2024, 3, 5))) == 1
    assert len(store.articles_older_than(date(2024, 3, 4))) == 3
    assert engine.prune(older_than_days=(date.today() - date(2024, 3, 4)).days) == 3
    assert engine.stats().oldest_published == date(2024, 3, 4)


def test_alert_ids_only_grow(engine, corpus):
    store = engine.store
    newest = store.max_chunk_id()
    assert newest >= engine.stats().chunks
    extra = corpus.parent / "extra"
    write_corpus(extra, 2, 200, seed=5, prefix="late")
    engine.ingest([str(extra)])
    assert store.max_chunk_id() > newest
    assert len(store.articles_after(newest, store.max_chunk_id())) == 2


def test_model_mismatch_is_refused(engine):
    settings = engine.settings
    engine.close()
    with pytest.raises(ModelMismatchError, match="hash-256"):
        Engine.open(settings, embedder=HashEmbedder(128))


@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_index_is_a_clear_error(backend, tmp_path):
    with pytest.raises(IndexMissingError, match="no index"):
        open_engine(backend, tmp_path)


# ---------------------------------------------------------------------------- Milvus only


@needs_milvus
def test_unreachable_server_is_a_clear_error():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(store="milvus", milvus_uri=f"http://127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(RetrievalError, match=f"127.0.0.1:{port}") as error:
        Engine.open(settings, embedder=HashEmbedder())
    assert "RETRIEVER_MILVUS_URI" in str(error.value)
    assert time.monotonic() - started < 30


@needs_milvus
def test_collections_are_loaded_after_a_restart(tmp_path, corpus):
    from milvus_lite.server_manager import server_manager_instance

    engine = open_engine("milvus", tmp_path, create=True)
    engine.ingest([str(corpus)])
    expected = [_key(h) for h in engine.search(_question(corpus, 2), k=5)]
    engine.close()
    server_manager_instance.release_server(str(tmp_path / "milvus.db"))  # the server stops
    engine = open_engine("milvus", tmp_path)
    try:
        assert [_key(h) for h in engine.search(_question(corpus, 2), k=5)] == expected
    finally:
        engine.close()


@needs_milvus
def test_long_article_text_round_trips(tmp_path):
    from retrieval.milvus_schema import TEXT_PART

    sentences = " ".join(f"Sentence number {i} tells of the émigré’s long journey." for i in range(900))
    assert len(sentences) > 2 * TEXT_PART
    path = tmp_path / "long.txt"
    path.write_text(f"---\ntitle: A long one\nurl: https://news.example/long\n---\n{sentences}\n", encoding="utf-8")
    engine = open_engine("milvus", tmp_path, create=True)
    try:
        report = engine.ingest([str(path)])
        assert report.count("added") == 1, report.results
        article = engine.store.article(report.results[0].article_id)
        assert article.text == sentences
    finally:
        engine.close()


@pytest.mark.slow
@needs_milvus
def test_seed_answer_has_the_same_citations(tmp_path, seed_engine, real_embedder):
    question = "What did Qureshi say about Afghanistan?"
    engine = Engine.open(settings_for("milvus", tmp_path), embedder=real_embedder, create=True)
    try:
        report = engine.ingest([str(ROOT / "corpus")])
        assert report.count("added") >= 1, report.summary()
        milvus, embedded = engine.ask(question), seed_engine.ask(question)
        assert not milvus.abstained
        assert [(c.article_id, c.start, c.quote) for c in milvus.citations] == \
            [(c.article_id, c.start, c.quote) for c in embedded.citations]
        assert milvus.text == embedded.text
        assert engine.check(milvus) == []
    finally:
        engine.close()


# ---------------------------------------------------------------------------- near copies, errors


@pytest.mark.parametrize("backend", BACKENDS)
def test_near_copies_fold_cite_and_go(backend, tmp_path, seed_text):
    """tests/test_folding.py's story on each store: two outlets' copies folded into the AP
    story, cited as "also in", found by their outlet, removed one by one."""
    from test_folding import COPIES, STORY_URL, _copy_files, _front
    from retrieval.types import AlternativeSource

    engine = open_engine(backend, tmp_path, create=True)
    try:
        cleaned = engine.ingest([str(SEED)]).results[0]
        text = engine.store.article(cleaned.article_id).text
        engine.remove(cleaned.article_id)
        story = tmp_path / "ap.md"
        story.write_text(_front("Pakistan calls for engagement with US for stability in South Asia", STORY_URL, "AP", text))
        story_id = engine.ingest([str(story)]).results[0].article_id
        report = engine.ingest(_copy_files(tmp_path, text))
        assert [(r.status, r.article_id) for r in report.results] == [("folded", story_id)] * 2, report.results
        assert engine.stats().articles == 1 and engine.store.folded_count() == 2
        hits = engine.search("Qureshi Blinken Afghanistan engagement", k=5)
        assert {h.article_id for h in hits} == {story_id}
        assert [a.source for a in hits[0].also] == ["The Independent", "Yahoo News"]
        assert engine.store.outlets([story_id]) == {story_id: ("AP", "The Independent", "Yahoo News")}
        assert engine.search("Qureshi", k=3, filters=Filters(sources=("yahoo news",)))
        assert engine.store.has_url(COPIES["Yahoo News"][0])
        again = engine.ingest(_copy_files(tmp_path, text))
        assert [r.status for r in again.results] == ["unchanged", "unchanged"], again.results

        removed = engine.remove(COPIES["Yahoo News"][0])
        assert isinstance(removed, AlternativeSource) and removed.source == "Yahoo News"
        assert [a.source for a in engine.search("Qureshi", k=1)[0].also] == ["The Independent"]
        assert engine.remove(STORY_URL).id == story_id
        assert engine.stats().articles == 0 and engine.store.folded_count() == 0
        assert engine.ingest(_copy_files(tmp_path, text)[:1]).results[0].status == "added"
    finally:
        engine.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_read_only_serves_and_refuses_writes(backend, tmp_path, corpus):
    from retrieval.errors import IndexReadOnlyError

    with open_engine(backend, tmp_path, create=True) as engine:
        engine.ingest([str(corpus)])
    settings = settings_for(backend, tmp_path, read_only=True)
    with Engine.open(settings, embedder=HashEmbedder()) as engine:
        assert engine.search(_question(corpus, 1), k=1)[0].url == "https://news.example/story/1"
        with pytest.raises(IndexReadOnlyError, match="read-only"):
            engine.remove("https://news.example/story/1")
        with pytest.raises(IndexReadOnlyError):
            engine.ingest([str(corpus)])
        assert engine.stats().articles == ARTICLES


@needs_milvus
def test_refused_credentials_name_the_setting_not_the_token():
    """milvus-lite has no authentication: the error a real Milvus sends (code 1800) is made
    here, and goes through the store's translation."""
    from pymilvus import MilvusException

    from retrieval.errors import ConfigError
    from retrieval.milvus_client import translate_error

    settings = Settings(store="milvus", milvus_uri="http://127.0.0.1:19530", milvus_token="root:s3cret")
    error = translate_error(settings, "connect", MilvusException(code=1800, message="auth check failure, please check username and password"))
    assert isinstance(error, ConfigError) and "RETRIEVER_MILVUS_TOKEN" in str(error)
    assert "s3cret" not in str(error) and "s3cret" not in repr(settings)


@needs_milvus
def test_a_local_db_open_in_another_process_is_named(tmp_path):
    import subprocess
    import sys

    from retrieval.errors import IndexLockedError

    engine = open_engine("milvus", tmp_path, create=True)
    try:
        engine.ingest([str(SEED)])
        code = ("from retrieval.engine import Engine; from retrieval import Settings\n"
                f"Engine.open(Settings(store='milvus', milvus_uri={str(tmp_path / 'milvus.db')!r}, "
                "milvus_collection='news_test'), check_model=False)")
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert other.returncode == 1 and IndexLockedError.__name__ in other.stderr
        assert "milvus-lite server" in other.stderr
    finally:
        engine.close()


# ---------------------------------------------------------------------------- one server, many processes


@needs_milvus
def test_one_process_ingests_another_searches(lite_server, tmp_path, corpus):
    """Two CLI processes and this one on one milvus-lite server: what one ingests, the others
    find at once (Strong reads), an engine that stays open included."""
    import json

    from index_support import cli

    lite_server, _ = lite_server

    env = {"RETRIEVER_STORE": "milvus", "RETRIEVER_MILVUS_URI": lite_server,
           "RETRIEVER_MILVUS_ANALYZER": "standard", "RETRIEVER_MILVUS_COLLECTION": "shared"}
    ingest = cli("ingest", str(corpus), env=env)
    assert ingest.returncode == 0, ingest.stderr
    settings = Settings(store="milvus", milvus_uri=lite_server, milvus_analyzer="standard",
                        milvus_collection="shared")
    with Engine.open(settings, embedder=HashEmbedder()) as engine:
        assert engine.stats().articles == ARTICLES
        assert engine.search(_question(corpus, 6), k=1)[0].url == "https://news.example/story/6"

        late = write_corpus(tmp_path / "late", 2, 200, seed=9, prefix="late")
        assert cli("ingest", str(late), env=env).returncode == 0
        assert engine.stats().articles == ARTICLES + 2  # the open engine sees the other's commit
        question = " ".join((late / "late-001.txt").read_text().split("---\n", 2)[2].split()[10:16])
        assert engine.search(question, k=1)[0].url == "https://news.example/late/1"

        found = cli("search", question, "-k", "1", "--json", env=env)
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)["results"][0]["url"] == "https://news.example/late/1"
        stats = cli("stats", env=env)
        assert stats.returncode == 0 and "kept by the server" in stats.stdout, stats.stdout + stats.stderr
        assert f"articles:     {ARTICLES + 2}" in stats.stdout
        removed = cli("remove", "https://news.example/late/1", env=env)
        assert removed.returncode == 0, removed.stderr
        assert engine.stats().articles == ARTICLES + 1
        assert engine.store.resolve("https://news.example/late/1") is None


# ---------------------------------------------------------------------------- feeds, topics, alerts


@pytest.mark.parametrize("backend", BACKENDS)
def test_feeds_topics_alerts_and_the_watcher_lease(backend, tmp_path, corpus):
    """What the watcher and the bot keep in the index, on each store (the whole of
    tests/test_watch.py and most of tests/test_alerts.py also pass with TEST_STORE=milvus)."""
    from dataclasses import replace
    from datetime import datetime, timedelta, timezone

    now = datetime(2024, 3, 20, 12, 0, tzinfo=timezone.utc)
    with open_engine(backend, tmp_path, create=True) as engine:
        feed, created = engine.add_feed("https://feeds.example/rss", every_minutes=15, source="Feeds")
        assert created and engine.add_feed("https://feeds.example/rss", every_minutes=30)[1] is False
        store = engine.store
        polled = replace(store.feed("https://feeds.example/rss"), next_poll=now, last_poll=now,
                         last_success=now, errors=0, etag='"v1"')
        store.save_poll(polled, added=3)
        store.save_poll(polled, added=2)
        [saved] = engine.feeds()
        assert (saved.every_minutes, saved.source, saved.articles_added, saved.etag) == (30, None, 5, '"v1"')
        assert saved.next_poll == now

        with store.watching() as mine:
            assert mine
            assert store.watcher()

        engine.ingest([str(corpus)])
        assert store.alert_cursor() is None and engine.alerts.check() == []
        subscription, new = engine.alerts.follow(7, "Volcano eruption")
        assert new and engine.alerts.follow(7, "volcano ERUPTION") == (subscription, False)
        assert store.alert_cursor() == store.max_chunk_id()  # no backlog
        assert [s.topic for s in store.subscriptions()] == ["Volcano eruption"]
        assert store.claim_alert(7, "a1", "Volcano eruption", now, per_hour=2) == "claimed"
        assert store.claim_alert(7, "a1", "Volcano eruption", now, per_hour=2) == "sent before"
        assert store.claim_alert(7, "a2", "Volcano eruption", now, per_hour=2) == "claimed"
        assert store.claim_alert(7, "a3", "Volcano eruption", now, per_hour=2) == "over limit"
        assert store.claim_alert(7, "a3", "Volcano eruption", now + timedelta(hours=2), per_hour=2) == "claimed"
        store.set_alert_cursor(1)  # never backwards
        assert store.alert_cursor() == store.max_chunk_id()
        assert engine.alerts.unfollow(7, "volcano eruption") and not engine.alerts.unfollow(7, "volcano eruption")
        assert engine.remove_feed("https://feeds.example/rss") is not None and engine.feeds() == []


@needs_milvus
def test_a_server_gone_mid_session_is_a_clear_error(lite_server, corpus, capfd):
    uri, server = lite_server
    settings = Settings(store="milvus", milvus_uri=uri, milvus_analyzer="standard")
    with Engine.open(settings, embedder=HashEmbedder(), create=True) as engine:
        engine.ingest([str(SEED)])
        assert engine.search("Qureshi", k=1)
        server.terminate()
        server.wait(timeout=30)
        with pytest.raises(RetrievalError, match="RETRIEVER_MILVUS_URI") as error:
            engine.search("Qureshi", k=1)
        assert uri.removeprefix("http://") in str(error.value)
    assert "Traceback" not in capfd.readouterr().err  # pymilvus logs none either


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_article_stored_unsigned_is_signed_later(backend, tmp_path, seed_text):
    """The backfill path (articles stored before folding): a signature written on its own."""
    from retrieval import dupes
    from retrieval.stores import create_store
    from retrieval.types import Article, Chunk

    store = create_store(settings_for(backend, tmp_path), model="hash-4", dimension=4, chunking={})
    try:
        article = Article(id="a1", title="The story", text=seed_text, url="https://news.example/a1")
        with store.writing() as writer, writer.batch() as batch:
            batch.put(article, [Chunk("a1", 0, 0, 100, seed_text[:100])], np.eye(4, dtype=np.float32)[:1])
        assert store.unsigned_articles(10) == ["a1"] and store.near_candidates(dupes.signature("x", seed_text), 5) == []
        signature = dupes.signature(article.title, article.text)
        with store.writing() as writer, writer.batch() as batch:
            batch.sign("a1", signature)
        assert store.unsigned_articles(10) == []
        [(found, stored)] = store.near_candidates(signature, 5)
        assert found == "a1" and stored.similarity(signature) == 1.0
        assert store.article("a1") == article
    finally:
        store.close()


@needs_milvus
def test_both_stores_implement_the_whole_interface():
    """Every member of retrieval.stores.IndexStore (and the writer's batch) on both classes,
    with the same parameters: the engine may call any of them on either store."""
    import inspect

    from retrieval.milvus_store import MilvusStore
    from retrieval.store import Batch, Store
    from retrieval.stores import IndexBatch, IndexStore

    for protocol, classes in ((IndexStore, (Store, MilvusStore)), (IndexBatch, (Batch,))):
        members = [n for n in dir(protocol) if not n.startswith("_")]
        for cls in classes:
            for name in members:
                wanted = getattr(protocol, name, None)
                if callable(wanted) and not isinstance(wanted, property):
                    got = getattr(cls, name, None)
                    assert callable(got), f"{cls.__name__}.{name} is missing"
                    assert list(inspect.signature(got).parameters) == list(inspect.signature(wanted).parameters), \
                        f"{cls.__name__}.{name}{inspect.signature(got)} vs {inspect.signature(wanted)}"
        for name in getattr(protocol, "__annotations__", {}):
            for cls in classes:
                assert name in getattr(cls.__init__, "__code__").co_names or hasattr(cls, name), (cls, name)


class _OtherProcess:
    """A process that opens the Milvus index at ``uri`` (collection prefix ``collection``), runs
    ``store.<held>`` as a context manager, prints what it yields and holds it until
    :meth:`let_go`."""

    def __init__(self, uri: str, collection: str, held: str):
        import subprocess
        import sys

        code = ("import sys\nfrom retrieval import Settings\nfrom retrieval.stores import find_store\n"
                f"store = find_store(Settings(store='milvus', milvus_uri={uri!r}, milvus_collection={collection!r}))\n"
                f"with store.{held} as got:\n    print(got is not False, flush=True)\n    sys.stdin.readline()\n"
                "store.close()\n")
        self.process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, cwd=ROOT)
        self.pid = self.process.pid
        self.holds = self.process.stdout.readline().strip() == "True"

    def let_go(self) -> None:
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        assert self.process.wait(timeout=60) == 0

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()


@needs_milvus
def test_one_feed_watcher_per_milvus_index(lite_server):
    """The watcher's lease in another process: this one stands by, and names it; once it is
    let go, this one watches."""
    from retrieval.stores import create_store

    uri, _ = lite_server
    settings = Settings(store="milvus", milvus_uri=uri, milvus_analyzer="standard")
    store = create_store(settings, model="hash-4", dimension=4, chunking={})
    other = _OtherProcess(uri, settings.milvus_collection, "watching()")
    try:
        assert other.holds
        with store.watching() as mine:
            assert not mine
        assert store.watcher().startswith(f"pid {other.pid} on ")
        other.let_go()
        with store.watching() as mine:
            assert mine
    finally:
        other.kill()
        store.close()


@needs_milvus
def test_one_writing_process_per_milvus_index(lite_server, corpus):
    """A write session in another process holds the writer's lease: an ingest here is refused
    with its name, and goes through once the other session ends (two writers would reserve
    the same chunk ids)."""
    uri, _ = lite_server
    settings = Settings(store="milvus", milvus_uri=uri, milvus_analyzer="standard", milvus_collection="writers")
    engine = Engine.open(settings, embedder=HashEmbedder(), create=True)
    engine.ingest([str(corpus)])  # the collections exist before the other process opens them
    other = _OtherProcess(uri, "writers", "writing()")
    try:
        assert other.holds
        with pytest.raises(IndexLockedError, match=f"being written by pid {other.pid} on .*one writer at a time"):
            engine.remove(engine.store.article_ids()[0])
        assert engine.stats().articles == ARTICLES  # nothing was written
        other.let_go()
        assert engine.remove(engine.store.article_ids()[0]) is not None
        assert engine.stats().articles == ARTICLES - 1
    finally:
        other.kill()
        engine.close()


@needs_milvus
def test_an_index_made_before_feeds_gains_them_and_a_broken_one_is_named(tmp_path, corpus):
    from pymilvus import MilvusClient

    from retrieval.errors import IndexFormatError

    with open_engine("milvus", tmp_path, create=True) as engine:
        engine.ingest([str(corpus)])
    admin = MilvusClient(uri=str(tmp_path / "milvus.db"))
    for kind in ("feeds", "topics", "alerts"):  # as the first version of the store made it
        admin.drop_collection(f"news_test_{kind}")
    read_only = settings_for("milvus", tmp_path, read_only=True)
    with pytest.raises(IndexFormatError, match="open it once without RETRIEVER_READ_ONLY"):
        Engine.open(read_only, embedder=HashEmbedder())
    with open_engine("milvus", tmp_path) as engine:
        assert engine.feeds() == [] and engine.stats().articles == ARTICLES
        assert engine.add_feed("https://feeds.example/rss")[1]
    with Engine.open(read_only, embedder=HashEmbedder()) as engine:
        assert [f.url for f in engine.feeds()] == ["https://feeds.example/rss"]
    admin.drop_collection("news_test_texts")
    with pytest.raises(IndexFormatError, match="news_test_texts missing"):
        open_engine("milvus", tmp_path)
    admin.close()
