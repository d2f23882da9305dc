"""Bot settings: parsing, required values, docs listing every variable, and the one-way
dependency (retrieval never imports telegram)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import DEFAULT_API_BASE_URL, BotSettings, describe_settings_error
from bot_fixtures import bot_index, clean_bot_env, tg  # noqa: F401 (pytest fixtures)
from bot_support import ROOT, TOKEN

ENV_EXAMPLE = ROOT / ".env.example"
DOCS = ROOT / "docs" / "TELEGRAM.md"
BOT_SECTION = "# --- Telegram bot (`newsbot`) ---"


def settings_from_env(monkeypatch: pytest.MonkeyPatch, **env: str) -> BotSettings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return BotSettings(_env_file=None)  # type: ignore[call-arg]


def test_defaults_and_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from_env(monkeypatch, TELEGRAM_BOT_TOKEN=TOKEN,
                                 ALLOWED_CHAT_IDS="-1001234567890, 1001 42", ADMIN_USER_IDS="")
    assert settings.token == TOKEN
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())
    assert settings.telegram_api_base_url == DEFAULT_API_BASE_URL
    assert settings.allowed_chat_ids == {-1001234567890, 1001, 42}
    assert settings.admin_user_ids == frozenset()
    assert (settings.rate_limit_questions, settings.rate_limit_window_seconds) == (5, 30)
    assert settings.webhook_url is None


def test_missing_token_gets_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError) as caught:
        settings_from_env(monkeypatch, TELEGRAM_BOT_TOKEN="")
    message = describe_settings_error(caught.value)
    assert "TELEGRAM_BOT_TOKEN is not set" in message and "@BotFather" in message


def test_malformed_token_and_ids_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError) as caught:
        settings_from_env(monkeypatch, TELEGRAM_BOT_TOKEN="not-a-token", LOG_LEVEL="LOUD")
    message = describe_settings_error(caught.value)
    assert "TELEGRAM_BOT_TOKEN: does not look like a bot token" in message
    assert "LOG_LEVEL" in message and "not-a-token" not in message


def test_webhook_needs_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError) as caught:
        settings_from_env(monkeypatch, TELEGRAM_BOT_TOKEN=TOKEN,
                          WEBHOOK_URL="https://bot.example.com/hook/abc")
    assert "WEBHOOK_SECRET is required when WEBHOOK_URL is set" in describe_settings_error(
        caught.value)
    monkeypatch.setenv("WEBHOOK_SECRET", "s3cret_-value")
    settings = BotSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.webhook_path == "hook/abc"
    monkeypatch.setenv("WEBHOOK_SECRET", "has spaces")
    with pytest.raises(ValidationError):
        BotSettings(_env_file=None)  # type: ignore[call-arg]


def test_bad_engine_setting_stops_newsbot_with_the_variable_named(tmp_path: Path) -> None:
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "RETRIEVER_CHUNK_WORDS": "many",
           "RETRIEVER_INDEX": str(tmp_path / "index")}
    result = subprocess.run([sys.executable, "-m", "bot"], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 1
    assert "RETRIEVER_CHUNK_WORDS: Input should be a valid integer" in result.stderr
    assert "Traceback" not in result.stderr and TOKEN not in result.stderr


def _bot_section_variables() -> list[str]:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    section = text.split(BOT_SECTION, 1)[1]
    return re.findall(r"^([A-Z][A-Z0-9_]*)=", section, flags=re.M)


def test_env_example_lists_every_bot_setting_and_nothing_else() -> None:
    fields = {name.upper() for name in BotSettings.model_fields}
    listed = _bot_section_variables()
    assert len(listed) == len(set(listed))
    assert set(listed) == fields


def test_env_example_defaults_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bot section, copied to .env with a token filled in, is valid as written."""
    section = ENV_EXAMPLE.read_text(encoding="utf-8").split(BOT_SECTION, 1)[1]
    for name, value in re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", section, flags=re.M):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    assert BotSettings(_env_file=None).webhook_url is None  # type: ignore[call-arg]


def test_docs_describe_every_variable_and_the_setup() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    for name in BotSettings.model_fields:
        assert f"`{name.upper()}`" in docs, name
    for topic in ("BotFather", "/setcommands", "/setprivacy", "/setinline", "webhook",
                  "RETRIEVER_INDEX"):
        assert topic in docs, topic


def _env_without_bot_settings() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in BotSettings.model_fields}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_newsbot_without_token_exits_1_with_a_message(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bot"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, env=_env_without_bot_settings())
    assert result.returncode == 1
    assert "TELEGRAM_BOT_TOKEN is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_newsbot_with_a_missing_index_exits_1(tmp_path: Path) -> None:
    env = _env_without_bot_settings()
    env.update(TELEGRAM_BOT_TOKEN=TOKEN, RETRIEVER_INDEX=str(tmp_path / "nowhere"),
               TELEGRAM_API_BASE_URL="http://127.0.0.1:9/bot")
    result = subprocess.run([sys.executable, "-m", "bot"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, env=env)
    assert result.returncode == 1
    assert "no index at" in result.stderr and "Traceback" not in result.stderr


def test_retrieval_never_imports_telegram() -> None:
    code = (
        "import importlib, pkgutil, sys, retrieval\n"
        "for mod in pkgutil.iter_modules(retrieval.__path__):\n"
        "    if mod.name != '__main__':\n"
        "        importlib.import_module('retrieval.' + mod.name)\n"
        "bad = sorted(m for m in sys.modules\n"
        "             if m in ('telegram', 'bot') or m.startswith(('telegram.', 'bot.')))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env=_env_without_bot_settings())
    assert result.returncode == 0, result.stderr


def test_newsbot_with_a_token_telegram_rejects_exits_1(tg, bot_index, tmp_path: Path) -> None:
    """A well-formed but wrong token: getMe answers 401, newsbot says so and exits 1."""
    env = _env_without_bot_settings()
    wrong = "987654321:ZYX-wrong-token-but-well-formed"
    env.update(TELEGRAM_BOT_TOKEN=wrong, TELEGRAM_API_BASE_URL=tg.base_url,
               RETRIEVER_INDEX=str(bot_index), RETRIEVER_MODEL="hash-256")
    result = subprocess.run([sys.executable, "-m", "bot"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, env=env)
    assert result.returncode == 1, result.stderr
    assert "The bot stopped" in result.stderr and "Unauthorized" in result.stderr
    assert wrong.split(":")[1] not in result.stderr
    assert tg.calls[0].method == "getMe" and tg.calls[0].status == 401


def test_newsbot_help_and_usage_errors() -> None:
    env = _env_without_bot_settings()
    shown = subprocess.run([sys.executable, "-m", "bot", "--help"], capture_output=True,
                           text=True, timeout=60, env=env)
    assert shown.returncode == 0 and "TELEGRAM_BOT_TOKEN" in shown.stdout
    wrong = subprocess.run([sys.executable, "-m", "bot", "--bogus"], capture_output=True,
                           text=True, timeout=60, env=env)
    assert wrong.returncode == 2
