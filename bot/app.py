"""``build_application``: the one place the Telegram Application is assembled.

Production (``newsbot``) and the tests call the same function; the tests only point
``TELEGRAM_API_BASE_URL`` at a local fake Bot API server.

Handler groups, in the order PTB runs them:

* ``-2`` — :func:`bot.access.allowlist_gate` on every update;
* ``-1`` — :func:`bot.access.rate_gate` on updates that cost an engine call;
* ``0``  — the handlers proper; the first match wins.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from telegram import BotCommand, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseHandler,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    SimpleUpdateProcessor,
    TypeHandler,
    filters,
)

from bot import alerts, handlers, render
from bot.access import RateLimiter, admin_filter, allowlist_gate, rate_gate
from bot.config import BotSettings
from bot.delivery import RetryingRequest, RetryPolicy
from bot.filters import ADDRESSED, NEW_MESSAGE
from bot.state import STATE_KEY, BotState, get_state
from retrieval.errors import RetrievalError

if TYPE_CHECKING:
    from retrieval.engine import Engine

logger = logging.getLogger(__name__)

#: Updates handled at once. Each waits mostly on the engine thread pool or on Telegram.
MAX_CONCURRENT_UPDATES = 64
#: Commands that cost an engine call and therefore count against the per-user limit.
QUESTION_COMMANDS = ("ask", "search", "source", "today")
#: Admin commands that manage the feeds the index follows.
FEED_COMMANDS = ("feeds", "addfeed", "removefeed")
#: A photo with a caption: the caption is read as a question.
CAPTIONED_PHOTO = filters.PHOTO & filters.CAPTION
#: Edits of messages (not channel posts); handlers.on_edit answers those that change a question.
EDITED = filters.UpdateType.EDITED_MESSAGE


def build_application(
    settings: BotSettings, engine: Engine, *, update_processor: BaseUpdateProcessor | None = None,
    retry: RetryPolicy | None = None,
) -> Application:
    """Assemble the bot: settings → Application with handlers, rate limiter and lifecycle.

    The engine is built once by the caller, stored in ``bot_data`` (see
    :func:`bot.state.get_state`) and closed in ``post_shutdown``. Updates are processed
    concurrently, by ``update_processor`` when given (PTB's extension point; the tests pass
    one that reports when each update is done), else by PTB's default with up to
    :data:`MAX_CONCURRENT_UPDATES` at once.

    Every Bot API call goes through :class:`bot.delivery.RetryingRequest`, which retries
    outages (5xx, 429, network errors) as ``retry`` says (default: :class:`RetryPolicy`; the
    tests pass short timings). AIORateLimiter only spaces sends out to stay below Telegram's
    flood limits; it retries nothing.
    """
    app = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.telegram_api_base_url)
        # a slow question must not hold up other users
        .concurrent_updates(update_processor or SimpleUpdateProcessor(MAX_CONCURRENT_UPDATES))
        .request(RetryingRequest(retry))
        .rate_limiter(AIORateLimiter())
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
        .build()
    )
    limiter = RateLimiter(settings.rate_limit_questions, settings.rate_limit_window_seconds)
    app.bot_data[STATE_KEY] = BotState(engine=engine, settings=settings, limiter=limiter)
    app.add_handler(TypeHandler(Update, allowlist_gate), group=-2)
    app.add_handlers(_question_handlers(), group=-1)
    app.add_handlers(_handlers(settings), group=0)
    app.add_error_handler(handlers.on_error)
    return app


def _question_handlers() -> list[BaseHandler]:
    """The rate gate, on exactly the updates that ask the engine something."""
    return [
        CommandHandler(QUESTION_COMMANDS, rate_gate, filters=NEW_MESSAGE),
        CommandHandler("start", rate_gate, filters=NEW_MESSAGE, has_args=True),  # deep links
        MessageHandler(NEW_MESSAGE & filters.TEXT & ~filters.COMMAND & ADDRESSED, rate_gate),
        MessageHandler(NEW_MESSAGE & CAPTIONED_PHOTO & ADDRESSED, rate_gate),
    ]


def _handlers(settings: BotSettings) -> list[BaseHandler]:
    private = filters.ChatType.PRIVATE
    return [
        CommandHandler("start", handlers.start, filters=NEW_MESSAGE),
        CommandHandler("help", handlers.help_command, filters=NEW_MESSAGE),
        CommandHandler("ask", handlers.ask, filters=NEW_MESSAGE),
        CommandHandler("search", handlers.search, filters=NEW_MESSAGE),
        CommandHandler("source", handlers.source, filters=NEW_MESSAGE),
        CommandHandler("stats", handlers.stats, filters=NEW_MESSAGE),
        CommandHandler("today", alerts.today, filters=NEW_MESSAGE),
        CommandHandler("follow", alerts.follow, filters=NEW_MESSAGE),
        CommandHandler("unfollow", alerts.unfollow, filters=NEW_MESSAGE),
        CommandHandler("following", alerts.following, filters=NEW_MESSAGE),
        CommandHandler("add", handlers.add, filters=NEW_MESSAGE & admin_filter(settings)),
        CommandHandler("add", handlers.add_denied, filters=NEW_MESSAGE),
        CommandHandler("feeds", handlers.feeds, filters=NEW_MESSAGE & admin_filter(settings)),
        CommandHandler("addfeed", handlers.add_feed, filters=NEW_MESSAGE & admin_filter(settings)),
        CommandHandler("removefeed", handlers.remove_feed,
                       filters=NEW_MESSAGE & admin_filter(settings)),
        CommandHandler(FEED_COMMANDS, handlers.feeds_denied, filters=NEW_MESSAGE),
        MessageHandler(NEW_MESSAGE & filters.TEXT & ~filters.COMMAND & ADDRESSED,
                       handlers.on_text),
        MessageHandler(NEW_MESSAGE & CAPTIONED_PHOTO & ADDRESSED, handlers.on_caption),
        MessageHandler(EDITED & (filters.TEXT | filters.CAPTION), handlers.on_edit),
        MessageHandler(NEW_MESSAGE & private & filters.COMMAND, handlers.unknown_command),
        MessageHandler(NEW_MESSAGE & private & ~filters.TEXT, handlers.not_text),
        CallbackQueryHandler(handlers.on_button, pattern=r"^[pm]:"),
        InlineQueryHandler(handlers.on_inline),
    ]


async def _post_init(app: Application) -> None:
    """Register the command list, load the model and log who we are (once, before polling)."""
    await app.bot.set_my_commands([BotCommand(name, text) for name, text in render.COMMANDS])
    engine = get_state(app).engine
    stats = await asyncio.to_thread(engine.stats)
    # The model loads on first use (seconds); load it now so the first question is quick.
    await asyncio.to_thread(lambda: engine.embedder)
    logger.info("Bot @%s ready: %d articles, %d passages in %s", app.bot.username,
                stats.articles, stats.chunks, stats.path)
    state = get_state(app)
    if state.settings.newsbot_workers:
        from retrieval.workers import Workers

        workers = Workers(engine.settings, state.settings.newsbot_workers)
        try:
            await asyncio.to_thread(workers.start)
        except BaseException:
            await asyncio.to_thread(workers.close)
            raise
        state.workers = workers
        logger.info("%d processes answer questions (NEWSBOT_WORKERS)", state.settings.newsbot_workers)
    if state.settings.newsbot_watch:
        state.watching = asyncio.create_task(_watch_feeds(state), name="feed watcher")
    alerts.start_alerts(app)


async def _watch_feeds(state: BotState) -> None:
    """NEWSBOT_WATCH=1: the feed watcher of ``retriever watch``, in a worker thread (fetching
    and embedding never run on the event loop), until post_stop sets ``stop_watching``."""
    from retrieval.watch import Watcher

    watcher = Watcher(state.engine, stop=state.stop_watching)
    logger.info("Watching the index's feeds (NEWSBOT_WATCH=1)")
    try:
        await asyncio.to_thread(watcher.run)
    except RetrievalError as err:  # a read-only index, a full disk: the operators must act
        logger.error("The feed watcher stopped: %s", err)


async def _post_stop(app: Application) -> None:
    """Stop the alerts and the feed watcher: the poll in progress ends (committed whole),
    then the thread."""
    await alerts.stop_alerts(app)
    state = get_state(app)
    if state.watching is not None:
        state.stop_watching.set()
        await state.watching


async def _post_shutdown(app: Application) -> None:
    """Close the question workers and the engine (its files and threads) after the last
    update was handled."""
    state = get_state(app)
    if state.workers is not None:
        await asyncio.to_thread(state.workers.close)
    await asyncio.to_thread(state.engine.close)
