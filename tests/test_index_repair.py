"""Self-repair of the index folder: a damaged or stale vectors.faiss is rebuilt from SQLite on
open (and saved again), leftover .tmp files are removed by the next writer, and an ingest
killed with SIGKILL at any point leaves an index the next command can use."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys

import faiss
import numpy as np
import pytest

from index_support import MODEL, assert_consistent, cli, segment_file, write_corpus
from retrieval import Settings
from retrieval.embeddings import HashEmbedder
from retrieval.engine import FLUSH_CHUNKS, Engine
from retrieval.store import LOCK_FILE, MANIFEST_FILE, TMP_FILES, _acquire_lock, _release_lock
from support import ROOT


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """A small base corpus and a second one big enough for two commits (> FLUSH_CHUNKS)."""
    base = tmp_path_factory.mktemp("corpora")
    small = write_corpus(base / "small", 6, 300, seed=1, prefix="base")
    big = write_corpus(base / "big", 60, 1500, seed=2, prefix="more")
    return small, big


@pytest.fixture(scope="module")
def base_index(tmp_path_factory, corpora):
    index = tmp_path_factory.mktemp("base") / "index"
    with Engine.open(Settings(index=index), embedder=HashEmbedder(), create=True) as engine:
        assert engine.ingest([str(corpora[0])]).count("added") == 6
    return index


@pytest.fixture
def index(base_index, tmp_path):
    return shutil.copytree(base_index, tmp_path / "index")


def _open(index):
    return Engine.open(Settings(index=index), embedder=HashEmbedder())


def _search_works(engine):
    hits = engine.search("Base 3", k=3, mode="dense")
    assert hits and all(h.chunk_id > 0 for h in hits)
    return hits


# ---------------------------------------------------------------------------- damaged vectors.faiss


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _random_bytes(path):
    size = path.stat().st_size
    path.write_bytes(np.random.default_rng(7).bytes(size))


def _empty(path):
    path.write_bytes(b"")


def _missing(path):
    path.unlink()


@pytest.mark.parametrize("damage, problem", [
    (_truncate, "is unreadable"),
    (_random_bytes, "is unreadable"),
    (_empty, "is unreadable"),
    (_missing, "is missing"),
])
def test_damaged_vectors_file_is_rebuilt_on_open(index, damage, problem, caplog):
    expected = assert_consistent(index)
    damage(segment_file(index))
    with caplog.at_level(logging.WARNING, logger="retrieval.store"):
        engine = _open(index)
    # Repaired on open, before any question: the bot does this at start.
    assert any(problem in r.getMessage() and "rebuilding it from index.sqlite" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]
    assert assert_consistent(index) == expected
    _search_works(engine)
    engine.close()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="retrieval.store"):
        _open(index).close()
    assert not caplog.records  # repaired for good: the next open is quiet


def test_vectors_file_with_a_stale_count_is_rebuilt(index, corpora, tmp_path, caplog):
    """A FAISS file the manifest vouches for but that holds fewer vectors (the 202-vs-2,021 case)."""
    old = (segment_file(index)).read_bytes()
    with _open(index) as engine:
        engine.ingest([str(write_corpus(tmp_path / "extra", 3, 300, seed=5, prefix="extra"))])
    (segment_file(index)).write_bytes(old)  # the manifest still says the file is current
    with caplog.at_level(logging.WARNING, logger="retrieval.store"):
        engine = _open(index)
    assert any("holds" in r.getMessage() and "vectors of dimension" in r.getMessage() for r in caplog.records)
    counts = assert_consistent(index)
    assert counts["articles"] == 9
    hits = engine.search("Extra 1", k=20, mode="dense")
    assert any(h.title.startswith("Extra") for h in hits)
    engine.close()


def test_vectors_file_with_other_ids_is_rebuilt(index, tmp_path, caplog):
    """Same count, other chunk ids (an article replaced): only the ids tell."""
    old = (segment_file(index)).read_bytes()
    # Rewrite one article with the same length: its chunks get new ids, the count stays.
    folder = write_corpus(tmp_path / "same", 1, 300, seed=1, prefix="base")
    text = (folder / "base-000.txt").read_text().replace(".\n", " Changed.\n", 1)
    (folder / "base-000.txt").write_text(text)
    with _open(index) as engine:
        before = engine.store.counts()
        report = engine.ingest([str(folder)])
        assert report.count("updated") == 1, report.summary()
        assert engine.store.counts() == before
    (segment_file(index)).write_bytes(old)
    with caplog.at_level(logging.WARNING, logger="retrieval.store"):
        _open(index).close()
    assert any("other chunk ids" in r.getMessage() for r in caplog.records)
    assert_consistent(index)


def test_unreadable_manifest_is_rewritten(index, caplog):
    (index / MANIFEST_FILE).write_bytes(b"\x00garbage{")
    with caplog.at_level(logging.WARNING, logger="retrieval.store"):
        _open(index).close()
    assert any("manifest.json is unreadable" in r.getMessage() for r in caplog.records)
    assert_consistent(index)


def test_a_writer_at_work_is_not_disturbed(index):
    """Leftover .tmp files and a stale FAISS file are left to the writer holding the lock."""
    for name in TMP_FILES:
        (index / name).write_bytes(b"half-written")
    _truncate(segment_file(index))
    held = _acquire_lock(index / LOCK_FILE)
    try:
        with _open(index) as engine:
            _search_works(engine)  # rebuilt in memory
        assert all((index / name).exists() for name in TMP_FILES)
    finally:
        _release_lock(held)
    with _open(index) as engine:  # the next writer cleans up
        _search_works(engine)
    assert_consistent(index)


def test_leftover_tmp_files_are_removed_by_the_next_writer(index, tmp_path):
    for name in TMP_FILES:
        (index / name).write_bytes(b"half-written")
    with Engine.open(Settings(index=index), embedder=HashEmbedder()) as engine:
        # (open already cleaned up; an ingest cleans up as well)
        assert not list(index.glob("*.tmp"))
        for name in TMP_FILES:
            (index / name).write_bytes(b"half-written")
        engine.ingest([str(write_corpus(tmp_path / "x", 1, 200, seed=9, prefix="x"))])
    assert_consistent(index)


def test_read_only_index_repairs_in_memory_only(index, caplog):
    _truncate(segment_file(index))
    damaged = (segment_file(index)).read_bytes()
    with caplog.at_level(logging.WARNING, logger="retrieval.store"):
        engine = Engine.open(Settings(index=index, read_only=True), embedder=HashEmbedder())
    assert any("in memory: the index is read-only" in r.getMessage() for r in caplog.records)
    _search_works(engine)
    engine.close()
    assert (segment_file(index)).read_bytes() == damaged


def test_search_command_repairs_and_says_so(index):
    (segment_file(index)).write_bytes(b"not a faiss file")
    result = cli("--index", str(index), "search", "Base 2", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["results"]
    assert "2024-03.faiss is unreadable" in result.stderr and "Traceback" not in result.stderr
    assert_consistent(index)


# ---------------------------------------------------------------------------- SIGKILL mid-ingest

#: Where an ingest is killed: (kill_at.py point, argument, what is left behind).
KILL_POINTS = {
    "before the first commit": ("embed", "1"),
    "after one commit, mid-ingest": ("commit", "More 59 "),  # the last article: in batch 2
    "between the last commit and the FAISS save": ("open", "2024-03.faiss.tmp"),
    "FAISS written, not yet renamed": ("rename", "2024-03.faiss.tmp"),
    "FAISS saved, manifest not yet renamed": ("rename", "manifest.json.tmp"),
}


@pytest.mark.parametrize("where", KILL_POINTS)
def test_ingest_killed_leaves_a_usable_index(where, index, corpora):
    point, arg = KILL_POINTS[where]
    before = assert_consistent(index)
    killed = subprocess.run(
        [sys.executable, "tests/kill_at.py", point, arg, str(index), str(corpora[1])],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert killed.returncode == -9, (killed.returncode, killed.stderr[-2000:])
    if point == "rename":
        assert list(index.rglob(arg))  # the half-done save is really on disk

    # The next command, even a read-only one, finds a consistent index…
    result = cli("--index", str(index), "search", "Base 4", "--json")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert json.loads(result.stdout)["results"]
    counts = assert_consistent(index)
    assert counts["articles"] >= before["articles"]  # nothing indexed before is lost
    if where == "after one commit, mid-ingest":
        assert before["chunks"] < counts["chunks"] < before["chunks"] + 2 * FLUSH_CHUNKS

    # …and running the same ingest again completes it.
    again = cli("--index", str(index), "ingest", str(corpora[1]))
    assert again.returncode == 0, again.stderr
    final = assert_consistent(index)
    assert final["articles"] == before["articles"] + 60
    assert final["chunks"] > before["chunks"] + FLUSH_CHUNKS


def test_kill_while_creating_a_new_index(tmp_path, corpora):
    index = tmp_path / "fresh"
    killed = subprocess.run(
        [sys.executable, "tests/kill_at.py", "rename", "index.sqlite.tmp", str(index), str(corpora[0])],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (index / "index.sqlite.tmp").exists() and not (index / "index.sqlite").exists()
    missing = cli("--index", str(index), "stats")
    assert missing.returncode == 1 and "no index at" in missing.stderr
    again = cli("--index", str(index), "ingest", str(corpora[0]))
    assert again.returncode == 0, again.stderr
    assert assert_consistent(index)["articles"] == 6
    assert json.loads(cli("--index", str(index), "stats", "--json").stdout)["model"] == MODEL


def test_kill_point_is_reached_by_a_plain_ingest(tmp_path, corpora):
    """The helper exits 3 when its point never comes: the kill tests above cannot pass by luck."""
    done = subprocess.run(
        [sys.executable, "tests/kill_at.py", "open", "no-such-file", str(tmp_path / "i"), str(corpora[0])],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 3, done.stderr[-2000:]
    assert faiss.read_index(str(segment_file(tmp_path / "i"))).ntotal > 0
