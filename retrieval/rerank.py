"""Optional cross-encoder reranking of the fused passages.

Off by default: no cross-encoder ships offline. Set ``RETRIEVER_RERANKER`` to a local
sentence-transformers CrossEncoder folder (or a name already in the Hugging Face cache) to
turn it on; the engine then reranks its top ``RERANK_POOL`` passages with it.
"""

from __future__ import annotations

import os
from dataclasses import replace

from retrieval.errors import ModelLoadError
from retrieval.types import Hit

#: Passages handed to the cross-encoder; enough to rescue a good passage from rank 30.
RERANK_POOL = 30


class CrossEncoderReranker:
    def __init__(self, name: str, device: str = "cpu"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import CrossEncoder

            self._model = CrossEncoder(name, device=device)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load reranker {name!r}: {exc}") from exc
        self.name = name

    def scores(self, query: str, hits: list[Hit]) -> list[float]:
        pairs = [(query, f"{h.title}\n{h.text}") for h in hits]
        return [float(s) for s in self._model.predict(pairs, show_progress_bar=False)]

    def rerank(self, query: str, hits: list[Hit], k: int) -> list[Hit]:
        if not hits:
            return hits
        scored = sorted(zip(self.scores(query, hits), hits), key=lambda pair: -pair[0])
        return [replace(hit, rank=i, score=score) for i, (score, hit) in enumerate(scored[:k], 1)]
