"""The one vocabulary of the engine: frozen dataclasses passed between modules and to the bot.

Nothing here imports a heavy library; every other module speaks in these types.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any


def content_hash(text: str) -> str:
    """Stable fingerprint of an article's text (whitespace-insensitive)."""
    normalised = " ".join(text.split())
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:32]


def article_id_for(url: str | None, text: str) -> str:
    """An article's id: derived from its URL when it has one, else from its content."""
    basis = url.strip() if url else "sha:" + content_hash(text)
    return hashlib.sha1(basis.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Article:
    """One news article as it is stored: cleaned text plus metadata."""

    id: str
    title: str
    text: str
    url: str | None = None
    source: str | None = None  # the outlet, e.g. "gulfnews.com" or "CNN"
    published: date | None = None
    authors: tuple[str, ...] = ()
    origin: str = ""  # where it came from: a file path or URL, for messages

    @property
    def hash(self) -> str:
        return content_hash(self.title + "\n" + self.text)


@dataclass(frozen=True)
class Chunk:
    """A sentence-aligned span of an article: ``article.text[start:end] == text``."""

    article_id: str
    ordinal: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Filters:
    """Restrictions on what a search may return. Dates are inclusive."""

    since: date | None = None
    until: date | None = None
    sources: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.since or self.until or self.sources)


@dataclass(frozen=True)
class AlternativeSource:
    """Another outlet's near copy of a stored story (``retrieval.dupes``): folded at ingest,
    so its text is not stored, but it is cited as "also in …"."""

    url: str | None
    source: str | None
    title: str
    published: date | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "source": self.source,
            "title": self.title,
            "published": self.published.isoformat() if self.published else None,
        }


def also_in(source: str | None, also: tuple[AlternativeSource, ...]) -> str:
    """"also in The Independent and Yahoo News" — the other outlets of a story, each named once
    (the host of its URL when it has no outlet name), or "" when there are none."""
    from urllib.parse import urlsplit

    names: list[str] = []
    for alt in also:
        name = alt.source or (urlsplit(alt.url).hostname if alt.url else None)
        if name and name != source and name not in names:
            names.append(name)
    if not names:
        return ""
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return "also in " + listed


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with the metadata needed to cite it."""

    rank: int
    score: float
    chunk_id: int
    article_id: str
    text: str
    title: str
    url: str | None
    source: str | None
    published: date | None
    start: int
    end: int
    #: Other outlets that ran this story (near copies folded at ingest).
    also: tuple[AlternativeSource, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": round(float(self.score), 6),
            "text": self.text,
            "title": self.title,
            "url": self.url,
            "source": self.source,
            "published": self.published.isoformat() if self.published else None,
            "article_id": self.article_id,
            "chunk_id": self.chunk_id,
            "also": [a.to_json() for a in self.also],
        }


@dataclass(frozen=True)
class Citation:
    """A numbered source of an answer; ``quote`` is verbatim from the article's stored text."""

    n: int
    article_id: str
    title: str
    url: str | None
    source: str | None
    published: date | None
    quote: str
    start: int  # char offset of ``quote`` in the article text
    chunk_id: int
    #: Other outlets that ran this story (near copies folded at ingest).
    also: tuple[AlternativeSource, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "title": self.title,
            "url": self.url,
            "source": self.source,
            "published": self.published.isoformat() if self.published else None,
            "quote": self.quote,
            "article_id": self.article_id,
            "also": [a.to_json() for a in self.also],
        }


@dataclass(frozen=True)
class AnswerSentence:
    """One verbatim sentence of an answer and the citation number it carries."""

    text: str
    n: int


#: Why the engine declined (``Answer.refusal``, ``SearchResult.refusal``): nothing in the index
#: answers the question; the question is not in English; it is about years the index does not
#: cover. The notes themselves are neutral; the bot and the CLI add how to search instead.
NO_MATCH = "no_match"
OTHER_LANGUAGE = "language"
OUT_OF_RANGE = "dates"


@dataclass(frozen=True)
class DateRange:
    """The publication dates of the articles an index holds (None when none has a date)."""

    oldest: date | None = None
    newest: date | None = None

    def note(self) -> str:
        """" The articles I have were published from … to …." — or "" without dates."""
        if self.oldest is None or self.newest is None:
            return ""
        return f" The articles I have were published from {self.oldest.isoformat()} to {self.newest.isoformat()}."


@dataclass(frozen=True)
class Answer:
    """An extractive answer: verbatim sentences with ``[n]`` markers and their citations.

    ``abstained`` is true when nothing relevant was found; ``sentences`` is then empty, ``note``
    says why in plain words and ``refusal`` names the reason (:data:`NO_MATCH`, …).
    """

    query: str
    sentences: tuple[AnswerSentence, ...]
    citations: tuple[Citation, ...]
    passages: tuple[Hit, ...]
    abstained: bool = False
    note: str = ""
    refusal: str = ""

    @property
    def text(self) -> str:
        if self.abstained:
            return self.note
        return " ".join(f"{s.text} [{s.n}]" for s in self.sentences)

    def to_json(self, id: str | None = None) -> dict[str, Any]:
        return {
            "id": id,
            "query": self.query,
            "answer": self.text,
            "abstained": self.abstained,
            "refusal": self.refusal or None,
            "citations": [c.to_json() for c in self.citations],
            "passages": [p.to_json() for p in self.passages],
        }


@dataclass(frozen=True)
class SearchResult:
    """Passages for a question, and whether any of them is a good match: the checks ``ask``
    makes before it picks sentences (the question's language and years, the passages' cosine
    and rare-word coverage). ``note`` says why not, in the words of ``ask``'s refusal."""

    query: str
    hits: tuple[Hit, ...]
    good_match: bool = True
    note: str = ""
    refusal: str = ""

    def to_json(self, id: str | None = None) -> dict[str, Any]:
        return {
            "id": id,
            "query": self.query,
            "good_match": self.good_match,
            "note": self.note or None,
            "refusal": self.refusal or None,
            "results": [h.to_json() for h in self.hits],
        }


@dataclass(frozen=True)
class ItemResult:
    """What happened to one ingested item (an article, file or URL)."""

    item: str
    status: str  # "added" | "updated" | "unchanged" | "folded" | "failed" | "removed"
    reason: str = ""
    article_id: str | None = None
    title: str | None = None
    source: str | None = None
    published: date | None = None

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "published": self.published.isoformat() if self.published else None}


@dataclass(frozen=True)
class IngestStep:
    """Where a running ingest is, for progress reports (``Engine.ingest(on_step=…)``):
    ``stage`` "fetching" (``count`` items being fetched or opened), "reading" (``item``: the
    title of the article being read) or "indexing" (``count`` passages being embedded)."""

    stage: str
    count: int = 0
    item: str = ""


@dataclass
class IngestReport:
    """Summary of one ingest run; ``results`` holds one entry per item, in order."""

    results: list[ItemResult] = field(default_factory=list)
    chunks_added: int = 0
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def failed(self) -> list[ItemResult]:
        return [r for r in self.results if r.status == "failed"]

    def summary(self) -> str:
        return (
            f"added {self.count('added')}, updated {self.count('updated')}, "
            f"unchanged {self.count('unchanged')}, folded {self.count('folded')}, failed {self.count('failed')} "
            f"({self.chunks_added} chunks embedded in {self.seconds:.1f}s)"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "added": self.count("added"),
            "updated": self.count("updated"),
            "unchanged": self.count("unchanged"),
            "folded": self.count("folded"),
            "failed": self.count("failed"),
            "chunks_added": self.chunks_added,
            "seconds": round(self.seconds, 3),
            "items": [r.to_json() for r in self.results],
        }


@dataclass(frozen=True)
class Stats:
    """What an index holds."""

    articles: int
    chunks: int
    model: str
    dimension: int
    index_bytes: int | None  # None on a server (RETRIEVER_STORE=milvus): not known here
    last_ingest: str | None
    newest_published: date | None
    path: str
    oldest_published: date | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "articles": self.articles,
            "chunks": self.chunks,
            "model": self.model,
            "dimension": self.dimension,
            "index_bytes": self.index_bytes,
            "last_ingest": self.last_ingest,
            "newest_published": self.newest_published.isoformat() if self.newest_published else None,
            "oldest_published": self.oldest_published.isoformat() if self.oldest_published else None,
            "path": self.path,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


@dataclass(frozen=True)
class Feed:
    """A feed the index follows (``retriever feeds``, ``/addfeed``), with its polling state.
    Times are UTC. ``errors`` counts the polls that failed in a row (0 after a success); the
    watcher waits ``every_minutes`` times 2**errors between polls (capped), so a broken feed
    is asked less and less often and back at its interval once it recovers."""

    url: str
    every_minutes: float
    next_poll: datetime
    source: str | None = None  # outlet name given to its articles (else the page's own)
    added_at: datetime | None = None
    last_poll: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    errors: int = 0
    articles_added: int = 0
    etag: str | None = None  # the feed's validators, sent back on the next poll
    last_modified: str | None = None

    def status_lines(self) -> list[str]:
        """How the feed is doing, in plain lines after its URL (the CLI and the bot print them;
        ``last error`` only when the last poll failed)."""
        def when(value: datetime | None) -> str:
            return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if value else "never"

        source = f", source {self.source}" if self.source else ""
        lines = [f"every {self.every_minutes:g} min{source}; {self.articles_added} articles added",
                 f"last poll {when(self.last_poll)}, last success {when(self.last_success)}, "
                 f"next poll {when(self.next_poll)}"]
        if self.last_error:
            backoff = f" ({self.errors} failed polls in a row: backing off)" if self.errors else ""
            lines.append(f"last error: {self.last_error}{backoff}")
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "source": self.source,
            "every_minutes": self.every_minutes,
            "added_at": _iso(self.added_at),
            "last_poll": _iso(self.last_poll),
            "last_success": _iso(self.last_success),
            "last_error": self.last_error,
            "errors_in_a_row": self.errors,
            "articles_added": self.articles_added,
            "next_poll": _iso(self.next_poll),
        }


@dataclass(frozen=True)
class PollResult:
    """One poll of one feed by the watcher: ``status`` is "new" (the feed was read; ``added``
    articles were indexed), "not modified" (HTTP 304: nothing was fetched), "failed" (``error``
    says why; the feed backs off) or "busy" (another process was writing the index; tried again
    soon, not counted as an error). ``failed`` counts entries that could not be read."""

    url: str
    status: str
    next_poll: datetime
    added: int = 0
    updated: int = 0
    failed: int = 0
    seconds: float = 0.0
    error: str = ""

    def line(self) -> str:
        """The log line of this poll."""
        what = {
            "new": f"added {self.added}, updated {self.updated}, failed entries {self.failed}",
            "not modified": "not modified",
            "failed": f"FAILED: {self.error}",
            "busy": f"index busy ({self.error}); trying again soon",
        }[self.status]
        return (f"poll {self.url}: {what} in {self.seconds:.1f}s; next poll "
                f"{self.next_poll.isoformat(timespec='seconds')}")


@dataclass(frozen=True)
class Subscription:
    """A topic a chat follows (``/follow``): new articles that match it are announced there.
    ``chat`` is the subscriber's id (for the bot, a Telegram chat id)."""

    chat: int
    topic: str
    added_at: datetime


@dataclass(frozen=True)
class Alert:
    """A new article that matches a topic ``chat`` follows: its title, link and one cited
    sentence (``citation``); ``cosine`` and ``coverage`` are the match's scores
    (:mod:`retrieval.alerts`)."""

    chat: int
    topic: str
    citation: Citation
    cosine: float
    coverage: float


@dataclass(frozen=True)
class Story:
    """One story of a day: ``citation`` cites one sentence of its lead article; ``outlets``
    carry it (its articles' outlets, each once) and ``articles`` counts them."""

    citation: Citation
    outlets: tuple[str, ...]
    articles: int = 1


@dataclass(frozen=True)
class Digest:
    """The main stories of ``day`` (about ``topic`` when one is given), the most widely carried
    first; ``day`` is None when the index has no article up to the day asked for."""

    day: date | None
    topic: str
    stories: tuple[Story, ...]
    asked: date | None = None  # the day asked for (``day`` is the latest one with news)
