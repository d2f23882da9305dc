"""Fit the shipped sentence scorer on rtqa questions outside the benchmark samples.

The answer's sentences are ranked by a linear scorer over a dozen features
(``retrieval.answer.SENTENCE_FEATURES``: cosine, word overlap, answer type, passage rank,
position, freshness …). This script fits its weights and writes
``retrieval/data/sentence_scorer.json``:

1. Training questions: a seeded sample of the dev questions that are in none of the benchmark
   samples (``--exclude``, by id and by question text), so the benchmark measures the scorer
   on questions it was not fitted on.
2. Their corpus (the union of their search results) is indexed through the product path, like
   ``bench_rtqa.py`` does, into ``--index-dir``.
3. Each question goes through ``Engine.search`` as of its date; the candidate sentences of the
   top passages get the product's features, labelled by whether they hold the expected answer.
4. Listwise logistic regression (softmax over one question's sentences, the positives' share
   maximised; L2 ``--l2``), by L-BFGS. Features are standardised; the file keeps mean and scale.
5. It also prints how often each IDF-coverage threshold (``ABSTAIN_COVERAGE``) abstains on the
   training questions and on 100 questions whose articles are absent from their corpus, so the
   threshold is set on these questions too, not on a benchmark sample.

    python benchmarks/train_scorers.py --n 300 --seed 101

Needs the dataset at ../shared/datasets/rtqa (exits 0 with a message without it) and scipy
(installed with sentence-transformers).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_rtqa import (  # noqa: E402
    DEFAULT_DATASET,
    ROOT,
    build_index,
    corpus_signature,
    git_state,
    load_articles,
    load_questions,
    stored_hashes,
    unanswerable_pool,
)

from retrieval import Settings  # noqa: E402
from retrieval.answer import (  # noqa: E402
    ANSWER_PASSAGES,
    SENTENCE_FEATURES,
    SENTENCE_SCORER,
    idf_coverage,
    passage_sentences,
    sentence_features,
)
from retrieval.evaluate import contains_answer, normalise  # noqa: E402
from retrieval.learned import LinearScorer, scorer_path  # noqa: E402
from retrieval.question import Question  # noqa: E402
from retrieval.sources import parse_date  # noqa: E402

log = logging.getLogger("train_scorers")
#: Unanswerable questions asked of the training corpus for the abstention table.
UNANSWERABLE = 100


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=300, help="training questions (default 300)")
    p.add_argument("--seed", type=int, default=101)
    p.add_argument("--exclude", action="append", default=None, metavar="N:SEED",
                   help="benchmark sample to keep out of training (default 200:13 and 100:29)")
    p.add_argument("--l2", type=float, default=0.01, help="L2 penalty on the standardised weights")
    p.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    p.add_argument("--index-dir", type=Path, default=None, help="default .bench/train-N-SEED")
    p.add_argument("--out", type=Path, default=scorer_path(SENTENCE_SCORER))
    return p.parse_args(argv)


def outside(questions: list[dict], exclude: list[str]) -> list[dict]:
    """The questions in none of the ``exclude`` benchmark samples (N:SEED), by id and by text."""
    taken_ids: set[str] = set()
    taken_texts: set[str] = set()
    for spec in exclude:
        size, sample_seed = map(int, spec.split(":"))
        for q in random.Random(sample_seed).sample(questions, min(size, len(questions))):
            taken_ids.add(q["id"])
            taken_texts.add(normalise(q["question"]))
    return [q for q in questions if q["id"] not in taken_ids and normalise(q["question"]) not in taken_texts]


def training_questions(questions: list[dict], n: int, seed: int, exclude: list[str]) -> list[dict]:
    """A seeded sample of the questions in none of the ``exclude`` benchmark samples."""
    pool = outside(questions, exclude)
    log.info("%d questions outside the benchmark samples; sampling %d", len(pool), n)
    return random.Random(seed).sample(pool, min(n, len(pool)))


#: IDF-coverage abstention thresholds reported on the training questions (ABSTAIN_COVERAGE).
COVERAGE_THRESHOLDS = (0.35, 0.40, 0.45, 0.50)


def coverage_table(engine, answerable: list[dict], unanswerable: list[dict]) -> str:
    """Markdown: the share of answerable and of unanswerable questions each threshold abstains on."""
    idf = engine._idf()

    def coverage(qs: list[dict]) -> np.ndarray:
        return np.array([
            idf_coverage(Question.parse(q["question"]), engine.search(q["question"], k=8, as_of=parse_date(q["date"])), idf)
            for q in qs
        ])

    a, u = coverage(answerable), coverage(unanswerable)
    lines = [f"| threshold | abstained, answerable ({len(a)}) | abstained, unanswerable ({len(u)}) |",
             "|---|---:|---:|"]
    lines += [f"| {t:.2f} | {(a < t).mean():.3f} | {(u < t).mean():.3f} |" for t in COVERAGE_THRESHOLDS]
    return "\n".join(lines)


def sentence_groups(engine, sample: list[dict]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(features, labels) per question that has both an answering and another sentence."""
    groups = []
    for q in sample:
        as_of = parse_date(q["date"])
        hits = engine.search(q["question"], k=8, as_of=as_of)
        candidates = passage_sentences(hits[:ANSWER_PASSAGES])
        if not candidates:
            continue
        vectors = engine.embedder.embed([q["question"]] + [c.text for c in candidates])
        features = sentence_features(Question.parse(q["question"], as_of), candidates, vectors[1:] @ vectors[0], hits)
        labels = np.array([contains_answer(c.text, q["answer"]) for c in candidates])
        if labels.any() and not labels.all():
            groups.append((features, labels))
    return groups


def fit_listwise(groups: list[tuple[np.ndarray, np.ndarray]], l2: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, scale and weights maximising, per group, the softmax share of its positives."""
    from scipy.optimize import minimize
    from scipy.special import logsumexp

    stacked = np.vstack([x for x, _ in groups])
    mean, scale = stacked.mean(axis=0), stacked.std(axis=0)
    scale[scale == 0] = 1.0
    data = [((x - mean) / scale, y.astype(bool)) for x, y in groups]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for x, y in data:
            s = x @ w
            all_, pos = logsumexp(s), logsumexp(s[y])
            total += all_ - pos
            grad += x.T @ np.exp(s - all_) - x[y].T @ np.exp(s[y] - pos)
        return total / len(data) + l2 * w @ w / 2, grad / len(data) + l2 * w

    result = minimize(loss, np.zeros(stacked.shape[1]), jac=True, method="L-BFGS-B")
    if not result.success:
        log.warning("optimiser: %s", result.message)
    return mean, scale, result.x


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("faiss").setLevel(logging.WARNING)
    if not (args.dataset / "questions.jsonl").exists():
        print(f"rtqa dataset not found at {args.dataset}; nothing to do.")
        return 0
    exclude = args.exclude or ["200:13", "100:29"]
    questions = load_questions(args.dataset / "questions.jsonl")
    sample = training_questions(questions, args.n, args.seed, exclude)
    urls = sorted({u for q in sample for u in q["search_results"]})

    from retrieval.engine import Engine

    settings = Settings(index=args.index_dir or ROOT / ".bench" / f"train-{args.n}-{args.seed}")
    articles = load_articles(args.dataset / "articles.jsonl.gz")
    engine = Engine.open(settings, create=True)
    try:
        build_index(engine, settings.index, urls, articles, corpus_signature(urls, settings))
        started = time.perf_counter()
        groups = sentence_groups(engine, sample)
        # Questions whose articles are all absent from this corpus, none from a benchmark sample.
        pool = unanswerable_pool(outside(questions, exclude), sample, stored_hashes(articles), set(urls))
        unanswerable = random.Random(args.seed).sample(pool, min(UNANSWERABLE, len(pool)))
        abstention = coverage_table(engine, sample, unanswerable)
    finally:
        engine.close()
    log.info("%d of %d questions have answering and other sentences (%.0fs)",
             len(groups), len(sample), time.perf_counter() - started)
    mean, scale, weights = fit_listwise(groups, args.l2)
    about = {
        "trained_on": f"rtqa dev: {len(groups)} of {len(sample)} questions (seed {args.seed}) outside the "
                      f"benchmark samples {', '.join(exclude)}; corpus {len(urls)} articles",
        "command": "python benchmarks/train_scorers.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "commit": git_state(),
        "date": date.today().isoformat(),
        "l2": args.l2,
    }
    scorer = LinearScorer(SENTENCE_FEATURES, mean, scale, weights, about=about)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(scorer.to_json(), encoding="utf-8")
    print(json.dumps(dict(zip(SENTENCE_FEATURES, np.round(weights, 3).tolist())), indent=1))
    print(f"wrote {args.out}")
    print(f"\nIDF-coverage abstention on the training corpus:\n{abstention}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
