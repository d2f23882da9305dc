"""The same sentence-transformers model run through onnxruntime: identical vectors, a fraction
of the start-up time and per-query latency of torch on a small CPU.

``sentence-transformers[onnx]`` cannot be installed next to sentence-transformers 6, so the
model's transformer is exported once with ``torch.onnx.export`` into a cache folder and then
run with onnxruntime and the model's own ``tokenizer.json``. Pooling (mean over tokens) and
L2 normalisation are done here in NumPy, as the model's ``modules.json`` prescribes; models
with another pooling are left to the torch backend.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np

from retrieval.errors import ModelLoadError
from retrieval.onnx_sessions import Sessions

log = logging.getLogger(__name__)

#: Most texts per onnxruntime call. Texts are sorted by token count first, so padding stays small.
BATCH = 32
#: Most tokens one call pads to (texts in it × its longest text). Without it one long text, such
#: as a 256-token question embedded with the ~50 short sentences of its answer, pads the 31
#: sentences beside it to 256 tokens: ~4x the work, and onnxruntime keeps the memory of the
#: biggest shape it has seen (+300 MB after twenty long questions). 2,048 keeps the 32 texts of
#: a batch of ~60-token sentences and 12 of 160-token chunks; ingest is no slower for it.
BATCH_TOKENS = 2048
#: Longest text of a call over its shortest, at most. An answer's ~16 candidate sentences run
#: from ~15 to ~80 tokens: in one call they padded to 1.9x their tokens, and the calls took
#: 156 / 261 ms (p50 / p95 over 120 real answers); split at 1.3x, 122 / 158 ms.
SPREAD = 1.3
#: Calls of at most this many tokens (texts x longest) run on one thread: a question of up to
#: ~32 tokens takes the same time on one thread as on two (9.2 ms), and the second thread only
#: burns a core that a concurrent question needs (docs/BENCHMARKS.md, "Concurrent questions").
ONE_THREAD_TOKENS = 40
#: Bumped when the export recipe changes, so stale cached files are not reused.
EXPORT_VERSION = 1


def supports(model_path: str) -> bool:
    """True for a local sentence-transformers folder with a tokenizer.json and mean pooling."""
    folder = Path(model_path)
    pooling = folder / "1_Pooling" / "config.json"
    if not (folder / "tokenizer.json").exists() or not pooling.exists():
        return False
    config = json.loads(pooling.read_text())
    others = ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens")
    return bool(config.get("pooling_mode_mean_tokens")) and not any(config.get(k) for k in others)


def _fingerprint(folder: Path) -> str:
    digest = hashlib.sha1(f"v{EXPORT_VERSION}".encode())
    for name in ("config.json", "model.safetensors", "pytorch_model.bin"):
        path = folder / name
        if path.exists():
            stat = path.stat()
            digest.update(f"{name}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    return digest.hexdigest()[:16]


def export(model_path: str, target: Path) -> None:
    """Export the model's transformer to ONNX (dynamic batch and sequence axes)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from retrieval.embeddings import quiet_transformers

    quiet_transformers()
    model = AutoModel.from_pretrained(model_path).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_path)

    class Encoder(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = tokenizer(["an example sentence", "another one"], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Encoder(model),
            tuple(sample[n] for n in names),
            str(tmp),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
    os.replace(tmp, target)  # atomic: concurrent exporters never see a half-written file


class OnnxEmbedder:
    """A mean-pooling sentence-transformers model on onnxruntime (vectors L2-normalised)."""

    def __init__(self, name: str, model_path: str, cache_dir: Path):
        self.name = name
        folder = Path(model_path)
        if not supports(model_path):
            raise ModelLoadError(f"model {name!r} cannot run on onnxruntime (needs tokenizer.json and mean pooling)")
        cache_dir.mkdir(parents=True, exist_ok=True)
        onnx_file = cache_dir / f"{folder.name}-{_fingerprint(folder)}.onnx"
        if not onnx_file.exists():
            log.info("exporting %s to %s (once)", name, onnx_file)
            export(model_path, onnx_file)

        from tokenizers import Tokenizer

        self._sessions = Sessions(onnx_file)
        self._sessions.open()
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        max_length = 256
        st_config = folder / "sentence_bert_config.json"
        if st_config.exists():
            max_length = int(json.loads(st_config.read_text()).get("max_seq_length", max_length))
        self._tokenizer.enable_truncation(max_length=max_length)
        self._tokenizer.no_padding()  # each batch is padded to its own longest text in embed()
        self._pad_id = self._tokenizer.token_to_id("[PAD]") or 0
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
        self.dimension = int(pooling["word_embedding_dimension"])

    def token_lengths(self, texts: list[str]) -> list[int]:
        """Tokens of each text as the model reads it (truncated)."""
        return [len(e.ids) for e in self._tokenizer.encode_batch(texts)]

    def embed(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts)
        for batch in token_batches([len(e.ids) for e in encodings]):
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.full((len(batch), width), self._pad_id, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                ids[row, : len(encodings[i].ids)] = encodings[i].ids
                mask[row, : len(encodings[i].ids)] = 1
            with self._sessions.session(wide=ids.size > ONE_THREAD_TOKENS) as session:
                hidden = session.run(
                    None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
                )[0]
            summed = (hidden * mask[..., None]).sum(axis=1)
            vectors = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            out[batch] = vectors
        return out


def token_batches(lengths: list[int], max_texts: int = BATCH, max_tokens: int = BATCH_TOKENS,
                  spread: float = SPREAD) -> list[list[int]]:
    """Indices of texts grouped into calls, shortest first: a call holds at most ``max_texts``
    texts, pads to at most ``max_tokens`` tokens (a text longer than that goes alone), and its
    longest text has at most ``spread`` times the tokens of its shortest. Pure."""
    batches: list[list[int]] = []
    current: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        # Sorted ascending, so text i is the longest of the batch it joins.
        if current and (len(current) == max_texts or (len(current) + 1) * lengths[i] > max_tokens
                        or lengths[i] > spread * lengths[current[0]]):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches
