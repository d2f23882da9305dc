"""The feed watcher: polls the feeds an index follows and indexes their new entries.

``retriever watch`` runs :meth:`Watcher.run` (or one round with ``--once``); ``newsbot`` runs
the same rounds inside its process when ``NEWSBOT_WATCH=1``. The feeds live in the index
(``feeds`` table, :mod:`retrieval.store`), so the CLI, the watcher and the bot see one list.

Polling like a good citizen:

* every fetch goes through the engine's :class:`retrieval.fetch.Fetcher` (the SSRF guard,
  deadlines, size caps, a User-Agent naming the product), one request at a time per host and
  ``RETRIEVER_WATCH_HOST_DELAY`` seconds apart (:class:`PoliteFetcher`);
* a feed is fetched with the ETag / Last-Modified it last answered with, so an unchanged feed
  costs one 304 and nothing else; entries already indexed are never fetched again, and entries
  that carry the full article (``content:encoded``) are not fetched at all;
* each feed has its own interval with :data:`JITTER`; a failing feed waits twice as long after
  each failure (:data:`MAX_BACKOFF` at most) and is back at its interval after one success.

A round holds the index's ``watch.lock``: a second watcher (a cron job overlapping a systemd
service, or the bot's) finds it taken and stands by, so no feed is polled twice. Articles are
written as :meth:`Engine.ingest` writes them, in transactions under ``write.lock``; a poll that
finds another process writing is tried again a minute later. Setting :attr:`Watcher.stop`
(SIGINT/SIGTERM in the CLI) ends the round after the poll in progress: no new request starts,
what was fetched is committed in whole transactions, and that feed is polled first next time.

Validators are saved only once every entry of the feed is in the index: a feed whose entries
partly failed is read again next time (its known entries are skipped), never hidden by a 304.
Retention (``RETRIEVER_MAX_AGE_DAYS``) prunes after every round.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from retrieval.errors import FetchError, IndexLockedError
from retrieval.fetch import Fetcher, Response
from retrieval.sources import Limits
from retrieval.sources import Reader as ItemReader
from retrieval.types import Article, Feed, ItemResult, PollResult

if TYPE_CHECKING:
    from retrieval.engine import Engine

log = logging.getLogger(__name__)

#: Each wait is stretched or shrunk by up to this fraction, so feeds added together (and
#: watchers on many machines) do not all hit a server at the same moment.
JITTER = 0.1
#: The longest a failing feed waits between polls (its interval doubles after each failure).
MAX_BACKOFF = timedelta(hours=24)
#: A poll that found another process writing the index is tried again after this.
BUSY_RETRY = timedelta(minutes=1)
#: The longest the watcher sleeps without reading the feeds table again: feeds added by the
#: CLI or the bot meanwhile are polled within this many seconds.
RESCAN_SECONDS = 60.0


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class PoliteFetcher:
    """A :class:`Fetcher` that sends at most one request at a time to each host, ``delay``
    seconds after the previous one ended, and starts none once ``stop`` is set."""

    def __init__(self, fetcher: Fetcher, delay: float, stop: threading.Event):
        self._fetcher = fetcher
        self._delay = delay
        self._stop = stop
        self._gates: dict[str, threading.Lock] = {}
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def get(self, url: str, **kwargs) -> Response:
        host = (urlsplit(url).hostname or "").lower()
        with self._lock:
            gate = self._gates.setdefault(host, threading.Lock())
        with gate:
            wait = self._last.get(host, -math.inf) + self._delay - time.monotonic()
            if wait > 0:
                self._stop.wait(wait)
            if self._stop.is_set():
                raise FetchError(url, "not fetched: the watcher is stopping")
            try:
                return self._fetcher.get(url, **kwargs)
            finally:
                self._last[host] = time.monotonic()


class Watcher:
    """Polls the due feeds of ``engine``'s index. ``clock`` gives the current UTC time (tests
    move it by hand); ``on_poll`` is told each :class:`PollResult` (default: an INFO line)."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = utc_now,
        stop: threading.Event | None = None,
        on_poll: Callable[[PollResult], None] | None = None,
        seed: int | None = None,
    ):
        self.engine = engine
        self.clock = clock
        self.stop = stop or threading.Event()
        self.on_poll = on_poll or (lambda result: log.info("%s", result.line()))
        settings = engine.settings
        self.fetcher = PoliteFetcher(engine.fetcher, settings.watch_host_delay, self.stop)
        self.limits = replace(Limits.from_settings(settings), fetch_per_host=1)
        self._random = random.Random(seed)
        self._standing_by = False

    # ------------------------------------------------------------------ rounds

    def run(self) -> None:
        """Poll due feeds until :attr:`stop` is set."""
        while not self.stop.is_set():
            polled = self.run_once()
            self.stop.wait(self.seconds_to_next() if polled is not None else RESCAN_SECONDS)

    def run_once(self) -> list[PollResult] | None:
        """Poll every due feed once, then prune (``RETRIEVER_MAX_AGE_DAYS``); None when another
        process is watching this index."""
        store = self.engine.store
        with store.watching() as mine:
            if not mine:
                if not self._standing_by:
                    log.warning("another watcher (%s) is polling the feeds of %s; standing by",
                                store.watcher(), store.location)
                self._standing_by = True
                return None
            self._standing_by = False
            results = []
            for feed in self.engine.feeds():
                if self.stop.is_set():
                    break
                if feed.next_poll <= self.clock():
                    result = self.poll(feed)
                    results.append(result)
                    self.on_poll(result)
            if not self.stop.is_set():
                self._prune()
            return results

    def seconds_to_next(self) -> float:
        """Seconds until the next feed is due (at most :data:`RESCAN_SECONDS`, at least 1)."""
        feeds = self.engine.feeds()
        if not feeds:
            return RESCAN_SECONDS
        soonest = min(f.next_poll for f in feeds)
        return min(RESCAN_SECONDS, max(1.0, (soonest - self.clock()).total_seconds()))

    def _prune(self) -> None:
        days = self.engine.settings.max_age_days
        if not days:
            return
        try:
            removed = self.engine.prune(days)
        except IndexLockedError as exc:
            log.info("prune put off to the next round: %s", exc)
            return
        if removed:
            log.info("pruned %d article(s) older than %d days (RETRIEVER_MAX_AGE_DAYS)", removed, days)

    # ------------------------------------------------------------------ one feed

    def poll(self, feed: Feed) -> PollResult:
        """Fetch ``feed`` (conditionally), index its new entries and record the outcome."""
        started = time.perf_counter()
        now = self.clock()
        try:
            response = self.fetcher.get(feed.url, etag=feed.etag, last_modified=feed.last_modified)
        except FetchError as exc:
            return self._failed(feed, now, started, exc.reason)
        if response.status == 304:
            return self._succeeded(feed, now, started, "not modified", feed.etag, feed.last_modified)
        reader = ItemReader(self.fetcher, self.limits, is_known=self.engine.is_known)
        items = list(reader.read_feed(response.body, feed.url))
        broken = next((i for i in items if isinstance(i, ItemResult) and i.item == feed.url), None)
        if broken is not None:
            return self._failed(feed, now, started, broken.reason)
        if feed.source:
            items = [replace(i, source=feed.source) if isinstance(i, Article) else i for i in items]
        try:
            report = self.engine.add_articles(items)
        except IndexLockedError as exc:
            result = PollResult(feed.url, "busy", now + BUSY_RETRY, seconds=time.perf_counter() - started,
                                error=str(exc))
            self.engine.store.save_poll(replace(feed, next_poll=result.next_poll))
            return result
        added, updated, failed = report.count("added"), report.count("updated"), report.failed
        complete = not failed and not self.stop.is_set()
        problem = f"{len(failed)} entries failed, e.g. {failed[0].item}: {failed[0].reason}" if failed else None
        return self._succeeded(
            feed, now, started, "new",
            response.etag if complete else None, response.last_modified if complete else None,
            added=added, updated=updated, failed=len(failed), problem=problem,
        )

    def _succeeded(self, feed: Feed, now: datetime, started: float, status: str, etag: str | None,
                   last_modified: str | None, *, added: int = 0, updated: int = 0, failed: int = 0,
                   problem: str | None = None) -> PollResult:
        # Stopped mid-poll: the entries not fetched are fetched first thing next time.
        next_poll = now if self.stop.is_set() else self._next(feed, now, 0)
        state = replace(feed, next_poll=next_poll, last_poll=now, last_success=now,
                        last_error=problem, errors=0, etag=etag, last_modified=last_modified)
        self.engine.store.save_poll(state, added)
        return PollResult(feed.url, status, next_poll, added, updated, failed,
                          time.perf_counter() - started)

    def _failed(self, feed: Feed, now: datetime, started: float, reason: str) -> PollResult:
        if self.stop.is_set():
            next_poll, errors = now, feed.errors  # not the feed's fault
        else:
            errors = feed.errors + 1
            next_poll = self._next(feed, now, errors)
        state = replace(feed, next_poll=next_poll, last_poll=now, last_error=reason, errors=errors)
        self.engine.store.save_poll(state)
        return PollResult(feed.url, "failed", next_poll, seconds=time.perf_counter() - started,
                          error=reason)

    def _next(self, feed: Feed, now: datetime, errors: int) -> datetime:
        """The feed's interval, doubled per failure in a row (capped), with jitter."""
        interval = timedelta(minutes=feed.every_minutes)
        wait = min(interval * 2 ** min(errors, 20), max(MAX_BACKOFF, interval))
        return now + wait * (1 + self._random.uniform(-JITTER, JITTER))
