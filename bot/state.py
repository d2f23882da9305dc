"""What the running bot keeps between updates, and the one typed way handlers reach it.

``build_application`` stores a :class:`BotState` in ``bot_data``; handlers call
:func:`get_state` instead of casting ``context.bot_data[...]`` themselves.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from retrieval.followup import Previous
from retrieval.types import Answer

if TYPE_CHECKING:
    from retrieval.engine import Engine
    from retrieval.workers import Questions, Workers

    from bot.access import RateLimiter
    from bot.config import BotSettings

#: The ``bot_data`` key under which the state lives.
STATE_KEY = "newsbot"

#: Answers stay clickable this long. A day covers a conversation; older buttons say "expired".
ANSWER_TTL_SECONDS = 24 * 3600
#: At most this many answers are kept (the oldest go first), which bounds memory.
ANSWER_CAPACITY = 2000


class AnswerStore:
    """Answers kept server side so that buttons carry only a short key (callback_data is
    limited to 64 bytes). Entries expire after ``ttl`` seconds; the oldest go when full."""

    def __init__(self, ttl: float = ANSWER_TTL_SECONDS, capacity: int = ANSWER_CAPACITY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._capacity = capacity
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, Answer]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, answer: Answer) -> str:
        """Keep ``answer`` and return its key: 8 URL-safe characters."""
        key = secrets.token_urlsafe(6)
        with self._lock:
            self._items[key] = (self._clock() + self._ttl, answer)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return key

    def get(self, key: str) -> Answer | None:
        """The answer stored under ``key``, or None when unknown or expired."""
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                return None
            if entry[0] < self._clock():
                del self._items[key]
                return None
            return entry[1]


#: A conversation's last question stays the context of a follow-up this long: long enough for
#: "and what about India?", short enough that a question asked after lunch starts afresh.
FOLLOWUP_TTL_SECONDS = 15 * 60
#: At most this many conversations (and as many answered messages) are kept.
CONVERSATION_CAPACITY = 2000


class Conversations:
    """The last question and answer of each conversation, for follow-up questions, and the
    question behind each answer message, for replies to it. A conversation is a private chat,
    or one user in a group (two people asking in one group do not share context).

    The last question expires after ``ttl`` seconds; an answer message stays the context of a
    reply as long as its buttons work (``reply_ttl``): the reply names it explicitly.
    """

    def __init__(self, ttl: float = FOLLOWUP_TTL_SECONDS, reply_ttl: float = ANSWER_TTL_SECONDS,
                 capacity: int = CONVERSATION_CAPACITY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = {"last": ttl, "message": reply_ttl}
        self._capacity = capacity
        self._clock = clock
        self._items: dict[str, OrderedDict[Any, tuple[float, Previous]]] = {
            "last": OrderedDict(), "message": OrderedDict()}
        self._lock = threading.Lock()

    def remember(self, conversation: Any, previous: Previous,
                 message: tuple[int, int] | None = None) -> None:
        """Keep ``previous`` as the context of ``conversation`` and of the answer ``message``
        (chat id, message id)."""
        with self._lock:
            for kind, key in (("last", conversation), ("message", message)):
                if key is None:
                    continue
                items = self._items[kind]
                items.pop(key, None)
                items[key] = (self._clock() + self._ttl[kind], previous)
                while len(items) > self._capacity:
                    items.popitem(last=False)

    def last(self, conversation: Any) -> Previous | None:
        """The conversation's last question and answer, unless they have expired."""
        return self._get("last", conversation)

    def answered(self, chat_id: int, message_id: int) -> Previous | None:
        """The question and answer behind the bot's message ``message_id``, if known."""
        return self._get("message", (chat_id, message_id))

    def _get(self, kind: str, key: Any) -> Previous | None:
        with self._lock:
            entry = self._items[kind].get(key)
            if entry is None:
                return None
            if entry[0] < self._clock():
                del self._items[kind][key]
                return None
            return entry[1]


#: Questions remembered for edits (see :class:`AskedQuestions`); a few hundred bytes each.
ASKED_CAPACITY = 5000


class AskedQuestions:
    """The question each answered message asked, by (chat id, message id), so that an edit
    can tell a changed question from a no-op edit. The oldest go first when full (an edit of
    a forgotten message is then ignored, as after a restart)."""

    def __init__(self, capacity: int = ASKED_CAPACITY) -> None:
        self._capacity = capacity
        self._items: OrderedDict[tuple[int, int], str] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, chat_id: int, message_id: int, question: str) -> None:
        with self._lock:
            self._items[(chat_id, message_id)] = question
            self._items.move_to_end((chat_id, message_id))
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)

    def get(self, chat_id: int, message_id: int) -> str | None:
        """The question last answered for this message, or None."""
        with self._lock:
            return self._items.get((chat_id, message_id))


@dataclass
class BotState:
    """The engine and the helpers the handlers share."""

    engine: Engine
    settings: BotSettings
    limiter: RateLimiter
    #: The processes that answer questions (NEWSBOT_WORKERS), from post_init to post_shutdown.
    workers: Workers | None = None
    answers: AnswerStore = field(default_factory=AnswerStore)
    conversations: Conversations = field(default_factory=Conversations)
    #: The feed watcher's task (NEWSBOT_WATCH=1), started in post_init, stopped in post_stop.
    watching: asyncio.Task | None = None
    stop_watching: threading.Event = field(default_factory=threading.Event)
    #: The task that posts topic alerts (bot/alerts.py), from post_init to post_stop.
    alerting: asyncio.Task | None = None
    stop_alerting: asyncio.Event = field(default_factory=asyncio.Event)
    asked: AskedQuestions = field(default_factory=AskedQuestions)

    @property
    def questions(self) -> Questions:
        """What answers questions: the worker processes when there are any, else the engine."""
        return self.workers if self.workers is not None else self.engine


class _HasBotData(Protocol):
    @property
    def bot_data(self) -> Any: ...


def get_state(context: _HasBotData) -> BotState:
    """The bot's state from a handler's ``context`` (or from the ``Application``)."""
    state = context.bot_data[STATE_KEY]
    assert isinstance(state, BotState)
    return state
