"""Hostile and broken inputs through the public CLI: each bad item is named with its reason,
the command exits 1, the good items of the same command are stored and nothing indexed before
is lost. Every input is generated here (nothing large is committed).
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing

import pytest
from click.testing import CliRunner

from retrieval.cli import cli
from support import ROOT, SEED

GOOD_TXT = "Farmers protest new water rules\n\nHundreds of farmers drove tractors into the capital on Monday.\n"


def retriever(*args, **env):
    """``retriever ARGS`` in-process (click), with the hash embedder; returns (exit code, output)."""
    environment = {"RETRIEVER_MODEL": "hash-256", "RETRIEVER_FETCH_ALLOW": ""}
    environment.update({f"RETRIEVER_{k.upper()}": str(v) for k, v in env.items()})
    result = CliRunner().invoke(cli, list(map(str, args)), env=environment)
    return result.exit_code, result.output


def row(n: int, **fields) -> dict:
    base = {"url": f"https://news.example/{n}", "title": f"Story number {n} about the harbour",
            "text": f"Story {n}: the harbour bridge reopened after storm repairs, officials said on Monday."}
    return {**base, **fields}


def line(value) -> bytes:
    return (json.dumps(value) + "\n").encode()


@pytest.fixture
def index(tmp_path):
    """An index holding the seed article before the hostile command runs."""
    path = tmp_path / "index"
    code, output = retriever("--index", path, "ingest", SEED)
    assert code == 0, output
    return path


def stored(index) -> dict:
    code, output = retriever("--index", index, "stats", "--json")
    assert code == 0, output
    return json.loads(output.splitlines()[-1])


def stored_titles(index) -> list[str]:
    with closing(sqlite3.connect(f"file:{index / 'index.sqlite'}?mode=ro", uri=True)) as db:
        return [title for (title,) in db.execute("SELECT title FROM articles")]


def failures(output: str) -> dict[str, str]:
    prefix = "failed: "
    out = {}
    for text in output.splitlines():
        if text.startswith(prefix):
            item, _, reason = text[len(prefix):].partition(": ")
            if item.startswith("http://[") and not item.endswith("]"):  # the malformed URL's colon
                item, _, reason = text[len(prefix):].partition(": malformed")
                reason = "malformed" + reason
            out[item] = reason
    return out


def test_bad_items_are_named_and_the_rest_is_stored(index, tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_bytes(b"".join([
        line(row(1)),                                              # 1 good
        line(row(2, text=12345)),                                  # 2 wrong type
        line(row(3, title=5)),                                     # 3 wrong type
        b"[" * 100_000 + b"]" * 100_000 + b"\n",                   # 4 RecursionError in json
        b'{"text": ' + b"1" * 5000 + b"}\n",                       # 5 int past Python's digit limit
        line(row(6, authors={"name": "x"})),                       # 6 wrong type
        line(row(7, url="http://[::1")),                           # 7 malformed url
        b'{"text": "caf\xe9 au lait"}\n',                          # 8 not UTF-8
        line(row(9, text="binary \u0000 data")),                   # 9 NUL
        b'{"text": "lone \\ud800 surrogate", "url": "https://news.example/9b"}\n',  # 10
        b"\n   \n",                                                # 11-12 blank: skipped
        line([1, 2, 3]),                                           # 13 not an object
        line(row(14)),                                             # 14 good
    ]))
    corrupt = tmp_path / "corrupt.jsonl.gz"
    damaged = bytearray(gzip.compress(line(row(21, text="x " * 5000 + "end."))))
    damaged[40:60] = b"\xff" * 20
    corrupt.write_bytes(gzip.compress(line(row(20))) + bytes(damaged))
    truncated = tmp_path / "truncated.jsonl.gz"
    truncated.write_bytes(gzip.compress(line(row(30)) + line(row(31)))[:-12])
    good = tmp_path / "good.txt"
    good.write_text(GOOD_TXT)
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes(codecs.BOM_UTF16_LE + "Glacier loses record ice this summer\n\nThe glacier lost more ice than ever, scientists said.\n".encode("utf-16-le"))
    utf32 = tmp_path / "utf32.txt"
    utf32.write_bytes(codecs.BOM_UTF32_BE + "Bank raises its interest rates again\n\nThe central bank raised rates by a quarter point.\n".encode("utf-32-be"))
    no_bom = tmp_path / "nobom.txt"
    no_bom.write_bytes("Text in UTF-16 without a byte-order mark".encode("utf-16-le"))
    nul = tmp_path / "nul.md"
    nul.write_bytes(b"A title for a binary file\n\nbody\x00\x00\x00\x00 more")
    huge = tmp_path / "huge.txt"
    huge.write_bytes(b"word " * 600_000)  # 3 MB: over the default article bound, refused unread

    code, output = retriever("--index", index, "ingest", rows, corrupt, truncated, "http://[::1", good,
                             utf16, utf32, no_bom, nul, huge)
    assert code == 1
    failed = failures(output)
    expected = {
        f"{rows}:2": "field 'text' must be a string, not a number",
        f"{rows}:3": "field 'title' must be a string, not a number",
        f"{rows}:4": "JSON nested too deeply to read",
        f"{rows}:5": "invalid JSON (Exceeds the limit",
        f"{rows}:6": "field 'authors' must be a string or a list of strings, not an object",
        f"{rows}:7": "malformed url 'http://[::1'",
        f"{rows}:8": "not UTF-8 text",
        f"{rows}:9": "text holds NUL characters: binary data, not text",
        f"{rows}:10": "text holds a character that is not valid Unicode text",
        f"{rows}:13": "line is a list, not a JSON object",
        str(corrupt): "corrupt or truncated gzip data after line 1",
        str(truncated): "corrupt or truncated gzip data after line 1 (Compressed file ended",
        "http://[::1": "malformed URL 'http://[::1'",
        str(no_bom): "binary data, not text (it holds NUL bytes; UTF-16 text needs a byte-order mark)",
        str(nul): "binary data, not text",
        str(huge): "file is 3,000,000 bytes, over the 2,000,004-byte limit (RETRIEVER_MAX_ARTICLE_CHARS=500,000 characters)",
    }
    for item, reason in expected.items():
        assert item in failed, (item, output)
        assert failed[item].startswith(reason), (item, failed[item])
    assert set(failed) == set(expected), set(failed) - set(expected)
    assert "Traceback" not in output

    # Good items of the same command are stored; the seed article from before is still there.
    assert "added 7," in output, output  # rows 1, 14, 20 and 30, good.txt, utf16, utf32
    assert stored(index)["articles"] == 8
    titles = set(stored_titles(index))
    assert "Glacier loses record ice this summer" in titles  # UTF-16 decoded, not "ÿþG…"
    assert "Bank raises its interest rates again" in titles  # UTF-32
    assert "Pakistan calls for engagement with US for stability in South Asia" in titles  # from before


def test_bounds_are_settings_with_clear_messages(index, tmp_path):
    long_line = tmp_path / "long.jsonl"
    long_line.write_bytes(line(row(1, text="word " * 400)) + line(row(2)) + b"\n" + line(row(3, text="y" * 3000)))
    long_text = tmp_path / "long.txt"
    long_text.write_text("A long article with many words\n\n" + "The harbour bridge reopened today. " * 60)
    many_chunks = tmp_path / "chunks.md"
    many_chunks.write_text("---\ntitle: Many chunks\n---\n" + "Short sentence number one here. " * 55)  # 275 words
    page = tmp_path / "page.html"
    page.write_text("<html><body><p>" + "word " * 1000 + "</p></body></html>")
    good = tmp_path / "good.txt"
    good.write_text(GOOD_TXT)
    code, output = retriever("--index", index, "ingest", long_line, long_text, many_chunks, page, good,
                             max_line_bytes=1500, max_article_chars=1800, max_chunks=2, max_html_bytes=2000)
    assert code == 1
    failed = failures(output)
    assert failed[f"{long_line}:1"] == "line longer than 1,500 bytes (RETRIEVER_MAX_LINE_BYTES)"
    assert failed[f"{long_line}:4"].startswith("line longer than 1,500 bytes")  # numbering kept past a blank line
    assert failed[str(long_text)].startswith("article text is 2,0")
    assert failed[str(long_text)].endswith("over the 1,800 limit (RETRIEVER_MAX_ARTICLE_CHARS)")
    assert failed[str(many_chunks)]== "3 chunks, over the 2 allowed for one article (RETRIEVER_MAX_CHUNKS)"
    assert failed[str(page)].startswith("file is 5,")
    assert failed[str(page)].endswith("over the 2,000-byte limit (RETRIEVER_MAX_HTML_BYTES)")
    assert "added 2," in output  # long.jsonl line 2 and good.txt
    assert stored(index)["articles"] == 3


def test_a_file_of_bad_lines_stops_early(index, tmp_path):
    junk = tmp_path / "junk.jsonl"
    junk.write_bytes(b"{}\n" * 5000)
    code, output = retriever("--index", index, "ingest", junk)
    assert code == 1
    assert f"failed: {junk}: stopped after 1,000 bad lines (line 1,000); is it JSONL?" in output
    assert output.count("failed: ") == 1001


@pytest.mark.slow
def test_gzip_bombs_are_refused_fast_and_in_little_memory(tmp_path):
    """1 GiB of newlines and 1 GiB in one line, from about 1 MB of gzip each (gzip members
    concatenated), next to a good row: refused within seconds, memory close to a plain run."""
    good = gzip.compress(line(row(1)))
    newlines, one_line = tmp_path / "newlines.jsonl.gz", tmp_path / "oneline.jsonl.gz"
    for path, filler in ((newlines, b"\n"), (one_line, b"a")):
        member = gzip.compress(filler * (1 << 20), 9)
        path.write_bytes(good + member * 1024)
    small = tmp_path / "small.txt"
    small.write_text(GOOD_TXT)

    def run(*items, **env):
        code = (
            "import resource, sys\nfrom retrieval.cli import main\n"
            "try:\n    main()\nfinally:\n"
            "    print('maxrss', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        )
        environment = {**os.environ, "RETRIEVER_MODEL": "hash-256", **env}
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-c", code, "ingest", *map(str, items)], cwd=ROOT,
                                env=environment, capture_output=True, text=True, timeout=300)
        rss_kb = int(result.stderr.rsplit("maxrss ", 1)[1].split()[0])
        return result, time.monotonic() - started, rss_kb

    base, _, base_rss = run("--index", tmp_path / "base", small)
    assert base.returncode == 0, base.stderr
    bombed, seconds, rss = run("--index", tmp_path / "bombed", newlines, one_line)
    assert bombed.returncode == 1
    for path in (newlines, one_line):
        assert f"failed: {path}: inflates to more than 500,000,000 bytes (RETRIEVER_MAX_GZ_BYTES)" in bombed.stderr
    assert f"failed: {one_line}:2: line longer than 10,000,000 bytes" in bombed.stderr
    assert "added 1," in bombed.stdout  # the good row before the bomb; the second is unchanged
    assert seconds < 60, seconds  # about 10 s on a busy 2-core machine; minutes before the bound
    assert rss - base_rss < 100_000, (rss, base_rss)  # KiB: a GiB never sits in memory

    # Raised above the file's size, a GiB of blank lines is still only seconds of work.
    whole, seconds, _ = run("--index", tmp_path / "whole", newlines, RETRIEVER_MAX_GZ_BYTES=str(2 << 30))
    assert whole.returncode == 0, whole.stderr
    assert seconds < 90, seconds
