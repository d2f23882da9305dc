"""Progress: a slow answer gets a "Looking that up…" placeholder that it then replaces; a fast
one comes without; /add shows what it is doing and ends with one line per article.

Slowness is made, not waited for: an embedder that holds chosen texts until the test lets
them go, so every step is observed, not timed.
"""

from __future__ import annotations

import threading

from bot_fixtures import (  # noqa: F401 (pytest fixtures)
    bot_index,
    clean_bot_env,
    start_bot,
    tg,
    writable_index,
)
from bot_support import open_engine
from support import article_html
from tg_updates import ADMIN, ALICE, buttons, send

from bot import render
from bot.handlers import APOLOGY
from retrieval.embeddings import HashEmbedder

LOPEZ = "What did Lopez say about the lake on Mars?"


class GatedEmbedder(HashEmbedder):
    """Holds every embed call whose texts contain ``word`` until the test releases it."""

    def __init__(self, word: str = "slowpoke") -> None:
        super().__init__()
        self.word = word
        self.entered = threading.Event()
        self.release = threading.Event()

    def embed(self, texts, *, progress=False):  # type: ignore[no-untyped-def]
        if any(self.word in text for text in texts):
            self.entered.set()
            assert self.release.wait(30)
        if any("explode" in text for text in texts):
            raise RuntimeError("simulated bug")
        return super().embed(texts, progress=progress)


def _placeholder(tg, chat_id: int) -> dict:
    call = tg.wait_for("sendMessage", chat_id=chat_id, text=render.LOOKING_UP)
    assert "parse_mode" not in call.params
    return call.result


def test_a_slow_answer_replaces_its_placeholder(tg, start_bot, bot_index) -> None:
    embedder = GatedEmbedder()
    bot = start_bot(engine=open_engine(bot_index, embedder=embedder), progress_after_seconds=0.2)
    try:
        done, asked = send(tg, ALICE, f"slowpoke {LOPEZ}")
        assert embedder.entered.wait(15)
        placeholder = _placeholder(tg, ALICE.id)  # posted while the engine still works
        assert placeholder["reply_to_message"]["message_id"] == asked["message_id"]
    finally:
        embedder.release.set()
    bot.wait_done(done)
    edit = tg.wait_for("editMessageText", message_id=placeholder["message_id"])
    assert edit.params["parse_mode"] == "HTML"
    assert "Rover finds ancient lake bed on Mars" in edit.params["text"]
    assert buttons(edit.result)[0]["text"] == "Passage [1]"  # the keyboard came with the edit
    assert len(tg.calls_to("sendMessage", chat_id=ALICE.id)) == 1  # nothing else was sent
    assert tg.sent_texts(ALICE.id) == [edit.params["text"]]


def test_a_fast_answer_comes_without_a_placeholder(tg, start_bot) -> None:
    bot = start_bot(progress_after_seconds=5)  # a HashEmbedder answer takes milliseconds
    bot.wait_done(send(tg, ALICE, LOPEZ)[0])
    (answer,) = tg.calls_to("sendMessage", chat_id=ALICE.id)
    assert "said Maria Lopez" in answer.params["text"]
    assert not tg.calls_to("editMessageText")


def test_a_long_answer_edits_its_first_page_and_sends_the_rest(tg, start_bot, bot_index) -> None:
    embedder = GatedEmbedder()
    bot = start_bot(engine=open_engine(bot_index, embedder=embedder), progress_after_seconds=0)
    try:
        done = send(tg, ALICE, "/search slowpoke copper prices smelters warehouses")[0]
        assert embedder.entered.wait(15)
        placeholder = _placeholder(tg, ALICE.id)
    finally:
        embedder.release.set()
    bot.wait_done(done)
    first = tg.wait_for("editMessageText", message_id=placeholder["message_id"])
    assert first.params["text"].startswith("<b>Passages for: slowpoke copper")
    rest = tg.calls_to("sendMessage", chat_id=ALICE.id)[1:]
    assert rest and all(render.utf16_len(c.params["text"]) <= 4096 for c in rest)
    assert tg.sent_texts(ALICE.id) == [first.params["text"]] + [c.params["text"] for c in rest]


def test_a_deleted_placeholder_gets_the_answer_as_a_new_message(tg, start_bot,
                                                               bot_index) -> None:
    embedder = GatedEmbedder()
    bot = start_bot(engine=open_engine(bot_index, embedder=embedder), progress_after_seconds=0)
    try:
        done = send(tg, ALICE, f"slowpoke {LOPEZ}")[0]
        assert embedder.entered.wait(15)
        placeholder = _placeholder(tg, ALICE.id)
        tg.delete_message(ALICE.id, placeholder["message_id"])  # the user deleted it
    finally:
        embedder.release.set()
    bot.wait_done(done)
    refused = tg.wait_for("editMessageText", ok=False)
    assert refused.error == "Bad Request: message to edit not found"
    (answer,) = tg.sent_texts(ALICE.id)
    assert "Rover finds ancient lake bed on Mars" in answer
    assert buttons(tg.calls_to("sendMessage", chat_id=ALICE.id)[-1].result)


def test_an_error_removes_the_placeholder_and_apologises(tg, start_bot, bot_index,
                                                        caplog) -> None:
    embedder = GatedEmbedder()
    bot = start_bot(engine=open_engine(bot_index, embedder=embedder), progress_after_seconds=0)
    try:
        done = send(tg, ALICE, "slowpoke please explode")[0]
        assert embedder.entered.wait(15)
        placeholder = _placeholder(tg, ALICE.id)
    finally:
        embedder.release.set()
    bot.wait_done(done)
    assert tg.wait_for("deleteMessage", message_id=placeholder["message_id"])
    assert tg.sent_texts(ALICE.id) == [APOLOGY]


GLACIER = article_html(
    "Patagonian glacier loses record ice",
    ["The Perito Moreno glacier lost more ice this summer than in any year since measurements "
     "began, scientists in Argentina reported on Tuesday.",
     '"We have never seen the ice front retreat this fast," glaciologist Ana Ruiz said.'],
    canonical="https://andes.example/glacier", date="2024-04-02", site_name="Andes Post")


def test_add_shows_its_steps_then_one_line_per_article(tg, start_bot, site,
                                                      writable_index) -> None:
    embedder = GatedEmbedder(word="Perito Moreno")  # holds the indexing step
    engine = open_engine(writable_index, embedder=embedder, fetch_allow="127.0.0.1")
    bot = start_bot(engine=engine, admin_user_ids={ADMIN.id})
    good, missing = site.add("/glacier", GLACIER), site.base + "/gone"
    try:
        done = send(tg, ADMIN, f"/add {good} {missing}")[0]
        placeholder = tg.wait_for("sendMessage", chat_id=ADMIN.id).result
        assert placeholder["text"] == "Fetching 2 links…"  # at once, whatever the delay setting
        assert embedder.entered.wait(15)
        tg.wait_for("editMessageText", message_id=placeholder["message_id"],
                    match=lambda c: c.params["text"].startswith("Indexing "))
    finally:
        embedder.release.set()
    bot.wait_done(done)
    (report,) = tg.sent_texts(ADMIN.id)
    lines = report.split("\n")
    assert lines[0] == ("<b>Added:</b> Patagonian glacier loses record ice (Andes Post, "
                        "2024-04-02) — ask me about it")
    assert lines[1].startswith(f"<b>Could not add</b> {missing}: ") and "404" in lines[1], lines
    assert "chunks embedded" not in report
