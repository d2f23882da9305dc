"""``retriever migrate``: copy an index from one store to the other (retrieval/stores.py) —
the embedded folder to Milvus (``--to milvus``) or back (``--from milvus``).

What is copied: every article with its chunks and their stored vectors (never embedded again:
the target gets the source's numbers, so the same model is required and recorded), the
near-copy signatures (recomputed from the text, ~5 ms an article), the alternative sources
of each story, the feeds with their polling state and the followed topics. Not copied: the
record of alerts already sent, and the alert cursor (chunk ids differ between stores: the
target's cursor starts at its newest chunk, so nothing already stored is announced again).

Resumable and idempotent: articles are written in batches of :data:`BATCH`, each one commit of
the target; an article already in the target with the same hash is skipped, so a migration
that was stopped is finished by running it again, and running it twice copies nothing twice.
Feeds and topics already in the target are left as they are. Articles the target holds and
the source does not are kept (and counted).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone

from retrieval import dupes
from retrieval.config import Settings
from retrieval.errors import ConfigError, IndexMissingError, ModelMismatchError
from retrieval.stores import IndexStore, create_store, describe, find_store, missing_message
from retrieval.types import MigrationReport

log = logging.getLogger(__name__)

#: Articles per commit of the target (~300 chunks of news): what a stopped migration redoes.
BATCH = 100


@dataclass(frozen=True)
class _Copy:
    """An alternative source as :meth:`Batch.fold` stores it: the fields of an Article it
    reads, with the stored hash (the copy's text was never kept, so it cannot be hashed)."""

    id: str
    url: str | None
    title: str
    source: str | None
    published: date | None
    hash: str


def migrate(settings: Settings, *, to: str) -> MigrationReport:
    """Copy the index of ``settings`` into the store ``to`` ("milvus" or "embedded") from the
    other one (both as ``settings`` configures them: RETRIEVER_INDEX, RETRIEVER_MILVUS_*)."""
    if to not in ("milvus", "embedded"):
        raise ConfigError(f"migrate copies to milvus or embedded (got {to!r})")
    started = time.perf_counter()
    source_settings = settings.model_copy(update={"store": "embedded" if to == "milvus" else "milvus",
                                                  "read_only": True})
    target_settings = settings.model_copy(update={"store": to, "read_only": False})
    source = find_store(source_settings)
    if source is None:
        raise IndexMissingError(missing_message(source_settings, "nothing to migrate"))
    try:
        target = create_store(target_settings, model=source.model, dimension=source.dimension,
                              chunking=source.meta.get("chunking") or {})
        try:
            if (target.model, target.dimension) != (source.model, source.dimension):
                raise ModelMismatchError(
                    f"{describe(target_settings)} holds model {target.model!r} ({target.dimension} "
                    f"dimensions), {describe(source_settings)} {source.model!r} ({source.dimension}); "
                    "vectors are copied, not embedded again: migrate into an empty one")
            report = _copy(source, target)
        finally:
            target.close()
    finally:
        source.close()
    return MigrationReport(describe(source_settings), describe(target_settings), **report,
                           seconds=time.perf_counter() - started)


def _copy(source: IndexStore, target: IndexStore) -> dict[str, int]:
    wanted = source.article_hashes()
    present = target.article_hashes()
    todo = sorted(i for i, digest in wanted.items() if present.get(i) != digest)
    copied = chunks = copies = 0
    with target.writing() as writer:
        for start in range(0, len(todo), BATCH):
            with writer.batch() as batch:
                for article_id in todo[start : start + BATCH]:
                    article = source.article(article_id)
                    if article is None:  # removed from the source meanwhile
                        continue
                    _, stored, vectors = source.article_chunks(article_id)
                    batch.put(article, stored, vectors)
                    batch.sign(article_id, dupes.signature(article.title, article.text))
                    for other in source.alternatives([article_id]).get(article_id, ()):
                        found = source.alternative(other.url) if other.url else None
                        if found is None:
                            continue  # a copy without a URL cannot be looked up; its story is kept
                        batch.fold(_Copy(found.id, other.url, other.title, other.source, other.published,
                                         found.hash), article_id)
                        copies += 1
                    copied += 1
                    chunks += len(stored)
            log.info("migrated %d of %d article(s)", min(start + BATCH, len(todo)), len(todo))
    feeds = 0
    for feed in source.feeds():
        if target.feed(feed.url) is None:
            target.put_feed(feed.url, feed.every_minutes, feed.source, feed.added_at or datetime.now(timezone.utc))
            target.save_poll(feed, added=feed.articles_added)
            feeds += 1
    topics = sum(target.put_subscription(s.chat, s.topic, s.added_at) for s in source.subscriptions())
    return {"copied": copied, "chunks": chunks, "skipped": len(wanted) - len(todo), "sources": copies,
            "feeds": feeds, "topics": topics, "extra": len(set(present) - set(wanted))}
