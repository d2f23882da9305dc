"""/feeds, /addfeed, /removefeed (admins only) and NEWSBOT_WATCH=1: the bot polls the index's
feeds itself, and new entries are answerable without a restart."""

from __future__ import annotations

import time

from bot_fixtures import (  # noqa: F401 (pytest fixtures)
    bot_index,
    clean_bot_env,
    start_bot,
    tg,
    writable_index,
)
from bot_support import open_engine
from feed_site import FeedSite
from tg_updates import ADMIN, ALICE, send

LOOPBACK = "127.0.0.1"


def test_admins_manage_feeds_and_others_are_refused(tg, start_bot, writable_index) -> None:
    engine = open_engine(writable_index)
    bot = start_bot(engine=engine, admin_user_ids={ADMIN.id})
    url = "https://news.example/rss.xml"
    bot.wait_done(send(tg, ALICE, f"/addfeed {url}")[0], send(tg, ALICE, "/feeds")[0])
    assert tg.sent_texts(ALICE.id) == ["Only the bot's admins can manage feeds."] * 2
    assert engine.feeds() == []

    bot.wait_done(send(tg, ADMIN, "/feeds")[0])
    assert "I follow no feeds" in tg.sent_texts(ADMIN.id)[-1]
    bot.wait_done(send(tg, ADMIN, f"/addfeed {url}")[0])
    reply = tg.sent_texts(ADMIN.id)[-1]
    assert reply.startswith(f"Following {url} every 30 min") and "retriever watch" in reply, reply
    bot.wait_done(send(tg, ADMIN, "/feeds")[0])
    listed = tg.sent_texts(ADMIN.id)[-1]
    assert url in listed and "0 articles added" in listed and "last poll never" in listed, listed
    bot.wait_done(send(tg, ADMIN, "/addfeed ftp://x.example/feed")[0])
    assert "is not a feed URL" in tg.sent_texts(ADMIN.id)[-1]
    bot.wait_done(send(tg, ADMIN, f"/removefeed {url}")[0])
    assert tg.sent_texts(ADMIN.id)[-1] == f"No longer following {url}; its articles stay."
    assert engine.feeds() == []
    bot.wait_done(send(tg, ADMIN, f"/removefeed {url}")[0])
    assert tg.sent_texts(ADMIN.id)[-1].startswith("I do not follow")


def test_newsbot_watch_polls_the_feeds_and_answers_without_restart(tg, start_bot, writable_index) -> None:
    site = FeedSite()
    try:
        site.publish(1)
        engine = open_engine(writable_index, fetch_allow=LOOPBACK, watch_host_delay=0)
        engine.add_feed(site.feed_url)
        bot = start_bot(engine=engine, newsbot_watch=True)
        other = open_engine(writable_index)  # another process's view of the index
        deadline = time.monotonic() + 60
        while not other.store.has_url(site.base + "/story/1"):
            assert time.monotonic() < deadline, "the bot's watcher did not index the feed"
            time.sleep(0.1)
        other.close()
        bot.wait_done(send(tg, ALICE, "/search storyword1")[0])
        assert "storyword1" in " ".join(tg.sent_texts(ALICE.id))
        assert engine.feeds()[0].articles_added == 1
        bot.stop()  # the watcher thread ends with the bot
    finally:
        site.close()
