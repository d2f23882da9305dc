"""The engine facade: one object the CLI, the bot and the benchmarks share.

Blocking and thread-safe: the store guards SQLite/FAISS with its own lock, embedding runs
outside it (so a slow question does not hold up another), and ingests in one process are
serialised. The embedding model loads on first use, not on open.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from functools import partial
from datetime import date, datetime, timedelta, timezone

import numpy as np

from retrieval.alerts import Alerts
from retrieval.answer import DEFAULT_ANSWER, AnswerParams, check_citations, compose, passage_refusal
from retrieval import dupes
from retrieval.chunking import chunk_article
from retrieval.config import DEFAULT_MODEL, Settings
from retrieval.embeddings import Embedder, VectorCache, load_embedder
from retrieval.errors import ConfigError, IndexMissingError, IngestInterrupted, ModelMismatchError
from retrieval.pipeline import Batches
from retrieval.question import Question
from retrieval.reader import Reader, load_reader
from retrieval.reader_text import passage_text
from retrieval.rerank import DEFAULT_READER_PARAMS, EVIDENCE_PASSAGES, ReaderParams, passage_cosine, rerank
from retrieval.search import hybrid
from retrieval.fetch import Fetcher
from retrieval.sources import Limits
from retrieval.sources import Reader as ItemReader  # not retrieval.reader's Reader
from retrieval.stores import IndexStore, create_store, describe, find_store, missing_message
from retrieval.types import (
    AlternativeSource,
    Answer,
    Article,
    Chunk,
    DateRange,
    Feed,
    Filters,
    Hit,
    IngestReport,
    IngestStep,
    ItemResult,
    SearchResult,
    Stats,
)

log = logging.getLogger(__name__)

#: Articles removed per transaction by prune.
PRUNE_BATCH = 500
#: A feed's polling interval unless one is given, and the shortest allowed: news sites update
#: every few minutes, and polling faster than once a minute is not polite.
DEFAULT_FEED_MINUTES = 30.0
MIN_FEED_MINUTES = 1.0

#: Chunks in an ingest's first batch; each batch after holds twice as many as the one before,
#: up to WINDOW_CHUNKS. A batch is embedded in one go (its texts sorted by length: see
#: retrieval/pipeline.py) and committed in one transaction. Small first batches start the
#: embedding soon and commit a small ingest early; large ones pad less (0.7% of tokens at 2,048
#: chunks, 1.9% at 512) and pay fewer commits. Work lost to a kill: the batches in flight, at
#: most ~2 x 2,048 chunks (~100 s of embedding on 2 CPU cores).
FLUSH_CHUNKS = 512
WINDOW_CHUNKS = 2048
#: Stored stories checked exactly (``dupes.near_copy`` on their text) per new article: the
#: ones sharing the most LSH bands. Bounds the cost of an article that matches a template.
NEAR_CANDIDATES = 5
#: Signatures computed per ingest for articles stored before folding existed (~5 ms each).
BACKFILL_BATCH = 2000


#: Vectors of recent questions and answer sentences kept per engine (~30 MB at 384 dimensions).
VECTOR_CACHE = 20_000

class Engine:
    def __init__(
        self,
        settings: Settings,
        store: IndexStore | None,
        embedder: Embedder | None = None,
        *,
        one_embedder: bool = False,
        vector_cache: int = 0,
    ):
        self.settings = settings
        self._store = store
        self._embedder = embedder
        self._bulk_embedder = embedder
        #: Questions and answer sentences embedded lately (see VectorCache): ~1.5 KB each.
        self._vectors = VectorCache(vector_cache or VECTOR_CACHE)
        #: Ingest with the question embedder instead of a second model (see bulk_embedder).
        self.one_embedder = one_embedder
        self._reader: Reader | None = None
        self._reader_loaded = False
        #: Knobs of the reader and the answer stage; benchmarks set others side by side.
        self.reader_params: ReaderParams = DEFAULT_READER_PARAMS
        self.answer_params: AnswerParams = DEFAULT_ANSWER
        if (embedder.name if embedder is not None else settings.model) != DEFAULT_MODEL:
            # The passage-cosine threshold is a cosine of the default model; another model's
            # cosines live on another scale, so that abstention rule is off for it.
            self.answer_params = replace(DEFAULT_ANSWER, abstain_passage_cosine=0.0)
        self._load_locks = {name: threading.Lock() for name in ("_embedder", "_bulk_embedder", "_reader")}
        self._ingest_lock = threading.Lock()
        self._fetcher = Fetcher.from_settings(settings)
        self._alerts: Alerts | None = None

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        create: bool = False,
        check_model: bool = True,
        one_embedder: bool = False,
        vector_cache: int = 0,
    ) -> "Engine":
        """Open the index at ``settings.index``; with ``create`` a missing index is made on the
        first ingest. Refuses an index built with another model (``check_model=False`` for
        commands that embed nothing, such as stats and remove). ``one_embedder``: ingest with
        the question embedder, for long-running processes (see :attr:`bulk_embedder`).
        ``vector_cache``: recent question and sentence vectors kept (0: :data:`VECTOR_CACHE`;
        benchmarks pass 1 to measure without it)."""
        store = find_store(settings)
        if store is not None:
            wanted = embedder.name if embedder is not None else settings.model
            if check_model and store.model != wanted:
                store.close()
                raise ModelMismatchError(
                    f"{describe(settings)} was built with model {store.model!r}, but the configured "
                    f"model is {wanted!r}; use --model {store.model!r} (RETRIEVER_MODEL) or rebuild "
                    "the index into another " + ("collection" if settings.store == "milvus" else "folder")
                )
        elif not create:
            raise IndexMissingError(missing_message(settings))
        return cls(settings, store, embedder, one_embedder=one_embedder, vector_cache=vector_cache)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
        self._fetcher.close()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def embedder(self) -> Embedder:
        """The embedder for questions, loaded on first use."""
        return self._embedder or self._load("_embedder", self.settings.backend)

    @property
    def bulk_embedder(self) -> Embedder:
        """The embedder for ingest. With the ``auto`` backend that is torch: onnxruntime starts
        in 0.5 s and answers one question ~2.5x faster, but embeds batches of long chunks ~1.8x
        slower on a 2-core CPU (docs/BENCHMARKS.md). Both give the same vectors.

        With ``one_embedder`` it is the question embedder: a process that answers questions and
        ingests now and then (the bot's /add) keeps one model in memory, not two. A 2-article
        /add in the bot took 9.1 s and left it 470 MB bigger on torch, 1.3 s and 44 MB on the
        question model (benchmarks/bot_memory.py, docs/BENCHMARKS.md)."""
        if self.one_embedder:
            return self.embedder
        backend = "torch" if self.settings.backend == "auto" else self.settings.backend
        return self._bulk_embedder or self._load("_bulk_embedder", backend)

    def _load(self, attribute: str, backend: str) -> Embedder:
        # One lock per model, so loading the ingest model (seconds) never holds up questions.
        with self._load_locks[attribute]:
            if getattr(self, attribute) is None:
                s = self.settings
                setattr(self, attribute, load_embedder(s.model, s.device, s.batch_size, backend, s.cache_dir))
            return getattr(self, attribute)

    @property
    def reader(self) -> Reader | None:
        """The reader (``RETRIEVER_READER``; the shipped one by default, ``none`` for none),
        loaded on first use."""
        if not self._reader_loaded:
            with self._load_locks["_reader"]:
                if not self._reader_loaded:
                    self._reader = load_reader(self.settings.reader, self.settings.device)
                    self._reader_loaded = True
        return self._reader

    @property
    def fetcher(self) -> Fetcher:
        """The one guarded fetcher (retrieval/fetch.py) of this engine."""
        return self._fetcher

    @property
    def store(self) -> IndexStore:
        if self._store is None:
            raise IndexMissingError(missing_message(self.settings, "ingest some articles first"))
        return self._store

    # ------------------------------------------------------------------ questions

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        filters: Filters | None = None,
        as_of: date | None = None,
        mode: str = "hybrid",
    ) -> list[Hit]:
        """Top ``k`` passages for ``query``; ``as_of`` is the date the question is asked."""
        return self._retrieve(Question.parse(query, as_of), k, filters, mode, evidence=False)[0]

    def find(
        self,
        query: str,
        *,
        k: int = 10,
        filters: Filters | None = None,
        as_of: date | None = None,
    ) -> SearchResult:
        """Top ``k`` passages, and whether any is a good match: the checks ``ask`` makes before
        it reads sentences (``retrieval.answer.passage_refusal``: the question's language, the
        years it names, the passages' cosine and rare words). Costs little more than ``search``
        (the stored vectors of 30 passages and a document frequency per word)."""
        question = Question.parse(query, as_of)
        hits, evidence = self._retrieve(question, k, filters)
        refusal = passage_refusal(question, hits, evidence, self._idf(), self.answer_params, self.dates())
        if refusal is None:
            return SearchResult(question.text, tuple(hits))
        return SearchResult(question.text, tuple(hits), good_match=False, note=refusal.note, refusal=refusal.refusal)

    def retrieve(
        self,
        query: str,
        *,
        k: int = 10,
        filters: Filters | None = None,
        as_of: date | None = None,
        mode: str = "hybrid",
    ) -> tuple[list[Hit], dict[str, float]]:
        """Top ``k`` passages and the evidence they give for answering (``retrieval.rerank``):
        hybrid search, then the reader re-orders the first passages."""
        return self._retrieve(Question.parse(query, as_of), k, filters, mode)

    def _retrieve(
        self,
        question: Question,
        k: int,
        filters: Filters | None,
        mode: str = "hybrid",
        *,
        evidence: bool = True,
        read: bool = True,
    ) -> tuple[list[Hit], dict[str, float]]:
        """Hybrid search; with ``evidence``, the abstention evidence of the top passages; with
        ``read`` and a reader, the reader's order of the first passages."""
        query = question.text
        if not query:
            return [], {}
        vector = self._embed([query])[0]
        if mode != "hybrid":
            return hybrid(self.store, question, vector, k, filters, mode=mode), {}
        params = self.reader_params
        reader = self.reader if read and params.read_passages else None
        pool = max(k, EVIDENCE_PASSAGES if evidence else 0, params.read_passages if reader else 0)
        hits = hybrid(self.store, question, vector, pool, filters)
        if not hits:
            return [], {}
        found: dict[str, float] = {}
        if evidence:
            vectors = self.store.vectors_for([h.chunk_id for h in hits[:EVIDENCE_PASSAGES]])
            found["passage_cosine"] = passage_cosine(vectors, vector)
        if reader is not None:
            top = hits[: params.read_passages]
            logits = reader.score(query, [passage_text(h.title, h.text) for h in top], "passage")
            found["passage_reader"] = float(logits.max())
            hits = rerank(hits, logits, params.rank_prior)
        return hits[:k], found

    def ask(
        self, query: str, *, k: int = 8, filters: Filters | None = None, as_of: date | None = None
    ) -> Answer:
        """An extractive answer with numbered citations (or an abstention)."""
        question = Question.parse(query, as_of)
        hits, evidence = [], {}
        if not question.foreign:  # English news only: nothing to search for
            hits, evidence = self._retrieve(question, k, filters, read=self.reader_params.in_answers)
        reader = self.reader if self.answer_params.reader_weight else None
        return compose(
            question, hits, self._embed, self.store.article, self.answer_params, idf=self._idf(),
            evidence=evidence, read=partial(reader.score, question.text) if reader else None,
            dates=self.dates(),
        )

    def dates(self) -> DateRange:
        """The publication dates the index covers (named in refusals)."""
        return self.store.published_range()

    def _idf(self):
        """Inverse document frequency over chunks (None for a term no chunk has)."""
        store = self.store
        chunks = store.counts()[1]

        def idf(term: str) -> float | None:
            df = store.document_frequency(term)
            return math.log((chunks + 1) / df) if df else None

        return idf

    def check(self, answer: Answer) -> list[str]:
        """Citation problems of an answer (empty list when every quote is verbatim)."""

        def text(article_id: str) -> str | None:
            article = self.store.article(article_id)
            return article.text if article else None

        return check_citations(answer, text)

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Questions and sentences (not ingest's chunks), through the cache of recent vectors."""
        return self._vectors.embed(self.embedder, texts)

    # ------------------------------------------------------------------ writing

    def ingest(self, items: Sequence[str], *, progress: bool = False,
               on_step: Callable[[IngestStep], None] | None = None) -> IngestReport:
        """Add or update articles from files, directories, URLs and feeds. Never raises for a
        bad item: failures are in the report, naming the item and the reason. ``on_step`` is
        told what is being done (fetching, reading an article, indexing), from this thread."""
        started = time.perf_counter()
        report = IngestReport()
        items = list(items)
        step = on_step or (lambda _: None)
        if self._store is not None:
            self._store.require_writable()  # before anything is fetched
        reader = ItemReader(self._fetcher, Limits.from_settings(self.settings), is_known=self.is_known)
        # The network first, without the index's write lock: a slow server holds up no writer.
        step(IngestStep("fetching", count=len(items)))
        fetched = reader.fetch(items)
        return self._index(reader.read(items, fetched), report, started, progress, step)

    def add_articles(self, items: Iterable[Article | ItemResult]) -> IngestReport:
        """Index articles read elsewhere (the feed watcher's), as :meth:`ingest` indexes what
        it reads: unchanged ones skipped, failures (ItemResults) passed into the report."""
        return self._index(iter(items), IngestReport(), time.perf_counter(), False, lambda _: None)

    def _index(self, items: Iterator[Article | ItemResult], report: IngestReport, started: float,
               progress: bool, step: Callable[[IngestStep], None]) -> IngestReport:
        """Read, classify and chunk ``items`` in this thread while an :class:`EmbedStage`
        worker embeds the batch before and this thread commits the one before that (see
        :class:`retrieval.pipeline.Batches`). A KeyboardInterrupt comes out as :class:`IngestInterrupted`; what
        was committed before it is kept."""
        with self._ingest_lock:
            store = self._ensure_store()
            store.require_writable()
            bar = _progress_bar(progress)
            pending: list[tuple[Article, list[Chunk], str, int]] = []
            pending_chunks = 0
            limit = FLUSH_CHUNKS
            run = _Run()
            seen_hashes: set[str] = set()
            batches: Batches | None = None
            try:
                with store.writing() as writer, \
                        Batches(lambda: self.bulk_embedder, writer, report, bar, step) as batches:
                    self._backfill(store, writer)
                    for item in items:
                        batches.commit_ready()
                        if isinstance(item, ItemResult):
                            report.results.append(item)
                            continue
                        step(IngestStep("reading", item=item.title))
                        status = self._classify(store, item, seen_hashes, report, run)
                        if status is None:
                            continue
                        chunks = chunk_article(
                            item,
                            self.settings.chunk_words,
                            self.settings.chunk_max_words,
                            self.settings.chunk_overlap_words,
                        )
                        if len(chunks) > self.settings.max_chunks:
                            report.results.append(ItemResult(item.origin, "failed", (
                                f"{len(chunks):,} chunks, over the {self.settings.max_chunks:,} "
                                "allowed for one article (RETRIEVER_MAX_CHUNKS)"), title=item.title))
                            seen_hashes.discard(item.hash)
                            continue
                        if store.folding and self._fold(store, item, status, run, report):
                            continue
                        # Placeholder keeps the report in input order; filled in when committed.
                        report.results.append(ItemResult(item.origin, "pending"))
                        pending.append((item, chunks, status, len(report.results) - 1))
                        pending_chunks += len(chunks)
                        if pending_chunks >= limit:
                            batches.submit(pending, *run.take(pending))
                            pending, pending_chunks = [], 0
                            limit = min(2 * limit, WINDOW_CHUNKS)
                    batches.submit(pending, *run.take(pending))
                    batches.finish()
            except KeyboardInterrupt as exc:
                raise IngestInterrupted(batches.committed if batches is not None else 0) from exc
            finally:
                bar.close()
        report.seconds = time.perf_counter() - started
        return report

    def is_known(self, url: str) -> bool:
        """Whether an article with this URL is indexed (feed entries that are are not fetched)."""
        return self._store is not None and self._store.has_url(url)

    def _too_old(self, article: Article) -> bool:
        days = self.settings.max_age_days
        return bool(days and article.published and article.published < date.today() - timedelta(days=days))

    def _classify(
        self, store: IndexStore, article: Article, seen: set[str], report: IngestReport,
        run: "_Run | None" = None,
    ) -> str | None:
        """"added" / "updated", or None (recorded as unchanged) when nothing needs doing."""
        if self._too_old(article):
            report.results.append(ItemResult(
                article.origin, "unchanged",
                f"published {article.published}, older than RETRIEVER_MAX_AGE_DAYS="
                f"{self.settings.max_age_days}: not kept", article.id, article.title,
                article.source, article.published))
            return None
        digest = article.hash
        current = store.article_hash(article.id)
        twin = run.hashes.get(digest) if run is not None and current != digest else None
        if twin is not None and twin != article.id and article.url:
            # The same text at another URL earlier in this ingest: one more source of it.
            run.folds.append((article, twin))
            report.results.append(
                ItemResult(article.origin, "folded", f"same text as article {twin}: kept as another "
                           "source of that story", twin, article.title, article.source, article.published)
            )
            return None
        if current == digest or digest in seen:
            report.results.append(
                ItemResult(article.origin, "unchanged", "", article.id, article.title,
                           article.source, article.published)
            )
            return None
        alternative = store.alternative(article.id) if current is None else None
        if alternative is not None and alternative.hash == digest:
            report.results.append(
                ItemResult(article.origin, "unchanged", f"kept as another source of article {alternative.story_id}",
                           alternative.story_id, article.title, article.source, article.published)
            )
            return None
        twin = store.find_by_hash(digest) if current is None else None
        if twin is not None and run is not None and store.folding and article.url:
            # Another URL with the same text: one more source of that story.
            run.folds.append((article, twin))
            report.results.append(
                ItemResult(article.origin, "folded", f"same text as article {twin}: kept as another "
                           "source of that story", twin, article.title, article.source, article.published)
            )
            return None
        if twin is not None:
            report.results.append(
                ItemResult(article.origin, "unchanged", f"same text as article {twin}", twin, article.title,
                           article.source, article.published)
            )
            return None
        seen.add(digest)
        return "updated" if current is not None else "added"

    def _fold(self, store: IndexStore, article: Article, status: str, run: "_Run", report: IngestReport) -> bool:
        """Sign ``article``; when it is a near copy of a stored story (or of one this ingest
        is adding), record it as another source of that story and report it "folded". An
        article already stored ("updated") keeps its place: it is only signed again."""
        signature = dupes.signature(article.title, article.text)
        run.signatures[article.id] = signature
        if status != "added" or not signature.foldable:
            return False
        screen = dupes.NEAR_COPY_JACCARD - 0.1  # the estimate's error is ~0.04
        candidates = store.near_candidates(signature, NEAR_CANDIDATES) + run.candidates(signature)
        best: tuple[dupes.NearCopy, Article] | None = None
        for story_id, other in candidates:
            if story_id == article.id or signature.similarity(other) < screen:
                continue
            story = run.stories.get(story_id) or store.article(story_id)
            if story is None:
                continue
            match = dupes.near_copy(article.title, article.text, story.title, story.text)
            if match is not None and (best is None or match.jaccard > best[0].jaccard):
                best = (match, story)
        if best is None:
            run.add(article, signature)
            return False
        match, story = best
        run.folds.append((article, story.id))
        del run.signatures[article.id]
        where = story.source or story.url or story.id
        report.results.append(ItemResult(
            article.origin, "folded",
            f"near copy (Jaccard {match.jaccard:.2f}) of {story.title!r} ({where}): kept as another "
            "source of that story", story.id, article.title, article.source, article.published,
        ))
        return True

    def _backfill(self, store: IndexStore, writer) -> None:
        """Sign articles stored before folding existed, a bounded number per ingest."""
        missing = store.unsigned_articles(BACKFILL_BATCH)
        if not missing:
            return
        log.info("computing near-copy signatures of %d stored article(s)", len(missing))
        with writer.batch() as batch:
            for article_id in missing:
                article = store.article(article_id)
                if article is not None:
                    batch.sign(article_id, dupes.signature(article.title, article.text))

    def _ensure_store(self) -> IndexStore:
        if self._store is None:
            embedder = self.bulk_embedder
            self._store = create_store(
                self.settings,
                model=embedder.name,
                dimension=embedder.dimension,
                chunking={
                    "target_words": self.settings.chunk_words,
                    "max_words": self.settings.chunk_max_words,
                    "overlap_words": self.settings.chunk_overlap_words,
                },
            )
        return self._store

    def remove(self, ref: str) -> Article | AlternativeSource | None:
        """Delete one article by id or URL and return it, or None when it was not indexed.

        A story's other sources (near copies folded into it) go with it: their text was never
        stored. The id or URL of one of those sources removes only that source, and returns it
        as an :class:`AlternativeSource`; the story stays."""
        with self._ingest_lock:
            store = self.store
            article_id = store.resolve(ref)
            if article_id is None:
                found = store.alternative(ref)
                if found is None:
                    return None
                with store.writing() as writer, writer.batch() as batch:
                    batch.remove_source(found.id)
                return found.source
            article = store.article(article_id)
            with store.writing() as writer, writer.batch() as batch:
                batch.remove(article_id)
            return article

    def prune(self, older_than_days: int) -> int:
        """Remove the articles published more than ``older_than_days`` days ago (without a
        date: added that long ago), with their chunks and vectors; returns how many. Removals
        are committed in batches, each one transaction, so an interruption keeps the index
        consistent and the next prune finishes the job."""
        if older_than_days < 0:
            raise ConfigError(f"--older-than must be 0 or more days (got {older_than_days})")
        with self._ingest_lock:
            store = self.store
            store.require_writable()
            doomed = store.articles_older_than(date.today() - timedelta(days=older_than_days))
            if not doomed:
                return 0
            with store.writing() as writer:
                for start in range(0, len(doomed), PRUNE_BATCH):
                    with writer.batch() as batch:
                        for article_id in doomed[start : start + PRUNE_BATCH]:
                            batch.remove(article_id)
            return len(doomed)

    # ------------------------------------------------------------------ feeds

    def feeds(self) -> list[Feed]:
        """The feeds this index follows, with their polling state."""
        return self.store.feeds() if self._store is not None else []

    def add_feed(self, url: str, *, every_minutes: float = DEFAULT_FEED_MINUTES,
                 source: str | None = None) -> tuple[Feed, bool]:
        """Follow the feed at ``url`` (polled first by the next watcher round); a feed already
        followed gets the new interval and source. Returns the feed and whether it is new.
        Nothing is fetched here. A bad URL or interval raises ConfigError naming it."""
        url = url.strip()
        if not re.match(r"https?://[^/\s]+", url) or any(c.isspace() for c in url):
            raise ConfigError(f"{url!r} is not a feed URL: it must start with http:// or https:// and have a host")
        if not every_minutes >= MIN_FEED_MINUTES:
            raise ConfigError(f"a feed is polled at most every {MIN_FEED_MINUTES:g} minute(s) (got {every_minutes:g})")
        with self._ingest_lock:
            store = self._ensure_store()
            return store.put_feed(url, every_minutes, (source or "").strip() or None, datetime.now(timezone.utc))

    def remove_feed(self, url: str) -> Feed | None:
        """Stop following ``url`` (its articles stay); None when it was not followed."""
        return self.store.delete_feed(url.strip())

    # ------------------------------------------------------------------ alerts

    @property
    def alerts(self) -> Alerts:
        """Topic subscriptions, alerts on new articles and the day's digest
        (:mod:`retrieval.alerts`); built on first use."""
        if self._alerts is None:
            self._alerts = Alerts(self)
        return self._alerts

    # ------------------------------------------------------------------ info

    def stats(self) -> Stats:
        store = self.store
        articles, chunks = store.counts()
        dates = store.published_range()
        return Stats(
            articles=articles,
            chunks=chunks,
            model=store.model,
            dimension=store.dimension,
            index_bytes=store.size_bytes(),
            last_ingest=store.last_ingest(),
            newest_published=dates.newest,
            path=store.location,
            oldest_published=dates.oldest,
        )


class _Run:
    """Near-copy state of one ingest: signatures of the articles it adds (band keys in memory,
    so a copy later in the same run finds them before they are committed) and the folds to
    write with the next batch."""

    def __init__(self):
        self.signatures: dict[str, dupes.Signature] = {}
        self.stories: dict[str, Article] = {}
        self.hashes: dict[str, str] = {}  # text hash → id of a story this ingest adds
        self.bands: dict[int, list[str]] = {}
        self.folds: list[tuple[Article, str]] = []

    def add(self, article: Article, signature: dupes.Signature) -> None:
        self.stories[article.id] = article
        self.hashes[article.hash] = article.id
        for key in signature.bands():
            self.bands.setdefault(key, []).append(article.id)

    def candidates(self, signature: dupes.Signature) -> list[tuple[str, dupes.Signature]]:
        ids = {i for key in signature.bands() for i in self.bands.get(key, ())}
        return [(i, self.signatures[i]) for i in ids if i in self.signatures]

    def take(self, pending) -> tuple[list[tuple[str, dupes.Signature]], list[tuple[Article, str]]]:
        """What goes into the transaction of ``pending`` articles: their signatures, and the
        folds recorded since the batch before (their stories are stored before or with them:
        a story is always put before a copy of it is read)."""
        folds, self.folds = self.folds, []
        return [(p[0].id, self.signatures[p[0].id]) for p in pending if p[0].id in self.signatures], folds


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(unit="chunk", desc="embedding", leave=False)
