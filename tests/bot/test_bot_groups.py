"""Groups: the bot answers only what is addressed to it, and replies to the asking message."""

from __future__ import annotations

from bot_fixtures import bot_index, clean_bot_env, start_bot, tg  # noqa: F401 (pytest fixtures)
from tg_updates import ALICE, BOB, GROUP, send

LOPEZ = "What did Lopez say about the lake on Mars?"
BOT = "@newsbot_test_bot"


def group_texts(tg) -> list[str]:
    return tg.sent_texts(GROUP["id"])


def test_chatter_and_other_bots_commands_are_ignored(tg, start_bot) -> None:
    bot = start_bot()
    ids = [
        send(tg, ALICE, LOPEZ, chat=GROUP)[0],
        send(tg, BOB, f"/ask@other_news_bot {LOPEZ}", chat=GROUP)[0],
        send(tg, BOB, "/search@other_news_bot copper", chat=GROUP)[0],
        send(tg, ALICE, "email me at someone@example.com about Mars", chat=GROUP)[0],
        send(tg, ALICE, "/unknowncommand", chat=GROUP)[0],
    ]
    bot.wait_done(*ids)
    assert not [c for c in tg.calls if str(c.get("chat_id")) == str(GROUP["id"])]


def test_ask_with_and_without_the_bot_name_is_answered_as_a_reply(tg, start_bot) -> None:
    bot = start_bot()
    for text in (f"/ask{BOT} {LOPEZ}", f"/ask {LOPEZ}"):
        update_id, asked = send(tg, ALICE, text, chat=GROUP)
        bot.wait_done(update_id)
        reply = tg.calls_to("sendMessage", chat_id=GROUP["id"])[-1]
        assert "said Maria Lopez" in reply.params["text"]
        assert reply.params["reply_parameters"]["message_id"] == asked["message_id"]


def test_reply_to_the_bot_and_mention_are_answered(tg, start_bot) -> None:
    bot = start_bot()
    bot.wait_done(send(tg, ALICE, "/ask Jonas Berg chips", chat=GROUP)[0])
    answer = tg.calls_to("sendMessage", chat_id=GROUP["id"])[-1].result

    update_id, follow_up = send(tg, BOB, LOPEZ, chat=GROUP, reply_to=answer)
    bot.wait_done(update_id)
    reply = tg.calls_to("sendMessage", chat_id=GROUP["id"])[-1]
    assert reply.params["reply_parameters"]["message_id"] == follow_up["message_id"]
    assert "said Maria Lopez" in reply.params["text"]

    update_id, mention = send(tg, BOB, f"{BOT} what did Qureshi say about Afghanistan?",
                              chat=GROUP)
    bot.wait_done(update_id)
    reply = tg.calls_to("sendMessage", chat_id=GROUP["id"])[-1]
    assert reply.params["reply_parameters"]["message_id"] == mention["message_id"]
    assert "Qureshi" in reply.params["text"] and "[1]" in reply.params["text"]

    # A reply to someone else's message is chatter.
    bot.wait_done(send(tg, ALICE, LOPEZ, chat=GROUP, reply_to=follow_up)[0])
    assert tg.calls_to("sendMessage", chat_id=GROUP["id"])[-1] is reply


def test_source_and_bare_ask_look_up_the_replied_message(tg, start_bot) -> None:
    bot = start_bot()
    _, claim = send(tg, BOB, "apparently liquid water stood in Jezero crater for ages",
                    chat=GROUP)
    for command in ("/source", f"/source{BOT}", "/ask"):
        update_id, lookup = send(tg, ALICE, command, chat=GROUP, reply_to=claim)
        bot.wait_done(update_id)
        pages = tg.replies(lookup)
        assert pages[0].startswith("<b>Possible sources of this message</b>")
        assert "Rover finds ancient lake bed on Mars" in pages[0].split("<b>2.</b>")[0]


def test_source_uses_the_selected_quote(tg, start_bot) -> None:
    bot = start_bot()
    quote = "Also Jonas Berg said deliveries of microcontrollers were back to normal"
    _, claim = send(tg, BOB, "The rover found that liquid water stood in Jezero crater for a "
                    "long time, and the clay could preserve traces of ancient microbial life on "
                    f"Mars. {quote}", chat=GROUP)
    chips, mars = "Chips &amp; &lt;Silicon&gt; shortage", "Rover finds ancient lake bed"
    for selected, best in ((None, mars), (quote, chips)):
        update_id, lookup = send(tg, ALICE, "/source", chat=GROUP, reply_to=claim, quote=selected)
        bot.wait_done(update_id)
        assert best in tg.replies(lookup)[0].split("<b>2.</b>")[0]


def test_usage_hints_for_empty_commands(tg, start_bot) -> None:
    bot = start_bot()
    bot.wait_done(send(tg, ALICE, "/source", chat=GROUP)[0])
    assert "Reply to a message with /source" in group_texts(tg)[-1]
    bot.wait_done(send(tg, ALICE, f"/ask{BOT}", chat=GROUP)[0])
    assert group_texts(tg)[-1].startswith("Ask me a question")
    bot.wait_done(send(tg, ALICE, BOT, chat=GROUP)[0])
    assert group_texts(tg)[-1].startswith("Ask me a question")
