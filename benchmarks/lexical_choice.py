"""SQLite FTS5 vs bm25s for the lexical side, on the chunks of an existing index.

Measures, in one process on the same chunk texts and questions: query latency, the cost of
adding one article to the index (FTS5: insert its chunks; bm25s: re-index everything, since
its index is static), and answer recall within 600 words of lexical-only search.

    pip install -e ".[bench]"        # bm25s and PyStemmer, only for this script
    python benchmarks/lexical_choice.py --index .bench/rtqa-200-13 --n 200 --seed 13
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_rtqa import DEFAULT_DATASET, ROOT, load_questions  # noqa: E402

from retrieval.evaluate import answer_in_budget  # noqa: E402
from retrieval.lexical import STOPWORDS, match_expression  # noqa: E402
from retrieval.store import BM25_WEIGHTS, DB_FILE  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--index", type=Path, default=ROOT / ".bench" / "rtqa-200-13")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    args = p.parse_args(argv)
    if not (args.dataset / "questions.jsonl").exists() or not (args.index / DB_FILE).exists():
        print("needs the rtqa dataset and an index built by bench_rtqa.py; nothing to do.")
        return 0
    try:
        import bm25s
        import Stemmer
    except ImportError:
        print("bm25s/PyStemmer not installed: pip install -e '.[bench]'")
        return 0

    questions = random.Random(args.seed).sample(load_questions(args.dataset / "questions.jsonl"), args.n)
    conn = sqlite3.connect(args.index / DB_FILE)
    rows = conn.execute("SELECT c.id, a.title, c.text FROM chunks c JOIN articles a ON a.id=c.article_id").fetchall()
    ids = [r[0] for r in rows]
    docs = [f"{r[1]}\n{r[2]}" for r in rows]
    text_of = {r[0]: r[2] for r in rows}
    stemmer = Stemmer.Stemmer("english")

    started = time.perf_counter()
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(docs, stopwords=list(STOPWORDS), stemmer=stemmer, show_progress=False), show_progress=False)
    bm25s_build = time.perf_counter() - started

    fts_ms, bm_ms, fts_hits, bm_hits = [], [], 0, 0
    sql = (f"SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? "
           f"ORDER BY bm25(chunks_fts, {BM25_WEIGHTS[0]}, {BM25_WEIGHTS[1]}) LIMIT 20")
    for q in questions:
        t = time.perf_counter()
        fts = [r[0] for r in conn.execute(sql, (match_expression(q["question"]),))]
        fts_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        tokens = bm25s.tokenize([q["question"]], stopwords=list(STOPWORDS), stemmer=stemmer, show_progress=False)
        found, _ = retriever.retrieve(tokens, k=min(20, len(docs)), show_progress=False)
        bm_ms.append((time.perf_counter() - t) * 1000)
        bm = [ids[i] for i in found[0]]
        fts_hits += answer_in_budget([text_of[i] for i in fts], q["answer"], 600)
        bm_hits += answer_in_budget([text_of[i] for i in bm], q["answer"], 600)

    # Adding one article (~10 chunks): FTS5 inserts rows in a transaction; bm25s rebuilds.
    memory = sqlite3.connect(":memory:")
    memory.execute("CREATE VIRTUAL TABLE f USING fts5(title, body, tokenize='porter unicode61 remove_diacritics 2')")
    memory.executemany("INSERT INTO f(rowid, title, body) VALUES (?, ?, ?)", [(r[0], r[1], r[2]) for r in rows])
    memory.commit()
    t = time.perf_counter()
    with memory:
        memory.executemany("INSERT INTO f(rowid, title, body) VALUES (?, ?, ?)",
                           [(10**9 + i, "New article", docs[i]) for i in range(10)])
    fts_add = time.perf_counter() - t

    n = len(questions)
    print(f"{len(docs)} chunks, {n} questions (seed {args.seed})\n")
    print("| lexical index | query ms (median) | add one article (10 chunks) | answer recall @600 |")
    print("|---|---:|---:|---:|")
    print(f"| SQLite FTS5 (porter) | {statistics.median(fts_ms):.1f} | {fts_add * 1000:.1f} ms | {fts_hits / n:.3f} |")
    print(f"| bm25s (snowball) | {statistics.median(bm_ms):.1f} | {bm25s_build * 1000:.0f} ms (full re-index) | {bm_hits / n:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
