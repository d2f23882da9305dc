"""Follow-up questions through the real Application and the fake Bot API server: a question
that depends on the last one is resolved before retrieval, and the answer says at its top what
was understood. The rules themselves are tested in tests/test_followup.py."""

from __future__ import annotations


import pytest
from bot_fixtures import bot_index, clean_bot_env, seed_index, start_bot, tg  # noqa: F401 (pytest fixtures)
from bot_support import open_engine
from tg_updates import ALICE, BOB, GROUP, send

from bot import render
from bot.state import FOLLOWUP_TTL_SECONDS, Conversations, get_state
from retrieval.followup import Previous
from telegram_rules import html_error, utf16_len

LOPEZ = "What did Lopez say about the lake on Mars?"
BERG = "What did Jonas Berg say about deliveries?"
BOT = "@newsbot_test_bot"


def ask(tg, bot, user, text, **kwargs) -> str:
    """Send ``text`` and return the bot's reply to it (its pages joined)."""
    update_id, asked = send(tg, user, text, **kwargs)
    bot.wait_done(update_id)
    return "\n".join(tg.replies(asked))


def body(reply: str) -> str:
    """An answer without the line that says what was understood."""
    return reply.split("</i>\n\n", 1)[1] if reply.startswith("<i>") else reply


def test_understood_heads_the_first_page_escaped_and_within_the_limit() -> None:
    assert render.understood("", ["answer"]) == ["answer"]
    assert render.understood("Q&A <x> — about y", ["answer", "more"]) == [
        "<i>Q&amp;A &lt;x&gt; — about y:</i>\n\nanswer", "more"]
    assert render.understood("Why?", ["a"])[0].startswith("<i>Why?</i>")
    full = "x" * 4090
    pages = render.understood("A — about B", [full])
    assert pages == ["<i>A — about B:</i>", full]
    assert all(utf16_len(p) <= 4096 and html_error(p) is None for p in pages)


def test_conversations_expire_are_bounded_and_map_answer_messages() -> None:
    now = [0.0]
    store = Conversations(ttl=10, reply_ttl=100, capacity=2, clock=lambda: now[0])
    first, second = Previous("first?"), Previous("second?")
    store.remember((1, None), first, (1, 50))
    store.remember((1, None), second, (1, 51))
    assert store.last((1, None)) == second
    assert store.answered(1, 50) == first and store.answered(1, 51) == second
    now[0] = 11
    assert store.last((1, None)) is None and store.answered(1, 50) == first
    store.remember((2, 7), first, (2, 60))
    store.remember((3, 7), first, (3, 61))
    assert store.answered(1, 50) is None  # the oldest went when a third was added
    assert store.last((2, 7)) == first and store.last((3, 7)) == first


def test_private_pronoun_follow_up_is_answered_like_the_standalone_question(tg, start_bot):
    bot = start_bot()
    assert "said Maria Lopez" in ask(tg, bot, ALICE, LOPEZ)
    reply = ask(tg, bot, ALICE, "What did she say about microbial life?")
    assert reply.startswith("<i>Lopez — about microbial life:</i>\n\n")
    assert "microbial life" in body(reply) and "[1]" in body(reply)
    # Bob asks the standalone question in his own chat: the same answer.
    assert body(reply) == ask(tg, bot, BOB, "What did Lopez say about microbial life?")


def test_and_what_about_x_keeps_the_speaker(tg, start_bot) -> None:
    bot = start_bot()
    ask(tg, bot, ALICE, BERG)
    reply = ask(tg, bot, ALICE, "And what about prices?")
    assert reply.startswith("<i>Jonas Berg — about prices:</i>")
    assert "prices would stay high" in body(reply)
    assert body(reply) == ask(tg, bot, BOB, "What did Jonas Berg say about prices?")


def test_a_standalone_second_question_is_not_rewritten(tg, start_bot) -> None:
    bot = start_bot()
    ask(tg, bot, ALICE, LOPEZ)
    reply = ask(tg, bot, ALICE, "What did Jonas Berg say about prices?")
    assert not reply.startswith("<i>")
    assert reply == ask(tg, bot, BOB, "What did Jonas Berg say about prices?")


def test_group_reply_to_the_answer_continues_that_answer_even_after_other_questions(tg, start_bot):
    bot = start_bot()
    ask(tg, bot, ALICE, "/ask Which rover found layers of clay on Mars?", chat=GROUP)
    answer = tg.calls_to("sendMessage", chat_id=GROUP["id"])[-1].result
    ask(tg, bot, ALICE, f"/ask{BOT} {BERG}", chat=GROUP)  # another question in between

    reply = ask(tg, bot, BOB, "why is it storing samples in tubes?", chat=GROUP, reply_to=answer)
    assert reply.startswith("<i>Why is the Perseverance storing samples in tubes?</i>")
    assert "sealed tubes" in body(reply) and "I found no" not in reply


def test_two_users_in_one_group_keep_their_own_context(tg, start_bot) -> None:
    bot = start_bot()
    ask(tg, bot, ALICE, f"/ask {LOPEZ}", chat=GROUP)
    ask(tg, bot, BOB, f"/ask {BERG}", chat=GROUP)
    alice = ask(tg, bot, ALICE, "/ask what did she say about microbial life?", chat=GROUP)
    bob = ask(tg, bot, BOB, f"{BOT} and what about prices?", chat=GROUP)  # a mention
    assert alice.startswith("<i>Lopez — about microbial life:</i>")
    assert bob.startswith("<i>Jonas Berg — about prices:</i>")


def test_the_context_expires(tg, start_bot) -> None:
    bot = start_bot()
    now = [1000.0]
    get_state(bot.app).conversations = Conversations(clock=lambda: now[0])
    ask(tg, bot, ALICE, BERG)
    now[0] += FOLLOWUP_TTL_SECONDS - 1
    assert ask(tg, bot, ALICE, "and about prices?").startswith("<i>Jonas Berg — about prices:")
    now[0] += FOLLOWUP_TTL_SECONDS + 1
    late = ask(tg, bot, ALICE, "And what about prices?")
    assert not late.startswith("<i>")
    assert late == ask(tg, bot, BOB, "And what about prices?")




@pytest.mark.slow
def test_real_model_follow_up_retrieves_what_the_standalone_question_does(
        tg, start_bot, seed_index, real_embedder) -> None:
    bot = start_bot(engine=open_engine(seed_index, real_embedder))
    first = ask(tg, bot, ALICE, "What did Qureshi say about Afghanistan?")
    assert "broad-based" in first
    reply = ask(tg, bot, ALICE, "And what did he say about the United States?")
    assert reply.startswith("<i>Qureshi — about the United States:</i>")
    standalone = ask(tg, bot, BOB, "What did Qureshi say about the United States?")
    assert body(reply) == standalone and "[1]" in standalone and standalone != body(first)
