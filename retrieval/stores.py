"""Where the index lives, chosen by ``RETRIEVER_STORE``: the embedded folder (SQLite + FAISS,
:mod:`retrieval.store`, the default) or a Milvus server (:mod:`retrieval.milvus_store`).

:class:`IndexStore` is the interface the engine, search, alerts and the feed watcher use; both
backends implement it, and a test runs the same behaviour against both
(tests/test_store_backends.py). :func:`find_store` and :func:`create_store` are the only
places that pick a backend; the Milvus one is imported only when it is asked for (pymilvus
is an optional dependency: ``pip install 'newsbot-retriever[milvus]'``).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from retrieval.errors import ConfigError
from retrieval.types import AlternativeSource, Article, Chunk, DateRange, Feed, Filters, Subscription

if TYPE_CHECKING:
    from retrieval.config import Settings
    from retrieval.dupes import Signature

#: The RRF constant of fusion (see retrieval/search.py, which documents why it is 60).
RRF_K = 60


@dataclass
class Candidate:
    """A chunk in the running, with what each ranking said about it. ``fused`` is the RRF
    score when the store fused the two rankings itself (Milvus); then the ranks are unknown."""

    chunk_id: int
    dense_rank: int | None = None
    lexical_rank: int | None = None
    row: dict | None = None  # chunk + article fields from the store
    fused: float | None = None


class IndexBatch(Protocol):
    """Changes of one commit (see retrieval/store.py's ``Batch``)."""

    def put(self, article: Article, chunks: list[Chunk], vectors: np.ndarray) -> None: ...
    def remove(self, article_id: str) -> None: ...
    def sign(self, article_id: str, signature: "Signature") -> None: ...
    def fold(self, article: Article, story_id: str, *, digest: str | None = None) -> None: ...
    def remove_source(self, source_id: str) -> None: ...


class IndexWriter(Protocol):
    def batch(self) -> AbstractContextManager[IndexBatch]: ...


class IndexStore(Protocol):
    """What the engine, search, alerts and the watcher ask of an index."""

    model: str
    dimension: int
    folding: bool
    read_only_reason: str | None

    @property
    def chunking(self) -> dict[str, int]: ...

    @property
    def read_only(self) -> bool: ...
    @property
    def location(self) -> str: ...  # where it is, for messages and stats
    def require_writable(self) -> None: ...
    def close(self) -> None: ...
    def writing(self) -> AbstractContextManager[IndexWriter]: ...
    def watching(self) -> AbstractContextManager[bool]: ...  # True: this process is the one watcher
    def watcher(self) -> str: ...  # who watches, for messages

    # metadata
    def generation(self) -> int: ...
    def counts(self) -> tuple[int, int]: ...
    def size_bytes(self) -> int | None: ...  # None where the server keeps the bytes
    def published_range(self) -> DateRange: ...
    def last_ingest(self) -> str | None: ...

    # articles
    def article(self, article_id: str) -> Article | None: ...
    def article_hash(self, article_id: str) -> str | None: ...
    def find_by_hash(self, digest: str) -> str | None: ...
    def has_url(self, url: str) -> bool: ...
    def resolve(self, ref: str) -> str | None: ...
    def article_chunks(self, article_id: str) -> tuple[list[int], list[Chunk], np.ndarray]: ...
    def outlets(self, article_ids: Sequence[str]) -> dict[str, tuple[str, ...]]: ...
    def articles_of_day(self, day: date) -> list[str]: ...
    def latest_day(self, on_or_before: date) -> date | None: ...
    def articles_older_than(self, cutoff: date) -> list[str]: ...
    def max_chunk_id(self) -> int: ...
    def articles_after(self, chunk_id: int, up_to: int) -> list[str]: ...

    # near copies
    def near_candidates(self, signature: "Signature", limit: int) -> list[tuple[str, "Signature"]]: ...
    def unsigned_articles(self, limit: int) -> list[str]: ...
    def alternative(self, ref: str) -> Any: ...  # StoredSource | None
    def alternatives(self, article_ids: Sequence[str]) -> dict[str, tuple[AlternativeSource, ...]]: ...
    def folded_count(self) -> int: ...
    def folded_sources(self) -> list[Any]: ...  # list[StoredSource], for a copy
    def article_ids(self) -> list[str]: ...

    # search
    def chunk_rows(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]: ...
    def dense_search(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[int, float]]: ...
    def lexical_search(self, match: str, k: int, filters: Filters | None = None) -> list[tuple[int, float]]: ...
    def candidates(self, vector: np.ndarray, match: str, n: int, filters: Filters | None,
                   mode: str = "hybrid", rrf_k: int = RRF_K) -> list[Candidate]: ...
    def vectors_for(self, ids: Sequence[int]) -> np.ndarray: ...
    def document_frequency(self, term: str) -> int: ...
    def filtered_ids(self, filters: Filters) -> np.ndarray: ...

    # feeds and alerts
    def feeds(self) -> list[Feed]: ...
    def feed(self, url: str) -> Feed | None: ...
    def put_feed(self, url: str, every_minutes: float, source: str | None, now: datetime) -> tuple[Feed, bool]: ...
    def delete_feed(self, url: str) -> Feed | None: ...
    def save_poll(self, feed: Feed, added: int = 0) -> None: ...
    def subscriptions(self, chat: int | None = None) -> list[Subscription]: ...
    def put_subscription(self, chat: int, topic: str, now: datetime) -> bool: ...
    def delete_subscription(self, chat: int, topic: str) -> bool: ...
    def alert_cursor(self) -> int | None: ...
    def set_alert_cursor(self, chunk_id: int) -> None: ...
    def claim_alert(self, chat: int, article_id: str, topic: str, now: datetime, per_hour: int) -> str: ...


def ranked_candidates(store: IndexStore, vector: np.ndarray, match: str, n: int,
                      filters: Filters | None, mode: str = "hybrid") -> list[Candidate]:
    """Candidates from the dense and/or lexical side with their ranks (fused later, in
    ``retrieval.search.rank``), and their stored fields: ``n`` from each side."""
    pool: dict[int, Candidate] = {}
    if mode in ("hybrid", "dense"):
        for rank, (chunk_id, _) in enumerate(store.dense_search(vector, n, filters), 1):
            pool.setdefault(chunk_id, Candidate(chunk_id)).dense_rank = rank
    if mode in ("hybrid", "lexical"):
        for rank, (chunk_id, _) in enumerate(store.lexical_search(match, n, filters), 1):
            pool.setdefault(chunk_id, Candidate(chunk_id)).lexical_rank = rank
    rows = store.chunk_rows(list(pool))
    for chunk_id, candidate in pool.items():
        candidate.row = rows.get(chunk_id)
    return [c for c in pool.values() if c.row is not None]


def find_store(settings: "Settings") -> IndexStore | None:
    """The configured index, opened; None when there is none there yet."""
    if settings.store == "milvus":
        from retrieval.milvus_store import MilvusStore

        return MilvusStore.find(settings)
    if settings.store != "embedded":  # the Settings pattern already refuses this
        raise ConfigError(f"RETRIEVER_STORE must be embedded or milvus (got {settings.store!r})")
    from retrieval.store import DB_FILE, Store

    if not (settings.index / DB_FILE).exists():
        return None
    return Store.open(settings.index, read_only=settings.read_only, ann=settings.ann_params(),
                      lexical=settings.lexical_params())


def create_store(settings: "Settings", *, model: str, dimension: int,
                 chunking: dict[str, int]) -> IndexStore:
    """The configured index, made empty when missing (an existing one is opened as it is)."""
    if settings.store == "milvus":
        from retrieval.milvus_store import MilvusStore

        return MilvusStore.create(settings, model=model, dimension=dimension, chunking=chunking)
    from retrieval.store import Store

    return Store.create(settings.index, model=model, dimension=dimension, chunking=chunking,
                        read_only=settings.read_only, ann=settings.ann_params(),
                        lexical=settings.lexical_params())


def describe(settings: "Settings") -> str:
    """Where the configured index is, for messages: a folder or a Milvus collection."""
    if settings.store == "milvus":
        return f"Milvus collection {settings.milvus_collection!r} at {settings.milvus_uri}"
    return f"index {settings.index}"


def missing_message(settings: "Settings", hint: str = "") -> str:
    """"no index at …; build one with …" for the configured store."""
    if settings.store == "milvus":
        return (f"no index in {describe(settings)}; "
                + (hint or "build one with `RETRIEVER_STORE=milvus retriever ingest corpus/`"))
    return (f"no index at {settings.index}; "
            + (hint or f"build one with `retriever --index {settings.index} ingest corpus/`"))
