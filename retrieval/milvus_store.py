"""The index on a Milvus server (``RETRIEVER_STORE=milvus``): the same interface as the
embedded folder (:class:`retrieval.stores.IndexStore`), so any number of stateless bot and CLI
processes, on any machines, serve one index.

Collections, named after the prefix ``P`` (``RETRIEVER_MILVUS_COLLECTION``)::

    P_meta      the manifest, key → JSON value: format version, model, dimension, chunking,
                analyzer, near-copy parameters, generation, last ingest, the next chunk id,
                the newest chunk id, the oldest and newest publication dates
    P_chunks    one row per chunk: ``id`` (INT64, ours: increasing, never reused), article id,
                ordinal, offsets, text; ``lexical`` (title + passage, analyzed) which feeds a
                server-side BM25 function into ``sparse``; ``vector`` (FLOAT_VECTOR, inner
                product on normalised vectors = cosine); ``day`` (the publication date as
                YYYYMMDD, 0 without one) and ``source_key`` (the outlet, lower-cased) for
                filters; the article fields a hit shows (title, url, source, published),
                copied from the article so a hit needs no second query
    P_articles  one row per article: metadata, hash, ``day`` (published, else the day added,
                as YYYYMMDD: retention and the digest), the first TEXT_PART characters of the
                text (``parts`` rows in all), the MinHash signature and its LSH band keys (an
                ARRAY: ``array_contains_any`` finds the candidates of a new article)
    P_texts     the rest of long articles' text, TEXT_PART characters a row
    P_sources   alternative sources of a story (near copies folded into it, text not kept)
    P_feeds     the feeds the index follows and their polling state (retrieval/watch.py)
    P_topics    the topics each chat follows; P_alerts: what was announced to whom
                (retrieval/alerts.py); the alert cursor and the watcher's lease are in P_meta

Milvus loads only collections with a vector field, so all but ``P_chunks`` carry a
2-dimensional placeholder vector (``_v``, always (1, 0)).

Consistency: every collection is made, and every read is made, at ``Strong`` consistency:
a read waits until the server has applied every write acknowledged before it. The CLI
depends on it (``retriever ingest`` then ``retriever ask`` in another process must find the
new articles; an ingest's hash checks must see its own earlier batches). ``Bounded`` would
save the wait on a busy cluster, at the price of a question missing the last seconds' writes.

Writes: Milvus has no transactions, so a batch is written in an order that leaves every
crash repairable by running the same command again: ids are reserved in ``P_meta`` before
chunks are inserted (a crash wastes ids, never reuses them); an article's old chunks are
deleted, its new chunks inserted, and only then is its row written (a row present means its
chunks are complete: re-ingesting skips it only then); the generation is bumped last. A
crash between two of those steps can leave chunks of an article without its row: searches
may find them until the same ingest runs again, which deletes and rewrites them.

One process writes at a time (an ingest, the watcher, the bot's /add): a write session holds
a lease in ``P_meta`` (see ``_take_write_lease``), and within a process writes queue.

Fusion: :meth:`MilvusStore.candidates` sends the dense and the BM25 request in one
``hybrid_search`` with an RRF ranker (k = 60, unweighted); the product adds the recency prior
and runs the answer stage on the fused candidates (retrieval/search.py), so ``Hit`` and
``Answer`` are the same types as on the embedded store.

Modules: the collections' fields and rows are in :mod:`retrieval.milvus_schema`; connecting,
and failures as domain errors, in :mod:`retrieval.milvus_client`.

milvus-lite (the pure-Python Milvus that ``RETRIEVER_MILVUS_URI=path.db`` runs in-process)
differs from a real Milvus where it shows here: it refuses the ``english`` analyzer (use
``RETRIEVER_MILVUS_ANALYZER=standard``), its BM25 uses k1 = 1.5 and per-segment IDF, it
ignores index parameters, it returns hybrid scores as negative distances (the RRF score is
read as an absolute value) and it does not load collections after a restart (every
collection is loaded on open, which a real Milvus needs after a release too).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.dupes import PARAMS as DUPES_PARAMS
from retrieval.dupes import Signature
from retrieval.errors import IndexFormatError, IndexLockedError, IndexReadOnlyError, ModelMismatchError
from retrieval.milvus_client import TIMEOUT, call, connect, ints, load_pymilvus, quote, strings
from retrieval.milvus_schema import (
    ARTICLE_FIELDS,
    ARTICLE_ROW,
    CONSISTENCY,
    FEED_FIELDS,
    HIT_FIELDS,
    LATER,
    PLACEHOLDER,
    SCHEMAS,
    SOURCE_FIELDS,
    TEXT_PART,
    alternative_source,
    article_row,
    check_sizes,
    chunk_row,
    create_collections,
    day_number,
    feed_from_row,
    feed_row,
    hit_row,
    iso_time,
    utc_now,
    signed,
    source_row,
)
from retrieval.sources import parse_date
from retrieval.store import FORMAT_VERSION, Batch, StoredSource, _host
from retrieval.stores import RRF_K, Candidate, ranked_candidates
from retrieval.types import AlternativeSource, Article, Chunk, DateRange, Feed, Filters, Subscription

log = logging.getLogger(__name__)

#: Rows per page when a query may return more than QUERY_MAX, the most one query returns.
PAGE = 1000
QUERY_MAX = 16_384
#: Rows a near-copy lookup reads, at most: a template-like article shares bands with many.
NEAR_SCAN = 1000
#: Days walked back, one count each, before :meth:`MilvusStore.latest_day` scans instead.
LATEST_DAY_WALK = 14
#: Seconds a feed watcher's lease lasts unless renewed: taken at the start of a round of
#: polling, renewed after each feed polled (one feed takes at most RETRIEVER_FEED_BUDGET, 300 s
#: by default), let go at the end; a watcher killed mid-round leaves it to lapse.
WATCH_LEASE = 15 * 60
#: Seconds a writer's lease lasts unless renewed: taken when a write session starts, renewed
#: by every batch it commits (an ingest embeds one batch of up to 2,048 chunks between two
#: commits: about a minute on 2 cores), let go at its end; a writer killed mid-session leaves
#: it to lapse.
WRITE_LEASE = 10 * 60
#: Seconds between taking a lease and reading it back: two processes that took it in the same
#: instant (Milvus has no compare-and-set) find the one whose write landed last.
LEASE_SETTLE = 0.2
#: This process, as a lease holder.
_OWNER = f"pid {os.getpid()} on {socket.gethostname()}"


def _from_day(value: int) -> date | None:
    return date(value // 10_000, value // 100 % 100, value % 100) if value else None


def _words(match: str) -> str:
    """The words of an FTS5 expression (``"a" OR "b"``, retrieval/lexical.py) as the plain
    text a BM25 function analyzes."""
    return " ".join(re.findall(r'"([^"]*)"', match)) if '"' in match else match


class MilvusStore:
    """An index in Milvus collections. Thread-safe: pymilvus clients are, and the caches
    here are replaced whole."""

    def __init__(self, settings, client, meta: dict[str, Any]):
        self.settings = settings
        self.uri = settings.milvus_uri
        self.prefix = settings.milvus_collection
        self._client = client
        self.meta = meta
        self.model: str = meta["model"]
        self.dimension: int = int(meta["dimension"])
        self.read_only_reason: str | None = "RETRIEVER_READ_ONLY is set" if settings.read_only else None
        self.folding = meta.get("dupes") == DUPES_PARAMS
        self._write_lock = threading.Lock()
        self._counts: tuple[int, tuple[int, int]] | None = None
        self._frequencies: dict[int, dict[str, int]] = {}
        self._watching = False  # this process holds the watcher's lease (see watching)
        #: The server is milvus-lite (it answers some queries differently: see document_frequency).
        self.lite = False

    # ------------------------------------------------------------------ names

    def _name(self, kind: str) -> str:
        return f"{self.prefix}_{kind}"

    @property
    def location(self) -> str:
        return f"Milvus collection {self.prefix!r} at {self.uri}"

    # ------------------------------------------------------------------ open / create

    @classmethod
    def find(cls, settings) -> "MilvusStore | None":
        """The index under ``settings.milvus_collection``, opened and loaded; None when its
        collections do not exist (or the local ``.db`` folder does not)."""
        if settings.milvus_uri.endswith(".db") and not Path(settings.milvus_uri).expanduser().is_dir():
            return None
        client = connect(settings)
        try:
            store = cls._open(settings, client)
        except BaseException:
            client.close()
            raise
        if store is None:
            client.close()
        return store

    @classmethod
    def create(cls, settings, *, model: str, dimension: int, chunking: dict[str, int]) -> "MilvusStore":
        """The index, made empty when its collections are missing; an existing one is opened
        and must have been built with ``model`` at ``dimension`` (else ModelMismatchError)."""
        client = connect(settings, create=not settings.read_only)
        try:
            store = cls._open(settings, client)
            if store is None:
                if settings.read_only:
                    raise IndexReadOnlyError(
                        f"no index in Milvus collection {settings.milvus_collection!r}, and "
                        "RETRIEVER_READ_ONLY is set: none is created")
                create_collections(client, settings, model, dimension, chunking)
                store = cls._open(settings, client)
                assert store is not None
            elif store.model != model or store.dimension != dimension:
                raise ModelMismatchError(
                    f"{store.location} was built with model {store.model!r} ({store.dimension} "
                    f"dimensions), but the configured model is {model!r} ({dimension} dimensions); "
                    f"use --model {store.model!r} (RETRIEVER_MODEL) or another "
                    "RETRIEVER_MILVUS_COLLECTION")
        except BaseException:
            client.close()
            raise
        return store

    @classmethod
    def _open(cls, settings, client) -> "MilvusStore | None":
        prefix = settings.milvus_collection
        names = [f"{prefix}_{kind}" for kind in SCHEMAS]
        present = call(settings, "list the collections", client.list_collections)
        if f"{prefix}_meta" not in present:
            return None
        missing = [kind for kind in SCHEMAS if f"{prefix}_{kind}" not in present]
        if missing and set(missing) <= set(LATER) and not settings.read_only:
            log.info("adding %s to Milvus collection %r", ", ".join(missing), prefix)
            create_collections(client, settings, "", 0, {}, kinds=tuple(missing))
        elif missing and set(missing) <= set(LATER):
            raise IndexFormatError(
                f"Milvus collection {prefix!r} at {settings.milvus_uri} was made by an older version "
                f"without {', '.join(missing)}; open it once without RETRIEVER_READ_ONLY to add them")
        elif missing:
            raise IndexFormatError(
                f"Milvus collection {prefix!r} at {settings.milvus_uri} is incomplete: "
                f"{', '.join(prefix + '_' + kind for kind in missing)} missing; drop the other "
                "collections of that prefix and ingest again")
        for name in names:  # a collection is not loaded after a restart or a release
            call(settings, f"load {name}", client.load_collection, name, timeout=TIMEOUT)
        rows = call(settings, f"read {prefix}_meta", client.query, f"{prefix}_meta",
                    filter='key != ""', output_fields=["key", "value"], limit=PAGE,
                    consistency_level=CONSISTENCY, timeout=TIMEOUT)
        meta = {r["key"]: json.loads(r["value"]) for r in rows}
        if meta.get("format_version") != FORMAT_VERSION:
            raise IndexFormatError(
                f"Milvus collection {prefix!r} has format version {meta.get('format_version')}, "
                f"this program reads version {FORMAT_VERSION}; rebuild the index")
        store = cls(settings, client, meta)
        version = call(settings, "ask the server's version", client.get_server_version, timeout=TIMEOUT)
        store.lite = str(version).startswith("milvus_lite")
        vector = call(settings, "describe the chunks", client.describe_collection, f"{prefix}_chunks")
        dims = [f.get("params", {}).get("dim") for f in vector["fields"] if f["name"] == "vector"]
        if dims and int(dims[0]) != store.dimension:
            raise IndexFormatError(
                f"{store.location}: the manifest says {store.dimension} dimensions but the "
                f"vector field has {dims[0]}; rebuild the index")
        return store

    @property
    def chunking(self) -> dict[str, int]:
        return dict(self.meta.get("chunking") or {})

    @property
    def read_only(self) -> bool:
        return self.read_only_reason is not None

    def require_writable(self) -> None:
        if self.read_only_reason is not None:
            raise IndexReadOnlyError(
                f"{self.location} is read-only ({self.read_only_reason}): it answers questions, "
                "but articles cannot be added or removed")

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------ calls

    def _do(self, what: str, method: str, *args, **kwargs):
        return call(self.settings, what, getattr(self._client, method), *args, timeout=TIMEOUT, **kwargs)

    def _query(self, kind: str, filter: str, fields: list[str], limit: int | None = None) -> list[dict]:
        """Rows of ``P_kind`` matching ``filter``: at most ``limit``, or every one (read in
        pages by a query iterator: one query returns at most 16,384 rows)."""
        name = self._name(kind)
        rows = self._do(f"read {name}", "query", name, filter=filter, output_fields=fields,
                        limit=min(limit or QUERY_MAX, QUERY_MAX), consistency_level=CONSISTENCY)
        if len(rows) < QUERY_MAX or (limit is not None and limit <= QUERY_MAX):
            return rows  # everything there is (most queries), or all that was asked for
        iterator = self._do(f"read {name}", "query_iterator", name, batch_size=PAGE,
                            filter=filter, output_fields=fields, consistency_level=CONSISTENCY,
                            **({} if limit is None else {"limit": limit}))
        out: list[dict] = []
        try:
            while rows := call(self.settings, f"read {name}", iterator.next):
                out.extend(rows)
        finally:
            iterator.close()
        return out

    def _count(self, kind: str, filter: str = "") -> int:
        rows = self._do(f"count {self._name(kind)}", "query", self._name(kind), filter=filter,
                        output_fields=["count(*)"], consistency_level=CONSISTENCY)
        return int(rows[0]["count(*)"]) if rows else 0

    def _read_meta(self) -> dict[str, Any]:
        rows = self._query("meta", 'key != ""', ["key", "value"], PAGE)
        return {r["key"]: json.loads(r["value"]) for r in rows}

    def _meta_value(self, key: str) -> Any:
        rows = self._query("meta", f"key == {quote(key)}", ["value"], 1)
        return json.loads(rows[0]["value"]) if rows else None

    def _put_meta(self, values: dict[str, Any]) -> None:
        self._do(f"write {self._name('meta')}", "upsert", self._name("meta"),
                 [{"key": k, "value": json.dumps(v), "_v": PLACEHOLDER} for k, v in values.items()])

    # ------------------------------------------------------------------ metadata

    def generation(self) -> int:
        return int(self._meta_value("generation") or 0)

    def counts(self) -> tuple[int, int]:
        """(articles, chunks), counted once per generation."""
        generation = self.generation()
        cached = self._counts
        if cached is not None and cached[0] == generation:
            return cached[1]
        counts = (self._count("articles"), self._count("chunks"))
        self._counts = (generation, counts)
        return counts

    def size_bytes(self) -> int | None:
        """None: the bytes are the server's (its object storage and memory), which a client
        does not see."""
        return None

    def published_range(self) -> DateRange:
        value = self._meta_value("published") or [0, 0]
        return DateRange(_from_day(value[0]), _from_day(value[1]))

    def newest_published(self) -> date | None:
        return self.published_range().newest

    def last_ingest(self) -> str | None:
        return self._meta_value("last_ingest")

    def max_chunk_id(self) -> int:
        """The newest chunk's id (0 for none); never decreases, even when it is removed."""
        return int(self._meta_value("max_chunk_id") or 0)

    # ------------------------------------------------------------------ articles

    def article_hash(self, article_id: str) -> str | None:
        rows = self._query("articles", f"id == {quote(article_id)}", ["hash"], 1)
        return rows[0]["hash"] if rows else None

    def find_by_hash(self, digest: str) -> str | None:
        rows = self._query("articles", f"hash == {quote(digest)}", ["id"], 1)
        return rows[0]["id"] if rows else None

    def has_url(self, url: str) -> bool:
        if self._query("articles", f"url == {quote(url)}", ["id"], 1):
            return True
        return bool(self.folding and self._query("sources", f"url == {quote(url)}", ["id"], 1))

    def resolve(self, ref: str) -> str | None:
        rows = self._query("articles", f"id == {quote(ref)} or url == {quote(ref)}", ["id"], 1)
        return rows[0]["id"] if rows else None

    def article(self, article_id: str) -> Article | None:
        rows = self._query("articles", f"id == {quote(article_id)}", ARTICLE_FIELDS, 1)
        if not rows:
            return None
        row = rows[0]
        text = row["text"]
        if row["parts"] > 1:
            parts = self._query("texts", f"article_id == {quote(article_id)}", ["part", "text"])
            text += "".join(p["text"] for p in sorted(parts, key=lambda p: p["part"]))
        return Article(
            id=row["id"], title=row["title"], text=text, url=row["url"] or None,
            source=row["source"] or None, published=parse_date(row["published"] or None),
            authors=tuple(json.loads(row["authors"])), origin=row["origin"],
        )

    def article_chunks(self, article_id: str) -> tuple[list[int], list[Chunk], np.ndarray]:
        rows = self._query("chunks", f"article_id == {quote(article_id)}",
                           ["id", "ordinal", "start", "end", "text", "vector"])
        rows.sort(key=lambda r: r["ordinal"])
        ids = [int(r["id"]) for r in rows]
        chunks = [Chunk(article_id, r["ordinal"], r["start"], r["end"], r["text"]) for r in rows]
        if not rows:
            return ids, chunks, np.zeros((0, self.dimension), dtype=np.float32)
        return ids, chunks, np.asarray([r["vector"] for r in rows], dtype=np.float32)

    def outlets(self, article_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        if not article_ids:
            return {}
        rows = self._query("articles", f"id in {strings(list(article_ids))}", ["id", "source", "url"],
                           len(article_ids))
        also = self.alternatives([r["id"] for r in rows])
        out: dict[str, tuple[str, ...]] = {}
        for row in rows:
            names = [(row["source"] or "").strip() or _host(row["url"] or None)]
            names += [(a.source or "").strip() or _host(a.url) for a in also.get(row["id"], ())]
            out[row["id"]] = tuple(dict.fromkeys(n for n in names if n))
        return out

    def articles_of_day(self, day: date) -> list[str]:
        rows = self._query("articles", f"day == {day_number(day)}", ["id", "added_at"])
        return [r["id"] for r in sorted(rows, key=lambda r: (r["added_at"], r["id"]))]

    def latest_day(self, on_or_before: date) -> date | None:
        """The newest day, not after ``on_or_before``, with an article: a count per day for
        the last LATEST_DAY_WALK days (news comes daily), else one scan."""
        for back in range(LATEST_DAY_WALK):
            day = on_or_before - timedelta(days=back)
            if self._query("articles", f"day == {day_number(day)}", ["id"], 1):
                return day
        rows = self._query("articles", f"day > 0 and day <= {day_number(on_or_before)}", ["day"])
        return _from_day(max(r["day"] for r in rows)) if rows else None

    def articles_older_than(self, cutoff: date) -> list[str]:
        return [r["id"] for r in self._query("articles", f"day < {day_number(cutoff)}", ["id"])]

    def articles_after(self, chunk_id: int, up_to: int) -> list[str]:
        rows = self._query("chunks", f"id > {int(chunk_id)} and id <= {int(up_to)}", ["id", "article_id"])
        first: dict[str, int] = {}
        for row in rows:
            first[row["article_id"]] = min(first.get(row["article_id"], row["id"]), row["id"])
        return sorted(first, key=first.__getitem__)

    # ------------------------------------------------------------------ near copies

    def near_candidates(self, signature: Signature, limit: int) -> list[tuple[str, Signature]]:
        if not self.folding:
            return []
        keys = signature.bands()
        rows = self._query("articles", f"array_contains_any(bands, {ints(keys)})",
                           ["id", "words", "signature", "bands"], NEAR_SCAN)
        wanted = set(keys)
        shared = sorted(rows, key=lambda r: -len(wanted.intersection(r["bands"])))[:limit]
        return [(r["id"], Signature.from_bytes(base64.b64decode(r["signature"]), r["words"])) for r in shared]

    def unsigned_articles(self, limit: int) -> list[str]:
        if not self.folding:
            return []
        return [r["id"] for r in self._query("articles", "signed == false", ["id"], limit)]

    def alternative(self, ref: str) -> StoredSource | None:
        if not self.folding:
            return None
        rows = self._query("sources", f"id == {quote(ref)} or url == {quote(ref)}", SOURCE_FIELDS, 1)
        if not rows:
            return None
        r = rows[0]
        return StoredSource(r["id"], r["article_id"], r["hash"], alternative_source(r))

    def alternatives(self, article_ids: Sequence[str]) -> dict[str, tuple[AlternativeSource, ...]]:
        if not self.folding or not article_ids:
            return {}
        rows = self._query("sources", f"article_id in {strings(sorted(set(article_ids)))}", SOURCE_FIELDS)
        found: dict[str, list[AlternativeSource]] = {}
        for r in sorted(rows, key=lambda r: (r["added_at"], r["seq"])):
            found.setdefault(r["article_id"], []).append(alternative_source(r))
        return {k: tuple(v) for k, v in found.items()}

    def folded_count(self) -> int:
        return self._count("sources") if self.folding else 0

    def folded_sources(self) -> list[StoredSource]:
        """Every alternative source, oldest first (for a copy of the index)."""
        if not self.folding:
            return []
        rows = self._query("sources", 'id != ""', SOURCE_FIELDS)
        return [StoredSource(r["id"], r["article_id"], r["hash"], alternative_source(r))
                for r in sorted(rows, key=lambda r: (r["added_at"], r["seq"]))]

    def article_ids(self) -> list[str]:
        """Every article id, in the order they were stored: by their first chunk's id (chunk
        ids only grow, and ``added_at`` is the same for every article of a commit), then by
        when they were added. A copy made in this order numbers the chunks in the same order,
        so equal scores are ranked alike in both (the embedded store breaks ties by id)."""
        first: dict[str, int] = {}
        for row in self._query("chunks", "ordinal == 0", ["id", "article_id"]):
            first[row["article_id"]] = min(row["id"], first.get(row["article_id"], row["id"]))
        rows = self._query("articles", 'id != ""', ["id", "added_at"])
        return [r["id"] for r in sorted(rows, key=lambda r: (first.get(r["id"], 2**63), r["added_at"], r["id"]))]

    # ------------------------------------------------------------------ search

    def chunk_rows(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        rows = self._query("chunks", f"id in {ints(ids)}", HIT_FIELDS, len(ids))
        found = {int(r["id"]): hit_row(r) for r in rows}
        also = self.alternatives([r["article_id"] for r in found.values()])
        for row in found.values():
            row["also"] = also.get(row["article_id"], ())
        return found

    def _filter(self, filters: Filters | None) -> str:
        """A Milvus filter expression on ``P_chunks`` for ``filters`` ("" for none). Articles
        without a date never match a date range; a story also matches the outlets of the
        near copies folded into it."""
        if not filters or not filters.active:
            return ""
        clauses = []
        if filters.since:
            clauses.append(f"day >= {day_number(filters.since)}")
        if filters.until:
            clauses.append(f"day > 0 and day <= {day_number(filters.until)}")
        if filters.sources:
            wanted = sorted({s.lower() for s in filters.sources})
            clause = f"source_key in {strings(wanted)}"
            if self.folding:
                stories = self._query("sources", f"source_key in {strings(wanted)}", ["article_id"])
                if stories:
                    clause = f"({clause} or article_id in {strings(sorted({r['article_id'] for r in stories}))})"
            clauses.append(clause)
        return " and ".join(clauses)

    def dense_search(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[int, float]]:
        """Inner product on normalised vectors (= cosine), highest first."""
        if k <= 0:
            return []
        found = self._do("search the chunks", "search", self._name("chunks"),
                         data=[np.asarray(vector, dtype=np.float32).tolist()], anns_field="vector",
                         filter=self._filter(filters), limit=min(k, 16_384),
                         search_params={"metric_type": "IP"}, consistency_level=CONSISTENCY)
        return [(int(h["id"]), float(h["distance"])) for h in found[0]]

    def _bm25_request(self, text: str, k: int, expr: str):
        pymilvus = load_pymilvus()
        return pymilvus.AnnSearchRequest(data=[text], anns_field="sparse", limit=k, expr=expr,
                                         param={"metric_type": "BM25", "params": {"drop_ratio_search": 0.0}})

    def lexical_search(self, match: str, k: int, filters: Filters | None = None) -> list[tuple[int, float]]:
        """BM25 by the server's function, best first. ``match`` is the FTS5 expression of the
        embedded store (its quoted words are what is searched). The scores are the server's
        (milvus-lite's can be negative: only their order means something there)."""
        text = _words(match)
        if not text.strip() or k <= 0:
            return []
        found = self._do("search the chunks", "search", self._name("chunks"), data=[text],
                         anns_field="sparse", filter=self._filter(filters), limit=min(k, 16_384),
                         search_params={"metric_type": "BM25", "params": {"drop_ratio_search": 0.0}},
                         consistency_level=CONSISTENCY)
        return [(int(h["id"]), float(h["distance"])) for h in found[0]]

    def candidates(self, vector: np.ndarray, match: str, n: int, filters: Filters | None,
                   mode: str = "hybrid", rrf_k: int = RRF_K) -> list[Candidate]:
        """Hybrid: ``n`` from each side fused in Milvus (``hybrid_search``, RRF with
        ``rrf_k``), with the fields of a hit in the same answer; ``Candidate.fused`` is the
        RRF score. One side alone: ranked here, as on the embedded store."""
        if mode != "hybrid":
            return ranked_candidates(self, vector, match, n, filters, mode)
        pymilvus = load_pymilvus()
        expr = self._filter(filters)
        requests = [pymilvus.AnnSearchRequest(
            data=[np.asarray(vector, dtype=np.float32).tolist()], anns_field="vector", limit=n,
            expr=expr, param={"metric_type": "IP"})]
        text = _words(match)
        if text.strip():
            requests.append(self._bm25_request(text, n, expr))
        found = self._do("search the chunks", "hybrid_search", self._name("chunks"), requests,
                         pymilvus.RRFRanker(rrf_k), limit=n * len(requests),
                         output_fields=HIT_FIELDS, consistency_level=CONSISTENCY)
        out = []
        for hit in found[0]:
            entity = hit.get("entity") or {}
            row = hit_row({"id": hit["id"], **entity})
            # A real Milvus returns the RRF score, milvus-lite its negation (a distance).
            out.append(Candidate(int(hit["id"]), row=row, fused=abs(float(hit["distance"]))))
        also = self.alternatives([c.row["article_id"] for c in out])
        for c in out:
            c.row["also"] = also.get(c.row["article_id"], ())
        return out

    def vectors_for(self, ids: Sequence[int]) -> np.ndarray:
        rows = {int(r["id"]): r["vector"] for r in self._query("chunks", f"id in {ints(ids)}", ["id", "vector"], len(ids))}
        return np.asarray([rows[int(i)] for i in ids], dtype=np.float32).reshape(len(ids), self.dimension)

    def document_frequency(self, term: str) -> int:
        """Chunks whose text or title holds ``term`` (after the server's analyzer), counted
        once per generation."""
        term = term.replace('"', "").strip()
        if not term:
            return 0
        generation = self.generation()
        counts = self._frequencies.get(generation)
        if counts is None or len(counts) > 50_000:
            self._frequencies = {generation: {}}
            counts = self._frequencies[generation]
        if term not in counts:
            if self.lite:
                # milvus-lite evaluates TEXT_MATCH by analyzing every row (~2 s a term at 18k
                # chunks); its BM25 index finds the chunks that hold the term at once (at most
                # QUERY_MAX of them: a word that common counts as that many).
                counts[term] = len(self.lexical_search(f'"{term}"', QUERY_MAX))
            else:  # an inverted index on a Milvus server (enable_match)
                counts[term] = self._count("chunks", f"TEXT_MATCH(lexical, {quote(term)})")
        return counts[term]

    def filtered_ids(self, filters: Filters) -> np.ndarray:
        rows = self._query("chunks", self._filter(filters) or "id >= 0", ["id"])
        return np.sort(np.fromiter((r["id"] for r in rows), dtype=np.int64, count=len(rows)))

    # ------------------------------------------------------------------ feeds

    def feeds(self) -> list[Feed]:
        """Every feed the index follows, by URL."""
        rows = self._query("feeds", 'url != ""', FEED_FIELDS)
        return [feed_from_row(r) for r in sorted(rows, key=lambda r: r["url"])]

    def feed(self, url: str) -> Feed | None:
        rows = self._query("feeds", f"url == {quote(url)}", FEED_FIELDS, 1)
        return feed_from_row(rows[0]) if rows else None

    def put_feed(self, url: str, every_minutes: float, source: str | None, now: datetime) -> tuple[Feed, bool]:
        """Follow ``url`` (first poll at ``now``); a feed already followed keeps its state and
        gets the new interval and source."""
        self.require_writable()
        current = self.feed(url)
        if current is None:
            feed = Feed(url=url, every_minutes=every_minutes, next_poll=now, source=source, added_at=now)
        else:
            feed = replace(current, every_minutes=every_minutes, source=source)
        self._do(f"write {self._name('feeds')}", "upsert", self._name("feeds"), [feed_row(feed)])
        return feed, current is None

    def delete_feed(self, url: str) -> Feed | None:
        self.require_writable()
        feed = self.feed(url)
        if feed is not None:
            self._do(f"write {self._name('feeds')}", "delete", self._name("feeds"), filter=f"url == {quote(url)}")
        return feed

    def save_poll(self, feed: Feed, added: int = 0) -> None:
        """Record a poll; a feed removed meanwhile stays removed. (Read, then written: one
        watcher per index, see :meth:`watching`.)"""
        current = self.feed(feed.url)
        if current is None:
            return
        saved = replace(current, next_poll=feed.next_poll, last_poll=feed.last_poll,
                        last_success=feed.last_success, last_error=feed.last_error, errors=feed.errors,
                        etag=feed.etag, last_modified=feed.last_modified,
                        articles_added=current.articles_added + added)
        self._do(f"write {self._name('feeds')}", "upsert", self._name("feeds"), [feed_row(saved)])
        if self._watching:
            self._put_meta({"watcher": {"owner": _OWNER, "until": time.time() + WATCH_LEASE}})

    @contextmanager
    def watching(self) -> Iterator[bool]:
        """A lease on the feeds for a round of polling, in ``P_meta`` (the embedded store's
        ``watch.lock``): True when this process is the one watcher, False at once when another
        one holds it. Each feed polled renews it (:meth:`save_poll`), and it is let go after
        the round; a holder killed mid-round leaves it to lapse after WATCH_LEASE seconds. Milvus has no compare-and-set: two watchers starting
        in the same instant can both poll one round; ingest skips stored articles, so that
        costs fetches, not duplicates."""
        self.require_writable()
        now = time.time()
        lease = self._meta_value("watcher")
        if lease and lease.get("owner") != _OWNER and lease.get("until", 0) > now:
            yield False
            return
        self._put_meta({"watcher": {"owner": _OWNER, "until": now + WATCH_LEASE}})
        self._watching = True
        try:
            yield True
        finally:
            self._watching = False
            self._put_meta({"watcher": {"owner": _OWNER, "until": 0}})

    def watcher(self) -> str:
        lease = self._meta_value("watcher") or {}
        return lease.get("owner", "unknown")

    # ------------------------------------------------------------------ alerts

    def subscriptions(self, chat: int | None = None) -> list[Subscription]:
        where = f"chat == {int(chat)}" if chat is not None else 'key != ""'
        rows = self._query("topics", where, ["chat", "topic", "added_at", "seq"])
        return [Subscription(r["chat"], r["topic"], datetime.fromisoformat(r["added_at"]))
                for r in sorted(rows, key=lambda r: (r["added_at"], r["seq"]))]

    def put_subscription(self, chat: int, topic: str, now: datetime) -> bool:
        """``chat`` follows ``topic`` (case-insensitive); False when it already did. The first
        subscription of an index starts matching at the newest chunk: no backlog alerts."""
        self.require_writable()
        if self.alert_cursor() is None:
            self._put_meta({"alert_cursor": self.max_chunk_id()})
        key = f"{int(chat)}:{topic.lower()}"
        if self._query("topics", f"key == {quote(key)}", ["key"], 1):
            return False
        self._do(f"write {self._name('topics')}", "insert", self._name("topics"), [{
            "key": key, "chat": int(chat), "topic": topic, "added_at": iso_time(now), "seq": time.time_ns(),
            "_v": PLACEHOLDER}])
        return True

    def delete_subscription(self, chat: int, topic: str) -> bool:
        self.require_writable()
        key = f"{int(chat)}:{topic.lower()}"
        if not self._query("topics", f"key == {quote(key)}", ["key"], 1):
            return False
        self._do(f"write {self._name('topics')}", "delete", self._name("topics"), filter=f"key == {quote(key)}")
        return True

    def alert_cursor(self) -> int | None:
        value = self._meta_value("alert_cursor")
        return None if value is None else int(value)

    def set_alert_cursor(self, chunk_id: int) -> None:
        current = self.alert_cursor()
        if current is not None and chunk_id > current:
            self._put_meta({"alert_cursor": int(chunk_id)})

    def claim_alert(self, chat: int, article_id: str, topic: str, now: datetime, per_hour: int) -> str:
        """Record that ``article_id`` is announced to ``chat``, before it is sent: "claimed",
        "sent before" or "over limit". (Checked, then written: claims come from the one
        watcher of the index.)"""
        key = f"{int(chat)}:{article_id}"
        if self._query("alerts", f"key == {quote(key)}", ["key"], 1):
            return "sent before"
        hour_ago = iso_time(now - timedelta(hours=1))
        if self._count("alerts", f"chat == {int(chat)} and sent_at > {quote(hour_ago)}") >= per_hour:
            return "over limit"
        self._do(f"write {self._name('alerts')}", "insert", self._name("alerts"), [{
            "key": key, "chat": int(chat), "article_id": article_id, "topic": topic,
            "sent_at": iso_time(now), "_v": PLACEHOLDER}])
        return "claimed"

    # ------------------------------------------------------------------ writing

    @contextmanager
    def writing(self) -> Iterator["MilvusWriter"]:
        """A write session: one at a time in this process (see the module docstring for
        other processes); the collections are flushed at its end."""
        self.require_writable()
        with self._write_lock:
            self._take_write_lease()
            writer = MilvusWriter(self)
            try:
                yield writer
            finally:
                try:
                    if writer.committed:
                        for kind in SCHEMAS:
                            self._do(f"flush {self._name(kind)}", "flush", self._name(kind))
                finally:
                    self._put_meta({"writer": {"owner": _OWNER, "until": 0}})

    def _take_write_lease(self) -> None:
        """One writing process at a time, across machines: a lease in ``P_meta`` (the embedded
        store's ``write.lock``). Another live holder is refused with its name; two processes
        taking it at once both read it back, and the one whose write did not land is refused.
        (Without it, two writers would reserve the same chunk ids.)"""
        lease = self._meta_value("writer")
        if lease and lease.get("owner") != _OWNER and lease.get("until", 0) > time.time():
            raise IndexLockedError(self._held_by(lease))
        self._put_meta({"writer": {"owner": _OWNER, "until": time.time() + WRITE_LEASE}})
        time.sleep(LEASE_SETTLE)
        lease = self._meta_value("writer") or {}
        if lease.get("owner") != _OWNER:
            raise IndexLockedError(self._held_by(lease))

    def _held_by(self, lease: dict) -> str:
        left = max(0, int(lease.get("until", 0) - time.time()))
        return (f"{self.location} is being written by {lease.get('owner', 'another process')}; one "
                f"writer at a time: run this again when it is done (its lease lapses in {left} s if it "
                "was killed)")


class MilvusWriter:
    """Batches of changes, each written as the module docstring says, then made visible to
    the caches of every reader by a new generation."""

    def __init__(self, store: MilvusStore):
        self.store = store
        self.committed = 0
        self.articles_committed = 0

    @contextmanager
    def batch(self) -> Iterator[Batch]:
        batch = Batch()
        yield batch
        if batch.empty:
            return
        self._commit(batch)
        self.committed += 1
        self.articles_committed += len(batch.puts)

    def _commit(self, batch: Batch) -> None:
        store = self.store
        do, name = store._do, store._name
        added_at = utc_now()
        meta = store._read_meta()
        replaced = [article.id for article, _, _ in batch.puts]
        gone = list(dict.fromkeys(batch.removals + replaced))
        old_days = [r["pub_day"] for r in store._query("articles", f"id in {strings(gone)}", ["pub_day"])] if gone else []
        for article, chunks, _ in batch.puts:
            check_sizes(article, chunks)

        # Removals: the row first (the article is gone), then what hangs on it.
        if batch.removals:
            ids = strings(batch.removals)
            do("remove articles", "delete", name("articles"), filter=f"id in {ids}")
            do("remove articles", "delete", name("texts"), filter=f"article_id in {ids}")
            do("remove articles", "delete", name("chunks"), filter=f"article_id in {ids}")
            # its alternative sources, and the source it was before it was stored as an article
            do("remove articles", "delete", name("sources"), filter=f"article_id in {ids} or id in {ids}")
        if batch.source_removals:
            do("remove sources", "delete", name("sources"), filter=f"id in {strings(batch.source_removals)}")

        # Puts: ids reserved, old chunks out, new chunks in, then the article rows.
        total = sum(len(chunks) for _, chunks, _ in batch.puts)
        next_id = int(meta.get("next_chunk_id") or 1)
        if total:
            store._put_meta({"next_chunk_id": next_id + total})
        signatures = dict(batch.signatures)
        if batch.puts:
            ids = strings(replaced)
            do("replace articles", "delete", name("chunks"), filter=f"article_id in {ids}")
            do("replace articles", "delete", name("texts"), filter=f"article_id in {ids}")
            do("replace articles", "delete", name("sources"), filter=f"id in {ids}")
            rows, articles, texts = [], [], []
            chunk_id = next_id
            for article, chunks, vectors in batch.puts:
                for chunk, vector in zip(chunks, vectors):
                    rows.append(chunk_row(chunk_id, article, chunk, vector))
                    chunk_id += 1
                parts = [article.text[i:i + TEXT_PART] for i in range(0, len(article.text), TEXT_PART)] or [""]
                articles.append(article_row(article, parts[0], len(parts), added_at, signatures.pop(article.id, None)))
                texts += [{"key": f"{article.id}:{i}", "article_id": article.id, "part": i, "text": part,
                           "_v": PLACEHOLDER} for i, part in enumerate(parts[1:], 1)]
            for start in range(0, len(rows), PAGE):
                do("write chunks", "insert", name("chunks"), rows[start:start + PAGE])
            if texts:
                do("write articles", "insert", name("texts"), texts)
            do("write articles", "upsert", name("articles"), articles)
        if signatures:  # articles stored before: their rows again, signed
            found = store._query("articles", f"id in {strings(list(signatures))}", ARTICLE_ROW)
            for row in found:
                row.update(signed(signatures[row["id"]]))
            if found:
                do("sign articles", "upsert", name("articles"), found)
        for article, story_id, digest in batch.folds:
            if article.url:  # the URL moves from wherever it was to this story
                do("fold", "delete", name("sources"),
                   filter=f"url == {quote(article.url)} and id != {quote(article.id)}")
            do("fold", "upsert", name("sources"), [source_row(article, story_id, digest)])

        # The manifest last: a new generation, the dates, the newest chunk.
        oldest, newest = meta.get("published") or [0, 0]
        if any(d and d in (oldest, newest) for d in old_days):
            days = [r["pub_day"] for r in store._query("articles", "pub_day > 0", ["pub_day"])]
            oldest, newest = (min(days), max(days)) if days else (0, 0)
        else:
            days = [day_number(a.published) for a, _, _ in batch.puts if a.published]
            if days:
                oldest = min([d for d in (oldest, *days) if d])
                newest = max(newest, *days)
        update = {"generation": int(meta.get("generation") or 0) + 1, "last_ingest": added_at,
                  "published": [oldest, newest],
                  "writer": {"owner": _OWNER, "until": time.time() + WRITE_LEASE}}  # renewed
        if total:
            update["max_chunk_id"] = next_id + total - 1
        store._put_meta(update)
