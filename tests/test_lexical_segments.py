"""Lexical segments (retrieval/impacts.py through the store): FTS5's tokens and BM25 scores,
segments saved and merged by the writer, chunks removed since, a reader in another store,
filters, and FTS5 again while too much is left to tokenize."""

from __future__ import annotations

import math
import random
import sqlite3
from datetime import date, timedelta

import numpy as np
import pytest

from retrieval.impacts import FOLDER, LexicalParams, Tokenizer, query_tokens
from retrieval.lexical import match_expression
from retrieval.store import Store
from retrieval.types import Article, Chunk, Filters

DIMENSION = 8
#: FTS5 everywhere (no index here is this large).
FTS5 = LexicalParams(segment_min=10**9)
#: Segments from the first chunk, saved from one chunk on, 40 chunks each, two merged at a time.
SMALL = LexicalParams(segment_min=0, build_min=1, build_max=40, fan=2)


def _words(seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice("bdgklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))
            for _ in range(400)]


WORDS = _words()


def _articles(n: int, *, seed: int, first: int = 0) -> list[tuple[Article, list[Chunk]]]:
    """Articles of 1-3 chunks; word frequencies fall off like a language's (common and rare)."""
    rng = random.Random(seed)
    weights = [1 / (r + 1) for r in range(len(WORDS))]
    out = []
    for i in range(first, first + n):
        article_id = f"a{i:05d}"
        texts = [" ".join(rng.choices(WORDS, weights, k=rng.randint(20, 90))) for _ in range(rng.randint(1, 3))]
        chunks = [Chunk(article_id, o, 0, len(t), t) for o, t in enumerate(texts)]
        title = " ".join(rng.choices(WORDS, weights, k=4)).title()
        article = Article(article_id, title, "\n".join(texts), url=f"https://news.example/{i}",
                          source=("Daily" if i % 3 else "Weekly"), published=date(2024, 1, 1) + timedelta(days=i % 90))
        out.append((article, chunks))
    return out


def _put(store: Store, articles, per_batch: int = 10) -> None:
    rng = np.random.default_rng(1)
    with store.writing() as writer:
        for start in range(0, len(articles), per_batch):
            with writer.batch() as batch:
                for article, chunks in articles[start:start + per_batch]:
                    vectors = rng.standard_normal((len(chunks), DIMENSION)).astype(np.float32)
                    batch.put(article, chunks, vectors / np.linalg.norm(vectors, axis=1, keepdims=True))


def _store(path, params: LexicalParams) -> Store:
    return Store.create(path, model="hash-8", dimension=DIMENSION,
                        chunking={"target_words": 60, "max_words": 90, "overlap_words": 0}, lexical=params)


def _questions(n: int, seed: int = 9) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS[:10]) for _ in range(2)) + " " +
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4))) for _ in range(n)]


def _same_ranking(segment_hits, fts5_hits, k):
    """The segments' top k is FTS5's, up to float16 rounding of the impacts: each chunk's score
    matches FTS5's for it, and no chunk FTS5 ranks clearly higher is missing."""
    fts5 = dict(fts5_hits)
    assert len(segment_hits) == min(k, len(fts5_hits))
    for chunk_id, score in segment_hits:
        assert chunk_id in fts5, chunk_id
        assert score == pytest.approx(fts5[chunk_id], rel=3e-3)
    if segment_hits:
        floor = segment_hits[-1][1]
        got = {c for c, _ in segment_hits}
        assert all(c in got for c, s in fts5_hits if s > floor * 1.01)


@pytest.fixture
def index(tmp_path):
    """About 110 chunks written in six sessions: a segment saved at the end of each (a writer also
    saves one as it goes once build_max chunks are waiting: timing, so not tested here)."""
    store = _store(tmp_path / "index", SMALL)
    articles = _articles(60, seed=1)
    for start in range(0, 60, 10):
        _put(store, articles[start:start + 10])
    store.close()
    return tmp_path / "index"


def test_tokens_are_fts5s():
    texts = ["Qureshi's talks in Kabul, Afghanistan's capital", "Café naïve façade ÉCOLE Zürich",
             "COVID-19 vaccines: 2,500 doses_shipped on 12/03", "running runners ran easily; the elections"]
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(body, tokenize = 'porter unicode61 remove_diacritics 2')")
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'row')")
    tokenize = Tokenizer()
    for text in texts:
        conn.execute("DELETE FROM t")
        conn.execute("INSERT INTO t(body) VALUES (?)", (text,))
        assert set(tokenize(text)) == {r[0] for r in conn.execute("SELECT term FROM v")}, text
    assert query_tokens('"Elections" OR "naïve" OR "elected"') == ["elect", "naiv", "elect"]


def test_scores_are_fts5s_bm25(index):
    fts5 = Store.open(index, lexical=FTS5)
    segments = Store.open(index, lexical=SMALL)
    try:
        assert segments.lexical_segments() is not None and fts5.lexical_segments() is None
        # a word and its plural are two phrases of one stem: FTS5 counts that stem twice
        plurals = [f"{WORDS[i]} {WORDS[i + 60]} {WORDS[i + 60]}s" for i in range(0, 10)]
        for question in _questions(30) + plurals:
            match = match_expression(question)
            _same_ranking(segments.lexical_search(match, 10), fts5.lexical_search(match, 1000), 10)
        for word in WORDS[:50:7] + ["Elections", "zzyzx"]:  # the IDF's counts too
            assert segments.document_frequency(word) == fts5.document_frequency(word)
    finally:
        fts5.close()
        segments.close()


def test_writer_saves_segments_and_merges_the_small_ones(index):
    store = Store.open(index, lexical=SMALL)
    try:
        saved = sorted((index / FOLDER).iterdir(), key=lambda p: int(p.name.split("-")[0]))
        chunks = store.counts()[1]
        assert chunks > 80
        # contiguous ranges from the first chunk to the last; merged two by two as they came
        names = [tuple(map(int, p.name.split("-"))) for p in saved]
        assert names[0][0] == 1 and names[-1][1] == store.max_chunk_id()
        assert all(b[0] == a[1] + 1 for a, b in zip(names, names[1:]))
        assert any(hi - lo + 1 > SMALL.build_max for lo, hi in names)  # a merge's
        assert len(names) <= 2 * math.log2(chunks)  # two of a size class are merged
        part = store.lexical_segments()
        assert not part.tail and sum(s.chunks for s in part.segments) == chunks
        _put(store, _articles(30, seed=2, first=60))
        assert store.lexical_segments().covered == store.max_chunk_id()
    finally:
        store.close()


def test_removed_chunks_are_never_found(index):
    store = Store.open(index, lexical=SMALL)
    fts5 = Store.open(index, lexical=FTS5)
    try:
        question = match_expression(" ".join(WORDS[:3]))
        first = store.lexical_search(question, 5)
        article = store.chunk_rows([first[0][0]])[first[0][0]]["article_id"]
        with store.writing() as writer, writer.batch() as batch:
            batch.remove(article)
        after = store.lexical_search(question, 5)
        assert first[0][0] not in {c for c, _ in after} and len(after) == 5
        # the segments still count the removed chunks in each word's frequency (until a merge)
        assert {c for c, _ in after} <= {c for c, _ in fts5.lexical_search(question, 10)}
    finally:
        store.close()
        fts5.close()


def test_a_reader_in_another_store_sees_what_was_written_since(index):
    reader = Store.open(index, lexical=LexicalParams(segment_min=0, build_min=10**9))
    writer = Store.open(index, lexical=LexicalParams(segment_min=0, build_min=10**9))
    try:
        assert reader.lexical_search('"zzyzx"', 5) == []
        late = _articles(1, seed=3, first=500)
        article, chunks = late[0]
        late = [(Article(article.id, "Zzyzx road report", article.text, url=article.url), chunks)]
        _put(writer, late)
        found = reader.lexical_search('"zzyzx"', 5)
        assert len(found) == len(chunks) and reader.lexical_segments().tail  # read past the segments
    finally:
        reader.close()
        writer.close()


@pytest.mark.parametrize("filters", [
    Filters(since=date(2024, 2, 1)),
    Filters(since=date(2024, 1, 3), until=date(2024, 1, 3)),
    Filters(sources=("weekly",)),
    Filters(until=date(2023, 1, 1)),
])
def test_filters_keep_fts5s_results(index, filters):
    store = Store.open(index, lexical=SMALL)
    fts5 = Store.open(index, lexical=FTS5)
    try:
        for question in _questions(10, seed=4):
            match = match_expression(question)
            _same_ranking(store.lexical_search(match, 8, filters), fts5.lexical_search(match, 1000, filters), 8)
    finally:
        store.close()
        fts5.close()


def test_fts5_answers_while_too_much_is_left_to_tokenize(index):
    store = Store.open(index, lexical=LexicalParams(segment_min=0, build_min=10**9, reader_tail_max=5))
    fts5 = Store.open(index, lexical=FTS5)
    try:
        for path in (index / FOLDER).iterdir():  # as if no writer had saved segments yet
            for file in path.iterdir():
                file.unlink()
            path.rmdir()
        assert store.lexical_segments() is None
        match = match_expression(" ".join(WORDS[:4]))
        assert store.lexical_search(match, 10) == fts5.lexical_search(match, 10)
    finally:
        store.close()
        fts5.close()


def test_a_missing_segment_is_read_from_sqlite(index):
    first = sorted((index / FOLDER).iterdir(), key=lambda p: int(p.name.split("-")[0]))[0]
    for file in first.iterdir():
        file.unlink()
    first.rmdir()
    (index / FOLDER / ".tmp-1-5").mkdir()  # a build that was killed
    store = Store.open(index, lexical=SMALL)
    fts5 = Store.open(index, lexical=FTS5)
    try:
        assert store.lexical_segments().segments == ()  # no chain from chunk 1: all in the tail
        match = match_expression(" ".join(WORDS[:4]))
        _same_ranking(store.lexical_search(match, 10), fts5.lexical_search(match, 1000), 10)
        _put(store, _articles(2, seed=5, first=900))  # the writer saves them again
        rebuilt = store.lexical_segments()
        assert rebuilt.segments[0].lo == 1 and rebuilt.covered == store.max_chunk_id() and not rebuilt.tail
        assert sorted(p.name for p in (index / FOLDER).iterdir()) == sorted(s.name for s in rebuilt.segments)
    finally:
        store.close()
        fts5.close()


def test_many_catch_ups_are_merged_into_one_tail(index):
    params = LexicalParams(segment_min=0, build_min=10**9)
    reader, writer = Store.open(index, lexical=params), Store.open(index, lexical=params)
    try:
        for i in range(10):
            article, chunks = _articles(1, seed=10 + i, first=700 + i)[0]
            _put(writer, [(Article(article.id, f"Quokka{i} sighting", article.text, url=article.url), chunks)])
            assert len(reader.lexical_search(f'"quokka{i}"', 5)) == len(chunks)
        assert len(reader.lexical_segments().tail) <= 8
        assert all(reader.lexical_search(f'"quokka{i}"', 5) for i in range(10))
    finally:
        reader.close()
        writer.close()


def test_a_segment_mostly_removed_is_rewritten(index):
    store = Store.open(index, lexical=SMALL)
    fts5 = Store.open(index, lexical=FTS5)
    try:
        first = store.lexical_segments().segments[0]
        doomed = sorted({row["article_id"] for row in store.chunk_rows(list(range(first.lo, first.hi + 1))).values()})
        with store.writing() as writer, writer.batch() as batch:
            for article_id in doomed[: len(doomed) * 3 // 4]:
                batch.remove(article_id)
        rewritten = store.lexical_segments().segments[0]
        assert rewritten.name == first.name
        assert rewritten.chunks == len(store.chunk_rows(list(range(first.lo, first.hi + 1)))) < first.chunks / 2
        for question in _questions(10, seed=6):  # no longer counted in the words' frequencies
            match = match_expression(question)
            _same_ranking(store.lexical_search(match, 10), fts5.lexical_search(match, 1000), 10)
        with store.writing() as writer, writer.batch() as batch:  # and then all of it
            for article_id in doomed[len(doomed) * 3 // 4:]:
                batch.remove(article_id)
        assert store.lexical_segments().segments[0].chunks == 0
        for question in _questions(10, seed=7):
            match = match_expression(question)
            _same_ranking(store.lexical_search(match, 10), fts5.lexical_search(match, 1000), 10)
    finally:
        store.close()
        fts5.close()
