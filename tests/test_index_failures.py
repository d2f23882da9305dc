"""Bad days, as the CLI reports them: a damaged index.sqlite, a disk that fills up during an
ingest, unreadable --queries files and bad dates in a batch — a message and exit 1, never a
traceback, and nothing stored before is lost."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from index_support import build_index, assert_consistent, cli, mount_namespace_problem, write_corpus
from retrieval import Settings
from retrieval.embeddings import HashEmbedder
from retrieval.engine import Engine
from retrieval.errors import IndexDamagedError
from support import ROOT, SEED

DAMAGED = "restore it or rebuild the index"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_index(tmp_path_factory.mktemp("built"), 5, seed=3)


@pytest.fixture
def index(built, tmp_path):
    return shutil.copytree(built, tmp_path / "index")


def _no_traceback(result):
    assert "Traceback" not in result.stderr, result.stderr
    return result


# ---------------------------------------------------------------------------- damaged index.sqlite


def _garbage_header(db):
    with open(db, "r+b") as fh:
        fh.write(b"\x13" * 100)


def _zero_length(db):
    db.write_bytes(b"")


def _garbage_fts_page(db):
    """Overwrite the root page of the FTS5 data table: opening, stats and the vectors are
    fine, the first lexical search meets the damage."""
    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name='chunks_fts_data'").fetchone()[0]
    conn.close()
    with open(db, "r+b") as fh:
        fh.seek((root - 1) * page_size)
        fh.write(b"\xff" * page_size)


@pytest.mark.parametrize("damage, reason", [
    (_garbage_header, "file is not a database"),
    (_zero_length, "no such table: meta"),
])
def test_damaged_database_is_named_by_every_command(index, damage, reason, tmp_path):
    damage(index / "index.sqlite")
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": "Qureshi", "answer": "Afghanistan"}) + "\n")
    for args in (("search", "Qureshi"), ("ask", "What did Qureshi say?"), ("stats",),
                 ("eval", str(questions)), ("ingest", str(SEED)), ("remove", "x")):
        result = _no_traceback(cli("--index", str(index), *args))
        assert result.returncode == 1, (args, result.stderr)
        assert f"{index / 'index.sqlite'} is damaged ({reason}): {DAMAGED}" in result.stderr, args


def test_damage_met_mid_query_is_named(index):
    _garbage_fts_page(index / "index.sqlite")
    assert cli("--index", str(index), "stats").returncode == 0  # open does not read FTS5
    result = _no_traceback(cli("--index", str(index), "search", "Qureshi Afghanistan"))
    assert result.returncode == 1
    assert f"{index / 'index.sqlite'} is damaged (" in result.stderr
    assert DAMAGED in result.stderr
    with Engine.open(Settings(index=index), embedder=HashEmbedder()) as engine:
        with pytest.raises(IndexDamagedError, match=DAMAGED):
            engine.ask("What did Qureshi say about Afghanistan?")


# ---------------------------------------------------------------------------- disk full

DISK_FULL_SCRIPT = r"""
set -u
D="$1"; OUT="$2"; SMALL="$3"; BIG="$4"
mount -t tmpfs -o size=16m tmpfs "$D" || exit 99
step() { name=$1; shift; "$@" > "$OUT/$name.out" 2> "$OUT/$name.err"; echo $? > "$OUT/$name.rc"; }
R="$PYTHON -m retrieval --index $D/index"
step base $R ingest "$SMALL"
free=$(df -k --output=avail "$D" | tail -1)
head -c $(( (free - 2600) * 1024 )) /dev/zero > "$D/filler"   # leave ~2.6 MB: fills mid-ingest
step full $R ingest "$BIG"
step stats $R stats --json
step search $R search "Story 3" --json
rm "$D/filler"
step again $R ingest "$BIG"
step final $R stats --json
cp -r "$D/index" "$OUT/index"
"""


def test_disk_full_during_ingest_keeps_the_committed_articles(tmp_path):
    problem = mount_namespace_problem()
    if problem:
        pytest.skip(f"a small tmpfs is needed to fill a disk: {problem}")
    small = write_corpus(tmp_path / "small", 6, 300, seed=1, prefix="base")
    big = write_corpus(tmp_path / "big", 60, 1500, seed=2, prefix="story")
    (tmp_path / "mnt").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    run = subprocess.run(
        ["unshare", "--mount", "sh", "-c", DISK_FULL_SCRIPT, "sh", str(tmp_path / "mnt"), str(out),
         str(small), str(big)],
        env={**os.environ, "RETRIEVER_MODEL": "hash-256", "PYTHON": sys.executable}, cwd=ROOT,
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr

    def step(name):
        return int((out / f"{name}.rc").read_text()), (out / f"{name}.out").read_text(), \
            (out / f"{name}.err").read_text()

    assert step("base")[0] == 0, step("base")[2]
    rc, _, err = step("full")
    assert rc == 1 and "Traceback" not in err, err
    assert "the disk is full" in err and "was rolled back" in err, err
    assert "committed before it are kept" in err and "run the same command again" in err
    rc, stats, err = step("stats")
    assert rc == 0 and "Traceback" not in err, err
    kept = json.loads(stats)["articles"]
    assert 6 <= kept < 66  # the base articles and whole batches only
    assert step("search")[0] == 0
    rc, _, err = step("again")
    assert rc == 0, err
    assert json.loads(step("final")[1])["articles"] == 66
    assert assert_consistent(out / "index") == {"articles": 66, "chunks": json.loads(step("final")[1])["chunks"]}


# ---------------------------------------------------------------------------- --queries files


def test_missing_binary_or_undecodable_queries_file(index, tmp_path):
    missing = tmp_path / "missing.jsonl"
    result = _no_traceback(cli("--index", str(index), "ask", "--queries", str(missing)))
    assert result.returncode == 1
    assert f"cannot read queries file {missing}: No such file or directory" in result.stderr

    binary = tmp_path / "questions.bin"
    binary.write_bytes(b"What did Qureshi say?\n\x00\x01\x02\xff")
    result = _no_traceback(cli("--index", str(index), "search", "--queries", str(binary)))
    assert result.returncode == 1 and f"{binary} is a binary file" in result.stderr

    latin = tmp_path / "latin.txt"
    latin.write_bytes("Qureshi\nWho is Jos\u00e9?\n".encode("latin-1"))
    result = _no_traceback(cli("--index", str(index), "ask", "--queries", str(latin)))
    assert result.returncode == 1 and f"{latin}:2: not UTF-8 text" in result.stderr
    assert result.stdout == ""  # nothing answered from a file that could not be read

    utf16 = tmp_path / "eval.jsonl"
    utf16.write_text(json.dumps({"question": "Qureshi?", "answer": "Afghanistan"}), encoding="utf-16")
    result = _no_traceback(cli("--index", str(index), "eval", str(utf16)))
    assert result.returncode == 1 and "is not UTF-8 text" in result.stderr


def test_queries_file_with_a_bom_is_read(index, tmp_path):
    questions = tmp_path / "q.txt"
    questions.write_text("Qureshi Afghanistan\n", encoding="utf-8-sig")
    result = cli("--index", str(index), "search", "--queries", str(questions), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["query"] == "Qureshi Afghanistan"


@pytest.mark.parametrize("bad", ["yesterday", "2021-13-01", "24/09/2021", 20210924, ["2021-09-24"]])
def test_bad_as_of_names_its_line(index, tmp_path, bad):
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps({"id": "a", "question": "What did Qureshi say?", "as_of": "2021-09-24"}) + "\n"
        + json.dumps({"id": "b", "question": "Who met Qureshi?", "as_of": bad}) + "\n"
    )
    result = _no_traceback(cli("--index", str(index), "ask", "--queries", str(questions), "--json"))
    assert result.returncode == 1
    assert f"{questions}:2: 'as_of' must be a date as YYYY-MM-DD (got {bad!r})" in result.stderr
    assert result.stdout == ""


def test_each_lines_as_of_is_used(index, tmp_path):
    """The date a question is asked changes the recency preference, so the scores differ."""
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": "Story 2", "as_of": "2024-03-03"}) + "\n"
                         + json.dumps({"question": "Story 2", "as_of": "2034-03-03"}) + "\n")
    result = cli("--index", str(index), "search", "--queries", str(questions), "--json")
    assert result.returncode == 0, result.stderr
    near, far = (json.loads(line)["results"][0] for line in result.stdout.splitlines())
    assert near["published"] == "2024-03-03" and near["score"] > far["score"]
