"""Which messages are meant for the bot, and how to read a question out of them.

In private chats every text is a question. In groups the bot answers only what is addressed to
it: its commands (PTB's ``CommandHandler`` already drops ``/ask@otherbot``), replies to its own
messages and messages that mention it. With group privacy mode on, Telegram delivers only the
first two reliably; with it off, the bot sees all chatter and these rules ignore the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram import Message, MessageEntity
from telegram.constants import ChatType
from telegram.ext import filters

from retrieval.lexical import terms

#: Longer messages are clipped to this many words around their question. The embedding model
#: reads 256 tokens (~190 words; it drops the rest), and every word of the question costs the
#: lexical search and the sentence scorer: unclipped, a 1,000-word paste cost seconds of CPU.
MAX_QUESTION_WORDS = 150
#: ... and to this many characters, for messages of few but very long "words" (emoji, URLs).
MAX_QUESTION_CHARS = 1000
#: In a clipped message, a question sentence with fewer content words than this ("What did
#: she say?", "Is that true?") is asked with the sentences before it. A fuller one is asked
#: alone: the words of a preamble only dilute the search, and the engine then abstains.
MIN_QUESTION_TERMS = 3


def mentions_bot(message: Message) -> bool:
    """True when the message's text mentions the bot by @username or by a text mention."""
    bot = message.get_bot()
    username = f"@{bot.username}".lower()
    kinds = [MessageEntity.MENTION, MessageEntity.TEXT_MENTION]
    entities = {**message.parse_entities(kinds), **message.parse_caption_entities(kinds)}
    for entity, text in entities.items():
        if entity.type == MessageEntity.MENTION and text.lower() == username:
            return True
        if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot.id:
            return True
    return False


def replies_to_bot(message: Message) -> bool:
    """True when the message replies to one of the bot's own messages."""
    reply = message.reply_to_message
    return bool(reply and reply.from_user and reply.from_user.id == message.get_bot().id)


class _AddressedToBot(filters.MessageFilter):
    """Private messages, replies to the bot and messages mentioning it; never a quote that
    someone posted through the bot's own inline mode."""

    def filter(self, message: Message) -> bool:
        if message.via_bot and message.via_bot.id == message.get_bot().id:
            return False
        if message.chat.type == ChatType.PRIVATE:
            return True
        return replies_to_bot(message) or mentions_bot(message)


#: Use as ``filters.TEXT & ADDRESSED``.
ADDRESSED = _AddressedToBot(name="AddressedToBot")

#: New messages only: edits and channel posts are not questions.
NEW_MESSAGE = filters.UpdateType.MESSAGE


def command_argument(message: Message) -> str:
    """The text after the command word (``/ask@bot  question`` → ``question``)."""
    parts = (message.text or "").split(None, 1)
    return parts[1].strip() if len(parts) > 1 else ""


def without_mention(message: Message) -> str:
    """The message text (or a photo's caption) with the bot's @username taken out."""
    username = re.escape(message.get_bot().username)
    text = message.text or message.caption or ""
    return re.sub(rf"@{username}\b", " ", text, flags=re.IGNORECASE).strip()


def question_in(message: Message) -> str:
    """The question a message asks: the argument of a command (``/ask …``), else its text or
    caption without the bot's @username."""
    if (message.text or "").startswith("/"):
        return command_argument(message)
    return without_mention(message)


def deep_link_question(payload: str) -> str:
    """The question in a ``t.me/<bot>?start=<payload>`` link: underscores stand for spaces.

    Telegram allows only ``A-Z a-z 0-9 _ -`` (at most 64) in a payload, so a link reads
    ``t.me/<bot>?start=What_did_Qureshi_say_about_Afghanistan``. Chosen over base64url because
    anyone can write and read such a link; the question mark is lost, which the engine does
    not need.
    """
    return " ".join(payload.replace("_", " ").split())


def quoted_text(message: Message) -> str:
    """The text a message replies to: the selected quote if any, else the whole replied
    message (its text or caption). Empty when the message replies to nothing readable."""
    if message.quote and message.quote.text:
        return message.quote.text
    reply = message.reply_to_message
    return (reply.text or reply.caption or "") if reply else ""


@dataclass(frozen=True)
class Clipped:
    """A message cut down to the question the engine is asked."""

    text: str  # what the engine is asked: whitespace collapsed, within the limits above
    question: str  # the sentence kept as the question: the last one with a question mark
    clipped: bool  # words were dropped: the reply says which question it answers


# A sentence ends at . ! ? or … (and closing quotes or brackets) before white space, or at a
# line break. Chat text needs no more: a wrong cut ("Mr. Biden") only moves the context boundary.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"'”’)\]]))\s+")


def _sentences(text: str) -> list[str]:
    return [s for line in text.splitlines() for s in _SENTENCE_END.split(line.strip()) if s]


def clip_question(text: str) -> Clipped:
    """Keep the question of a long message, not its first 1,000 characters.

    The question is the last sentence with a question mark (the last sentence when none has
    one). When it has few content words (see :data:`MIN_QUESTION_TERMS`), the sentences just
    before it are kept as context while they fit in :data:`MAX_QUESTION_WORDS`. A question
    sentence longer than that keeps its last words. Messages within the limits are only
    whitespace-normalised. Pure.
    """
    normal = " ".join(text.split())
    if len(normal.split()) <= MAX_QUESTION_WORDS and len(normal) <= MAX_QUESTION_CHARS:
        return Clipped(normal, normal, False)
    sentences = _sentences(text)
    anchor = max((i for i, s in enumerate(sentences) if "?" in s), default=len(sentences) - 1)
    kept = sentences[anchor].split()[-MAX_QUESTION_WORDS:]
    context = sentences[:anchor] if len(terms(sentences[anchor])) < MIN_QUESTION_TERMS else []
    for sentence in reversed(context):
        words = sentence.split()
        if len(kept) + len(words) > MAX_QUESTION_WORDS:
            break
        kept = words + kept
    clipped = " ".join(kept)
    if len(clipped) > MAX_QUESTION_CHARS:
        clipped = clipped[-MAX_QUESTION_CHARS:].split(" ", 1)[-1]
    return Clipped(clipped, " ".join(sentences[anchor].split()), True)


def clip_lookup(text: str) -> str:
    """A quoted message cut for a source lookup: its first words (a news text's lead)."""
    words = " ".join(text.split()[:MAX_QUESTION_WORDS])
    return words[:MAX_QUESTION_CHARS]
