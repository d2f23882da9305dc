"""The Milvus collections of an index (:mod:`retrieval.milvus_store` describes them): their
fields, how they are made, and the rows the store writes and reads — functions of the
engine's types, nothing else."""

from __future__ import annotations

import base64
import json
import time
from datetime import date, datetime, timezone
from typing import Any

import numpy as np

from retrieval.dupes import PARAMS as DUPES_PARAMS
from retrieval.dupes import BANDS, Signature
from retrieval.errors import StorageError
from retrieval.milvus_client import TIMEOUT, call, load_pymilvus
from retrieval.sources import parse_date
from retrieval.store import FORMAT_VERSION
from retrieval.types import AlternativeSource, Article, Chunk, Feed

#: Characters of article text per row (P_articles holds the first part, P_texts the rest):
#: a VARCHAR holds at most 65,535 bytes, and a character takes up to 4 in UTF-8.
TEXT_PART = 16_000
#: Most bytes of a VARCHAR in Milvus.
VARCHAR_MAX = 65_535
#: Every collection is made, and read, at this consistency (retrieval/milvus_store.py says why).
CONSISTENCY = "Strong"
#: The placeholder vector of collections that hold no vectors (Milvus loads none without one).
PLACEHOLDER = [1.0, 0.0]


def day_number(value: date | None) -> int:
    """A date as the integer YYYYMMDD (0 for None), the ``day`` fields' form."""
    return value.year * 10_000 + value.month * 100 + value.day if value else 0


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def clip(text: str, limit: int = VARCHAR_MAX) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes (at a character boundary)."""
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


def check_sizes(article: Article, chunks: list[Chunk]) -> None:
    for field, value, limit in (("title", article.title, 8192), ("url", article.url or "", 8192),
                                ("source", article.source or "", 1024)):
        if len(value.encode("utf-8")) > limit:
            raise StorageError(f"article {article.id} ({article.origin or article.url}): its {field} "
                               f"is over the {limit} bytes a Milvus field holds here")
    for chunk in chunks:
        if len(chunk.text.encode("utf-8")) > VARCHAR_MAX:
            raise StorageError(f"article {article.id} ({article.origin or article.url}): chunk "
                               f"{chunk.ordinal} is over the {VARCHAR_MAX} bytes a Milvus text field holds")


def chunk_row(chunk_id: int, article: Article, chunk: Chunk, vector: np.ndarray) -> dict[str, Any]:
    return {
        "id": chunk_id, "article_id": article.id, "ordinal": chunk.ordinal, "start": chunk.start,
        "end": chunk.end, "text": chunk.text, "lexical": clip(article.title + "\n" + chunk.text),
        "vector": np.asarray(vector, dtype=np.float32).tolist(), "day": day_number(article.published),
        "source_key": (article.source or "").lower(), "title": article.title, "url": article.url or "",
        "source": article.source or "",
        "published": article.published.isoformat() if article.published else "",
    }


def signed(signature: Signature | None) -> dict[str, Any]:
    if signature is None:
        return {"signed": False, "words": 0, "signature": "", "bands": []}
    return {"signed": True, "words": signature.words,
            "signature": base64.b64encode(signature.to_bytes()).decode("ascii"), "bands": signature.bands()}


def article_row(article: Article, text: str, parts: int, added_at: str,
                 signature: Signature | None) -> dict[str, Any]:
    day = article.published or date.fromisoformat(added_at[:10])
    return {
        "id": article.id, "url": article.url or "", "title": article.title, "source": article.source or "",
        "published": article.published.isoformat() if article.published else "",
        "pub_day": day_number(article.published), "day": day_number(day), "authors": json.dumps(list(article.authors)),
        "text": text, "parts": parts, "hash": article.hash, "origin": article.origin, "added_at": added_at,
        **signed(signature), "_v": PLACEHOLDER,
    }


def source_row(article: Article, story_id: str, digest: str) -> dict[str, Any]:
    return {
        "id": article.id, "article_id": story_id, "url": article.url or "", "title": article.title,
        "source": article.source or "", "source_key": (article.source or "").lower(),
        "published": article.published.isoformat() if article.published else "", "hash": digest,
        "added_at": utc_now(), "seq": time.time_ns(), "_v": PLACEHOLDER,
    }


def alternative_source(row: dict[str, Any]) -> AlternativeSource:
    return AlternativeSource(row["url"] or None, row["source"] or None, row["title"],
                             parse_date(row["published"] or None))


def hit_row(row: dict[str, Any]) -> dict[str, Any]:
    return {"chunk_id": int(row["id"]), "article_id": row["article_id"], "start": row["start"],
            "end": row["end"], "text": row["text"], "title": row["title"], "url": row["url"] or None,
            "source": row["source"] or None, "published": row["published"] or None,
            "ordinal": row["ordinal"]}


FEED_FIELDS = ["url", "source", "every_minutes", "added_at", "next_poll", "last_poll", "last_success",
                "last_error", "errors", "articles_added", "etag", "last_modified"]
FEED_TIMES = ("added_at", "next_poll", "last_poll", "last_success")


def iso_time(value: datetime | None) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="seconds") if value else ""


def feed_row(feed: Feed) -> dict[str, Any]:
    row = {name: getattr(feed, name) for name in FEED_FIELDS}
    for name in FEED_TIMES:
        row[name] = iso_time(row[name])
    for name in ("source", "last_error", "etag", "last_modified"):
        row[name] = row[name] or ""
    return {**row, "every_minutes": float(feed.every_minutes), "_v": PLACEHOLDER}


def feed_from_row(row: dict[str, Any]) -> Feed:
    fields = {name: row[name] for name in FEED_FIELDS}
    for name in FEED_TIMES:
        fields[name] = datetime.fromisoformat(fields[name]) if fields[name] else None
    for name in ("source", "last_error", "etag", "last_modified"):
        fields[name] = fields[name] or None
    return Feed(**fields)


HIT_FIELDS = ["id", "article_id", "start", "end", "text", "title", "url", "source", "published", "ordinal"]
ARTICLE_FIELDS = ["id", "title", "text", "url", "source", "published", "authors", "origin", "parts"]
ARTICLE_ROW = ["id", "url", "title", "source", "published", "pub_day", "day", "authors", "text", "parts",
                "hash", "origin", "added_at", "signed", "words", "signature", "bands", "_v"]
SOURCE_FIELDS = ["id", "article_id", "hash", "url", "source", "title", "published", "added_at", "seq"]


# ---------------------------------------------------------------------- schema


def _placeholder(schema, pymilvus) -> None:
    schema.add_field("_v", pymilvus.DataType.FLOAT_VECTOR, dim=2)


def _schema_meta(client, pymilvus, settings, dimension):
    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("key", pymilvus.DataType.VARCHAR, is_primary=True, max_length=256)
    s.add_field("value", pymilvus.DataType.VARCHAR, max_length=VARCHAR_MAX)
    _placeholder(s, pymilvus)
    return s


def _schema_chunks(client, pymilvus, settings, dimension):
    T = pymilvus.DataType
    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("id", T.INT64, is_primary=True)
    s.add_field("article_id", T.VARCHAR, max_length=512)
    s.add_field("ordinal", T.INT32)
    s.add_field("start", T.INT64)
    s.add_field("end", T.INT64)
    s.add_field("text", T.VARCHAR, max_length=VARCHAR_MAX)
    s.add_field("lexical", T.VARCHAR, max_length=VARCHAR_MAX, enable_analyzer=True, enable_match=True,
                analyzer_params={"type": settings.milvus_analyzer})
    s.add_field("sparse", T.SPARSE_FLOAT_VECTOR)
    s.add_field("vector", T.FLOAT_VECTOR, dim=dimension)
    s.add_field("day", T.INT32)
    s.add_field("source_key", T.VARCHAR, max_length=1024)
    s.add_field("title", T.VARCHAR, max_length=8192)
    s.add_field("url", T.VARCHAR, max_length=8192)
    s.add_field("source", T.VARCHAR, max_length=1024)
    s.add_field("published", T.VARCHAR, max_length=32)
    s.add_function(pymilvus.Function(name="bm25", function_type=pymilvus.FunctionType.BM25,
                                     input_field_names=["lexical"], output_field_names=["sparse"]))
    return s


def _schema_articles(client, pymilvus, settings, dimension):
    T = pymilvus.DataType
    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("id", T.VARCHAR, is_primary=True, max_length=512)
    s.add_field("url", T.VARCHAR, max_length=8192)
    s.add_field("title", T.VARCHAR, max_length=8192)
    s.add_field("source", T.VARCHAR, max_length=1024)
    s.add_field("published", T.VARCHAR, max_length=32)
    s.add_field("pub_day", T.INT32)
    s.add_field("day", T.INT32)
    s.add_field("authors", T.VARCHAR, max_length=VARCHAR_MAX)
    s.add_field("text", T.VARCHAR, max_length=VARCHAR_MAX)
    s.add_field("parts", T.INT32)
    s.add_field("hash", T.VARCHAR, max_length=64)
    s.add_field("origin", T.VARCHAR, max_length=VARCHAR_MAX)
    s.add_field("added_at", T.VARCHAR, max_length=64)
    s.add_field("signed", T.BOOL)
    s.add_field("words", T.INT64)
    s.add_field("signature", T.VARCHAR, max_length=4096)
    s.add_field("bands", T.ARRAY, element_type=T.INT64, max_capacity=BANDS)
    _placeholder(s, pymilvus)
    return s


def _schema_texts(client, pymilvus, settings, dimension):
    T = pymilvus.DataType
    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("key", T.VARCHAR, is_primary=True, max_length=600)
    s.add_field("article_id", T.VARCHAR, max_length=512)
    s.add_field("part", T.INT32)
    s.add_field("text", T.VARCHAR, max_length=VARCHAR_MAX)
    _placeholder(s, pymilvus)
    return s


def _schema_sources(client, pymilvus, settings, dimension):
    T = pymilvus.DataType
    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("id", T.VARCHAR, is_primary=True, max_length=512)
    s.add_field("article_id", T.VARCHAR, max_length=512)
    s.add_field("url", T.VARCHAR, max_length=8192)
    s.add_field("title", T.VARCHAR, max_length=8192)
    s.add_field("source", T.VARCHAR, max_length=1024)
    s.add_field("source_key", T.VARCHAR, max_length=1024)
    s.add_field("published", T.VARCHAR, max_length=32)
    s.add_field("hash", T.VARCHAR, max_length=64)
    s.add_field("added_at", T.VARCHAR, max_length=64)
    s.add_field("seq", T.INT64)
    _placeholder(s, pymilvus)
    return s


def _schema_feeds(client, pymilvus, settings, dimension):
    T = pymilvus.DataType
    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("url", T.VARCHAR, is_primary=True, max_length=8192)
    s.add_field("source", T.VARCHAR, max_length=1024)
    s.add_field("every_minutes", T.DOUBLE)
    for name in FEED_TIMES:
        s.add_field(name, T.VARCHAR, max_length=64)
    s.add_field("last_error", T.VARCHAR, max_length=VARCHAR_MAX)
    s.add_field("errors", T.INT64)
    s.add_field("articles_added", T.INT64)
    s.add_field("etag", T.VARCHAR, max_length=4096)
    s.add_field("last_modified", T.VARCHAR, max_length=256)
    _placeholder(s, pymilvus)
    return s


def _schema_topics(client, pymilvus, settings, dimension):
    T = pymilvus.DataType
    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("key", T.VARCHAR, is_primary=True, max_length=4200)  # chat:topic (lower-cased)
    s.add_field("chat", T.INT64)
    s.add_field("topic", T.VARCHAR, max_length=4096)
    s.add_field("added_at", T.VARCHAR, max_length=64)
    s.add_field("seq", T.INT64)
    _placeholder(s, pymilvus)
    return s


def _schema_alerts(client, pymilvus, settings, dimension):
    T = pymilvus.DataType
    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("key", T.VARCHAR, is_primary=True, max_length=600)  # chat:article id
    s.add_field("chat", T.INT64)
    s.add_field("article_id", T.VARCHAR, max_length=512)
    s.add_field("topic", T.VARCHAR, max_length=4096)
    s.add_field("sent_at", T.VARCHAR, max_length=64)
    _placeholder(s, pymilvus)
    return s


#: Collection kind → its schema; ``meta`` is made last, so its presence means the rest exist.
SCHEMAS = {"chunks": _schema_chunks, "articles": _schema_articles, "texts": _schema_texts,
            "sources": _schema_sources, "feeds": _schema_feeds, "topics": _schema_topics,
            "alerts": _schema_alerts, "meta": _schema_meta}


#: Collections an index made before them gains when it is opened for writing (they start
#: empty, as the embedded store's feeds and alert tables do).
LATER = ("feeds", "topics", "alerts")


def create_collections(client, settings, model: str, dimension: int, chunking: dict[str, int],
                       kinds: tuple[str, ...] = tuple(SCHEMAS)) -> None:
    """Make, index and load the collections ``kinds`` (all: a new index, its manifest last)."""
    pymilvus = load_pymilvus()
    prefix = settings.milvus_collection
    for kind, schema in SCHEMAS.items():
        if kind not in kinds:
            continue
        name = f"{prefix}_{kind}"
        index = client.prepare_index_params()
        if kind == "chunks":
            # IP on L2-normalised vectors is cosine. AUTOINDEX lets the server choose (HNSW on
            # Milvus standalone); milvus-lite ignores index parameters.
            index.add_index("vector", index_type="AUTOINDEX", metric_type="IP")
            index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        else:
            index.add_index("_v", index_type="FLAT", metric_type="L2")
        call(settings, f"create {name}", client.create_collection, name,
             schema=schema(client, pymilvus, settings, dimension), consistency_level=CONSISTENCY,
             timeout=TIMEOUT)
        # Not waited for (sync=False): the collection is empty, so the index is there at once,
        # and pymilvus's wait polls every 0.5 s through a call milvus-lite does not implement.
        call(settings, f"index {name}", client.create_index, name, index, sync=False, timeout=TIMEOUT)
        call(settings, f"load {name}", client.load_collection, name, timeout=TIMEOUT)
        if kind == "meta":
            values = {"format_version": FORMAT_VERSION, "model": model, "dimension": dimension,
                      "chunking": chunking, "analyzer": settings.milvus_analyzer, "dupes": DUPES_PARAMS,
                      "generation": 0, "created": utc_now(), "last_ingest": None, "next_chunk_id": 1,
                      "max_chunk_id": 0, "published": [0, 0]}
            call(settings, f"write {name}", client.insert, name,
                 [{"key": k, "value": json.dumps(v), "_v": PLACEHOLDER} for k, v in values.items()],
                 timeout=TIMEOUT)
