"""``newsbot`` (and ``python -m bot``): run the Telegram bot.

Reads :class:`bot.config.BotSettings` and :class:`retrieval.Settings` from the environment and
``.env``, opens the index, then long-polls Telegram, or serves a webhook when ``WEBHOOK_URL``
is set. Exit status: 0 after a clean stop, 1 when settings, the index or the token are wrong.

Logging is configured here and nowhere else. The bot token is part of every Bot API URL:
httpx logs request URLs at INFO and PTB logs the API URL at DEBUG, so httpx is held at WARNING
and every log line goes through :class:`RedactingFilter`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import IO

from pydantic import ValidationError
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application

from bot.config import BotSettings, describe_settings_error

logger = logging.getLogger("bot")

REDACTED = "[REDACTED]"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Held at WARNING or above: httpx/httpcore log request URLs (with the token) at INFO/DEBUG;
#: faiss.loader logs every CPU-specific build it fails to find at INFO, which reads as errors.
QUIET_LOGGERS = ("httpx", "httpcore", "faiss.loader")


class RedactingFilter(logging.Filter):
    """Replaces the secret part of the bot token in a record's message, traceback and stack.

    Attach it to handlers, not loggers: a logger's filters do not see records that
    propagate from child loggers (``httpx``, ``telegram.ext`` …), a handler's do.
    Redacting the part after the colon also catches the token in URL-encoded form.
    """

    def __init__(self, token: str) -> None:
        super().__init__()
        self._secret = token.partition(":")[2] or token

    def _redact(self, text: str) -> str:
        return text.replace(self._secret, REDACTED)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._secret in message:
            record.msg, record.args = self._redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        return True


def configure_logging(level: str, token: str, stream: IO[str] | None = None) -> logging.Handler:
    """Send all logging to ``stream`` (stderr) at ``level``, with the token redacted.

    Replaces the root logger's handlers and returns the new one. :data:`QUIET_LOGGERS` stay at
    WARNING or above whatever ``level`` is.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RedactingFilter(token))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet = max(logging.WARNING, logging.getLevelName(level))
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
    logging.captureWarnings(True)
    return handler


def run(app: Application, settings: BotSettings, *, handle_signals: bool = True) -> None:
    """Run ``app`` until stopped: a webhook server when ``WEBHOOK_URL`` is set, else long
    polling. ``handle_signals=False`` lets it run in a thread other than the main one."""
    signals = {} if handle_signals else {"stop_signals": None}
    if settings.webhook_url:
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        app.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=settings.webhook_path,
            webhook_url=settings.webhook_url,
            secret_token=secret,
            allowed_updates=Update.ALL_TYPES,
            **signals,
        )
    else:
        app.run_polling(allowed_updates=Update.ALL_TYPES, **signals)


def _parse_args(argv: Sequence[str] | None) -> None:
    parser = argparse.ArgumentParser(
        prog="newsbot",
        description="Run the Telegram bot: answers questions about the indexed news articles "
        "with quoted sentences and numbered sources.",
        epilog="Settings come from the environment and .env: TELEGRAM_BOT_TOKEN (required), "
        "RETRIEVER_INDEX and the others listed in .env.example. Set-up: docs/TELEGRAM.md.",
    )
    parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``newsbot`` console script."""
    _parse_args(argv)
    try:
        settings = BotSettings()
    except ValidationError as err:
        print(describe_settings_error(err), file=sys.stderr)
        return 1
    configure_logging(settings.log_level, settings.token)

    # Heavy imports (the engine pulls in numpy, FAISS and later torch) only once settings are ok.
    from retrieval import Engine, RetrievalError, Settings
    from retrieval.config import describe_settings_error as describe_engine_settings_error

    try:
        # One model for questions and /add: a second (torch) copy for ingest would stay loaded.
        engine = Engine.open(Settings(), one_embedder=True)
    except ValidationError as err:
        logger.error("%s", describe_engine_settings_error(err))
        return 1
    except RetrievalError as err:
        logger.error("Cannot open the index: %s", err)
        return 1

    from bot.app import build_application

    try:
        run(build_application(settings, engine), settings)
    except TelegramError as err:
        logger.error("The bot stopped: %s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
