"""Which messages are meant for the bot, and how to read a question out of them.

In private chats every text is a question. In groups the bot answers only what is addressed to
it: its commands (PTB's ``CommandHandler`` already drops ``/ask@otherbot``), replies to its own
messages and messages that mention it. With group privacy mode on, Telegram delivers only the
first two reliably; with it off, the bot sees all chatter and these rules ignore the rest.
"""

from __future__ import annotations

import re

from telegram import Message, MessageEntity
from telegram.constants import ChatType
from telegram.ext import filters

#: Longer questions are clipped: the embedding model reads about 256 tokens (~1,000 characters)
#: and a longer text only slows the lexical search down.
MAX_QUESTION_CHARS = 1000


def mentions_bot(message: Message) -> bool:
    """True when the message's text mentions the bot by @username or by a text mention."""
    bot = message.get_bot()
    username = f"@{bot.username}".lower()
    entities = message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION])
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
    """The message text with the bot's @username taken out."""
    username = re.escape(message.get_bot().username)
    return re.sub(rf"@{username}\b", " ", message.text or "", flags=re.IGNORECASE).strip()


def quoted_text(message: Message) -> str:
    """The text a message replies to: the selected quote if any, else the whole replied
    message (its text or caption). Empty when the message replies to nothing readable."""
    if message.quote and message.quote.text:
        return message.quote.text
    reply = message.reply_to_message
    return (reply.text or reply.caption or "") if reply else ""


def clip_question(text: str) -> str:
    """Normalise whitespace and cap the length (see :data:`MAX_QUESTION_CHARS`)."""
    return " ".join(text.split())[:MAX_QUESTION_CHARS]
