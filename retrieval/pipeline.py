"""The embedding stage of an ingest: a worker thread that embeds one batch of chunk texts while
the ingest thread reads, cleans and chunks the next one and commits the one before (torch
releases the GIL while it computes, SQLite while it writes).

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
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from retrieval.embeddings import Embedder

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
