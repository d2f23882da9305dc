"""The vector segments (retrieval/vectors.py through the store): one per month, HNSW graphs for
large finished months, filters at any selectivity, tombstones and compaction, readers in many
threads while a writer commits, and indexes of the single-file layout migrated on open."""

from __future__ import annotations

import json
import logging
import random
import shutil
import threading
from datetime import date, datetime, timezone

import faiss
import numpy as np
import pytest

from index_support import assert_consistent
from retrieval import Settings
from retrieval.embeddings import HashEmbedder
from retrieval.engine import Engine
from retrieval.store import MANIFEST_FILE, VECTORS_DIR, VECTORS_FILE
from retrieval.types import Filters
from retrieval.vectors import AnnParams, Segment

MONTHS = ("2024-01", "2024-02", "2024-03", "2024-04")
#: Small enough that the finished months (120+ chunks each) get a graph in these tests.
EXACT_MAX = 50


def _corpus(path, *, per_month=40, seed=3, prefix="story"):
    """JSONL articles over four months; outlet "rare" has one article (3 chunks of ~520),
    "some" has one article per month."""
    rng = random.Random(seed)
    words = ["".join(rng.choice("bdgklmnprstvz") + rng.choice("aeiou") for _ in range(3)) for _ in range(3000)]
    rows = []
    for m, key in enumerate(MONTHS):
        for i in range(per_month):
            source = "rare" if (m, i) == (1, 7) else "some" if i == 3 else "many"
            text = " ".join(" ".join(rng.choices(words, k=12)).capitalize() + "." for _ in range(30))
            rows.append({"url": f"https://news.example/{prefix}/{key}/{i}", "title": f"{prefix} {key} {i}",
                         "source": source, "published": f"{key}-{1 + i % 28:02d}", "text": text})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _settings(index, **extra):
    return Settings(index=index, ann_exact_max=EXACT_MAX, **extra)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("segments")
    with Engine.open(_settings(folder / "index"), embedder=HashEmbedder(), create=True) as engine:
        report = engine.ingest([str(_corpus(folder / "a.jsonl"))])
        assert report.count("added") == 160, report.summary()
    return folder / "index"


@pytest.fixture
def index(built, tmp_path):
    return shutil.copytree(built, tmp_path / "index")


@pytest.fixture
def engine(index):
    with Engine.open(_settings(index), embedder=HashEmbedder()) as engine:
        yield engine


def _queries(n=20, seed=5):
    rng = random.Random(seed)
    return [" ".join(rng.choice(["bada", "kelo", "mipa", "rotu", "zeka", "vimo", "lupa"]) for _ in range(4))
            for _ in range(n)] + [f"story 2024-0{1 + i % 4} {i}" for i in range(n)]


def _brute_force(engine, query, k, filters=None):
    """Exact top-k (id, cosine) from the float32 vectors SQLite holds."""
    store = engine.store
    ids = store.filtered_ids(filters) if filters and filters.active else store.vector_ids()
    vector = engine.embedder.embed([query])[0]
    scores = store.vectors_for([int(i) for i in ids]) @ vector
    order = np.argsort(-scores, kind="stable")[:k]
    return [(int(ids[i]), float(scores[i])) for i in order]


def test_large_finished_months_get_a_graph_and_the_manifest_says_so(engine, index):
    dense = engine.store.vectors()
    assert sorted(dense.segments) == list(MONTHS)
    kinds = {key: s.kind for key, s in dense.segments.items()}
    # Finished months past EXACT_MAX are graphs; the newest month stays exact (it still grows).
    assert kinds == {"2024-01": "hnsw", "2024-02": "hnsw", "2024-03": "hnsw", "2024-04": "exact"}
    manifest = json.loads((index / MANIFEST_FILE).read_text())
    assert manifest["vectors"]["ann"]["exact_max"] == EXACT_MAX
    assert {k: r["kind"] for k, r in manifest["vectors"]["segments"].items()} == kinds
    assert sorted(p.stem for p in (index / VECTORS_DIR).glob("*.faiss")) == list(MONTHS)
    assert_consistent(index)


def test_search_across_graphs_agrees_with_exact_search(engine):
    recalls = []
    for query in _queries():
        vector = engine.embedder.embed([query])[0]
        got = {i for i, _ in engine.store.dense_search(vector, 10)}
        want = {i for i, _ in _brute_force(engine, query, 10)}
        recalls.append(len(got & want) / 10)
    assert np.mean(recalls) >= 0.95, recalls


@pytest.mark.parametrize("filters", [
    Filters(sources=("rare",)),  # 3 chunks of ~520: 0.6%
    Filters(sources=("some",)),  # one article a month
    Filters(since=date(2024, 2, 10), until=date(2024, 3, 20)),  # two months in part
    Filters(since=date(2024, 2, 1), until=date(2024, 2, 29), sources=("many",)),  # one whole month
    Filters(until=date(2024, 1, 5)),
])
def test_filtered_search_returns_the_exact_top_k_at_any_selectivity(engine, filters):
    for query in _queries(8):
        vector = engine.embedder.embed([query])[0]
        got = engine.store.dense_search(vector, 10, filters)
        want = _brute_force(engine, query, 10, filters)
        assert len(got) == len(want)  # never too few: a selective filter is scored exactly
        # fp16 codes: the same scores within 2e-3, so the same ranking up to near-ties
        np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=2e-3)
        allowed = set(engine.store.filtered_ids(filters).tolist())
        assert {i for i, _ in got} <= allowed


def test_a_date_filter_reads_no_ids_for_months_it_covers_whole(engine):
    dense = engine.store.vectors()
    plan = engine.store._plan(dense, Filters(since=date(2024, 2, 1), until=date(2024, 3, 31)))
    assert plan == {"2024-02": None, "2024-03": None}
    plan = engine.store._plan(dense, Filters(since=date(2024, 2, 15)))
    assert set(plan) == {"2024-02", "2024-03", "2024-04"} and plan["2024-03"] is None
    assert plan["2024-02"] is not None and 0 < plan["2024-02"].size < dense.segments["2024-02"].count


def test_removing_from_a_graph_leaves_tombstones_then_compacts(engine, index):
    store = engine.store
    graph = store.vectors().segments["2024-02"]
    assert graph.kind == "hnsw"
    victim = "https://news.example/story/2024-02/5"
    query = " ".join(store.article(store.resolve(victim)).text.split()[:40])
    assert any(h.url == victim for h in engine.search(query, k=10, mode="dense"))
    engine.remove(victim)
    after = store.vectors().segments["2024-02"]
    assert after.deleted and after.index is graph.index  # the graph is kept, with tombstones
    assert not set(after.deleted) & set(store.vector_ids().tolist())
    assert all(h.url != victim for h in engine.search(query, k=20, mode="dense"))
    record = json.loads((index / MANIFEST_FILE).read_text())["vectors"]["segments"]["2024-02"]
    assert sorted(record["deleted"]) == sorted(after.deleted)
    assert_consistent(index)
    # Reopened, the tombstones still hold.
    with Engine.open(_settings(index), embedder=HashEmbedder()) as other:
        assert all(h.url != victim for h in other.search(query, k=20, mode="dense"))
        assert all(i not in after.deleted for i, _ in other.store.dense_search(
            other.embedder.embed([query])[0], 50))
    # Past 10% of the graph, it is rebuilt without them.
    for i in range(6, 12):
        engine.remove(f"https://news.example/story/2024-02/{i}")
    compacted = store.vectors().segments["2024-02"]
    assert compacted.kind == "hnsw" and compacted.ntotal < graph.ntotal  # rebuilt smaller
    assert len(compacted.deleted) <= 0.1 * compacted.ntotal
    assert compacted.count == graph.count - 7 * 3
    assert_consistent(index)


def test_a_month_whose_articles_all_go_is_dropped(engine, index):
    for i in range(40):
        engine.remove(f"https://news.example/story/2024-01/{i}")
    assert "2024-01" not in engine.store.vectors().segments
    assert not (index / VECTORS_DIR / "2024-01.faiss").exists()
    assert_consistent(index)


def test_searches_in_many_threads_while_a_writer_commits(engine, index, tmp_path):
    more = _corpus(tmp_path / "more.jsonl", per_month=15, seed=9, prefix="later")
    errors: list[BaseException] = []
    done = threading.Event()
    counts = []

    def search():
        n = 0
        try:
            while not done.is_set():
                for query in _queries(4):
                    engine.search(query, k=5)
                    engine.search(query, k=5, filters=Filters(sources=("some",)))
                    n += 2
        except BaseException as exc:  # noqa: BLE001 - any failure fails the test
            errors.append(exc)
        counts.append(n)

    threads = [threading.Thread(target=search) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        report = engine.ingest([str(more)])
    finally:
        done.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors[:3]
    assert report.count("added") == 60 and all(n > 0 for n in counts)
    assert any(h.title.startswith("later") for h in engine.search("later 2024-03 4", k=5, mode="dense"))
    assert_consistent(index)


def test_an_index_of_the_single_file_layout_is_migrated_on_open(index, caplog):
    """Indexes made before monthly segments have one vectors.faiss and no segment records."""
    manifest = json.loads((index / MANIFEST_FILE).read_text())
    del manifest["vectors"]
    (index / MANIFEST_FILE).write_text(json.dumps(manifest))
    shutil.rmtree(index / VECTORS_DIR)
    faiss.write_index(faiss.IndexIDMap2(faiss.IndexFlatIP(256)), str(index / VECTORS_FILE))
    with caplog.at_level(logging.INFO, logger="retrieval.store"):
        engine = Engine.open(_settings(index), embedder=HashEmbedder())
    assert any("single-file layout" in r.getMessage() for r in caplog.records)
    assert not any(r.levelno >= logging.WARNING for r in caplog.records)
    assert engine.search("story 2024-03 2", k=3, mode="dense")
    engine.close()
    assert_consistent(index)


def test_segment_filters_never_return_too_few_from_a_graph():
    """A graph searched for 0.1% of its vectors: scored exactly, not missed by the beam."""
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(10, 3010, dtype=np.int64)
    ann = AnnParams(exact_max=100, m=8, ef_construction=40, ef_search=16, filter_exact=2)
    segment = Segment.build("2024-05", ids, vectors, ann, hnsw=True)
    query = vectors[:1] + 0.1
    for allowed in (ids[::1000], ids[::50], ids[::3]):
        scores, got = segment.search(query / np.linalg.norm(query), 10, ann, allowed)
        assert got.size == min(10, allowed.size) and set(got.tolist()) <= set(allowed.tolist())


def test_articles_without_a_date_have_their_own_segments_and_no_date_filter_keeps_them(engine, tmp_path):
    undated = tmp_path / "undated.jsonl"
    text = " ".join(["Kolomo vatira semdu plokar."] * 40)
    undated.write_text(json.dumps({"url": "https://news.example/undated", "title": "Undated kolomo",
                                   "text": text}) + "\n", encoding="utf-8")
    assert engine.ingest([str(undated)]).count("added") == 1
    keys = [k for k in engine.store.vectors().segments if k.endswith("-undated")]
    assert len(keys) == 1 and keys[0] == datetime.now(timezone.utc).isoformat()[:7] + "-undated"
    vector = engine.embedder.embed([text])[0]
    assert any(i in engine.store.vectors().segments[keys[0]].ids for i, _ in engine.store.dense_search(vector, 3))
    for filters in (Filters(since=date(2000, 1, 1)), Filters(until=date(2100, 1, 1)),
                    Filters(since=date(2000, 1, 1), sources=("many",))):
        got = {i for i, _ in engine.store.dense_search(vector, 700, filters)}
        assert not got & set(engine.store.vectors().segments[keys[0]].ids.tolist())


def test_vectors_are_stored_as_float16_and_float32_ones_of_older_indexes_still_read(engine, index):
    import sqlite3

    store = engine.store
    chunk_id = int(store.vector_ids()[0])
    stored = store.vectors_for([chunk_id])[0]
    with sqlite3.connect(index / "index.sqlite") as conn:
        [(blob,)] = conn.execute("SELECT vector FROM chunks WHERE id=?", (chunk_id,)).fetchall()
        assert len(blob) == 2 * store.dimension  # float16
        conn.execute("UPDATE chunks SET vector=? WHERE id=?", (stored.astype("<f4").tobytes(), chunk_id))
    np.testing.assert_array_equal(store.vectors_for([chunk_id])[0], stored)


def test_small_months_are_searched_as_one_and_kept_current():
    """An archive's many small old months are searched together (one index built on the first
    search and handed on); results stay those of brute force as months change."""
    from retrieval.vectors import DEFAULT_ANN, Vectors

    rng = np.random.default_rng(4)
    months = [f"2019-{m:02d}" for m in range(1, 13)] + ["2024-01"]
    segments, every_id, every_vector, next_id = {}, [], [], 1
    for key in months:
        n = 3 if key < "2024" else 60
        vectors = rng.standard_normal((n, 16)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        ids = np.arange(next_id, next_id + n, dtype=np.int64)
        next_id += n
        segments[key] = Segment.build(key, ids, vectors, DEFAULT_ANN, hnsw=False)
        every_id.append(ids)
        every_vector.append(vectors)
    ids, vectors = np.concatenate(every_id), np.vstack(every_vector)

    def brute(query, k):
        scores = vectors.astype(np.float16).astype(np.float32) @ query
        return [int(ids[i]) for i in np.argsort(-scores, kind="stable")[:k]]

    snapshot = Vectors(16, segments, 1, DEFAULT_ANN)
    for _ in range(20):
        query = rng.standard_normal(16).astype(np.float32)
        query /= np.linalg.norm(query)
        assert [i for i, _ in snapshot.search(query, 10)] == brute(query, 10)
    combined = snapshot.small[1]
    assert combined.count == 36  # twelve old months of three (not the current one)
    # a new vector in an old month: the next snapshot searches a new combined index
    new = rng.standard_normal(16).astype(np.float32)
    new /= np.linalg.norm(new)
    changed = snapshot.changed(2, {"2019-05": (np.array([999], dtype=np.int64), new[None, :])})
    assert changed.search(new, 1)[0][0] == 999 and changed.small[1] is not combined
    untouched = changed.changed(3, {"2024-01": (np.array([1000], dtype=np.int64), new[None, :])})
    untouched.search(new, 1)
    assert untouched.small[1] is changed.small[1]  # the small months did not change
