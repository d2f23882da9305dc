"""Honest refusals in the bot (issue 10): a nonsense inline query gets no results rather than
noise, a Spanish question gets the English-only note, /search says when no passage is a good
match. The real Application against the fake Bot API server on 127.0.0.1."""

from __future__ import annotations

from bot_fixtures import bot_index, clean_bot_env, start_bot, tg  # noqa: F401 (pytest fixtures)
from tg_updates import ALICE, inline_query, send


def test_a_nonsense_inline_query_gets_an_empty_answer(tg, start_bot) -> None:
    bot = start_bot()
    bot.wait_done(inline_query(tg, ALICE, "xqzvy blorptang fizzlewick"))
    answered = tg.wait_for("answerInlineQuery")
    assert answered.params["results"] == []
    # …while a query the index can answer still gets its passages.
    bot.wait_done(inline_query(tg, ALICE, "Jezero crater sediments"))
    assert tg.calls_to("answerInlineQuery")[-1].params["results"]


def test_a_spanish_question_gets_the_english_only_note(tg, start_bot) -> None:
    start_bot()
    send(tg, ALICE, "¿Qué dijo Maria Lopez sobre el lago de Marte?")
    text = tg.wait_for("sendMessage", chat_id=ALICE.id).params["text"]
    assert text.startswith("I read English news only: please ask your question in English.")
    assert "The articles I have were published from 2023-11-20 to 2024-03-10." in text
    assert "/search" not in text and "[1]" not in text


def test_a_refusal_names_the_range_and_suggests_search(tg, start_bot) -> None:
    start_bot()
    send(tg, ALICE, "Who won the 2030 FIFA World Cup final?")
    text = tg.wait_for("sendMessage", chat_id=ALICE.id).params["text"]
    assert text.startswith("I found nothing about 2030 in the indexed articles.")
    assert "2023-11-20 to 2024-03-10" in text and text.endswith("Try /search to see the closest passages.")


def test_search_says_when_no_passage_is_a_good_match(tg, start_bot) -> None:
    bot = start_bot()
    bot.wait_done(send(tg, ALICE, "/search xqzvy blorptang fizzlewick")[0])
    pages = [c.params["text"] for c in tg.calls_to("sendMessage", chat_id=ALICE.id)]
    assert pages[0].startswith("<b>Passages for: xqzvy blorptang fizzlewick</b>\nNone of these "
                               "passages is a good match.")
    assert any("<blockquote>" in page for page in pages)  # the passages are still listed
    bot.wait_done(send(tg, ALICE, "/search Jezero crater sediments")[0])
    text = tg.calls_to("sendMessage", chat_id=ALICE.id)[len(pages)].params["text"]
    assert "good match" not in text and "Rover finds ancient lake bed on Mars" in text
