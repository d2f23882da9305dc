"""Questions answered by worker processes (retrieval/workers.py): the same answers as the
engine, what a writer commits seen at once, a dead worker replaced, errors that say why."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest

from index_support import write_corpus
from retrieval import Settings
from retrieval.embeddings import HashEmbedder
from retrieval.engine import Engine
from retrieval.errors import IndexMissingError, WorkerError
from retrieval.types import Filters
from retrieval.workers import Workers


@pytest.fixture
def indexed(tmp_path):
    """A writable engine on an index of 12 articles (hash embedder: no model to load)."""
    settings = Settings(index=tmp_path / "index", model=HashEmbedder().name)
    engine = Engine.open(settings, create=True)
    report = engine.ingest([str(write_corpus(tmp_path / "corpus", 12, 120, seed=3))])
    assert report.count("added") == 12, report.summary()
    yield engine
    engine.close()


@pytest.fixture
def workers(indexed):
    pool = Workers(indexed.settings, 2)
    pool.start()
    yield pool
    pool.close()


def _worker_pids() -> set[int]:
    return {p.pid for p in multiprocessing.active_children()}


def test_workers_answer_as_the_engine_does(indexed, workers):
    question = "story 3 about the harbour"
    for kwargs in ({}, {"k": 3}, {"mode": "lexical"}, {"filters": Filters(sources=("nowhere",))}):
        assert workers.search(question, **kwargs) == indexed.search(question, **kwargs), kwargs
    assert workers.find(question, k=4) == indexed.find(question, k=4)
    answer, local = workers.ask(question), indexed.ask(question)
    assert answer.text == local.text and answer.citations == local.citations
    assert answer.passages == local.passages


def test_workers_see_what_a_writer_commits_after_they_started(indexed, workers, tmp_path):
    question = "later 0"
    before = workers.search(question, k=3, mode="lexical")
    assert not any(h.title.startswith("Later") for h in before)
    more = write_corpus(tmp_path / "more", 2, 120, seed=4, prefix="later")
    assert indexed.ingest([str(more)]).count("added") == 2
    after = workers.search(question, k=3, mode="lexical")
    assert after and after[0].title.startswith("Later 0")
    assert after == indexed.search(question, k=3, mode="lexical")


def test_a_killed_worker_fails_its_question_with_a_reason_and_the_next_one_is_answered(indexed, workers):
    question = "story 5"
    expected = indexed.search(question, k=3)
    assert workers.search(question, k=3) == expected
    for pid in _worker_pids():
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    failed = 0
    while time.monotonic() < deadline:  # the pool notices the dead processes on its next call
        try:
            if workers.search(question, k=3) == expected and failed:
                break
        except WorkerError as exc:
            assert "stopped" in str(exc) and "Traceback" not in str(exc)
            failed += 1
    assert failed >= 1
    assert workers.search(question, k=3) == expected  # a fresh set of processes answers


def test_an_index_the_workers_cannot_open_raises_the_engines_error(tmp_path):
    pool = Workers(Settings(index=tmp_path / "nothing", model=HashEmbedder().name), 1)
    try:
        with pytest.raises(IndexMissingError, match="no index at"):
            pool.start()
        with pytest.raises(IndexMissingError):
            pool.search("anything")
    finally:
        pool.close()
    with pytest.raises(WorkerError, match="closed"):
        pool.search("anything")
