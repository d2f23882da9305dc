"""The `retriever` command, run as a real subprocess: exit codes, stdout/stderr, JSON, batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from support import ROOT, SEED


def run(*args, env=None, input=None):
    full_env = {**os.environ, "RETRIEVER_MODEL": "hash-256", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "retrieval", *args], capture_output=True, text=True,
        env=full_env, cwd=ROOT, input=input, timeout=300,
    )


@pytest.fixture
def index(tmp_path):
    path = tmp_path / "index"
    result = run("ingest", str(SEED), "--index", str(path))  # --index after the command
    assert result.returncode == 0, result.stderr
    assert "added 1" in result.stdout
    return path


def test_help_does_not_import_torch():
    code = (
        "import sys\nfrom retrieval.cli import cli\n"
        "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules, 'heavy import'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "retriever ingest" in result.stdout


def test_stats_and_reingest(index):
    again = run("--index", str(index), "ingest", str(SEED))
    assert again.returncode == 0 and "unchanged 1" in again.stdout
    stats = json.loads(run("--index", str(index), "stats", "--json").stdout)
    assert stats["articles"] == 1 and stats["chunks"] >= 3 and stats["model"] == "hash-256"
    assert stats["last_ingest"]


def test_search_json_shape(index):
    result = run("--index", str(index), "search", "Qureshi Afghanistan", "-k", "2", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"id", "query", "good_match", "note", "refusal", "results"}
    assert [r["rank"] for r in data["results"]] == [1, 2]
    assert set(data["results"][0]) == {"rank", "score", "text", "title", "url", "source", "published", "article_id", "chunk_id", "also"}


def test_batch_ask_keeps_order_and_ids(index, tmp_path):
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        json.dumps({"id": "a", "question": "What did Qureshi say about Afghanistan?", "as_of": "2021-09-24"}) + "\n"
        + json.dumps({"id": "b", "question": "What did Blinken tell reporters?"}) + "\n"
    )
    result = run("--index", str(index), "ask", "--queries", str(queries), "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"]
    assert "moral obligation" in rows[0]["answer"]
    assert all({"answer", "citations", "passages"} <= set(r) for r in rows)

    plain = tmp_path / "q.txt"
    plain.write_text("Qureshi Afghanistan\nBlinken Taliban\n")
    result = run("--index", str(index), "search", "--queries", str(plain), "--json")
    assert [json.loads(line)["query"] for line in result.stdout.splitlines()] == ["Qureshi Afghanistan", "Blinken Taliban"]


def test_exit_codes(tmp_path, index):
    missing = run("--index", str(tmp_path / "none"), "ask", "anything")
    assert missing.returncode == 1 and "no index at" in missing.stderr
    assert "Traceback" not in missing.stderr
    usage = run("--index", str(index), "ask")
    assert usage.returncode == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": 1}\n')
    assert run("--index", str(index), "ask", "--queries", str(bad)).returncode == 1


def test_bad_setting_is_named_without_a_traceback(index):
    for env, expected in (
        ({"RETRIEVER_CHUNK_WORDS": "abc"}, "RETRIEVER_CHUNK_WORDS: Input should be a valid integer"),
        ({"RETRIEVER_CHUNK_OVERLAP_WORDS": "200"}, "RETRIEVER_CHUNK_OVERLAP_WORDS (200) must be less than"),
    ):
        result = run("--index", str(index), "stats", env=env)
        assert result.returncode == 1, result.stderr
        assert expected in result.stderr and "Traceback" not in result.stderr


def test_failed_item_is_named_and_exit_1(index, tmp_path):
    result = run("--index", str(index), "ingest", str(tmp_path / "missing.txt"))
    assert result.returncode == 1
    assert f"failed: {tmp_path / 'missing.txt'}: no such file or directory" in result.stderr


def test_model_mismatch_refused(index):
    result = run("--index", str(index), "--model", "hash-64", "search", "Qureshi")
    assert result.returncode == 1
    assert "'hash-256'" in result.stderr and "'hash-64'" in result.stderr


def test_remove(index):
    article_id = json.loads(run("--index", str(index), "search", "Qureshi", "--json").stdout)["results"][0]["article_id"]
    result = run("--index", str(index), "remove", article_id)
    assert result.returncode == 0 and "Pakistan calls" in result.stdout
    assert json.loads(run("--index", str(index), "stats", "--json").stdout)["articles"] == 0
    assert run("--index", str(index), "remove", article_id).returncode == 1


@pytest.mark.slow
def test_seed_question_with_packaged_model(tmp_path):
    """What `make run` does, with the real model: offline, cited, verbatim."""
    env = {"RETRIEVER_MODEL": "all-MiniLM-L6-v2", "RETRIEVER_INDEX": str(tmp_path / "index"), "HF_HUB_OFFLINE": "1"}
    assert run("ingest", str(ROOT / "corpus"), env=env).returncode == 0
    result = run("ask", "What did Qureshi say about Afghanistan?", env=env)
    assert result.returncode == 0, result.stderr
    assert "broad-based government" in result.stdout and "[1]" in result.stdout
    assert "Sources:\n[1] Pakistan calls for engagement with US for stability in South Asia" in result.stdout
    assert "unity of approach" not in result.stdout


def test_eval_command(index, tmp_path):
    questions = tmp_path / "eval.jsonl"
    questions.write_text(
        json.dumps({"question": "What did Qureshi say about Afghanistan?", "answer": "moral obligation", "as_of": "2021-09-24"}) + "\n"
        + json.dumps({"question": "Who met Qureshi in New York?", "answer": "Blinken"}) + "\n"
    )
    result = run("--index", str(index), "eval", str(questions), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["questions"] == 2
    assert set(data["search"]) == {"hybrid", "dense", "lexical"}
    assert data["search"]["hybrid"]["recall@600"] == 1.0
    assert data["ask"]["honest"] == 1.0
    table = run("--index", str(index), "eval", str(questions))
    assert "answer recall @600 words" in table.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    broken = run("--index", str(index), "eval", str(bad))
    assert broken.returncode == 1 and f"{bad}:1" in broken.stderr


def test_follow_up_after_a_previous_question(index):
    """`ask --after`: the follow-up is resolved into a standalone question before retrieval,
    and what was understood is shown (stderr for people, "understood" in JSON)."""
    previous = "What did Qureshi say about Afghanistan?"
    result = run("--index", str(index), "ask", "and what about India?", "--after", previous, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["query"] == "What did Qureshi say about India?"
    assert data["understood"] == "Qureshi — about India"
    shown = run("--index", str(index), "ask", "What did he say about India?", "--after", previous)
    assert shown.returncode == 0 and "Understood: Qureshi — about India" in shown.stderr
    standalone = run("--index", str(index), "search", "Taliban legitimacy", "--after", previous, "--json")
    assert "understood" not in json.loads(standalone.stdout)
    clash = run("--index", str(index), "ask", "--queries", "-", "--after", previous, input="why?\n")
    assert clash.returncode == 2 and "--after" in clash.stderr
