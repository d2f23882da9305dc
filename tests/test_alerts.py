"""Topic alerts and the digest, in the engine (retrieval/alerts.py): real index folders, a second
Engine on the same folder as "another process", the hash embedder where meaning does not
matter and the packaged model where the match threshold does."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from retrieval import Settings
from retrieval.alerts import MAX_TOPICS
from retrieval.embeddings import HashEmbedder
from retrieval.engine import Engine
from retrieval.errors import ConfigError, IndexReadOnlyError


def story(folder: Path, name: str, title: str, body: str, *, source: str, day: date | None = None,
          url: str | None = None) -> Path:
    """An article file with front matter, published on ``day`` (default today)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.txt"
    url = url or f"https://{source.lower().replace(' ', '')}.example/{name}"
    path.write_text(f"---\ntitle: {title}\nurl: {url}\nsource: {source}\n"
                    f"published: {(day or date.today()).isoformat()}\n---\n{body}\n", encoding="utf-8")
    return path


VOLCANO = ("A volcano erupted on the Reykjanes peninsula in Iceland on Monday night, sending "
           "lava fountains into the sky. Civil protection officials said the eruption posed no "
           "threat to Grindavik, which was evacuated last month. Flights at Keflavik airport "
           "were not disrupted, the airport operator said.")
VOLCANO_2 = ("A volcano erupted on the Reykjanes peninsula in Iceland late on Monday, sending "
             "lava fountains into the night sky. Officials said the eruption posed no threat to "
             "Grindavik, which was evacuated last month. Flights at Keflavik airport were not "
             "disrupted, the operator of the airport said.")
HARBOUR = ("Dock workers at the harbour of Antwerp went on strike on Tuesday over pay, leaving "
           "container ships waiting at anchor. The port authority said talks with the unions "
           "would resume on Thursday.")


def other_engine(index: Path) -> Engine:
    return Engine.open(Settings(index=index), embedder=HashEmbedder())


@pytest.fixture
def index(hash_engine, tmp_path) -> Path:
    report = hash_engine.ingest([str(story(tmp_path / "old", "harbour", "Antwerp dock strike", HARBOUR,
                                           source="Port News", day=date.today() - timedelta(days=3)))])
    assert report.count("added") == 1
    return hash_engine.settings.index


def test_follow_validates_topics_and_subscriptions_persist(hash_engine, index) -> None:
    alerts = hash_engine.alerts
    assert alerts.topics(1) == [] and hash_engine.store.alert_cursor() is None
    subscription, created = alerts.follow(1, "  Iceland   volcano ")
    assert created and subscription.topic == "Iceland volcano"
    assert alerts.follow(1, "iceland VOLCANO") == (subscription, False)
    for bad in ("", "the of and", "x" * 101):
        with pytest.raises(ConfigError):
            alerts.follow(1, bad)
    for n in range(MAX_TOPICS - 1):
        alerts.follow(1, f"topic{n}")
    with pytest.raises(ConfigError, match="at most"):
        alerts.follow(1, "one too many")
    assert other_engine(index).alerts.topics(2) == []
    reopened = other_engine(index)
    assert [s.topic for s in reopened.alerts.topics(1)][0] == "Iceland volcano"
    assert reopened.alerts.unfollow(1, "ICELAND volcano") and not reopened.alerts.unfollow(1, "Iceland volcano")
    assert len(hash_engine.alerts.topics(1)) == MAX_TOPICS - 1
    reopened.close()


def test_check_alerts_on_articles_another_engine_adds_and_never_the_backlog(hash_engine, index, tmp_path) -> None:
    alerts = hash_engine.alerts
    alerts.follow(1, "Antwerp harbour strike")  # the backlog article matches, but is old news
    alerts.follow(2, "Iceland volcano eruption")
    alerts.follow(3, "volcano Grindavik")
    assert alerts.check() == []
    writer = other_engine(index)
    writer.ingest([str(story(tmp_path / "new", "volcano", "Volcano erupts in Iceland", VOLCANO, source="Reykjavik Daily"))])
    writer.close()
    found = alerts.check()
    assert sorted(a.chat for a in found) == [2, 3]
    quote = found[0].citation.quote
    text = hash_engine.store.article(found[0].citation.article_id).text
    assert text[found[0].citation.start:].startswith(quote) and "volcano" in quote.lower()
    assert alerts.check() == []  # the cursor moved on


def test_claim_never_twice_and_at_most_n_an_hour(hash_engine, index, tmp_path) -> None:
    store = hash_engine.store
    hash_engine.alerts.follow(1, "anything")
    now = datetime.now(timezone.utc)
    assert store.claim_alert(1, "a", "t", now, 2) == "claimed"
    assert store.claim_alert(1, "a", "t", now, 2) == "sent before"
    assert store.claim_alert(1, "b", "t", now + timedelta(minutes=10), 2) == "claimed"
    assert store.claim_alert(1, "c", "t", now + timedelta(minutes=20), 2) == "over limit"
    assert store.claim_alert(2, "c", "t", now + timedelta(minutes=20), 2) == "claimed"  # per chat
    assert store.claim_alert(1, "c", "t", now + timedelta(minutes=61), 2) == "claimed"
    assert store.claim_alert(1, "a", "t", now + timedelta(days=30), 2) == "sent before"


def test_today_groups_copies_of_a_story_and_orders_by_outlets(hash_engine, index, tmp_path) -> None:
    folder = tmp_path / "today"
    hash_engine.ingest([str(story(folder, "harbour2", "Antwerp dockers strike", HARBOUR, source="Port News")),
                        str(story(folder, "v1", "Volcano erupts in Iceland", VOLCANO, source="Reykjavik Daily")),
                        str(story(folder, "v2", "Icelandic volcano erupts again", VOLCANO_2, source="Nordic Wire"))])
    digest = hash_engine.alerts.today()
    assert digest.day == date.today() == digest.asked
    assert [s.outlets for s in digest.stories] == [("Reykjavik Daily", "Nordic Wire"), ("Port News",)]
    lead = digest.stories[0].citation
    assert lead.quote == VOLCANO.split(". ")[0] + "." and lead.title == "Volcano erupts in Iceland"
    about = hash_engine.alerts.today("Antwerp strike")
    assert [s.citation.title for s in about.stories] == ["Antwerp dockers strike"]
    earlier = hash_engine.alerts.today(day=date.today() - timedelta(days=1))
    assert earlier.day == date.today() - timedelta(days=3) and len(earlier.stories) == 1


def test_outlets_is_the_articles_own_outlet_or_its_host(hash_engine, tmp_path) -> None:
    (tmp_path / "b.txt").write_text("---\ntitle: No outlet\nurl: https://www.nooutlet.example/x\n---\n"
                                    + VOLCANO, encoding="utf-8")
    hash_engine.ingest([str(story(tmp_path, "a", "A story", HARBOUR, source="Port News")), str(tmp_path / "b.txt")])
    store = hash_engine.store
    by_title = {store.article(i).title: i for i in store.articles_of_day(date.today())}
    outlets = store.outlets(list(by_title.values()))
    assert outlets[by_title["A story"]] == ("Port News",)
    assert outlets[by_title["No outlet"]] == ("nooutlet.example",)


def test_outlets_include_the_near_copies_folded_into_a_story(hash_engine, tmp_path) -> None:
    """A wire copy folded at ingest (retrieval.dupes) counts as one more outlet of its story,
    for /today's order; the story is still listed once."""
    body = f"{VOLCANO}\n\n{VOLCANO_2}"  # long enough to be judged a copy (60 words or more)
    report = hash_engine.ingest([str(story(tmp_path, "wire", "Volcano erupts in Iceland", body, source="Wire Service")),
                                 str(story(tmp_path, "copy", "Iceland volcano erupts", body, source="City Paper"))])
    assert report.count("folded") == 1, report.summary()
    [story_id] = hash_engine.store.articles_of_day(date.today())
    assert hash_engine.store.outlets([story_id]) == {story_id: ("Wire Service", "City Paper")}
    [lead] = hash_engine.alerts.today().stories
    assert lead.outlets == ("Wire Service", "City Paper")


def test_an_old_index_gains_the_tables_on_first_follow_and_a_read_only_one_refuses(index) -> None:
    tables = lambda: {r[0] for r in sqlite3.connect(index / "index.sqlite").execute(  # noqa: E731
        "SELECT name FROM sqlite_master WHERE type='table'")}
    assert "alert_topics" not in tables()
    reader = Engine.open(Settings(index=index, read_only=True), embedder=HashEmbedder())
    assert reader.alerts.topics(1) == [] and reader.alerts.check() == []
    with pytest.raises(IndexReadOnlyError):
        reader.alerts.follow(1, "Iceland")
    reader.close()
    writer = other_engine(index)
    writer.alerts.follow(1, "Iceland")
    writer.close()
    assert {"alert_topics", "alerts_sent", "alert_cursor"} <= tables()


def test_the_threshold_tells_a_story_from_its_neighbours_with_the_real_model(real_embedder, tmp_path) -> None:
    """The calibrated thresholds with the packaged model: the topic of a story matches it; a
    topic sharing only a word or the subject area does not."""
    engine = Engine.open(Settings(index=tmp_path / "index"), embedder=real_embedder, create=True)
    try:
        engine.ingest([str(story(tmp_path / "old", "harbour", "Antwerp dock strike", HARBOUR, source="Port News"))])
        for chat, topic in enumerate(("Iceland volcano eruption", "Antwerp port strike", "volcano in Italy",
                                      "Iceland football"), 1):
            engine.alerts.follow(chat, topic)
        engine.ingest([str(story(tmp_path / "new", "volcano", "Volcano erupts in Iceland", VOLCANO, source="RD"))])
        assert [a.topic for a in engine.alerts.check()] == ["Iceland volcano eruption"]
    finally:
        engine.close()
