"""Update handlers: parse → call the engine off the event loop → render → send.

Questions are asked "as of" today, so the engine prefers this week's news.

Each handler is a few lines; rendering lives in :mod:`bot.render`, sending in
:mod:`bot.replies`, access rules in :mod:`bot.access`. Engine calls block (embedding, FAISS,
SQLite), so they always go through ``asyncio.to_thread``. Engine errors are translated into
replies in one place, :func:`on_error`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date

from telegram import (
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import render
from bot.access import rate_gate
from bot.conversation import follow_up, remember
from bot.delivery import DeliveryFailed
from bot.filters import (
    clip_lookup,
    clip_question,
    command_argument,
    deep_link_question,
    question_in,
    quoted_text,
    without_mention,
)
from bot.replies import (
    MORE_PAGE_SIZE,
    NO_PREVIEW,
    answer_keyboard,
    drop_more_button,
    more_button,
    more_passages,
    send_pages,
    working,
)
from bot.state import get_state
from retrieval.errors import IndexDamagedError, RetrievalError, StorageError
from retrieval.types import Answer, IngestStep

logger = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE

#: Passages listed by /search and /source.
SEARCH_K = 5
#: Inline results (Telegram shows up to 50; ten fit a phone screen).
INLINE_K = 10
#: Seconds Telegram may cache inline results: short, so /add shows up quickly.
INLINE_CACHE_SECONDS = 30

APOLOGY = "Sorry, something went wrong while answering. Please try again in a minute."
UNAVAILABLE = ("Sorry, the news index cannot be read right now. The bot's operators can see why "
               "in its log; please try again later.")
ASK_USAGE = ("Ask me a question, e.g. /ask What did Qureshi say about Afghanistan? — or reply "
             "to a message with /ask to look for its sources.")
SOURCE_USAGE = "Reply to a message with /source and I will look for the articles it comes from."


async def help_command(update: Update, context: Context) -> None:
    """/help, and /start without a payload."""
    if message := update.effective_message:
        await send_pages(message, [render.help_message(context.bot.username)])


async def start(update: Update, context: Context) -> None:
    """/start; from a deep link ``t.me/<bot>?start=What_did_X_say`` the payload is a question
    (see :func:`bot.filters.deep_link_question`)."""
    if (message := update.effective_message) and (payload := command_argument(message)):
        await answer_question(message, context, deep_link_question(payload))
    else:
        await help_command(update, context)


async def answer_question(message: Message, context: Context, question: str) -> None:
    """Answer ``question`` (a follow-up resolved first) with quoted sentences, sources and
    passage buttons; what was understood of a follow-up heads the answer, and a long message
    is answered for its question (see :func:`bot.filters.clip_question`) and says so."""
    state = get_state(context)
    clipped = clip_question(question)
    state.asked.remember(message.chat_id, message.message_id, clipped.text)
    asked = follow_up(state.conversations, message, clipped.text)
    async with working(message, state.settings.progress_after_seconds) as progress:
        answer = await asyncio.to_thread(state.questions.ask, asked.question, as_of=date.today())
    markup = None if answer.abstained else answer_keyboard(state.answers.put(answer), answer)
    pages = render.understood(asked.label, render.answer_messages(answer))
    if clipped.clipped:
        pages = render.with_note(render.clipped_note(clipped.question), pages)
    sent = await send_pages(message, pages, markup, replace=progress.message)
    remember(state.conversations, message, answer, sent)


async def lookup_sources(message: Message, context: Context, text: str) -> None:
    """List the passages closest to a quoted message: where might this claim come from?"""
    state = get_state(context)
    async with working(message, state.settings.progress_after_seconds) as progress:
        hits = await asyncio.to_thread(
            state.questions.search, clip_lookup(text), k=SEARCH_K, as_of=date.today()
        )
    if not hits:
        await send_pages(message, ["I found no article that this message could come from."],
                         replace=progress.message)
        return
    await send_pages(message, render.hits_messages(hits, "Possible sources of this message"),
                     replace=progress.message)


async def ask(update: Update, context: Context) -> None:
    """/ask <question>; a bare /ask in reply to a message looks up that message's sources."""
    if not (message := update.effective_message):
        return
    if question := command_argument(message):
        await answer_question(message, context, question)
    elif quoted := quoted_text(message):
        await lookup_sources(message, context, quoted)
    else:
        await message.reply_text(ASK_USAGE)


async def source(update: Update, context: Context) -> None:
    """/source in reply to a message (or /source <text>): where could this come from?"""
    if not (message := update.effective_message):
        return
    if text := quoted_text(message) or command_argument(message):
        await lookup_sources(message, context, text)
    else:
        await message.reply_text(SOURCE_USAGE)


async def on_text(update: Update, context: Context) -> None:
    """A text addressed to the bot (any private text, a reply to the bot, a mention)."""
    if not (message := update.effective_message):
        return
    if question := without_mention(message):
        await answer_question(message, context, question)
    elif quoted := quoted_text(message):
        await lookup_sources(message, context, quoted)
    else:
        await message.reply_text(ASK_USAGE)


async def on_caption(update: Update, context: Context) -> None:
    """A captioned photo addressed to the bot: the caption is the question."""
    if not (message := update.effective_message):
        return
    if question := without_mention(message):
        await answer_question(message, context, question)
    else:
        await message.reply_text(ASK_USAGE)


async def on_edit(update: Update, context: Context) -> None:
    """An edited message that was a question the bot answered: answer the new question, in a
    new reply to it. An edit that leaves the question as it was (formatting, a typo in the
    @mention) is not answered twice; edits of other messages are ignored."""
    if not (message := update.edited_message):
        return
    before = get_state(context).asked.get(message.chat_id, message.message_id)
    question = question_in(message)
    if before is None or not question or clip_question(question).text == before:
        return
    await rate_gate(update, context)  # here, not in the app's gate: only real changes count
    await answer_question(message, context, question)


async def search(update: Update, context: Context) -> None:
    """/search <question>: the best passages, not an answer."""
    if not (message := update.effective_message):
        return
    if not (question := command_argument(message)):
        await message.reply_text("Usage: /search <question>")
        return
    state = get_state(context)
    async with working(message, state.settings.progress_after_seconds) as progress:
        found = await asyncio.to_thread(state.questions.find, clip_question(question).text,
                                        k=SEARCH_K, as_of=date.today())
    pages = render.hits_messages(found.hits, f"Passages for: {question}",
                                 note=render.search_note(found)) if found.hits else [
        "No passages match that question."]
    await send_pages(message, pages, replace=progress.message)


async def stats(update: Update, context: Context) -> None:
    """/stats: corpus size and the newest article."""
    if message := update.effective_message:
        result = await asyncio.to_thread(get_state(context).engine.stats)
        await send_pages(message, [render.stats_message(result)])


async def add(update: Update, context: Context) -> None:
    """/add <url>… (admins only): ingest articles into the running bot's index."""
    if not (message := update.effective_message):
        return
    urls = command_argument(message).split()
    if not urls or not all(u.startswith(("http://", "https://")) for u in urls):
        await message.reply_text("Usage: /add <article or feed URL> …")
        return
    # Fetching and indexing take seconds: say so at once, and what is being done.
    fetching = render.ingest_progress(IngestStep("fetching", len(urls)))
    async with working(message, 0, fetching) as progress:
        report = await asyncio.to_thread(get_state(context).engine.ingest, urls,
                                         on_step=progress.show_from_thread(render.ingest_progress))
    await send_pages(message, render.ingest_message(report), replace=progress.message)


async def add_denied(update: Update, context: Context) -> None:
    """/add from someone not in ADMIN_USER_IDS."""
    if message := update.effective_message:
        await message.reply_text("Only the bot's admins can add articles.")


async def feeds(update: Update, context: Context) -> None:
    """/feeds (admins only): the feeds the index follows, with their polling state."""
    if message := update.effective_message:
        followed = await asyncio.to_thread(get_state(context).engine.feeds)
        await send_pages(message, render.feeds_message(followed))


async def add_feed(update: Update, context: Context) -> None:
    """/addfeed <url> (admins only): follow a feed; the watcher polls it."""
    if not (message := update.effective_message):
        return
    url = command_argument(message).strip()
    if not url or " " in url:
        await message.reply_text("Usage: /addfeed <feed URL>")
        return
    state = get_state(context)
    feed, created = await asyncio.to_thread(state.engine.add_feed, url)
    await send_pages(message, [render.feed_added_message(feed, created, state.settings.newsbot_watch)])


async def remove_feed(update: Update, context: Context) -> None:
    """/removefeed <url> (admins only): stop following a feed; its articles stay."""
    if not (message := update.effective_message):
        return
    if not (url := command_argument(message).strip()):
        await message.reply_text("Usage: /removefeed <feed URL>")
        return
    feed = await asyncio.to_thread(get_state(context).engine.remove_feed, url)
    await message.reply_text(f"No longer following {feed.url}; its articles stay." if feed
                             else f"I do not follow {url}. /feeds lists the feeds I follow.")


async def feeds_denied(update: Update, context: Context) -> None:
    """/feeds, /addfeed or /removefeed from someone not in ADMIN_USER_IDS."""
    if message := update.effective_message:
        await message.reply_text("Only the bot's admins can manage feeds.")


async def not_text(update: Update, context: Context) -> None:
    """A sticker, photo or other non-text message in a private chat."""
    if message := update.effective_message:
        await message.reply_text("I can only read questions sent as text. Try /help.")


async def unknown_command(update: Update, context: Context) -> None:
    """A command the bot does not have, in a private chat."""
    if message := update.effective_message:
        await message.reply_text("I don't know that command. Try /help.")


async def on_button(update: Update, context: Context) -> None:
    """Buttons under an answer: ``p:<key>:<n>`` shows passage n, ``m:<key>:<offset>`` more."""
    query = update.callback_query
    if query is None:
        return
    kind, _, rest = (query.data or "").partition(":")
    key, _, arg = rest.partition(":")
    answer = get_state(context).answers.get(key)
    message = query.message
    if answer is None or not isinstance(message, Message) or not arg.isdigit():
        await query.answer("This answer has expired. Please ask again.", show_alert=True)
        return
    await query.answer()
    if kind == "p":
        await _show_passage(message, answer, int(arg))
    else:
        await drop_more_button(query, message)
        await _show_more(message, answer, key, int(arg))


async def _show_passage(message: Message, answer: Answer, n: int) -> None:
    """The full passage behind citation ``[n]`` of ``answer``."""
    citation = next((c for c in answer.citations if c.n == n), None)
    if citation is not None:
        hit = next((h for h in answer.passages if h.chunk_id == citation.chunk_id), None)
        await send_pages(message, render.passage_messages(citation, hit))


async def _show_more(message: Message, answer: Answer, key: str, offset: int) -> None:
    """The next page of passages that the answer does not cite."""
    extra = more_passages(answer)
    page, next_offset = extra[offset : offset + MORE_PAGE_SIZE], offset + MORE_PAGE_SIZE
    pages = (render.hits_messages(page, "More sources", first_number=offset + 1) if page
             else ["No more sources for this answer."])
    more = InlineKeyboardMarkup([[more_button(key, next_offset)]])
    await send_pages(message, pages, more if next_offset < len(extra) else None)


async def on_inline(update: Update, context: Context) -> None:
    """Inline mode: ``@bot query`` → up to 10 cited passages, none when no passage is a good
    match (Telegram then shows nothing); empty query → a help result."""
    query = update.inline_query
    if query is None:
        return
    text = query.query.strip()
    if not text:
        results = [_inline_help(context.bot.username)]
    else:
        found = await asyncio.to_thread(get_state(context).questions.find, clip_question(text).text,
                                        k=INLINE_K, as_of=date.today())
        hits = found.hits if found.good_match else ()  # nothing rather than noise
        results = [
            InlineQueryResultArticle(
                id=str(hit.chunk_id),
                title=render.clip(hit.title or "Untitled", 100),
                description=render.inline_description(hit),
                input_message_content=InputTextMessageContent(
                    render.inline_quote(hit), parse_mode=ParseMode.HTML,
                    link_preview_options=NO_PREVIEW),
            )
            for hit in hits
        ]
    # With an allowlist, results must not be cached for other (possibly unlisted) users.
    personal = bool(get_state(context).settings.allowed_chat_ids)
    await query.answer(results, cache_time=INLINE_CACHE_SECONDS, is_personal=personal)


def _inline_help(username: str) -> InlineQueryResultArticle:
    example = render.EXAMPLE_QUESTIONS[0]
    return InlineQueryResultArticle(
        id="help",
        title="Type a question to find cited passages",
        description=f"For example: {example}",
        input_message_content=InputTextMessageContent(
            render.inline_help_message(username), parse_mode=ParseMode.HTML),
    )


async def on_error(update: object, context: Context) -> None:
    """The one error handler: log the traceback, reply with a short apology.

    A send that Telegram did not take within the retry budget was logged where it was given up
    (:mod:`bot.delivery`) and is dropped here; getUpdates failing to reach Telegram gets one
    WARNING line (PTB polls again by itself).
    Engine errors (:class:`RetrievalError`) carry messages fit for users and are shown, except
    a damaged index or a failing disk: that is for the operators (logged at ERROR, with what to
    do), and users get a polite "cannot be read right now". Anything else gets a generic apology.
    A failed poll of Telegram (no update; PTB retries by itself) is one warning line.
    """
    error = context.error
    if isinstance(error, DeliveryFailed):
        return  # logged where it was given up; an apology would not get through either
    if update is None and isinstance(error, TelegramError):  # getUpdates; PTB polls again
        logger.warning("Polling Telegram failed (%s: %s); retrying", type(error).__name__, error)
        return
    if isinstance(error, (IndexDamagedError, StorageError)):
        logger.error("The index failed: %s", error)
        text = UNAVAILABLE
    elif isinstance(error, RetrievalError):
        logger.warning("Engine error: %s", error)
        text = f"Sorry: {error}"
    else:
        logger.error("Unhandled error while processing an update", exc_info=error)
        text = APOLOGY
    if not isinstance(update, Update):
        return
    try:
        if update.callback_query:
            await update.callback_query.answer(text[:200], show_alert=True)
        elif update.effective_message:
            await update.effective_message.reply_text(text)
    except TelegramError as err:
        logger.warning("Could not send the apology: %s", err)
