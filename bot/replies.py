"""Sending rendered pages: replies in HTML with link previews off, the plain-text fallback,
the typing indicator, the "Looking that up…" placeholder that slow answers replace, and the
inline keyboards (whose callback_data stays ≤ 64 bytes).

Retrying sends through outages is not done here but below, in :mod:`bot.delivery`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TypeVar

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
from bot.delivery import DeliveryFailed
from retrieval.types import Answer, Hit

logger = logging.getLogger(__name__)
T = TypeVar("T")

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
#: Telegram shows "typing…" for 5 s; refresh a little before it fades.
TYPING_REFRESH_SECONDS = 4.5
#: Shortest pause between two progress edits of one placeholder (Telegram limits edits too).
PROGRESS_EDIT_SECONDS = 1.0
#: Passages per "More sources" page.
MORE_PAGE_SIZE = 3
#: Citation buttons per keyboard row.
BUTTONS_PER_ROW = 4


async def send_pages(message: Message, pages: Sequence[str],
                     markup: InlineKeyboardMarkup | None = None, *,
                     replace: Message | None = None) -> Message | None:
    """Reply to ``message`` with each HTML page; the last page carries ``markup``. With
    ``replace`` (a placeholder, see :func:`working`) the first page is edited into it."""
    sent = None
    for i, page in enumerate(pages):
        sent = await _send_page(message, page, markup if i == len(pages) - 1 else None,
                                replace if i == 0 else None)
    return sent


async def _send_page(message: Message, page: str, markup: InlineKeyboardMarkup | None,
                     replace: Message | None = None) -> Message:
    try:
        return await _put(message, page, ParseMode.HTML, markup, replace)
    except BadRequest as err:
        if "can't parse entities" not in err.message.lower():
            raise
        logger.warning("Telegram rejected our HTML (%s); resending as plain text", err.message)
    plain = render.plain_pages(page)
    sent = None
    for i, text in enumerate(plain):
        sent = await _put(message, text, None, markup if i == len(plain) - 1 else None,
                          replace if i == 0 else None)
    assert sent is not None  # plain_pages never returns an empty list for a non-empty page
    return sent


async def _put(message: Message, text: str, parse_mode: str | None,
               markup: InlineKeyboardMarkup | None, replace: Message | None) -> Message:
    """Edit ``replace`` into ``text``; without one, or when Telegram refuses the edit (the
    placeholder was deleted, or is too old), reply to ``message`` with it instead."""
    if replace is not None:
        try:
            edited = await replace.edit_text(text, parse_mode=parse_mode, reply_markup=markup,
                                             link_preview_options=NO_PREVIEW)
            if isinstance(edited, Message):
                return edited
        except BadRequest as err:
            if "can't parse entities" in err.message.lower():
                raise  # a new message would be refused too: the caller falls back to plain text
            logger.info("Could not edit the placeholder (%s); sending a new message", err.message)
    reply_to = message.build_reply_arguments(allow_sending_without_reply=True)
    return await message.reply_text(text, parse_mode=parse_mode, do_quote=reply_to,
                                     link_preview_options=NO_PREVIEW, reply_markup=markup)


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


class Placeholder:
    """A status message ("Looking that up…") that appears as a reply to ``message`` once
    ``after`` seconds have passed without a result, follows :meth:`show`, and is then edited
    into the result (``send_pages(…, replace=placeholder.message)``). Failing to post or edit
    it never costs the result: the result is then sent as a new message."""

    def __init__(self, message: Message, status: str, after: float) -> None:
        self._reply_to = message
        self._status = status
        self._changed = asyncio.Event()
        self._closed = asyncio.Event()
        self._posting = False
        self._loop = asyncio.get_running_loop()
        #: The posted placeholder; None until posted (and when it never was).
        self.message: Message | None = None
        self._task = asyncio.create_task(self._run(after))

    def show(self, status: str) -> None:
        """Make ``status`` the placeholder's text (edited at most once a second)."""
        self._status = status
        self._changed.set()

    def show_from_thread(self, describe: Callable[[T], str]) -> Callable[[T], None]:
        """A callback for a worker thread: ``describe(step)`` becomes the status."""
        return lambda step: self._loop.call_soon_threadsafe(self.show, describe(step))

    async def _run(self, after: float) -> None:
        try:
            await asyncio.sleep(after)
            self._posting = True  # from here on, finish() waits for the post to complete
            shown = self._status
            reply_to = self._reply_to.build_reply_arguments(allow_sending_without_reply=True)
            self.message = await self._reply_to.reply_text(shown, do_quote=reply_to)
            while not self._closed.is_set():
                await self._changed.wait()
                self._changed.clear()
                if self._closed.is_set() or self._status == shown:
                    continue
                shown = self._status
                await self.message.edit_text(shown)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), PROGRESS_EDIT_SECONDS)
        except DeliveryFailed:
            pass  # logged where it was given up
        except TelegramError as err:  # the result is sent all the same
            logger.warning("Could not show progress: %s", err)

    async def finish(self) -> Message | None:
        """Stop updating; returns the posted placeholder, or None when it was not (yet)
        posted (then it never will be)."""
        self._closed.set()
        self._changed.set()
        if not self._posting:
            self._task.cancel()
        await asyncio.wait([self._task])
        return self.message

    async def discard(self) -> None:
        """Stop, and delete the placeholder if it was posted (an error reply comes instead)."""
        if (message := await self.finish()) is not None:
            try:
                await message.delete()
            except TelegramError as err:
                logger.debug("Could not delete the placeholder: %s", err)


@contextlib.asynccontextmanager
async def working(message: Message, after: float,
                  status: str = render.LOOKING_UP) -> AsyncIterator[Placeholder]:
    """While the body runs: "typing…" at once, and ``status`` as a placeholder message once
    ``after`` seconds have passed (fast results come without one). Afterwards,
    ``placeholder.message`` is what ``send_pages(…, replace=…)`` edits; if the body raises,
    the placeholder is deleted and the error handler replies instead."""
    placeholder = Placeholder(message, status, after)
    try:
        async with typing(message):
            yield placeholder
    except Exception:
        await placeholder.discard()
        raise
    await placeholder.finish()


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
