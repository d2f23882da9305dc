"""Would a learned passage ranker beat RRF + recency? Fit one and measure it side by side.

Fits a linear listwise ranker (the same fitting as ``train_scorers.py``) over 21 features of
each candidate passage (both ranks, cosine, BM25, recency, position in the article, IDF
coverage of the question in text and title, article-level support …) on the training questions
of ``train_scorers.py``, then re-ranks the benchmark samples' candidates with it and with the
shipped RRF + recency ranking. Nothing here is used by the product: this is the measurement
behind "learned ranking: not kept" in docs/BENCHMARKS.md.

    python benchmarks/learned_ranking.py      # needs the indexes bench_rtqa.py and train_scorers.py built
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_rtqa import DEFAULT_DATASET, ROOT, load_questions, load_sample  # noqa: E402
from train_scorers import fit_listwise, training_questions  # noqa: E402

from retrieval import Settings  # noqa: E402
from retrieval.evaluate import answer_in_budget, contains_answer, url_recall_at_k  # noqa: E402
from retrieval.lexical import match_expression, terms  # noqa: E402
from retrieval.question import Question  # noqa: E402
from retrieval.search import DEFAULT_PARAMS, Ranked, gather, rank, to_hits  # noqa: E402
from retrieval.sources import parse_date  # noqa: E402

FEATURES = (
    "rrf_dense", "rrf_lexical", "cosine", "cosine_to_best", "bm25_to_best", "recency", "fresh",
    "no_date", "after_as_of", "log_age", "lead", "log_ordinal", "coverage_text", "coverage_title",
    "coverage_both", "log_article_candidates", "article_best_cosine", "time_cue_x_recency",
    "in_dense", "in_lexical", "length",
)
TIME_CUE = ("this week", "recently", "new ", "latest", "this month", "today", "last week")


def candidates_with_features(engine, q: dict):
    """The question's candidates (as the product gathers them) and their feature rows."""
    store = engine.store
    vector = engine.embedder.embed([q["question"]])[0]
    pool = gather(store, Question.parse(q["question"]), vector, None)
    cosines = store.vectors_for([c.chunk_id for c in pool]) @ vector
    bm25 = dict(store.lexical_search(match_expression(q["question"]), DEFAULT_PARAMS.candidates))
    idf = engine._idf()
    weights = {t: w for t in terms(q["question"]) if (w := idf(t))}
    total = sum(weights.values()) or 1.0
    as_of = parse_date(q["date"])
    best_cos, best_bm25 = float(cosines.max()), max([*bm25.values(), 1e-9])
    per_article: dict[str, list[float]] = {}
    for c, cos in zip(pool, cosines):
        per_article.setdefault(c.row["article_id"], []).append(float(cos))
    cue = any(cue in q["question"].lower() for cue in TIME_CUE)
    rows = []
    for c, cos in zip(pool, cosines):
        day = parse_date(c.row["published"])
        age = (as_of - day).days if day and as_of else None
        recency = 0.0 if age is None or age < -3 else 1 / (1 + max(age, 0) / 7)
        text, title = set(terms(c.row["text"])), set(terms(c.row["title"]))
        coverage = [sum(w for t, w in weights.items() if t in words) / total for words in (text, title, text | title)]
        article = per_article[c.row["article_id"]]
        rows.append([
            61 / (60 + c.dense_rank) if c.dense_rank else 0.0,
            61 / (60 + c.lexical_rank) if c.lexical_rank else 0.0,
            float(cos), float(cos) - best_cos, bm25.get(c.chunk_id, 0.0) / best_bm25, recency,
            float(age is not None and -3 <= age <= 7), float(age is None), float(age is not None and age < -3),
            math.log1p(max(age, 0)) if age is not None else 0.0,
            float(c.row["ordinal"] == 0), math.log1p(c.row["ordinal"]), *coverage,
            math.log(len(article)), max(article) - best_cos, cue * recency,
            float(bool(c.dense_rank)), float(bool(c.lexical_rank)), min(len(c.row["text"].split()), 150) / 150,
        ])
    return pool, np.array(rows)


def measure(engine, sample, scorer=None) -> dict[str, float]:
    """Answer recall @120/300/600 and url@5 with RRF + recency (scorer None) or the learned scorer."""
    totals = {"@120": 0, "@300": 0, "@600": 0, "url@5": 0}
    for q in sample:
        pool, x = candidates_with_features(engine, q)
        if scorer is None:
            ranked = rank(pool, parse_date(q["date"]))
        else:
            scores = scorer(x)
            ranked = sorted((Ranked(c.chunk_id, float(s)) for c, s in zip(pool, scores)), key=lambda r: -r.score)
        hits = to_hits(engine.store, ranked, 20, DEFAULT_PARAMS.max_per_article, {c.chunk_id: c.row for c in pool})
        texts = [h.text for h in hits]
        for budget in (120, 300, 600):
            totals[f"@{budget}"] += answer_in_budget(texts, q["answer"], budget)
        totals["url@5"] += url_recall_at_k([h.url for h in hits], q["answer_in"], 5)
    return {k: round(v / len(sample), 3) for k, v in totals.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    p.add_argument("--train", default="300:101", help="training sample N:SEED of train_scorers.py")
    p.add_argument("--samples", nargs="*", default=["200:13", "100:29"], help="benchmark samples N:SEED")
    p.add_argument("--l2", type=float, nargs="*", default=[0.01, 0.1, 1.0])
    args = p.parse_args(argv)
    if not (args.dataset / "questions.jsonl").exists():
        print(f"rtqa dataset not found at {args.dataset}; nothing to do.")
        return 0
    from retrieval.engine import Engine

    n, seed = map(int, args.train.split(":"))
    train = training_questions(load_questions(args.dataset / "questions.jsonl"), n, seed, args.samples)
    with Engine.open(Settings(index=ROOT / ".bench" / f"train-{n}-{seed}")) as engine:
        groups = []
        for q in train:
            pool, x = candidates_with_features(engine, q)
            labels = np.array([contains_answer(c.row["text"], q["answer"]) for c in pool])
            if labels.any() and not labels.all():
                groups.append((x, labels))
    fitted = {}
    for l2 in args.l2:
        mean, scale, weights = fit_listwise(groups, l2)
        fitted[l2] = (lambda x, m=mean, s=scale, w=weights: ((x - m) / s) @ w)
    results = {}
    print("| sample | ranking | @120 | @300 | @600 | url@5 |\n|---|---|---:|---:|---:|---:|")
    for spec in args.samples:
        size, sample_seed = map(int, spec.split(":"))
        sample = load_sample(args.dataset, size, sample_seed)[2]
        with Engine.open(Settings(index=ROOT / ".bench" / f"rtqa-{size}-{sample_seed}")) as engine:
            rows = {"RRF + recency (shipped)": measure(engine, sample)}
            for l2, scorer in fitted.items():
                rows[f"learned, L2 {l2}"] = measure(engine, sample, scorer)
        for name, m in rows.items():
            print(f"| {spec} | {name} | {m['@120']} | {m['@300']} | {m['@600']} | {m['url@5']} |")
        results[spec] = rows
    print(json.dumps({"training_groups": len(groups), "features": FEATURES}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
