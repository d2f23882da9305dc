"""Bot settings, read from the environment (and ``.env``) in one place.

Each field maps to the upper-case variable of the same name (no prefix), documented in the
Telegram section of ``.env.example`` and in ``docs/TELEGRAM.md``; a test checks that all three
agree. Engine settings (``RETRIEVER_*``, including ``RETRIEVER_INDEX``) are read separately by
:class:`retrieval.Settings`, so the bot and the ``retriever`` CLI share one index.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: Telegram's own Bot API server. PTB appends the token, then ``/<method>``.
DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"

# Bot tokens look like "123456789:AA...": the bot's numeric id, a colon, a secret.
_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
# Telegram accepts 1-256 characters from this set as a webhook secret_token.
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")

IdSet = Annotated[frozenset[int], NoDecode]


class BotSettings(BaseSettings):
    """Everything ``newsbot`` reads from the environment."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", env_ignore_empty=True, extra="ignore"
    )

    telegram_bot_token: SecretStr = Field(
        description="Bot token from @BotFather (required). Never logged."
    )
    telegram_api_base_url: str = Field(
        DEFAULT_API_BASE_URL,
        description="Bot API base URL; the token and method name are appended. Point it at a "
        "self-hosted Bot API server (the tests point it at a local fake one).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Logging level for the bot's log lines on stderr."
    )
    allowed_chat_ids: IdSet = Field(
        frozenset(),
        description="Comma-separated chat ids allowed to use the bot; empty = everyone. Updates "
        "from other chats are ignored and unknown groups are left.",
    )
    admin_user_ids: IdSet = Field(
        frozenset(),
        description="Comma-separated user ids allowed to run /add; they may also always use "
        "the bot in a private chat.",
    )
    rate_limit_questions: int = Field(
        5, ge=0, description="Questions one user may ask per window; 0 turns the limit off."
    )
    rate_limit_window_seconds: float = Field(
        30.0, gt=0, description="Length of the per-user rate-limit window in seconds."
    )
    progress_after_seconds: float = Field(
        1.5, ge=0,
        description="Seconds a question may take before the bot posts a \"Looking that up…\" "
        "message, which the answer then replaces; 0 = at once. Fast answers come without it.",
    )
    newsbot_watch: bool = Field(
        False,
        description="Poll the index's feeds inside the bot process (1), as `retriever watch` "
        "does; off by default (run `retriever watch` beside the bot instead).",
    )
    newsbot_workers: int = Field(
        0, ge=0, le=64,
        description="Processes that answer questions (/ask, /search, lookups), each with its own "
        "read-only view of the index; 0 = the bot's own process. One process uses one core for "
        "the Python part of a question: on a machine with several cores and many users at once, "
        "set it to the number of cores (2 cores, 8 users at once: 1.7-1.8x one user's answers "
        "per second and 1.8-2.1x the searches through 2 workers, 1.0-1.6x in one process; "
        "docs/BENCHMARKS.md). Each process holds the models (~150 MB) and shares the index's "
        "vector files with the others.",
    )
    newsbot_alerts_per_hour: int = Field(
        5, ge=0,
        description="Topic alerts (/follow) one chat gets at most per hour; further matches in "
        "that hour are dropped. 0 turns alerts off (/follow still records topics).",
    )
    newsbot_alerts_check_seconds: float = Field(
        60.0, gt=0,
        description="Seconds between two looks for new articles in the index to match against "
        "the followed topics (whichever process added them).",
    )
    webhook_url: str | None = Field(
        None,
        description="Public HTTPS URL Telegram should POST updates to. Empty = long polling.",
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description="Secret token Telegram sends with each webhook call (required with "
        "WEBHOOK_URL; 1-256 of A-Z a-z 0-9 _ -).",
    )
    webhook_listen: str = Field(
        "0.0.0.0", description="Address the webhook HTTP server listens on."
    )
    webhook_port: int = Field(8443, ge=1, le=65535, description="Port of the webhook server.")

    @field_validator("telegram_bot_token")
    @classmethod
    def _check_token(cls, value: SecretStr) -> SecretStr:
        if not _TOKEN_RE.match(value.get_secret_value()):
            raise ValueError("does not look like a bot token (expected <digits>:<secret>)")
        return value

    @field_validator("allowed_chat_ids", "admin_user_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            return frozenset(int(part) for part in re.split(r"[,\s]+", value) if part)
        return value

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str | None) -> str | None:
        if value and urlparse(value).scheme not in ("https", "http"):
            raise ValueError("must be an http(s) URL")
        return value or None

    @field_validator("webhook_secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _SECRET_RE.match(value.get_secret_value()):
            raise ValueError("must be 1-256 characters from A-Z a-z 0-9 _ -")
        return value

    @model_validator(mode="after")
    def _secret_with_webhook(self) -> BotSettings:
        if self.webhook_url and self.webhook_secret is None:
            raise ValueError("WEBHOOK_SECRET is required when WEBHOOK_URL is set")
        return self

    @property
    def token(self) -> str:
        """The bot token in clear, for the Application builder and the log redactor only."""
        return self.telegram_bot_token.get_secret_value()

    @property
    def webhook_path(self) -> str:
        """The path part of ``WEBHOOK_URL``, which the local webhook server listens on."""
        return urlparse(self.webhook_url or "").path.lstrip("/")


def describe_settings_error(error: ValidationError) -> str:
    """Turn a settings ValidationError into a short message naming each variable."""
    lines = []
    for item in error.errors():
        name = "_".join(str(part) for part in item["loc"]).upper()
        if item["type"] == "missing" and name == "TELEGRAM_BOT_TOKEN":
            lines.append(
                "TELEGRAM_BOT_TOKEN is not set. Create a bot with @BotFather (see "
                "docs/TELEGRAM.md) and put TELEGRAM_BOT_TOKEN=<token> in the environment or .env."
            )
        else:
            message = item["msg"].removeprefix("Value error, ")
            lines.append(f"{name}: {message}" if name else message)
    return "Invalid bot settings:\n  " + "\n  ".join(lines)
