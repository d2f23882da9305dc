"""Errors raised by the engine. Callers at the edges (CLI, bot) translate them; nothing inside
``retrieval/`` catches blanket exceptions.

    RetrievalError                  base class: a domain error with a message fit for a user
    ├── ConfigError                 a setting is invalid (names the variable and the value)
    ├── IndexMissingError           no index at the given path
    ├── IndexFormatError            manifest disagrees with the files (numbers in the message)
    ├── ModelMismatchError          the index was built with another model (names both)
    ├── IndexLockedError            another writer holds the index
    ├── IngestError                 one item could not be read or extracted (names item + reason)
    │   └── FetchError              an URL could not be fetched (status, size, timeout)
    └── ModelLoadError              the embedding model could not be loaded
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


class IndexLockedError(RetrievalError):
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
