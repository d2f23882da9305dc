"""The anchors of benchmarks/bench_scale.py, on the same vectors and texts as the product:
plain FAISS flat (exact: the ground truth of recall) and HNSW, and bm25s; and the measures
they share with it (percentiles, recall@10 against exact search)."""

from __future__ import annotations

import os
import time

import numpy as np

#: efSearch values of the HNSW anchor (M=32, efConstruction 40, FAISS's defaults otherwise).
EF_SEARCH = (16, 32, 64, 128)
HNSW_M = 32
#: An ANN hit counts for recall when its exact score reaches the 10th exact score minus this:
#: chunks with identical vectors (the same paragraph in two articles) tie.
TIE = 1e-5
K = 10


def pct(values: list[float]) -> dict:
    """p50/p95/max of milliseconds (nearest rank)."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered))) - 1))], 2)

    return {"n": len(ordered), "p50": at(0.50), "p95": at(0.95), "max": round(ordered[-1], 2)}


def recall(found: list[list[int]], exact_scores: np.ndarray, scores_of) -> float:
    """Mean recall@10 against exact search; a hit whose exact score ties the 10th counts."""
    total = 0.0
    for q, ids in enumerate(found):
        kth = exact_scores[q, min(K, exact_scores.shape[1]) - 1]
        total += min(K, sum(1 for s in scores_of(q, ids) if s >= kth - TIE)) / min(K, exact_scores.shape[1])
    return round(total / max(1, len(found)), 4)


def anchors(vectors: np.ndarray, qvectors: np.ndarray, texts: list[str], questions: list[str]) -> dict:
    """Plain FAISS flat and HNSW on the same vectors, bm25s on the same texts: build time and
    single-query latency (no question embedding). Also returns the exact top-10 scores."""
    import faiss

    out: dict = {}
    d = vectors.shape[1]
    # Inner product on L2-normalised vectors is cosine; flat is exact search.
    t = time.perf_counter()
    flat = faiss.IndexFlatIP(d)
    flat.add(vectors)
    out["faiss_flat"] = {"build_s": round(time.perf_counter() - t, 2)}
    k = min(K, len(vectors))
    exact_scores, exact_rows = flat.search(qvectors, k)
    out["faiss_flat"]["search_ms"] = pct(single(flat, qvectors, k))
    # FAISS runs one query's scan on every core with OpenMP; on 2 shared cores a parallel
    # region waits for a second thread to be scheduled. The same search on one thread:
    faiss.omp_set_num_threads(1)
    out["faiss_flat"]["search_ms_one_thread"] = pct(single(flat, qvectors, k))
    # Every core for the graph build: the product's searches in this thread have set it to one
    # (retrieval/vectors.py), which left a 1M-vector build on one core.
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    t = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    hnsw.add(vectors)
    out["faiss_hnsw"] = {"M": HNSW_M, "ef_construction": hnsw.hnsw.efConstruction,
                         "build_s": round(time.perf_counter() - t, 2), "ef_search": {}}
    for ef in EF_SEARCH:
        hnsw.hnsw.efSearch = ef
        _, rows = hnsw.search(qvectors, k)
        r = recall([list(x) for x in rows], exact_scores,
                   lambda q, found: [float(vectors[i] @ qvectors[q]) for i in found if i >= 0])
        out["faiss_hnsw"]["ef_search"][str(ef)] = {"recall_at_10": r, "search_ms": pct(single(hnsw, qvectors, k))}
    del hnsw
    out["bm25s"] = bm25s_anchor(texts, questions)
    return out, exact_scores, exact_rows


def single(index, qvectors: np.ndarray, k: int) -> list[float]:
    """Milliseconds of each query searched alone."""
    times = []
    for q in qvectors:
        t = time.perf_counter()
        index.search(q.reshape(1, -1), k)
        times.append((time.perf_counter() - t) * 1000)
    return times


def bm25s_anchor(texts: list[str], questions: list[str]) -> dict:
    try:
        import bm25s
        import Stemmer
    except ImportError:
        return {"skipped": "bm25s/PyStemmer not installed: pip install -e '.[bench]'"}
    from retrieval.lexical import STOPWORDS

    stemmer, stopwords = Stemmer.Stemmer("english"), list(STOPWORDS)
    t = time.perf_counter()
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords=stopwords, stemmer=stemmer, show_progress=False), show_progress=False)
    build_s = time.perf_counter() - t
    times = []
    for question in questions:
        t = time.perf_counter()
        tokens = bm25s.tokenize([question], stopwords=stopwords, stemmer=stemmer, show_progress=False)
        if tokens.vocab:  # a question of stopwords only has nothing to look up
            retriever.retrieve(tokens, k=min(K, len(texts)), show_progress=False)
        times.append((time.perf_counter() - t) * 1000)
    return {"build_s": round(build_s, 2), "search_ms": pct(times)}
