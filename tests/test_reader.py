"""The reader: its ranking rule (pure), both runtimes against an oracle, and the wiring.

A tiny randomly initialised cross-encoder built here checks the wiring, not the quality; the
shipped reader's quality is measured by benchmarks/bench_reader.py (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from support import SEED
from retrieval import Settings
from retrieval.embeddings import HashEmbedder, resolve_model_path
from retrieval.engine import Engine
from retrieval.errors import ModelLoadError
from retrieval.reader import CrossEncoderReader, OnnxReader, load_reader, packaged_reader_path
from retrieval.reader_text import passage_text, sentence_text
from retrieval.rerank import passage_cosine, rerank
from retrieval.types import Hit


def _hit(i: int) -> Hit:
    return Hit(rank=i + 1, score=1.0 / (i + 1), chunk_id=i, article_id=f"a{i}", text=f"text {i}",
               title=f"t{i}", url=None, source=None, published=None, start=0, end=6)


def test_rerank_prior_zero_is_reader_order_and_a_large_prior_keeps_the_fused_order():
    hits = [_hit(i) for i in range(6)]
    logits = np.array([0.1, 2.0, -1.0, 3.0])
    by_reader = rerank(hits, logits, 0.0)
    assert [h.chunk_id for h in by_reader] == [3, 1, 0, 2, 4, 5]  # unread passages keep their place after
    assert [h.rank for h in by_reader] == [1, 2, 3, 4, 5, 6]
    assert [h.chunk_id for h in rerank(hits, logits, 100.0)] == [0, 1, 2, 3, 4, 5]
    # prior 1: 3.0 - ln 4 = 1.61 beats 2.0 - ln 2 = 1.31
    assert [h.chunk_id for h in rerank(hits, logits, 1.0)][:2] == [3, 1]
    assert 3.0 - math.log(4) > 2.0 - math.log(2)


def test_passage_cosine_is_the_best_dot_product():
    vectors = np.eye(3, dtype=np.float32)
    assert passage_cosine(vectors, np.array([0.6, 0.8, 0.0], dtype=np.float32)) == pytest.approx(0.8)
    assert passage_cosine(np.zeros((0, 3), dtype=np.float32), np.ones(3)) == 0.0


def test_reader_texts_put_the_judged_sentence_first():
    assert sentence_text("Title", "The sentence.", "Before.", "After.") == "The sentence. | Title | Before. After."
    assert sentence_text("Title", "The sentence.") == "The sentence. | Title"
    assert passage_text("Title", "Body.") == "Title | Body."


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-cross-encoder")
    torch.manual_seed(7)
    config = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                        num_labels=1, initializer_range=0.5)
    BertForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(resolve_model_path("all-MiniLM-L6-v2")).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def tiny_onnx_reader(tiny_cross_encoder, tmp_path_factory):
    """The tiny model exported by the training script's own export step."""
    import sys

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from support import ROOT

    sys.path.insert(0, str(ROOT / "training"))
    from train_reader import export

    folder = tmp_path_factory.mktemp("tiny-onnx-reader")
    model = AutoModelForSequenceClassification.from_pretrained(tiny_cross_encoder)
    export(model, AutoTokenizer.from_pretrained(tiny_cross_encoder), folder, int8=False, meta={"base": "tiny"})
    return folder


def test_onnx_reader_gives_the_torch_model_logits(tiny_cross_encoder, tiny_onnx_reader):
    question = "Who won the harbour vote?"
    texts = ["The council voted for the harbour budget on Monday.", "Rain is expected.", "x " * 400]
    onnx = OnnxReader(tiny_onnx_reader).score(question, texts, "passage")
    torch_scores = CrossEncoderReader(tiny_cross_encoder).score(question, texts, "passage")
    # The long text is cut at the passage length (160 tokens) by one and not the other: compare
    # the two short ones exactly, and the long one only for being finite.
    np.testing.assert_allclose(onnx[:2], torch_scores[:2], rtol=1e-4, atol=1e-4)
    assert np.isfinite(onnx).all()


def _council_index(tmp_path) -> Settings:
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(12):
        (folder / f"{i}.txt").write_text(
            f"---\ntitle: Council meeting {i}\nurl: https://ex.com/{i}\n---\n"
            f"The council met for the {i}th time to discuss the harbour budget and road repairs.\n"
        )
    settings = Settings(index=tmp_path / "index", reader="none")
    with Engine.open(settings, embedder=HashEmbedder(), create=True) as plain:
        plain.ingest([str(folder), str(SEED)])
    return settings


def test_the_reader_reorders_the_fused_passages(tmp_path, tiny_cross_encoder):
    settings = _council_index(tmp_path)
    query = "harbour budget"
    with Engine.open(settings, embedder=HashEmbedder()) as plain:
        fused = plain.search(query, k=30)
    with Engine.open(settings.model_copy(update={"reader": tiny_cross_encoder}), embedder=HashEmbedder()) as engine:
        engine.reader_params = replace(engine.reader_params, read_passages=8, rank_prior=0.0)
        hits, evidence = engine.retrieve(query, k=5)
        oracle = CrossEncoderReader(tiny_cross_encoder).score(query, [passage_text(h.title, h.text) for h in fused[:8]], "passage")
    expected = [fused[i].chunk_id for i in sorted(range(8), key=lambda i: -oracle[i])[:5]]
    assert [h.chunk_id for h in hits] == expected
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert evidence["passage_reader"] == pytest.approx(float(oracle.max()), abs=1e-4)
    assert 0.0 < evidence["passage_cosine"] <= 1.0


def test_no_reader_keeps_the_fused_order(tmp_path):
    settings = _council_index(tmp_path)
    with Engine.open(settings, embedder=HashEmbedder()) as engine:
        assert engine.reader is None
        hits, evidence = engine.retrieve("harbour budget", k=5)
        assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
        assert "passage_reader" not in evidence


def test_a_missing_reader_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="cannot load reader"):
        load_reader(str(tmp_path / "nope"))
    assert load_reader("none") is None


@pytest.mark.skipif(not (packaged_reader_path() / "model.onnx").exists(), reason="no shipped reader in retrieval/data/reader")
def test_the_shipped_reader_prefers_the_answer():
    reader = load_reader("default")
    question = "What did Qureshi say about Afghanistan?"
    title = "Pakistan calls for engagement with US for stability in South Asia"
    good = sentence_text(title, "Qureshi said only a stable and broad-based government in Afghanistan would ensure that Afghan territory is never exploited by terrorist groups.")
    bad = sentence_text(title, "The weather in Islamabad was mild on Tuesday, with light rain expected later in the week.")
    scores = reader.score(question, [good, bad], "sentence")
    assert scores[0] > scores[1]
