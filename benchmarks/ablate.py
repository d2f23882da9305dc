"""Ablations on the rtqa sample: which ranking levers help, measured side by side in one run.

Reuses the index that ``bench_rtqa.py`` built (same sample, same seed) and gathers each
question's candidates once; every variant then re-ranks the same candidates, so differences
come from the ranking alone. (Levers measured as no gain and taken out of the product — an
exact-name bonus, pseudo-relevance feedback, an article bonus — are in docs/BENCHMARKS.md.) Also prints the abstention features of answerable and
unanswerable questions, for choosing thresholds.

    python benchmarks/ablate.py --n 200 --seed 13            # retrieval variants
    python benchmarks/ablate.py --n 200 --seed 13 --answers  # + answer/abstention features
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_rtqa import DEFAULT_DATASET, ROOT, load_sample, unanswerable_pool  # noqa: E402

from dataclasses import replace  # noqa: E402

from retrieval import Settings  # noqa: E402
from retrieval.answer import DEFAULT_ANSWER, AnswerParams  # noqa: E402
from retrieval.evaluate import answer_in_budget, url_recall_at_k  # noqa: E402
from retrieval.question import Question  # noqa: E402
from retrieval.search import DEFAULT_PARAMS, SearchParams, gather, rank, to_hits  # noqa: E402
from retrieval.sources import parse_date  # noqa: E402

R = SearchParams(recency_weight=1.0)
VARIANTS: dict[str, SearchParams] = {
    "R = rrf + recency 1/7d": R,
    "R + max 2/article": replace(R, max_per_article=2),
    "R + max 3/article": replace(R, max_per_article=3),
    "R + lexical 1.5": replace(R, lexical_weight=1.5),
    "R + candidates 200": replace(R, candidates=200),
    "rrf (1:1)": SearchParams(),
    "rrf dense 1.5": SearchParams(dense_weight=1.5),
    "rrf lexical 1.5": SearchParams(lexical_weight=1.5),
    "rrf k=20": SearchParams(rrf_k=20),
    "+ recency 0.5/7d": SearchParams(recency_weight=0.5),
    "+ recency 1/7d": SearchParams(recency_weight=1.0),
    "+ recency 2/7d": SearchParams(recency_weight=2.0),
    "+ recency 1/30d": SearchParams(recency_weight=1.0, recency_days=30),
    "+ recency 2/30d": SearchParams(recency_weight=2.0, recency_days=30),
    "default": DEFAULT_PARAMS,
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    p.add_argument("--answers", action="store_true", help="also measure answers and abstention features")
    p.add_argument("--abstain", type=int, default=50)
    p.add_argument("--answers-only", action="store_true", help="skip the retrieval variants")
    p.add_argument("--index-dir", type=Path, default=None, help="index folder (default .bench/rtqa-N-SEED)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not (args.dataset / "questions.jsonl").exists():
        print(f"rtqa dataset not found at {args.dataset}; nothing to do.")
        return 0
    index = args.index_dir or ROOT / ".bench" / f"rtqa-{args.n}-{args.seed}"
    if not (index / "index.sqlite").exists():
        print(f"no index at {index}: run benchmarks/bench_rtqa.py --n {args.n} --seed {args.seed} first")
        return 1
    questions, _, sample, urls, hashes = load_sample(args.dataset, args.n, args.seed)

    from retrieval.engine import Engine

    engine = Engine.open(Settings(index=index))
    store = engine.store
    started = time.perf_counter()
    vectors = engine.embedder.embed([q["question"] for q in sample])
    questions_ = {id(q): Question.parse(q["question"], parse_date(q["date"])) for q in sample}
    pools = [gather(store, questions_[id(q)], v, None) for q, v in zip(sample, vectors)]
    print(f"gathered candidates for {len(sample)} questions in {time.perf_counter() - started:.1f}s\n")

    print("| variant | @120 | @300 | @600 | url@5 |\n|---|---:|---:|---:|---:|")
    for name, params in ({} if args.answers_only else VARIANTS).items():
        scores = {120: 0, 300: 0, 600: 0, "url": 0}
        for q, pool in zip(sample, pools):
            ranked = rank(pool, parse_date(q["date"]), params)
            hits = to_hits(store, ranked, 20, params.max_per_article)
            texts = [h.text for h in hits]
            for budget in (120, 300, 600):
                scores[budget] += answer_in_budget(texts, q["answer"], budget)
            scores["url"] += url_recall_at_k([h.url for h in hits], q["answer_in"], 5)
        n = len(sample)
        print(f"| {name} | {scores[120]/n:.3f} | {scores[300]/n:.3f} | {scores[600]/n:.3f} | {scores['url']/n:.3f} |")

    for mode in () if args.answers_only else ("dense", "lexical"):
        hits_ok = 0
        for q, v in zip(sample, vectors):
            hits = engine.search(q["question"], k=20, mode=mode)
            hits_ok += answer_in_budget([h.text for h in hits], q["answer"], 600)
        print(f"| {mode} only | | | {hits_ok/len(sample):.3f} | |")

    if args.answers or args.answers_only:
        pool = unanswerable_pool(questions, sample, hashes, set(urls))
        chosen = random.Random(args.seed).sample(pool, min(args.abstain, len(pool)))
        answer_variants(engine, sample, chosen)
        features(engine, sample, "answerable")
        features(engine, chosen, "unanswerable")
    engine.close()
    return 0


ANSWER_VARIANTS: dict[str, AnswerParams] = {
    "default": DEFAULT_ANSWER,
    "no coverage abstention": replace(DEFAULT_ANSWER, abstain_coverage=0.0),
    "coverage 0.5": replace(DEFAULT_ANSWER, abstain_coverage=0.5),
    "3 sentences": replace(DEFAULT_ANSWER, max_sentences=3),
    "5 sentences": replace(DEFAULT_ANSWER, max_sentences=5),
    "1 per passage": replace(DEFAULT_ANSWER, per_passage=1),
    "passages 2": replace(DEFAULT_ANSWER, passages=2),
    "passages 3": replace(DEFAULT_ANSWER, passages=3),
    "passages 6": replace(DEFAULT_ANSWER, passages=6),
}


def answer_variants(engine, sample, unanswerable) -> None:
    """Answer-selection variants on the same hits (embeddings memoised across variants)."""
    from retrieval.answer import compose
    from retrieval.evaluate import contains_answer

    memo: dict[str, object] = {}

    def embed(texts):
        missing = [t for t in texts if t not in memo]
        if missing:
            for t, v in zip(missing, engine.embedder.embed(missing)):
                memo[t] = v
        return __import__("numpy").stack([memo[t] for t in texts])

    as_of = {id(q): parse_date(q["date"]) for q in sample + unanswerable}
    hits = {id(q): engine.search(q["question"], k=8, as_of=as_of[id(q)]) for q in sample + unanswerable}
    idf = engine._idf()
    print("\n| answer variant | contains answer | abstained (answerable) | abstained (unanswerable) |")
    print("|---|---:|---:|---:|")
    for name, params in ANSWER_VARIANTS.items():
        ok = abst = un = 0
        for q in sample:
            answer = compose(Question.parse(q["question"], as_of[id(q)]), hits[id(q)], embed, engine.store.article, params, idf)
            ok += (not answer.abstained) and contains_answer(" ".join(s.text for s in answer.sentences), q["answer"])
            abst += answer.abstained
        for q in unanswerable:
            un += compose(Question.parse(q["question"], as_of[id(q)]), hits[id(q)], embed, engine.store.article, params, idf).abstained
        print(f"| {name} | {ok/len(sample):.3f} | {abst/len(sample):.3f} | {un/max(1, len(unanswerable)):.3f} |")


def features(engine, questions, label: str) -> None:
    """Per-question abstention features, as JSON lines on stderr-free stdout."""
    from retrieval.answer import abstention_features

    rows = []
    for q in questions:
        hits = engine.search(q["question"], k=8, as_of=parse_date(q["date"]))
        rows.append(abstention_features(Question.parse(q["question"], parse_date(q["date"])), hits, engine._embed))
    out = ROOT / ".bench" / f"features-{label}.json"
    out.write_text(json.dumps(rows))
    print(f"wrote {len(rows)} feature rows to {out}")


if __name__ == "__main__":
    raise SystemExit(main())
