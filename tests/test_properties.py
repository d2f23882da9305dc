"""Property-based tests (hypothesis) of the readers, the text cleaner and the chunker: arbitrary
input never raises past the item boundary, and chunk offsets always slice the stored text."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval.chunking import chunk_article, chunk_text
from retrieval.clean import clean_text
from retrieval.errors import IngestError
from retrieval.fetch import Fetcher
from retrieval.sources import Limits, Reader, decode_text, jsonl_lines, make_article, read_jsonl_line
from retrieval.types import Article, ItemResult

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FIELDS = ("url", "title", "text", "source", "published", "authors")
rows = st.dictionaries(st.sampled_from(FIELDS), json_values | st.text(), max_size=6)


def _is_item(result, where: str) -> bool:
    if isinstance(result, ItemResult):
        return result.status == "failed" and result.item == where and bool(result.reason)
    return isinstance(result, Article) and result.origin == where and result.text.strip() != ""


@FAST
@given(st.one_of(json_values, rows))
def test_any_json_value_is_an_article_or_a_named_failure(value):
    line = json.dumps(value)
    assert _is_item(read_jsonl_line(line, "rows.jsonl:7"), "rows.jsonl:7")
    assert _is_item(read_jsonl_line(line.encode(), "rows.jsonl:7"), "rows.jsonl:7")


@FAST
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_any_line_is_an_article_or_a_named_failure(line):
    assert _is_item(read_jsonl_line(line, "x.jsonl:1"), "x.jsonl:1")


@FAST
@given(rows)
def test_stored_fields_are_text(row):
    result = read_jsonl_line(json.dumps(row), "r:1")
    if isinstance(result, Article):
        for value in (result.text, result.title, result.url or "", result.source or "", *result.authors):
            assert "\x00" not in value
            value.encode("utf-8")  # storable: no lone surrogates


pieces = st.lists(st.sampled_from([b"a", b"{}", b" ", b"\t", b"\r", b"\n", b"\n\n", b"xyz"]), max_size=40)


@FAST
@given(pieces, st.lists(st.integers(0, 60), max_size=5), st.integers(1, 8))
def test_line_splitting_matches_a_plain_split(parts, cuts, max_line):
    """Oracle: however the bytes arrive in blocks, lines are those of bytes.split."""
    data = b"".join(parts)
    points = sorted({min(c, len(data)) for c in cuts})
    blocks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]
    expected = []
    for number, raw in enumerate(data.split(b"\n"), 1):
        content = raw.lstrip()
        if content.strip():
            expected.append((number, None if len(content) > max_line else content))
    assert list(jsonl_lines(blocks, max_line)) == expected


@FAST
@given(st.text(max_size=400))
def test_cleaner_keeps_input_lines_verbatim(raw):
    title, text = clean_text(raw)
    lines = {line.rstrip() for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")}
    if title is not None:
        assert title in {line.strip() for line in lines}
    for line in text.split("\n"):
        if line.strip():
            assert line.rstrip() in lines or line.strip() in {l.strip() for l in lines}


@FAST
@given(st.binary(max_size=300))
def test_decoding_is_text_or_a_named_refusal(data):
    try:
        text = decode_text(data, "f.txt")
    except IngestError as exc:
        assert exc.item == "f.txt" and exc.reason
    else:
        assert "\x00" not in text


prose = st.lists(st.sampled_from([*"ab .!?\n\"”’", "word ", "Mr. ", "3.5 ", "U.S. ", "\u00a0", "\u2028"]),
                 min_size=1, max_size=300).map("".join) | st.text(max_size=300)


@FAST
@given(prose, st.integers(20, 60), st.integers(0, 40), st.integers(0, 19))
def test_chunk_offsets_slice_the_stored_text(raw, target, extra, overlap):
    try:
        article = make_article(text=raw, title=None, origin="p")
    except IngestError:
        return  # blank text is refused by name
    chunks = chunk_article(article, target, target + extra, overlap)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert 0 <= chunk.start < chunk.end <= len(article.text)
        assert article.text[chunk.start : chunk.end] == chunk.text
    starts = [c.start for c in chunks]
    assert starts == sorted(starts)
    covered = chunk_text(article.text, target, target + extra, overlap)
    for word in re.finditer(r"\S+", article.text):  # no word is lost between chunks
        assert any(s <= word.start() and word.end() <= e for s, e in covered), word


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["a.txt", "a.md", "a.jsonl", "a.jsonl.gz", "a.html", "a.rss"]))
def test_any_file_is_read_without_raising(data, name):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        results = list(Reader(Fetcher(), Limits()).read([str(path)]))
    assert results  # even an empty file is named
    for result in results:
        assert isinstance(result, (Article, ItemResult))
        name = result.origin if isinstance(result, Article) else result.item
        assert name.startswith(str(path))
