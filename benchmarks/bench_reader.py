"""The reader on questions from a later period than anything it was trained or tuned on.

Splits come from ``training/splits.py``: the reader trains on questions asked before April
2023; thresholds and blend weights are set on the **calib** period (April–June 2023); the
**test** period (July–December 2023) is only measured. For each period the script indexes the
union of the sampled questions' search results through the product path (like
``bench_rtqa.py``), then asks every question with each configuration side by side:

* retrieval: answer recall @120/300/600 words of the top passages;
* answers: the answer contains the expected answer; citations honest;
* abstention: share declined of the answerable questions and of unanswerable ones from the same
  period (questions whose search results are all absent from the index).

    python benchmarks/bench_reader.py --split test --n 100 --json .bench/reader-test.json
    python benchmarks/bench_reader.py --split calib --fit          # chooses thresholds and weights
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))

from bench_rtqa import ROOT, build_index, corpus_signature, stored_hashes, unanswerable_pool  # noqa: E402
from splits import DATASET, load_articles, load_questions, split  # noqa: E402

from retrieval import Settings  # noqa: E402
from retrieval.question import Question  # noqa: E402
from retrieval.evaluate import answer_body, answer_in_budget, contains_answer  # noqa: E402

log = logging.getLogger("bench_reader")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--split", choices=("calib", "test"), default="test")
    p.add_argument("--n", type=int, default=0, help="questions sampled from the period (0 = all)")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--abstain", type=int, default=50, help="unanswerable questions (same period)")
    p.add_argument("--build-only", action="store_true", help="build the index and stop")
    p.add_argument("--limit", type=int, default=0, help="ask only this many of each kind (a dry run)")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--reader", default=None, help="RETRIEVER_READER for this run (default: the setting)")
    p.add_argument("--read", type=int, default=20, help="passages the reader reads per question")
    p.add_argument("--read-grid", type=int, nargs="*", default=[8, 12, 20])
    p.add_argument("--prior-grid", type=float, nargs="*", default=[0.0, 0.5, 1.0, 2.0])
    p.add_argument("--weight-grid", type=float, nargs="*", default=[0.0, 0.1, 0.3])
    p.add_argument("--read-sentences", type=int, default=10, help="sentences the reader reads per answer")
    p.add_argument("--final", action="store_true",
                   help="only measure the product as configured (defaults), with p50/p95 timings")
    p.add_argument("--fit", action="store_true", help="choose the abstention thresholds on this split")
    p.add_argument("--decline", type=float, default=0.05, help="share of answerable questions the rules may decline")
    p.add_argument("--answer-grid", type=lambda v: (int(v.split(":")[0]), float(v.split(":")[1])), nargs="*",
                   default=[(12, 1.0)], metavar="N:PRIOR", help="reader orders tried for answers")
    return p.parse_args(argv)


def period(args):
    questions, articles = load_questions(DATASET), load_articles(DATASET)
    s = split(questions, articles)
    pool = getattr(s, args.split)
    sample = random.Random(args.seed).sample(pool, args.n) if args.n else list(pool)
    urls = sorted({u for q in sample for u in q["search_results"] if u in articles})
    lo, hi = min(q["date"] for q in pool), max(q["date"] for q in pool)
    same_period = [q for q in questions if lo <= q["date"] <= hi]
    return questions, articles, sample, urls, same_period


def collect(engine, questions: list[dict], read_n: int) -> list[dict]:
    """Per question, once: the fused top passages (no reader), the evidence, IDF coverage and
    the reader's logits for the first ``read_n`` passages. Sweeps reuse these."""
    from dataclasses import replace as dc_replace

    from retrieval.answer import idf_coverage
    from retrieval.reader_text import passage_text
    from retrieval.rerank import EVIDENCE_PASSAGES

    engine.reader_params = dc_replace(engine.reader_params, read_passages=0)
    idf = engine._idf()
    out = []
    for i, q in enumerate(questions, 1):
        as_of = date.fromisoformat(q["date"])
        hits, evidence = engine.retrieve(q["question"], k=EVIDENCE_PASSAGES, as_of=as_of)
        logits = np.zeros(0)
        if engine.reader is not None and hits:
            started = time.perf_counter()
            logits = engine.reader.score(q["question"], [passage_text(h.title, h.text) for h in hits[:read_n]], "passage")
            evidence["read_ms"] = (time.perf_counter() - started) * 1000
        evidence["idf_coverage"] = idf_coverage(Question.parse(q["question"]), hits, idf)
        out.append({"q": q, "as_of": as_of, "hits": hits, "logits": logits, "evidence": evidence})
        if i % 25 == 0:
            log.info("collected %d/%d", i, len(questions))
    return out


def recall(records: list[dict], order, budget: int) -> float:
    return float(np.mean([answer_in_budget([h.text for h in order(r)], r["q"]["answer"], budget) for r in records]))


def reordered(r: dict, n: int, prior: float):
    from retrieval.rerank import rerank

    return rerank(r["hits"], r["logits"][:n], prior) if n and len(r["logits"]) else r["hits"]


def auc(pos, neg) -> float:
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    if not len(pos) or not len(neg):
        return float("nan")
    return float(((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg)))


def threshold_at(answerable: list[float], rate: float) -> float:
    """The highest threshold that declines at most ``rate`` of the answerable questions."""
    values = sorted(answerable)
    return values[int(rate * len(values))] if values else 0.0


def fit_rules(ans: list[dict], una: list[dict], decline: float) -> dict:
    """The abstention rules (passage cosine below t1 while IDF coverage is below t3, or IDF
    coverage below t2) that decline the most unanswerable questions while declining at most
    ``decline`` of the answerable ones."""
    best = None
    for t3 in (0.6, 0.7, 0.8, 0.9, 1.01):
        for t2 in (0.0, 0.2, 0.25, 0.3, 0.35, 0.4):
            for t1 in np.arange(0.38, 0.60, 0.005):
                def declined(rs):
                    return float(np.mean([(r["evidence"]["passage_cosine"] < t1 and r["evidence"]["idf_coverage"] < t3)
                                          or r["evidence"]["idf_coverage"] < t2 for r in rs]))
                a, u = declined(ans), declined(una)
                if a <= decline and (best is None or (u, -a) > (best["unanswerable"], -best["answerable"])):
                    best = {"passage_cosine_below": round(float(t1), 3), "unless_idf_coverage": t3,
                            "idf_coverage_below": t2, "answerable": a, "unanswerable": u}
    return best or {}


def answers(engine, records: list[dict], params, prior: float, n: int) -> dict:
    """compose() over each question's reordered passages, as Engine.ask does."""
    from functools import partial

    from retrieval.answer import compose

    idf = engine._idf()
    contains, abstained, honest, seconds = [], [], [], []
    for r in records:
        hits = reordered(r, n, prior)[:8]
        evidence = {"passage_cosine": r["evidence"]["passage_cosine"]}
        if n and len(r["logits"]):
            evidence["passage_reader"] = float(r["logits"][:n].max())
        started = time.perf_counter()
        read = partial(engine.reader.score, r["q"]["question"]) if engine.reader is not None and params.reader_weight else None
        a = compose(Question.parse(r["q"]["question"], r["as_of"]), hits, engine._embed, engine.store.article,
                    params, idf=idf, evidence=evidence, read=read)
        seconds.append(time.perf_counter() - started)
        contains.append(contains_answer(answer_body(a), r["q"]["answer"]) and not a.abstained)
        abstained.append(a.abstained)
        honest.append(not engine.check(a))
    return {"contains": float(np.mean(contains)), "abstained": float(np.mean(abstained)),
            "honest": float(np.mean(honest)), "compose_ms_median": 1000 * float(np.median(seconds))}


def final(engine, sample: list[dict], unanswerable: list[dict]) -> dict:
    """The product as configured: retriever eval's measures, and search/ask latency p50/p95
    (each question timed alone, after one warm-up question)."""
    from retrieval.evaluate import Question as EvalQuestion, evaluate, summary

    engine.ask(sample[0]["question"], as_of=date.fromisoformat(sample[0]["date"]))  # load models
    result = evaluate(engine, [EvalQuestion.from_json(q) for q in sample], modes=("hybrid",))
    una = evaluate(engine, [EvalQuestion.from_json(q) for q in unanswerable], modes=())
    timings = {"search": [], "ask": []}
    for q in sample:
        as_of = date.fromisoformat(q["date"])
        for name, fn in (("search", engine.search), ("ask", engine.ask)):
            started = time.perf_counter()
            fn(q["question"], as_of=as_of)
            timings[name].append(1000 * (time.perf_counter() - started))
    out = {**summary(result), "abstained_unanswerable": una["ask"]["abstained"]}
    for name, ms in timings.items():
        out[f"{name}_ms_p50"] = float(np.percentile(ms, 50))
        out[f"{name}_ms_p95"] = float(np.percentile(ms, 95))
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    if not (DATASET / "questions.jsonl").exists():
        print(f"rtqa dataset not found at {DATASET}; nothing to do.")
        return 0
    questions, articles, sample, urls, same_period = period(args)
    from dataclasses import replace as dc_replace

    from retrieval.answer import DEFAULT_ANSWER
    from retrieval.engine import Engine

    settings = Settings(index=ROOT / ".bench" / f"reader-{args.split}-{args.n or 'all'}-{args.seed}",
                        **({"reader": args.reader} if args.reader else {}))
    out: dict = {"split": args.split, "questions": len(sample), "reader": settings.reader}
    with Engine.open(settings, create=True) as engine:
        started = time.perf_counter()
        build_index(engine, settings.index, urls, articles, corpus_signature(urls, settings))
        log.info("index ready in %.0f s: %s", time.perf_counter() - started, engine.stats())
        if args.build_only:
            return 0
        hashes = stored_hashes(articles)
        pool = unanswerable_pool(same_period, sample, hashes, set(urls))
        unanswerable = random.Random(args.seed).sample(pool, min(args.abstain, len(pool)))
        log.info("%d answerable, %d unanswerable (pool %d)", len(sample), len(unanswerable), len(pool))
        if args.limit:
            sample, unanswerable = sample[: args.limit], unanswerable[: args.limit]
        if args.final:
            out["final"] = final(engine, sample, unanswerable)
            print(json.dumps(out, indent=1))
            if args.json:
                args.json.write_text(json.dumps(out, indent=1))
            return 0
        ans = collect(engine, sample, args.read)
        una = collect(engine, unanswerable, args.read)

        # Retrieval: fused order vs the reader's order over the first n passages.
        rows = [("fused (no reader)", 0, 0.0)]
        rows += [(f"reader over {n}, rank prior {p}", n, p) for n in args.read_grid for p in args.prior_grid]
        retrieval = {}
        for name, n, p in rows:
            retrieval[name] = {f"@{b}": recall(ans, lambda r: reordered(r, n, p), b) for b in (120, 300, 600)}
        out["retrieval"] = retrieval

        # Abstention signals: AUC answerable vs unanswerable, and the share of unanswerable
        # questions declined when the threshold declines at most 5% of answerable ones.
        signals = {}
        for key in ("idf_coverage", "passage_cosine", "passage_reader"):
            a = [r["evidence"].get(key, float(r["logits"].max()) if len(r["logits"]) else 0.0) if key != "passage_reader" else (float(r["logits"][: args.read].max()) if len(r["logits"]) else 0.0) for r in ans]
            u = [r["evidence"].get(key, 0.0) if key != "passage_reader" else (float(r["logits"][: args.read].max()) if len(r["logits"]) else 0.0) for r in una]
            t = threshold_at(a, 0.05)
            signals[key] = {"auc": auc(a, u), "threshold@5%": t, "declined_unanswerable": float(np.mean([v < t for v in u])),
                            "declined_answerable": float(np.mean([v < t for v in a]))}
        out["abstention_signals"] = signals
        out["read_ms_median"] = float(np.median([r["evidence"].get("read_ms", 0) for r in ans]))

        if args.fit:
            out["fitted_rules"] = fit_rules(ans, una, args.decline)
            log.info("abstention rules for this split: %s", out["fitted_rules"])

        # Answers: the current product, then with the reader's order and sentence weights.
        configs = [("no reader, IDF coverage 0.40 only (before)", dc_replace(DEFAULT_ANSWER, abstain_passage_cosine=0.0, abstain_coverage=0.40), 0, 0.0),
                   ("no reader, passage cosine + IDF coverage (defaults)", DEFAULT_ANSWER, 0, 0.0)]
        for n, p in args.answer_grid:
            for w in args.weight_grid:
                configs.append((f"reader over {n}, prior {p}, sentence weight {w}",
                                dc_replace(DEFAULT_ANSWER, reader_weight=w, read_sentences=args.read_sentences), n, p))
        out["answers"] = {}
        for name, params, n, p in configs:
            res = answers(engine, ans, params, p, n)
            res_u = answers(engine, una, params, p, n)
            out["answers"][name] = {**res, "abstained_unanswerable": res_u["abstained"]}
            log.info("%s: %s", name, out["answers"][name])
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
