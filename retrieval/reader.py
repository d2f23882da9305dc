"""The reader: a cross-encoder that reads the question and a candidate together.

Two implementations behind one small interface, ``score(question, texts, unit) -> logits``:

* :class:`OnnxReader` — the project's own reader (``retrieval/data/reader/``: ``model.onnx``,
  ``tokenizer.json``, ``reader.json``, trained by ``training/train_reader.py``; see its
  ``MODEL_CARD.md``), run with onnxruntime and tokenizers: no torch at question time;
* :class:`CrossEncoderReader` — any sentence-transformers CrossEncoder, by name or path, for
  users who have a better one (``RETRIEVER_READER=/path/to/cross-encoder``).

``unit`` is "sentence" (a sentence with its passage context) or "passage"; the texts are built
by :mod:`retrieval.reader_text`, the same functions the training data used.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Protocol

import numpy as np

from retrieval.errors import ModelLoadError

#: ``RETRIEVER_READER`` values: the shipped reader, or none at all.
DEFAULT_READER = "default"
NO_READER = "none"
#: Pairs per onnxruntime call.
BATCH = 16


class Reader(Protocol):
    name: str

    def score(self, question: str, texts: list[str], unit: str) -> np.ndarray:
        """One logit per text: higher means the text answers the question."""
        ...


def packaged_reader_path() -> Path:
    return Path(str(resources.files("retrieval") / "data" / "reader"))


class OnnxReader:
    def __init__(self, folder: Path):
        try:
            from tokenizers import Tokenizer

            from retrieval.onnx_sessions import Sessions

            meta = json.loads((folder / "reader.json").read_text())
            self._sessions = Sessions(folder / "model.onnx")
            self._sessions.open(wide=True)  # every call reads a batch: alone, it takes every core
            self._tokenizers = {}
            for unit, length in meta["max_length"].items():
                tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
                tok.enable_truncation(max_length=int(length), strategy="only_second")
                tok.no_padding()
                self._tokenizers[unit] = tok
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ModelLoadError(f"cannot load the reader in {folder}: {exc}") from exc
        with self._sessions.session(wide=True) as session:
            self._inputs = {i.name for i in session.get_inputs()}
        self.name = str(folder)
        self.meta = meta

    def score(self, question: str, texts: list[str], unit: str) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.float32)
        encodings = self._tokenizers[unit].encode_batch([(question, t) for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))  # less padding
        out = np.zeros(len(texts), dtype=np.float32)
        for start in range(0, len(order), BATCH):
            idx = order[start : start + BATCH]
            width = max(len(encodings[i].ids) for i in idx)
            feed = {name: np.zeros((len(idx), width), dtype=np.int64) for name in ("input_ids", "attention_mask", "token_type_ids")}
            for row, i in enumerate(idx):
                e = encodings[i]
                n = len(e.ids)
                feed["input_ids"][row, :n] = e.ids
                feed["attention_mask"][row, :n] = e.attention_mask
                feed["token_type_ids"][row, :n] = e.type_ids
            with self._sessions.session(wide=True) as session:
                logits = session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
            out[idx] = logits.reshape(len(idx), -1)[:, 0]
        return out


class CrossEncoderReader:
    def __init__(self, name: str, device: str = "cpu"):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import CrossEncoder

            self._model = CrossEncoder(name, device=device)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot load reader {name!r}: {exc}") from exc
        self.name = name

    def score(self, question: str, texts: list[str], unit: str) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.float32)
        import torch

        # Logits, like the ONNX reader (the CrossEncoder default would apply a sigmoid).
        scores = self._model.predict([(question, t) for t in texts], show_progress_bar=False,
                                     activation_fn=torch.nn.Identity())
        return np.asarray(scores, dtype=np.float32).reshape(len(texts), -1)[:, 0]


def load_reader(setting: str, device: str = "cpu") -> Reader | None:
    """The reader named by ``RETRIEVER_READER``: ``default`` (shipped), ``none``, an ONNX reader
    folder (with ``reader.json``) or a sentence-transformers CrossEncoder name or path."""
    if not setting or setting == NO_READER:
        return None
    if setting == DEFAULT_READER:
        folder = packaged_reader_path()
        if not (folder / "model.onnx").exists():
            raise ModelLoadError(f"the packaged reader is missing from {folder}; reinstall, or set RETRIEVER_READER=none")
        return OnnxReader(folder)
    path = Path(setting).expanduser()
    if (path / "reader.json").exists():
        return OnnxReader(path)
    return CrossEncoderReader(setting, device)
