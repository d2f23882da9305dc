"""Calibrate the topic-alert threshold (retrieval/alerts.py) on rtqa.

Each sampled rtqa question is a topic someone follows; the stream is the union of the sample's
search-result articles (a few hundred), indexed through the product path with the packaged
model. Every (topic, article) pair is scored as :meth:`retrieval.alerts.Alerts.check` scores it
(best passage cosine, IDF-weighted coverage of the topic's words) and each threshold pair is
judged by the alerts it would send:

* precision — alerted articles the question was answered from (``answer_in``), over all alerts;
* on-topic precision — alerted articles among the question's own search results (same story or
  a near-topic one; the strict measure counts those as misfires);
* recall — ``answer_in`` articles that got an alert.

Topics come in two shapes: the question as asked, and its names alone ("Qureshi Afghanistan",
closer to what people type after /follow; questions without a name are left out of that row).

    python benchmarks/bench_alerts.py --n 30 --seed 11

The index is kept in ``.bench/alerts-N-SEED`` and reused. Without the dataset the script says so
and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_rtqa import DEFAULT_DATASET, ROOT, build_index, corpus_signature, load_sample  # noqa: E402

from retrieval import Settings  # noqa: E402
from retrieval.alerts import (  # noqa: E402
    ALERT_COSINE,
    ALERT_COVERAGE,
    COVERAGE_ONLY,
    article_words,
    best_cosine,
    coverage,
)
from retrieval.lexical import STOPWORDS, names  # noqa: E402

log = logging.getLogger("bench_alerts")

COSINES = (None, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65)
COVERAGES = (0.0, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=30, help="questions (topics) in the sample (default 30)")
    p.add_argument("--seed", type=int, default=11, help="sampling seed (default 11)")
    p.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    p.add_argument("--all", action="store_true", help="print every threshold pair, not only the best rows")
    return p.parse_args(argv)


def names_topic(question: str) -> str:
    found = [n for n in names(question) if n.lower() not in STOPWORDS]
    return " ".join(dict.fromkeys(found))


def measure(pairs, cosine: float | None, cov: float) -> dict:
    """Precision / on-topic precision / recall of the alerts sent at these thresholds."""
    sent = relevant = on_topic = 0
    positives = found = 0
    for cos, c, is_answer, is_topical in pairs:
        positives += is_answer
        if (cosine is None or cos >= cosine) and c >= cov:
            sent += 1
            relevant += is_answer
            on_topic += is_topical
            found += is_answer
    return {"sent": sent, "precision": relevant / sent if sent else math.nan,
            "on_topic": on_topic / sent if sent else math.nan,
            "recall": found / positives if positives else math.nan}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("faiss").setLevel(logging.WARNING)
    if not (args.dataset / "questions.jsonl").exists():
        print(f"rtqa dataset not found at {args.dataset}; nothing to do.")
        return 0
    started = time.perf_counter()
    _, articles, sample, urls, hashes = load_sample(args.dataset, args.n, args.seed)

    from retrieval.engine import Engine

    settings = Settings(index=ROOT / ".bench" / f"alerts-{args.n}-{args.seed}")
    engine = Engine.open(settings, create=True)
    try:
        build_index(engine, settings.index, urls, articles, corpus_signature(urls, settings))
        store = engine.store
        stored = {}  # url → article id (identical copies are stored once)
        for u in urls:
            stored[u] = store.resolve(u) or store.find_by_hash(hashes[u])
        ids = sorted({i for i in stored.values() if i})
        docs = {}
        for article_id in ids:
            article = store.article(article_id)
            _, _, vectors = store.article_chunks(article_id)
            docs[article_id] = (vectors, article_words(article.title, article.text))
        log.info("stream: %d articles (%d URLs)", len(ids), len(urls))
        shapes = {"question": [q["question"] for q in sample],
                  "names": [names_topic(q["question"]) for q in sample]}
        rows = {}
        for shape, texts in shapes.items():
            kept = [(q, t) for q, t in zip(sample, texts) if t]
            topics = engine.alerts.analyse([t for _, t in kept])
            pairs = []
            for (q, _), topic in zip(kept, topics):
                answer = {stored[u] for u in q["answer_in"] if stored.get(u)}
                topical = {stored[u] for u in q["search_results"] if stored.get(u)}
                for article_id, (vectors, words) in docs.items():
                    pairs.append((best_cosine(vectors, topic.vector), coverage(topic.weights, words),
                                  article_id in answer, article_id in topical))
            rows[shape] = (len(kept), {(c, v): measure(pairs, c, v) for c in COSINES for v in COVERAGES})
    finally:
        engine.close()

    print(f"alerts benchmark: {args.n} rtqa questions as topics (seed {args.seed}), a stream of "
          f"{len(ids)} articles; {time.perf_counter() - started:.0f} s")
    print(f"shipped: cosine ≥ {ALERT_COSINE}, coverage ≥ {ALERT_COVERAGE}; other models: coverage ≥ {COVERAGE_ONLY}")
    for shape, (topics, grid) in rows.items():
        print(f"\ntopics = {shape} ({topics} topics)\n")
        print("| cosine ≥ | coverage ≥ | alerts | precision | on-topic precision | recall |")
        print("|---:|---:|---:|---:|---:|---:|")
        for (c, v), m in grid.items():
            shipped = (c == ALERT_COSINE and v == ALERT_COVERAGE) or (c is None and v == COVERAGE_ONLY)
            if not (args.all or shipped or (m["on_topic"] >= 0.9 and m["recall"] >= 0.3)):
                continue
            mark = " **(shipped)**" if shipped else ""
            print(f"| {'–' if c is None else c} | {v} | {m['sent']} | {m['precision']:.2f} | "
                  f"{m['on_topic']:.2f} | {m['recall']:.2f}{mark} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
