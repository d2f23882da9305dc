"""onnxruntime sessions of one model shared by the threads of a process (the embedding model
and the reader), never running more threads than the machine has cores."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from retrieval.errors import ModelLoadError


def _load_errors() -> tuple[type[BaseException], ...]:
    """What onnxruntime raises for a file it cannot load (none of them a RuntimeError)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    names = ("Fail", "InvalidArgument", "InvalidGraph", "InvalidProtobuf", "NoSuchFile", "NoModel",
             "RuntimeException", "NotImplemented")
    return (OSError, *(getattr(state, n) for n in names if isinstance(getattr(state, n, None), type)))


#: Most one-thread sessions a process keeps (each holds its own copy of the weights: ~110 MB
#: for MiniLM, ~25 MB for the reader).
MAX_ONE_THREAD = 4


class Cores:
    """The cores onnxruntime calls of one process may take at once, shared by its models.

    Processes that answer side by side (:mod:`retrieval.workers`) also share a count of the
    cores their calls hold (``shared``, a ``multiprocessing.Value``): a call takes every core
    only when no call runs in any of them, else one thread. Each process still waits only for
    its own cores; two processes' one-thread calls run side by side.
    """

    def __init__(self, total: int | None = None, shared=None):
        self.total = max(1, total or os.cpu_count() or 1)
        self.busy = 0
        self.changed = threading.Condition()
        self.shared = shared

    def alone(self) -> bool:
        """Whether no onnxruntime call runs, in this process or those it shares cores with."""
        if self.busy:
            return False
        return self.shared is None or self.shared.value == 0

    def add(self, taken: int) -> None:
        """Count ``taken`` more cores as busy (fewer, if negative); called with ``changed`` held."""
        self.busy += taken
        if self.shared is not None:
            with self.shared.get_lock():
                self.shared.value += taken


#: The process's cores: the embedding model and the reader take from the same count.
CORES = Cores()


class Sessions:
    """onnxruntime sessions of one model, shared by the threads of a process, never running
    more threads than the process has cores (:class:`Cores`, shared with its other models).

    A call alone in the process runs on the *wide* session, whose threads use every core (16
    sentences of ~60 tokens: 65 ms instead of 124 on one core). A call that arrives while
    others run, and any call small enough that a second thread would not shorten it, runs on a
    one-thread session of its own, so concurrent questions run side by side instead of queueing
    for the wide session (one call at a time: concurrent calls in one session each take their
    working memory from its arena, which never shrinks, and share its threads). Sessions are
    made on first need: a process that only embeds questions holds one.
    """

    def __init__(self, onnx_file: Path, cores: Cores = CORES):
        self.file = onnx_file
        self._cores = cores
        self._limit = min(cores.total, MAX_ONE_THREAD)
        self._idle: list = []  # one-thread sessions not running
        self._made = 0
        self._wide = None

    def open(self, *, wide: bool = False) -> None:
        """Make the session the model's calls use when alone now (``wide``: the one with every
        core, else a one-thread one): a broken model file fails here, at load, and the first
        call does not wait for it."""
        with self.session(wide=wide):
            pass

    def _make(self, threads: int):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = threads
        # No spinning: onnxruntime's idle threads otherwise busy-wait for the next call, which
        # on a small machine shared with ingest, FAISS and other processes takes the cores
        # the work needs (one question, load average ~9: 84 ms spinning, 23 ms not;
        # docs/BENCHMARKS.md, "Scale on one machine").
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            return onnxruntime.InferenceSession(str(self.file), options, providers=["CPUExecutionProvider"])
        except _load_errors() as exc:
            raise ModelLoadError(f"cannot load the model {self.file}: {exc}") from None

    def _take(self, wide: bool):
        """A session to run on and the cores it holds; called with the condition held."""
        cores = self._cores
        while True:
            if wide and cores.total > 1 and cores.alone():
                if self._wide is None:
                    self._wide = self._make(cores.total)
                return self._wide, cores.total
            if cores.busy < cores.total and (self._idle or self._made < self._limit):
                if not self._idle:
                    self._made += 1
                    try:
                        self._idle.append(self._make(1))
                    except BaseException:
                        self._made -= 1
                        raise
                return self._idle.pop(), 1
            cores.changed.wait()

    @contextlib.contextmanager
    def session(self, *, wide: bool):
        """A session for one call: the wide one if ``wide`` and nothing else runs, else a
        one-thread one; waits while every core is taken."""
        with self._cores.changed:
            session, taken = self._take(wide)
            self._cores.add(taken)
        try:
            yield session
        finally:
            with self._cores.changed:
                self._cores.add(-taken)
                if session is not self._wide:
                    self._idle.append(session)
                self._cores.changed.notify_all()
