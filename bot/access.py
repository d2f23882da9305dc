"""Who may use the bot, and how often: the allowlist, the admin check and the per-user limit.

``build_application`` registers :func:`allowlist_gate` in the first handler group, so it runs
before every other handler, and :func:`rate_gate` in the next group for updates that cost an
engine call (questions, searches, lookups). Both stop an update with ``ApplicationHandlerStop``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

from telegram import InlineQueryResultsButton, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes, filters

from bot.config import BotSettings
from bot.state import get_state

logger = logging.getLogger(__name__)

#: The reply to someone outside ALLOWED_CHAT_IDS in a private chat ({user_id}: theirs, which
#: is what the operators need to add them).
PRIVATE_BOT = ("Sorry, this bot is private: it answers only the people and groups its "
               "operators have allowed. If you should have access, send them your user id: "
               "{user_id}.")
#: Seconds Telegram may keep the empty inline answer for an unlisted user (for them alone).
PRIVATE_INLINE_CACHE_SECONDS = 60


def is_allowed(update: Update, settings: BotSettings) -> bool:
    """Whether ``ALLOWED_CHAT_IDS`` lets this update through.

    An empty allowlist allows everyone. Admins may always talk to the bot in private.
    Updates without a chat (inline queries) are judged by the user, whose private chat id
    equals their user id.
    """
    allowed = settings.allowed_chat_ids
    if not allowed:
        return True
    chat, user = update.effective_chat, update.effective_user
    user_ok = user is not None and (user.id in allowed or user.id in settings.admin_user_ids)
    if chat is None:
        return user_ok
    return chat.id in allowed or (chat.type == ChatType.PRIVATE and user_ok)


async def allowlist_gate(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop updates from chats outside the allowlist: leave groups and channels we were added
    to without permission, and tell unlisted users that the bot is private."""
    if not isinstance(update, Update):
        raise ApplicationHandlerStop
    if is_allowed(update, get_state(context).settings):
        return
    chat = update.effective_chat
    if chat is not None and chat.type != ChatType.PRIVATE:
        logger.info("Leaving chat %s (%s): not in ALLOWED_CHAT_IDS", chat.id, chat.type)
        try:
            await context.bot.leave_chat(chat.id)
        except TelegramError as err:  # already gone, or kicked: nothing left to do
            logger.debug("leaveChat %s failed: %s", chat.id, err)
    else:
        try:
            await _turn_away(update, context)
        except TelegramError as err:  # blocked by the user, say: nothing left to do
            logger.debug("Could not tell user %s the bot is private: %s",
                         update.effective_user and update.effective_user.id, err)
    raise ApplicationHandlerStop


async def _turn_away(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An unlisted user: an empty inline answer (no endless spinner) that offers the private
    chat, an alert for a button, one reply per message within the per-user rate limit."""
    user = update.effective_user
    if user is None:
        return
    text = PRIVATE_BOT.format(user_id=user.id)
    if update.inline_query:
        button = InlineQueryResultsButton(text="This bot is private", start_parameter="private")
        await update.inline_query.answer([], cache_time=PRIVATE_INLINE_CACHE_SECONDS,
                                         is_personal=True, button=button)
    elif update.callback_query:
        await update.callback_query.answer(text[:200], show_alert=True)
    elif update.message and get_state(context).limiter.hit(user.id).allowed:
        await update.message.reply_text(text)


@dataclass(frozen=True)
class Verdict:
    """The rate limiter's answer for one request."""

    allowed: bool
    retry_after: float = 0.0  # seconds until the oldest request leaves the window
    warn: bool = False  # tell the user (once per window, so a flood gets one reply)


class RateLimiter:
    """At most ``limit`` requests per user in any sliding window of ``window`` seconds.

    Refused requests are not queued and not counted; ``limit`` 0 turns the limiter off.
    """

    def __init__(self, limit: int, window: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._times: defaultdict[int, deque[float]] = defaultdict(deque)
        self._warned_until: dict[int, float] = {}
        self._lock = threading.Lock()

    def hit(self, user_id: int) -> Verdict:
        """Count one request by ``user_id`` if it is allowed."""
        if self.limit <= 0:
            return Verdict(True)
        now = self._clock()
        with self._lock:
            times = self._times[user_id]
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) < self.limit:
                times.append(now)
                return Verdict(True)
            retry_after = times[0] + self.window - now
            warn = self._warned_until.get(user_id, -math.inf) <= now
            if warn:
                self._warned_until[user_id] = times[0] + self.window
            return Verdict(False, retry_after, warn)


async def rate_gate(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop a question over the user's limit, with one polite reply per window."""
    if not isinstance(update, Update) or update.effective_user is None:
        return
    verdict = get_state(context).limiter.hit(update.effective_user.id)
    if verdict.allowed:
        return
    message = update.effective_message
    if verdict.warn and message is not None:
        seconds = max(1, math.ceil(verdict.retry_after))
        await message.reply_text(
            f"You are asking faster than I can read. Please wait {seconds} s and ask again.",
            do_quote=message.build_reply_arguments(allow_sending_without_reply=True),
        )
    raise ApplicationHandlerStop


def admin_filter(settings: BotSettings) -> filters.BaseFilter:
    """Matches messages from ``ADMIN_USER_IDS`` (nobody when the list is empty)."""
    return filters.User(user_id=settings.admin_user_ids)
