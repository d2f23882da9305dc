"""Pure text handling: sentence offsets, chunking limits, cleaning and front matter."""

from __future__ import annotations

import pytest

from support import SEED
from retrieval.chunking import chunk_text
from retrieval.clean import clean_text
from retrieval.sentences import split_sentences
from retrieval.sources import parse_date, parse_front_matter


def test_sentences_keep_offsets_and_abbreviations():
    text = "Mr. Smith met U.S. officials at 10 a.m. on Monday. “It went well,” he said.\nHeadline without stop\nNext."
    spans = split_sentences(text)
    assert [s.text for s in spans] == [
        "Mr. Smith met U.S. officials at 10 a.m. on Monday.",
        "“It went well,” he said.",
        "Headline without stop",
        "Next.",
    ]
    assert all(text[s.start : s.end] == s.text for s in spans)


def test_chunks_end_on_sentence_boundaries(seed_text):
    _, text = clean_text(seed_text)
    long_text = "\n\n".join([text] * 4)
    ends = {s.end for s in split_sentences(long_text)}
    starts = {s.start for s in split_sentences(long_text)}
    ranges = chunk_text(long_text, 120, 150)
    assert len(ranges) > 4
    for start, end in ranges:
        assert start in starts and end in ends
        assert len(long_text[start:end].split()) <= 150


def test_overlong_sentence_is_cut_at_words():
    text = " ".join(f"w{i}" for i in range(400)) + "."
    ranges = chunk_text(text, 120, 150)
    assert [len(text[s:e].split()) for s, e in ranges] == [150, 150, 100]


def test_overlapping_chunks_repeat_whole_sentences_and_always_move_on():
    text = " ".join(f"Sentence {i} has exactly seven words here." for i in range(60))  # 7 words each
    plain = chunk_text(text, 120, 150)
    overlapping = chunk_text(text, 120, 150, overlap_words=60)
    starts = {s.start for s in split_sentences(text)}
    assert len(overlapping) > len(plain)
    for (s1, e1), (s2, e2) in zip(overlapping, overlapping[1:]):
        assert s1 < s2 < e1 < e2  # starts inside the previous chunk, ends past it
        assert s2 in starts
        assert len(text[s2:e1].split()) <= 60
    assert overlapping[-1][1] == plain[-1][1] == len(text)
    with pytest.raises(ValueError, match="overlap"):
        chunk_text(text, 120, 150, overlap_words=120)


def test_front_matter_and_dates():
    meta, body = parse_front_matter("---\ntitle: A\npublished: 2021/09/23\n---\nBody")
    assert meta == {"title": "A", "published": "2021/09/23"} and body == "Body"
    assert parse_date("2021/09/23").isoformat() == "2021-09-23"
    assert parse_date("Thu, 23 Sep 2021 10:00:00 GMT").isoformat() == "2021-09-23"
    assert parse_date("not a date") is None


def test_clean_keeps_prose_verbatim():
    title, text = clean_text(SEED.read_text())
    assert title.startswith("Pakistan calls")
    assert "“While the Taliban should be held to their commitments" in text
    assert "Asia Pakistan" not in text
