"""The ingest pipeline: a worker thread (:class:`EmbedStage`) embeds one batch of chunk texts
while the ingest thread reads, cleans and chunks the next one and commits the one before
(:class:`Batches`; torch releases the GIL while it computes, SQLite while it writes). SQLite is
only ever touched by the ingest thread.

Within a batch the texts are embedded shortest first, in calls of :data:`SLICE_TEXTS`, so the
encoder's batches hold texts of about the same length and pad little (sentence-transformers
sorts too, but only within one call, by characters); the vectors come back in the batch's
order. Lengths are counted in tokens when the embedder can count them (``token_lengths``),
else in characters: on 4,558 rtqa chunks at batch 16, sorting 512 texts by characters left
12.9% of the encoded tokens padding, by tokens 1.9%, and 0.7% at 2,048 texts.

The stage is bounded: the caller keeps at most :data:`IN_FLIGHT` batches submitted and not yet
collected. An exception in the worker (an embedder's bug, a KeyboardInterrupt raised inside
it) comes out of :meth:`EmbedStage.results` in the caller's thread as the same object;
:meth:`EmbedStage.close` stops the worker after the call in progress and joins it.
"""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from retrieval.chunking import embedding_text
from retrieval.dupes import Signature
from retrieval.embeddings import Embedder
from retrieval.types import Article, Chunk, IngestReport, IngestStep, ItemResult

#: Texts per embedding call: the worker checks for a stop between calls, so a Ctrl-C waits for
#: at most one call (~1.5 s for 64 chunks of 120 words on 2 CPU cores) before the ingest ends.
SLICE_TEXTS = 64
#: Batches submitted and not yet collected: one being embedded and one waiting, so the worker
#: never waits for the reader while the reader is at most two batches ahead.
IN_FLIGHT = 2
#: How often (seconds) a caller waiting for a batch looks at the worker's progress.
POLL_SECONDS = 0.2


class EmbedStage:
    """One worker thread embedding submitted batches in order. Use as a context manager (or
    call :meth:`close`): the thread never outlives the ingest that started it."""

    def __init__(self, embedder: Embedder):
        self._embedder = embedder
        self._todo: queue.Queue[tuple[Any, list[str]] | None] = queue.Queue()
        self._done: queue.Queue[tuple[Any, np.ndarray | None, BaseException | None]] = queue.Queue()
        self._stop = threading.Event()
        self._submitted = 0
        self._collected = 0
        #: Texts embedded so far (written by the worker, read for progress bars).
        self.embedded = 0
        self._thread = threading.Thread(target=self._work, name="ingest-embedding", daemon=True)
        self._thread.start()

    def __enter__(self) -> "EmbedStage":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def full(self) -> bool:
        """Whether a caller must collect a result before it submits another batch."""
        return self._submitted - self._collected >= IN_FLIGHT

    @property
    def busy(self) -> bool:
        """Whether a batch is submitted and not yet collected."""
        return self._submitted > self._collected

    def submit(self, job: Any, texts: list[str]) -> None:
        """Embed ``texts``; ``job`` comes back with their vectors from :meth:`results`."""
        if self.full:
            raise RuntimeError(f"{IN_FLIGHT} batches already in flight: collect one first")
        self._submitted += 1
        self._todo.put((job, texts))

    def results(self, *, wait: bool = False, on_wait=None) -> Iterator[tuple[Any, np.ndarray]]:
        """Finished batches in submission order: those ready now, or with ``wait`` the next
        one (blocking; ``on_wait`` is called every :data:`POLL_SECONDS` meanwhile). Raises
        the worker's exception when its batch comes up."""
        while self.busy:
            try:
                job, vectors, error = self._done.get(timeout=POLL_SECONDS) if wait else self._done.get_nowait()
            except queue.Empty:
                if not wait:
                    return
                if on_wait is not None:
                    on_wait()
                if not self._thread.is_alive() and self._done.empty():
                    raise RuntimeError("the embedding worker ended without a result")  # pragma: no cover
                continue
            self._collected += 1
            if error is not None:
                raise error
            yield job, vectors
            wait = False  # one waited for; the rest only if already there

    def close(self) -> None:
        """Stop after the embedding call in progress and join the worker."""
        self._stop.set()
        self._todo.put(None)
        self._thread.join()

    def _work(self) -> None:
        while not self._stop.is_set():
            item = self._todo.get()
            if item is None:
                return
            job, texts = item
            try:
                vectors = self._embed(texts)
            except BaseException as exc:  # handed to the caller's thread, which raises it
                self._done.put((job, None, exc))
                return
            if vectors is None:  # stopped half-way
                return
            self._done.put((job, vectors, None))

    def _embed(self, texts: list[str]) -> np.ndarray | None:
        order = sorted(range(len(texts)), key=token_lengths(self._embedder, texts).__getitem__)
        out = np.zeros((len(texts), self._embedder.dimension), dtype=np.float32)
        for start in range(0, len(order), SLICE_TEXTS):
            if self._stop.is_set():
                return None
            rows = order[start : start + SLICE_TEXTS]
            out[rows] = self._embedder.embed([texts[i] for i in rows])
            self.embedded += len(rows)
        return out


def token_lengths(embedder: Embedder, texts: list[str]) -> list[int]:
    """Each text's length in the embedder's tokens (truncated as it truncates) when it can
    count them, else in characters."""
    count = getattr(embedder, "token_lengths", None)
    return count(texts) if count is not None else [len(t) for t in texts]


#: (article, its chunks, "added"/"updated", its slot in the report)
Pending = tuple[Article, list[Chunk], str, int]


@dataclass
class PendingBatch:
    """One transaction of an ingest: articles with their chunks, status and report slot; the
    signatures of those articles; folds recorded since the batch before."""

    pending: list[Pending]
    signatures: list[tuple[str, Signature]]
    folds: list[tuple[Article, str]]


class Batches:
    """The batches of one ingest on their way to the index: embedded in submission order by an
    :class:`EmbedStage` worker (started with the first batch that has text, so re-reading
    stored articles loads no model), then committed by the ingest thread, each one transaction
    of ``writer`` (``Store.writing()``), while the worker embeds the next. At most
    :data:`IN_FLIGHT` batches are submitted and not committed. A context manager, so the worker
    never outlives the ingest."""

    def __init__(self, embedder: Callable[[], Embedder], writer, report: IngestReport, bar,
                 step: Callable[[IngestStep], None]):
        self._embedder = embedder
        self.writer = writer
        self.report = report
        self.bar = bar
        self.step = step
        self.stage: EmbedStage | None = None
        #: Articles committed by this ingest.
        self.committed = 0
        self._shown = 0  # texts counted on the progress bar

    def __enter__(self) -> "Batches":
        return self

    def __exit__(self, *exc) -> None:
        if self.stage is not None:
            self.stage.close()

    def submit(self, pending: list[Pending], signatures: list[tuple[str, Signature]],
               folds: list[tuple[Article, str]]) -> None:
        """Hand ``pending`` articles, with the signatures and folds to commit with them, to
        the embedding worker (waiting for a batch to commit first when enough are in flight)."""
        job = PendingBatch(pending, signatures, folds)
        if not (pending or folds):
            return
        texts = [embedding_text(p[0].title, c.text) for p in pending for c in p[1]]
        if self.stage is None:
            if not texts:  # nothing in flight: commit the folds at once
                self._commit(job, np.zeros((0, 0), dtype=np.float32))
                return
            self.stage = EmbedStage(self._embedder())
        if texts:
            self.step(IngestStep("indexing", count=len(texts)))
        while self.stage.full:
            self._collect(wait=True)
        self.stage.submit(job, texts)

    def commit_ready(self) -> None:
        """Commit the batches the worker has finished, without waiting."""
        if self.stage is not None:
            self._collect(wait=False)

    def finish(self) -> None:
        """Wait for every batch in flight and commit it."""
        while self.stage is not None and self.stage.busy:
            self._collect(wait=True)

    def _collect(self, *, wait: bool) -> None:
        for job, vectors in self.stage.results(wait=wait, on_wait=self._show):
            self._commit(job, vectors)
        self._show()

    def _show(self) -> None:
        done = self.stage.embedded
        self.bar.update(done - self._shown)
        self._shown = done

    def _commit(self, job: PendingBatch, vectors: np.ndarray) -> None:
        offset = 0
        with _signals_held(), self.writer.batch() as batch:
            for article, chunks, _, _ in job.pending:
                batch.put(article, chunks, vectors[offset : offset + len(chunks)])
                offset += len(chunks)
            for article_id, signature in job.signatures:
                batch.sign(article_id, signature)
            for article, story_id in job.folds:
                batch.fold(article, story_id)
            # Counted inside the hold: a Ctrl-C after the commit finds the count right.
            self.committed += len(job.pending)
        for article, chunks, status, slot in job.pending:
            self.report.results[slot] = ItemResult(article.origin, status, "", article.id, article.title,
                                                   article.source, article.published)
            self.report.chunks_added += len(chunks)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while a batch is committed (in the main thread, where Python
    handles signals): a Ctrl-C between the SQLite commit and the vector segments' update would
    leave a segment to be rebuilt on the next open and the batch out of the count of committed
    articles. A signal that came meanwhile is raised again right after, to the handler that was
    there before."""
    signals = (signal.SIGINT, signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread() or any(
        signal.getsignal(s) is None for s in signals  # a handler not set from Python: leave it
    ):
        yield
        return
    held: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: held.append(signum)) for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for s in held:
            signal.raise_signal(s)
