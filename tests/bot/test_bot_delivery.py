"""Delivery through Telegram's outages: 5xx, 429, dropped and refused connections are retried
within the budget; past it, one ERROR line; other 4xx are not retried.

Every test runs the real Application against the fake server's fault windows, with a short
:class:`RetryPolicy` so that a test takes seconds, not the production minute.
"""

from __future__ import annotations

import logging

from bot_fixtures import bot_index, clean_bot_env, start_bot, tg  # noqa: F401 (pytest fixtures)
from bot_support import GatedEmbedder, open_engine
from tg_updates import ALICE, BOB, User, buttons, press, send

from bot.delivery import RetryPolicy
from bot.handlers import APOLOGY

LOPEZ = "What did Lopez say about the lake on Mars?"
QURESHI = "What did Qureshi say about Afghanistan?"
#: Test timings: 0.05 s, 0.1 s, 0.2 s … between attempts, for up to 4 s in all.
FAST = RetryPolicy(budget=4.0, first_delay=0.05, max_delay=0.4)


def errors(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def attempts(tg, method: str, **params) -> list:
    return [c for c in tg.calls if c.method == method
            and all(str(c.params.get(k)) == str(v) for k, v in params.items())]


def test_a_5xx_is_retried_until_telegram_takes_the_answer(tg, start_bot, caplog) -> None:
    bot = start_bot(retry=FAST)
    tg.fail("sendMessage", 500, "Internal Server Error", calls=3)
    bot.wait_done(send(tg, ALICE, LOPEZ)[0])
    sends = attempts(tg, "sendMessage")
    assert [c.status for c in sends] == [500, 500, 500, 200]
    assert len({c.params["text"] for c in sends}) == 1  # the same answer each time
    assert "said Maria Lopez" in tg.sent_texts(ALICE.id)[-1]
    assert not errors(caplog)
    # backoff: each pause at least 3/4 of the one before it doubled (jitter takes up to 1/4)
    gaps = [b.at - a.at for a, b in zip(sends, sends[1:])]
    assert gaps[1] >= 0.075 and gaps[2] >= 0.15, gaps


def test_an_outage_of_every_method_loses_none_of_five_answers(tg, start_bot, caplog) -> None:
    """The report: Bot API 500s on sendMessage for 8 s → 5 of 5 answers lost. Here the window
    is 1 s of 502s on every method but getUpdates, with a 4 s budget."""
    bot = start_bot(retry=FAST)
    tg.fail(None, 502, "Bad Gateway", seconds=1.0)
    users = [ALICE, BOB] + [User(5000 + i, f"User{i}") for i in range(3)]
    done = [send(tg, user, LOPEZ)[0] for user in users]
    bot.wait_done(*done, timeout=30)
    for user in users:
        assert "said Maria Lopez" in tg.sent_texts(user.id)[-1], user
    assert any(c.status == 502 for c in tg.calls)
    assert not errors(caplog)


def test_429_is_retried_after_retry_after_more_than_three_times(tg, start_bot, caplog) -> None:
    """The report: a 429 that outlasts three retries was lost."""
    bot = start_bot(retry=RetryPolicy(budget=10.0, first_delay=0.05))
    tg.fail("sendMessage", 429, "Too Many Requests: retry after 1", calls=4, retry_after=1)
    bot.wait_done(send(tg, ALICE, LOPEZ)[0], timeout=30)
    sends = attempts(tg, "sendMessage")
    assert [c.status for c in sends] == [429, 429, 429, 429, 200]
    assert all(b.at - a.at >= 1.0 for a, b in zip(sends, sends[1:]))  # as long as asked
    assert "said Maria Lopez" in tg.sent_texts(ALICE.id)[-1]
    assert not errors(caplog)


def test_dropped_connections_are_retried(tg, start_bot, caplog) -> None:
    bot = start_bot(retry=FAST)
    tg.drop("sendMessage", calls=2)
    bot.wait_done(send(tg, ALICE, LOPEZ)[0])
    assert [c.status for c in attempts(tg, "sendMessage")] == [0, 0, 200]
    assert "said Maria Lopez" in tg.sent_texts(ALICE.id)[-1]
    assert not errors(caplog)




def test_refused_connections_while_answering_are_retried(tg, start_bot, bot_index,
                                                          caplog) -> None:
    """The server stops listening (and drops requests on open connections) for 1 s while an
    answer is on its way; polling stops meanwhile too, with one WARNING line per attempt."""
    embedder = GatedEmbedder()
    bot = start_bot(engine=open_engine(bot_index, embedder=embedder), retry=FAST)
    try:
        asked = send(tg, ALICE, f"slowpoke {LOPEZ}")[0]
        assert embedder.entered.wait(15)
        tg.refuse(1.0)
    finally:
        embedder.release.set()
    bot.wait_done(asked, timeout=30)
    assert "Rover finds ancient lake bed on Mars" in tg.sent_texts(ALICE.id)[-1]
    assert any(c.status == 0 for c in attempts(tg, "sendMessage"))  # it did meet the outage
    bot.wait_done(send(tg, BOB, QURESHI)[0], timeout=30)  # polling came back as well
    assert "Qureshi" in tg.sent_texts(BOB.id)[-1]
    assert not errors(caplog)
    assert not [r for r in caplog.records if r.exc_info]


def test_an_outage_longer_than_the_budget_logs_one_error_and_nothing_breaks(
        tg, start_bot, caplog) -> None:
    bot = start_bot(retry=RetryPolicy(budget=0.5, first_delay=0.05, max_delay=0.2))
    tg.fail(None, 500, "Internal Server Error")  # until healed
    bot.wait_done(send(tg, ALICE, LOPEZ)[0], timeout=30)
    (error,) = errors(caplog)
    assert error.name == "bot.delivery" and error.exc_info is None
    message = error.getMessage()
    assert message.startswith(f"Telegram did not take sendMessage (chat {ALICE.id}) within")
    assert "last: 500 Internal Server Error" in message and "giving up" in message
    failed = attempts(tg, "sendMessage")
    assert len(failed) >= 3 and all(c.status == 500 for c in failed)
    assert all(c.params["text"] == failed[0].params["text"] for c in failed)  # no apology tried

    tg.heal()
    bot.wait_done(send(tg, BOB, QURESHI)[0])
    assert "Qureshi" in tg.sent_texts(BOB.id)[-1]
    assert len(errors(caplog)) == 1


def test_a_429_asking_for_more_than_the_budget_gives_up_at_once(tg, start_bot, caplog) -> None:
    bot = start_bot(retry=FAST)
    tg.fail("sendMessage", 429, "Too Many Requests: retry after 30", retry_after=30)
    bot.wait_done(send(tg, ALICE, LOPEZ)[0])
    assert [c.status for c in attempts(tg, "sendMessage")] == [429]
    (error,) = errors(caplog)
    assert "last: 429 Too Many Requests: retry after 30" in error.getMessage()


def test_other_4xx_are_not_retried(tg, start_bot, caplog) -> None:
    bot = start_bot(retry=FAST)
    tg.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    bot.wait_done(send(tg, ALICE, LOPEZ)[0])
    assert [c.status for c in attempts(tg, "sendMessage")] == [403, 200]  # answer, apology
    assert tg.sent_texts(ALICE.id) == [APOLOGY]
    tg.fail("sendMessage", 413, "Request Entity Too Large", calls=2)
    bot.wait_done(send(tg, BOB, LOPEZ)[0])
    assert [c.status for c in attempts(tg, "sendMessage", chat_id=BOB.id)] == [413, 413]  # same
    assert not [r for r in caplog.records if r.name == "bot.delivery"]


def test_typing_is_tried_once_and_buttons_are_retried(tg, start_bot, caplog) -> None:
    bot = start_bot(retry=FAST)
    tg.fail("sendChatAction", 500, "Internal Server Error", calls=5)
    bot.wait_done(send(tg, ALICE, LOPEZ)[0])
    assert [c.status for c in attempts(tg, "sendChatAction")] == [500]  # best-effort
    answer = tg.calls_to("sendMessage", chat_id=ALICE.id)[-1].result

    tg.fail(("answerCallbackQuery", "editMessageReplyMarkup"), 502, "Bad Gateway", calls=2)
    more = buttons(answer)[-1]["callback_data"]
    bot.wait_done(press(tg, ALICE, answer, more))
    assert [c.status for c in attempts(tg, "answerCallbackQuery")] == [502, 502, 200]
    assert tg.calls_to("editMessageReplyMarkup")
    assert tg.sent_texts(ALICE.id)[-1].startswith("<b>More sources</b>")
    assert not errors(caplog)
