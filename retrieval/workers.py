"""Questions answered by worker processes, each with its own read-only engine on the index.

One process answers questions on every core only as far as its Python code lets go of the
GIL: on 2 cores, eight threads asking at once got 1.3-1.4x the questions per second of one
(hybrid search, 100k chunks), two processes with four threads each 1.7x (docs/BENCHMARKS.md,
"Concurrent questions"). :class:`Workers` has the engine's question methods (``ask``,
``search``, ``find``) and runs them in ``processes`` worker processes; the bot uses it when
``NEWSBOT_WORKERS`` is set. The processes open the index read-only, so they see what the
bot's own engine (or any other writer) adds as soon as it is committed; their vectors are the
index's memory-mapped files, shared between them, not copies.

A worker that dies (killed, out of memory) fails the questions it had with a
:class:`~retrieval.errors.WorkerError`, and the next question starts a fresh set.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from retrieval.errors import RetrievalError, WorkerError

if TYPE_CHECKING:
    from retrieval.config import Settings
    from retrieval.engine import Engine
    from retrieval.types import Answer, Filters, Hit, SearchResult

log = logging.getLogger(__name__)


class Questions(Protocol):
    """What answers questions: an :class:`~retrieval.engine.Engine`, or :class:`Workers`."""

    def ask(self, query: str, *, k: int = 8, filters: Filters | None = None,
            as_of: date | None = None) -> Answer: ...

    def search(self, query: str, *, k: int = 10, filters: Filters | None = None,
               as_of: date | None = None, mode: str = "hybrid") -> list[Hit]: ...

    def find(self, query: str, *, k: int = 10, filters: Filters | None = None,
             as_of: date | None = None) -> SearchResult: ...


#: The engine of this worker process, or why it could not be opened (set by :func:`_start`).
_engine: Engine | RetrievalError | None = None


def _start(settings: Settings, vector_cache: int, cores) -> None:
    """Open the worker's engine and load its question model, before the first question. An
    error is kept and raised by every call (an initializer that raises would only print a
    traceback and leave the caller an unexplained broken pool). ``cores`` counts the cores the
    workers' onnxruntime calls hold, so that a call takes every core only when it runs alone
    (:class:`~retrieval.onnx_sessions.Cores`)."""
    from retrieval import onnx_sessions
    from retrieval.engine import Engine

    global _engine
    onnx_sessions.CORES.shared = cores
    try:
        engine = Engine.open(settings.model_copy(update={"read_only": True}), vector_cache=vector_cache)
        engine.embedder.embed(["warm up"])
    except RetrievalError as exc:
        _engine = exc
    else:
        _engine = engine


def _call(method: str, args: tuple, kwargs: dict[str, Any]) -> Any:
    if isinstance(_engine, RetrievalError):
        raise _engine
    assert _engine is not None, "worker started without its engine"
    return getattr(_engine, method)(*args, **kwargs)


class Workers:
    """``processes`` worker processes answering ``ask``, ``search`` and ``find`` on the index
    of ``settings``; thread-safe, a call blocks until its answer is back."""

    def __init__(self, settings: Settings, processes: int, *, vector_cache: int = 0):
        if processes < 1:
            raise ValueError(f"processes must be at least 1, not {processes}")
        self._settings = settings
        self._processes = processes
        self._vector_cache = vector_cache
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False

    def start(self) -> None:
        """Start the processes (each opens the index and loads the question model, or the first
        questions wait for that) and wait for their first answers: an index a worker cannot
        open raises its error here."""
        pool = self._executor()
        for future in [pool.submit(_call, "dates", (), {}) for _ in range(self._processes)]:
            self._result(future, pool)

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise WorkerError("the question workers are closed")
            if self._pool is None:
                # spawn, not fork: the parent holds onnxruntime and FAISS threads and SQLite
                # connections, which a forked child must not inherit. A fresh set gets a fresh
                # count of busy cores (a worker that died may have left its call counted).
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(
                    self._processes, mp_context=context, initializer=_start,
                    initargs=(self._settings, self._vector_cache, context.Value("i", 0)))
            return self._pool

    def _result(self, future, pool: ProcessPoolExecutor) -> Any:
        try:
            return future.result()
        except BrokenProcessPool as exc:
            with self._lock:
                if self._pool is pool:  # the next call starts a fresh set
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            log.warning("a question worker stopped (%s); starting new ones", exc)
            raise WorkerError("the process answering questions stopped; please ask again") from None

    def _run(self, method: str, *args: Any, **kwargs: Any) -> Any:
        pool = self._executor()
        try:
            future = pool.submit(_call, method, args, kwargs)
        except BrokenProcessPool:
            future = None
        if future is None:  # broken before the call went out: one retry on a fresh set
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool = self._executor()
            future = pool.submit(_call, method, args, kwargs)
        return self._result(future, pool)

    def ask(self, query: str, **kwargs: Any) -> Answer:
        return self._run("ask", query, **kwargs)

    def search(self, query: str, **kwargs: Any) -> list[Hit]:
        return self._run("search", query, **kwargs)

    def find(self, query: str, **kwargs: Any) -> SearchResult:
        return self._run("find", query, **kwargs)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
