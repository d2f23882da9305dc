"""Builders for the JSON updates Telegram sends, as plain dicts pushed into the fake server.

Entities are computed as Telegram does: a ``bot_command`` entity for a leading ``/command``
(with its ``@botname``), a ``mention`` entity for every ``@username``, offsets in UTF-16 units.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from fake_telegram import FakeTelegram
from telegram_rules import utf16_len


@dataclass(frozen=True)
class User:
    id: int
    first_name: str
    username: str | None = None
    is_bot: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot,
                                "first_name": self.first_name}
        if self.username:
            data["username"] = self.username
        return data

    @property
    def private_chat(self) -> dict[str, Any]:
        return {"id": self.id, "type": "private", "first_name": self.first_name}


def group_chat(chat_id: int, title: str = "Newsroom", kind: str = "supergroup") -> dict[str, Any]:
    return {"id": chat_id, "type": kind, "title": title}


ALICE = User(1001, "Alice", "alice")
BOB = User(1002, "Bob", "bob")
ADMIN = User(42, "Ada", "ada_admin")
GROUP = group_chat(-1001234567890)
STRANGER_GROUP = group_chat(-1009999999999, "Somewhere else")
CHANNEL = group_chat(-1005555555555, "News channel", kind="channel")


def entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram would attach to ``text``: bot command first, then mentions."""
    found = []
    command = re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text)
    if command:
        found.append({"type": "bot_command", "offset": 0, "length": len(command[0])})
    for mention in re.finditer(r"(?<![\w/])@[A-Za-z0-9_]{5,32}", text):
        found.append({"type": "mention", "offset": utf16_len(text[: mention.start()]),
                      "length": utf16_len(mention[0])})
    return found


def message(tg: FakeTelegram, user: User, text: str | None = None, *,
            chat: dict[str, Any] | None = None, reply_to: dict[str, Any] | None = None,
            quote: str | None = None, **extra: Any) -> dict[str, Any]:
    """A new message from ``user`` (in their private chat unless ``chat`` is given)."""
    data: dict[str, Any] = {"message_id": tg.next_message_id(), "date": int(time.time()),
                            "chat": chat or user.private_chat, "from": user.to_dict(), **extra}
    if text is not None:
        data["text"] = text
        if found := entities(text):
            data["entities"] = found
    if reply_to is not None:
        data["reply_to_message"] = reply_to
    if quote is not None:
        data["quote"] = {"text": quote, "position": 0}
    return data


def send(tg: FakeTelegram, user: User, text: str | None = None, **kwargs: Any) -> tuple[int, dict]:
    """Push a new message; returns (update_id, message)."""
    msg = message(tg, user, text, **kwargs)
    return tg.push({"message": msg}), msg


def edit(tg: FakeTelegram, original: dict[str, Any], text: str) -> int:
    """Push an edit of an earlier message."""
    edited = {**original, "text": text, "edit_date": int(time.time())}
    edited.pop("entities", None)
    if found := entities(text):
        edited["entities"] = found
    return tg.push({"edited_message": edited})


def channel_post(tg: FakeTelegram, text: str, chat: dict[str, Any] = CHANNEL) -> int:
    post = {"message_id": tg.next_message_id(), "date": int(time.time()), "chat": chat,
            "sender_chat": chat, "text": text}
    if found := entities(text):
        post["entities"] = found
    return tg.push({"channel_post": post})


def sticker(tg: FakeTelegram, user: User, chat: dict[str, Any] | None = None) -> int:
    data = {"file_id": "CAACAgIAAxkBAAE", "file_unique_id": "AgADxyz", "type": "regular",
            "width": 512, "height": 512, "is_animated": False, "is_video": False}
    return send(tg, user, chat=chat, sticker=data)[0]


def photo(tg: FakeTelegram, user: User, chat: dict[str, Any] | None = None) -> int:
    sizes = [{"file_id": "AgACAgIAAxkBAAE", "file_unique_id": "AQADabc", "width": 90,
              "height": 60}]
    return send(tg, user, chat=chat, photo=sizes)[0]


def press(tg: FakeTelegram, user: User, bot_message: dict[str, Any], data: str) -> int:
    """Push a press of an inline button under ``bot_message``."""
    return tg.push({"callback_query": {
        "id": str(tg.next_message_id()), "from": user.to_dict(), "message": bot_message,
        "chat_instance": "ci-1", "data": data}})


def inline_query(tg: FakeTelegram, user: User, query: str) -> int:
    return tg.push({"inline_query": {
        "id": str(tg.next_message_id()), "from": user.to_dict(), "query": query, "offset": "",
        "chat_type": "sender"}})


def buttons(bot_message: dict[str, Any]) -> list[dict[str, Any]]:
    """All inline buttons under a message the bot sent, row by row."""
    markup = bot_message.get("reply_markup") or {}
    return [button for row in markup.get("inline_keyboard", []) for button in row]
