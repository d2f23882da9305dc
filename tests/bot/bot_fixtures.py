"""Fixtures for the bot tests: a fake Bot API server, a small index, and a running bot.

The index is built once per session with the hash embedder (fast, meaning-free; lexical
search carries the names) from the seed article plus the articles in ``bot_support.py``. Each
test gets a fresh fake server and a bot built by ``build_application``, stopped at teardown.

Test modules import the fixtures they use from here (``from bot_fixtures import tg, …``).
This is deliberately not a ``conftest.py``: ``tests/conftest.py`` is imported by the engine
tests as the module ``conftest``, and a second rootless conftest would take over that name.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import BotSettings
from bot.delivery import RetryPolicy
from bot_harness import BotRunner
from bot_support import ARTICLES, ROOT, TOKEN, bot_settings, open_engine, write_corpus
from fake_telegram import FakeTelegram
from retrieval import Settings
from retrieval.embeddings import HashEmbedder
from retrieval.engine import Engine


@pytest.fixture(scope="session")
def bot_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Index of the seed and the test articles, built once per run with the hash embedder.

    (Each test module imports this fixture, so pytest sees one definition per module; the
    folder under the session's base temp dir makes them share one build.)
    """
    base = tmp_path_factory.getbasetemp() / "bot"
    index = base / "index"
    if index.exists():
        return index
    engine = Engine.open(Settings(index=index), embedder=HashEmbedder(), create=True)
    report = engine.ingest([str(write_corpus(base / "corpus"))])
    engine.close()
    assert not report.failed and report.count("added") == 1 + len(ARTICLES), report.summary()
    return index


@pytest.fixture
def writable_index(bot_index: Path, tmp_path: Path) -> Path:
    """A private copy of the index, for tests that add articles."""
    return Path(shutil.copytree(bot_index, tmp_path / "index"))


@pytest.fixture(autouse=True)
def clean_bot_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bot variables from the developer's shell must not leak into the tests."""
    for name in BotSettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    # Opt in to PTB 23's RetryAfter.retry_after as a timedelta (silences its deprecation).
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    server = FakeTelegram(TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def start_bot(tg: FakeTelegram, bot_index: Path) -> Iterator[Callable[..., BotRunner]]:
    """``start_bot(engine=None, retry=None, **settings)`` → a running bot talking to ``tg``
    (``retry``: a :class:`bot.delivery.RetryPolicy` with test timings)."""
    runners: list[BotRunner] = []

    def start(engine: Engine | None = None, retry: RetryPolicy | None = None,
              **overrides: Any) -> BotRunner:
        runner = BotRunner(tg, bot_settings(tg.base_url, **overrides),
                           engine or open_engine(bot_index), retry)
        runners.append(runner)
        return runner.start()

    yield start
    for runner in runners:
        runner.stop()


@pytest.fixture(scope="module")
def seed_index(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Path:
    """corpus/ indexed with the packaged model (``real_embedder``, from tests/conftest.py)."""
    index = tmp_path_factory.mktemp("seed") / "index"
    engine = Engine.open(Settings(index=index), embedder=real_embedder, create=True)
    report = engine.ingest([str(ROOT / "corpus")])
    engine.close()
    assert report.count("added") >= 1 and not report.failed, report.summary()
    return index
