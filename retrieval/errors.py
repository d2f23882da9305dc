"""Errors raised by the engine. Callers at the edges (CLI, bot) translate them; nothing inside
``retrieval/`` catches blanket exceptions.

    RetrievalError                  base class: a domain error with a message fit for a user
    ├── ConfigError                 a setting is invalid (names the variable and the value)
    ├── IndexMissingError           no index at the given path
    ├── IndexFormatError            manifest disagrees with the files (numbers in the message)
    │   └── IndexDamagedError       index.sqlite cannot be read: restore it or rebuild the index
    ├── ModelMismatchError          the index was built with another model (names both)
    ├── IndexLockedError            another writer holds the index
    ├── IndexReadOnlyError          ingest/remove on an index that cannot or may not be written
    ├── StorageError                the disk refused a write (full, I/O error); says what was kept
    ├── IngestError                 one item could not be read or extracted (names item + reason)
    │   └── FetchError              an URL could not be fetched (status, size, timeout)
    ├── ModelLoadError              the embedding model could not be loaded
    └── WorkerError                 a process answering questions stopped (NEWSBOT_WORKERS)

Outside the tree, because it is not a domain error: ``IngestInterrupted``, the
KeyboardInterrupt an ingest re-raises when it is stopped (Ctrl-C, or SIGTERM in the CLI), with
the number of articles it committed before (those are kept; running it again resumes).
"""

from __future__ import annotations


class RetrievalError(Exception):
    """Base class of every error the engine raises on purpose."""


class ConfigError(RetrievalError):
    pass


class IndexMissingError(RetrievalError):
    pass


class IndexFormatError(RetrievalError):
    pass


class ModelMismatchError(RetrievalError):
    pass


class IndexDamagedError(IndexFormatError):
    pass


class IndexLockedError(RetrievalError):
    pass


class IndexReadOnlyError(RetrievalError):
    pass


class StorageError(RetrievalError):
    pass


class IngestError(RetrievalError):
    def __init__(self, item: str, reason: str):
        super().__init__(f"{item}: {reason}")
        self.item = item
        self.reason = reason


class FetchError(IngestError):
    pass


class ModelLoadError(RetrievalError):
    pass


class WorkerError(RetrievalError):
    pass


class IngestInterrupted(KeyboardInterrupt):
    """An ingest stopped by KeyboardInterrupt. ``committed``: the articles it had committed,
    which are kept; the same ingest run again skips them and indexes the rest."""

    def __init__(self, committed: int):
        super().__init__(f"ingest interrupted after committing {committed} article(s)")
        self.committed = committed
