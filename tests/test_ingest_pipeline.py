"""The ingest pipeline (retrieval/pipeline.py and Engine._index): the report keeps input order
over many batches, a bad item stays alone, an error in the embedding thread reaches the caller
with earlier batches committed, an interrupted ingest resumes with every article stored
exactly once, and no thread outlives an ingest.

Real index folders and the hashing embedder (meaning does not matter here); small chunks
(RETRIEVER_CHUNK_WORDS=20) so a few hundred short articles fill several batches.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from index_support import MODEL, assert_consistent, cli
from retrieval import Settings
from retrieval.chunking import embedding_text
from retrieval.embeddings import HashEmbedder
from retrieval.engine import FLUSH_CHUNKS, WINDOW_CHUNKS, Engine
from retrieval.errors import IngestInterrupted
from retrieval.pipeline import SLICE_TEXTS, EmbedStage
from retrieval.store import iter_chunk_texts
from support import ROOT

CHUNKING = {"chunk_words": 20, "chunk_max_words": 30}
CHUNKING_ENV = {"RETRIEVER_CHUNK_WORDS": "20", "RETRIEVER_CHUNK_MAX_WORDS": "30"}


def _rows(count: int, *, seed: int = 0, words: int = 200) -> list[dict]:
    """Distinct articles of pseudo-words, ~``words / 20`` chunks each; titles "Story I of …"."""
    rng = random.Random(seed)
    vocabulary = ["".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(3))
                  for _ in range(3000)]
    rows = []
    for i in range(count):
        sentences, total = [], 0
        while total < words:
            sentence = rng.choices(vocabulary, k=rng.randint(6, 14))
            sentences.append(" ".join(sentence).capitalize() + ".")
            total += len(sentence)
        rows.append({"url": f"https://news.example/pipeline/{i}", "title": f"Story {i} of the pipeline",
                     "published": "2024-03-05", "text": " ".join(sentences)})
    return rows


def _write(path, lines: list[str]):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _engine(index, embedder=None, **settings) -> Engine:
    return Engine.open(Settings(index=index, **CHUNKING, **settings), embedder=embedder or HashEmbedder(),
                       create=True)


def _embedding_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ingest-embedding"]


def _articles_in(index) -> int:
    db = sqlite3.connect(f"{(index / 'index.sqlite').as_uri()}?mode=ro", uri=True)
    try:
        return db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
    finally:
        db.close()


class BrokenModel(Exception):
    """An embedder's own exception type: it must reach the caller as itself."""


class FailingEmbedder(HashEmbedder):
    """Raises ``error`` when asked to embed a passage of the article titled ``marker``."""

    def __init__(self, marker: str, error: BaseException):
        super().__init__()
        self.marker = marker
        self.error = error

    def embed(self, texts, *, progress=False):
        if any(t.startswith(self.marker) for t in texts):
            raise self.error
        return super().embed(texts, progress=progress)


# ---------------------------------------------------------------------------- the stage alone


def test_stage_returns_vectors_in_input_order():
    """Texts are embedded shortest first; the vectors must come back in the caller's order
    (oracle: the embedder on each text alone)."""
    rng = random.Random(3)
    texts = [" ".join(f"w{rng.randrange(500)}" for _ in range(rng.randint(1, 120))) for _ in range(3 * SLICE_TEXTS + 5)]
    assert sorted(texts, key=len) != texts  # the sort really moves them
    embedder = HashEmbedder()
    with EmbedStage(embedder) as stage:
        stage.submit("first", texts)
        stage.submit("second", texts[:7])
        got = list(stage.results(wait=True)) + list(stage.results(wait=True))
    assert [job for job, _ in got] == ["first", "second"]
    expected = np.vstack([embedder.embed([t]) for t in texts])
    assert np.array_equal(got[0][1], expected)
    assert np.array_equal(got[1][1], expected[:7])
    assert not _embedding_threads()


def test_stage_is_bounded():
    with EmbedStage(HashEmbedder()) as stage:
        stage.submit(1, ["a"])
        stage.submit(2, ["b"])
        assert stage.full
        with pytest.raises(RuntimeError, match="in flight"):
            stage.submit(3, ["c"])


# ---------------------------------------------------------------------------- through the engine


def test_report_keeps_input_order_over_many_batches(tmp_path):
    rows = _rows(420, seed=1)
    lines = [json.dumps(r) for r in rows]
    lines[5] = "{not json"
    lines[150] = json.dumps({"title": "No text"})
    lines[399] = json.dumps(rows[10])  # the same article again: unchanged
    big = dict(rows[200], text=" ".join([rows[200]["text"]] * 8))  # ~80 chunks
    lines[200] = json.dumps(big)
    path = _write(tmp_path / "articles.jsonl", lines)
    with _engine(tmp_path / "index", max_chunks=60) as engine:
        report = engine.ingest([str(path)])
        committed = engine.store.generation()  # a new index starts at 0; one per transaction
        articles, chunks = engine.store.counts()
        rows_stored = iter_chunk_texts(engine.store)
        stored = engine.store.vectors_for([chunk_id for chunk_id, _, _ in rows_stored])
    # Every passage got its own text's vector, whatever order the batches embedded them in.
    expected = HashEmbedder().embed([embedding_text(title, text) for _, title, text in rows_stored])
    assert np.array_equal(stored, expected.astype(np.float16).astype(np.float32))  # stored as float16
    assert [r.item for r in report.results] == [f"{path}:{i}" for i in range(1, 421)]
    status = {i: r.status for i, r in enumerate(report.results)}
    assert status[5] == status[150] == "failed"
    assert "RETRIEVER_MAX_CHUNKS" in report.results[200].reason
    assert status[399] == "unchanged" and report.results[399].article_id == report.results[10].article_id
    assert all(s == "added" for i, s in status.items() if i not in (5, 150, 200, 399))
    assert articles == report.count("added") == 416
    assert chunks == report.chunks_added
    # Batches of 512, 1,024 and 2,048 chunks and the rest: several transactions, not one.
    assert report.chunks_added > FLUSH_CHUNKS + 2 * FLUSH_CHUNKS + WINDOW_CHUNKS
    assert committed >= 4
    assert not _embedding_threads()
    assert assert_consistent(tmp_path / "index")["articles"] == 416


@pytest.mark.parametrize("error", [BrokenModel("weights went missing"), MemoryError("no room for a batch")],
                         ids=["own exception", "MemoryError"])
def test_error_in_the_embedding_thread_reaches_the_caller(tmp_path, error):
    rows = _rows(200, seed=2)
    path = _write(tmp_path / "articles.jsonl", [json.dumps(r) for r in rows])
    index = tmp_path / "index"
    # Story 150 is past the first batch (~512 chunks: ~50 articles of ~10 chunks).
    with _engine(index, FailingEmbedder("Story 150 of", error)) as engine:
        with pytest.raises(type(error)) as raised:
            engine.ingest([str(path)])
        assert raised.value is error
        assert not _embedding_threads()
        kept = engine.store.counts()[0]
    assert 0 < kept < 150
    assert assert_consistent(index)["articles"] == kept

    with _engine(index) as engine:  # the same ingest again finishes the job
        report = engine.ingest([str(path)])
    assert report.count("unchanged") == kept and report.count("added") == 200 - kept
    assert assert_consistent(index)["articles"] == 200


def test_interrupted_ingest_resumes_with_every_article_once(tmp_path):
    rows = _rows(200, seed=3)
    path = _write(tmp_path / "articles.jsonl", [json.dumps(r) for r in rows])
    index = tmp_path / "index"
    with _engine(index, FailingEmbedder("Story 120 of", KeyboardInterrupt())) as engine:
        with pytest.raises(KeyboardInterrupt) as raised:
            engine.ingest([str(path)])
        assert not _embedding_threads()
    assert isinstance(raised.value, IngestInterrupted)
    committed = raised.value.committed
    assert 0 < committed < 120
    assert _articles_in(index) == committed

    with _engine(index) as engine:
        again = engine.ingest([str(path)])
    assert again.count("unchanged") == committed and again.count("added") == 200 - committed
    resumed = assert_consistent(index)

    with _engine(tmp_path / "reference") as engine:  # the same articles in one go
        engine.ingest([str(path)])
    assert resumed == assert_consistent(tmp_path / "reference") and resumed["articles"] == 200


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_cli_stopped_by_a_signal_says_what_it_kept_and_resumes(tmp_path, sig, code):
    """The CLI reads a named pipe the test writes into, so it is still reading when the signal
    comes, after its first commit."""
    rows = _rows(150, seed=4)
    lines = [json.dumps(r) for r in rows]
    index = tmp_path / "index"
    fifo = tmp_path / "articles.jsonl"
    os.mkfifo(fifo)
    env = {**os.environ, "RETRIEVER_MODEL": MODEL, **CHUNKING_ENV}
    proc = subprocess.Popen([sys.executable, "-m", "retrieval", "--index", str(index), "ingest", str(fifo)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with fifo.open("w", encoding="utf-8") as pipe:
            written = 0
            deadline = time.monotonic() + 120
            while not ((index / "index.sqlite").exists() and _articles_in(index) > 0):
                assert written < len(lines) - 10, "no batch was committed"
                assert time.monotonic() < deadline
                pipe.write(lines[written] + "\n")
                pipe.flush()
                written += 1
                time.sleep(0.02)
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err, err
    found = re.search(rf"{sig.name}: ingest stopped\. (\d+) article\(s\) were committed and are kept; "
                      "run the same command again", err)
    assert found, err
    committed = int(found.group(1))
    assert assert_consistent(index)["articles"] == committed > 0

    fifo.unlink()
    _write(fifo, lines)  # the same path, now a plain file with every line
    again = cli("--index", str(index), "ingest", str(fifo), "--json", env=CHUNKING_ENV)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["unchanged"] == committed and summary["added"] == 150 - committed
    assert assert_consistent(index)["articles"] == 150
