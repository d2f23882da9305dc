"""/follow, /unfollow, /following and /today, and the alerts the bot posts when another Engine
(another process's view of the same index) adds an article that matches a followed topic.

The tests never sleep to wait for "nothing": an alert that must not come is checked after a
later alert to another chat has arrived, which the bot sends in a later round."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from bot_fixtures import (  # noqa: F401 (pytest fixtures)
    bot_index,
    clean_bot_env,
    start_bot,
    tg,
    writable_index,
)
from bot_support import open_engine
from tg_updates import ADMIN, ALICE, BOB, GROUP, send

FAST = {"newsbot_alerts_check_seconds": 0.1}

VOLCANO = ("A volcano erupted on the Reykjanes peninsula in Iceland on Monday night, sending lava "
           "fountains into the sky. Civil protection officials said the eruption posed no threat "
           "to Grindavik, which was evacuated last month.")
VOLCANO_2 = ("A volcano erupted on the Reykjanes peninsula in Iceland late on Monday, sending lava "
             "fountains into the night sky. Officials said the eruption posed no threat to "
             "Grindavik, which was evacuated last month.")


def article(folder: Path, name: str, title: str, body: str, source: str = "Wire") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.txt"
    path.write_text(f"---\ntitle: {title}\nurl: https://{source.lower().replace(' ', '')}.example/{name}\n"
                    f"source: {source}\npublished: {date.today().isoformat()}\n---\n{body}\n", encoding="utf-8")
    return str(path)


def lighthouse(n: int) -> str:
    return (f"Keepers restored lighthouse number {n} on the coast of Brittany this week. The "
            f"lighthouse, built in 18{n}0, will guide fishing boats again from the spring.")


def ingest_elsewhere(index: Path, *paths: str) -> None:
    """Add articles through another Engine, as the CLI or the watcher would."""
    other = open_engine(index)
    try:
        report = other.ingest(list(paths))
        assert report.count("added") == len(paths), report.summary()
    finally:
        other.close()


def alerts_to(tg, chat_id: int) -> list[str]:
    return [t for t in tg.sent_texts(chat_id) if t.startswith("<b>New on")]


def wait_alerts(tg, chat_id: int, n: int) -> list[str]:
    tg.wait_for("sendMessage", chat_id=chat_id, timeout=30,
                match=lambda c: len(alerts_to(tg, chat_id)) >= n)
    return alerts_to(tg, chat_id)


def test_an_article_added_elsewhere_is_announced_once_to_the_chat_that_follows_it(
        tg, start_bot, writable_index, tmp_path) -> None:
    bot = start_bot(engine=open_engine(writable_index), **FAST)
    bot.wait_done(send(tg, ALICE, "/follow Iceland volcano")[0], send(tg, BOB, "/follow lighthouse Brittany")[0])
    assert tg.sent_texts(ALICE.id)[-1].startswith("Following “Iceland volcano”")

    ingest_elsewhere(writable_index, article(tmp_path, "volcano", "Volcano erupts in Iceland", VOLCANO))
    [alert] = wait_alerts(tg, ALICE.id, 1)
    assert "Iceland volcano" in alert and "Volcano erupts in Iceland" in alert
    assert 'href="https://wire.example/volcano"' in alert and "“A volcano erupted on the Reykjanes" in alert
    ingest_elsewhere(writable_index, article(tmp_path, "l1", "Lighthouse shines again", lighthouse(1)))
    assert len(wait_alerts(tg, BOB.id, 1)) == 1  # a later round: the volcano went to Alice only
    bot.stop()

    bot = start_bot(engine=open_engine(writable_index), **FAST)
    ingest_elsewhere(writable_index, article(tmp_path, "l2", "A second lighthouse", lighthouse(2)))
    assert len(wait_alerts(tg, BOB.id, 2)) == 2
    assert len(alerts_to(tg, ALICE.id)) == 1  # nothing announced twice after the restart
    bot.wait_done(send(tg, ALICE, "/following")[0])
    assert "Iceland volcano" in tg.sent_texts(ALICE.id)[-1]  # the subscription survived too


def test_at_most_n_alerts_an_hour_per_chat(tg, start_bot, writable_index, tmp_path) -> None:
    bot = start_bot(engine=open_engine(writable_index), newsbot_alerts_per_hour=2, **FAST)
    bot.wait_done(send(tg, ALICE, "/follow lighthouse Brittany")[0], send(tg, BOB, "/follow Iceland volcano")[0])
    ingest_elsewhere(writable_index, *(article(tmp_path, f"l{n}", f"Lighthouse {n}", lighthouse(n)) for n in (1, 2, 3)))
    wait_alerts(tg, ALICE.id, 2)
    ingest_elsewhere(writable_index, article(tmp_path, "volcano", "Volcano erupts in Iceland", VOLCANO))
    wait_alerts(tg, BOB.id, 1)
    assert len(alerts_to(tg, ALICE.id)) == 2


def test_following_and_unfollow(tg, start_bot, writable_index) -> None:
    bot = start_bot(engine=open_engine(writable_index))

    def say(text: str) -> str:
        bot.wait_done(send(tg, ALICE, text)[0])
        return tg.sent_texts(ALICE.id)[-1]

    assert say("/following").startswith("This chat follows no topics")
    assert say("/follow").startswith("Usage: /follow")
    say("/follow Iceland volcano")
    say("/follow copper prices")
    assert say("/follow iceland VOLCANO").startswith("This chat already follows “Iceland volcano”")
    assert say("/follow the and of").endswith("has no word to look for: name a person, a place or a subject.")
    listed = say("/following")
    assert "• Iceland volcano\n• copper prices" in listed
    assert say("/unfollow iceland volcano") == "No longer following “iceland volcano”."
    assert "Iceland volcano" not in say("/following")
    assert say("/unfollow Iceland volcano").startswith("This chat does not follow")
    bot.wait_done(send(tg, BOB, "/following")[0])
    assert tg.sent_texts(BOB.id)[-1].startswith("This chat follows no topics")


def test_in_a_group_only_admins_change_topics(tg, start_bot, writable_index) -> None:
    tg.chat_admins[GROUP["id"]] = {BOB.id}
    bot = start_bot(engine=open_engine(writable_index), admin_user_ids={ADMIN.id})
    bot.wait_done(send(tg, ALICE, "/follow Iceland volcano", chat=GROUP)[0])
    assert tg.sent_texts(GROUP["id"]) == ["Only this group's admins can change the topics it follows."]
    assert tg.calls_to("getChatMember", chat_id=GROUP["id"], user_id=ALICE.id)
    bot.wait_done(send(tg, BOB, "/follow Iceland volcano", chat=GROUP)[0])
    bot.wait_done(send(tg, ADMIN, "/follow copper", chat=GROUP)[0])  # the bot's admin
    bot.wait_done(send(tg, ALICE, "/unfollow copper", chat=GROUP)[0])
    bot.wait_done(send(tg, ALICE, "/following", chat=GROUP)[0])
    texts = tg.sent_texts(GROUP["id"])
    assert texts[1].startswith("Following “Iceland volcano”") and texts[2].startswith("Following “copper”")
    assert texts[3] == "Only this group's admins can change the topics it follows."
    assert "• Iceland volcano\n• copper" in texts[4]


def test_today_lists_each_story_once_with_a_cited_sentence(tg, start_bot, writable_index, tmp_path) -> None:
    ingest_elsewhere(writable_index,
                     article(tmp_path, "l1", "Lighthouse shines again", lighthouse(1), "Coast News"),
                     article(tmp_path, "v1", "Volcano erupts in Iceland", VOLCANO, "Reykjavik Daily"),
                     article(tmp_path, "v2", "Icelandic volcano erupts again", VOLCANO_2, "Nordic Wire"))
    bot = start_bot(engine=open_engine(writable_index))
    bot.wait_done(send(tg, ALICE, "/today")[0])
    [digest] = tg.sent_texts(ALICE.id)
    assert digest.startswith("<b>Main stories today</b>")
    # (the seed article has no date: it counts from the day it was added, today)
    first, second = digest.split("\n\n")[1:3]
    assert first.startswith("<b>1.</b> <a href=\"https://reykjavikdaily.example/v1\">Volcano erupts in Iceland</a>")
    assert "Reykjavik Daily, Nordic Wire (2 outlets)" in first and "“A volcano erupted on the Reykjanes" in first
    assert "Lighthouse shines again" in second and "Coast News" in second
    assert "Icelandic volcano erupts again" not in digest  # the copy is one story with the first
    bot.wait_done(send(tg, ALICE, "/today lighthouse")[0])
    about = tg.sent_texts(ALICE.id)[-1]
    assert about.startswith("<b>Main stories today about “lighthouse”</b>") and "Volcano" not in about
