"""The index folder: SQLite (articles, chunks, vectors, FTS5) + FAISS + a manifest.

Layout of ``INDEX/``::

    index.sqlite     articles, chunks (text, offsets, float32 vector), chunks_fts (FTS5), meta
    vectors.faiss    IndexIDMap2(IndexFlatIP): chunk ids → vectors; a cache rebuilt from SQLite
    manifest.json    format, model, dimension, chunking, counts, generation (mirrors ``meta``)
    write.lock       held (flock) by the one process allowed to write

SQLite is the source of truth and every batch of articles is one transaction, so an exception
or a crash mid-ingest leaves the last committed state. Each commit bumps ``generation``; the
FAISS file records the generation it was saved at, and a FAISS file that lags behind SQLite
(a crash between the commit and the save) is rebuilt from the stored vectors on load. Chunk
ids come from an AUTOINCREMENT column, so they are stable, never reused, and removable from
FAISS.

The lexical side is SQLite FTS5 (BM25 ranking, Porter stemming): it updates row by row inside
the same transaction, so adding one article to a 100k-chunk index costs one insert per chunk,
never a rebuild (bm25s would need a full re-index on every change).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.errors import IndexFormatError, IndexLockedError, IndexMissingError
from retrieval.sources import parse_date
from retrieval.types import Article, Chunk, Filters

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
DB_FILE = "index.sqlite"
VECTORS_FILE = "vectors.faiss"
MANIFEST_FILE = "manifest.json"
LOCK_FILE = "write.lock"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, url TEXT, title TEXT NOT NULL, source TEXT, published TEXT,
    authors TEXT NOT NULL DEFAULT '[]', text TEXT NOT NULL, hash TEXT NOT NULL,
    origin TEXT, added_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS articles_url ON articles(url) WHERE url IS NOT NULL;
CREATE INDEX IF NOT EXISTS articles_hash ON articles(hash);
CREATE INDEX IF NOT EXISTS articles_published ON articles(published);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, article_id TEXT NOT NULL REFERENCES articles(id),
    ordinal INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
    text TEXT NOT NULL, vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    title, body, tokenize = 'porter unicode61 remove_diacritics 2'
);
"""

#: BM25 column weights for (title, body). The title is repeated in every chunk of an article,
#: so it gets a lower weight than the passage itself.
BM25_WEIGHTS = (0.5, 1.0)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _faiss():
    import faiss

    return faiss


class Store:
    """An open index folder. Thread-safe: one lock guards SQLite and FAISS."""

    def __init__(self, path: Path, conn: sqlite3.Connection):
        self.path = path
        self._conn = conn
        self._lock = threading.RLock()
        self.meta = self._read_meta()
        self.dimension = int(self.meta["dimension"])
        self.model = self.meta["model"]
        self._vectors = None  # faiss index, loaded on first dense search
        self._vectors_generation = -1

    # ------------------------------------------------------------------ open / create

    @classmethod
    def create(cls, path: Path, *, model: str, dimension: int, chunking: dict[str, int]) -> "Store":
        path.mkdir(parents=True, exist_ok=True)
        if (path / DB_FILE).exists():
            return cls.open(path)
        tmp = path / (DB_FILE + ".tmp")
        tmp.unlink(missing_ok=True)
        conn = sqlite3.connect(tmp)
        conn.executescript(_SCHEMA)
        meta = {
            "format_version": FORMAT_VERSION,
            "model": model,
            "dimension": dimension,
            "chunking": chunking,
            "generation": 0,
            "created": _now(),
            "last_ingest": None,
        }
        conn.executemany(
            "INSERT INTO meta(key, value) VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()]
        )
        conn.commit()
        conn.close()
        os.replace(tmp, path / DB_FILE)
        store = cls.open(path)
        store._write_manifest()
        return store

    @classmethod
    def open(cls, path: Path) -> "Store":
        db = path / DB_FILE
        if not db.exists():
            raise IndexMissingError(
                f"no index at {path} (expected {db}); build one with `retriever --index {path} ingest PATH`"
            )
        conn = sqlite3.connect(db, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        store = cls(path, conn)
        store._check_manifest()
        return store

    def _read_meta(self) -> dict[str, Any]:
        try:
            rows = self._conn.execute("SELECT key, value FROM meta").fetchall()
        except sqlite3.DatabaseError as exc:
            raise IndexFormatError(f"{self.path / DB_FILE} is not a readable index ({exc})") from exc
        meta = {k: json.loads(v) for k, v in rows}
        version = meta.get("format_version")
        if version != FORMAT_VERSION:
            raise IndexFormatError(
                f"index {self.path} has format version {version}, this program reads version "
                f"{FORMAT_VERSION}; rebuild the index"
            )
        return meta

    def _check_manifest(self) -> None:
        manifest_path = self.path / MANIFEST_FILE
        if not manifest_path.exists():
            return
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise IndexFormatError(f"{manifest_path} is unreadable ({exc})") from exc
        for key in ("format_version", "model", "dimension"):
            if manifest.get(key) != self.meta.get(key):
                raise IndexFormatError(
                    f"{manifest_path} says {key}={manifest.get(key)!r} but {DB_FILE} says "
                    f"{self.meta.get(key)!r}"
                )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # ------------------------------------------------------------------ metadata

    def generation(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
            return int(json.loads(row[0]))

    def counts(self) -> tuple[int, int]:
        with self._lock:
            articles = self._conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
            chunks = self._conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
            return articles, chunks

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.iterdir() if p.is_file())

    def newest_published(self) -> date | None:
        with self._lock:
            row = self._conn.execute("SELECT MAX(published) FROM articles").fetchone()
        return parse_date(row[0]) if row and row[0] else None

    def last_ingest(self) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key='last_ingest'").fetchone()
        return json.loads(row[0]) if row else None

    # ------------------------------------------------------------------ articles

    def article_hash(self, article_id: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT hash FROM articles WHERE id=?", (article_id,)).fetchone()
        return row[0] if row else None

    def find_by_hash(self, digest: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT id FROM articles WHERE hash=?", (digest,)).fetchone()
        return row[0] if row else None

    def has_url(self, url: str) -> bool:
        with self._lock:
            return self._conn.execute("SELECT 1 FROM articles WHERE url=?", (url,)).fetchone() is not None

    def resolve(self, ref: str) -> str | None:
        """Article id for an id or URL."""
        with self._lock:
            row = self._conn.execute(
                "SELECT id FROM articles WHERE id=? OR url=?", (ref, ref)
            ).fetchone()
        return row[0] if row else None

    def article(self, article_id: str) -> Article | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT id, title, text, url, source, published, authors, origin FROM articles WHERE id=?",
                (article_id,),
            ).fetchone()
        if not row:
            return None
        return Article(
            id=row[0], title=row[1], text=row[2], url=row[3], source=row[4],
            published=parse_date(row[5]), authors=tuple(json.loads(row[6])), origin=row[7] or "",
        )

    def chunk_rows(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Chunk id → chunk and article fields, for building hits."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._lock:
            rows = self._conn.execute(
                f"""SELECT c.id, c.article_id, c.start, c.end, c.text, a.title, a.url, a.source,
                           a.published, c.ordinal
                    FROM chunks c JOIN articles a ON a.id = c.article_id WHERE c.id IN ({marks})""",
                list(map(int, ids)),
            ).fetchall()
        keys = ("chunk_id", "article_id", "start", "end", "text", "title", "url", "source",
                "published", "ordinal")
        return {r[0]: dict(zip(keys, r)) for r in rows}

    # ------------------------------------------------------------------ search

    def _filter_sql(self, filters: Filters | None) -> tuple[str, list[Any]]:
        if not filters or not filters.active:
            return "", []
        clauses, params = [], []
        if filters.since:
            clauses.append("a.published >= ?")
            params.append(filters.since.isoformat())
        if filters.until:
            clauses.append("a.published <= ?")
            params.append(filters.until.isoformat())
        if filters.sources:
            marks = ",".join("?" * len(filters.sources))
            clauses.append(f"lower(a.source) IN ({marks})")
            params.extend(s.lower() for s in filters.sources)
        return " AND " + " AND ".join(clauses), params

    def lexical_search(self, match: str, k: int, filters: Filters | None = None) -> list[tuple[int, float]]:
        """FTS5 BM25 search; scores are positive, higher is better."""
        if not match:
            return []
        where, params = self._filter_sql(filters)
        join = " JOIN chunks c ON c.id = f.rowid JOIN articles a ON a.id = c.article_id" if where else ""
        sql = (
            f"SELECT f.rowid, -bm25(chunks_fts, {BM25_WEIGHTS[0]}, {BM25_WEIGHTS[1]}) AS s "
            f"FROM chunks_fts f{join} WHERE chunks_fts MATCH ?{where} ORDER BY s DESC LIMIT ?"
        )
        with self._lock:
            rows = self._conn.execute(sql, [match, *params, k]).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]

    def document_frequency(self, term: str) -> int:
        """Chunks whose text or title holds ``term`` (after the FTS5 tokenizer's stemming)."""
        term = term.replace('"', "")
        if not term:
            return 0
        with self._lock:
            return self._conn.execute(
                "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (f'"{term}"',)
            ).fetchone()[0]

    def filtered_ids(self, filters: Filters) -> np.ndarray:
        where, params = self._filter_sql(filters)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id WHERE 1{where}",
                params,
            ).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def dense_search(
        self, vector: np.ndarray, k: int, filters: Filters | None = None
    ) -> list[tuple[int, float]]:
        """Inner product on normalised vectors (= cosine), optionally restricted by filters."""
        faiss = _faiss()
        with self._lock:
            index = self._vector_index()
            if index.ntotal == 0:
                return []
            params = None
            if filters and filters.active:
                allowed = self.filtered_ids(filters)
                if allowed.size == 0:
                    return []
                params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
            k = min(k, index.ntotal)
            scores, ids = index.search(vector.reshape(1, -1).astype(np.float32), k, params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def vectors_for(self, ids: Sequence[int]) -> np.ndarray:
        marks = ",".join("?" * len(ids))
        with self._lock:
            rows = dict(
                self._conn.execute(f"SELECT id, vector FROM chunks WHERE id IN ({marks})", list(ids))
            )
        return np.stack([np.frombuffer(rows[i], dtype=np.float32) for i in ids])

    # ------------------------------------------------------------------ FAISS cache

    def _vector_index(self):
        """The in-memory FAISS index, (re)loaded when SQLite has moved on. Caller holds the lock."""
        generation = self.generation()
        if self._vectors is not None and self._vectors_generation == generation:
            return self._vectors
        faiss = _faiss()
        path = self.path / VECTORS_FILE
        manifest = self._read_manifest_file()
        _, chunks = self.counts()
        index = None
        if path.exists() and manifest.get("vectors_generation") == generation:
            index = faiss.read_index(str(path))
            if index.d != self.dimension or index.ntotal != chunks:
                log.warning(
                    "%s holds %d vectors of dimension %d, the database %d chunks of dimension %d;"
                    " rebuilding it", path, index.ntotal, index.d, chunks, self.dimension,
                )
                index = None
        if index is None:
            index = self._rebuild_vectors()
        self._vectors, self._vectors_generation = index, generation
        return index

    def _rebuild_vectors(self):
        faiss = _faiss()
        # Inner product on L2-normalised vectors is cosine similarity; flat = exact search.
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dimension))
        cursor = self._conn.execute("SELECT id, vector FROM chunks ORDER BY id")
        while rows := cursor.fetchmany(10_000):
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
            index.add_with_ids(vectors, ids)
        return index

    def _read_manifest_file(self) -> dict[str, Any]:
        try:
            return json.loads((self.path / MANIFEST_FILE).read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def _write_manifest(self, vectors_generation: int | None = None) -> None:
        articles, chunks = self.counts()
        manifest = {
            "format_version": FORMAT_VERSION,
            "model": self.model,
            "dimension": self.dimension,
            "chunking": self.meta.get("chunking"),
            "counts": {"articles": articles, "chunks": chunks},
            "generation": self.generation(),
            "vectors_generation": self._vectors_generation if vectors_generation is None else vectors_generation,
            "last_ingest": self.last_ingest(),
        }
        _atomic_write(self.path / MANIFEST_FILE, json.dumps(manifest, indent=2).encode())

    def _save_vectors(self) -> None:
        """Write the FAISS file and the manifest. Only the in-memory copy happens under the
        lock: searches wait for a memcpy, not for the disk."""
        faiss = _faiss()
        with self._lock:
            data = faiss.serialize_index(self._vectors)
            generation = self._vectors_generation
        _atomic_write(self.path / VECTORS_FILE, data.tobytes())
        self._write_manifest(generation)

    # ------------------------------------------------------------------ writing

    @contextmanager
    def writing(self) -> Iterator["Writer"]:
        """Exclusive write session: holds ``write.lock``; saves FAISS + manifest at the end."""
        lock = _acquire_lock(self.path / LOCK_FILE)
        try:
            with self._lock:
                self._vector_index()  # bring the cache up to date before changing it
            writer = Writer(self)
            try:
                yield writer
            finally:
                if writer.committed:
                    self._save_vectors()
        finally:
            _release_lock(lock)


class Writer:
    """Batches of changes, each one SQLite transaction, applied to FAISS after the commit."""

    def __init__(self, store: Store):
        self.store = store
        self.committed = 0

    @contextmanager
    def batch(self) -> Iterator["Batch"]:
        batch = Batch()
        yield batch
        if batch.empty:
            return
        store = self.store
        with store._lock:
            conn = store._conn
            removed: list[int] = []
            added_ids: list[int] = []
            added_vectors: list[np.ndarray] = []
            try:
                conn.execute("BEGIN IMMEDIATE")
                for article_id in batch.removals:
                    removed.extend(_delete_article(conn, article_id))
                for article, chunks, vectors in batch.puts:
                    removed.extend(_delete_article(conn, article.id))
                    added_ids.extend(_insert_article(conn, article, chunks, vectors))
                    added_vectors.append(vectors)
                generation = store.generation() + 1
                conn.execute("UPDATE meta SET value=? WHERE key='generation'", (json.dumps(generation),))
                conn.execute("UPDATE meta SET value=? WHERE key='last_ingest'", (json.dumps(_now()),))
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            index = store._vectors
            if removed:
                index.remove_ids(np.asarray(removed, dtype=np.int64))
            if added_ids:
                index.add_with_ids(np.vstack(added_vectors), np.asarray(added_ids, dtype=np.int64))
            store._vectors_generation = generation
            self.committed += 1


class Batch:
    """Changes collected for one transaction."""

    def __init__(self):
        self.puts: list[tuple[Article, list[Chunk], np.ndarray]] = []
        self.removals: list[str] = []

    def put(self, article: Article, chunks: list[Chunk], vectors: np.ndarray) -> None:
        self.puts.append((article, chunks, vectors))

    def remove(self, article_id: str) -> None:
        self.removals.append(article_id)

    @property
    def empty(self) -> bool:
        return not self.puts and not self.removals


def _delete_article(conn: sqlite3.Connection, article_id: str) -> list[int]:
    ids = [r[0] for r in conn.execute("SELECT id FROM chunks WHERE article_id=?", (article_id,))]
    if ids:
        marks = ",".join("?" * len(ids))
        conn.execute(f"DELETE FROM chunks_fts WHERE rowid IN ({marks})", ids)
        conn.execute(f"DELETE FROM chunks WHERE id IN ({marks})", ids)
    conn.execute("DELETE FROM articles WHERE id=?", (article_id,))
    return ids


def _insert_article(
    conn: sqlite3.Connection, article: Article, chunks: list[Chunk], vectors: np.ndarray
) -> list[int]:
    conn.execute(
        "INSERT INTO articles(id, url, title, source, published, authors, text, hash, origin, added_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            article.id, article.url, article.title, article.source,
            article.published.isoformat() if article.published else None,
            json.dumps(list(article.authors)), article.text, article.hash, article.origin, _now(),
        ),
    )
    ids = []
    for chunk, vector in zip(chunks, vectors):
        cursor = conn.execute(
            "INSERT INTO chunks(article_id, ordinal, start, end, text, vector) VALUES (?, ?, ?, ?, ?, ?)",
            (article.id, chunk.ordinal, chunk.start, chunk.end, chunk.text,
             np.asarray(vector, dtype=np.float32).tobytes()),
        )
        ids.append(cursor.lastrowid)
        conn.execute(
            "INSERT INTO chunks_fts(rowid, title, body) VALUES (?, ?, ?)",
            (cursor.lastrowid, article.title, chunk.text),
        )
    return ids


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _acquire_lock(path: Path):
    import fcntl

    fh = open(path, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "unknown"
        fh.close()
        raise IndexLockedError(
            f"index {path.parent} is being written by another process (pid {holder}); "
            "try again when it has finished"
        ) from None
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    return fh


def _release_lock(fh) -> None:
    import fcntl

    fh.seek(0)
    fh.truncate()
    fcntl.flock(fh, fcntl.LOCK_UN)
    fh.close()


def iter_chunk_texts(store: Store) -> Iterable[tuple[int, str, str]]:
    """(chunk id, title, text) for every chunk; used by benchmarks."""
    with store._lock:
        rows = store._conn.execute(
            "SELECT c.id, a.title, c.text FROM chunks c JOIN articles a ON a.id=c.article_id ORDER BY c.id"
        ).fetchall()
    return rows
