"""The fake Bot API server refuses what Telegram refuses (checked with a bare PTB Bot)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from bot_fixtures import bot_index, clean_bot_env, tg  # noqa: F401 (pytest fixtures)
from bot_support import TOKEN
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, InvalidToken, RetryAfter
from tg_updates import ALICE

from telegram_rules import html_error


@pytest.mark.parametrize(("text", "ok"), [
    ("<b>bold</b> &amp; <i>it</i> &lt;tag&gt; &#128512;", True),
    ('<a href="https://x.org/?a=1&amp;b=2">link</a><blockquote>q</blockquote>', True),
    ("<b>unclosed", False),
    ("<b><i>crossed</b></i>", False),
    ("a < b", False),
    ("fish & chips", False),
    ("<div>not allowed</div>", False),
])
def test_html_rules(text: str, ok: bool) -> None:
    assert (html_error(text) is None) == ok


def test_fake_server_refuses_what_telegram_refuses(tg) -> None:
    tg.chats[ALICE.id] = ALICE.private_chat

    async def scenario() -> None:
        async with Bot(TOKEN, base_url=tg.base_url) as bot:
            assert bot.username == tg.bot_username
            with pytest.raises(BadRequest, match="too long"):
                await bot.send_message(ALICE.id, "🙂" * 2049)  # 2049 chars, 4098 UTF-16 units
            await bot.send_message(ALICE.id, "🙂" * 2048)
            await bot.send_message(ALICE.id, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
            with pytest.raises(BadRequest, match="(?i)can't parse entities"):
                await bot.send_message(ALICE.id, "<b>x", parse_mode="HTML")
            too_long = InlineKeyboardMarkup([[InlineKeyboardButton("b", callback_data="x" * 65)]])
            with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
                await bot.send_message(ALICE.id, "hi", reply_markup=too_long)
            with pytest.raises(BadRequest, match="(?i)chat not found"):
                await bot.send_message(-1, "hi")
            tg.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
            with pytest.raises(RetryAfter) as caught:
                await bot.send_message(ALICE.id, "hi")
            assert caught.value.retry_after in (3, dt.timedelta(seconds=3))
        with pytest.raises(InvalidToken):
            async with Bot("123:wrong", base_url=tg.base_url):
                pass

    asyncio.run(scenario())
    assert [c.status for c in tg.calls if c.method == "sendMessage"] == [
        400, 200, 200, 400, 400, 400, 429]
