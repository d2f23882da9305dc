"""`retriever feeds`, `watch` and `prune` as real subprocesses, against a loopback feed server."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date, timedelta

import pytest

from feed_site import FeedSite
from retrieval import Settings
from retrieval.embeddings import HashEmbedder
from retrieval.engine import Engine
from support import LOOPBACK, ROOT
from test_watch import assert_consistent, found

ENV = {"RETRIEVER_MODEL": "hash-256", "RETRIEVER_FETCH_ALLOW": LOOPBACK, "RETRIEVER_WATCH_HOST_DELAY": "0"}


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "retrieval", *args], capture_output=True, text=True,
                          env={**os.environ, **ENV, **(env or {})}, cwd=ROOT, timeout=300)


@pytest.fixture
def feed_site():
    site = FeedSite()
    yield site
    site.close()


def test_feeds_add_list_remove(tmp_path, feed_site):
    index = str(tmp_path / "index")
    added = run("--index", index, "feeds", "add", feed_site.feed_url, "--every", "15", "--source", "Loopback")
    assert added.returncode == 0, added.stderr
    assert f"following {feed_site.feed_url} (every 15 min)" in added.stdout
    [feed] = json.loads(run("--index", index, "feeds", "list", "--json").stdout)
    assert feed["url"] == feed_site.feed_url and feed["every_minutes"] == 15 and feed["source"] == "Loopback"
    assert feed["last_poll"] is None and feed["articles_added"] == 0 and feed["next_poll"]
    assert {"last_success", "last_error", "errors_in_a_row"} <= set(feed)

    feed_site.feed_status = 500
    polled = run("--index", index, "watch", "--once")
    assert polled.returncode == 0, polled.stderr
    assert f"poll {feed_site.feed_url}: FAILED: HTTP 500" in polled.stderr
    listed = run("--index", index, "feeds", "list").stdout
    assert "last error: HTTP 500 (1 failed polls in a row: backing off)" in listed, listed
    assert "source Loopback" in listed and "last success never" in listed

    bad = run("--index", index, "feeds", "add", "file:///etc/passwd")
    assert bad.returncode == 1 and "'file:///etc/passwd' is not a feed URL" in bad.stderr
    assert run("--index", index, "feeds", "remove", feed_site.feed_url).returncode == 0
    gone = run("--index", index, "feeds", "remove", feed_site.feed_url)
    assert gone.returncode == 1 and "follows no feed" in gone.stderr
    assert "No feeds" in run("--index", index, "feeds", "list").stdout


def test_watch_once_makes_entries_answerable_to_an_open_engine(tmp_path, feed_site):
    index = tmp_path / "index"
    feed_site.publish(1)
    assert run("--index", str(index), "feeds", "add", feed_site.feed_url).returncode == 0
    bot = Engine.open(Settings(index=index), embedder=HashEmbedder())  # stays open throughout
    try:
        result = run("--index", str(index), "watch", "--once")
        assert result.returncode == 0, result.stderr
        assert f"poll {feed_site.feed_url}: added 1, updated 0, failed entries 0" in result.stderr
        assert found(bot, "storyword1")
        again = run("--index", str(index), "watch", "--once")  # not due: nothing fetched
        assert again.returncode == 0 and "poll " not in again.stderr
        assert len(feed_site.feed_requests()) == 1
    finally:
        bot.close()


def test_sigterm_during_a_poll_leaves_a_consistent_index(tmp_path, feed_site):
    index = tmp_path / "index"
    for n in range(12):
        feed_site.publish(n)
    feed_site.page_delay = 0.3
    assert run("--index", str(index), "feeds", "add", feed_site.feed_url).returncode == 0
    watcher = subprocess.Popen([sys.executable, "-m", "retrieval", "--index", str(index), "watch"],
                               env={**os.environ, **ENV}, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(feed_site.story_requests()) < 3:  # mid-poll: entries are being fetched
            assert time.monotonic() < deadline and watcher.poll() is None, watcher.communicate()
            time.sleep(0.05)
        watcher.send_signal(signal.SIGTERM)
        out, err = watcher.communicate(timeout=60)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert watcher.returncode == 0, err
    assert "SIGTERM: stopping after the poll in progress" in err and "stopped" in err
    assert "Traceback" not in err
    fetched = len(feed_site.story_requests())
    assert fetched < 12  # it did stop early

    engine = Engine.open(Settings(index=index), embedder=HashEmbedder())
    try:
        assert_consistent(engine)
        articles = engine.stats().articles
        assert articles == fetched  # every page fetched was committed, whole
        with sqlite3.connect(index / "index.sqlite") as conn:
            generation = json.loads(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
        manifest = json.loads((index / "manifest.json").read_text())
        assert manifest["vectors_generation"] == generation  # FAISS saved before exit
        assert not list(index.glob("*.tmp"))
    finally:
        engine.close()
    feed_site.page_delay = 0
    rest = run("--index", str(index), "watch", "--once")  # the interrupted feed is due at once
    assert rest.returncode == 0, rest.stderr
    assert f"added {12 - articles}," in rest.stderr
    assert sorted(feed_site.story_requests()) == sorted(set(feed_site.story_requests()))


def test_prune_command(tmp_path):
    index = str(tmp_path / "index")
    rows = [{"url": f"https://n.example/{age}", "title": f"Aged {age}", "text": f"Story aged {age} days.",
             "published": (date.today() - timedelta(days=age)).isoformat()} for age in (2, 50)]
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert run("--index", index, "ingest", str(path)).returncode == 0
    pruned = run("--index", index, "prune", "--older-than", "30")
    assert pruned.returncode == 0 and "removed 1 article(s)" in pruned.stdout, pruned.stderr
    assert json.loads(run("--index", index, "stats", "--json").stdout)["articles"] == 1
    assert run("--index", index, "prune").returncode == 2  # --older-than is required
