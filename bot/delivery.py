"""Delivery: every Bot API call the bot makes gets through short outages.

Telegram answers ``429 Too Many Requests`` with a ``retry_after``, answers 5xx when it has
trouble of its own, and networks refuse, drop and time out connections. A call that meets any
of these is retried, with exponential backoff (429: after the time Telegram asks for), until it
goes through or :attr:`RetryPolicy.budget` seconds have passed since the first attempt; then one
ERROR line says what was lost and why, and :class:`DeliveryFailed` is raised, which the error
handler knows is already reported. Any other 4xx is an answer, not an outage: never retried
(the plain-text fallback for refused HTML is in :mod:`bot.replies`). ``sendChatAction`` is
best-effort: one attempt, since a late "typing…" is worth nothing.

The retries live in one place, :class:`RetryingRequest`, a subclass of PTB's ``HTTPXRequest``
(the seam PTB offers for how requests are made). Its ``do_request`` sees the HTTP status and the
body before PTB turns them into exceptions, which matters: PTB raises the same ``NetworkError``
for a 500 and for a 413, and an exception-level retry (a ``BaseRateLimiter``) could not tell
them apart. ``getUpdates`` has its own request object and PTB's own retry loop, and is not
retried here. A retried send that had in fact reached Telegram before its connection broke
shows up twice; that is the price of losing nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from telegram.error import NetworkError, TelegramError
from telegram.request import HTTPXRequest, RequestData

logger = logging.getLogger(__name__)

#: Every Bot API call may wait this long in all for Telegram to take it. An outage shorter than
#: this loses no reply; a reply later than a minute is still worth having, one much later is not.
RETRY_BUDGET_SECONDS = 60.0
#: First backoff; doubled after each failure up to MAX_RETRY_DELAY_SECONDS.
FIRST_RETRY_DELAY_SECONDS = 0.5
#: Longest pause between two attempts: an outage that ends is noticed within this time.
MAX_RETRY_DELAY_SECONDS = 8.0
#: Methods tried once: a late typing indicator is worth nothing.
BEST_EFFORT_METHODS = frozenset({"sendChatAction"})
#: Added to Telegram's retry_after, so the retry does not arrive a hair too early.
RETRY_AFTER_SLACK_SECONDS = 0.1


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often a Bot API call is retried (tests pass short timings)."""

    budget: float = RETRY_BUDGET_SECONDS
    first_delay: float = FIRST_RETRY_DELAY_SECONDS
    max_delay: float = MAX_RETRY_DELAY_SECONDS
    best_effort: frozenset[str] = BEST_EFFORT_METHODS

    def delay(self, failures: int) -> float:
        """Pause after the ``failures``-th failure in a row: doubling from ``first_delay`` up to
        ``max_delay``, minus up to a quarter at random, so that the replies held up by one
        outage do not all come back in the same instant."""
        base = min(self.max_delay, self.first_delay * 2 ** (failures - 1))
        return base * random.uniform(0.75, 1.0)


class DeliveryFailed(NetworkError):
    """A Bot API call that did not go through within the retry budget. Already logged (one
    ERROR line), so the error handler only drops it: an apology would not get through either."""


class RetryingRequest(HTTPXRequest):
    """PTB's HTTP request class, retrying outages as :class:`RetryPolicy` says.

    Takes the keyword arguments of ``HTTPXRequest`` (pool size, timeouts) besides ``policy``.
    """

    def __init__(self, policy: RetryPolicy | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.policy = policy or RetryPolicy()

    async def do_request(  # type: ignore[override]  # same signature, positional pass-through
        self, url: str, method: str, request_data: RequestData | None = None, *args: Any,
        **kwargs: Any,
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]  # never log the URL: it holds the token
        if endpoint in self.policy.best_effort:
            return await super().do_request(url, method, request_data, *args, **kwargs)
        started = time.monotonic()
        failures = 0
        while True:
            try:
                code, payload = await super().do_request(url, method, request_data, *args,
                                                         **kwargs)
            except NetworkError as err:  # refused, reset, timed out: HTTPXRequest raises these
                reason, wait = _describe_exception(err), None
            else:
                if code != HTTPStatus.TOO_MANY_REQUESTS and code < 500:
                    if failures:
                        logger.info("Telegram took %s%s after %d attempts (%.1f s)", endpoint,
                                    _chat(request_data), failures + 1, time.monotonic() - started)
                    return code, payload
                reason, wait = _describe_response(code, payload)
            failures += 1
            remaining = started + self.policy.budget - time.monotonic()
            pause = self.policy.delay(failures) if wait is None else wait
            if remaining <= 0 or (wait is not None and wait > remaining):
                logger.error("Telegram did not take %s%s within %.0f s (%d attempts; last: %s); "
                             "giving up, this message is lost", endpoint, _chat(request_data),
                             time.monotonic() - started, failures, reason)
                raise DeliveryFailed(f"{endpoint} failed for {self.policy.budget:.0f} s: {reason}")
            pause = min(pause, remaining)
            log = logger.warning if failures == 1 else logger.debug
            log("Telegram did not take %s%s (%s); retrying in %.2f s", endpoint,
                _chat(request_data), reason, pause)
            await asyncio.sleep(pause)


def _chat(request_data: RequestData | None) -> str:
    chat_id = request_data.parameters.get("chat_id") if request_data else None
    return f" (chat {chat_id})" if chat_id is not None else ""


def _describe_exception(err: TelegramError) -> str:
    cause = err.__cause__
    return f"{type(cause).__name__}: {cause}" if cause else f"{type(err).__name__}: {err.message}"


def _describe_response(code: int, payload: bytes) -> tuple[str, float | None]:
    """A failed response in words, and the wait Telegram asked for (None: use the backoff)."""
    try:
        body = json.loads(payload)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = "HTTP error"
    description = body.get("description") or phrase
    retry_after = (body.get("parameters") or {}).get("retry_after")
    if code == HTTPStatus.TOO_MANY_REQUESTS and isinstance(retry_after, (int, float)):
        return (f"{code} {description}", float(retry_after) + RETRY_AFTER_SLACK_SECONDS)
    return f"{code} {description}", None
