"""How a message becomes a question: long messages, edits, captions, deep links, unlisted users;
"More sources", /search pages and failed polls. Pure parts alone, the rest against the fake server."""

from __future__ import annotations

import logging
import re
from datetime import date

from bot_fixtures import bot_index, clean_bot_env, start_bot, tg  # noqa: F401 (pytest fixtures)
from telegram_rules import html_error
from tg_updates import ALICE, BOB, GROUP, buttons, edit, entities, inline_query, press, send

from bot.access import PRIVATE_BOT
from bot.filters import (
    MAX_QUESTION_CHARS,
    MAX_QUESTION_WORDS,
    clip_lookup,
    clip_question,
    deep_link_question,
)
from bot.replies import more_passages
from bot.state import AskedQuestions
from retrieval.types import Answer, Citation, Hit

LOPEZ = "What did Lopez say about the lake on Mars?"
#: ~300 words about nothing the corpus holds, as people write before their question.
PREAMBLE = " ".join(["I have been reading a lot lately and I keep wondering about many things "
                     "that happen in the world, so here is some context first."] * 12)
PHOTO = [{"file_id": "AgACAgIAAxkBAAE", "file_unique_id": "AQADabc", "width": 90, "height": 60}]


# ---------------------------------------------------------------- pure parts


def test_a_short_question_is_only_normalised() -> None:
    clipped = clip_question("  What did\n Lopez   say? ")
    assert clipped.text == clipped.question == "What did Lopez say?" and not clipped.clipped


def test_a_long_message_keeps_its_last_question_with_context_when_it_needs_some() -> None:
    message = f"{PREAMBLE} Here is what I want to know. {LOPEZ} Thanks a lot, bye."
    clipped = clip_question(message)
    assert clipped.clipped and clipped.question == clipped.text == LOPEZ

    vague = clip_question(f"{PREAMBLE} Maria Lopez studies the lake on Mars. What did she say?")
    assert vague.question == "What did she say?"
    assert vague.text.endswith("Maria Lopez studies the lake on Mars. What did she say?")
    assert len(vague.text.split()) <= MAX_QUESTION_WORDS
    assert vague.text.startswith("I have been")  # whole sentences of context, not a cut word

    # Without a question mark the last sentence is the question; the words stay bounded.
    assert clip_question(f"{PREAMBLE}\ntell me about the lake on Mars").question == \
        "tell me about the lake on Mars"
    run_on = clip_question("and " * 400 + "what did Lopez say about Mars?")
    assert run_on.text.endswith("what did Lopez say about Mars?")
    assert len(run_on.text.split()) == MAX_QUESTION_WORDS
    emoji = clip_question("🙂" * 4000)
    assert emoji.clipped and len(emoji.text) <= MAX_QUESTION_CHARS


def test_a_quoted_text_is_looked_up_by_its_lead() -> None:
    text = "Lead sentence of the article. " + "More words. " * 500
    assert clip_lookup(text).startswith("Lead sentence of the article.")
    assert len(clip_lookup(text).split()) <= MAX_QUESTION_WORDS


def test_deep_link_payloads_use_underscores_for_spaces() -> None:
    assert deep_link_question("What_did_Lopez_say_about_the_lake_on_Mars") == \
        "What did Lopez say about the lake on Mars"
    assert deep_link_question("Covid-19__vaccines_") == "Covid-19 vaccines"


def _hit(n: int, article: str) -> Hit:
    return Hit(rank=n, score=1 / n, chunk_id=n, article_id=article, text=f"text {n}",
               title=f"Title {article}", url=None, source=None, published=date(2024, 1, 1),
               start=0, end=6)


def test_more_sources_are_other_articles_each_once() -> None:
    passages = (_hit(1, "a"), _hit(2, "b"), _hit(3, "a"), _hit(4, "b"), _hit(5, "c"), _hit(6, "c"))
    cited = Citation(n=1, article_id="a", title="Title a", url=None, source=None, published=None,
                     quote="text 1", start=0, chunk_id=1)
    answer = Answer(query="q", sentences=(), citations=(cited,), passages=passages)
    assert [h.chunk_id for h in more_passages(answer)] == [2, 5]


def test_asked_questions_forget_the_oldest_when_full() -> None:
    asked = AskedQuestions(capacity=2)
    for message_id in (1, 2, 3):
        asked.remember(10, message_id, f"q{message_id}")
    assert asked.get(10, 1) is None and asked.get(10, 3) == "q3" and asked.get(11, 3) is None


# ---------------------------------------------------------------- against the fake server


def test_a_question_after_a_long_preamble_is_answered_and_the_reply_says_so(tg, start_bot):
    bot = start_bot()
    bot.wait_done(send(tg, ALICE, f"{PREAMBLE} {LOPEZ}")[0])
    (reply,) = tg.sent_texts(ALICE.id)
    assert reply.startswith(f"<i>Your message was long; I answered: {LOPEZ}</i>\n\n")
    assert "said Maria Lopez" in reply and html_error(reply) is None

    bot.wait_done(send(tg, ALICE, LOPEZ)[0])
    assert "Your message was long" not in tg.sent_texts(ALICE.id)[-1]


def test_an_edited_question_is_answered_again_but_a_no_op_edit_is_not(tg, start_bot):
    bot = start_bot()
    update_id, asked = send(tg, ALICE, "What did Qureshi say about Afghanistan?")
    bot.wait_done(update_id)
    bot.wait_done(edit(tg, asked, LOPEZ))
    first, second = tg.replies(asked)
    assert "said Maria Lopez" not in first and "said Maria Lopez" in second

    bot.wait_done(edit(tg, asked, f"  {LOPEZ} "))  # same question: no second answer
    group_update, group_ask = send(tg, BOB, "/ask@newsbot_test_bot What did Qureshi say?", chat=GROUP)
    bot.wait_done(group_update)  # updates run concurrently: the edit must not overtake the question
    bot.wait_done(edit(tg, group_ask, f"/ask@newsbot_test_bot {LOPEZ}"))
    _, chatter = send(tg, BOB, "just chatting", chat=GROUP)
    bot.wait_done(edit(tg, chatter, f"still chatting {LOPEZ}"))  # never a question to the bot
    assert len(tg.replies(asked)) == 2
    assert len(tg.replies(group_ask)) == 2 and "said Maria Lopez" in tg.replies(group_ask)[1]
    assert not tg.replies(chatter)


def test_a_captioned_photo_addressed_to_the_bot_is_a_question(tg, start_bot):
    bot = start_bot()
    update_id, private = send(tg, ALICE, photo=PHOTO, caption=LOPEZ)
    mention = f"@newsbot_test_bot {LOPEZ}"
    group_id, in_group = send(tg, BOB, chat=GROUP, photo=PHOTO, caption=mention,
                              caption_entities=entities(mention))
    other_id, ignored = send(tg, BOB, chat=GROUP, photo=PHOTO, caption=LOPEZ)  # not addressed
    bot.wait_done(update_id, group_id, other_id)
    assert "said Maria Lopez" in tg.replies(private)[0]
    assert "said Maria Lopez" in tg.replies(in_group)[0]
    assert not tg.replies(ignored)


def test_a_start_link_with_a_payload_asks_it(tg, start_bot):
    bot = start_bot()
    update_id, started = send(tg, ALICE, "/start What_did_Lopez_say_about_the_lake_on_Mars")
    bot.wait_done(update_id)
    assert "said Maria Lopez" in tg.replies(started)[0]
    bot.wait_done(send(tg, ALICE, "/start")[0])
    assert "<b>Commands</b>" in tg.sent_texts(ALICE.id)[-1]
    group_id, in_group = send(tg, BOB, "/start@newsbot_test_bot What_did_Lopez_say", chat=GROUP)
    bot.wait_done(group_id)  # t.me/<bot>?startgroup=<payload>
    assert "said Maria Lopez" in tg.replies(in_group)[0]


def test_unlisted_users_hear_that_the_bot_is_private(tg, start_bot):
    bot = start_bot(allowed_chat_ids={ALICE.id}, rate_limit_questions=2)
    ids = [send(tg, BOB, LOPEZ)[0] for _ in range(4)]
    ids.append(inline_query(tg, BOB, "Mars"))
    bot.wait_done(*ids)
    texts = tg.sent_texts(BOB.id)
    assert texts == [PRIVATE_BOT.format(user_id=BOB.id)] * 2  # a flood gets the rate limit
    (inline,) = tg.calls_to("answerInlineQuery")
    assert inline.params["results"] == [] and inline.params["is_personal"] == "true"
    assert inline.params["button"]["start_parameter"] == "private"
    assert not [c for c in tg.calls if c.error]


def test_more_sources_lists_other_articles_each_once(tg, start_bot):
    bot = start_bot()
    bot.wait_done(send(tg, ALICE, "What did traders in London say about copper prices?")[0])
    answer = tg.calls_to("sendMessage", chat_id=ALICE.id)[-1].result
    assert "Copper prices climb" in answer["text"]
    more = [b for b in buttons(answer) if b["text"] == "More sources"]
    assert more, answer
    bot.wait_done(press(tg, ALICE, answer, more[0]["callback_data"]))
    listing = tg.sent_texts(ALICE.id)[-1]
    assert listing.startswith("<b>More sources</b>")
    titles = [line.split("</a>")[0].rsplit(">", 1)[-1] for line in listing.splitlines()
              if "<a href=" in line]
    assert titles and "Copper prices climb as supply tightens" not in titles
    assert len(titles) == len(set(titles)), titles


def test_search_pages_never_separate_a_passage_from_its_source(tg, start_bot):
    bot = start_bot()
    bot.wait_done(send(tg, ALICE, "/search copper prices smelters warehouses")[0])
    pages = tg.sent_texts(ALICE.id)
    assert len(pages) >= 2
    for page in pages:  # each numbered source line has its passage on the same page
        assert len(re.findall(r"<b>\d+\.</b>", page)) == page.count("<blockquote>"), page[-300:]


def test_a_failed_poll_is_one_warning_without_a_traceback(tg, start_bot, caplog):
    bot = start_bot()
    caplog.set_level(logging.WARNING)
    tg.fail_next("getUpdates", 502, "Bad Gateway")
    bot.wait_done(send(tg, ALICE, LOPEZ)[0])  # ends the current poll; the next one fails
    bot.wait_done(send(tg, ALICE, LOPEZ)[0], timeout=30)  # polling went on
    assert len(tg.sent_texts(ALICE.id)) == 2
    ours = [r for r in caplog.records if r.name == "bot.handlers"]
    assert [r.levelno for r in ours] == [logging.WARNING], [r.getMessage() for r in ours]
    assert "Polling Telegram failed" in ours[0].getMessage() and not ours[0].exc_info
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
