"""Scale on one machine (issue 12): indexes of 10k, 100k and 1M chunks, side by side with plain
FAISS flat / HNSW and bm25s on the same vectors and texts, in the same run.

The chunks are the rtqa sample's real chunks (``--source``, an index built by bench_rtqa.py:
~18.6k chunks with real all-MiniLM-L6-v2 vectors), replicated. Replica 0 is the real articles
unchanged; replica r ≥ 1 gets new ids and URLs, the title plus " (edition r)", a publication
date spread over the 12 months ending with the source's newest month (so monthly partitions
hold ~83k chunks each at 1M), the same texts and chunks, and vectors = real vector + Gaussian
noise of σ = NOISE per dimension, renormalised: a copy's cosine to its original is ~0.9 (the
measured mean is reported). Embedding a million chunks would take ~10 hours here.

Indexes are written through the product's write path (``Store.create``, ``writing()``,
``batch().put``/``sign``, FLUSH_CHUNKS chunks per transaction, like ``Engine._flush``) into
``--work`` (default ``.bench/scale``, ignored by git) and reused by the next run. Each size is
then measured in a fresh process (clean RSS): the real engine (``Engine.open``, the packaged
model embedding every question, no vector cache) answers ``--queries`` rtqa questions (with
their date as as_of) in dense, lexical and hybrid search and ``ask``, with 1 and 8 clients
(threads sharing one Engine); recall@10 of ``store.dense_search`` against exact search over the
float32 vectors; then the anchors on the same vectors and texts.

    python benchmarks/bench_scale.py --sizes 10000,100000 --clients 1,8 --queries 200 \\
        --json .bench/scale.json

Without the rtqa dataset or the source index it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_rtqa import DEFAULT_DATASET, ROOT, git_state, load_questions, rss_mb  # noqa: E402
from scale_anchors import K, anchors, pct, recall  # noqa: E402
from scale_corpus import MARKER, NOISE, Source, build_index, files, load_source, read_only, replicas  # noqa: E402

from retrieval.store import DB_FILE, MANIFEST_FILE  # noqa: E402

log = logging.getLogger("bench_scale")

#: Questions asked in every mode before the timings (model load, first queries); then each
#: question is searched once (hybrid) before the timings, so the first mode timed does not pay
#: for reading the index from disk.
WARMUP = 5
#: Questions whose lexical results are compared with FTS5's (~1 s each at 1M chunks).
LEXICAL_CHECK = 60
MODES = ("dense", "lexical", "hybrid", "ask")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="Example: python benchmarks/bench_scale.py --sizes 10000,100000 --json out.json")
    p.add_argument("--sizes", default="10000,100000,1000000", help="chunks per synthetic index (default 10000,100000,1000000)")
    p.add_argument("--clients", default="1,8", help="concurrent clients (threads) per run (default 1,8)")
    p.add_argument("--workers", type=int, default=0,
                   help="also ask through this many worker processes (NEWSBOT_WORKERS; default 0: not)")
    p.add_argument("--queries", type=int, default=200, help="rtqa questions asked per mode (default 200)")
    p.add_argument("--seed", type=int, default=13, help="question sample and noise seed (default 13)")
    p.add_argument("--source", type=Path, default=ROOT / ".bench" / "rtqa-200-13",
                   help="index with real vectors, read-only (default .bench/rtqa-200-13)")
    p.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help=f"rtqa folder (default {DEFAULT_DATASET})")
    p.add_argument("--work", type=Path, default=ROOT / ".bench" / "scale", help="where built indexes are kept")
    p.add_argument("--no-source", action="store_true", help="do not measure the source index itself")
    p.add_argument("--json", type=Path, default=None, help="write every number here")
    p.add_argument("--measure-one", type=Path, default=None, help=argparse.SUPPRESS)  # child process
    return p.parse_args(argv)


# ---------------------------------------------------------------------------- measure


def run_clients(call, questions: list[tuple[str, date | None]], clients: int) -> dict:
    """Every question once, split between ``clients`` threads started together: latency of
    each call, throughput over the wall time, errors (the first few kept)."""
    parts = [questions[i::clients] for i in range(clients)]
    latencies: list[float] = []
    errors: list[str] = []
    start = threading.Barrier(clients + 1)

    def client(part) -> None:
        start.wait()
        for text, as_of in part:
            t = time.perf_counter()
            try:
                call(text, as_of)
            except Exception as exc:  # counted and reported: the benchmark's edge
                errors.append(f"{type(exc).__name__}: {exc}")
            latencies.append((time.perf_counter() - t) * 1000)

    threads = [threading.Thread(target=client, args=(p,)) for p in parts]
    for thread in threads:
        thread.start()
    start.wait()
    t = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - t
    return {**pct(latencies), "clients": clients, "wall_s": round(wall, 2),
            "per_s": round(len(latencies) / wall, 2), "errors": len(errors), "error_sample": errors[:3]}


def run_modes(questions_to, questions: list[tuple[str, date | None]], clients: list[int], label: str) -> dict:
    """Every mode (search in each mode, then ``ask``) with each number of clients, asked of
    ``questions_to`` (an Engine, or Workers)."""
    calls = {mode: (lambda m: lambda q, d: questions_to.search(q, k=K, as_of=d, mode=m))(mode) for mode in MODES[:-1]}
    calls["ask"] = lambda q, d: questions_to.ask(q, as_of=d)
    runs: dict = {}
    for mode in MODES:
        runs[mode] = {}
        for c in clients:
            runs[mode][str(c)] = run_clients(calls[mode], questions, c)
            log.info("%s, %d client(s)%s: %s", mode, c, label,
                     {k: v for k, v in runs[mode][str(c)].items() if k != "error_sample"})
    return runs


def manifest_extras(folder: Path) -> dict:
    """What manifest.json records beyond the base keys (the vector index's parameters, once
    the store writes them), whatever its keys are."""
    base = {"format_version", "model", "dimension", "chunking", "counts", "generation",
            "vectors_generation", "last_ingest"}
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return {k: v for k, v in manifest.items() if k not in base} if isinstance(manifest, dict) else {}


def measure_engine(folder: Path, model: str, questions: list[tuple[str, date | None]],
                   clients: list[int], workers: int = 0) -> tuple[dict, np.ndarray, list[list[int]]]:
    """The product on one index: open, memory, question embedding, ``store.dense_search``,
    and every mode with each number of clients. Returns the numbers, the question vectors and
    the chunk ids dense_search returned for each (for recall)."""
    from retrieval import Settings
    from retrieval.engine import Engine

    import faiss

    out: dict = {"rss_mb": {"before_open": round(rss_mb(), 1)}, "load_start": round(os.getloadavg()[0], 2),
                 "faiss_threads": faiss.omp_get_max_threads()}
    t = time.perf_counter()
    # Read-only: serving writes nothing, and the source index must not be touched. No vector
    # cache (1 entry): every question is embedded, as a new question is.
    engine = Engine.open(Settings(index=folder, model=model, read_only=True), vector_cache=1)
    try:
        out["open_s"] = round(time.perf_counter() - t, 2)
        out["rss_mb"]["after_open"] = round(rss_mb(), 1)
        out["chunks"] = engine.store.counts()[1]
        out["manifest_vector_params"] = manifest_extras(folder)
        for text, as_of in questions[:WARMUP]:
            for mode in MODES[:-1]:
                engine.search(text, k=K, as_of=as_of, mode=mode)
            engine.ask(text, as_of=as_of)
        # Every question once, not timed: the pages it reads (segments, lexical postings, rows)
        # are then cached for every mode alike, not only for the modes measured later.
        for text, as_of in questions:
            engine.search(text, k=K, as_of=as_of)
        out["rss_mb"]["after_warmup"] = round(rss_mb(), 1)
        embed_ms, search_ms, vectors, found = [], [], [], []
        for text, _ in questions:
            t = time.perf_counter()
            vectors.append(engine.embedder.embed([text])[0])
            embed_ms.append((time.perf_counter() - t) * 1000)
        for vector in vectors:
            t = time.perf_counter()
            found.append([i for i, _ in engine.store.dense_search(vector, K)])
            search_ms.append((time.perf_counter() - t) * 1000)
        out["embed_question_ms"] = pct(embed_ms)
        out["store_dense_search_ms"] = pct(search_ms)
        out["runs"] = run_modes(engine, questions, clients, "")
        out["rss_mb"]["after_queries"] = round(rss_mb(), 1)
        out["rss_mb"]["peak"] = round(rss_mb("VmHWM"), 1)
        if workers:
            out["workers"] = measure_workers(folder, model, questions, clients, workers)
        out["lexical"] = lexical_against_fts5(engine.store, folder, questions[:LEXICAL_CHECK])
        out["load_end"] = round(os.getloadavg()[0], 2)
    finally:
        engine.close()
    return out, np.vstack(vectors).astype(np.float32), found


def measure_workers(folder: Path, model: str, questions: list[tuple[str, date | None]],
                    clients: list[int], processes: int) -> dict:
    """Every mode with each number of clients again, answered by ``processes`` worker
    processes (:class:`retrieval.workers.Workers`, what NEWSBOT_WORKERS starts), and their
    memory: RSS and PSS (shared pages, such as the memory-mapped vectors, split between them)."""
    import multiprocessing

    from retrieval import Settings
    from retrieval.workers import Workers

    pool = Workers(Settings(index=folder, model=model, read_only=True), processes, vector_cache=1)
    out: dict = {"processes": processes}
    try:
        t = time.perf_counter()
        pool.start()
        out["start_s"] = round(time.perf_counter() - t, 2)
        for text, as_of in questions:  # untimed, as in the process: pages cached for every mode
            pool.search(text, k=K, as_of=as_of)
        out["runs"] = run_modes(pool, questions, clients, f", {processes} workers")
        memory = [_memory_mb(p.pid) for p in multiprocessing.active_children() if p.name.startswith("SpawnProcess")]
        out["worker_mb"] = {"rss": [m["Rss"] for m in memory], "pss": [m["Pss"] for m in memory]}
    finally:
        pool.close()
    return out


def _memory_mb(pid: int) -> dict[str, float]:
    """Rss and Pss of a process in MB (Linux /proc/PID/smaps_rollup)."""
    found = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss"):
            found[key] = round(int(rest.split()[0]) / 1024, 1)
    return found


def lexical_against_fts5(store, folder: Path, questions: list[tuple[str, date | None]]) -> dict:
    """The product's lexical side (segments from ``lexical.segment_min`` chunks on) against
    FTS5 on the same index, in the same process: p50 / p95 of ``Store.lexical_search`` (k=100,
    as search asks) and how many of FTS5's top 10 / 100 it returns."""
    from retrieval.impacts import LexicalParams
    from retrieval.question import Question
    from retrieval.store import Store

    segments = store.lexical_segments()
    matches = [Question.parse(q, d).match for q, d in questions]
    fts5 = Store.open(folder, read_only=True, lexical=LexicalParams(segment_min=2**62))
    try:
        timings: dict[str, list[float]] = {"product": [], "fts5": []}
        found: dict[str, list[list[int]]] = {"product": [], "fts5": []}
        for match in matches:
            for name, side in (("product", store), ("fts5", fts5)):
                t = time.perf_counter()
                found[name].append([i for i, _ in side.lexical_search(match, 100)])
                timings[name].append((time.perf_counter() - t) * 1000)
    finally:
        fts5.close()

    def overlap(k: int) -> float:
        pairs = [(set(a[:k]), set(b[:k])) for a, b in zip(found["product"], found["fts5"]) if b]
        return round(sum(len(a & b) / len(b) for a, b in pairs) / max(1, len(pairs)), 3)

    return {"side": "segments" if segments is not None else "fts5", "questions": len(matches),
            "segments": [s.name for s in segments.segments] if segments is not None else [],
            "tail_chunks": segments.tail_chunks if segments is not None else 0,
            "product_ms": pct(timings["product"]), "fts5_ms": pct(timings["fts5"]),
            "overlap_at_10": overlap(10), "overlap_at_100": overlap(100)}


def layout_ids(folder: Path, layout: list[tuple[str, int]]) -> np.ndarray:
    """The chunk id of each row of the layout ((article id, chunks) in order), from the index's
    own rows: an article's chunks are inserted together, so their ids are consecutive."""
    conn = read_only(folder / DB_FILE)
    try:
        spans = {a: (lo, hi, n) for a, lo, hi, n in conn.execute(
            "SELECT article_id, MIN(id), MAX(id), COUNT(*) FROM chunks GROUP BY article_id")}
    finally:
        conn.close()
    ids = np.empty(sum(n for _, n in layout), dtype=np.int64)
    row = 0
    for article_id, n in layout:
        lo, hi, count = spans[article_id]
        if count != n or hi - lo + 1 != n:
            raise RuntimeError(f"{folder}: article {article_id} has {count} chunks with ids {lo}..{hi}, expected {n} in a row")
        ids[row: row + n] = np.arange(lo, lo + n)
        row += n
    return ids


def measure_index(folder: Path, source: Source | None, source_path: Path, n_chunks: int | None,
                  questions: list[tuple[str, date | None]], clients: list[int], seed: int,
                  workers: int = 0) -> dict:
    """Everything about one index: the product first (so its RSS is its own), then the
    vectors and texts of the layout for recall and the anchors. ``n_chunks`` None: ``folder``
    is the source index itself."""
    model = json.loads((folder / MANIFEST_FILE).read_text())["model"]
    product, qvectors, found = measure_engine(folder, model, questions, clients, workers)
    source = source or load_source(source_path)
    layout = list(replicas(source, n_chunks or len(source.vectors), seed))
    vectors = np.vstack([v for _, _, _, v in layout]).astype(np.float32)
    texts = [f"{a.title}\n{c.text}" for _, a, chunks, _ in layout for c in chunks]
    ids = layout_ids(folder, [(a.id, len(chunks)) for _, a, chunks, _ in layout])
    order = np.argsort(ids)
    row_of = lambda found_ids: order[np.searchsorted(ids, found_ids, sorter=order)]  # noqa: E731
    anchor, exact_scores, _ = anchors(vectors, qvectors, texts, [q for q, _ in questions])
    product["recall_at_10"] = recall(found, exact_scores,
                                     lambda q, f: [float(vectors[r] @ qvectors[q]) for r in row_of(np.asarray(f, dtype=np.int64))])
    return {"index": str(folder), "chunks": int(len(vectors)), "files": files(folder),
            "product": product, "anchors": anchor}


# ---------------------------------------------------------------------------- report


def sample_questions(dataset: Path, n: int, seed: int) -> list[tuple[str, date | None]]:
    """The seeded sample bench_rtqa.py indexes for (same seed, same questions), each with its
    date as as_of."""
    from retrieval.sources import parse_date

    rows = random.Random(seed).sample(load_questions(dataset / "questions.jsonl"), n)
    return [(r["question"], parse_date(r["date"]) if r.get("date") else None) for r in rows]


def ms(p: dict) -> str:
    return f"{p['p50']:.1f} / {p['p95']:.1f}" if p.get("n") else "–"


def report_markdown(info: dict, results: list[dict]) -> str:
    lines = [f"bench_scale — {info['date']}, {info['machine']}, commit {info['commit']}",
             f"command: `{info['command']}`",
             f"load average (1 min) at start / end: {info['load_start']} / {info['load_end']}; "
             f"`uptime` at start: {info['uptime']}", ""]
    lines += ["| index | chunks | build s (batches + close) | chunks/s | disk MB | disk B/chunk | open s "
              "| RSS after open / after queries MB | RAM B/chunk (open) | load avg during queries "
              "| vector params in manifest |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        b, p = r.get("build"), r["product"]
        disk = sum(r["files"].values())
        rss = p["rss_mb"]
        built = (f"{b['build_s']:.0f} ({b['batches_s']:.0f} + {b['writing_close_s']:.1f})" if b else "–")
        lines.append(
            f"| {r['name']} | {r['chunks']:,} | {built} | {b['chunks_per_s'] if b else '–'} | {disk / 1e6:.0f} "
            f"| {disk / r['chunks']:.0f} | {p['open_s']} | {rss['after_open']:.0f} / {rss['after_queries']:.0f} "
            f"| {(rss['after_open'] - rss['before_open']) * 2**20 / r['chunks']:.0f} "
            f"| {p['load_start']} → {p['load_end']} "
            f"| {json.dumps(p['manifest_vector_params']) if p['manifest_vector_params'] else '–'} |")
    lines += ["", "Files (MB): " + "; ".join(
        r["name"] + ": " + ", ".join(f"{k} {v / 1e6:.1f}" for k, v in r["files"].items()) for r in results), ""]
    clients = sorted({int(c) for r in results for c in r["product"]["runs"]["dense"]})
    head = " | ".join(f"{c} client{'s' * (c > 1)}: p50 / p95 ms, q/s" for c in clients)
    lines += [f"| index | mode | {head} | throughput {clients[-1]}/{clients[0]} | errors |",
              "|---|---|" + "---:|" * (len(clients) + 2)]
    for r in results:
        for mode, runs in r["product"]["runs"].items():
            cells = " | ".join(f"{ms(runs[str(c)])}, {runs[str(c)]['per_s']}" for c in clients)
            ratio = runs[str(clients[-1])]["per_s"] / runs[str(clients[0])]["per_s"] if runs[str(clients[0])]["per_s"] else 0
            errors = sum(x["errors"] for x in runs.values())
            lines.append(f"| {r['name']} | {mode} | {cells} | {ratio:.2f}× | {errors} |")
    pooled = [r for r in results if r["product"].get("workers")]
    if pooled:
        n = pooled[0]["product"]["workers"]["processes"]
        lines += ["", f"Through {n} worker processes (`Workers`, what NEWSBOT_WORKERS={n} starts); the last "
                  "ratio is against one client in one process (the table above):", "",
                  f"| index | mode | {head} | throughput {clients[-1]}/{clients[0]} "
                  f"| vs 1 client in process | errors | worker RSS / PSS MB |",
                  "|---|---|" + "---:|" * (len(clients) + 3) + "---|"]
        for r in pooled:
            w = r["product"]["workers"]
            memory = ", ".join(f"{a:.0f} / {b:.0f}" for a, b in zip(w["worker_mb"]["rss"], w["worker_mb"]["pss"]))
            for mode, runs in w["runs"].items():
                cells = " | ".join(f"{ms(runs[str(c)])}, {runs[str(c)]['per_s']}" for c in clients)
                one = runs[str(clients[0])]["per_s"]
                alone = r["product"]["runs"][mode][str(clients[0])]["per_s"]
                top = runs[str(clients[-1])]["per_s"]
                errors = sum(x["errors"] for x in runs.values())
                lines.append(f"| {r['name']} | {mode} | {cells} | {top / one if one else 0:.2f}× "
                             f"| {top / alone if alone else 0:.2f}× | {errors} | {memory} |")
    lines += ["", "| index | embed question p50 / p95 ms | store.dense_search p50 / p95 ms | recall@10 vs exact "
              "| FAISS flat: build s, p50 / p95 ms (1 thread) | HNSW M=32: build s | HNSW efSearch: recall@10 (p50 / p95 ms) "
              "| bm25s: build s, p50 / p95 ms |", "|---|---:|---:|---:|---:|---:|---|---:|"]
    for r in results:
        p, a = r["product"], r["anchors"]
        hnsw = ", ".join(f"{ef}: {v['recall_at_10']:.3f} ({ms(v['search_ms'])})" for ef, v in a["faiss_hnsw"]["ef_search"].items())
        bm = a["bm25s"]
        bm_cell = bm["skipped"] if "skipped" in bm else f"{bm['build_s']:.1f}, {ms(bm['search_ms'])}"
        lines.append(f"| {r['name']} | {ms(p['embed_question_ms'])} | {ms(p['store_dense_search_ms'])} "
                     f"| {p['recall_at_10']:.3f} | {a['faiss_flat']['build_s']:.2f}, {ms(a['faiss_flat']['search_ms'])} "
                     f"({ms(a['faiss_flat'].get('search_ms_one_thread', {}))}) "
                     f"| {a['faiss_hnsw']['build_s']:.1f} | {hnsw} | {bm_cell} |")
    lines += ["", "| index | lexical side | Store.lexical_search p50 / p95 ms | FTS5 on the same index p50 / p95 ms "
              "| overlap with FTS5 @10 / @100 | questions |", "|---|---|---:|---:|---:|---:|"]
    for r in results:
        x = r["product"].get("lexical")
        if x:
            side = x["side"] + (f" ({len(x['segments'])}, tail {x['tail_chunks']:,} chunks)" if x["side"] == "segments" else "")
            lines.append(f"| {r['name']} | {side} | {ms(x['product_ms'])} | {ms(x['fts5_ms'])} "
                         f"| {x['overlap_at_10']:.3f} / {x['overlap_at_100']:.3f} | {x['questions']} |")
    copies = [r["build"] for r in results if r.get("build")]
    if copies:
        lines += ["", f"Replicas: noise σ = {NOISE} per dimension; measured mean cosine of a copy to its "
                  f"original: {copies[0]['copy_cosine']}. Build times of reused indexes are those of the "
                  "run that built them (dates in the JSON)."]
    return "\n".join(lines)


def measure_in_child(folder: Path, args: argparse.Namespace) -> dict:
    """One index measured in a fresh process, so its RSS is its own."""
    out = args.work / f"measure-{folder.name}.json"
    command = [sys.executable, __file__, "--measure-one", str(folder), "--source", str(args.source),
               "--dataset", str(args.dataset), "--queries", str(args.queries), "--clients", args.clients,
               "--seed", str(args.seed), "--workers", str(args.workers), "--json", str(out)]
    subprocess.run(command, check=True)
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("faiss").setLevel(logging.WARNING)
    clients = [int(c) for c in args.clients.split(",")]
    if args.measure_one:
        folder = args.measure_one
        marker = folder / MARKER
        n_chunks = json.loads(marker.read_text())["chunks"] if marker.exists() else None
        result = measure_index(folder, None, args.source, n_chunks,
                               sample_questions(args.dataset, args.queries, args.seed), clients, args.seed,
                               args.workers)
        args.json.write_text(json.dumps(result, indent=1, default=str))
        return 0
    if not (args.dataset / "questions.jsonl").exists():
        print(f"rtqa dataset not found at {args.dataset} (questions.jsonl); nothing to do.")
        return 0
    if not (args.source / DB_FILE).exists() or not (args.source / "bench-corpus.json").exists():
        print(f"no complete source index at {args.source}: build it with "
              "`python benchmarks/bench_rtqa.py --n 200 --seed 13`; nothing to do.")
        return 0
    started, load_start = time.perf_counter(), round(os.getloadavg()[0], 2)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    source = load_source(args.source)
    log.info("source: %d articles, %d chunks, model %s", len(source.articles), len(source.vectors), source.model)
    builds = {n: build_index(source, n, args.work / f"scale-{n}", args.seed) for n in sizes}
    del source
    targets = ([] if args.no_source else [("source (real vectors)", args.source, None)]) + \
        [(f"{n:,}", args.work / f"scale-{n}", builds[n]) for n in sizes]
    results = []
    for name, folder, build in targets:
        log.info("measuring %s (%s)", name, folder)
        results.append({"name": name, "build": build, **measure_in_child(folder, args)})
    info = {
        "date": date.today().isoformat(),
        "machine": f"{os.uname().machine} {os.cpu_count()} CPU cores, no GPU",
        "commit": git_state(),
        "command": "python benchmarks/bench_scale.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "uptime": uptime,
        "load_start": load_start,
        "load_end": round(os.getloadavg()[0], 2),
        "wall_s": round(time.perf_counter() - started, 1),
        "noise": NOISE,
    }
    print(report_markdown(info, results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"info": info, "results": results}, indent=1, default=str))
        log.info("wrote %s", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
