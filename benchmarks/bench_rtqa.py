"""Benchmark on rtqa (RealTime QA 2022–2023 news questions): retrieval, answers, abstention.

Samples N questions (seeded), indexes the union of their search-result articles through the
real product path (``Engine.ingest``), and reports in one run:

* ingest throughput (chunks/s) next to raw ``SentenceTransformer.encode`` on the same chunk texts;
* answer recall within 120/300/600 words and url recall@5 for hybrid, dense-only and
  lexical-only search over the same chunks;
* the ``ask`` measures: answer contains the expected answer, the "first 80 words of the top
  passage" baseline, honesty of citations, abstention on answerable questions;
* abstention on questions whose articles are not in the corpus.

Definitions of the measures are in ``retrieval/evaluate.py`` and the dataset's README. The
dataset is not part of the repository; without it the script says so and exits 0.

    python benchmarks/bench_rtqa.py --n 200 --seed 13 --json .bench/rtqa-200-13.json

The index is kept in ``--index-dir`` (default ``.bench/rtqa-N-SEED``, ignored by git) and reused
by the next run with the same sample, so only the first run pays for embedding.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from retrieval import Settings
from retrieval.chunking import embedding_text
from retrieval.errors import IngestError
from retrieval.evaluate import Question, evaluate, format_table, normalise, summary
from retrieval.sources import article_from_row

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "rtqa"
#: Written into the index folder once an ingest of the whole sample finished.
MARKER = "bench-corpus.json"

log = logging.getLogger("bench_rtqa")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="Example: "
                                "python benchmarks/bench_rtqa.py --n 200 --seed 13 --json out.json")
    p.add_argument("--n", type=int, default=200, help="questions in the sample (default 200)")
    p.add_argument("--seed", type=int, default=13, help="sampling seed (default 13)")
    p.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help=f"rtqa folder (default {DEFAULT_DATASET})")
    p.add_argument("--index-dir", type=Path, default=None, help="index folder (default .bench/rtqa-N-SEED)")
    p.add_argument("--abstain", type=int, default=50, help="unanswerable questions to ask (default 50)")
    p.add_argument("--encode-sample", type=int, default=512, help="chunk texts for the raw encode timing")
    p.add_argument("--json", type=Path, default=None, help="write all numbers and per-question records here")
    return p.parse_args(argv)


# ---------------------------------------------------------------------------- data


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory (or another /proc/self/status field, e.g. VmHWM) in MB;
    shared by the benchmarks that report memory."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def load_questions(path: Path) -> list[dict]:
    """The dataset's questions, one per id, sorted by id. The file repeats some rows verbatim
    (1,750 lines, 1,031 ids); a repeated id would weigh a question several times."""
    by_id: dict[str, dict] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                by_id.setdefault(row["id"], row)
    return [by_id[i] for i in sorted(by_id)]


def load_articles(path: Path) -> dict[str, dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return {row["url"]: row for row in map(json.loads, fh)}


def stored_hashes(articles: dict[str, dict]) -> dict[str, str]:
    """URL → the content hash the engine dedupes articles by (identical copies, two URLs)."""
    out = {}
    for url, row in articles.items():
        try:
            article = article_from_row(row, url)
        except IngestError:  # no text: the engine would refuse it too
            out[url] = "unreadable:" + url
            continue
        out[url] = article.hash
    return out


def unanswerable_pool(questions: list[dict], sample: list[dict], hashes: dict[str, str],
                      corpus: set[str]) -> list[dict]:
    """Questions outside the sample whose search-result articles are all absent from the
    corpus (by URL and by content), asked as a different question text."""
    taken_ids = {q["id"] for q in sample}
    taken_texts = {normalise(q["question"]) for q in sample}
    corpus_hashes = {hashes[u] for u in corpus}
    pool = []
    for q in questions:
        if q["id"] in taken_ids or normalise(q["question"]) in taken_texts:
            continue
        urls = q["search_results"]
        if any(u in corpus for u in urls) or any(hashes[u] in corpus_hashes for u in urls):
            continue
        pool.append(q)
    return pool


def load_sample(dataset: Path, n: int, seed: int):
    """(all questions, all articles, the seeded sample, its corpus URLs, URL → content hash).

    The sample's ``answer_in`` lists are extended by identical copies of their articles."""
    questions = load_questions(dataset / "questions.jsonl")
    articles = load_articles(dataset / "articles.jsonl.gz")
    sample = random.Random(seed).sample(questions, min(n, len(questions)))
    urls = sorted({u for q in sample for u in q["search_results"]})
    hashes = stored_hashes(articles)
    by_hash: dict[str, set[str]] = {}
    for u in urls:
        by_hash.setdefault(hashes[u], set()).add(u)
    twins = {u: group for group in by_hash.values() for u in group}
    return questions, articles, [with_twins(q, twins) for q in sample], urls, hashes


def with_twins(q: dict, twins: dict[str, set[str]]) -> dict:
    """``answer_in`` extended by identical copies of its articles, which the engine keeps once."""
    urls = set(q["answer_in"])
    for u in q["answer_in"]:
        urls |= twins.get(u, set())
    return {**q, "answer_in": sorted(urls)}


# ---------------------------------------------------------------------------- index


def corpus_signature(urls: list[str], settings: Settings) -> dict:
    return {
        "articles": len(urls),
        "urls_sha1": hashlib.sha1("\n".join(sorted(urls)).encode()).hexdigest(),
        "model": settings.model,
        "chunk_words": settings.chunk_words,
        "chunk_max_words": settings.chunk_max_words,
        **({"chunk_overlap_words": settings.chunk_overlap_words} if settings.chunk_overlap_words else {}),
    }


def build_index(engine, index_dir: Path, urls: list[str], articles: dict[str, dict], signature: dict):
    """Ingest the sample's articles unless a complete index of the same corpus is there.
    Returns the IngestReport, or None when the index was reused."""
    marker = index_dir / MARKER
    if marker.exists() and json.loads(marker.read_text()) == signature:
        log.info("reusing the complete index in %s", index_dir)
        return None
    index_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".jsonl", prefix="articles-", dir=index_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for u in urls:
                fh.write(json.dumps(articles[u], ensure_ascii=False) + "\n")
        log.info("ingesting %d articles into %s", len(urls), index_dir)
        report = engine.ingest([tmp], progress=sys.stderr.isatty())
    finally:
        os.unlink(tmp)
    log.info("ingest: %s", report.summary())
    for r in report.failed:
        log.warning("failed: %s: %s", r.item, r.reason)
    marker.write_text(json.dumps(signature, indent=1))
    return report


#: Timing rounds of the sample: raw and engine alternate and the best round counts, because
#: other processes on a 2-core machine slow single runs by up to half.
ROUNDS = 2


def throughput(engine, settings: Settings, report, sample_size: int, seed: int) -> dict:
    """Chunks/s of the ingest next to the engine's embedder and raw SentenceTransformer.encode
    on a sample of the same embedded texts (title + chunk), all in this process."""
    from sentence_transformers import SentenceTransformer

    from retrieval.embeddings import resolve_model_path
    from retrieval.store import iter_chunk_texts

    rows = list(iter_chunk_texts(engine.store))
    rows = random.Random(seed).sample(rows, min(sample_size, len(rows)))
    texts = [embedding_text(title, text) for _, title, text in rows]
    model = SentenceTransformer(resolve_model_path(settings.model), device=settings.device)

    def raw() -> None:
        model.encode(texts, batch_size=settings.batch_size, normalize_embeddings=True,
                     convert_to_numpy=True, show_progress_bar=False)

    def through_engine() -> None:  # one call, as the ingest embeds one flush
        engine.bulk_embedder.embed(texts)

    model.encode(texts[:16], batch_size=settings.batch_size, show_progress_bar=False)  # warm-up
    engine.bulk_embedder.embed(texts[:16])
    best = {"raw": 0.0, "engine": 0.0}
    for _ in range(ROUNDS):
        for name, fn in (("raw", raw), ("engine", through_engine)):
            started = time.perf_counter()
            fn()
            best[name] = max(best[name], len(texts) / (time.perf_counter() - started))
    out = {
        "sample_chunks": len(texts),
        "sample_mean_words": round(statistics.mean(len(t.split()) for t in texts), 1),
        "batch_size": settings.batch_size,
        "raw_encode_chunks_per_s": round(best["raw"], 1),
        "engine_embed_chunks_per_s": round(best["engine"], 1),
        "engine_embedder": type(engine.bulk_embedder).__name__,
        "load_average_after": round(os.getloadavg()[0], 2),
        "ingest_chunks_per_s": None,
        "ingest_how": "index reused: no ingest this run",
    }
    if report is not None and report.chunks_added:
        out["ingest_chunks_per_s"] = round(report.chunks_added / report.seconds, 1)
        out["ingest_how"] = f"Engine.ingest: {report.chunks_added} chunks in {report.seconds:.0f} s"
    return out


# ---------------------------------------------------------------------------- report


def git_state() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "retrieval"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in retrieval/" if dirty else "")


def report_markdown(args, info: dict, result: dict, unanswerable: dict | None) -> str:
    t = info["throughput"]
    lines = [
        f"rtqa benchmark — {info['date']}, {info['machine']}, commit {info['commit']}",
        f"command: `{info['command']}`",
        "",
        f"Corpus: {info['corpus_articles']} articles from the search results of {args.n} questions "
        f"(seed {args.seed}); index: {info['index_articles']} articles (identical copies kept once), "
        f"{info['index_chunks']} chunks, {info['index_mb']:.0f} MB.",
        "",
        "| embedding throughput | chunks/s |",
        "|---|---:|",
        f"| ingest, whole product path ({t['ingest_how']}) | {t['ingest_chunks_per_s'] or '–'} |",
        f"| engine embedder ({t['engine_embedder']}) on {t['sample_chunks']} of the same texts "
        f"(mean {t['sample_mean_words']} words), best of {ROUNDS} | {t['engine_embed_chunks_per_s']} |",
        f"| raw SentenceTransformer.encode on the same sample, batch {t['batch_size']}, best of {ROUNDS} "
        f"| {t['raw_encode_chunks_per_s']} |",
        "",
        f"Load average (1 min) at ingest start / end / after the timings: {info['load_start']} / "
        f"{info['load_after_ingest']} / {t['load_average_after']} (2 cores: above 2 means other "
        "processes competed).",
        "",
        format_table(result, unanswerable=unanswerable),
        "",
        f"Wall time: {info['wall_s'] / 60:.1f} min (ingest {info['ingest_s'] / 60:.1f} min, "
        f"evaluation {info['eval_s'] / 60:.1f} min).",
    ]
    if unanswerable is not None:
        lines.append(
            f"Unanswerable set: {unanswerable['questions']} dev questions outside the sample whose "
            f"articles are all absent from the corpus; the expected answer string still occurs "
            f"somewhere in the corpus for {info['unanswerable_answer_in_corpus']} of them."
        )
    short = sum(1 for r in result["per_question"] if r["search"]["hybrid"]["words"] < 600) if "hybrid" in result["search"] else 0
    lines.append(f"Questions whose 20 hybrid passages hold fewer than 600 words: {short}.")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("faiss").setLevel(logging.WARNING)  # which SIMD build it tried, at INFO
    questions_file = args.dataset / "questions.jsonl"
    articles_file = args.dataset / "articles.jsonl.gz"
    if not (questions_file.exists() and articles_file.exists()):
        print(f"rtqa dataset not found at {args.dataset} (questions.jsonl, articles.jsonl.gz); nothing to do.")
        return 0
    started = time.perf_counter()
    commit, today = git_state(), date.today().isoformat()
    questions, articles, sample, urls, hashes = load_sample(args.dataset, args.n, args.seed)
    corpus = set(urls)

    from retrieval.engine import Engine

    settings = Settings(index=args.index_dir or ROOT / ".bench" / f"rtqa-{args.n}-{args.seed}")
    index_dir = settings.index
    engine = Engine.open(settings, create=True)
    try:
        ingest_started, load_start = time.perf_counter(), round(os.getloadavg()[0], 2)
        report = build_index(engine, index_dir, urls, articles, corpus_signature(urls, settings))
        ingest_s, load_after_ingest = time.perf_counter() - ingest_started, round(os.getloadavg()[0], 2)
        stats = engine.stats()
        log.info("index: %d articles, %d chunks", stats.articles, stats.chunks)
        speeds = throughput(engine, settings, report, args.encode_sample, args.seed)
        log.info("throughput: %s", speeds)

        eval_started = time.perf_counter()
        every = max(1, len(sample) // 10)

        def progress(done: int, total: int) -> None:
            if done % every == 0 or done == total:
                log.info("evaluated %d/%d", done, total)

        result = evaluate(engine, [Question.from_json(q) for q in sample], progress=progress)
        unanswerable = None
        answer_in_corpus = 0
        if args.abstain > 0:
            pool = unanswerable_pool(questions, sample, hashes, corpus)
            chosen = random.Random(args.seed).sample(pool, min(args.abstain, len(pool)))
            corpus_text = "\n".join(normalise(articles[u]["title"] + " " + articles[u]["text"]) for u in urls)
            answer_in_corpus = sum(1 for q in chosen if normalise(q["answer"]) in corpus_text)
            log.info("asking %d unanswerable questions (pool %d)", len(chosen), len(pool))
            unanswerable = evaluate(engine, [Question.from_json(q) for q in chosen], modes=())
        eval_s = time.perf_counter() - eval_started
    finally:
        engine.close()

    info = {
        "date": today,
        "machine": f"{platform.machine()} {os.cpu_count()} CPU cores, no GPU" if settings.device == "cpu" else settings.device,
        "commit": commit,
        "load_start": load_start,
        "load_after_ingest": load_after_ingest,
        "command": "python benchmarks/bench_rtqa.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "corpus_articles": len(urls),
        "index_articles": stats.articles,
        "index_chunks": stats.chunks,
        "index_mb": stats.index_bytes / 1e6,
        "throughput": speeds,
        "unanswerable_answer_in_corpus": answer_in_corpus,
        "wall_s": time.perf_counter() - started,
        "ingest_s": ingest_s,
        "eval_s": eval_s,
    }
    print(report_markdown(args, info, result, unanswerable))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "config": {"n": args.n, "seed": args.seed, "abstain": args.abstain, "index_dir": str(index_dir)},
            "info": info,
            "answerable": result,
            "unanswerable": unanswerable,
        }
        args.json.write_text(json.dumps(payload, indent=1, ensure_ascii=False, default=str))
        log.info("wrote %s (summary: %s)", args.json, json.dumps(summary(result)["search"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
