"""Shared fixtures: real index folders in tmp dirs, the packaged model, a loopback HTTP server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from retrieval import Settings
from retrieval.embeddings import HashEmbedder
from support import LOOPBACK, ROOT, SEED, LocalSite


@pytest.fixture(scope="session")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


#: TEST_STORE=milvus runs the tests that use ``hash_engine`` on a milvus-lite index in
#: tmp_path instead of an index folder (tests that open index.sqlite themselves then fail).
TEST_STORE = os.environ.get("TEST_STORE", "embedded")


@pytest.fixture
def hash_engine(tmp_path):
    """A fresh engine on an empty index with the fast meaning-free embedder; it may fetch from
    the loopback test servers (RETRIEVER_FETCH_ALLOW), which the fetch guard otherwise refuses."""
    from retrieval.engine import Engine

    settings = Settings(index=tmp_path / "index", fetch_allow=LOOPBACK)
    if TEST_STORE == "milvus":
        settings = settings.model_copy(update={
            "store": "milvus", "milvus_uri": str(tmp_path / "milvus.db"), "milvus_analyzer": "standard"})
    engine = Engine.open(settings, embedder=HashEmbedder(), create=True)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def real_embedder():
    """The packaged all-MiniLM-L6-v2, loaded once per test session."""
    from retrieval.embeddings import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def seed_engine(tmp_path_factory, real_embedder):
    """The default corpus indexed with the real model (read-only use in tests)."""
    from retrieval.engine import Engine

    index = tmp_path_factory.mktemp("seed") / "index"
    engine = Engine.open(Settings(index=index), embedder=real_embedder, create=True)
    report = engine.ingest([str(ROOT / "corpus")])
    assert report.count("added") >= 1, report.summary()
    yield engine
    engine.close()


@pytest.fixture
def site():
    s = LocalSite()
    yield s
    s.close()


@pytest.fixture
def lite_server(tmp_path):
    """``milvus-lite server`` on 127.0.0.1 (its own process), serving tmp_path/shared.db:
    (its URI, the process) once it accepts connections. Several processes share it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path / "server.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir",
                               str(tmp_path / "shared.db"), "--host", "127.0.0.1", "--port", str(port)],
                              stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        assert server.poll() is None, (tmp_path / "server.log").read_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "milvus-lite server did not start"
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}", server
    server.terminate()
    server.wait(timeout=30)
    log.close()
