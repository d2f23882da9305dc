"""Run the real Application (from ``build_application``) in a thread, as ``newsbot`` runs it.

The bot gets its own event loop and runs through :func:`bot.__main__.run` (long polling, or a
webhook server when ``WEBHOOK_URL`` is set), so post_init, setMyCommands, deleteWebhook and
post_shutdown all happen for real. The only addition is PTB's public update-processor seam:
:class:`TrackingProcessor` records when each update is completely handled, so tests can wait
for "done" instead of sleeping before they assert that nothing was sent.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import SimpleUpdateProcessor

from bot.__main__ import run
from bot.app import build_application
from bot.config import BotSettings
from bot.delivery import RetryPolicy
from fake_telegram import FakeTelegram


class TrackingProcessor(SimpleUpdateProcessor):
    """PTB's default concurrent processor that also notes which updates are finished
    (every handler group ran, including the error handler)."""

    def __init__(self, max_concurrent_updates: int = 64) -> None:
        super().__init__(max_concurrent_updates)
        self._cv = threading.Condition()
        self.done: set[int] = set()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        try:
            await super().do_process_update(update, coroutine)
        finally:
            if isinstance(update, Update):
                with self._cv:
                    self.done.add(update.update_id)
                    self._cv.notify_all()

    def wait_done(self, *update_ids: int, timeout: float = 15) -> None:
        with self._cv:
            if not self._cv.wait_for(lambda: set(update_ids) <= self.done, timeout):
                raise AssertionError(f"updates {sorted(set(update_ids) - self.done)} not "
                                     f"handled within {timeout}s")


class BotRunner:
    """One running bot; ``stop()`` shuts it down the way Ctrl-C would."""

    def __init__(self, tg: FakeTelegram, settings: BotSettings, engine: Any,
                 retry: RetryPolicy | None = None) -> None:
        self.tg = tg
        self.settings = settings
        self.processor = TrackingProcessor()
        self.app = build_application(settings, engine, update_processor=self.processor,
                                     retry=retry)
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._loop_ready.set()
        try:
            run(self.app, self.settings, handle_signals=False)
        except BaseException as err:  # re-raised in the test thread by stop()
            self.error = err

    def start(self, timeout: float = 30) -> BotRunner:
        """Start, and return once the bot has handled a first (empty) update: from then on
        the application is fully started and its event loop is in ``run_forever``."""
        self._thread.start()
        self._loop_ready.wait(timeout)
        if self.settings.webhook_url:
            self._wait_for_webhook_server(timeout)
        self.wait_done(self.tg.push({}), timeout=timeout)
        return self

    def _wait_for_webhook_server(self, timeout: float) -> None:
        # PTB calls setWebhook first and starts its HTTP server afterwards.
        self.tg.wait_for("setWebhook", timeout=timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.settings.webhook_port), 1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def wait_done(self, *update_ids: int, timeout: float = 15) -> None:
        self.processor.wait_done(*update_ids, timeout=timeout)

    @staticmethod
    def _interrupt() -> None:
        # What newsbot's SIGINT/SIGTERM handler does: SystemExit leaves loop.run_forever()
        # and run_polling/run_webhook shut down cleanly. Only safe once start() has returned.
        raise SystemExit

    def stop(self, timeout: float = 30) -> None:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._interrupt)
            self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError("the bot did not stop")
        if self.error is not None:
            raise self.error
