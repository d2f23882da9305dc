"""Copy an index into another store (``retriever migrate``): the articles with their chunks and
stored vectors (never embedded again), the other sources folded into stories, the feeds with
their polling state, and the topic subscriptions.

Resumable and idempotent: what the target already holds is skipped (an article in the same
version, by content hash; a newer version replaces the older one), so a copy that was stopped
(Ctrl-C, a lost connection) is finished by running it again, and running it on a finished copy
adds nothing. Articles are copied in batches, one
transaction each, in the order the source stored them.

Not copied: MinHash signatures (the target's next ingest computes the missing ones, see
``Engine._backfill``) and the alert cursor (chunk ids differ between stores; the target's
alerts start from its newest articles).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from retrieval.errors import ModelMismatchError
from retrieval.types import Article

if TYPE_CHECKING:
    from retrieval.store import Store

log = logging.getLogger(__name__)

#: Articles per transaction of the copy.
BATCH_ARTICLES = 200


@dataclass
class CopyReport:
    """What one copy did; ``articles`` counts those copied now, ``present`` those the target
    already held in the same version (same content hash)."""

    articles: int = 0
    updated: int = 0  # of ``articles``: an older version was in the target
    chunks: int = 0
    present: int = 0
    sources: int = 0
    feeds: int = 0
    subscriptions: int = 0

    def summary(self) -> str:
        updated = f", {self.updated} of them newer versions" if self.updated else ""
        return (f"{self.articles} article(s) copied ({self.chunks} chunks, vectors reused{updated}), "
                f"{self.present} already there; {self.sources} folded source(s), {self.feeds} "
                f"feed(s), {self.subscriptions} subscription(s) copied")


def check_compatible(source: Store, target: Store) -> None:
    """Both stores embed with the same model into the same dimension, or the copy would mix
    vectors that cannot be compared."""
    if (source.model, source.dimension) != (target.model, target.dimension):
        raise ModelMismatchError(
            f"the source index was built with {source.model!r} ({source.dimension} dimensions), the "
            f"target with {target.model!r} ({target.dimension}); copy into a new, empty target")


def copy_index(source: Store, target: Store, *, batch_articles: int = BATCH_ARTICLES,
               progress: Callable[[CopyReport, int], None] | None = None) -> CopyReport:
    """Copy what ``target`` lacks of ``source``; ``progress(report, total_articles)`` is called
    after each committed batch."""
    check_compatible(source, target)
    report = CopyReport()
    ids = source.article_ids()
    with target.writing() as writer:
        for start in range(0, len(ids), batch_articles):
            group = ids[start: start + batch_articles]
            with writer.batch() as batch:
                for article_id in group:
                    held = target.article_hash(article_id)
                    if held is not None and held == source.article_hash(article_id):
                        report.present += 1
                        continue
                    article = source.article(article_id)
                    if article is None:  # removed from the source meanwhile
                        continue
                    _, chunks, vectors = source.article_chunks(article_id)
                    batch.put(article, chunks, vectors)  # replaces an older version in the target
                    report.articles += 1
                    report.updated += held is not None
                    report.chunks += len(chunks)
            if progress is not None:
                progress(report, len(ids))
        with writer.batch() as batch:
            for stored in source.folded_sources():
                if target.alternative(stored.id) is None and target.resolve(stored.story_id) is not None:
                    alt = stored.source
                    copy = Article(stored.id, alt.title, "", url=alt.url, source=alt.source, published=alt.published)
                    batch.fold(copy, stored.story_id, digest=stored.hash)
                    report.sources += 1
    now = datetime.now(timezone.utc)
    for feed in source.feeds():
        if target.feed(feed.url) is None:
            target.put_feed(feed.url, feed.every_minutes, feed.source, feed.added_at or now)
            target.save_poll(feed, added=feed.articles_added)
            report.feeds += 1
    held = {(s.chat, s.topic.casefold()) for s in target.subscriptions()}
    for subscription in source.subscriptions():
        if (subscription.chat, subscription.topic.casefold()) not in held:
            target.put_subscription(subscription.chat, subscription.topic, subscription.added_at)
            report.subscriptions += 1
    log.info("copy: %s", report.summary())
    return report
