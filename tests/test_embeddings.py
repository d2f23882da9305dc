"""The onnxruntime backend gives the same vectors as sentence-transformers (the oracle)."""

from __future__ import annotations

import numpy as np
import pytest

from support import SEED
from retrieval.embeddings import HashEmbedder, load_embedder, resolve_model_path


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="module")
def onnx_embedder(onnx_cache):
    from retrieval.onnx_embedder import OnnxEmbedder

    return OnnxEmbedder("all-MiniLM-L6-v2", resolve_model_path("all-MiniLM-L6-v2"), onnx_cache)


def test_onnx_matches_sentence_transformers(onnx_embedder, real_embedder):
    text = SEED.read_text()
    texts = ["What did Qureshi say about Afghanistan?", "", text[:200], text[:3000]] + [text[i : i + 500] for i in range(0, 2500, 250)]
    ours, reference = onnx_embedder.embed(texts), real_embedder.embed(texts)
    assert ours.shape == reference.shape == (len(texts), 384)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_backend_choice(onnx_embedder, onnx_cache):
    assert isinstance(load_embedder("hash-64"), HashEmbedder)
    torch_backend = load_embedder("all-MiniLM-L6-v2", backend="torch")
    assert type(torch_backend).__name__ == "SentenceTransformerEmbedder"
    auto = load_embedder("all-MiniLM-L6-v2", cache_dir=onnx_cache)
    assert type(auto).__name__ == "OnnxEmbedder" and auto.name == "all-MiniLM-L6-v2"
    assert len(list(onnx_cache.glob("*.onnx"))) == 1  # exported once, then reused


def test_token_batches_bound_the_padding_of_each_call():
    """A long question embedded with short sentences is not allowed to pad them to its length."""
    from retrieval.onnx_embedder import token_batches

    lengths = [256] + [20] * 40 + [150] * 3
    batches = token_batches(lengths, max_texts=32, max_tokens=2048)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) <= 32
        assert len(batch) * max(lengths[i] for i in batch) <= 2048
    assert [0] in batches  # the 256-token text goes alone: 12 x 256 would pass 2,048
    assert token_batches([5000, 3]) == [[1], [0]]  # longer than the budget: alone, not dropped
    assert token_batches([]) == []
    # an answer's sentences: a call's longest has at most 1.3x the tokens of its shortest
    sentences = [15, 16, 19, 20, 26, 30, 33, 41, 50, 77]
    assert token_batches(sentences) == [[0, 1, 2], [3, 4], [5, 6], [7, 8], [9]]
    assert token_batches(sentences, spread=10) == [list(range(10))]


def test_one_embedder_serves_questions_and_ingest(tmp_path):
    """The bot's engine keeps one model: ingest reuses the question embedder."""
    from retrieval import Settings
    from retrieval.engine import Engine

    settings = Settings(index=tmp_path / "index", model="hash-64")
    one = Engine.open(settings, create=True, one_embedder=True)
    assert one.bulk_embedder is one.embedder
    report = one.ingest([str(SEED)])
    assert report.count("added") == 1 and one.bulk_embedder is one.embedder
    two = Engine.open(settings)
    assert two.bulk_embedder is not two.embedder  # the CLI's default: a model for each


def test_vector_cache_embeds_only_texts_not_seen_lately():
    """Engine._embed's cache: the same vectors as embedding afresh, only unseen texts embedded,
    the least recently used dropped past capacity."""
    from retrieval.embeddings import HashEmbedder, VectorCache

    class Counting(HashEmbedder):
        def __init__(self):
            super().__init__()
            self.seen: list[str] = []

        def embed(self, texts, *, progress=False):
            self.seen.extend(texts)
            return super().embed(texts, progress=progress)

    embedder, cache = Counting(), VectorCache(capacity=3)
    texts = ["a question", "first sentence", "second sentence"]
    first = cache.embed(embedder, texts)
    again = cache.embed(embedder, ["second sentence", "a question", "third sentence"])
    assert np.array_equal(again, HashEmbedder().embed(["second sentence", "a question", "third sentence"]))
    assert np.array_equal(again[1], first[0])
    assert embedder.seen == texts + ["third sentence"]
    assert (cache.hits, cache.misses) == (2, 4)
    cache.embed(embedder, ["first sentence"])  # dropped: the least recently used of four
    assert embedder.seen[-1] == "first sentence" and cache.embed(embedder, []).shape == (0, embedder.dimension)
    twice = cache.embed(embedder, ["a copy's sentence", "fourth", "a copy's sentence"])  # copies: once
    assert embedder.seen[-2:] == ["a copy's sentence", "fourth"] and np.array_equal(twice[0], twice[2])
