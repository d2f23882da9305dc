"""The lexical side at 100k and 1M chunks (issue 12): FTS5 latency of the product's query.

Builds once, under ``.bench/lexical-<N>/``, an index.sqlite with the product's schema holding
N chunks of real text: the rtqa articles chunked by the product's chunker (~90k chunks),
replicated with other ids, titles (" · r") and dates (52 weeks earlier per copy) until N is
reached. There are no vectors (an empty blob per chunk): only the lexical side is measured.
Questions: a seeded sample of the real rtqa questions plus deliberately common-word ones,
turned into MATCH expressions by ``Question.parse``. Reported, per N: the FTS5 size on disk per
chunk; p50/p95/max ms of ``Store.lexical_search`` (k=100) unfiltered and with a selective and a
broad filter; the experiment of searching only the rarest words (``narrowed``, rejected: time,
top-k overlap and lexical-only answer recall next to the product's); and as an anchor bm25s on
the same texts and questions (build time, query time, answer recall).

    pip install -e ".[bench]"        # bm25s and PyStemmer, only for the anchor
    python benchmarks/bench_lexical.py --sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sqlite3
import statistics
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_rtqa import DEFAULT_DATASET, ROOT, load_questions, rss_mb  # noqa: E402

from retrieval.chunking import chunk_article  # noqa: E402
from retrieval.config import Settings  # noqa: E402
from retrieval.errors import IngestError  # noqa: E402
from retrieval.evaluate import answer_in_budget  # noqa: E402
from retrieval.lexical import STOPWORDS  # noqa: E402
from retrieval.question import Question  # noqa: E402
from retrieval.sources import article_from_row  # noqa: E402
from retrieval.store import BM25_WEIGHTS, DB_FILE, Store, _connect, _create_database  # noqa: E402
from retrieval.types import Filters  # noqa: E402

#: Questions made of words most news chunks hold: the worst case for a scan-everything query.
COMMON = [
    "What did the president say about the economy this week?",
    "What did the government announce on Monday?",
    "Who won the game on Sunday?",
    "What happened in the United States this week?",
    "What did officials say about the new law?",
    "How many people were killed in the attack?",
    "What did the company report about its first quarter?",
    "Which state passed a new bill this year?",
    "What did the police say about the shooting?",
    "Who is the new head of the department?",
    "What did the court rule on Tuesday?",
    "What did the White House say about the war?",
    "How much money did the country spend last year?",
    "What did the former president say in his speech?",
    "Which city was hit by the storm this week?",
    "What did the report find about children and schools?",
    "What is the first time this has happened since 2020?",
    "Who said the world needs to do more?",
    "What did people in the state vote for?",
    "What did the team say after the season?",
]
K = 100
#: ``Store.lexical_search`` without filters, for the experiment's narrowed expressions.
PRODUCT_SQL = (f"SELECT rowid, -bm25(chunks_fts, {BM25_WEIGHTS[0]}, {BM25_WEIGHTS[1]}) AS s "
              f"FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY s DESC LIMIT ?")
BUILD_VERSION = 1


def base_chunks(dataset: Path) -> list[tuple]:
    """(id, title, source, published, chunk texts, text) per rtqa article, chunked by the product."""
    settings = Settings()
    out = []
    with gzip.open(dataset / "articles.jsonl.gz", "rt", encoding="utf-8") as fh:
        for row in map(json.loads, fh):
            try:
                article = article_from_row(row, row["url"])
            except IngestError:
                continue
            chunks = chunk_article(article, settings.chunk_words, settings.chunk_max_words,
                                   settings.chunk_overlap_words)
            out.append((article.id, article.title, article.source,
                        article.published.isoformat() if article.published else None,
                        [c.text for c in chunks], article.text))
    return out


def build(folder: Path, n: int, dataset: Path) -> Path:
    """The index.sqlite of ``n`` replicated real chunks (reused when complete)."""
    marker = folder / "built.json"
    signature = {"chunks": n, "version": BUILD_VERSION}
    if marker.exists() and {k: v for k, v in json.loads(marker.read_text()).items() if k in signature} == signature:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for name in (DB_FILE, DB_FILE + "-wal", DB_FILE + "-shm", "built.json"):
        (folder / name).unlink(missing_ok=True)
    started = time.perf_counter()
    articles = base_chunks(dataset)
    _create_database(folder, "none (lexical benchmark)", 1, {"chunk_words": 0})
    conn = sqlite3.connect(folder / DB_FILE)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    done, copy, now = 0, 0, "2024-01-01T00:00:00+00:00"
    while done < n:
        for aid, title, source, published, texts, text in articles:
            if done >= n:
                break
            if copy:
                aid, title = f"{aid}-{copy}", f"{title} · {copy}"
                if published:
                    published = (date.fromisoformat(published) - timedelta(weeks=52 * copy)).isoformat()
            texts = texts[: n - done]
            conn.execute(
                "INSERT INTO articles(id, url, title, source, published, authors, text, hash, origin,"
                " added_at) VALUES (?, NULL, ?, ?, ?, '[]', ?, ?, NULL, ?)",
                (aid, title, source, published, text, aid, now))
            start = conn.execute("SELECT COALESCE(MAX(id), 0) FROM chunks").fetchone()[0] + 1
            conn.executemany(
                "INSERT INTO chunks(id, article_id, ordinal, start, end, text, vector) VALUES (?, ?, ?, 0, 0, ?, x'')",
                [(start + i, aid, i, t) for i, t in enumerate(texts)])
            conn.executemany("INSERT INTO chunks_fts(rowid, title, body) VALUES (?, ?, ?)",
                             [(start + i, title, t) for i, t in enumerate(texts)])
            done += len(texts)
        copy += 1
        conn.commit()
        print(f"  {done:,} chunks, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    conn.commit()
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    signature["build_s"] = round(time.perf_counter() - started)
    marker.write_text(json.dumps(signature))
    return folder


def percentiles(ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return f"p50 {statistics.median(ms):6.1f}  p95 {p95:6.1f}  max {ms[-1]:6.1f} ms"


def timed(fn, queries) -> tuple[list[float], list]:
    ms, results = [], []
    for q in queries:
        t = time.perf_counter()
        results.append(fn(q))
        ms.append((time.perf_counter() - t) * 1000)
    return ms, results


def overlap(a: list[list], b: list[list], k: int) -> float:
    """Mean share of top-k(a) also in top-k(b) (as multisets), over queries where a has k."""
    shares = [sum((Counter(x[:k]) & Counter(y[:k])).values()) / k for x, y in zip(a, b) if len(x) >= k]
    return statistics.mean(shares) if shares else float("nan")


def recall(results: list[list[int]], answers: list[str], text: dict[int, str]) -> float:
    """Answer recall within 600 words of the distinct passage texts, in rank order."""
    hits = 0
    for ids, answer in zip(results, answers):
        hits += answer_in_budget(list(dict.fromkeys(text[i] for i in ids)), answer, 600)
    return hits / len(answers)


def fts_bytes(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'chunks_fts%'").fetchone()[0]


def narrowed(match: str, frequency: dict[str, int], budget: int) -> str:
    """The experiment (rejected, see docs/BENCHMARKS.md): only the rarest question words whose
    chunk counts add up to ``budget`` are searched (the rarest always); when even it is over
    budget, every word, ANDed."""
    parts = [p for p in match.split(" OR ") if frequency[p]]
    kept, total = [], 0
    for p in sorted(parts, key=frequency.get):
        if kept and total + frequency[p] > budget:
            break
        kept.append(p)
        total += frequency[p]
    if len(kept) == len(parts):
        return match
    return " AND ".join(parts) if total > budget else " OR ".join(p for p in parts if p in kept)


def measure(folder: Path, matches: dict[str, list[str]], answers: dict[str, list[str]], budget: int,
            filtered: int) -> dict[str, list[list[int]]]:
    """Prints the timings; returns the product's top-K chunk ids per question set."""
    db = folder / DB_FILE
    conn = _connect(db, None)
    store = Store(folder, conn)
    chunks = store.counts()[1]
    size = fts_bytes(conn)
    print(f"\n## {chunks:,} chunks — FTS5 {size / 2**20:,.0f} MiB on disk, {size / chunks:,.0f} B/chunk")
    for q in matches["real"][:20]:  # warm the page cache
        store.lexical_search(q, K)
    found = {}
    for name, queries in matches.items():
        ms, product = found[name] = timed(lambda m: [i for i, _ in store.lexical_search(m, K)], queries)
        print(f"  lexical_search {name:7} ({len(queries)} q): {percentiles(ms)}")
        if not budget:
            continue
        frequency = {}
        for m in queries:  # counted once per word, as a cache would (not timed)
            for p in m.split(" OR "):
                frequency[p] = frequency.get(p) or store.document_frequency(p.strip('"'))
        ms, narrow = timed(lambda m: [r[0] for r in conn.execute(PRODUCT_SQL, (narrowed(m, frequency, budget), K))],
                           queries)
        print(f"  narrowed to {budget:,} rows {name:7}: {percentiles(ms)}")
        # Copies of one chunk tie; also compared as the passage they copy, (base article, ordinal).
        ids = {i for r in product + narrow for i in r}
        rows = conn.execute(f"SELECT id, article_id, ordinal, text FROM chunks WHERE id IN ({','.join(map(str, ids))})")
        rows = rows.fetchall()
        base = {i: (a.split("-")[0], o) for i, a, o, _ in rows}
        as_base = [[[base[i] for i in r] for r in x] for x in (product, narrow)]
        print(f"    overlap with lexical_search @10 {overlap(product, narrow, 10):.3f} @100 "
              f"{overlap(product, narrow, 100):.3f}; as passages @10 {overlap(*as_base, 10):.3f} @100 "
              f"{overlap(*as_base, 100):.3f}")
        if name in answers:
            text = {i: t for i, _, _, t in rows}
            print(f"    answer recall@600 words (lexical only, distinct passages): lexical_search "
                  f"{recall(product, answers[name], text):.3f}, narrowed {recall(narrow, answers[name], text):.3f}")
    newest = store.published_range().newest
    queries = matches["real"][:filtered] + matches["common"][:filtered]
    for label, filters in (
        ("one day", Filters(since=newest, until=newest)),
        ("one source", Filters(sources=("cnn.com",))),
        ("last year", Filters(since=newest - timedelta(days=365))),
    ):
        share = len(store.filtered_ids(filters)) / chunks
        ms, _ = timed(lambda m: store.lexical_search(m, K, filters), queries)
        print(f"  filter {label:10} ({share:6.1%} of chunks, {len(queries)} q): {percentiles(ms)}")
    conn.close()
    return {name: r[1] for name, r in found.items()}


def anchor_bm25s(folder: Path, questions: list[str], answers: list[str], champions: list[int]) -> None:
    try:
        import bm25s
        import Stemmer
    except ImportError:
        print("  bm25s: not installed (pip install -e '.[bench]')")
        return
    conn = sqlite3.connect(folder / DB_FILE)
    docs = [f"{t}\n{x}" for t, x in conn.execute(
        "SELECT a.title, c.text FROM chunks c JOIN articles a ON a.id = c.article_id ORDER BY c.id")]
    conn.close()
    stemmer, stop = Stemmer.Stemmer("english"), list(STOPWORDS)
    started = time.perf_counter()
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(docs, stopwords=stop, stemmer=stemmer, show_progress=False),
                    show_progress=False)
    build_s = time.perf_counter() - started
    k = min(K, len(docs))
    del docs

    def tokenized(texts):  # the questions' stemmed terms (not timed below: ~0.1 ms each)
        return bm25s.tokenize(texts, stopwords=stop, stemmer=stemmer, show_progress=False, return_ids=False)

    def query(text):
        tokens = bm25s.tokenize([text], stopwords=stop, stemmer=stemmer, show_progress=False)
        return retriever.retrieve(tokens, k=k, show_progress=False)

    ms, results = timed(query, questions)
    print(f"  bm25s (anchor): build {build_s:.0f} s, RSS {rss_mb():,.0f} MB; "
          f"query ({len(questions)} q) {percentiles(ms)}")
    ids = [[int(i) + 1 for i in r[0][0]] for r in results[:len(answers)]]  # chunk ids are 1..N
    conn = sqlite3.connect(folder / DB_FILE)
    wanted = ",".join(str(i) for i in {i for r in ids for i in r})
    text = dict(conn.execute(f"SELECT id, text FROM chunks WHERE id IN ({wanted})"))
    conn.close()
    print(f"    answer recall@600 words (lexical only, distinct passages): {recall(ids, answers, text):.3f}")
    for cut in champions:
        impacts(retriever, tokenized(questions[:len(answers)]), cut, answers, folder)


def impacts(retriever, questions: list[list[str]], cut: int, answers: list[str], folder: Path) -> None:
    """bm25s's stored impacts (BM25 score of each term in each chunk) summed in numpy over the
    question's terms, each term's postings cut to its ``cut`` best (0: all of them)."""
    matrix, vocab = retriever.scores, retriever.vocab_dict
    data, indices, indptr = matrix["data"], matrix["indices"], matrix["indptr"]
    postings = {}
    for term in {t for q in questions for t in q}:
        i = vocab.get(term)
        if i is None:
            continue
        d, ix = data[indptr[i]:indptr[i + 1]], indices[indptr[i]:indptr[i + 1]]
        if cut and len(d) > cut:  # done once per term at build time in a real segment
            keep = np.argpartition(-d, cut)[:cut]
            d, ix = d[keep], ix[keep]
        postings[term] = (ix, d)

    def query(terms):
        parts = [postings[t] for t in terms if t in postings]
        if not parts:
            return []
        chunk, where = np.unique(np.concatenate([p[0] for p in parts]), return_inverse=True)
        score = np.bincount(where, weights=np.concatenate([p[1] for p in parts]))
        k = min(K, len(chunk))
        top = np.argpartition(-score, k - 1)[:k]
        return [int(chunk[i]) + 1 for i in top[np.argsort(-score[top])]]  # chunk ids are 1..N

    ms, ids = timed(query, questions)
    conn = sqlite3.connect(folder / DB_FILE)
    wanted = ",".join(str(i) for i in {i for r in ids for i in r})
    text = dict(conn.execute(f"SELECT id, text FROM chunks WHERE id IN ({wanted})"))
    conn.close()
    label = f"best {cut:,} per term" if cut else "all postings"
    print(f"  impacts summed in numpy, {label}: {percentiles(ms)}; "
          f"answer recall {recall(ids, answers, text):.3f}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--questions", type=int, default=300, help="real rtqa questions (seeded sample)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    p.add_argument("--budget", type=int, default=10_000,
                   help="rows for the narrowed-query experiment (0: skip it)")
    p.add_argument("--filtered", type=int, default=100, help="real and common questions asked with filters")
    p.add_argument("--no-bm25s", action="store_true", help="skip the bm25s anchor")
    p.add_argument("--champions", type=int, nargs="*", default=[0, 1_000, 10_000],
                   help="sum bm25s's impacts in numpy, each term cut to its best N postings (0: all)")
    args = p.parse_args(argv)
    if not (args.dataset / "articles.jsonl.gz").exists():
        print(f"no rtqa dataset at {args.dataset}; nothing to do.")
        return 0
    sample = random.Random(args.seed).sample(load_questions(args.dataset / "questions.jsonl"), args.questions)
    texts = {"real": [q["question"] for q in sample], "common": COMMON}
    matches = {name: [Question.parse(t).match for t in qs] for name, qs in texts.items()}
    answers = [q["answer"] for q in sample]
    for n in args.sizes:
        folder = build(ROOT / ".bench" / f"lexical-{n}", n, args.dataset)
        measure(folder, matches, {"real": answers}, args.budget, args.filtered)
        if not args.no_bm25s:
            anchor_bm25s(folder, texts["real"] + texts["common"], answers, args.champions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
