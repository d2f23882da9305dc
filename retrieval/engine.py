"""The engine facade: one object the CLI, the bot and the benchmarks share.

Blocking and thread-safe: the store guards SQLite/FAISS with its own lock, embedding runs
outside it (so a slow question does not hold up another), and ingests in one process are
serialised. The embedding model loads on first use, not on open.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from datetime import date

import numpy as np

from retrieval.answer import DEFAULT_ANSWER, AnswerParams, check_citations, compose
from retrieval.chunking import chunk_article, embedding_text
from retrieval.config import DEFAULT_MODEL, Settings
from retrieval.embeddings import Embedder, load_embedder
from retrieval.errors import IndexMissingError, ModelMismatchError
from retrieval.question import Question
from retrieval.reader import Reader, load_reader
from retrieval.reader_text import passage_text
from retrieval.rerank import DEFAULT_READER_PARAMS, EVIDENCE_PASSAGES, ReaderParams, passage_cosine, rerank
from retrieval.search import hybrid
from retrieval.fetch import Fetcher
from retrieval.sources import Limits
from retrieval.sources import Reader as ItemReader  # not retrieval.reader's Reader
from retrieval.store import DB_FILE, Store
from retrieval.types import Answer, Article, Chunk, Filters, Hit, IngestReport, ItemResult, Stats

log = logging.getLogger(__name__)

#: Chunks embedded and committed together: one transaction per flush keeps the work lost to
#: a crash small without paying a commit per article.
FLUSH_CHUNKS = 512


class Engine:
    def __init__(
        self,
        settings: Settings,
        store: Store | None,
        embedder: Embedder | None = None,
        *,
        one_embedder: bool = False,
    ):
        self.settings = settings
        self._store = store
        self._embedder = embedder
        self._bulk_embedder = embedder
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
    ) -> "Engine":
        """Open the index at ``settings.index``; with ``create`` a missing index is made on the
        first ingest. Refuses an index built with another model (``check_model=False`` for
        commands that embed nothing, such as stats and remove). ``one_embedder``: ingest with
        the question embedder, for long-running processes (see :attr:`bulk_embedder`)."""
        path = settings.index
        store = None
        if (path / DB_FILE).exists():
            store = Store.open(path, read_only=settings.read_only)
            wanted = embedder.name if embedder is not None else settings.model
            if check_model and store.model != wanted:
                store.close()
                raise ModelMismatchError(
                    f"index {path} was built with model {store.model!r}, but the configured model "
                    f"is {wanted!r}; use --model {store.model!r} (RETRIEVER_MODEL) or rebuild the "
                    "index into another folder"
                )
        elif not create:
            raise IndexMissingError(
                f"no index at {path}; build one with `retriever --index {path} ingest corpus/`"
            )
        return cls(settings, store, embedder, one_embedder=one_embedder)

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
    def store(self) -> Store:
        if self._store is None:
            raise IndexMissingError(f"no index at {self.settings.index}; ingest some articles first")
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
        vector = self.embedder.embed([query])[0]
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
        hits, evidence = self._retrieve(question, k, filters, read=self.reader_params.in_answers)
        reader = self.reader if self.answer_params.reader_weight else None
        return compose(
            question, hits, self._embed, self.store.article, self.answer_params, idf=self._idf(),
            evidence=evidence, read=partial(reader.score, question.text) if reader else None,
        )

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
        return self.embedder.embed(texts)

    # ------------------------------------------------------------------ writing

    def ingest(self, items: Sequence[str], *, progress: bool = False) -> IngestReport:
        """Add or update articles from files, directories, URLs and feeds. Never raises for a
        bad item: failures are in the report, naming the item and the reason."""
        started = time.perf_counter()
        report = IngestReport()
        items = list(items)
        if self._store is not None:
            self._store.require_writable()  # before anything is fetched
        reader = ItemReader(self._fetcher, Limits.from_settings(self.settings), is_known=self._is_known)
        # The network first, without the index's write lock: a slow server holds up no writer.
        fetched = reader.fetch(items)
        with self._ingest_lock:
            store = self._ensure_store()
            store.require_writable()
            bar = _progress_bar(progress)
            pending: list[tuple[Article, list[Chunk], str, int]] = []
            seen_hashes: set[str] = set()
            try:
                with store.writing() as writer:
                    for item in reader.read(items, fetched):
                        if isinstance(item, ItemResult):
                            report.results.append(item)
                            continue
                        status = self._classify(store, item, seen_hashes, report)
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
                        # Placeholder keeps the report in input order; filled in by _flush.
                        report.results.append(ItemResult(item.origin, "pending"))
                        pending.append((item, chunks, status, len(report.results) - 1))
                        if sum(len(p[1]) for p in pending) >= FLUSH_CHUNKS:
                            self._flush(writer, pending, report, bar)
                    self._flush(writer, pending, report, bar)
            finally:
                bar.close()
        report.seconds = time.perf_counter() - started
        return report

    def _is_known(self, url: str) -> bool:
        return self._store is not None and self._store.has_url(url)

    def _classify(
        self, store: Store, article: Article, seen: set[str], report: IngestReport
    ) -> str | None:
        """"added" / "updated", or None (recorded as unchanged) when nothing needs doing."""
        digest = article.hash
        current = store.article_hash(article.id)
        if current == digest or digest in seen:
            report.results.append(
                ItemResult(article.origin, "unchanged", "", article.id, article.title)
            )
            return None
        twin = store.find_by_hash(digest) if current is None else None
        if twin is not None:
            report.results.append(
                ItemResult(article.origin, "unchanged", f"same text as article {twin}", twin, article.title)
            )
            return None
        seen.add(digest)
        return "updated" if current is not None else "added"

    def _flush(self, writer, pending, report: IngestReport, bar) -> None:
        if not pending:
            return
        texts = [embedding_text(p[0].title, c.text) for p in pending for c in p[1]]
        # One call per flush: sentence-transformers sorts a call's texts by length, so batches
        # of similar length waste less padding than small separate calls would.
        vectors = self.bulk_embedder.embed(texts)
        bar.update(len(texts))
        offset = 0
        with writer.batch() as batch:
            for article, chunks, _, _ in pending:
                batch.put(article, chunks, vectors[offset : offset + len(chunks)])
                offset += len(chunks)
        for article, chunks, status, slot in pending:
            report.results[slot] = ItemResult(article.origin, status, "", article.id, article.title)
            report.chunks_added += len(chunks)
        pending.clear()

    def _ensure_store(self) -> Store:
        if self._store is None:
            embedder = self.bulk_embedder
            self._store = Store.create(
                self.settings.index,
                model=embedder.name,
                dimension=embedder.dimension,
                chunking={
                    "target_words": self.settings.chunk_words,
                    "max_words": self.settings.chunk_max_words,
                    "overlap_words": self.settings.chunk_overlap_words,
                },
                read_only=self.settings.read_only,
            )
        return self._store

    def remove(self, ref: str) -> Article | None:
        """Delete one article by id or URL; returns it, or None when it was not indexed."""
        with self._ingest_lock:
            store = self.store
            article_id = store.resolve(ref)
            if article_id is None:
                return None
            article = store.article(article_id)
            with store.writing() as writer, writer.batch() as batch:
                batch.remove(article_id)
            return article

    # ------------------------------------------------------------------ info

    def stats(self) -> Stats:
        store = self.store
        articles, chunks = store.counts()
        return Stats(
            articles=articles,
            chunks=chunks,
            model=store.model,
            dimension=store.dimension,
            index_bytes=store.size_bytes(),
            last_ingest=store.last_ingest(),
            newest_published=store.newest_published(),
            path=str(store.path),
        )


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
