"""Private chats, commands, buttons and inline mode, over real HTTP against the fake server."""

from __future__ import annotations

from bot_fixtures import bot_index, clean_bot_env, start_bot, tg  # noqa: F401 (pytest fixtures)
from telegram_rules import html_error, utf16_len
from tg_updates import ALICE, buttons, inline_query, press, send

from bot import render

QURESHI = "What did Qureshi say about Afghanistan?"
LOPEZ = "What did Lopez say about the lake on Mars?"


def test_start_registers_commands_and_deletes_webhook(tg, start_bot) -> None:
    start_bot()
    commands = tg.wait_for("setMyCommands").params["commands"]
    assert [c["command"] for c in commands] == [name for name, _ in render.COMMANDS]
    assert tg.calls_to("getMe") and tg.calls_to("deleteWebhook")


def test_private_question_is_answered_with_markers_linked_sources_and_buttons(tg, start_bot):
    start_bot()
    _, asked = send(tg, ALICE, LOPEZ)
    typing = tg.wait_for("sendChatAction", chat_id=ALICE.id)
    reply = tg.wait_for("sendMessage", chat_id=ALICE.id)
    assert typing.params["action"] == "typing"
    assert tg.calls.index(typing) < tg.calls.index(reply)

    text = reply.params["text"]
    assert reply.params["parse_mode"] == "HTML"
    assert "said Maria Lopez" in text and "[1]" in text
    assert ('[1] <a href="https://example.com/science/mars-lake">Rover finds ancient lake bed on '
            'Mars</a> — Space Daily, 2024-02-01') in text
    assert reply.params["link_preview_options"] == {"is_disabled": True}
    assert reply.params["reply_parameters"]["message_id"] == asked["message_id"]

    data = [b["callback_data"] for b in buttons(reply.result)]
    labels = [b["text"] for b in buttons(reply.result)]
    assert labels[0] == "Passage [1]" and labels[-1] == "More sources"
    assert all(len(d.encode()) <= 64 for d in data)


def test_passage_and_more_sources_buttons(tg, start_bot) -> None:
    bot = start_bot()
    send(tg, ALICE, LOPEZ)
    answer = tg.wait_for("sendMessage", chat_id=ALICE.id).result
    passage_button, more = buttons(answer)[0], buttons(answer)[-1]

    done = press(tg, ALICE, answer, passage_button["callback_data"])
    bot.wait_done(done)
    passage = tg.sent_texts(ALICE.id)[-1]
    assert passage.startswith("<b>[1]</b>")
    assert "<b>“These sediments tell us" in passage or "<b>\"These sediments" in passage
    assert tg.calls_to("answerCallbackQuery")

    done = press(tg, ALICE, answer, more["callback_data"])
    bot.wait_done(done)
    listing = tg.sent_texts(ALICE.id)[-1]
    assert listing.startswith("<b>More sources</b>") and "<b>1.</b>" in listing
    edit = tg.wait_for("editMessageReplyMarkup", message_id=answer["message_id"])
    remaining = [b["text"] for row in edit.params["reply_markup"]["inline_keyboard"] for b in row]
    assert "More sources" not in remaining and "Passage [1]" in remaining

    # Pressing "More sources" twice edits nothing the second time and raises nothing.
    done = press(tg, ALICE, answer, more["callback_data"])
    bot.wait_done(done)
    refused = [c.error for c in tg.calls if c.error]
    assert refused == ["Bad Request: message is not modified"]
    assert not [c for c in tg.calls_to("answerCallbackQuery") if "Sorry" in c.get("text", "")]


def test_expired_button_says_so(tg, start_bot) -> None:
    bot = start_bot()
    send(tg, ALICE, LOPEZ)
    answer = tg.wait_for("sendMessage", chat_id=ALICE.id).result
    bot.wait_done(press(tg, ALICE, answer, "p:unknownk:1"))
    alert = tg.wait_for("answerCallbackQuery")
    assert "expired" in alert.params["text"] and alert.params["show_alert"] == "true"


def test_help_start_stats_and_search(tg, start_bot) -> None:
    bot = start_bot()
    for command in ("/start", "/help"):
        bot.wait_done(send(tg, ALICE, command)[0])
        assert "/ask@newsbot_test_bot" in tg.sent_texts(ALICE.id)[-1]
        assert render.EXAMPLE_QUESTIONS[0] in tg.sent_texts(ALICE.id)[-1]

    bot.wait_done(send(tg, ALICE, "/stats")[0])
    stats = tg.sent_texts(ALICE.id)[-1]
    assert "Articles: 4" in stats and "Newest article: 2024-03-10" in stats

    before = len(tg.sent_texts(ALICE.id))
    bot.wait_done(send(tg, ALICE, "/search Jonas Berg microcontrollers")[0])
    pages = tg.sent_texts(ALICE.id)[before:]
    assert pages[0].startswith("<b>Passages for: Jonas Berg microcontrollers</b>")
    listing = "".join(pages)
    assert "Chips &amp; &lt;Silicon&gt; shortage eases for carmakers" in listing
    assert "deliveries of &lt;microcontrollers&gt;" in listing


def test_long_search_is_split_below_4096_utf16_units(tg, start_bot) -> None:
    bot = start_bot()
    bot.wait_done(send(tg, ALICE, "/search copper prices smelters warehouses")[0])
    pages = tg.calls_to("sendMessage", chat_id=ALICE.id)
    assert len(pages) >= 2
    assert all(utf16_len(p.params["text"]) <= 4096 and html_error(p.params["text"]) is None
               for p in pages)
    assert sum(p.params["text"].count("<blockquote>") for p in pages) == 5
    assert not [c for c in tg.calls if c.error]


def test_inline_query_returns_cited_passages_and_help_when_empty(tg, start_bot) -> None:
    bot = start_bot()
    bot.wait_done(inline_query(tg, ALICE, ""))
    empty = tg.wait_for("answerInlineQuery")
    (help_result,) = empty.params["results"]
    assert help_result["id"] == "help" and "Type a question" in help_result["title"]

    bot.wait_done(inline_query(tg, ALICE, "Jezero crater sediments"))
    answered = tg.calls_to("answerInlineQuery")[-1]
    results = answered.params["results"]
    assert 1 <= len(results) <= 10
    assert int(answered.params["cache_time"]) <= 60
    first = results[0]
    assert first["title"] == "Rover finds ancient lake bed on Mars"
    assert first["description"].startswith("Space Daily, 2024-02-01 — ")
    content = first["input_message_content"]
    assert content["parse_mode"] == "HTML"
    assert content["message_text"].endswith(
        '— <a href="https://example.com/science/mars-lake">Rover finds ancient lake bed on '
        'Mars</a>, Space Daily, 2024-02-01')
