"""End to end: ``python -m bot`` as a subprocess, with the real model and the seed corpus,
against the fake Bot API server; also checks its DEBUG log for the token."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bot_fixtures import bot_index, clean_bot_env, seed_index, tg  # noqa: F401 (pytest fixtures)
from bot_support import ROOT, SECRET, TOKEN
from tg_updates import ALICE, send

from bot.config import BotSettings


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended meanwhile
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` that still run (zombies count as ended)."""
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            alive.add(pid)
    return alive




@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "two-workers"])
def test_newsbot_subprocess_answers_the_seed_question(tg, seed_index, tmp_path, workers) -> None:
    """The bot as users run it; with NEWSBOT_WORKERS=2 the question is answered by one of two
    worker processes, and stopping the bot stops them."""
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in BotSettings.model_fields and not k.startswith("RETRIEVER_")}
    env.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=tg.base_url, LOG_LEVEL="DEBUG",
               RETRIEVER_INDEX=str(seed_index), HF_HUB_OFFLINE="1", NEWSBOT_WORKERS=str(workers),
               PROGRESS_AFTER_SECONDS="60",  # the answer is the first message (no placeholder)
               PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""))
    log_path = tmp_path / "newsbot.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot"], cwd=tmp_path, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        tg.wait_for("deleteWebhook", timeout=90)  # post_init done: model loaded, commands set
        assert tg.calls_to("setMyCommands")
        send(tg, ALICE, "What did Qureshi say about Afghanistan?")
        answer = tg.wait_for("sendMessage", chat_id=ALICE.id, timeout=60).params["text"]
        assert "broad-based" in answer and "[1]" in answer
        assert "Pakistan calls for engagement with US for stability in South Asia" in answer
        assert "unity of approach" not in answer
        children = _children(process.pid)
        assert len(children) >= workers  # the workers (and multiprocessing's resource tracker)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        deadline = time.monotonic() + 15
        while _alive(children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(children), "worker processes outlived the bot"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    logs = log_path.read_text()
    assert "Set Bot API URL" in logs and "[REDACTED]" in logs
    assert SECRET not in logs
    assert ("2 processes answer questions" in logs) == bool(workers)
    assert "Traceback" not in logs
