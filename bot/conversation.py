"""Follow-up questions in chats: which earlier question a message may depend on, and keeping
each answer as the context of the next question. The rules themselves are in
:mod:`retrieval.followup` (pure, shared with the CLI); this module only maps Telegram messages
to conversations.

A reply to one of the bot's answers continues that answer's question, even after other
questions; any other question continues the asker's last one (per private chat, or per user in
a group) for :data:`bot.state.FOLLOWUP_TTL_SECONDS`.
"""

from __future__ import annotations

from telegram import Message
from telegram.constants import ChatType

from bot.filters import replies_to_bot
from bot.state import Conversations
from retrieval.followup import Previous, Resolution, resolve
from retrieval.types import Answer


def conversation_key(message: Message) -> tuple[int, int | None]:
    """(chat id, None) in a private chat; (chat id, user id) in a group."""
    user = message.from_user
    if message.chat.type == ChatType.PRIVATE or user is None:
        return message.chat_id, None
    return message.chat_id, user.id


def follow_up(conversations: Conversations, message: Message, text: str) -> Resolution:
    """``text`` as a standalone question, in the context that ``message`` continues."""
    reply = message.reply_to_message
    replied = None
    if reply is not None and replies_to_bot(message):
        replied = conversations.answered(reply.chat_id, reply.message_id)
    previous = replied or conversations.last(conversation_key(message))
    return resolve(text, previous, reply=replied is not None)


def remember(conversations: Conversations, message: Message, answer: Answer,
             sent: Message | None) -> None:
    """Keep ``answer`` (to ``message``; sent as ``sent``) as the context of what comes next."""
    text = "" if answer.abstained else " ".join(s.text for s in answer.sentences)
    where = (sent.chat_id, sent.message_id) if sent is not None else None
    conversations.remember(conversation_key(message), Previous(answer.query, text), where)
