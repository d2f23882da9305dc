"""Feeds owned by the index, the watcher and retention, in-process.

A real feed server on 127.0.0.1 whose feed changes during the test (feed_site.py), real index
folders, the hash embedder. The watcher's clock is moved by hand, so scheduling and backoff are
checked without sleeping; a second Engine on the same folder plays the bot or another process.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest

from feed_site import FeedSite
from retrieval import Settings
from retrieval.embeddings import HashEmbedder
from retrieval.engine import Engine
from retrieval.errors import ConfigError
from retrieval.store import watching
from retrieval.watch import JITTER, Watcher
from support import LOOPBACK, SEED

class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def feed_site():
    site = FeedSite()
    yield site
    site.close()


def open_engine(index, **settings) -> Engine:
    settings = {"fetch_allow": LOOPBACK, "watch_host_delay": 0, **settings}
    return Engine.open(Settings(index=index, **settings), embedder=HashEmbedder(), create=True)


@pytest.fixture
def engine(tmp_path):
    e = open_engine(tmp_path / "index")
    yield e
    e.close()


def follow(engine: Engine, url: str, every: float = 30) -> Watcher:
    engine.add_feed(url, every_minutes=every)
    clock = Clock()
    # The feed was added at the real time; the hand clock starts later, so it is due.
    clock.now = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=2)
    return Watcher(engine, clock=clock, seed=1)


def found(engine: Engine, word: str) -> bool:
    return any(word in h.text.lower() for h in engine.search(word, k=5, mode="lexical"))


def assert_consistent(engine: Engine) -> None:
    """The vector segments hold exactly SQLite's chunk ids."""
    store = engine.store
    with sqlite3.connect(store.path / "index.sqlite") as conn:
        ids = sorted(r[0] for r in conn.execute("SELECT id FROM chunks"))
    assert store.vector_ids().tolist() == ids


def test_new_entries_are_searchable_from_another_engine_without_restart(engine, feed_site, tmp_path):
    feed_site.publish(1)
    watcher = follow(engine, feed_site.feed_url)
    reader = Engine.open(Settings(index=tmp_path / "index"), embedder=HashEmbedder())  # the bot
    try:
        assert not found(reader, "storyword1")
        [result] = watcher.run_once()
        assert (result.status, result.added) == ("new", 1), result
        assert found(reader, "storyword1")

        feed_site.publish(2)
        watcher.clock.advance(minutes=26)  # 30 minutes ±10%
        assert watcher.run_once() == []  # not due yet
        watcher.clock.advance(minutes=8)
        [result] = watcher.run_once()
        assert (result.status, result.added) == ("new", 1), result
        assert found(reader, "storyword2") and found(reader, "storyword1")
        assert feed_site.story_requests() == ["/story/1", "/story/2"]  # story 1 not fetched again
        feed = reader.feeds()[0]
        assert feed.articles_added == 2 and feed.errors == 0 and feed.last_error is None
        assert feed.last_success == watcher.clock.now
    finally:
        reader.close()


def test_unchanged_feed_costs_one_conditional_request(engine, feed_site):
    feed_site.publish(1)
    watcher = follow(engine, feed_site.feed_url)
    watcher.run_once()
    first = len(feed_site.requests)
    watcher.clock.advance(hours=1)
    [result] = watcher.run_once()
    assert result.status == "not modified", result
    assert len(feed_site.requests) == first + 1  # the feed only: no entry was fetched
    assert "If-None-Match" not in feed_site.feed_requests()[0]
    assert feed_site.feed_requests()[-1]["If-None-Match"] == engine.feeds()[0].etag
    assert feed_site.feed_requests()[-1]["If-Modified-Since"] == engine.feeds()[0].last_modified
    assert "newsbot-retriever" in feed_site.feed_requests()[-1]["User-Agent"]


def test_failing_feed_backs_off_and_resumes(engine, feed_site):
    feed_site.publish(1)
    feed_site.feed_status = 503
    watcher = follow(engine, feed_site.feed_url, every=10)
    clock = watcher.clock

    def waits_about(minutes: float) -> None:
        feed = engine.feeds()[0]
        wait = (feed.next_poll - clock.now).total_seconds() / 60
        assert minutes * (1 - JITTER) - 0.02 <= wait <= minutes * (1 + JITTER) + 0.02, (wait, minutes)

    [result] = watcher.run_once()
    assert result.status == "failed" and result.error == "HTTP 503"
    feed = engine.feeds()[0]
    assert (feed.errors, feed.last_error, feed.last_success) == (1, "HTTP 503", None)
    waits_about(20)
    clock.advance(minutes=12)
    assert watcher.run_once() == []  # backing off: its plain interval is not enough
    clock.now = engine.feeds()[0].next_poll
    watcher.run_once()
    assert engine.feeds()[0].errors == 2
    waits_about(40)

    feed_site.feed_status = 200
    clock.now = engine.feeds()[0].next_poll
    [result] = watcher.run_once()
    assert (result.status, result.added) == ("new", 1), result
    feed = engine.feeds()[0]
    assert (feed.errors, feed.last_error, feed.last_success) == (0, None, clock.now)
    waits_about(10)
    assert found(engine, "storyword1")


def test_full_text_entries_are_used_as_they_are(engine, feed_site):
    feed_site.publish(1, full_text=True, words=120)
    feed_site.publish(2)  # a teaser: its page is read
    watcher = follow(engine, feed_site.feed_url)
    [result] = watcher.run_once()
    assert result.added == 2, result
    assert feed_site.story_requests() == ["/story/2"]
    article = engine.store.article(engine.store.resolve(feed_site.base + "/story/1"))
    assert article.title == "Story 1" and "storyword1" in article.text and "storyword1001" in article.text
    assert article.published == date(2024, 3, 4)


def test_the_feed_date_wins_over_a_date_in_the_text(engine, feed_site):
    """A full-text entry that mentions an old date keeps the feed's date (found by
    bench_watch: the extractor guessed 2013 for a story published that day)."""
    feed_site.publish(1, full_text=True, words=160)
    feed_site.entries[0]["content"] = ("<p>Published January 1, 2013. Updated 2007-01-01.</p>"
                                       + feed_site.entries[0]["content"])
    [result] = follow(engine, feed_site.feed_url).run_once()
    assert result.added == 1, result
    assert engine.store.article(engine.store.resolve(feed_site.base + "/story/1")).published == date(2024, 3, 4)


def test_a_near_copy_from_a_second_feed_folds_into_the_first_story(engine, feed_site):
    """The same wire story in two outlets' feeds: stored once, both outlets cited."""
    other = FeedSite("Second Outlet")
    try:
        body = SEED.read_text(encoding="utf-8").split("---")[-1].strip().split("\n\n")
        wire = "".join(f"<p>{p}</p>" for p in body)  # real prose: the filler of story() is too repetitive
        for site, title in ((feed_site, "Pakistan calls for engagement with US"),
                            (other, "Pakistan urges US engagement for stability in South Asia")):
            site.publish(1, full_text=True)
            site.entries[0].update(title=title, content=wire if site is feed_site else wire + "<p>Read more.</p>")
        engine.add_feed(feed_site.feed_url, every_minutes=30, source="Wire Service")
        engine.add_feed(other.feed_url, every_minutes=30, source="City Paper")
        clock = Clock()
        clock.now = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=2)
        results = {r.url: r for r in Watcher(engine, clock=clock, seed=1).run_once()}
    finally:
        other.close()
    assert results[feed_site.feed_url].added + results[other.feed_url].added == 1, results
    [hit] = engine.search("Qureshi Afghanistan", k=1, mode="lexical")
    outlets = {hit.source, *(a.source for a in hit.also)}
    assert len(hit.also) == 1 and {"Wire Service"} <= outlets and len(outlets) == 2, (hit.source, hit.also)
    assert engine.store.folded_count() == 1


def test_one_request_at_a_time_per_host(engine, feed_site):
    for n in range(4):
        feed_site.publish(n)
    feed_site.page_delay = 0.1
    [result] = follow(engine, feed_site.feed_url).run_once()
    assert result.added == 4
    assert feed_site.max_parallel == 1


def test_broken_entries_are_named_and_the_feed_is_read_again(engine, feed_site):
    feed_site.publish(1)
    feed_site.publish(2)
    del feed_site.pages["/story/2"]
    watcher = follow(engine, feed_site.feed_url)
    [result] = watcher.run_once()
    assert (result.added, result.failed) == (1, 1)
    feed = engine.feeds()[0]
    assert feed.errors == 0 and "/story/2: HTTP 404" in feed.last_error
    assert feed.etag is None  # not saved: a 304 must not hide story 2 next time
    feed_site.publish(2)
    watcher.clock.advance(hours=1)
    [result] = watcher.run_once()
    assert (result.status, result.added) == ("new", 1)
    assert feed_site.story_requests().count("/story/1") == 1


def test_not_a_feed_is_a_failed_poll(engine, feed_site):
    engine.add_feed(feed_site.base + "/story/1")
    feed_site.publish(1)
    [result] = Watcher(engine, seed=1).run_once()
    assert result.status == "failed" and "not a readable RSS/Atom feed" in result.error


def test_second_watcher_stands_by(engine, feed_site, tmp_path):
    feed_site.publish(1)
    watcher = follow(engine, feed_site.feed_url)
    other = open_engine(tmp_path / "index")
    try:
        with watching(other.store) as mine:
            assert mine
            assert watcher.run_once() is None
        assert feed_site.requests == []
        assert watcher.run_once()[0].added == 1
    finally:
        other.close()


def test_feeds_survive_reopening_and_old_indexes_gain_the_table(tmp_path):
    index = tmp_path / "index"
    engine = open_engine(index)
    engine.ingest([str(SEED)])
    engine.close()
    with sqlite3.connect(index / "index.sqlite") as conn:  # as an index made before feeds
        conn.execute("DROP TABLE feeds")
    engine = open_engine(index)
    assert engine.feeds() == []
    feed, created = engine.add_feed("https://news.example/rss", every_minutes=15, source="Example")
    assert created and feed.every_minutes == 15 and feed.source == "Example"
    again, created = engine.add_feed("https://news.example/rss", every_minutes=60)
    assert not created and again.every_minutes == 60 and again.source is None
    engine.close()
    engine = open_engine(index)
    assert [f.url for f in engine.feeds()] == ["https://news.example/rss"]
    assert engine.stats().articles == 1  # nothing lost
    assert engine.remove_feed("https://news.example/rss").url == "https://news.example/rss"
    assert engine.remove_feed("https://news.example/rss") is None and engine.feeds() == []
    engine.close()


@pytest.mark.parametrize("url, every, reason", [
    ("ftp://x.example/rss", 30, "is not a feed URL"),
    ("news.example/rss", 30, "is not a feed URL"),
    ("https://news.example/rss", 0.5, "at most every 1 minute"),
])
def test_bad_feed_is_refused_by_name(engine, url, every, reason):
    with pytest.raises(ConfigError, match=reason) as error:
        engine.add_feed(url, every_minutes=every)
    assert url in str(error.value) or "0.5" in str(error.value)
    assert engine.feeds() == []


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_prune_removes_old_articles_chunks_and_vectors(engine, tmp_path):
    today = date.today()
    rows = [{"url": f"https://n.example/{age}", "title": f"Story aged {age}",
             "published": (today - timedelta(days=age)).isoformat(),
             "text": f"Agedword{age} was reported. " + "Filler sentence about the council. " * 80}
            for age in (1, 10, 40, 400)]
    engine.ingest([_jsonl(tmp_path / "a.jsonl", rows)])
    before = engine.store.counts()
    assert engine.prune(30) == 2
    articles, chunks = engine.store.counts()
    assert articles == 2 and chunks < before[1]
    assert_consistent(engine)
    assert found(engine, "agedword10") and not found(engine, "agedword40")
    assert not any("agedword400" in h.text for h in engine.search("agedword400", k=10))
    assert engine.prune(30) == 0
    engine.close()
    reopened = open_engine(tmp_path / "index")  # the saved FAISS file agrees too
    assert reopened.store.counts() == (articles, chunks)
    assert_consistent(reopened)
    reopened.close()


def test_watcher_keeps_only_recent_news(tmp_path, feed_site):
    engine = open_engine(tmp_path / "index", max_age_days=30)
    try:
        old = (date.today() - timedelta(days=400)).isoformat()
        report = engine.ingest([_jsonl(tmp_path / "a.jsonl", [
            {"url": "https://n.example/old", "title": "Old", "published": old, "text": "Oldword story."},
            {"url": "https://n.example/new", "title": "New", "published": date.today().isoformat(),
             "text": "Newword story."}])])
        assert report.count("added") == 1
        assert "older than RETRIEVER_MAX_AGE_DAYS=30: not kept" in report.results[0].reason
        with sqlite3.connect(tmp_path / "index" / "index.sqlite") as conn:
            conn.execute("UPDATE articles SET published='2020-01-01'")  # it aged since
        stamp = datetime.now(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")
        feed_site.publish(1, published=stamp)
        feed_site.publish(2, published="Mon, 04 Mar 2019 09:00:00 GMT")
        [result] = follow(engine, feed_site.feed_url).run_once()
        assert result.added == 1
        assert feed_site.story_requests() == ["/story/1"]  # the old entry is not even fetched
        assert found(engine, "storyword1")
        assert engine.stats().articles == 1
        assert_consistent(engine)
        vectors = engine.store.vectors_for([engine.search("storyword1", k=1)[0].chunk_id])
        assert np.isfinite(vectors).all()
    finally:
        engine.close()
