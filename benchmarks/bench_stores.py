"""The same rtqa index on both stores: the embedded folder and Milvus (milvus-lite, the
``standard`` analyzer), side by side in one run.

Copies the index that ``bench_rtqa.py --n N --seed S`` built (real all-MiniLM-L6-v2 vectors,
reused, never embedded again) into a fresh embedded folder and into a fresh milvus-lite
database, timing both copies (the store's write path: articles, chunks and vectors, in
transactions of 200 articles). Then asks the sample's questions of both: answer recall within
120/300/600 words for hybrid, dense and lexical search, and ``ask``'s measures
(retrieval/evaluate.py), with the latency of each; and ``search`` p50 / p95 with one client.

    python benchmarks/bench_stores.py --n 200 --seed 13 --json .bench/stores-200-13.json

milvus-lite is not a Milvus cluster: its figures say whether the backend answers as well,
not how fast a cluster is (docs/SCALE_OUT.md). Without the dataset or the source index the
script says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_rtqa import DEFAULT_DATASET, git_state, load_sample  # noqa: E402

from retrieval import Settings  # noqa: E402
from retrieval.evaluate import Question, evaluate  # noqa: E402

log = logging.getLogger("bench_stores")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=200, help="questions in the sample (default 200)")
    p.add_argument("--seed", type=int, default=13, help="sampling seed (default 13)")
    p.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help=f"rtqa folder (default {DEFAULT_DATASET})")
    p.add_argument("--source", type=Path, default=None, help="embedded index to copy (default .bench/rtqa-N-SEED)")
    p.add_argument("--work", type=Path, default=ROOT / ".bench" / "stores", help="where the copies are made")
    p.add_argument("--json", type=Path, default=None, help="write every number here")
    return p.parse_args(argv)


def pct(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50": round(statistics.median(ordered), 1),
            "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1)}


def copy_into(source_settings: Settings, target_settings: Settings) -> dict:
    """Copy the source index into the (fresh) target store; seconds and rates."""
    from retrieval.migrate import copy_index
    from retrieval.stores import create_store, find_store

    source = find_store(source_settings)
    assert source is not None, source_settings.index
    target = create_store(target_settings, model=source.model, dimension=source.dimension,
                          chunking=source.chunking)
    try:
        started = time.perf_counter()
        report = copy_index(source, target)
        seconds = time.perf_counter() - started
    finally:
        target.close()
        source.close()
    return {"seconds": round(seconds, 1), "articles": report.articles, "chunks": report.chunks,
            "chunks_per_s": round(report.chunks / seconds, 1)}


def measure(settings: Settings, questions: list[Question]) -> dict:
    from retrieval.engine import Engine

    engine = Engine.open(settings)
    try:
        for q in questions[:5]:  # warm-up: models loaded, pages cached
            engine.search(q.question, k=10, as_of=q.as_of)
        timings = []
        for q in questions:
            started = time.perf_counter()
            engine.search(q.question, k=10, as_of=q.as_of)
            timings.append((time.perf_counter() - started) * 1000)
        every = max(1, len(questions) // 10)
        result = evaluate(engine, questions, progress=lambda done, total: (
            log.info("evaluated %d/%d", done, total) if done % every == 0 or done == total else None))
    finally:
        engine.close()
    result.pop("per_question", None)
    return {"search_ms": pct(timings), **result}


def report_markdown(info: dict, results: dict) -> str:
    lines = [f"bench_stores — {info['date']}, commit {info['commit']}", f"command: `{info['command']}`", "",
             "| | embedded | milvus-lite |", "|---|---:|---:|"]
    e, m = results["embedded"], results["milvus"]
    lines.append(f"| copy into a fresh store: s (chunks/s) | {e['copy']['seconds']} ({e['copy']['chunks_per_s']}) "
                 f"| {m['copy']['seconds']} ({m['copy']['chunks_per_s']}) |")
    lines.append(f"| `search` hybrid, 1 client: p50 / p95 ms | {e['search_ms']['p50']} / {e['search_ms']['p95']} "
                 f"| {m['search_ms']['p50']} / {m['search_ms']['p95']} |")
    for mode in e["search"]:
        for key in ("recall@120", "recall@300", "recall@600", "url_recall@5"):
            a, b = e["search"][mode].get(key), m["search"][mode].get(key)
            if a is not None:
                lines.append(f"| {mode}: {key} | {a:.3f} | {b:.3f} |")
    for key in ("contains_answer", "baseline_first80", "honest", "abstained", "median_ms"):
        a, b = e["ask"].get(key), m["ask"].get(key)
        if a is not None:
            lines.append(f"| ask: {key} | {a:.3f} | {b:.3f} |" if key != "median_ms" else f"| ask: median ms | {a:.0f} | {b:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    source = args.source or ROOT / ".bench" / f"rtqa-{args.n}-{args.seed}"
    if not (args.dataset / "questions.jsonl").exists():
        print(f"rtqa dataset not found at {args.dataset}; nothing to do.")
        return 0
    if not (source / "index.sqlite").exists():
        print(f"no index at {source}: build it with `python benchmarks/bench_rtqa.py --n {args.n} "
              f"--seed {args.seed}`; nothing to do.")
        return 0
    _, _, sample, _, _ = load_sample(args.dataset, args.n, args.seed)
    questions = [Question.from_json(q) for q in sample]
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    source_settings = Settings(index=source, read_only=True)
    targets = {
        "embedded": Settings(index=args.work / "embedded"),
        "milvus": Settings(store="milvus", milvus_uri=str(args.work / "milvus.db"), milvus_analyzer="standard"),
    }
    results = {}
    for name, settings in targets.items():
        log.info("copying %s into %s", source, name)
        copied = copy_into(source_settings, settings)
        log.info("%s: copy %s; asking %d questions", name, copied, len(questions))
        results[name] = {"copy": copied, **measure(settings, questions)}
    info = {"date": time.strftime("%Y-%m-%d"), "commit": git_state(),
            "command": "python benchmarks/bench_stores.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    print(report_markdown(info, results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"info": info, "results": results}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
