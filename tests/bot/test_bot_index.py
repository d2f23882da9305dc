"""The bot on a read-only or damaged index: questions still answered where they can be, /add
says the index is read-only, a damaged index gets a polite reply and an ERROR log line, and
newsbot refuses to start on an unreadable index.sqlite."""

from __future__ import annotations

import logging
import shutil
import sqlite3

from bot_fixtures import (  # noqa: F401 (pytest fixtures)
    bot_index,
    clean_bot_env,
    start_bot,
    tg,
    writable_index,
)
from bot_support import TOKEN, open_engine
from tg_updates import ADMIN, ALICE, send

from bot.__main__ import main
from bot.handlers import UNAVAILABLE

LOPEZ = "What did Lopez say about the lake on Mars?"


def test_read_only_index_answers_and_add_says_why_not(tg, start_bot, writable_index) -> None:
    before = open_engine(writable_index, read_only=True)
    articles = before.stats().articles
    bot = start_bot(engine=before, admin_user_ids={ADMIN.id})
    bot.wait_done(send(tg, ALICE, LOPEZ)[0])
    assert "said Maria Lopez" in tg.sent_texts(ALICE.id)[-1]
    bot.wait_done(send(tg, ADMIN, "/add https://news.example/world/story")[0])
    reply = tg.sent_texts(ADMIN.id)[-1]
    assert "is read-only (RETRIEVER_READ_ONLY is set)" in reply, reply
    assert "articles cannot be added or removed" in reply
    bot.wait_done(send(tg, ALICE, "/stats")[0])
    assert str(articles) in tg.sent_texts(ALICE.id)[-1]


def _damage_fts(index) -> None:
    db = index / "index.sqlite"
    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name='chunks_fts_data'").fetchone()[0]
    conn.close()
    with open(db, "r+b") as fh:
        fh.seek((root - 1) * page_size)
        fh.write(b"\xff" * page_size)


def test_damaged_index_gets_a_polite_reply_and_a_log_line(tg, start_bot, writable_index,
                                                          caplog) -> None:
    _damage_fts(writable_index)
    bot = start_bot(engine=open_engine(writable_index))
    bot.wait_done(send(tg, ALICE, LOPEZ)[0])
    assert tg.sent_texts(ALICE.id)[-1] == UNAVAILABLE
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("The index failed:" in m and "index.sqlite is damaged (" in m
               and "restore it or rebuild the index" in m for m in errors), errors


def test_newsbot_refuses_to_start_on_a_damaged_index(bot_index, tmp_path, monkeypatch, capsys) -> None:
    index = shutil.copytree(bot_index, tmp_path / "index")
    (index / "index.sqlite").write_bytes(b"this is not a database" * 100)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("RETRIEVER_INDEX", str(index))
    monkeypatch.setenv("RETRIEVER_MODEL", "hash-256")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        assert main([]) == 1
    finally:
        root.handlers[:], root.level = handlers, level
        logging.captureWarnings(False)
    err = capsys.readouterr().err
    assert "Cannot open the index:" in err and "is damaged (file is not a database)" in err, err
    assert "Traceback" not in err
