"""News retrieval engine: ingest articles, index them (FAISS + SQLite FTS5), answer with quotes.

Public surface::

    from retrieval import Engine, Settings
    engine = Engine.open(Settings(index="index"))
    answer = engine.ask("What did Qureshi say about Afghanistan?")

Heavy libraries (torch, sentence-transformers, faiss) load only when first needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from retrieval.config import Settings
from retrieval.errors import RetrievalError
from retrieval.types import (
    Answer,
    AnswerSentence,
    Article,
    Chunk,
    Citation,
    Filters,
    Hit,
    IngestReport,
    ItemResult,
    Stats,
)

if TYPE_CHECKING:
    from retrieval.engine import Engine

__all__ = [
    "Answer",
    "AnswerSentence",
    "Article",
    "Chunk",
    "Citation",
    "Engine",
    "Filters",
    "Hit",
    "IngestReport",
    "ItemResult",
    "RetrievalError",
    "Settings",
    "Stats",
]


def __getattr__(name: str):
    if name == "Engine":
        from retrieval.engine import Engine

        return Engine
    raise AttributeError(name)
