"""The bot on the Milvus store: ``python -m bot`` as a subprocess, answering from a milvus-lite
server that another process (this one) filled — with and without worker processes, which
open their own read-only engines on the same server. The seed index is copied into Milvus
(``retrieval.migrate``: its real vectors, nothing embedded again)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from bot_fixtures import bot_index, clean_bot_env, seed_index, tg  # noqa: F401 (pytest fixtures)
from bot_support import ROOT, TOKEN
from tg_updates import ALICE, send

from bot.config import BotSettings
from retrieval import Settings

try:
    import milvus_lite  # noqa: F401
    import pymilvus  # noqa: F401

    NO_MILVUS = ""
except ImportError as exc:
    NO_MILVUS = f"pymilvus / milvus-lite cannot be imported ({exc}); pip install -e '.[dev]'"


@pytest.mark.slow
@pytest.mark.skipif(bool(NO_MILVUS), reason=NO_MILVUS or "installed")
@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "two-workers"])
def test_newsbot_answers_from_milvus(tg, seed_index, lite_server, tmp_path, workers) -> None:
    from retrieval.migrate import copy_index
    from retrieval.stores import create_store, find_store

    uri, _ = lite_server
    milvus = {"RETRIEVER_STORE": "milvus", "RETRIEVER_MILVUS_URI": uri, "RETRIEVER_MILVUS_ANALYZER": "standard"}
    source = find_store(Settings(index=seed_index))
    target = create_store(Settings(store="milvus", milvus_uri=uri, milvus_analyzer="standard"),
                          model=source.model, dimension=source.dimension, chunking=source.chunking)
    assert copy_index(source, target).articles >= 1
    source.close()
    target.close()

    env = {k: v for k, v in os.environ.items()
           if k.lower() not in BotSettings.model_fields and not k.startswith("RETRIEVER_")}
    env.update(milvus, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=tg.base_url, HF_HUB_OFFLINE="1",
               RETRIEVER_INDEX=str(tmp_path / "no-folder"), NEWSBOT_WORKERS=str(workers),
               PROGRESS_AFTER_SECONDS="60", PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""))
    log_path = tmp_path / "newsbot.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot"], cwd=tmp_path, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        tg.wait_for("deleteWebhook", timeout=90)
        send(tg, ALICE, "What did Qureshi say about Afghanistan?")
        answer = tg.wait_for("sendMessage", chat_id=ALICE.id, timeout=60).params["text"]
        assert "broad-based" in answer and "[1]" in answer, answer
        assert "Pakistan calls for engagement with US for stability in South Asia" in answer
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    logs = log_path.read_text()
    assert "Traceback" not in logs, logs[-3000:]
    assert not (tmp_path / "no-folder").exists()  # nothing was written to an index folder
