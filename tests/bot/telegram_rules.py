"""What Telegram checks in the messages a bot sends, as the fake server enforces it.

* text: 1-4096 UTF-16 code units counted after entity parsing;
* HTML parse mode: only Telegram's tags, balanced; every other ``<`` and ``&`` escaped;
* inline keyboards: callback_data of 1-64 bytes.
"""

from __future__ import annotations

import html
import re
from typing import Any

MESSAGE_LIMIT = 4096
CALLBACK_DATA_LIMIT = 64
# Tags Telegram's HTML parse mode accepts.
ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
                "a", "tg-emoji", "code", "pre", "blockquote"}
_TAG_RE = re.compile(r"<(/?)([A-Za-z][\w-]*)((?:\s+[\w-]+(?:=\"[^\"]*\"|='[^']*')?)*)\s*>")
_ENTITY_RE = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def html_error(text: str) -> str | None:
    """Why Telegram would refuse ``text`` in HTML parse mode, or None when it parses."""
    stack: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "<":
            match = _TAG_RE.match(text, i)
            if not match:
                return f"Unsupported start tag at byte offset {len(text[:i].encode())}"
            closing, name = match[1], match[2].lower()
            if name not in ALLOWED_TAGS:
                return f'Unsupported start tag "{name}" at byte offset {len(text[:i].encode())}'
            if closing:
                if not stack or stack.pop() != name:
                    return f'Can\'t find end tag corresponding to start tag "{name}"'
            else:
                stack.append(name)
            i = match.end()
        elif char == "&":
            match = _ENTITY_RE.match(text, i)
            if not match:
                return f"Character '&' is reserved at byte offset {len(text[:i].encode())}"
            i = match.end()
        else:
            i += 1
    return f'Can\'t find end tag corresponding to start tag "{stack[-1]}"' if stack else None


def visible_text(text: str, parse_mode: str | None) -> str:
    """The message text after entity parsing (what Telegram stores and counts)."""
    if parse_mode != "HTML":
        return text
    return html.unescape(re.sub(r"<[^>]+>", "", text))


class ApiError(Exception):
    """A Bot API error response."""

    def __init__(self, status: int, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.status,
                                "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def check_text(text: str, parse_mode: str | None) -> str:
    """The visible text of a message, or the ApiError Telegram would answer with."""
    if parse_mode == "HTML" and (error := html_error(text)):
        raise ApiError(400, f"Bad Request: can't parse entities: {error}")
    visible = visible_text(text, parse_mode)
    if not visible.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if utf16_len(visible) > MESSAGE_LIMIT:
        raise ApiError(400, "Bad Request: message is too long")
    return visible

def check_markup(markup: dict[str, Any] | None) -> None:
    """Refuse inline keyboards whose callback_data Telegram would refuse."""
    for row in (markup or {}).get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
