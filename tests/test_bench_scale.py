"""benchmarks/bench_scale.py at a tiny size, so the script cannot rot: a source index of
generated articles (hash embedder), a 300-chunk replica index built through the store's write
path, and every measurement on it. Needs neither ../shared nor the real model."""

from __future__ import annotations

import sqlite3
import sys
from datetime import date

import numpy as np
import pytest

from index_support import write_corpus
from retrieval import Settings
from support import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_scale  # noqa: E402
import scale_corpus  # noqa: E402

MODEL = "hash-384"


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    from retrieval.engine import Engine

    folder = tmp_path_factory.mktemp("scale")
    corpus = write_corpus(folder / "corpus", 20, 400)
    with Engine.open(Settings(index=folder / "source", model=MODEL), create=True) as engine:
        report = engine.ingest([str(corpus)])
    assert report.chunks_added >= 40
    return scale_corpus.load_source(folder / "source")


def test_replicas_copy_the_source_with_noise_and_new_months(source):
    layout = list(scale_corpus.replicas(source, 3 * len(source.vectors) + 1, seed=1))
    n_source = len(source.vectors)
    ids = [a.id for _, a, _, _ in layout]
    assert len(ids) == len(set(ids)) and len({a.url for _, a, _, _ in layout}) == len(ids)
    chunks = sum(len(c) for _, _, c, _ in layout)
    assert 3 * n_source < chunks <= 4 * n_source  # stops after the article that reaches the count
    first = np.vstack([v for _, _, _, v in layout])[:n_source]
    assert np.array_equal(first, source.vectors)  # replica 0 is the real thing
    assert abs(scale_corpus.copy_cosine(source, seed=1) - 0.9) < 0.02
    copies = [a for _, a, _, _ in layout[len(source.articles):]]
    assert len({(a.published.year, a.published.month) for a in copies}) == 12
    for _, article, chunks, _ in layout:
        assert all(article.text[c.start:c.end] == c.text and c.article_id == article.id for c in chunks)


def test_build_and_measure_a_tiny_index(source, tmp_path):
    folder = tmp_path / "scale-300"
    built = scale_corpus.build_index(source, 300, folder, seed=1)
    assert not built["reused"] and built["chunks"] >= 300 and "index.sqlite" in built["files"]
    with sqlite3.connect(folder / "index.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] == built["chunks"]
    assert scale_corpus.build_index(source, 300, folder, seed=1)["reused"]

    questions = [(t.split(".")[0], date(2024, 3, 20)) for t in (a.text for a in source.articles[:6])]
    result = bench_scale.measure_index(folder, source, source.path, 300, questions, [1, 2], seed=1)
    product = result["product"]
    assert result["chunks"] == built["chunks"] == product["chunks"]
    assert product["recall_at_10"] == 1.0  # exact flat search today; an ANN store must stay close
    for mode in bench_scale.MODES:
        for clients in ("1", "2"):
            run = product["runs"][mode][clients]
            assert run["n"] == len(questions) and run["errors"] == 0, run["error_sample"]
    hnsw = result["anchors"]["faiss_hnsw"]["ef_search"]
    assert all(0.0 < v["recall_at_10"] <= 1.0 for v in hnsw.values())
    assert product["rss_mb"]["after_open"] > 0
    text = bench_scale.report_markdown(
        {"date": "d", "machine": "m", "commit": "c", "command": "x", "uptime": "u", "load_start": 0,
         "load_end": 0}, [{"name": "300", "build": built, **result}])
    assert "| 300 | hybrid |" in text
