"""The synthetic corpora of benchmarks/bench_scale.py: the real chunks of an rtqa index,
replicated to any size, and written through the product's write path.

Replica 0 is the source's articles unchanged (real vectors, real dates). Replica r ≥ 1 gets
new ids and URLs, the title plus " (edition r)", a publication date spread over the 12 months
ending with the source's newest month (so monthly partitions hold ~83k chunks each at 1M), the
same texts and chunks, and vectors = real vector + Gaussian noise of σ = NOISE per dimension,
renormalised: a copy's cosine to its original is ~0.9.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import sys
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_rtqa import git_state  # noqa: E402

from retrieval.store import DB_FILE, decode_vector  # noqa: E402
from retrieval.types import Article, Chunk  # noqa: E402

log = logging.getLogger("bench_scale")

#: Per-dimension σ of the noise added to a replica's vectors. With 384 dimensions the noise
#: has norm ≈ σ·√384 = 0.48 and is nearly orthogonal to the unit vector, so after renormalising
#: cos(copy, original) ≈ 1/√(1 + 384σ²) = 0.90; two copies of one chunk are at ≈ 0.81.
NOISE = 0.0247
#: Written into a built index folder (with the build's numbers); the index is reused when the
#: recipe in it matches.
MARKER = "bench-scale.json"


# ---------------------------------------------------------------------------- source


@dataclass
class Source:
    path: Path
    meta: dict  # the index's meta table: model, dimension, chunking, ...
    articles: list[Article]
    chunks: list[list[Chunk]]  # per article, by ordinal
    vectors: np.ndarray  # float32, every chunk in article order
    starts: list[int]  # row of each article's first chunk in ``vectors``

    @property
    def model(self) -> str:
        return self.meta["model"]


def read_only(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)


def load_source(path: Path) -> Source:
    """Articles, chunks and vectors of an index, read without writing anything."""
    from retrieval.sources import parse_date

    conn = read_only(path / DB_FILE)
    try:
        meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
        articles, chunks, vectors, starts = [], [], [], []
        by_article: dict[str, list] = {}
        for row in conn.execute("SELECT article_id, ordinal, start, end, text, vector FROM chunks ORDER BY article_id, ordinal"):
            by_article.setdefault(row[0], []).append(row)
        for aid, url, title, source, published, authors, text in conn.execute(
                "SELECT id, url, title, source, published, authors, text FROM articles ORDER BY rowid"):
            rows = by_article.get(aid)
            if not rows:
                continue
            articles.append(Article(id=aid, title=title, text=text, url=url, source=source,
                                    published=parse_date(published) if published else None,
                                    authors=tuple(json.loads(authors)), origin="bench_scale"))
            chunks.append([Chunk(aid, r[1], r[2], r[3], r[4]) for r in rows])
            starts.append(len(vectors))
            vectors.extend(decode_vector(r[5], int(meta["dimension"])) for r in rows)
    finally:
        conn.close()
    return Source(path, meta, articles, chunks, np.vstack(vectors), starts)


def months(newest: date, count: int = 12) -> list[tuple[int, int]]:
    """(year, month) of the ``count`` months ending with ``newest``'s, oldest first."""
    index = newest.year * 12 + newest.month - 1
    return [divmod(i, 12) for i in range(index - count + 1, index + 1)]


def noisy(source: Source, replica: int, seed: int) -> np.ndarray:
    """The vectors of replica ``replica``: the real ones for 0, else real + noise, renormalised."""
    if replica == 0:
        return source.vectors
    rng = np.random.default_rng([seed, replica])
    vectors = source.vectors + rng.normal(0.0, NOISE, source.vectors.shape).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def replicas(source: Source, n_chunks: int, seed: int):
    """(source article number, article, chunks, vectors) of the synthetic index of ``n_chunks``
    chunks (it stops after the article that reaches the count), deterministic for a seed."""
    newest = max((a.published for a in source.articles if a.published), default=date(2023, 1, 1))
    calendar = [(y, m + 1) for y, m in months(newest)]
    total, replica = 0, 0
    while total < n_chunks:
        vectors = noisy(source, replica, seed)
        for i, (article, chunks) in enumerate(zip(source.articles, source.chunks)):
            if total >= n_chunks:
                return
            rows = vectors[source.starts[i]: source.starts[i] + len(chunks)]
            if replica:
                year, month = calendar[(i + replica) % 12]
                day = min(article.published.day if article.published else 1 + i % 28, 28)
                new_id = f"{article.id}-r{replica}"
                article = replace(article, id=new_id, title=f"{article.title} (edition {replica})",
                                  url=f"{article.url or 'https://bench.invalid/' + article.id}#r{replica}",
                                  published=date(year, month, day))
                chunks = [replace(c, article_id=new_id) for c in chunks]
            yield i, article, chunks, rows
            total += len(chunks)
        replica += 1


def copy_cosine(source: Source, seed: int) -> float:
    """Mean cosine of a replica's vector to its original (replica 1)."""
    return float((noisy(source, 1, seed) * source.vectors).sum(1).mean())


# ---------------------------------------------------------------------------- build


def files(folder: Path) -> dict[str, int]:
    """Bytes of each file of an index folder, subfolders included (a segmented vector store
    may keep its files there); the lock and our marker left out."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in (MARKER, "write.lock")}


def recipe(source: Source, n_chunks: int, seed: int) -> dict:
    return {"source": str(source.path.resolve()), "source_chunks": len(source.vectors),
            "model": source.model, "chunks_wanted": n_chunks, "noise": NOISE, "seed": seed}


def save_lexical(folder: Path) -> float:
    """Let a writer save the lexical segments of an index built before they existed (as the
    next ingest would); returns the seconds it took."""
    from retrieval.store import Store

    started = time.perf_counter()
    store = Store.open(folder)
    try:
        with store.writing():
            pass
    finally:
        store.close()
    return round(time.perf_counter() - started, 2)


def build_index(source: Source, n_chunks: int, folder: Path, seed: int) -> dict:
    """Write the synthetic index through the product's write path, unless the same one is
    there; returns the build's numbers (from the marker when reused)."""
    from retrieval import dupes
    from retrieval.engine import FLUSH_CHUNKS
    from retrieval.store import Store

    want = recipe(source, n_chunks, seed)
    marker = folder / MARKER
    if marker.exists():
        built = json.loads(marker.read_text())
        if built.get("recipe") == want:
            log.info("reusing %s", folder)
            if "lexical_s" not in built:  # built before the lexical segments existed
                built["lexical_s"] = save_lexical(folder)
                marker.write_text(json.dumps(built, indent=1))
            return {**built, "reused": True}
    if folder.exists():
        shutil.rmtree(folder)
    # MinHash signatures of the texts, computed once per source article and not timed (the
    # engine computes one per article, ~5 ms); their rows are written, as ingest writes them.
    signatures = [dupes.signature(a.title, a.text) for a in source.articles]
    log.info("building %s (%d chunks)", folder, n_chunks)
    load_start = os.getloadavg()[0]
    started = time.perf_counter()
    store = Store.create(folder, model=source.model, dimension=int(source.meta["dimension"]),
                         chunking=source.meta.get("chunking") or {})
    batches_s, chunks_done, articles_done = 0.0, 0, 0
    pending: list = []

    def flush(writer) -> None:
        nonlocal batches_s
        t = time.perf_counter()
        with writer.batch() as batch:
            for i, article, chunks, vectors in pending:
                batch.put(article, chunks, vectors)
                batch.sign(article.id, signatures[i])
        batches_s += time.perf_counter() - t
        pending.clear()

    try:
        with store.writing() as writer:
            for item in replicas(source, n_chunks, seed):
                pending.append(item)
                chunks_done += len(item[2])
                articles_done += 1
                if sum(len(p[2]) for p in pending) >= FLUSH_CHUNKS:
                    flush(writer)
            flush(writer)
            closing = time.perf_counter()
        close_s = time.perf_counter() - closing
    finally:
        store.close()
    total_s = time.perf_counter() - started
    t = time.perf_counter()
    Store.open(folder, read_only=True).close()
    built = {
        "recipe": want,
        "chunks": chunks_done,
        "articles": articles_done,
        "replicas": -(-chunks_done // len(source.vectors)),
        "build_s": round(total_s, 2),
        "batches_s": round(batches_s, 2),
        "writing_close_s": round(close_s, 2),
        "first_open_s": round(time.perf_counter() - t, 2),
        "chunks_per_s": round(chunks_done / total_s, 1),
        "copy_cosine": round(copy_cosine(source, seed), 4),
        "load_start": round(load_start, 2),
        "load_end": round(os.getloadavg()[0], 2),
        "files": files(folder),
        "date": date.today().isoformat(),
        "commit": git_state(),
    }
    marker.write_text(json.dumps(built, indent=1))
    return {**built, "reused": False}
