"""Sending rendered pages: replies in HTML with link previews off, the plain-text fallback,
the typing indicator and the inline keyboards (whose callback_data stays ≤ 64 bytes)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, TelegramError

from bot import render
from retrieval.types import Answer, Hit

logger = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
#: Telegram shows "typing…" for 5 s; refresh a little before it fades.
TYPING_REFRESH_SECONDS = 4.5
#: Passages per "More sources" page.
MORE_PAGE_SIZE = 3
#: Citation buttons per keyboard row.
BUTTONS_PER_ROW = 4


async def send_pages(message: Message, pages: Sequence[str],
                     markup: InlineKeyboardMarkup | None = None) -> Message | None:
    """Reply to ``message`` with each HTML page; the last page carries ``markup``."""
    sent = None
    for i, page in enumerate(pages):
        sent = await _send_page(message, page, markup if i == len(pages) - 1 else None)
    return sent


async def _send_page(message: Message, page: str,
                     markup: InlineKeyboardMarkup | None) -> Message:
    reply_to = message.build_reply_arguments(allow_sending_without_reply=True)
    try:
        return await message.reply_text(page, parse_mode=ParseMode.HTML, do_quote=reply_to,
                                         link_preview_options=NO_PREVIEW, reply_markup=markup)
    except BadRequest as err:
        if "can't parse entities" not in err.message.lower():
            raise
        logger.warning("Telegram rejected our HTML (%s); resending as plain text", err.message)
    plain = render.plain_pages(page)
    sent = None
    for i, text in enumerate(plain):
        sent = await message.reply_text(text, parse_mode=None, do_quote=reply_to,
                                        link_preview_options=NO_PREVIEW,
                                        reply_markup=markup if i == len(plain) - 1 else None)
    assert sent is not None  # plain_pages never returns an empty list for a non-empty page
    return sent


async def _send_typing(message: Message) -> None:
    try:
        await message.reply_chat_action(ChatAction.TYPING)  # in the message's topic, if any
    except TelegramError as err:  # a missing indicator must not cost the answer
        logger.debug("sendChatAction failed: %s", err)


async def _keep_typing(message: Message) -> None:
    while True:
        await asyncio.sleep(TYPING_REFRESH_SECONDS)
        await _send_typing(message)


@contextlib.asynccontextmanager
async def typing(message: Message) -> AsyncIterator[None]:
    """Show "typing…" in the chat of ``message`` (sent before the body starts) until the
    body is done."""
    await _send_typing(message)
    refresher = asyncio.create_task(_keep_typing(message))
    try:
        yield
    finally:
        refresher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refresher


def more_passages(answer: Answer) -> list[Hit]:
    """Other articles among the retrieved passages, best first: one passage (its best) per
    article, none from an article the answer already cites."""
    seen = {c.article_id for c in answer.citations}
    more = []
    for hit in answer.passages:
        if hit.article_id not in seen:
            seen.add(hit.article_id)
            more.append(hit)
    return more


def more_button(key: str, offset: int) -> InlineKeyboardButton:
    return InlineKeyboardButton("More sources", callback_data=f"m:{key}:{offset}")


def answer_keyboard(key: str, answer: Answer) -> InlineKeyboardMarkup | None:
    """One "Passage [n]" button per citation, then "More sources" when there are any.

    callback_data is ``p:<key>:<n>`` or ``m:<key>:<offset>`` with an 8-character key into
    the server-side answer store: about 14 bytes, far below Telegram's 64.
    """
    buttons = [InlineKeyboardButton(f"Passage [{c.n}]", callback_data=f"p:{key}:{c.n}")
               for c in answer.citations]
    rows = [buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)]
    if more_passages(answer):
        rows.append([more_button(key, 0)])
    return InlineKeyboardMarkup(rows) if rows else None


async def drop_more_button(query: CallbackQuery, message: Message) -> None:
    """Remove the pressed "More sources" button from ``message``. A second press of the
    same button finds it gone; Telegram then answers "message is not modified"."""
    try:
        await query.edit_message_reply_markup(without_more_button(message.reply_markup))
    except BadRequest as err:
        if "not modified" not in err.message.lower():
            raise


def without_more_button(markup: InlineKeyboardMarkup | None) -> InlineKeyboardMarkup | None:
    """``markup`` minus its "More sources" button (once pressed, it has done its job)."""
    if markup is None:
        return None
    rows = [[b for b in row if not str(b.callback_data or "").startswith("m:")]
            for row in markup.inline_keyboard]
    rows = [row for row in rows if row]
    return InlineKeyboardMarkup(rows) if rows else None
