"""Memory and CPU of a long-running bot: resident memory after many questions and /adds.

Opens an index the way ``newsbot`` does (one engine, the question model loaded up front), then
asks questions from a pool of threads, as the bot's handlers do through ``asyncio.to_thread``:
rtqa questions, and every fifth a long message (~250 words of other questions as a preamble,
then the question), clipped by the bot's own ``bot.filters.clip_question``. Every
``questions / adds`` questions it ingests two new rtqa articles as ``/add`` does
(``Engine.ingest``; from files here, the embedding path is the same). It reports resident
memory (RSS) after loading, after the first /add and at the end, its peak, the time of the
first 2-article /add, and the CPU time of short and long questions asked one at a time.

    python benchmarks/bot_memory.py --index index --questions 1000 --adds 10
    python benchmarks/bot_memory.py --index index --two-embedders   # ingest on a second model

The index is copied to a temporary folder first (the /adds write to it). The dataset is not part
of the repository; without it the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from functools import partial
from pathlib import Path

from bot.filters import clip_question
from retrieval import Engine, Settings
from retrieval.types import content_hash

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_rtqa  # noqa: E402

DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "rtqa"
#: Threads asking at once: a busy bot has a few questions in flight.
WORKERS = 4
#: Every LONG_EVERY-th question is a long message.
LONG_EVERY = 5


def rss_mb(field: str = "VmRSS") -> int:
    return int(bench_rtqa.rss_mb(field))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def question_text(clipped: object) -> str:
    """What the bot sends to the engine (``clip_question`` returned a str before it returned
    an object with ``.text``)."""
    return clipped if isinstance(clipped, str) else clipped.text  # type: ignore[attr-defined]


def long_message(questions: list[str], rng: random.Random) -> str:
    preamble = " ".join(rng.sample(questions, 20))
    return " ".join(preamble.split()[:250]) + " Anyway, my real question: " + rng.choice(questions)


def write_articles(dataset: Path, known: Callable[[dict], bool], count: int,
                   folder: Path) -> list[Path]:
    """``count`` rtqa articles the index does not hold, as text files with front matter."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    texts: set[str] = set()  # the dataset has copies of one text under several URLs
    with gzip.open(dataset / "articles.jsonl.gz", "rt", encoding="utf-8") as lines:
        for line in lines:
            article = json.loads(line)
            if known(article) or article["text"] in texts or not 2000 < len(article["text"]) < 8000:
                continue
            texts.add(article["text"])
            path = folder / f"{len(paths):03}.txt"
            title = " ".join(article["title"].split())
            path.write_text(f"---\ntitle: {title}\nurl: {article['url']}\n---\n{article['text']}\n",
                            encoding="utf-8")
            paths.append(path)
            if len(paths) == count:
                break
    return paths


def _indexed(engine: Engine, article: dict) -> bool:
    """The index has this article: by URL, or the same title and text under another URL."""
    digest = content_hash(article["title"] + "\n" + article["text"])
    return engine.store.has_url(article["url"]) or engine.store.find_by_hash(digest) is not None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--index", type=Path, required=True, help="index folder (copied, not changed)")
    p.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    p.add_argument("--questions", type=int, default=1000)
    p.add_argument("--adds", type=int, default=10)
    p.add_argument("--two-embedders", action="store_true",
                   help="ingest on the engine's bulk embedder (torch with the auto backend)")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    if not (args.dataset / "questions.jsonl").exists():
        print(f"rtqa dataset not found at {args.dataset}; nothing to do.")
        return 0
    rng = random.Random(args.seed)
    questions = [json.loads(line)["question"] for line in
                 (args.dataset / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    work = Path(tempfile.mkdtemp(prefix="bot-memory-"))
    try:
        index = Path(shutil.copytree(args.index, work / "index"))
        extra = {} if args.two_embedders else {"one_embedder": True}
        engine = Engine.open(Settings(index=index), **extra)
        articles = write_articles(args.dataset, partial(_indexed, engine), 2 * args.adds,
                                  work / "articles")
        as_of = date(2022, 6, 1)
        engine.embedder  # what post_init does
        engine.ask("warm-up question", as_of=as_of)
        out: dict[str, object] = {"rss_loaded_mb": rss_mb()}

        def ask(text: str) -> None:
            engine.ask(question_text(clip_question(text)), as_of=as_of)

        def timed(texts: list[str]) -> float:
            started = cpu_seconds()
            for text in texts:
                ask(text)
            return round((cpu_seconds() - started) / len(texts), 2)

        out["cpu_per_short_question_s"] = timed(rng.sample(questions, 10))
        out["cpu_per_long_question_s"] = timed([long_message(questions, rng) for _ in range(10)])
        step = max(1, args.questions // max(1, args.adds))
        started = time.perf_counter()
        with ThreadPoolExecutor(WORKERS) as pool:
            for n in range(args.questions):
                if n % step == 0 and articles:
                    batch, articles = articles[:2], articles[2:]
                    t0 = time.perf_counter()
                    report = engine.ingest([str(path) for path in batch])
                    if "add_seconds" not in out:
                        out["add_seconds"] = round(time.perf_counter() - t0, 1)
                        out["add_result"] = report.summary()
                        out["rss_after_first_add_mb"] = rss_mb()
                text = long_message(questions, rng) if n % LONG_EVERY == 0 else rng.choice(questions)
                pool.submit(ask, text)
        out.update(questions=args.questions, adds=args.adds, wall_s=round(time.perf_counter() - started),
                   rss_end_mb=rss_mb(), rss_peak_mb=rss_mb("VmHWM"), two_embedders=args.two_embedders)
        engine.close()
        print(json.dumps(out, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
