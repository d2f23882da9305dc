"""Read-only indexes: on a read-only mount (a private mount namespace, where the machine allows
one) and with RETRIEVER_READ_ONLY, search/ask/stats/eval work and write nothing; ingest and
remove say the index is read-only."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from index_support import build_index, cli, mount_namespace_problem, read_only_view, segment_files, snapshot, write_corpus
from retrieval import Settings
from retrieval.embeddings import HashEmbedder
from retrieval.engine import Engine
from retrieval.errors import IndexReadOnlyError
from retrieval.store import DB_FILE, LOCK_FILE, MANIFEST_FILE, VECTORS_DIR
from support import SEED

#: The index's own files; SQLite may add -wal/-shm next to them for a mode=ro reader.
OWN_FILES = (DB_FILE, VECTORS_DIR, MANIFEST_FILE, LOCK_FILE)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_index(tmp_path_factory.mktemp("built"), 4, seed=4)


@pytest.fixture
def index(built, tmp_path):
    return shutil.copytree(built, tmp_path / "index")


def _own(folder):
    own = {k: v for k, v in snapshot(folder).items() if k in OWN_FILES}
    if (folder / VECTORS_DIR).is_dir():
        own.update({f"{VECTORS_DIR}/{k}": v for k, v in snapshot(folder / VECTORS_DIR).items()})
    return own


def _questions(tmp_path):
    path = tmp_path / "questions.jsonl"
    path.write_text(json.dumps({"question": "What did Qureshi say about Afghanistan?",
                                "answer": "moral obligation", "as_of": "2021-09-24"}) + "\n")
    return path


def test_read_only_setting_serves_and_refuses_writes(index, tmp_path):
    (index / LOCK_FILE).unlink()
    before = _own(index)
    engine = Engine.open(Settings(index=index, read_only=True), embedder=HashEmbedder())
    assert engine.store.read_only
    assert engine.search("Qureshi Afghanistan", k=2)
    assert "moral obligation" in engine.ask("What did Qureshi say about Afghanistan?").text
    assert engine.stats().articles == 5
    with pytest.raises(IndexReadOnlyError, match=r"is read-only \(RETRIEVER_READ_ONLY is set\)"):
        engine.ingest([str(write_corpus(tmp_path / "more", 1, 100, seed=8))])
    with pytest.raises(IndexReadOnlyError, match="cannot be added or removed"):
        engine.remove(engine.search("Qureshi", k=1)[0].article_id)
    # The connection itself cannot write (a mode=ro URI), whatever the code above does.
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        engine.store._conn.execute("CREATE TABLE probe(x)")
    engine.close()
    assert _own(index) == before  # no lock file, nothing rewritten


def test_read_only_setting_sees_another_writer(index, tmp_path):
    """mode=ro (not immutable) where the folder is writable: a bot sharing the index with a
    writer sees its new articles."""
    reader = Engine.open(Settings(index=index, read_only=True), embedder=HashEmbedder())
    with Engine.open(Settings(index=index), embedder=HashEmbedder()) as writer:
        writer.ingest([str(write_corpus(tmp_path / "new", 1, 200, seed=11, prefix="fresh"))])
    assert reader.stats().articles == 6
    assert any(h.title.startswith("Fresh") for h in reader.search("Fresh 0", k=5, mode="dense"))
    reader.close()


def test_cli_with_read_only_setting(index, tmp_path):
    env = {"RETRIEVER_READ_ONLY": "1"}
    result = cli("--index", str(index), "search", "Qureshi", "--json", env=env)
    assert result.returncode == 0 and json.loads(result.stdout)["results"], result.stderr
    refused = cli("--index", str(index), "ingest", str(write_corpus(tmp_path / "m", 1, 100)), env=env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"index {index} is read-only (RETRIEVER_READ_ONLY is set)" in refused.stderr
    nothing = cli("--index", str(tmp_path / "none"), "ingest", str(SEED), env=env)
    assert nothing.returncode == 1 and "RETRIEVER_READ_ONLY is set: none is created" in nothing.stderr
    assert not (tmp_path / "none").exists()


@pytest.fixture
def read_only_mount(index, tmp_path):
    """(prefix, path): run a command with ``path`` a read-only bind mount of the index."""
    problem = mount_namespace_problem()
    if problem:
        pytest.skip(f"no read-only bind mount possible ({problem}); the RETRIEVER_READ_ONLY "
                    "tests above cover the read-only SQLite URI")
    (index / LOCK_FILE).unlink()
    target = tmp_path / "ro"
    return read_only_view(index, target), target


def test_read_only_mount_serves_every_question_command(index, read_only_mount, tmp_path):
    prefix, ro = read_only_mount
    before = snapshot(index)
    search = cli("--index", str(ro), "search", "Qureshi Afghanistan", "--json", prefix=prefix)
    assert search.returncode == 0, search.stderr
    assert json.loads(search.stdout)["results"]
    ask = cli("--index", str(ro), "ask", "What did Qureshi say about Afghanistan?", "--as-of",
              "2021-09-24", prefix=prefix)
    assert ask.returncode == 0 and "moral obligation" in ask.stdout, ask.stderr
    stats = cli("--index", str(ro), "stats", "--json", prefix=prefix)
    assert stats.returncode == 0 and json.loads(stats.stdout)["articles"] == 5, stats.stderr
    evaluation = cli("--index", str(ro), "eval", str(_questions(tmp_path)), "--json", prefix=prefix)
    assert evaluation.returncode == 0, evaluation.stderr
    assert json.loads(evaluation.stdout)["questions"] == 1
    for result in (search, ask, stats, evaluation):
        assert "WARNING" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert snapshot(index) == before  # no -wal, -shm or lock file was needed


def test_read_only_mount_refuses_writes_by_name(index, read_only_mount, tmp_path):
    prefix, ro = read_only_mount
    more = write_corpus(tmp_path / "more", 1, 100, seed=6)
    for args in (("ingest", str(more)), ("remove", "https://news.example/story/1")):
        result = cli("--index", str(ro), *args, prefix=prefix)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert f"index {ro} is read-only (on a read-only file system)" in result.stderr
    fresh = cli("--index", str(ro / "new"), "ingest", str(more), prefix=prefix)
    assert fresh.returncode == 1 and "Traceback" not in fresh.stderr, fresh.stderr
    assert f"cannot create an index in {ro / 'new'}: Read-only file system" in fresh.stderr


def test_read_only_mount_with_damaged_vectors(index, read_only_mount):
    prefix, ro = read_only_mount
    segment = segment_files(index)[0]
    segment.write_bytes(b"\x00" * 100)
    result = cli("--index", str(ro), "search", "Qureshi Afghanistan", "--json", prefix=prefix)
    assert result.returncode == 0 and json.loads(result.stdout)["results"], result.stderr
    assert f"{segment.name} is unreadable" in result.stderr
    assert "in memory: the index is read-only" in result.stderr
    assert segment.read_bytes() == b"\x00" * 100
