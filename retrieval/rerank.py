"""What the reader changes in a ranking, and the evidence a question's passages give. Pure.

The reader (``retrieval.reader``) scores the top :data:`READ_PASSAGES` fused passages; they are
re-ordered by ``logit - rank_prior · ln(rank)``, which keeps some of the fused order (hybrid
search is right more often than not at the top) while letting the reader lift a passage that
holds the answer. Passages it did not read keep their order after the ones it did.

Abstention evidence, computed for every question (with or without a reader):

* ``passage_cosine`` — the best cosine between the question and the title + passage vectors of
  the top :data:`EVIDENCE_PASSAGES` passages (the stored vectors: no extra embedding). A
  question about something the index does not cover finds passages on its common words, but
  none close to it in meaning;
* ``passage_reader`` — the best reader logit over the passages it read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from retrieval.types import Hit

#: Fused passages the reader reads (each costs a cross-encoder pass over ~160 tokens).
READ_PASSAGES = 12
#: Passages whose stored vectors vouch for the question (abstention evidence).
EVIDENCE_PASSAGES = 30


@dataclass(frozen=True)
class ReaderParams:
    """How much the reader decides; defaults set on the calib period (docs/BENCHMARKS.md)."""

    read_passages: int = READ_PASSAGES
    #: Weight of the fused rank against the reader's logit (0 = reader order only).
    rank_prior: float = 1.0
    #: Whether ``ask`` answers from the reader's order too. On questions of a later period
    #: than its training (rtqa July–December 2023) the reader lifts answer recall of `search`
    #: (@600: 0.76 → 0.78) but not the answers (contains the expected answer: 0.58 without,
    #: 0.57 with) and costs ~150 ms, so ``ask`` keeps the fused order (docs/BENCHMARKS.md).
    in_answers: bool = False


DEFAULT_READER_PARAMS = ReaderParams()


def rerank(hits: list[Hit], logits: np.ndarray, rank_prior: float) -> list[Hit]:
    """``hits`` with the first ``len(logits)`` re-ordered by reader logit and fused rank; ranks
    renumbered, the fused score kept."""
    read = len(logits)
    order = sorted(range(read), key=lambda i: -(float(logits[i]) - rank_prior * math.log(i + 1)))
    ordered = [hits[i] for i in order] + hits[read:]
    return [replace(h, rank=r) for r, h in enumerate(ordered, 1)]


def passage_cosine(vectors: np.ndarray, query_vector: np.ndarray) -> float:
    """Best cosine of the question against L2-normalised passage vectors (0 when none)."""
    return float((vectors @ query_vector).max()) if len(vectors) else 0.0
