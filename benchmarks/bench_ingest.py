"""Ingest throughput next to the raw encoder, and the cost of resuming (issue 12).

Takes the first N articles of the rtqa dataset, loads the embedding model once (not timed),
then in one process, alternating round by round:

* (a) raw ``SentenceTransformer.encode`` (the packaged all-MiniLM-L6-v2, the engine's batch
  size) on exactly the texts the engine embeds: ``embedding_text(title, chunk)`` of every
  chunk it stored;
* (b) the whole ``Engine.ingest`` of the same articles (a JSONL file) into a fresh index:
  reading, cleaning, near-copy checks, chunking, embedding, SQLite + FAISS writes;
* (c) the same raw encoder called as the engine's embedding stage calls it: texts sorted by
  token count, in calls of ``SLICE_TEXTS`` (the encoder's best speed on these texts);

The best round of each counts (other processes on a 2-core machine slow single runs), in
chunks per wall second and per CPU second of this process (all its threads: less sensitive to
other processes; on 2 cores, where both paths keep both cores busy, the two ratios agree). Then
the finished index is ingested again, every article unchanged: the cost per skipped article
of a resumed bulk load, next to reading the file alone. Without the dataset it says so and
exits 0.

    python benchmarks/bench_ingest.py --n 400 --json .bench/ingest-400.json
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from retrieval import Settings
from retrieval.chunking import embedding_text
from retrieval.pipeline import SLICE_TEXTS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "rtqa"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=400, help="articles (the first N of the file)")
    p.add_argument("--rounds", type=int, default=2, help="raw/engine rounds; the best of each counts")
    p.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    p.add_argument("--json", type=Path, help="also write the results here")
    return p.parse_args(argv)


def write_sample(source: Path, n: int, folder: Path) -> Path:
    path = folder / f"articles-{n}.jsonl"
    with gzip.open(source, "rt", encoding="utf-8") as fh, path.open("w", encoding="utf-8") as out:
        out.writelines(itertools.islice(fh, n))
    return path


class Clock:
    """Wall and CPU seconds (every thread of this process) of a block."""

    def __enter__(self) -> "Clock":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def engine_ingest(embedder, articles: Path, index: Path) -> tuple[Clock, int, object]:
    """Time and chunks of one whole ``Engine.ingest`` into ``index`` (open to close)."""
    from retrieval.engine import Engine

    with Clock() as clock, Engine.open(Settings(index=index), embedder=embedder, create=True) as engine:
        report = engine.ingest([str(articles)])
    return clock, report.chunks_added, report


def stored_texts(index: Path) -> list[str]:
    from retrieval.store import Store, iter_chunk_texts

    store = Store.open(index, read_only=True)
    try:
        return [embedding_text(title, text) for _, title, text in iter_chunk_texts(store)]
    finally:
        store.close()


def reading_seconds(articles: Path) -> tuple[float, int]:
    """Reading the file alone (JSON, validation, page-chrome removal): what a skip cannot avoid."""
    from retrieval.fetch import Fetcher
    from retrieval.sources import Limits, Reader

    settings = Settings()
    reader = Reader(Fetcher.from_settings(settings), Limits.from_settings(settings))
    started = time.perf_counter()
    count = sum(1 for _ in reader.read([str(articles)]))
    return time.perf_counter() - started, count


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    source = args.dataset / "articles.jsonl.gz"
    if not source.exists():
        print(f"rtqa dataset not found at {source}; nothing to do.")
        return 0
    from sentence_transformers import SentenceTransformer

    from retrieval.config import DEFAULT_MODEL
    from retrieval.embeddings import SentenceTransformerEmbedder, resolve_model_path

    settings = Settings()
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        articles = write_sample(source, args.n, work)
        embedder = SentenceTransformerEmbedder(DEFAULT_MODEL, settings.device, settings.batch_size)
        raw_model = SentenceTransformer(resolve_model_path(DEFAULT_MODEL), device=settings.device)
        raw_model.encode(["warm up"] * 16, batch_size=settings.batch_size, show_progress_bar=False)
        embedder.embed(["warm up"] * 16)

        texts: list[str] = []
        best = {"raw": 0.0, "engine": 0.0, "sorted": 0.0}
        best_cpu = dict(best)
        runs: list[dict] = []
        report = None

        def record(what: str, round_: int, chunks: int, clock: Clock) -> None:
            best[what] = max(best[what], chunks / clock.wall)
            best_cpu[what] = max(best_cpu[what], chunks / clock.cpu)
            load = round(os.getloadavg()[0], 2)
            runs.append({"what": what, "round": round_, "chunks": chunks, "wall_s": round(clock.wall, 1),
                         "cpu_s": round(clock.cpu, 1), "load": load})
            print(f"{what} round {round_}: {chunks} chunks in {clock.wall:.1f} s = {chunks / clock.wall:.1f}/s, "
                  f"{clock.cpu:.1f} CPU s = {chunks / clock.cpu:.2f}/CPU s (load {load})", file=sys.stderr)

        for round_ in range(args.rounds):
            index = work / f"index-{round_}"
            clock, chunks, report = engine_ingest(embedder, articles, index)
            record("engine", round_, chunks, clock)
            if not texts:
                texts = stored_texts(index)
                assert len(texts) == chunks, (len(texts), chunks)
            with Clock() as clock:
                raw_model.encode(texts, batch_size=settings.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)
            record("raw", round_, len(texts), clock)
            # (c) the encoder alone with the engine's batching: calls of SLICE_TEXTS texts,
            # shortest first by tokens (encode re-sorts each call by characters: a no-op here).
            with Clock() as clock:
                ordered = sorted(texts, key=dict(zip(texts, embedder.token_lengths(texts))).__getitem__)
                for start in range(0, len(ordered), SLICE_TEXTS):
                    raw_model.encode(ordered[start : start + SLICE_TEXTS], batch_size=settings.batch_size,
                                     normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
            record("sorted", round_, len(texts), clock)

        # Resuming: the same file again into the finished index, every article unchanged.
        clock, _, again = engine_ingest(embedder, articles, work / f"index-{args.rounds - 1}")
        seconds = clock.wall
        skipped = again.count("unchanged")
        read_seconds, read_items = reading_seconds(articles)
        result = {
            "articles": args.n,
            "chunks": len(texts),
            "ingest": report.summary() if report else "",
            "batch_size": settings.batch_size,
            "raw_encode_chunks_per_s": round(best["raw"], 1),
            "engine_ingest_chunks_per_s": round(best["engine"], 1),
            "ratio": round(best["engine"] / best["raw"], 3),
            "token_sorted_encode_chunks_per_s": round(best["sorted"], 1),
            "ratio_to_token_sorted": round(best["engine"] / best["sorted"], 3),
            "per_cpu_second": {k: round(v, 2) for k, v in best_cpu.items()},
            "ratio_cpu": round(best_cpu["engine"] / best_cpu["raw"], 3),
            "ratio_cpu_to_token_sorted": round(best_cpu["engine"] / best_cpu["sorted"], 3),
            "resume_skipped": skipped,
            "resume_ms_per_skipped_article": round(1000 * seconds / max(skipped, 1), 2),
            "reading_alone_ms_per_article": round(1000 * read_seconds / max(read_items, 1), 2),
            "runs": runs,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
