"""Topic alerts and the daily digest in Telegram: /follow, /unfollow, /following, /today, and
the task that posts alerts.

Subscriptions live in the index (:mod:`retrieval.alerts`), so they survive restarts and are
shared with any other bot process on the same index. In a private chat anyone may change what
the chat follows; in a group only its administrators (asked of Telegram with getChatMember) or
the bot's admins (``ADMIN_USER_IDS``).

:func:`post_alerts` runs from post_init to post_stop: every ``NEWSBOT_ALERTS_CHECK_SECONDS`` it
asks the engine for alerts on the articles added since the last look (by the watcher, the CLI
or /add) and sends each one that :meth:`retrieval.alerts.Alerts.claim` lets through: never an
article twice to one chat, at most ``NEWSBOT_ALERTS_PER_HOUR`` per chat and hour.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date

from telegram import Message, Update
from telegram.constants import ChatMemberStatus, ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes

from bot import render
from bot.filters import command_argument
from bot.replies import NO_PREVIEW, send_pages
from bot.state import BotState, get_state
from retrieval.errors import ConfigError, RetrievalError

logger = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE

FOLLOW_USAGE = ("Usage: /follow <topic>, e.g. /follow Ukraine grain deal. I post new articles "
                "about it here as they come in.")
NOT_ADMIN = "Only this group's admins can change the topics it follows."


async def may_manage(message: Message, context: Context) -> bool:
    """Whether the sender may change what this chat follows: anyone in a private chat; in a
    group its administrators (Telegram says who) and the bot's admins."""
    chat, user = message.chat, message.from_user
    if chat.type == ChatType.PRIVATE:
        return True
    if message.sender_chat is not None and message.sender_chat.id == chat.id:
        return True  # an anonymous administrator, posting as the group
    if user is None:
        return False
    if user.id in get_state(context).settings.admin_user_ids:
        return True
    member = await context.bot.get_chat_member(chat.id, user.id)
    return member.status in (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR)


async def follow(update: Update, context: Context) -> None:
    """/follow <topic>: post new articles about the topic in this chat."""
    if not (message := update.effective_message):
        return
    if not (topic := command_argument(message)):
        await message.reply_text(FOLLOW_USAGE)
        return
    if not await may_manage(message, context):
        await message.reply_text(NOT_ADMIN)
        return
    state = get_state(context)
    try:
        subscription, created = await asyncio.to_thread(state.engine.alerts.follow, message.chat.id, topic)
    except ConfigError as err:
        await message.reply_text(f"{err}.")
        return
    await send_pages(message, [render.followed_message(
        subscription.topic, created, state.settings.newsbot_alerts_per_hour)])


async def unfollow(update: Update, context: Context) -> None:
    """/unfollow <topic>: stop posting about it."""
    if not (message := update.effective_message):
        return
    if not (topic := command_argument(message)):
        await message.reply_text("Usage: /unfollow <topic>. /following lists this chat's topics.")
        return
    if not await may_manage(message, context):
        await message.reply_text(NOT_ADMIN)
        return
    removed = await asyncio.to_thread(get_state(context).engine.alerts.unfollow, message.chat.id, topic)
    await send_pages(message, [f"No longer following “{render.escape(topic)}”." if removed else
                               f"This chat does not follow “{render.escape(topic)}”. "
                               "/following lists its topics."])


async def following(update: Update, context: Context) -> None:
    """/following: the chat's topics."""
    if message := update.effective_message:
        topics = await asyncio.to_thread(get_state(context).engine.alerts.topics, message.chat.id)
        await send_pages(message, [render.following_message(topics)])


async def today(update: Update, context: Context) -> None:
    """/today [topic]: the day's main stories, the most widely carried first."""
    if not (message := update.effective_message):
        return
    try:
        digest = await asyncio.to_thread(get_state(context).engine.alerts.today,
                                         command_argument(message), date.today())
    except ConfigError as err:
        await message.reply_text(f"{err}.")
        return
    await send_pages(message, [render.digest_message(digest)])


# ---------------------------------------------------------------------------- posting alerts


def start_alerts(app: Application) -> None:
    """Start :func:`post_alerts` (post_init), unless alerts are off or the index read-only."""
    state = get_state(app)
    if state.settings.newsbot_alerts_per_hour <= 0:
        logger.info("Topic alerts are off (NEWSBOT_ALERTS_PER_HOUR=0)")
        return
    if state.engine.store.read_only:
        logger.info("Topic alerts are off: the index is read-only (%s)", state.engine.store.read_only_reason)
        return
    state.alerting = asyncio.create_task(post_alerts(app), name="topic alerts")


async def stop_alerts(app: Application) -> None:
    """Stop :func:`post_alerts` (post_stop): the round in progress ends first."""
    state = get_state(app)
    if state.alerting is not None:
        state.stop_alerting.set()
        await state.alerting


async def post_alerts(app: Application) -> None:
    """Look for alerts every NEWSBOT_ALERTS_CHECK_SECONDS until stopped."""
    state = get_state(app)
    every = state.settings.newsbot_alerts_check_seconds
    while not state.stop_alerting.is_set():
        try:
            await alert_round(app, state)
        except RetrievalError as err:  # a damaged index, a full disk: the operators must act
            logger.error("Topic alerts: %s", err)
        try:
            await asyncio.wait_for(state.stop_alerting.wait(), every)
        except TimeoutError:
            pass


async def alert_round(app: Application, state: BotState) -> int:
    """Send the alerts on the articles added since the last round; returns how many."""
    alerts = await asyncio.to_thread(state.engine.alerts.check)
    sent = 0
    for alert in alerts:
        if not _allowed(state, alert.chat):
            continue
        status = await asyncio.to_thread(state.engine.alerts.claim, alert,
                                         state.settings.newsbot_alerts_per_hour)
        if status != "claimed":
            logger.info("Alert on %s for chat %s not sent: %s", alert.citation.article_id, alert.chat, status)
            continue
        try:
            await app.bot.send_message(alert.chat, render.alert_message(alert), parse_mode=ParseMode.HTML,
                                       link_preview_options=NO_PREVIEW)
            sent += 1
        except TelegramError as err:  # blocked by the user, removed from the group, an outage
            logger.warning("Could not send an alert to chat %s: %s", alert.chat, err)
    return sent


def _allowed(state: BotState, chat: int) -> bool:
    """A chat that followed a topic but is no longer in ALLOWED_CHAT_IDS gets no alerts."""
    settings = state.settings
    return not settings.allowed_chat_ids or chat in settings.allowed_chat_ids or chat in settings.admin_user_ids
