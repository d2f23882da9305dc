"""The cross-encoder code path, with a tiny randomly initialised model built locally (no
cross-encoder ships offline, so this checks the wiring, not the quality)."""

from __future__ import annotations

import pytest

from support import SEED
from retrieval import Settings
from retrieval.embeddings import HashEmbedder, resolve_model_path
from retrieval.engine import Engine
from retrieval.rerank import RERANK_POOL


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-cross-encoder")
    torch.manual_seed(7)
    config = BertConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
        num_labels=1, initializer_range=0.5,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(resolve_model_path("all-MiniLM-L6-v2")).save_pretrained(folder)
    return str(folder)


def test_reranker_orders_the_pool_by_cross_encoder_score(tmp_path, tiny_cross_encoder):
    from sentence_transformers import CrossEncoder

    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(12):
        (folder / f"{i}.txt").write_text(
            f"---\ntitle: Council meeting {i}\nurl: https://ex.com/{i}\n---\n"
            f"The council met for the {i}th time to discuss the harbour budget and road repairs.\n"
        )
    plain = Engine.open(Settings(index=tmp_path / "index"), embedder=HashEmbedder(), create=True)
    plain.ingest([str(folder), str(SEED)])
    query = "harbour budget"
    pool = plain.search(query, k=RERANK_POOL)
    plain.close()

    engine = Engine.open(Settings(index=tmp_path / "index", reranker=tiny_cross_encoder), embedder=HashEmbedder())
    hits = engine.search(query, k=5)
    oracle = CrossEncoder(tiny_cross_encoder).predict([(query, f"{h.title}\n{h.text}") for h in pool])
    expected = [pool[i].chunk_id for i in sorted(range(len(pool)), key=lambda i: -oracle[i])[:5]]
    assert [h.chunk_id for h in hits] == expected
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    engine.close()


def test_missing_reranker_is_a_clear_error(tmp_path):
    from retrieval.errors import ModelLoadError

    engine = Engine.open(Settings(index=tmp_path / "i", reranker=str(tmp_path / "nope")), embedder=HashEmbedder(), create=True)
    engine.ingest([str(SEED)])
    with pytest.raises(ModelLoadError, match="cannot load reranker"):
        engine.search("Qureshi")
    engine.close()
