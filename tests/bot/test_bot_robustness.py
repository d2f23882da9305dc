"""Telegram's errors, odd updates, our own failures, concurrency and the token in logs."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator

from bot_fixtures import bot_index, clean_bot_env, start_bot, tg  # noqa: F401 (pytest fixtures)
from bot_support import SECRET, TOKEN, GatedEmbedder, open_engine
from tg_updates import ALICE, BOB, GROUP, channel_post, edit, photo, press, send, sticker

from bot.__main__ import QUIET_LOGGERS, RedactingFilter, configure_logging
from bot.handlers import APOLOGY
from retrieval.engine import Engine
from retrieval.errors import IndexMissingError

LOPEZ = "What did Lopez say about the lake on Mars?"
QURESHI = "What did Qureshi say about Afghanistan?"


def errors_logged(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_429_is_retried_after_the_time_telegram_asks_for(tg, start_bot) -> None:
    bot = start_bot()
    tg.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    bot.wait_done(send(tg, ALICE, LOPEZ)[0], timeout=30)
    attempts = [c for c in tg.calls if c.method == "sendMessage"]
    assert [c.status for c in attempts] == [429, 200]
    assert attempts[0].params["text"] == attempts[1].params["text"]


def test_unparseable_html_is_resent_as_plain_text(tg, start_bot) -> None:
    bot = start_bot()
    tg.fail_next("sendMessage", 400, 'Bad Request: can\'t parse entities: Unsupported start tag '
                 '"x" at byte offset 0')
    bot.wait_done(send(tg, ALICE, LOPEZ)[0])
    refused, plain = [c for c in tg.calls if c.method == "sendMessage"]
    assert refused.status == 400 and refused.params["parse_mode"] == "HTML"
    assert "parse_mode" not in plain.params and plain.error is None
    assert "said Maria Lopez" in plain.params["text"] and "<" not in plain.params["text"]
    assert ("[1] Rover finds ancient lake bed on Mars (https://example.com/science/mars-lake)"
            in plain.params["text"])
    assert plain.params["reply_markup"]["inline_keyboard"]  # the buttons survive


def test_odd_updates_never_raise(tg, start_bot, caplog) -> None:
    bot = start_bot()
    update_id, first = send(tg, ALICE, LOPEZ)
    bot.wait_done(update_id)
    quiet = [
        edit(tg, first, f" {LOPEZ}"),  # an edit that leaves the question as it was
        channel_post(tg, f"/ask {QURESHI}"),
        sticker(tg, ALICE, chat=GROUP),
        photo(tg, BOB, chat=GROUP),
        press(tg, ALICE, tg.calls_to("sendMessage")[-1].result, "zz:unknown"),
        send(tg, ALICE, "“A quote” — Some title", via_bot=tg.bot_user)[0],  # inline result
    ]
    bot.wait_done(*quiet)
    assert len(tg.calls_to("sendMessage")) == 1  # no-op edits, channel posts, group media…

    hints = [sticker(tg, ALICE), photo(tg, ALICE), send(tg, ALICE, "/ask")[0],
             send(tg, ALICE, "/search")[0], send(tg, ALICE, "/nonsense")[0]]
    bot.wait_done(*hints)
    texts = tg.sent_texts(ALICE.id)[1:]
    assert texts.count("I can only read questions sent as text. Try /help.") == 2
    assert any(t.startswith("Ask me a question") for t in texts)
    assert "Usage: /search <question>" in texts
    assert "I don't know that command. Try /help." in texts

    long_question = ("Qureshi Afghanistan " * 250)[:4000]
    for text in (long_question, f"/ask {long_question}", "🙂" * 4000):
        bot.wait_done(send(tg, BOB, text)[0])
    assert len(tg.sent_texts(BOB.id)) >= 3
    assert not errors_logged(caplog)
    assert not [c for c in tg.calls if c.error]


class FlakyEngine(Engine):
    """An engine that fails on purpose for certain questions (a subclass, not a mock)."""

    def ask(self, query: str, **kwargs):  # type: ignore[no-untyped-def]
        if "explode" in query:
            raise RuntimeError("simulated bug")
        if "missing index" in query:
            raise IndexMissingError("no index at /srv/index; build one first")
        return super().ask(query, **kwargs)


def test_errors_reach_one_handler_that_logs_and_apologises(tg, start_bot, bot_index,
                                                         caplog) -> None:
    bot = start_bot(engine=open_engine(bot_index, engine_class=FlakyEngine))
    bot.wait_done(send(tg, ALICE, "please explode")[0])
    assert tg.sent_texts(ALICE.id)[-1] == APOLOGY
    (record,) = errors_logged(caplog)
    assert record.exc_info and "simulated bug" in str(record.exc_info[1])

    bot.wait_done(send(tg, ALICE, "what about the missing index")[0])
    assert tg.sent_texts(ALICE.id)[-1] == "Sorry: no index at /srv/index; build one first"

    bot.wait_done(send(tg, ALICE, LOPEZ)[0])  # and the bot carries on
    assert "said Maria Lopez" in tg.sent_texts(ALICE.id)[-1]




def test_a_slow_question_does_not_delay_another_user(tg, start_bot, bot_index) -> None:
    embedder = GatedEmbedder()
    bot = start_bot(engine=open_engine(bot_index, embedder=embedder))
    try:
        slow = send(tg, ALICE, f"slowpoke {QURESHI}")[0]
        assert embedder.entered.wait(15)  # Alice's question is stuck inside the engine
        bot.wait_done(send(tg, BOB, LOPEZ)[0])
        assert "said Maria Lopez" in tg.sent_texts(BOB.id)[-1]
        assert not tg.sent_texts(ALICE.id)
    finally:
        embedder.release.set()
    bot.wait_done(slow)
    assert "Qureshi" in tg.sent_texts(ALICE.id)[-1]


@contextlib.contextmanager
def newsbot_logging(stream: io.StringIO) -> Iterator[None]:
    """newsbot's logging set-up at DEBUG for the duration, then the test runner's again."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, {n: logging.getLogger(n).level for n in QUIET_LOGGERS}
    configure_logging("DEBUG", TOKEN, stream)
    try:
        yield
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)


def test_token_never_appears_in_debug_logs(tg, start_bot, bot_index) -> None:
    stream = io.StringIO()
    with newsbot_logging(stream):
        bot = start_bot(engine=open_engine(bot_index, engine_class=FlakyEngine))
        bot.wait_done(send(tg, ALICE, LOPEZ)[0], send(tg, ALICE, "explode")[0])
        bot.stop()
    logs = stream.getvalue()
    assert "Set Bot API URL" in logs and "[REDACTED]" in logs  # PTB's line, caught
    assert "sendMessage" in logs and "Traceback" in logs  # DEBUG lines and tracebacks
    assert SECRET not in logs


def test_redacting_filter_covers_args_tracebacks_and_encoded_urls() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(TOKEN))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("GET https://api.telegram.org/bot%s/getMe", TOKEN)
        logger.warning("encoded %s", TOKEN.replace(":", "%3A"))
        try:
            raise ValueError(f"bad url /bot{TOKEN}/x")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    logs = stream.getvalue()
    assert SECRET not in logs and logs.count("[REDACTED]") == 3
