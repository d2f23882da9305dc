"""The bot under load: simulated users against the fake Bot API server on loopback.

The real Application (``build_application``, long polling, the production retry policy and
progress setting) answers questions from a real index with the real model; the only fake is
Telegram, the same server the tests use (``tests/bot/fake_telegram.py``), in this process.
Measured per scenario: latency from pushing the update to the first visible reply (the answer,
or the "Looking that up…" placeholder) and to the answer itself (p50/p95/max), answers per
second, answers lost (none delivered once everything settled), ERROR lines logged, and the
process's RSS over time (bot, engine and fake server together).

Scenarios (``--scenarios``, default all):

* ``poisson`` — ``--users`` users, each asking after an exponential pause of mean
  ``--interval`` seconds (20 users × 1/10 s = 2 questions/s), for ``--duration`` seconds;
* ``closed`` — the same users back to back: each asks again as soon as its answer is there;
* ``faults`` — Poisson load again, through one fault window at a time: every method answering
  500 for 8 s, sendMessage/editMessageText answering 429 with retry_after 3 for 8 s, every
  connection dropped for 5 s, and the server refusing connections for 5 s.

The corpus: ``--articles`` articles of the rtqa dataset (``../shared/datasets/rtqa``; the
articles of a seeded sample of its questions, which are then the questions asked), indexed once
into ``--index-dir`` (default ``.bench/bot-<articles>``, ignored by git) and reused; without
the dataset, ``corpus/`` and the bot's example questions. The per-user rate limit is off
(``RATE_LIMIT_QUESTIONS=0``): back-to-back users would hit it by design.

    python benchmarks/bench_bot.py --users 20 --duration 60 --articles 500
    python benchmarks/bench_bot.py --scenarios faults --json .bench/bot-faults.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "bot"), str(ROOT / "benchmarks")]

from bench_rtqa import rss_mb  # noqa: E402

DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "rtqa"
SCENARIOS = ("poisson", "closed", "faults")
#: Seconds of load before a fault window opens, and after it closes.
FAULT_LEAD_SECONDS = 4.0
FAULT_TAIL_SECONDS = 8.0
#: Users get ids from here (private chats).
FIRST_USER_ID = 10_000

log = logging.getLogger("bench_bot")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench_bot.py",
        description="Load-test the Telegram bot against a fake Bot API server on 127.0.0.1: "
        "latency, throughput, RSS and answers lost under fault windows.",
        epilog="Examples:\n  python benchmarks/bench_bot.py --users 20 --duration 60\n"
        "  python benchmarks/bench_bot.py --scenarios faults --json .bench/bot-faults.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--users", type=int, default=20, help="simulated users (default 20)")
    parser.add_argument("--duration", type=float, default=60.0,
                        help="seconds of load in the poisson and closed scenarios (default 60)")
    parser.add_argument("--interval", type=float, default=10.0,
                        help="mean seconds between one user's questions, poisson (default 10)")
    parser.add_argument("--articles", type=int, default=500,
                        help="articles in the index, from the rtqa dataset (default 500)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated, of {', '.join(SCENARIOS)} (default all)")
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET,
                        help="rtqa folder (default ../shared/datasets/rtqa)")
    parser.add_argument("--index-dir", type=Path, default=None,
                        help="index folder (default .bench/bot-<articles>), reused when complete")
    parser.add_argument("--seed", type=int, default=13, help="random seed (default 13)")
    parser.add_argument("--vector-cache", type=int, default=0,
                        help="recent vectors the engine keeps (default 0: the product's; 1 = "
                             "practically none, to measure without the cache)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if unknown := set(args.scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return args


# ---------------------------------------------------------------------------- corpus


def corpus_and_questions(args: argparse.Namespace) -> tuple[Path, list[str]]:
    """Build (or reuse) the index; returns its folder and the questions to ask."""
    from retrieval import Settings
    from retrieval.engine import Engine

    index_dir = args.index_dir or ROOT / ".bench" / f"bot-{args.articles}"
    if not (args.dataset / "articles.jsonl.gz").exists():
        from bot.render import EXAMPLE_QUESTIONS

        log.info("no rtqa dataset at %s: indexing corpus/", args.dataset)
        items, questions = [str(ROOT / "corpus")], list(EXAMPLE_QUESTIONS)
        signature = {"corpus": "corpus/"}
        rows = None
    else:
        from bench_rtqa import load_articles, load_questions

        all_questions = load_questions(args.dataset / "questions.jsonl")
        articles = load_articles(args.dataset / "articles.jsonl.gz")
        chosen: dict[str, None] = {}
        questions = []
        for q in random.Random(args.seed).sample(all_questions, len(all_questions)):
            if len(chosen) >= args.articles:
                break
            chosen.update(dict.fromkeys(u for u in q["search_results"] if u in articles))
            questions.append(q["question"])
        urls = list(chosen)[: args.articles]
        rows = [articles[u] for u in urls]
        items, signature = [], {"articles": len(urls), "seed": args.seed}
    marker = index_dir / "bench-bot.json"
    if marker.exists() and json.loads(marker.read_text()) == signature:
        log.info("reusing the index in %s", index_dir)
        return index_dir, questions
    index_dir.mkdir(parents=True, exist_ok=True)
    if rows is not None:
        source = index_dir / "articles.jsonl"
        source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                          encoding="utf-8")
        items = [str(source)]
    engine = Engine.open(Settings(index=index_dir), create=True)
    try:
        started = time.perf_counter()
        report = engine.ingest(items)
        log.info("indexed in %.0f s: %s", time.perf_counter() - started, report.summary())
    finally:
        engine.close()
        if rows is not None:
            (index_dir / "articles.jsonl").unlink()
    marker.write_text(json.dumps(signature))
    return index_dir, questions


# ---------------------------------------------------------------------------- measuring


class RssSampler(threading.Thread):
    """This process's resident memory, once a second."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.samples.append((time.monotonic(), rss_mb()))


class ErrorCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@dataclass
class Asked:
    chat_id: int
    message_id: int
    update_id: int
    at: float


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def deliveries(tg, placeholder_text: str) -> dict[tuple[int, int], tuple[float, float]]:
    """(chat, question message id) → (first visible reply, answer) times, from the calls the
    fake server took: a reply to the question, or the edit of its placeholder."""
    with tg._cv:
        calls = [c for c in tg.calls if c.error is None]
    placeholders: dict[tuple[int, int], tuple[int, int]] = {}
    out: dict[tuple[int, int], list[float | None]] = {}
    for c in calls:
        if c.method == "sendMessage":
            chat = int(c.params["chat_id"])
            question = (c.get("reply_parameters") or {}).get("message_id")
            if question is None:
                continue
            key = (chat, int(question))
            times = out.setdefault(key, [None, None])
            times[0] = times[0] or c.at
            if c.params["text"] == placeholder_text:
                placeholders[(chat, c.result["message_id"])] = key
            elif times[1] is None:
                times[1] = c.at
        elif c.method == "editMessageText":
            key = placeholders.get((int(c.params["chat_id"]), int(c.params["message_id"])))
            if key is not None and out[key][1] is None:
                out[key][1] = c.at
    return {k: (v[0], v[1]) for k, v in out.items() if v[0] is not None and v[1] is not None}


# ---------------------------------------------------------------------------- the bot


class Load:
    """A running bot with its fake Telegram, and users asking it questions."""

    def __init__(self, index_dir: Path, questions: list[str], seed: int, vector_cache: int = 0) -> None:
        from bot_harness import BotRunner
        from bot_support import TOKEN, bot_settings
        from fake_telegram import FakeTelegram

        from retrieval import Settings
        from retrieval.engine import Engine

        self.tg = FakeTelegram(TOKEN).start()
        engine = Engine.open(Settings(index=index_dir), one_embedder=True, vector_cache=vector_cache)
        settings = bot_settings(self.tg.base_url, rate_limit_questions=0,
                                progress_after_seconds=1.5)
        self.bot = BotRunner(self.tg, settings, engine).start(timeout=120)
        self.questions = questions
        self.random = random.Random(seed)
        self.asked: list[Asked] = []
        self._lock = threading.Lock()

    def ask(self, user_id: int) -> Asked:
        from tg_updates import User, send

        text = self.random.choice(self.questions)
        at = time.monotonic()
        update_id, message = send(self.tg, User(user_id, f"User{user_id}"), text)
        asked = Asked(user_id, message["message_id"], update_id, at)
        with self._lock:
            self.asked.append(asked)
        return asked

    def poisson(self, users: int, interval: float, duration: float) -> None:
        """Each user asks after exponential pauses of mean ``interval`` until ``duration``."""
        end = time.monotonic() + duration
        seeds = [self.random.random() for _ in range(users)]

        def user(i: int) -> None:
            rnd = random.Random(seeds[i])
            while (wake := time.monotonic() + rnd.expovariate(1 / interval)) < end:
                time.sleep(max(0.0, wake - time.monotonic()))
                self.ask(FIRST_USER_ID + i)

        threads = [threading.Thread(target=user, args=(i,)) for i in range(users)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def closed(self, users: int, duration: float) -> None:
        """Each user asks again as soon as its previous question is handled."""
        end = time.monotonic() + duration

        def user(i: int) -> None:
            while time.monotonic() < end:
                asked = self.ask(FIRST_USER_ID + i)
                self.bot.wait_done(asked.update_id, timeout=120)

        threads = [threading.Thread(target=user, args=(i,)) for i in range(users)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def settle(self, since: int) -> None:
        """Wait until every question from ``since`` on is handled (the retry budget included)."""
        ids = [a.update_id for a in self.asked[since:]]
        try:
            self.bot.wait_done(*ids, timeout=180)
        except AssertionError as err:
            log.warning("%s", err)

    def measure(self, since: int, started: float, errors: int) -> dict:
        from bot.render import LOOKING_UP

        asked = self.asked[since:]
        got = deliveries(self.tg, LOOKING_UP)
        first, answer, lost, last = [], [], 0, started
        for a in asked:
            times = got.get((a.chat_id, a.message_id))
            if times is None:
                lost += 1
                continue
            first.append(times[0] - a.at)
            answer.append(times[1] - a.at)
            last = max(last, times[1])
        return {
            "questions": len(asked),
            "answered": len(answer),
            "lost": lost,
            "answers_per_s": round(len(answer) / max(1e-9, last - started), 2),
            "first_reply_p50_s": _round(percentile(first, 0.5)),
            "first_reply_p95_s": _round(percentile(first, 0.95)),
            "answer_p50_s": _round(percentile(answer, 0.5)),
            "answer_p95_s": _round(percentile(answer, 0.95)),
            "answer_max_s": _round(max(answer, default=None)),
            "placeholders": sum(1 for f, a in zip(first, answer) if a - f > 0.01),
            "errors_logged": errors,
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }

    def stop(self) -> None:
        self.bot.stop()
        self.tg.stop()


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


FAULTS = {
    "500 on every method, 8 s": lambda tg: tg.fail(None, 500, "Internal Server Error",
                                                    seconds=8),
    "429 retry_after 3 on sends and edits, 8 s": lambda tg: tg.fail(
        ("sendMessage", "editMessageText"), 429, "Too Many Requests: retry after 3",
        seconds=8, retry_after=3),
    "connections dropped, 5 s": lambda tg: tg.drop(None, seconds=5),
    "connections refused, 5 s": lambda tg: tg.refuse(5),
}


def engine_baseline(index_dir: Path, questions: list[str], n: int, seed: int,
                    vector_cache: int = 0) -> dict:
    """``Engine.ask`` alone, one question at a time: what the bot cannot beat."""
    from datetime import date

    from retrieval import Settings
    from retrieval.engine import Engine

    engine = Engine.open(Settings(index=index_dir), vector_cache=vector_cache)
    try:
        sample = random.Random(seed).choices(questions, k=n + 1)
        engine.ask(sample[0], as_of=date.today())  # loads the model
        times = []
        for q in sample[1:]:
            started = time.perf_counter()
            engine.ask(q, as_of=date.today())
            times.append(time.perf_counter() - started)
    finally:
        engine.close()
    return {"asks": n, "ask_p50_s": _round(percentile(times, 0.5)),
            "ask_p95_s": _round(percentile(times, 0.95)), "load_avg_1m": round(os.getloadavg()[0], 2)}


def run_scenario(load: Load, name: str, args: argparse.Namespace, errors: ErrorCounter,
                 rss: RssSampler) -> list[dict]:
    rows = []
    plans: list[tuple[str, float]] = (
        [(label, FAULT_LEAD_SECONDS + 8 + FAULT_TAIL_SECONDS) for label in FAULTS]
        if name == "faults" else [(name, args.duration)])
    for label, duration in plans:
        since, errors_before, started = len(load.asked), errors.count, time.monotonic()
        log.info("scenario %s: %s users for %.0f s", label, args.users, duration)
        if name == "closed":
            load.closed(args.users, duration)
        else:
            if name == "faults":
                fault = FAULTS[label]
                threading.Timer(FAULT_LEAD_SECONDS, fault, args=(load.tg,)).start()
            load.poisson(args.users, args.interval, duration)
        load.settle(since)
        row = load.measure(since, started, errors.count - errors_before)
        mem = [m for t, m in rss.samples if t >= started]
        row.update(scenario=name, label=label, users=args.users, seconds=round(duration),
                   rss_mb_start=round(mem[0]) if mem else None,
                   rss_mb_max=round(max(mem)) if mem else None,
                   rss_mb_end=round(mem[-1]) if mem else None)
        log.info("%s", row)
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    head = ("| scenario | questions | lost | answers/s | first reply p50 / p95 | answer p50 / p95 "
            "/ max | placeholders | ERROR lines | RSS MB start → max → end | load |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        lines.append(
            f"| {r['label']} | {r['questions']} | {r['lost']} | {r['answers_per_s']} | "
            f"{r['first_reply_p50_s']} / {r['first_reply_p95_s']} s | {r['answer_p50_s']} / "
            f"{r['answer_p95_s']} / {r['answer_max_s']} s | {r['placeholders']} | "
            f"{r['errors_logged']} | {r['rss_mb_start']} → {r['rss_mb_max']} → "
            f"{r['rss_mb_end']} | {r['load_avg_1m']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                        stream=sys.stderr)
    for name in ("httpx", "httpcore", "faiss", "aiohttp.access", "telegram", "bot.delivery"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("bot.delivery").setLevel(logging.ERROR)  # one line per retry: too many
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    index_dir, questions = corpus_and_questions(args)
    baseline = engine_baseline(index_dir, questions, 20, args.seed, args.vector_cache)
    log.info("engine alone: %s", baseline)
    errors = ErrorCounter()
    logging.getLogger().addHandler(errors)
    rss = RssSampler()
    rss.start()
    load = Load(index_dir, questions, args.seed, args.vector_cache)
    rows: list[dict] = []
    try:
        for name in args.scenarios:
            rows += run_scenario(load, name, args, errors, rss)
    finally:
        load.stop()
        rss.stop.set()
    print(f"Engine.ask alone, one at a time ({baseline['asks']} questions): p50 "
          f"{baseline['ask_p50_s']} s, p95 {baseline['ask_p95_s']} s (load "
          f"{baseline['load_avg_1m']})\n")
    print(markdown(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "baseline": baseline, "rows": rows,
                                         "rss": rss.samples}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
