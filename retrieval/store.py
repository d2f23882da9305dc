"""The index folder: SQLite (articles, chunks, vectors, FTS5) + monthly FAISS segments + a manifest.

Layout of ``INDEX/``::

    index.sqlite       articles, chunks (text, offsets, float16 vector), chunks_fts (FTS5), meta
    vectors/YYYY-MM.faiss  one segment per month of the article's day (retrieval/vectors.py):
                       fp16 codes, a flat scan while small, an HNSW graph when large; a cache
                       rebuilt from SQLite
    lexical/LO-HI/     in indexes of ``lexical.segment_min`` chunks or more: the words' postings
                       of chunks LO..HI (retrieval/impacts.py), a cache rebuilt from SQLite
    manifest.json      format, model, dimension, chunking, counts, generation, and per segment
                       its kind, size, id checksum and tombstones (mirrors ``meta``)
    write.lock         held (flock) by the one process allowed to write

SQLite is the source of truth and every batch of articles is one transaction, so an exception
or a crash mid-ingest leaves the last committed state. Each commit bumps ``generation``; the
manifest records the generation the segment files were saved at and what each one holds. On
open, a segment file that is missing, unreadable (truncated, random bytes), other than the
manifest says, or behind SQLite (a crash between the commit and the save) is rebuilt from the
stored vectors with a warning — only that month — and saved again when the index is writable
and no writer is at work; ``.tmp`` files left by a killed writer are removed by the next one.
Chunk ids come from an AUTOINCREMENT column, so they are stable, never reused, and new ones are
always larger: a reader catches up with another process's commits by reading the chunks past
the largest id it holds.

Readers take no lock: each thread has its own SQLite connection (WAL lets them read while one
writer writes) and searches an immutable snapshot of the segments, which a commit replaces by
a new one (copy on write). Vectors are stored twice, both as float16 (768 bytes at 384
dimensions; cosines move by ~1e-3): in SQLite, the source of truth that repairs and passage
cosines read, and in the segments, what searches read. (Indexes written before hold float32
vectors in SQLite; both are read.)

An index whose folder or ``index.sqlite`` cannot be written (read-only media or mount, another
user's files) or opened with ``read_only`` serves questions without writing anything: SQLite is
opened with a ``mode=ro`` URI (plus ``immutable=1`` when no ``-shm`` file can be made next to
it), there is no WAL switch and no lock file, and a damaged segment is rebuilt in memory
only. Writing to it raises :class:`IndexReadOnlyError`.

SQLite errors that mean the file is damaged, the disk is full or failing become
:class:`IndexDamagedError` / :class:`StorageError` here, so the edges show a message.

The lexical side is SQLite FTS5 (BM25 ranking, Porter stemming): it updates row by row inside
the same transaction, so adding one article to a 100k-chunk index costs one insert per chunk,
never a rebuild (bm25s would need a full re-index on every change). FTS5 ranks a question by
scoring every row that holds one of its words, so from ``lexical.segment_min`` chunks on the
ranking reads the lexical segments instead (the same scores): the writer saves the chunks
past the last segment as a new one and merges small ones; a reader tokenizes the chunks past
the last saved segment itself, and falls back to FTS5 while there are too many of them.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.errors import (
    IndexDamagedError,
    IndexFormatError,
    IndexLockedError,
    IndexMissingError,
    IndexReadOnlyError,
    RetrievalError,
    StorageError,
)
from retrieval.dupes import PARAMS as DUPES_PARAMS
from retrieval.dupes import Signature
from retrieval.impacts import DEFAULT_LEXICAL, FOLDER as LEXICAL_FOLDER, Lexical, LexicalParams
from retrieval.impacts import Segment as LexicalSegment
from retrieval.impacts import build as build_postings
from retrieval.impacts import merge as merge_postings
from retrieval.impacts import query_tokens, saved_segments, to_merge
from retrieval.sources import parse_date
from retrieval.stores import RRF_K, Candidate, ranked_candidates
from retrieval.types import AlternativeSource, Article, Chunk, DateRange, Feed, Filters, Subscription
from retrieval.vectors import DEFAULT_ANN, UNDATED, AnnParams, Segment, Vectors, month, segment_key

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
DB_FILE = "index.sqlite"
#: The single FAISS file of indexes made before monthly segments: rebuilt into segments on
#: open and removed by the first save.
VECTORS_FILE = "vectors.faiss"
#: The folder of segment files, ``YYYY-MM.faiss``.
VECTORS_DIR = "vectors"
MANIFEST_FILE = "manifest.json"
LOCK_FILE = "write.lock"
#: Held (flock) by the one feed watcher of the index (retrieval/watch.py).
WATCH_LOCK_FILE = "watch.lock"
#: Files written as ``NAME.tmp`` and renamed into place; a leftover one is a killed writer's.
#: (Segment files are written as ``vectors/YYYY-MM.faiss.tmp``.)
TMP_FILES = tuple(name + ".tmp" for name in (DB_FILE, VECTORS_FILE, MANIFEST_FILE))

# Primary SQLite result codes (``sqlite3.Error.sqlite_errorcode & 0xFF``) that are not bugs.
_SQLITE_ERROR, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL = 1, 8, 10, 11, 13
_SQLITE_CANTOPEN, _SQLITE_NOTADB = 14, 26

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

#: The feeds the index follows (retrieval/watch.py) and their polling state. Added to indexes
#: made before it on the first ``feeds add`` (CREATE IF NOT EXISTS: nothing else changes, so
#: older indexes keep their format version and every article); until then there are no feeds.
_FEEDS_SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    url TEXT PRIMARY KEY, source TEXT, every_minutes REAL NOT NULL, added_at TEXT NOT NULL,
    next_poll TEXT NOT NULL, last_poll TEXT, last_success TEXT, last_error TEXT,
    errors INTEGER NOT NULL DEFAULT 0, articles_added INTEGER NOT NULL DEFAULT 0,
    etag TEXT, last_modified TEXT
);
"""
#: An article's day in SQL: its publication date, else the day it was added (retention, /today,
#: and the month of its vectors' segment).
_DAY = "COALESCE(published, substr(added_at, 1, 10))"
#: The segment key of a chunk's vector (``retrieval.vectors.segment_key``), for articles ``a``.
_MONTH = (f"CASE WHEN a.published IS NULL THEN substr(a.added_at, 1, 7) || '{UNDATED}' "
          "ELSE substr(a.published, 1, 7) END")
_FEED_COLUMNS = ("url", "source", "every_minutes", "added_at", "next_poll", "last_poll",
                 "last_success", "last_error", "errors", "articles_added", "etag", "last_modified")
_FEED_TIMES = ("added_at", "next_poll", "last_poll", "last_success")
#: Near-duplicate folding (issue 11, ``retrieval.dupes``), kept apart from the tables above:
#: a MinHash signature per stored article, its LSH band keys (an indexed lookup finds the
#: candidates for a new article, never a scan), and the alternative sources of a story: near
#: copies from other URLs and outlets whose text is not stored. ``article_sources.id`` is the id
#: the copy would have had as an article (from its URL), so re-ingesting it is recognised.
#: Created on open when missing, so indexes made before it gain the tables.
_FOLDING_SCHEMA = """
CREATE TABLE IF NOT EXISTS article_minhash (
    article_id TEXT PRIMARY KEY, words INTEGER NOT NULL, signature BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS article_bands (key INTEGER NOT NULL, article_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS article_bands_key ON article_bands(key);
CREATE INDEX IF NOT EXISTS article_bands_article ON article_bands(article_id);
CREATE TABLE IF NOT EXISTS article_sources (
    id TEXT PRIMARY KEY, article_id TEXT NOT NULL, url TEXT, title TEXT NOT NULL, source TEXT,
    published TEXT, hash TEXT NOT NULL, added_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS article_sources_article ON article_sources(article_id);
CREATE UNIQUE INDEX IF NOT EXISTS article_sources_url ON article_sources(url) WHERE url IS NOT NULL;
"""

#: Topic alerts (retrieval/alerts.py): the topics each chat follows, what was announced to whom
#: (an article is announced once per chat; the rows also count the alerts of the last hour),
#: and the last chunk id matched against the topics. Made by the first ``follow``, like
#: ``feeds``: older indexes keep their format; until then nobody follows anything.
_ALERTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_topics (
    chat INTEGER NOT NULL, topic TEXT NOT NULL COLLATE NOCASE, added_at TEXT NOT NULL,
    PRIMARY KEY (chat, topic)
);
CREATE TABLE IF NOT EXISTS alerts_sent (
    chat INTEGER NOT NULL, article_id TEXT NOT NULL, topic TEXT NOT NULL, sent_at TEXT NOT NULL,
    PRIMARY KEY (chat, article_id)
);
CREATE INDEX IF NOT EXISTS alerts_sent_time ON alerts_sent(chat, sent_at);
CREATE TABLE IF NOT EXISTS alert_cursor (name TEXT PRIMARY KEY, chunk_id INTEGER NOT NULL);
"""
#: The one row of ``alert_cursor``.
_CURSOR = "alerts"

#: BM25 column weights for (title, body). The title is repeated in every chunk of an article,
#: so it gets a lower weight than the passage itself.
BM25_WEIGHTS = (0.5, 1.0)


#: A writer applies its commits to the vector segments once the time since it last did is this
#: many times what that took (see Writer).
PUBLISH_FACTOR = 10.0
#: How often a reader that caught up from SQLite looks for the files the writer saved since.
MANIFEST_RECHECK_SECONDS = 5.0


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _faiss():
    import faiss

    return faiss


@dataclass(frozen=True)
class StoredSource:
    """A row of ``article_sources``: a near copy kept as another source of a story."""

    id: str  # the id the copy would have as an article (from its URL)
    story_id: str
    hash: str  # of the copy's title and text, so re-ingesting it unchanged is recognised
    source: AlternativeSource


class Store:
    """An open index folder. Thread-safe without a global lock: a SQLite connection per thread,
    an immutable snapshot of the vector segments swapped in by each commit."""

    def __init__(self, path: Path, conn: sqlite3.Connection, read_only_reason: str | None = None,
                 ann: AnnParams = DEFAULT_ANN, lexical: LexicalParams = DEFAULT_LEXICAL):
        self.path = path
        #: Why the index is not written (None when it is writable).
        self.read_only_reason = read_only_reason
        self._local = threading.local()
        self._local.conn = conn
        self._connections = [conn]
        self._connections_lock = threading.Lock()
        self.ann = ann
        self.lexical = lexical
        self._lexical: Lexical | None = None  # the lexical segments of a large index (impacts.py)
        self._lexical_lock = threading.Lock()
        self._lexical_files: dict[str, LexicalSegment] = {}  # saved segments read, by name
        self._lexical_skipped, self._lexical_checked = -1, 0.0  # FTS5 answered: when last looked
        self.meta = self._read_meta()
        self.dimension = int(self.meta["dimension"])
        self.model = self.meta["model"]
        self._dense: Vectors | None = None  # the segments, loaded on open
        #: Held while the snapshot is replaced (a refresh or a writer's swap): never by a search
        #: that finds its snapshot current.
        self._swap_lock = threading.Lock()
        #: Set while this process writes: its writer keeps the snapshot current itself.
        self._writing = False
        self._manifest_checked = 0.0
        self._counts: tuple[int, tuple[int, int]] | None = None  # (generation, counts)
        #: Whether the near-copy tables are there and current (see _open_folding).
        self.folding = False

    # ------------------------------------------------------------------ open / create

    @classmethod
    def create(
        cls,
        path: Path,
        *,
        model: str,
        dimension: int,
        chunking: dict[str, int],
        read_only: bool = False,
        ann: AnnParams = DEFAULT_ANN,
        lexical: LexicalParams = DEFAULT_LEXICAL,
    ) -> "Store":
        if (path / DB_FILE).exists():
            return cls.open(path, read_only=read_only, ann=ann, lexical=lexical)
        if read_only:
            raise IndexReadOnlyError(f"no index at {path}, and RETRIEVER_READ_ONLY is set: none is created")
        try:
            path.mkdir(parents=True, exist_ok=True)
            lock = _acquire_lock(path / LOCK_FILE)
        except OSError as exc:
            raise _os_error(exc, f"cannot create an index in {path}") from exc
        try:
            if not (path / DB_FILE).exists():  # another process may have made it meanwhile
                _create_database(path, model, dimension, chunking)
        finally:
            _release_lock(lock)
        store = cls.open(path, ann=ann, lexical=lexical)
        if not store.read_only:
            store._write_manifest()
        return store

    @classmethod
    def open(cls, path: Path, *, read_only: bool = False, ann: AnnParams = DEFAULT_ANN,
             lexical: LexicalParams = DEFAULT_LEXICAL) -> "Store":
        """Open the index at ``path``: read-only when ``read_only`` is set or the files cannot
        be written; the vector segments are loaded (and repaired when needed) before returning.
        ``ann`` says how segments are indexed and searched (see retrieval/vectors.py),
        ``lexical`` when the lexical side leaves FTS5 for segments (retrieval/impacts.py)."""
        db = path / DB_FILE
        if not db.exists():
            raise IndexMissingError(
                f"no index at {path} (expected {db}); build one with `retriever --index {path} ingest PATH`"
            )
        reason = "RETRIEVER_READ_ONLY is set" if read_only else _unwritable(db)
        try:
            conn = _connect(db, reason)
        except sqlite3.DatabaseError as exc:
            raise _sqlite_error(exc, db) or exc from exc
        try:
            store = cls(path, conn, reason, ann, lexical)
            store._open_folding()
            store._check_manifest()
            store._open_vectors()
        except BaseException:
            conn.close()
            raise
        return store

    @property
    def chunking(self) -> dict[str, int]:
        """How the index's articles were chunked (the manifest's ``chunking``)."""
        return dict(self.meta.get("chunking") or {})

    @property
    def read_only(self) -> bool:
        return self.read_only_reason is not None

    @property
    def location(self) -> str:
        """Where the index is, for messages and stats: its folder."""
        return str(self.path)

    def watching(self):
        """The feed watcher's lock of this index (see :func:`watching`)."""
        return watching(self)

    def watcher(self) -> str:
        """Who holds the watcher's lock, for messages."""
        return f"pid {lock_holder(self.path / WATCH_LOCK_FILE)}"

    def require_writable(self) -> None:
        """Raise :class:`IndexReadOnlyError` unless this index may be written."""
        if self.read_only_reason is not None:
            raise IndexReadOnlyError(
                f"index {self.path} is read-only ({self.read_only_reason}): it answers questions, "
                "but articles cannot be added or removed"
            )

    @property
    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (made on its first use): threads read in parallel."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            db = self.path / DB_FILE
            try:
                conn = _connect(db, self.read_only_reason)
            except sqlite3.DatabaseError as exc:
                raise _sqlite_error(exc, db) or exc from exc
            with self._connections_lock:
                self._connections.append(conn)
            self._local.conn = conn
        return conn

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection; a damaged file, a full disk or an I/O error becomes a
        domain error."""
        try:
            yield self._conn
        except sqlite3.DatabaseError as exc:
            error = _sqlite_error(exc, self.path / DB_FILE)
            if error is None:
                raise
            raise error from exc

    def _open_folding(self) -> None:
        """Add the folding tables to an index made before them (when it can be written);
        a read-only one without them folds nothing and cites no alternatives. Signatures made
        with other ``retrieval.dupes`` parameters are dropped (ingest recomputes them)."""
        with self._db() as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            current = "article_sources" in tables and self.meta.get("dupes") == DUPES_PARAMS
            if not current and not self.read_only:  # once per index: readers write nothing
                conn.executescript(_FOLDING_SCHEMA)
                conn.execute("DELETE FROM article_bands")
                conn.execute("DELETE FROM article_minhash")
                conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('dupes', ?)",
                             (json.dumps(DUPES_PARAMS),))
                conn.commit()
                self.meta["dupes"] = DUPES_PARAMS
                tables.add("article_sources")
        self.folding = "article_sources" in tables and self.meta.get("dupes") == DUPES_PARAMS

    def _read_meta(self) -> dict[str, Any]:
        db = self.path / DB_FILE
        try:
            with self._db() as conn:
                rows = conn.execute("SELECT key, value FROM meta").fetchall()
        except sqlite3.OperationalError as exc:
            if _sqlite_code(exc) != _SQLITE_ERROR:  # e.g. busy: not a sign of damage
                raise
            # "no such table: meta": an empty file, or some other SQLite database
            raise IndexDamagedError(f"{db} is damaged ({exc}): restore it or rebuild the index") from exc
        try:
            meta = {k: json.loads(v) for k, v in rows}
        except (TypeError, json.JSONDecodeError) as exc:
            raise IndexDamagedError(f"{db} is damaged (meta table: {exc}): restore it or rebuild the index") from exc
        version = meta.get("format_version")
        if version != FORMAT_VERSION:
            raise IndexFormatError(
                f"index {self.path} has format version {version}, this program reads version "
                f"{FORMAT_VERSION}; rebuild the index"
            )
        return meta

    def _check_manifest(self) -> None:
        """The manifest must agree with SQLite on format, model and dimension. An unreadable
        one is only a cache gone bad: it is rewritten with the vectors (see _open_vectors)."""
        manifest_path = self.path / MANIFEST_FILE
        if not manifest_path.exists():
            return
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            log.warning("%s is unreadable (%s); it is ignored, and rewritten from %s when the "
                        "index can be written", manifest_path, exc, DB_FILE)
            return
        if not isinstance(manifest, dict):
            log.warning("%s holds no JSON object; it is ignored, and rewritten from %s when the "
                        "index can be written", manifest_path, DB_FILE)
            return
        for key in ("format_version", "model", "dimension"):
            if manifest.get(key) != self.meta.get(key):
                raise IndexFormatError(
                    f"{manifest_path} says {key}={manifest.get(key)!r} but {DB_FILE} says "
                    f"{self.meta.get(key)!r}"
                )

    def close(self) -> None:
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    # ------------------------------------------------------------------ metadata

    def generation(self) -> int:
        with self._db():
            row = self._conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
            return int(json.loads(row[0]))

    def counts(self) -> tuple[int, int]:
        """(articles, chunks), counted once per generation: a COUNT scans an index (~50 ms
        at 1M chunks), and every question asks for it (IDF)."""
        generation = self.generation()
        cached = self._counts
        if cached is not None and cached[0] == generation:
            return cached[1]
        with self._db():
            articles = self._conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
            chunks = self._conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        self._counts = (generation, (articles, chunks))
        return articles, chunks

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())

    def newest_published(self) -> date | None:
        return self.published_range().newest

    def published_range(self) -> DateRange:
        """Oldest and newest publication date (None when no article has one), read from the
        index on ``articles.published``: cheap enough for every question."""
        with self._db():
            row = self._conn.execute("SELECT MIN(published), MAX(published) FROM articles").fetchone()
        oldest, newest = (parse_date(v) if v else None for v in (row or (None, None)))
        return DateRange(oldest, newest)

    def last_ingest(self) -> str | None:
        with self._db():
            row = self._conn.execute("SELECT value FROM meta WHERE key='last_ingest'").fetchone()
        return json.loads(row[0]) if row else None

    # ------------------------------------------------------------------ articles

    def article_hash(self, article_id: str) -> str | None:
        with self._db():
            row = self._conn.execute("SELECT hash FROM articles WHERE id=?", (article_id,)).fetchone()
        return row[0] if row else None

    def find_by_hash(self, digest: str) -> str | None:
        with self._db():
            row = self._conn.execute("SELECT id FROM articles WHERE hash=?", (digest,)).fetchone()
        return row[0] if row else None

    def has_url(self, url: str) -> bool:
        """Whether ``url`` is stored: as an article or as another source of a story."""
        with self._db():
            if self._conn.execute("SELECT 1 FROM articles WHERE url=?", (url,)).fetchone():
                return True
            return bool(self.folding and self._conn.execute(
                "SELECT 1 FROM article_sources WHERE url=?", (url,)).fetchone())

    # ------------------------------------------------------------------ near copies

    def near_candidates(self, signature: Signature, limit: int) -> list[tuple[str, Signature]]:
        """Stored stories sharing a band key with ``signature``, most shared bands first, at
        most ``limit``: an indexed lookup per band, whatever the size of the index."""
        if not self.folding:
            return []
        keys = signature.bands()
        marks = ",".join("?" * len(keys))
        with self._db():
            rows = self._conn.execute(
                f"""SELECT m.article_id, m.words, m.signature FROM article_minhash m JOIN (
                        SELECT article_id, COUNT(*) AS n FROM article_bands WHERE key IN ({marks})
                        GROUP BY article_id ORDER BY n DESC LIMIT ?) b ON b.article_id = m.article_id
                    ORDER BY b.n DESC""",
                [*keys, limit],
            ).fetchall()
        return [(r[0], Signature.from_bytes(r[2], r[1])) for r in rows]

    def unsigned_articles(self, limit: int) -> list[str]:
        """Ids of stored articles without a signature (indexes made before folding)."""
        if not self.folding:
            return []
        with self._db():
            rows = self._conn.execute(
                "SELECT id FROM articles WHERE id NOT IN (SELECT article_id FROM article_minhash) LIMIT ?",
                (limit,),
            ).fetchall()
        return [r[0] for r in rows]

    def alternative(self, ref: str) -> "StoredSource | None":
        """The alternative source with this id or URL."""
        if not self.folding:
            return None
        with self._db():
            row = self._conn.execute(
                "SELECT id, article_id, hash, url, source, title, published FROM article_sources "
                "WHERE id=? OR url=?", (ref, ref),
            ).fetchone()
        if row is None:
            return None
        return StoredSource(row[0], row[1], row[2], AlternativeSource(row[3], row[4], row[5], parse_date(row[6])))

    def alternatives(self, article_ids: Sequence[str]) -> dict[str, tuple[AlternativeSource, ...]]:
        """Story id → its other sources, oldest first."""
        if not self.folding or not article_ids:
            return {}
        ids = sorted(set(article_ids))
        marks = ",".join("?" * len(ids))
        found: dict[str, list[AlternativeSource]] = {}
        with self._db():
            rows = _all_rows(self._conn, "article_id, url, source, title, published, added_at, rowid",
                             f"article_sources WHERE article_id IN ({marks})", ids)
        for r in sorted(rows, key=lambda r: (r[5], r[6])):
            found.setdefault(r[0], []).append(AlternativeSource(r[1], r[2], r[3], parse_date(r[4])))
        return {k: tuple(v) for k, v in found.items()}

    def folded_sources(self) -> list[StoredSource]:
        """Every alternative source, oldest first (for a copy of the index)."""
        if not self.folding:
            return []
        with self._db():
            rows = self._conn.execute(
                "SELECT id, article_id, hash, url, source, title, published FROM article_sources "
                "ORDER BY added_at, rowid").fetchall()
        return [StoredSource(r[0], r[1], r[2], AlternativeSource(r[3], r[4], r[5], parse_date(r[6]))) for r in rows]

    def article_ids(self) -> list[str]:
        """Every article id, in the order they were stored."""
        with self._db():
            return [r[0] for r in self._conn.execute("SELECT id FROM articles ORDER BY rowid")]

    def folded_count(self) -> int:
        """Alternative sources stored (near copies not stored as articles)."""
        if not self.folding:
            return 0
        with self._db():
            return self._conn.execute("SELECT COUNT(*) FROM article_sources").fetchone()[0]

    def resolve(self, ref: str) -> str | None:
        """Article id for an id or URL."""
        with self._db():
            row = self._conn.execute(
                "SELECT id FROM articles WHERE id=? OR url=?", (ref, ref)
            ).fetchone()
        return row[0] if row else None

    def article(self, article_id: str) -> Article | None:
        with self._db():
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
        with self._db():
            rows = _all_rows(
                self._conn,
                "c.id, c.article_id, c.start, c.end, c.text, a.title, a.url, a.source, a.published, c.ordinal",
                f"chunks c JOIN articles a ON a.id = c.article_id WHERE c.id IN ({marks})",
                list(map(int, ids)),
            )
        keys = ("chunk_id", "article_id", "start", "end", "text", "title", "url", "source",
                "published", "ordinal")
        found = {r[0]: dict(zip(keys, r)) for r in rows}
        also = self.alternatives([r["article_id"] for r in found.values()])
        for row in found.values():
            row["also"] = also.get(row["article_id"], ())
        return found

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
            wanted = [s.lower() for s in filters.sources]
            if self.folding:  # a story also counts for the outlets it was folded from
                clauses.append(f"(lower(a.source) IN ({marks}) OR a.id IN (SELECT article_id FROM "
                               f"article_sources WHERE lower(source) IN ({marks})))")
                params.extend(wanted + wanted)
            else:
                clauses.append(f"lower(a.source) IN ({marks})")
                params.extend(wanted)
        return " AND " + " AND ".join(clauses), params

    def lexical_search(self, match: str, k: int, filters: Filters | None = None) -> list[tuple[int, float]]:
        """BM25 search; scores are positive, higher is better. FTS5 ranks every row that holds
        a word of ``match``; an index of ``lexical.segment_min`` chunks or more is searched
        through its lexical segments instead (each word's postings summed in numpy: see
        retrieval/impacts.py), the same scores within float16."""
        if not match:
            return []
        segments = self.lexical_segments()
        if segments is not None:
            return self._segment_search(segments, match, k, filters)
        where, params = self._filter_sql(filters)
        join = " JOIN chunks c ON c.id = f.rowid JOIN articles a ON a.id = c.article_id" if where else ""
        sql = (
            f"SELECT f.rowid, -bm25(chunks_fts, {BM25_WEIGHTS[0]}, {BM25_WEIGHTS[1]}) AS s "
            f"FROM chunks_fts f{join} WHERE chunks_fts MATCH ?{where} ORDER BY s DESC LIMIT ?"
        )
        with self._db():
            rows = self._conn.execute(sql, [match, *params, k]).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]

    def candidates(self, vector: np.ndarray, match: str, n: int, filters: Filters | None,
                   mode: str = "hybrid", rrf_k: int = RRF_K) -> list[Candidate]:
        """``n`` candidates from each side with their ranks; ``retrieval.search.rank`` fuses
        them (``rrf_k`` is for stores that fuse themselves)."""
        return ranked_candidates(self, vector, match, n, filters, mode)

    def _segment_search(self, segments: Lexical, match: str, k: int,
                        filters: Filters | None) -> list[tuple[int, float]]:
        tokens = query_tokens(match)
        if not tokens:
            return []
        allowed = np.sort(self.filtered_ids(filters)) if filters and filters.active else None
        total = self.counts()[1]
        wanted = k + 16  # chunks removed since their segment was built are dropped here
        while True:
            found = segments.search(tokens, wanted, total, allowed)
            if not found:
                return []
            marks = ",".join(str(i) for i, _ in found)
            with self._db():
                alive = {r[0] for r in _all_rows(self._conn, "id", f"chunks WHERE id IN ({marks})", ())}
            kept = [(i, score) for i, score in found if i in alive]
            if len(kept) >= k or len(found) < wanted:
                return kept[:k]
            wanted *= 4

    def lexical_segments(self) -> Lexical | None:
        """The lexical segments with the chunks past them (tokenized here), current to the
        index generation; None below ``lexical.segment_min`` chunks, or while more than
        ``lexical.reader_tail_max`` chunks are past the saved segments (FTS5 answers then)."""
        params = self.lexical
        generation = self.generation()
        current = self._lexical
        if current is not None and current.generation == generation:
            return current
        if self.counts()[1] < params.segment_min:
            return None
        if self._lexical_skipped == generation and time.monotonic() - self._lexical_checked < MANIFEST_RECHECK_SECONDS:
            return None
        with self._lexical_lock:
            current = self._lexical
            if current is not None and current.generation == generation:
                return current
            self._lexical_skipped, self._lexical_checked = generation, time.monotonic()
            segments = self._saved_lexical()
            covered = segments[-1].hi if segments else 0
            tail = [t for t in (current.tail if current else ()) if t.lo > covered]
            start = max([covered] + [t.hi for t in tail])
            past = self._chunks_between(start + 1, None)
            if past + sum(t.chunks for t in tail) > params.reader_tail_max:
                return None  # the writer has not segmented its bulk load yet
            if past and (part := self._build_lexical(start, None)):
                tail.append(part)
            if len(tail) > 8:  # many small catch-ups: one part
                tail = [merge_postings(tail, self._alive_ids)]
            self._lexical = Lexical(generation, segments, tail)
            return self._lexical

    def _saved_lexical(self) -> list[LexicalSegment]:
        """The saved lexical segments, each read once per process (its lists memory-mapped)."""
        segments = saved_segments(self.path, self._lexical_files)
        self._lexical_files = {s.name: s for s in segments}
        return segments

    def _build_lexical(self, after: int, limit: int | None) -> LexicalSegment | None:
        """A segment (in memory) of the chunks with ids past ``after`` (``limit`` of them;
        None when there are none). It covers ids up to the last it holds."""
        with self._db():
            rows = self._conn.execute(
                "SELECT c.id, a.title, c.text FROM chunks c JOIN articles a ON a.id = c.article_id "
                "WHERE c.id > ? ORDER BY c.id LIMIT ?", (after, -1 if limit is None else limit),
            ).fetchall()
        if not rows:
            return None
        postings, n = build_postings(rows, BM25_WEIGHTS)
        return LexicalSegment(after + 1, rows[-1][0], n, postings)

    def _save_lexical(self, minimum: int) -> None:
        """Writer: save the chunks past the last lexical segment as segments when there are
        ``minimum`` of them or more (``lexical.build_max`` chunks each), merging the newest
        ones while ``lexical.fan`` of them are of one size class; rewrite a segment whose
        chunks are mostly removed. Caller holds the write lock."""
        params = self.lexical
        if self.counts()[1] < params.segment_min:
            return
        folder = self.path / LEXICAL_FOLDER
        started = time.monotonic()
        segments = self._saved_lexical()
        changed = False
        for i, segment in enumerate(segments):  # mostly removed (retention): rewrite it
            if self._chunks_between(segment.lo, segment.hi) < segment.chunks / 2:
                segments[i], changed = merge_postings([segment], self._alive_ids).save(folder), True
        covered = segments[-1].hi if segments else 0
        if self._chunks_between(covered + 1, None) >= max(minimum, 1):
            for leftover in folder.glob(".tmp-*") if folder.is_dir() else ():
                shutil.rmtree(leftover, ignore_errors=True)
            while (built := self._build_lexical(covered, params.build_max)) is not None:
                segments.append(built.save(folder))
                covered, changed = built.hi, True
                while group := to_merge(segments, params):
                    merged = merge_postings(group, self._alive_ids).save(folder)
                    for old in group:
                        shutil.rmtree(old.folder, ignore_errors=True)
                    segments = segments[: -len(group)] + [merged]
        if not changed:
            return
        self._lexical_files = {s.name: s for s in segments}
        for path in folder.iterdir():  # left outside the chain (a segment was lost and rebuilt)
            if path.name not in self._lexical_files:
                shutil.rmtree(path, ignore_errors=True)
        log.info("lexical segments: %d, up to chunk %d (%.1f s)", len(segments), covered,
                 time.monotonic() - started)

    def _chunks_between(self, lo: int, hi: int | None) -> int:
        with self._db():
            return self._conn.execute("SELECT count(*) FROM chunks WHERE id BETWEEN ? AND ?",
                                      (lo, 2**63 - 1 if hi is None else hi)).fetchone()[0]

    def _save_lexical_or_warn(self, minimum: int) -> None:
        try:
            self._save_lexical(minimum)
        except OSError as exc:  # the text is in SQLite: FTS5 answers until a later write saves them
            log.warning("could not save the lexical segments in %s: %s", self.path / LEXICAL_FOLDER, exc)

    def _alive_ids(self, lo: int, hi: int) -> np.ndarray:
        with self._db():
            rows = self._conn.execute("SELECT id FROM chunks WHERE id BETWEEN ? AND ? ORDER BY id", (lo, hi)).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    #: Terms whose chunk count ``document_frequency`` keeps (a few MB); past this it starts over.
    _FREQUENCY_CACHE = 50_000

    def document_frequency(self, term: str) -> int:
        """Chunks whose text or title holds ``term`` (after the FTS5 tokenizer's stemming).

        Counted once per index generation: FTS5 counts by walking every matching row (tens of
        ms for a common word at 1M chunks), and answers ask for the same words again and again.
        An index with lexical segments reads the count from them (a word that is one token).
        """
        term = term.replace('"', "")
        if not term:
            return 0
        segments = self.lexical_segments()
        if segments is not None and len(tokens := query_tokens(f'"{term}"')) == 1:
            return segments.df(tokens[0])  # removed chunks count until their segment is rewritten
        with self._db():
            generation = self.generation()
            counts = self._frequencies.get(generation)
            if counts is None or len(counts) > self._FREQUENCY_CACHE:
                self._frequencies.clear()
                counts = self._frequencies[generation] = {}
            if term not in counts:
                counts[term] = self._conn.execute(
                    "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (f'"{term}"',)
                ).fetchone()[0]
            return counts[term]

    @cached_property
    def _frequencies(self) -> dict[int, dict[str, int]]:
        """index generation → term → chunks that hold it (only the current generation kept)."""
        return {}

    def filtered_ids(self, filters: Filters) -> np.ndarray:
        where, params = self._filter_sql(filters)
        with self._db():
            rows = self._conn.execute(
                f"SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id WHERE 1{where}",
                params,
            ).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def dense_search(
        self, vector: np.ndarray, k: int, filters: Filters | None = None
    ) -> list[tuple[int, float]]:
        """Inner product on normalised vectors (= cosine), optionally restricted by filters:
        exact in small segments, HNSW in large ones (retrieval/vectors.py)."""
        dense = self.vectors()
        if dense.ntotal == 0:
            return []
        plan = self._plan(dense, filters) if filters and filters.active else None
        if plan is not None and not plan:
            return []
        return dense.search(vector, k, plan)

    def _plan(self, dense: Vectors, filters: Filters) -> dict[str, np.ndarray | None]:
        """Segment key → the chunk ids ``filters`` keep there, or None when it keeps the whole
        month. A date range skips the months outside it without reading anything; the ids are
        read (through the index on ``published``) only for the months the range covers in
        part, or, when sources are named, for all months (a scan of ``articles``: no index on
        the outlet yet)."""
        keys = list(dense.segments)
        if filters.since or filters.until:  # articles without a date never match a date range
            first = month(filters.since.isoformat()) if filters.since else ""
            last = month(filters.until.isoformat()) if filters.until else "9999-99"
            keys = [key for key in keys if first <= key <= last and not key.endswith(UNDATED)]
        if not filters.sources:
            whole = [key for key in keys if _month_inside(key, filters)]
            partial = [key for key in keys if key not in whole]
        else:
            whole, partial = [], keys
        plan: dict[str, np.ndarray | None] = dict.fromkeys(whole)
        queries: list[Filters] = []
        if filters.sources:
            queries.append(filters)
        else:  # a month the range covers in part: its part of the range, by the published index
            for key in partial:
                start, end = _month_bounds(key)
                queries.append(Filters(since=max(filters.since or start, start),
                                       until=min(filters.until or end, end)))
        for query in queries:
            where, params = self._filter_sql(query)
            with self._db():
                rows = self._conn.execute(
                    f"SELECT c.id, {_MONTH} FROM articles a JOIN chunks c ON c.article_id = a.id "
                    f"WHERE 1{where}", params,
                ).fetchall()
            found: dict[str, list[int]] = {}
            for chunk_id, key in rows:
                found.setdefault(key, []).append(chunk_id)
            for key, ids in found.items():
                if key in partial:
                    plan[key] = np.sort(np.asarray(ids, dtype=np.int64))
        return plan

    def vectors_for(self, ids: Sequence[int]) -> np.ndarray:
        marks = ",".join("?" * len(ids))
        with self._db():
            rows = dict(
                self._conn.execute(f"SELECT id, vector FROM chunks WHERE id IN ({marks})", list(ids))
            )
        return np.stack([decode_vector(rows[i], self.dimension) for i in ids])

    # ------------------------------------------------------------------ feeds

    def _has_feeds_table(self) -> bool:
        with self._db() as conn:
            return conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='feeds'"
            ).fetchone() is not None

    def feeds(self) -> list[Feed]:
        """Every feed the index follows, by URL (none in an index that never had one)."""
        if not self._has_feeds_table():
            return []
        with self._db() as conn:
            rows = conn.execute(f"SELECT {', '.join(_FEED_COLUMNS)} FROM feeds ORDER BY url").fetchall()
        return [_feed_from_row(r) for r in rows]

    def feed(self, url: str) -> Feed | None:
        return next((f for f in self.feeds() if f.url == url), None)

    def put_feed(self, url: str, every_minutes: float, source: str | None, now: datetime) -> tuple[Feed, bool]:
        """Follow ``url`` (first poll at ``now``); a feed already followed keeps its state and
        gets the new interval and source. Returns the feed and whether it is new. Feeds are
        not articles: this is one small transaction, without the write lock or a generation."""
        self.require_writable()
        with self._db() as conn, conn:
            conn.execute(_FEEDS_SCHEMA)
            cursor = conn.execute(
                "UPDATE feeds SET every_minutes=?, source=? WHERE url=?", (every_minutes, source, url)
            )
            created = cursor.rowcount == 0
            if created:
                conn.execute(
                    "INSERT INTO feeds(url, source, every_minutes, added_at, next_poll) VALUES (?, ?, ?, ?, ?)",
                    (url, source, every_minutes, _time(now), _time(now)),
                )
        feed = self.feed(url)
        assert feed is not None
        return feed, created

    def delete_feed(self, url: str) -> Feed | None:
        """Stop following ``url``; its articles stay. None when it was not followed."""
        self.require_writable()
        feed = self.feed(url)
        if feed is not None:
            with self._db() as conn, conn:
                conn.execute("DELETE FROM feeds WHERE url=?", (url,))
        return feed

    def save_poll(self, feed: Feed, added: int = 0) -> None:
        """Record a poll: ``feed`` carries the new state, ``added`` articles are counted on top
        of the stored total. A feed removed meanwhile stays removed."""
        with self._db() as conn, conn:
            conn.execute(
                "UPDATE feeds SET next_poll=?, last_poll=?, last_success=?, last_error=?, errors=?, "
                "etag=?, last_modified=?, articles_added=articles_added+? WHERE url=?",
                (_time(feed.next_poll), _time(feed.last_poll), _time(feed.last_success),
                 feed.last_error, feed.errors, feed.etag, feed.last_modified, added, feed.url),
            )

    # ------------------------------------------------------------------ alerts

    def _has_table(self, name: str) -> bool:
        with self._db() as conn:
            return conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)
            ).fetchone() is not None

    def max_chunk_id(self) -> int:
        """The newest chunk's id (0 for none). Chunk ids are never reused, so every chunk a
        later commit adds, whichever process makes it, has a larger id."""
        with self._db() as conn:
            return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM chunks").fetchone()[0])

    def articles_after(self, chunk_id: int, up_to: int) -> list[str]:
        """Ids of the articles with a chunk id in (``chunk_id``, ``up_to``]: added or updated
        since, oldest first."""
        with self._db() as conn:
            rows = conn.execute(
                "SELECT article_id FROM chunks WHERE id > ? AND id <= ? GROUP BY article_id ORDER BY MIN(id)",
                (chunk_id, up_to),
            ).fetchall()
        return [r[0] for r in rows]

    def article_chunks(self, article_id: str) -> tuple[list[int], list[Chunk], np.ndarray]:
        """An article's chunk ids and chunks in order, and their stored (title + passage)
        vectors."""
        with self._db() as conn:
            rows = conn.execute(
                "SELECT id, ordinal, start, end, text, vector FROM chunks WHERE article_id=? ORDER BY ordinal",
                (article_id,),
            ).fetchall()
        ids = [r[0] for r in rows]
        chunks = [Chunk(article_id, r[1], r[2], r[3], r[4]) for r in rows]
        if not rows:
            return ids, chunks, np.zeros((0, self.dimension), dtype=np.float32)
        return ids, chunks, np.stack([decode_vector(r[5], self.dimension) for r in rows])

    def outlets(self, article_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """Article id → the outlets that carry it (a name, else the URL's host), the one place
        that says so: the article's own outlet, then those of the near copies folded into it
        (:meth:`alternatives`), each once."""
        if not article_ids:
            return {}
        marks = ",".join("?" * len(article_ids))
        with self._db() as conn:
            rows = conn.execute(
                f"SELECT id, source, url FROM articles WHERE id IN ({marks})", list(article_ids)
            ).fetchall()
        also = self.alternatives([r[0] for r in rows])
        out: dict[str, tuple[str, ...]] = {}
        for article_id, source, url in rows:
            names = [(source or "").strip() or _host(url)]
            names += [(a.source or "").strip() or _host(a.url) for a in also.get(article_id, ())]
            out[article_id] = tuple(dict.fromkeys(n for n in names if n))
        return out

    def articles_of_day(self, day: date) -> list[str]:
        """Ids of the articles published on ``day`` (without a date: added that day)."""
        with self._db() as conn:
            rows = conn.execute(
                f"SELECT id FROM articles WHERE {_DAY} = ? "
                "ORDER BY added_at, id",
                (day.isoformat(),),
            ).fetchall()
        return [r[0] for r in rows]

    def latest_day(self, on_or_before: date) -> date | None:
        """The newest day, not after ``on_or_before``, on which some article was published."""
        with self._db() as conn:
            row = conn.execute(
                f"SELECT MAX({_DAY}) FROM articles WHERE {_DAY} <= ?",
                (on_or_before.isoformat(),),
            ).fetchone()
        return parse_date(row[0]) if row and row[0] else None

    def subscriptions(self, chat: int | None = None) -> list[Subscription]:
        """The topics ``chat`` follows (every chat's when None), oldest first."""
        if not self._has_table("alert_topics"):
            return []
        where, params = ("WHERE chat=?", [chat]) if chat is not None else ("", [])
        with self._db() as conn:
            rows = conn.execute(
                f"SELECT chat, topic, added_at FROM alert_topics {where} ORDER BY added_at, rowid",
                params,
            ).fetchall()
        return [Subscription(r[0], r[1], datetime.fromisoformat(r[2])) for r in rows]

    def put_subscription(self, chat: int, topic: str, now: datetime) -> bool:
        """``chat`` follows ``topic`` (case-insensitive); False when it already did. The first
        subscription of an index starts matching at the newest chunk: no backlog alerts."""
        self.require_writable()
        with self._db() as conn, conn:
            conn.executescript(_ALERTS_SCHEMA)
        with self._db() as conn, conn:
            conn.execute("INSERT OR IGNORE INTO alert_cursor(name, chunk_id) "
                         "SELECT ?, COALESCE(MAX(id), 0) FROM chunks", (_CURSOR,))
            cursor = conn.execute("INSERT OR IGNORE INTO alert_topics(chat, topic, added_at) VALUES (?, ?, ?)",
                                  (chat, topic, _time(now)))
            return cursor.rowcount == 1

    def delete_subscription(self, chat: int, topic: str) -> bool:
        """``chat`` no longer follows ``topic``; False when it did not."""
        self.require_writable()
        if not self._has_table("alert_topics"):
            return False
        with self._db() as conn, conn:
            return conn.execute("DELETE FROM alert_topics WHERE chat=? AND topic=?",
                                (chat, topic)).rowcount == 1

    def alert_cursor(self) -> int | None:
        """The last chunk id matched against the topics (None before the first follow)."""
        if not self._has_table("alert_cursor"):
            return None
        with self._db() as conn:
            row = conn.execute("SELECT chunk_id FROM alert_cursor WHERE name=?", (_CURSOR,)).fetchone()
        return int(row[0]) if row else None

    def set_alert_cursor(self, chunk_id: int) -> None:
        with self._db() as conn, conn:
            conn.execute("UPDATE alert_cursor SET chunk_id=MAX(chunk_id, ?) WHERE name=?", (chunk_id, _CURSOR))

    def claim_alert(self, chat: int, article_id: str, topic: str, now: datetime,
                    per_hour: int) -> str:
        """Record that ``article_id`` is announced to ``chat``, before it is sent (a crash
        loses one alert rather than sending it twice): "claimed", "sent before" (never twice)
        or "over limit" (``per_hour`` alerts to this chat in the last hour already)."""
        with self._db() as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
                if conn.execute("SELECT 1 FROM alerts_sent WHERE chat=? AND article_id=?",
                                (chat, article_id)).fetchone():
                    conn.rollback()
                    return "sent before"
                hour_ago = _time(now - timedelta(hours=1))
                recent = conn.execute("SELECT COUNT(*) FROM alerts_sent WHERE chat=? AND sent_at > ?",
                                      (chat, hour_ago)).fetchone()[0]
                if recent >= per_hour:
                    conn.rollback()
                    return "over limit"
                conn.execute("INSERT INTO alerts_sent(chat, article_id, topic, sent_at) VALUES (?, ?, ?, ?)",
                             (chat, article_id, topic, _time(now)))
                conn.commit()
            except BaseException:
                _rollback(conn)
                raise
        return "claimed"

    # ------------------------------------------------------------------ retention

    def articles_older_than(self, cutoff: date) -> list[str]:
        """Ids of articles published before ``cutoff``; an article without a publication date
        counts from the day it was added."""
        with self._db() as conn:
            rows = conn.execute(
                f"SELECT id FROM articles WHERE {_DAY} < ?",
                (cutoff.isoformat(),),
            ).fetchall()
        return [r[0] for r in rows]

    # ------------------------------------------------------------------ vector segments

    def vectors(self) -> Vectors:
        """The current snapshot of the segments, brought up to date when another process has
        committed since (its new chunks are read from SQLite; its saved files are loaded)."""
        dense = self._dense
        if self._writing and dense is not None:
            return dense  # this process's writer swaps in each commit itself
        generation = self.generation()
        if dense is not None and dense.generation == generation and not self._files_newer(dense):
            return dense
        with self._swap_lock:
            dense, generation = self._dense, self.generation()
            if dense is None or dense.generation != generation or self._files_newer(dense):
                self._dense = dense = self._refreshed(dense, generation)
        return dense

    def vector_ids(self) -> np.ndarray:
        """Every chunk id the vector segments hold, sorted (for checks and tests)."""
        return self.vectors().ids()

    def _files_newer(self, dense: Vectors) -> bool:
        """Whether a snapshot caught up from SQLite can now be replaced by the files another
        process has saved (looked at most every few seconds)."""
        if dense.from_files or time.monotonic() - self._manifest_checked < MANIFEST_RECHECK_SECONDS:
            return False
        self._manifest_checked = time.monotonic()
        return self._read_manifest_file().get("vectors_generation") == dense.generation

    def _open_vectors(self) -> None:
        """Load the segments on open, rebuilding those that cannot be trusted. A writable index
        saves the rebuilt files and drops leftover ``.tmp`` files, unless a writer is at work
        (it does both itself); a read-only one keeps the repair in memory."""
        with self._swap_lock:
            self._dense = self._refreshed(None, self.generation(), opening=True)
        if self.read_only or (self._dense.saved and not _leftovers(self.path) and not self._stale_files()):
            return
        try:
            lock = _try_lock(self.path / LOCK_FILE)
        except OSError as exc:
            log.warning("cannot take %s to save the repaired segments (%s)", LOCK_FILE, exc)
            return
        if lock is None:
            return
        try:
            _remove_leftovers(self.path)
            self.vectors()  # a writer may have committed before we got the lock
            self._save_vectors_or_warn()
        finally:
            _release_lock(lock)

    def _refreshed(self, dense: Vectors | None, generation: int, *, opening: bool = False) -> Vectors:
        """A snapshot for ``generation``: the saved files when the manifest vouches for them
        (segments unchanged since ``dense`` are kept), else ``dense`` plus the chunks committed
        since (a reader while another process writes), else the files checked month by month
        against SQLite and the months that disagree rebuilt (on open). Caller holds _swap_lock."""
        manifest = self._read_manifest_file()
        records = _segment_records(manifest)
        if manifest.get("vectors_generation") == generation and records is not None:
            segments, problems = self._load_segments(records, dense)
            if not problems:
                return Vectors(self.dimension, segments, generation, self.ann, from_files=True,
                               small=dense.small if dense is not None else None)
            if dense is not None and not opening:
                # A writer replaced a file after this manifest was read (it saves the files,
                # then the manifest): catch up from SQLite, and load the files on a later look.
                return self._caught_up(dense, generation)
        elif dense is not None and not opening:
            return self._caught_up(dense, generation)
        else:
            segments, problems = self._load_segments(records or {}, None)
            if records is None and (self.path / VECTORS_FILE).exists():
                problems["*"] = "is in the single-file layout of older versions"
            elif manifest.get("vectors_generation") != generation and (records or generation):
                saved = manifest.get("vectors_generation")
                problems.setdefault("*", f"are behind {DB_FILE} (saved at generation {saved}, now {generation})")
        return self._repaired(segments, problems, generation, opening)

    def _load_segments(self, records: dict[str, dict], dense: Vectors | None
                       ) -> tuple[dict[str, Segment], dict[str, str]]:
        """The segment files the manifest lists, each checked against its record; segments
        of ``dense`` with the same record are reused. Returns (segments, key → problem)."""
        faiss = _faiss()
        segments: dict[str, Segment] = {}
        problems: dict[str, str] = {}
        for key, record in records.items():
            current = dense.segments.get(key) if dense is not None else None
            if current is not None and current.saved and current.record() == record:
                segments[key] = current
                continue
            path = self._segment_path(key)
            if not path.exists():
                problems[key] = "is missing"
                continue
            try:
                # Memory-mapped codes: opened at once, and their pages shared by every process
                # serving the index (a file is only ever replaced whole, never changed in place).
                index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
            except (RuntimeError, MemoryError) as exc:  # what FAISS raises for a bad file
                problems[key] = f"is unreadable ({_faiss_reason(exc)})"
                continue
            if not hasattr(index, "id_map") or index.d != self.dimension or index.ntotal != record.get("ntotal"):
                problems[key] = (f"holds {index.ntotal} vectors of dimension {index.d}, the manifest "
                                 f"{record.get('ntotal')} of dimension {self.dimension}")
                continue
            segment = Segment(key, index, frozenset(record.get("deleted") or ()), saved=True)
            if segment.record() != record:
                problems[key] = f"holds other chunk ids than {DB_FILE}"
                continue
            segments[key] = segment
        return segments, problems

    def _caught_up(self, dense: Vectors, generation: int) -> Vectors:
        """``dense`` plus the chunks another process committed since (ids past the largest
        held). Removals show when its files are saved; until then search results are read
        through SQLite, which no longer has them."""
        return dense.changed(generation, self._stored_vectors("c.id > ?", (dense.max_id,)))

    def _stored_vectors(self, where: str = "1", params: Sequence[Any] = (),
                        keys: set[str] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Segment key → (chunk ids, vectors) of the chunks SQLite holds that match ``where``
        (of those months only, when ``keys`` is given), in one pass in id order."""
        found: dict[str, tuple[list[int], list[np.ndarray]]] = {}
        with self._db() as conn:
            cursor = conn.execute(
                f"SELECT c.id, c.vector, {_MONTH} FROM chunks c JOIN articles a ON a.id = c.article_id "
                f"WHERE {where} ORDER BY c.id", params)
            while rows := cursor.fetchmany(10_000):
                for chunk_id, blob, key in rows:
                    if keys is None or key in keys:
                        ids, vectors = found.setdefault(key, ([], []))
                        ids.append(chunk_id)
                        vectors.append(decode_vector(blob, self.dimension))
        return {key: (np.asarray(ids, dtype=np.int64), np.vstack(vectors)) for key, (ids, vectors) in found.items()}

    def _repaired(self, segments: dict[str, Segment], problems: dict[str, str], generation: int,
                  opening: bool) -> Vectors:
        """Check every month against SQLite (chunk count and id sum) and rebuild from the
        stored vectors the ones that disagree, with a warning that says why."""
        with self._db() as conn:
            truth = {key: (n, total) for key, n, total in conn.execute(
                f"SELECT {_MONTH}, count(*), sum(c.id) FROM chunks c JOIN articles a ON a.id = c.article_id "
                f"GROUP BY 1")}
        stale = [key for key in truth
                 if key not in segments or (segments[key].count, segments[key].id_sum) != truth[key]]
        for key in list(segments):
            if key not in truth:
                del segments[key]  # every chunk of that month was removed
        memory = " (in memory: the index is read-only)" if self.read_only else ""
        if stale and "older versions" in problems.get("*", ""):
            log.info("%s %s; building its %d monthly segments from %s%s", self.path / VECTORS_FILE,
                     problems["*"], len(stale), DB_FILE, memory)
        elif stale:
            for key in stale:
                problem = problems.get(key) or problems.get("*") or (
                    f"holds other chunk ids than {DB_FILE}" if key in segments else "is missing")
                # On open every problem is worth a warning; later, files behind SQLite only
                # mean another process committed and has not saved yet.
                level = logging.WARNING if opening or "behind" not in problem else logging.INFO
                if problem == "is missing" and not segments and not problems:
                    level = logging.DEBUG  # nothing was ever saved (a new index)
                log.log(level, "%s %s; rebuilding it from %s%s", self._segment_path(key), problem, DB_FILE, memory)
        if stale:
            segments.update(self._rebuild_segments(stale, month(max(truth))))
        return Vectors(self.dimension, segments, generation, self.ann, from_files=not stale)

    def _rebuild_segments(self, keys: Sequence[str], newest: str) -> dict[str, Segment]:
        """Segments for the months ``keys`` from the vectors SQLite holds, in one pass
        (``newest``: the index's newest month, which stays exact longer)."""
        segments = {}
        for key, (ids, vectors) in self._stored_vectors(keys=set(keys)).items():
            limit = self.ann.exact_max if month(key) < newest else self.ann.open_exact_max
            segments[key] = Segment.build(key, ids, vectors, self.ann, hnsw=len(ids) > limit)
        return segments

    def _segment_path(self, key: str) -> Path:
        return self.path / VECTORS_DIR / f"{key}.faiss"

    def _stale_files(self) -> list[Path]:
        """Files of segments that no longer exist, and the single file of older versions."""
        dense = self._dense
        folder = self.path / VECTORS_DIR
        stale = [p for p in folder.glob("*.faiss") if dense is None or p.stem not in dense.segments] \
            if folder.is_dir() else []
        return stale + [p for p in (self.path / VECTORS_FILE,) if p.exists()]

    def _read_manifest_file(self) -> dict[str, Any]:
        try:
            manifest = json.loads((self.path / MANIFEST_FILE).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return {}
        return manifest if isinstance(manifest, dict) else {}

    def _write_manifest(self, dense: Vectors | None = None) -> None:
        dense = dense or self._dense
        articles, chunks = self.counts()
        manifest = {
            "format_version": FORMAT_VERSION,
            "model": self.model,
            "dimension": self.dimension,
            "chunking": self.meta.get("chunking"),
            "counts": {"articles": articles, "chunks": chunks},
            "generation": self.generation(),
            "vectors_generation": dense.generation if dense is not None else -1,
            "last_ingest": self.last_ingest(),
            "vectors": {
                "layout": "one segment per month of the article's day (retrieval/vectors.py)",
                "storage": "fp16",
                "ann": self.ann.record(),
                "segments": {key: s.record() for key, s in sorted(dense.segments.items())} if dense else {},
            },
        }
        path = self.path / MANIFEST_FILE
        try:
            _atomic_write(path, json.dumps(manifest, indent=2).encode())
        except OSError as exc:
            raise _os_error(exc, f"cannot write {path}") from exc

    def _save_vectors(self) -> None:
        """Seal the segments (graphs for large finished months, tombstones compacted), write
        the ones that changed, then the manifest that vouches for them, then remove the files
        of segments that are gone. Readers keep searching the previous snapshot meanwhile."""
        faiss = _faiss()
        dense = self.vectors().sealed()
        if dense is not self._dense:
            with self._swap_lock:
                self._dense = dense
        folder = self.path / VECTORS_DIR
        try:
            folder.mkdir(exist_ok=True)
            for segment in dense.segments.values():
                if not segment.saved:
                    _atomic_write(self._segment_path(segment.key), memoryview(faiss.serialize_index(segment.index)))
                    segment.saved = True
        except OSError as exc:
            raise _os_error(exc, f"cannot write {folder}") from exc
        self._write_manifest(dense)
        dense.from_files = True
        for path in self._stale_files():
            path.unlink(missing_ok=True)

    def _save_vectors_or_warn(self) -> None:
        """Save the segments where failing to is no reason to fail the command: SQLite holds
        everything, and the next open rebuilds what is missing."""
        try:
            self._save_vectors()
        except (StorageError, IndexReadOnlyError) as exc:
            log.warning("%s; the segments in %s are rebuilt from %s when the index is next opened",
                        exc, VECTORS_DIR, DB_FILE)

    # ------------------------------------------------------------------ writing

    @contextmanager
    def writing(self) -> Iterator["Writer"]:
        """Exclusive write session: holds ``write.lock``, removes a killed writer's ``.tmp``
        files, and saves the segments + manifest at the end (also after an error, when
        something was committed)."""
        self.require_writable()
        try:
            lock = _acquire_lock(self.path / LOCK_FILE)
        except OSError as exc:
            raise _os_error(exc, f"cannot take the write lock {self.path / LOCK_FILE}") from exc
        try:
            _remove_leftovers(self.path)
            self.vectors()  # bring the snapshot up to date before changing it
            self._writing = True
            writer = Writer(self)
            try:
                yield writer
                self._save_lexical_or_warn(self.lexical.build_min)  # not after an error
            finally:
                try:
                    writer.publish()
                finally:
                    self._writing = False  # readers refresh by themselves again
                if not self._dense.saved or self._dense.generation != self._saved_generation():
                    self._save_vectors_or_warn()
        finally:
            _release_lock(lock)

    def _saved_generation(self) -> Any:
        return self._read_manifest_file().get("vectors_generation")


class Writer:
    """Batches of changes, each one SQLite transaction, applied to the vector segments after
    the commit.

    Applying means a new snapshot: a copy of each segment a batch touched. A bulk load whose
    batches span a year copies twelve segments per batch, so commits are applied together,
    as soon as the time since the last application is :data:`PUBLISH_FACTOR` times what
    that one took (copies then cost at most ~1/PUBLISH_FACTOR of the write), and at the end
    of the write. Readers see a commit's vectors that much later; its text (FTS5) at once.
    """

    def __init__(self, store: Store):
        self.store = store
        self.committed = 0
        self.articles_committed = 0
        self._added: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        self._removed: list[np.ndarray] = []
        self._generation: int | None = None
        self._published_at = time.monotonic()
        self._publish_cost = 0.0

    def publish(self) -> None:
        """Swap in a snapshot with every commit applied."""
        if self._generation is None:
            return
        started = time.monotonic()
        store = self.store
        added = {key: (np.concatenate([p[0] for p in parts]), np.vstack([p[1] for p in parts]))
                 for key, parts in self._added.items()}
        removed = np.concatenate(self._removed) if self._removed else np.zeros(0, dtype=np.int64)
        dense = store._dense.changed(self._generation, added, removed)
        with store._swap_lock:  # readers see the commits from here on
            store._dense = dense
        self._added, self._removed, self._generation = {}, [], None
        self._published_at = time.monotonic()
        self._publish_cost = self._published_at - started

    def _applied(self, generation: int, added: dict[str, tuple[list[int], list[np.ndarray]]],
                 removed: list[int]) -> None:
        gone = np.asarray(removed, dtype=np.int64)
        if gone.size:  # chunks added since the last publish and removed again never reach it
            for key, parts in self._added.items():
                self._added[key] = [(ids[keep], vectors[keep]) for ids, vectors in parts
                                    if (keep := ~np.isin(ids, gone)).any()]
            self._removed.append(gone)
        for key, (ids, parts) in added.items():
            self._added.setdefault(key, []).append((np.asarray(ids, dtype=np.int64), np.vstack(parts)))
        self._generation = generation
        if time.monotonic() - self._published_at >= PUBLISH_FACTOR * self._publish_cost:
            self.publish()
            self.store._save_lexical_or_warn(self.store.lexical.build_max)  # a bulk load, as it goes

    @contextmanager
    def batch(self) -> Iterator["Batch"]:
        batch = Batch()
        yield batch
        if batch.empty:
            return
        store = self.store
        conn = store._conn
        removed: list[int] = []
        added: dict[str, tuple[list[int], list[np.ndarray]]] = {}
        added_at = _now()
        try:
            conn.execute("BEGIN IMMEDIATE")
            for article_id in batch.removals:
                removed.extend(_delete_article(conn, article_id))
                _delete_sources(conn, article_id)
            for source_id in batch.source_removals:
                conn.execute("DELETE FROM article_sources WHERE id=?", (source_id,))
            for article, chunks, vectors in batch.puts:
                removed.extend(_delete_article(conn, article.id))
                published = article.published.isoformat() if article.published else None
                ids, parts = added.setdefault(segment_key(published, added_at), ([], []))
                ids.extend(_insert_article(conn, article, chunks, vectors, added_at))
                parts.append(vectors)
            for article_id, signature in batch.signatures:
                _insert_signature(conn, article_id, signature)
            for article, story_id, digest in batch.folds:
                _insert_source(conn, article, story_id, digest)
            generation = store.generation() + 1
            conn.execute("UPDATE meta SET value=? WHERE key='generation'", (json.dumps(generation),))
            conn.execute("UPDATE meta SET value=? WHERE key='last_ingest'", (json.dumps(added_at),))
            conn.commit()
        except sqlite3.DatabaseError as exc:
            _rollback(conn)
            error = self._commit_error(exc, batch)
            if error is None:
                raise
            raise error from exc
        except BaseException:
            _rollback(conn)
            raise
        self._applied(generation, added, removed)
        self.committed += 1
        self.articles_committed += len(batch.puts)

    def _commit_error(self, exc: sqlite3.DatabaseError, batch: "Batch") -> RetrievalError | None:
        """A failed commit as a domain error that says what is kept and what to do."""
        db = self.store.path / DB_FILE
        code = _sqlite_code(exc)
        if code not in (_SQLITE_FULL, _SQLITE_IOERR):
            return _sqlite_error(exc, db)
        cause = "the disk is full" if code == _SQLITE_FULL else f"a disk I/O error ({exc})"
        what = f"{len(batch.puts)} article(s)" if batch.puts else f"{len(batch.removals)} removal(s)"
        return StorageError(
            f"could not write {db}: {cause}. This batch of {what} was rolled back; the "
            f"{self.articles_committed} article(s) this command committed before it are kept, "
            "and the index is consistent. Free some disk space and run the same command again: "
            "articles already stored are skipped."
        )


class Batch:
    """Changes collected for one transaction."""

    def __init__(self):
        self.puts: list[tuple[Article, list[Chunk], np.ndarray]] = []
        self.removals: list[str] = []
        self.signatures: list[tuple[str, Signature]] = []
        self.folds: list[tuple[Article, str, str]] = []
        self.source_removals: list[str] = []

    def put(self, article: Article, chunks: list[Chunk], vectors: np.ndarray) -> None:
        self.puts.append((article, chunks, vectors))

    def remove(self, article_id: str) -> None:
        """Delete an article; a story's alternative sources go with it."""
        self.removals.append(article_id)

    def sign(self, article_id: str, signature: Signature) -> None:
        """Record an article's MinHash signature and band keys (after its put, if any)."""
        self.signatures.append((article_id, signature))

    def fold(self, article: Article, story_id: str, *, digest: str | None = None) -> None:
        """Store ``article`` as another source of the story ``story_id``, not as an article
        (``digest``: its content hash when ``article`` lacks its text, as in a copy)."""
        self.folds.append((article, story_id, digest or article.hash))

    def remove_source(self, source_id: str) -> None:
        """Delete one alternative source; its story stays."""
        self.source_removals.append(source_id)

    @property
    def empty(self) -> bool:
        return not (self.puts or self.removals or self.signatures or self.folds or self.source_removals)


def _delete_article(conn: sqlite3.Connection, article_id: str) -> list[int]:
    ids = [r[0] for r in conn.execute("SELECT id FROM chunks WHERE article_id=?", (article_id,))]
    if ids:
        marks = ",".join("?" * len(ids))
        conn.execute(f"DELETE FROM chunks_fts WHERE rowid IN ({marks})", ids)
        conn.execute(f"DELETE FROM chunks WHERE id IN ({marks})", ids)
    conn.execute("DELETE FROM articles WHERE id=?", (article_id,))
    _delete_folding(conn, article_id)
    return ids


def _delete_folding(conn: sqlite3.Connection, article_id: str) -> None:
    """An article's signature, and the alternative source it was when it is now stored as an
    article (its text stopped being a near copy)."""
    conn.execute("DELETE FROM article_bands WHERE article_id=?", (article_id,))
    conn.execute("DELETE FROM article_minhash WHERE article_id=?", (article_id,))
    conn.execute("DELETE FROM article_sources WHERE id=?", (article_id,))


def _delete_sources(conn: sqlite3.Connection, article_id: str) -> None:
    """A removed story's alternative sources: their text was never stored, so they go too."""
    conn.execute("DELETE FROM article_sources WHERE article_id=?", (article_id,))


def _insert_signature(conn: sqlite3.Connection, article_id: str, signature: Signature) -> None:
    conn.execute("DELETE FROM article_bands WHERE article_id=?", (article_id,))
    conn.execute("INSERT OR REPLACE INTO article_minhash(article_id, words, signature) VALUES (?, ?, ?)",
                 (article_id, signature.words, signature.to_bytes()))
    conn.executemany("INSERT INTO article_bands(key, article_id) VALUES (?, ?)",
                     [(key, article_id) for key in signature.bands()])


def _insert_source(conn: sqlite3.Connection, article: Article, story_id: str, digest: str) -> None:
    if article.url:  # the URL moves from wherever it was to this story
        conn.execute("DELETE FROM article_sources WHERE url=? AND id<>?", (article.url, article.id))
    conn.execute(
        "INSERT OR REPLACE INTO article_sources(id, article_id, url, title, source, published, hash,"
        " added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (article.id, story_id, article.url, article.title, article.source,
         article.published.isoformat() if article.published else None, digest, _now()),
    )


def _insert_article(
    conn: sqlite3.Connection, article: Article, chunks: list[Chunk], vectors: np.ndarray, added_at: str
) -> list[int]:
    conn.execute(
        "INSERT INTO articles(id, url, title, source, published, authors, text, hash, origin, added_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            article.id, article.url, article.title, article.source,
            article.published.isoformat() if article.published else None,
            json.dumps(list(article.authors)), article.text, article.hash, article.origin, added_at,
        ),
    )
    ids = []
    for chunk, vector in zip(chunks, vectors):
        cursor = conn.execute(
            "INSERT INTO chunks(article_id, ordinal, start, end, text, vector) VALUES (?, ?, ?, ?, ?, ?)",
            (article.id, chunk.ordinal, chunk.start, chunk.end, chunk.text,
             encode_vector(vector)),
        )
        ids.append(cursor.lastrowid)
        conn.execute(
            "INSERT INTO chunks_fts(rowid, title, body) VALUES (?, ?, ?)",
            (cursor.lastrowid, article.title, chunk.text),
        )
    return ids


def _create_database(path: Path, model: str, dimension: int, chunking: dict[str, int]) -> None:
    """Write an empty index.sqlite (schema + meta) under a temporary name, then rename it."""
    tmp = path / (DB_FILE + ".tmp")
    tmp.unlink(missing_ok=True)
    meta = {
        "format_version": FORMAT_VERSION,
        "model": model,
        "dimension": dimension,
        "chunking": chunking,
        "generation": 0,
        "created": _now(),
        "last_ingest": None,
    }
    try:
        conn = sqlite3.connect(tmp)
        try:
            conn.executescript(_SCHEMA + _FOLDING_SCHEMA)
            conn.executescript(_FEEDS_SCHEMA)
            meta["dupes"] = DUPES_PARAMS
            conn.executemany(
                "INSERT INTO meta(key, value) VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()]
            )
            conn.commit()
            # WAL is a property of the file: set once here, so readers never have to switch it.
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()
        os.replace(tmp, path / DB_FILE)
    except sqlite3.DatabaseError as exc:
        tmp.unlink(missing_ok=True)
        raise _sqlite_error(exc, path / DB_FILE) or exc from exc
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _os_error(exc, f"cannot create {path / DB_FILE}") from exc


def _unwritable(db: Path) -> str | None:
    """Why ``db`` cannot be written here, or None. (Root passes permission checks, but not a
    read-only mount: ``access`` reports EROFS for everyone.)"""
    folder = db.parent
    if _read_only_mount(folder):
        return "on a read-only file system"
    if not os.access(folder, os.W_OK):
        return f"the folder {folder} is not writable by this user"
    if not os.access(db, os.W_OK):
        return f"{db} is not writable by this user"
    return None


def _read_only_mount(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _connect(db: Path, read_only_reason: str | None) -> sqlite3.Connection:
    if read_only_reason is None:
        conn = sqlite3.connect(db, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")  # a no-op on files made by _create_database
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn
    uri = db.resolve().as_uri()
    wal, shm = (db.with_name(db.name + suffix) for suffix in ("-wal", "-shm"))
    if os.access(db.parent, os.W_OK) or (wal.exists() and shm.exists()):
        # mode=ro still sees another process's commits; it needs a -shm file next to the
        # database, made here or left by a writer.
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False, timeout=30)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            if _sqlite_code(exc) not in (_SQLITE_CANTOPEN, _SQLITE_READONLY):
                raise
    if wal.exists() and wal.stat().st_size > 0:
        log.warning(
            "%s holds commits not yet merged into %s; they are not visible while the folder is "
            "read-only (open the index once where it can be written to merge them)", wal, db.name,
        )
    # immutable: no -wal/-shm, no locks — the only way to read where nothing can be created.
    return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, check_same_thread=False)


def encode_vector(vector: np.ndarray) -> bytes:
    """A chunk vector as stored in ``chunks.vector``: float16, little-endian (768 bytes at 384
    dimensions). Cosines move by ~1e-3 — the segments search fp16 codes anyway — and the
    vector stored twice (SQLite, the truth; the segment, what searches read) costs half."""
    return np.asarray(vector, dtype="<f2").tobytes()


def decode_vector(blob: bytes, dimension: int) -> np.ndarray:
    """A stored chunk vector as float32: float16, or float32 in indexes written before."""
    dtype = "<f2" if len(blob) == 2 * dimension else "<f4"
    return np.frombuffer(blob, dtype=dtype).astype(np.float32)


def _segment_records(manifest: dict[str, Any]) -> dict[str, dict] | None:
    """Segment key → record, from a manifest (None for a manifest without segments)."""
    records = manifest.get("vectors", {}).get("segments") if isinstance(manifest.get("vectors"), dict) else None
    if not isinstance(records, dict) or not all(isinstance(r, dict) for r in records.values()):
        return None
    return records


def _month_bounds(key: str) -> tuple[date, date]:
    """First and last day of the month ``YYYY-MM``."""
    first = date(int(key[:4]), int(key[5:7]), 1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def _month_inside(key: str, filters: Filters) -> bool:
    """Whether the date range of ``filters`` covers the whole month ``key``."""
    try:
        first, last = _month_bounds(key)
    except ValueError:  # not a YYYY-MM key (a malformed date): read its ids
        return False
    return (filters.since is None or filters.since <= first) and (filters.until is None or filters.until >= last)


def _all_rows(conn: sqlite3.Connection, columns: str, rest: str, params: Sequence[Any]) -> list[list[Any]]:
    """``SELECT columns FROM rest`` (TEXT, INTEGER and NULL columns), in no set order, as one JSON
    array built by SQLite and parsed at once. Fetching rows one by one releases and takes back
    the GIL for every row, and with several threads asking that handover costs more than the
    query: 157 candidate rows took 1.8 ms of CPU alone and 5.7 ms each with eight threads; as one
    value, 2.4 and 3.1 (docs/BENCHMARKS.md, "Concurrent questions")."""
    row = conn.execute(f"SELECT json_group_array(json_array({columns})) FROM {rest}", params).fetchone()
    return json.loads(row[0])


def _time(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat(timespec="seconds") if value else None


def _host(url: str | None) -> str:
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "") if url else ""
    return host.removeprefix("www.")


def _feed_from_row(row: Sequence[Any]) -> Feed:
    fields = dict(zip(_FEED_COLUMNS, row))
    for name in _FEED_TIMES:
        if fields[name]:
            fields[name] = datetime.fromisoformat(fields[name])
    return Feed(**fields)


def _sqlite_code(exc: sqlite3.Error) -> int:
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF


def _sqlite_error(exc: sqlite3.Error, db: Path) -> RetrievalError | None:
    """The domain error for a SQLite failure that is not a bug, or None."""
    code = _sqlite_code(exc)
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return IndexDamagedError(f"{db} is damaged ({exc}): restore it or rebuild the index")
    if code == _SQLITE_FULL:
        return StorageError(f"cannot write {db}: the disk is full ({exc}); free some disk space")
    if code == _SQLITE_IOERR:
        return StorageError(f"cannot read or write {db}: disk I/O error ({exc})")
    if code == _SQLITE_READONLY:
        return IndexReadOnlyError(f"{db} cannot be written ({exc})")
    if code == _SQLITE_CANTOPEN:
        return StorageError(f"cannot open {db} ({exc})")
    return None


def _os_error(exc: OSError, doing: str) -> RetrievalError:
    """An OSError from writing the index folder as a domain error."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageError(f"{doing}: the disk is full; free some disk space")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return IndexReadOnlyError(f"{doing}: {exc.strerror}")
    return StorageError(f"{doing}: {exc.strerror or exc}")


def _faiss_reason(exc: BaseException) -> str:
    """FAISS's message without the C++ function name and source location."""
    text = str(exc).strip() or type(exc).__name__
    text = re.sub(r"^Error in .*? at \S+:\d+: (Error: )?", "", text)
    return text[:200]


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.rollback()
    except sqlite3.OperationalError as exc:  # SQLite may have rolled back already
        log.debug("rollback: %s", exc)


def _leftovers(folder: Path) -> list[Path]:
    segments = folder / VECTORS_DIR
    tmp = sorted(segments.glob("*.tmp")) if segments.is_dir() else []
    return [folder / name for name in TMP_FILES if (folder / name).exists()] + tmp


def _remove_leftovers(folder: Path) -> None:
    """Delete files a killed writer left half-written. Caller holds the write lock."""
    for path in _leftovers(folder):
        log.info("removing %s, left by an interrupted write", path)
        path.unlink(missing_ok=True)


def _atomic_write(path: Path, data) -> None:
    """Write ``path`` completely or not at all: a temporary file, fsync, rename, fsync the
    folder. The temporary file is removed when writing fails (a disk that filled up)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _try_lock(path: Path):
    """The write lock if it is free, else None (never waits)."""
    try:
        return _acquire_lock(path)
    except IndexLockedError:
        return None


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
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
    except OSError:
        fh.close()  # closing releases the flock
        raise
    return fh


def _release_lock(fh) -> None:
    import fcntl

    fh.seek(0)
    fh.truncate()
    fcntl.flock(fh, fcntl.LOCK_UN)
    fh.close()


@contextmanager
def watching(store: Store) -> Iterator[bool]:
    """Hold the index's ``watch.lock`` for a round of polling: yields True when this process is
    its one watcher, False (at once, without waiting) when another process holds the lock."""
    store.require_writable()
    try:
        lock = _try_lock(store.path / WATCH_LOCK_FILE)
    except OSError as exc:
        raise _os_error(exc, f"cannot take the watch lock {store.path / WATCH_LOCK_FILE}") from exc
    try:
        yield lock is not None
    finally:
        if lock is not None:
            _release_lock(lock)


def lock_holder(path: Path) -> str:
    """The pid written in a lock file, or "unknown"."""
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def iter_chunk_texts(store: Store) -> Iterable[tuple[int, str, str]]:
    """(chunk id, title, text) for every chunk; used by benchmarks."""
    with store._db():
        rows = store._conn.execute(
            "SELECT c.id, a.title, c.text FROM chunks c JOIN articles a ON a.id=c.article_id ORDER BY c.id"
        ).fetchall()
    return rows
