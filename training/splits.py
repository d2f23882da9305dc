"""Which rtqa questions and articles the reader may learn from, and which judge it.

One place for the split, so the data script, the trainer and the benchmarks agree:

* the benchmark samples of ``bench_rtqa.py`` (200:13, 100:29, 100:71) are never trained on,
  by id and by question text, and no synthetic question is made from their articles;
* the rest is split **by time**, because the product answers tomorrow's news:
  ``train`` (asked before 2023-04-01) → ``calib`` (April–June 2023: held out of training, used
  to set thresholds and blends) → ``test`` (July–December 2023: judged only, nothing tuned).
* synthetic questions are made only from articles that no calib/test/benchmark question
  searched, published before the calib period (or undated).
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_rtqa  # noqa: E402

from retrieval.evaluate import normalise  # noqa: E402

DATASET = bench_rtqa.DEFAULT_DATASET
#: The samples bench_rtqa.py reports (docs/BENCHMARKS.md): n, seed.
BENCHMARK_SAMPLES = ((200, 13), (100, 29), (100, 71))
CALIB_FROM = "2023-04-01"
TEST_FROM = "2023-07-01"


def load_questions(dataset: Path = DATASET) -> list[dict]:
    """One row per id, sorted by id, exactly as bench_rtqa.py samples them."""
    return bench_rtqa.load_questions(dataset / "questions.jsonl")


def load_articles(dataset: Path = DATASET) -> dict[str, dict]:
    return bench_rtqa.load_articles(dataset / "articles.jsonl.gz")


@dataclass
class Split:
    train: list[dict]
    calib: list[dict]
    test: list[dict]
    benchmark: list[dict]
    synthetic_urls: list[str]  # articles synthetic questions may be made from


def split(questions: list[dict], articles: dict[str, dict]) -> Split:
    benchmark: dict[str, dict] = {}
    for n, seed in BENCHMARK_SAMPLES:
        for q in random.Random(seed).sample(questions, min(n, len(questions))):
            benchmark[q["id"]] = q
    bench_texts = {normalise(q["question"]) for q in benchmark.values()}
    rest = [q for q in questions if q["id"] not in benchmark and normalise(q["question"]) not in bench_texts]
    train = [q for q in rest if q["date"] < CALIB_FROM]
    calib = [q for q in rest if CALIB_FROM <= q["date"] < TEST_FROM]
    test = [q for q in rest if q["date"] >= TEST_FROM]
    held = {u for q in [*calib, *test, *benchmark.values()] for u in q["search_results"]}
    # Every question from the calib period on, benchmark or not, keeps its articles out too.
    held |= {u for q in questions if q["date"] >= CALIB_FROM for u in q["search_results"]}
    synthetic = sorted(
        u for u, row in articles.items()
        if u not in held and (row.get("published") or "") < CALIB_FROM
    )
    return Split(train, calib, test, list(benchmark.values()), synthetic)


if __name__ == "__main__":
    s = split(load_questions(), load_articles())
    print({k: len(v) for k, v in vars(s).items()})
