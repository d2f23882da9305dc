"""Live feeds (issue 11): rtqa articles replayed as news feeds through the real feed watcher.

A feed server in a child process serves one RSS feed per outlet section (rtqa's CNN, USA Today
and The Week articles, grouped by outlet and by the section in their URL) on loopback, one
address per outlet (127.0.0.2, .3, …) so the watcher's one-request-per-host rule and its
``RETRIEVER_WATCH_HOST_DELAY`` act per outlet as they would on the web. CNN and The Week put the
whole article in ``content:encoded``; USA Today gives a teaser and a link, and the watcher
fetches the page through the guarded fetcher (``RETRIEVER_FETCH_ALLOW=127.0.0.0/8``) and
extracts it. Each feed lists its newest :data:`FEED_ITEMS` entries, answers ``If-None-Match``
with 304, and serves a page only once its day has come.

The replay: ``--days`` consecutive publication days (by default the ``--days`` days of the
dataset with the most days of ≥10 articles), at most ``--per-day`` articles a day (seeded
sample), and with ``--copies`` that many of them republished by another outlet (rtqa itself has
no copies across outlets, so nothing would fold without them). Per
simulated day the server shows that day's entries and the real :class:`retrieval.watch.Watcher`
runs one round (``run_once``: every feed polled, then retention), in this process, on a hand-
moved clock. Measured:

* **time to searchable** per entry: from the moment its day's entries appeared in the feeds
  until a search for its title from a separate read-side Engine on the same index folder (the
  bot's view) returns the entry's URL in the top ``--k``; the benchmark's own checks (searches
  and alert checks) before it in the round are subtracted. Feeds are polled one after another, so an
  entry waits for the feeds polled before its own. In production the poll interval
  (``every_minutes`` ± 10 %) comes on top;
* **CPU seconds per article**: the process CPU time of the rounds (the feed server runs in
  another process and the searchability checks are subtracted), and the part spent embedding;
* **index size on disk** (SQLite + FAISS + manifest), articles and chunks after each day, for
  each retention window in ``--windows`` (0 = keep everything, 7 = ``RETRIEVER_MAX_AGE_DAYS=7``);
* the process's RSS, and the requests the feed server answered (200, 304, pages).

* **folded copies**: entries the engine kept as another source of a stored story (ingest status
  "folded": the same text, or a near copy, :mod:`retrieval.dupes`), found per entry with
  ``Store.alternative`` and in total with ``Store.folded_count``. A folded entry counts as
  searchable when a hit's story lists its URL among its other sources;
* **topic alerts** (:mod:`retrieval.alerts`): before the replay, chats follow topics made from
  the rtqa questions with an answer article (``answer_in``) among the replayed entries, one chat
  per topic, in two shapes as in ``benchmarks/bench_alerts.py``: the question as asked (when it
  fits ``MAX_TOPIC_CHARS``) and its names alone. Right after each feed's poll the read-side
  Engine does what the bot's alert task does (``bot/alerts.py``): ``alerts.check()``, then
  ``claim`` for each alert. Counted: alerts claimed; *on topic*, the alerted story (or a copy
  folded into it) is one of the question's ``search_results``; *expected*, the question's
  ``answer_in`` entries that entered the index during the replay, and *recall*, those alerted to
  the topic's chat; the question's other ``search_results`` entries alerted are counted apart,
  and so are *repeats*: one chat alerted to both an article and its ``--copies`` copy (what
  folding prevents). *To alert* runs from the moment the entry's day appeared in the feeds until
  the check that returned its alert (earlier checks subtracted); the bot's check interval
  (``NEWSBOT_ALERTS_CHECK_SECONDS``) comes on top. ``claim`` limits alerts per chat and *real*
  hour, and the replay packs days into minutes, so the benchmark claims without that limit
  (:data:`CLAIM_PER_HOUR`) and reports the chat-days that got more alerts than the bot's default
  allows in an hour (:data:`BOT_ALERTS_PER_HOUR`).

Retention reads ``date.today()`` (``Engine.prune``, ``Engine._too_old`` and the feed reader's
cutoff), not the watcher's clock, so the replay swaps ``date`` in ``retrieval.engine`` and
``retrieval.sources`` for a class whose ``today()`` is the simulated day (:func:`simulated_today`).

The first window runs with ``--embedder`` (default: the real model, torch for ingest and
onnxruntime for the read side, as the product does); the other windows with
``--other-embedder`` (default ``hash``: a 384-dimensional hashing embedder, whose vectors take
the same bytes as the model's, so index sizes compare while the run takes a fraction of the
time). The dataset is not part of the repository; without it the script says so and exits 0.

    python benchmarks/bench_watch.py --days 15 --per-day 5 --copies 5 --windows 0,7 --json .bench/watch.json
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import html
import http.server
import json
import logging
import multiprocessing
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_rtqa import rss_mb  # noqa: E402

DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "rtqa"
#: Entries per feed, newest first (news feeds list the last 20–50 stories).
FEED_ITEMS = 30
#: Outlets that put the whole article in the feed; the others give a teaser and a link.
FULL_TEXT_OUTLETS = ("cnn.com", "theweek.co.uk")
#: Sections with their own feed per outlet (the most frequent in the replay); the rest of an
#: outlet's articles are in its "more" feed.
SECTIONS_PER_OUTLET = 2
#: Poll interval given to every feed. One round is run per simulated day with the clock a day
#: on, so every feed is due in every round; the interval only matters for the note on latency.
FEED_MINUTES = 60
#: Dimension of the hashing embedder used for --other-embedder hash: the model's, so a chunk's
#: vector takes as many bytes in SQLite and FAISS.
HASH_DIMENSION = 384
#: ``per_hour`` passed to ``Alerts.claim``: no limit. The limit counts real hours, and the
#: replay runs a simulated day in seconds, so the bot's limit would cap a chat at that many
#: alerts for the whole replay.
CLAIM_PER_HOUR = 1_000_000
#: The bot's default ``NEWSBOT_ALERTS_PER_HOUR`` (bot/config.py; not imported: bot/ needs
#: Telegram): chat-days with more alerts than this are reported.
BOT_ALERTS_PER_HOUR = 5
#: Words an article needs to be copied by --copies (folding leaves out articles under 60).
COPY_MIN_WORDS = 200
#: First chat id of each topic shape (one chat per topic).
CHAT_BASE = {"question": 1_000, "names": 2_000}
#: Characters XML 1.0 does not allow (a feed with one is not well-formed).
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

log = logging.getLogger("bench_watch")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench_watch.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example:\n  python benchmarks/bench_watch.py --days 15 --per-day 5 --copies 5 --windows 0,7 "
               "--json .bench/watch.json")
    p.add_argument("--days", type=int, default=30, help="simulated days, one watcher round each (default 30)")
    p.add_argument("--per-day", type=int, default=5, help="most articles published per day (default 5)")
    p.add_argument("--start", type=date.fromisoformat, default=None,
                   help="first publication day YYYY-MM-DD (default: the densest window of the dataset)")
    p.add_argument("--windows", default="0,7",
                   help="retention windows in days, one replay each; 0 keeps everything (default 0,7)")
    p.add_argument("--embedder", choices=("model", "hash"), default="model",
                   help="embedder of the first window's replay (default model)")
    p.add_argument("--other-embedder", choices=("model", "hash"), default="hash",
                   help="embedder of the other windows' replays (default hash: same bytes per vector)")
    p.add_argument("--host-delay", type=float, default=None,
                   help="RETRIEVER_WATCH_HOST_DELAY seconds (default: the product default)")
    p.add_argument("--copies", type=int, default=0,
                   help="also republish this many entries in another outlet's feed, as wire copies (default 0)")
    p.add_argument("--topics", choices=("both", "question", "names", "none"), default="both",
                   help="topic shapes followed for alerts (default both: the question, its names)")
    p.add_argument("--k", type=int, default=10, help="an entry is searchable when its title finds it in the top k (default 10)")
    p.add_argument("--seed", type=int, default=13, help="sampling seed (default 13)")
    p.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help=f"rtqa folder (default {DEFAULT_DATASET})")
    p.add_argument("--work-dir", type=Path, default=ROOT / ".bench" / "watch",
                   help="index folders, recreated each run (default .bench/watch)")
    p.add_argument("--json", type=Path, default=None, help="write all numbers and per-day rows here")
    args = p.parse_args(argv)
    try:
        args.windows = [int(w) for w in args.windows.split(",")]
    except ValueError:
        p.error(f"--windows must be comma-separated whole days, got {args.windows!r}")
    if any(w < 0 for w in args.windows) or args.days < 1 or args.per_day < 1:
        p.error("--days and --per-day must be at least 1, --windows 0 or more")
    return args


# ---------------------------------------------------------------------------- the replay's entries


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value.replace("/", "-")) if value else None
    except ValueError:
        return None


def _section(row: dict) -> str:
    parts = [p for p in urlsplit(row["url"]).path.split("/") if p]
    if row["source"] == "usatoday.com":  # /story/<section>/...
        return parts[1] if len(parts) > 1 else "news"
    if parts and parts[0].isdigit():  # cnn.com/2022/09/08/<section>/...
        return parts[3] if len(parts) > 3 else "news"
    return parts[0] if parts else "news"


def densest_start(rows: list[dict], days: int) -> date:
    """The first day of the ``days``-day window with the most days of ≥10 articles (then most
    articles)."""
    per_day = Counter(d for d in (_day(r["published"]) for r in rows) if d)
    best = max(per_day, key=lambda s: (sum(per_day[s + timedelta(i)] >= 10 for i in range(days)),
                                       sum(per_day[s + timedelta(i)] for i in range(days)), -s.toordinal()))
    return best


def build_entries(rows: list[dict], start: date, days: int, per_day: int, seed: int,
                  copies: int = 0) -> list[dict]:
    """The replay's entries: per day at most ``per_day`` articles, each with its feed, then
    ``copies`` of them republished by another outlet (:func:`add_copies`)."""
    by_day: dict[int, list[dict]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r["url"]):
        published = _day(row["published"])
        if published and 0 <= (published - start).days < days and row.get("text", "").strip():
            by_day[(published - start).days].append(row)
    rng = random.Random(seed)
    chosen = [(d, row) for d in range(days) for row in rng.sample(by_day[d], min(per_day, len(by_day[d])))]
    sections = defaultdict(Counter)
    for _, row in chosen:
        sections[row["source"]][_section(row)] += 1
    own = {outlet: {s for s, _ in c.most_common(SECTIONS_PER_OUTLET)} for outlet, c in sections.items()}
    outlets = sorted(sections)
    entries = []
    for n, (d, row) in enumerate(chosen):
        outlet, section = row["source"], _section(row)
        feed = f"{outlet}/{section if section in own[outlet] else 'more'}"
        slug = re.sub(r"[^a-z0-9]+", "-", row["title"].lower()).strip("-")[:60] or "story"
        entries.append({
            "n": n, "day": d, "published": (start + timedelta(d)).isoformat(), "hour": 6 + n % 14,
            "outlet": outlet, "host": f"127.0.0.{2 + outlets.index(outlet)}", "feed": feed,
            "path": f"/{section}/{n}-{slug}", "title": _XML_BAD.sub(" ", row["title"]).strip(),
            "text": _XML_BAD.sub(" ", row["text"]), "full_text": outlet in FULL_TEXT_OUTLETS,
            "words": len(row["text"].split()), "rtqa_url": row["url"], "copy_of": None,
        })
    return add_copies(entries, outlets, copies, rng)


def add_copies(entries: list[dict], outlets: list[str], copies: int, rng: random.Random) -> list[dict]:
    """Add ``copies`` wire copies: a sampled entry (of at least :data:`COPY_MIN_WORDS` words)
    republished an hour later the same day in another outlet's "more" feed, its headline with
    that outlet's name after a dash and its last paragraph cut. rtqa has no copies across
    outlets (docs/BENCHMARKS.md, "Near-duplicate stories"); these are what folding is for."""
    if copies <= 0 or len(outlets) < 2:
        return entries
    pool = [e for e in entries if e["words"] >= COPY_MIN_WORDS]
    added = []
    for original in sorted(rng.sample(pool, min(copies, len(pool))), key=lambda e: e["n"]):
        outlet = outlets[(outlets.index(original["outlet"]) + 1) % len(outlets)]
        paragraphs = [p for p in re.split(r"\n\s*\n", original["text"]) if p.strip()]
        text = "\n\n".join(paragraphs[:-1] if len(paragraphs) > 2 else paragraphs)
        n = len(entries) + len(added)
        added.append({
            **original, "n": n, "hour": min(23, original["hour"] + 1), "outlet": outlet,
            "host": f"127.0.0.{2 + outlets.index(outlet)}", "feed": f"{outlet}/more",
            "path": f"/more/{n}-{original['path'].rsplit('/', 1)[1].split('-', 1)[-1]}",
            "title": f"{original['title']} - {outlet}", "text": text,
            "full_text": outlet in FULL_TEXT_OUTLETS, "words": len(text.split()), "copy_of": original["n"],
        })
    return entries + added


def choose_topics(questions: list[dict], entries: list[dict], shapes: list[str]) -> list[dict]:
    """Topics to follow: each rtqa question with an ``answer_in`` article among the replay's
    entries, in each of ``shapes`` ("question": as asked, when it fits a topic; "names": its
    names alone, as in bench_alerts.py), each followed by a chat of its own."""
    from bench_alerts import names_topic

    from retrieval.alerts import MAX_TOPIC_CHARS

    replayed = {e["rtqa_url"] for e in entries}
    asked = [q for q in questions if replayed & set(q["answer_in"])]
    topics = []
    for shape in shapes:
        for i, q in enumerate(asked):
            text = " ".join(q["question"].split()) if shape == "question" else names_topic(q["question"])
            if text and len(text) <= MAX_TOPIC_CHARS:
                topics.append({"chat": CHAT_BASE[shape] + i, "shape": shape, "topic": text, "question": q["id"],
                               "answer_in": sorted(replayed & set(q["answer_in"])),
                               "search_results": sorted(replayed & set(q["search_results"]))})
    return topics


# ---------------------------------------------------------------------------- the feed server


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{html.escape(p.strip())}</p>" for p in re.split(r"\n\s*\n", text) if p.strip())


def _stamp(entry: dict) -> str:
    when = datetime.fromisoformat(entry["published"]).replace(hour=entry["hour"], tzinfo=timezone.utc)
    return format_datetime(when, usegmt=True)


def page_html(entry: dict, base: str) -> str:
    outlet = entry["outlet"]
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(entry['title'])} | {outlet}"
        f"</title><link rel='canonical' href='{base}{entry['path']}'>"
        f"<meta property='article:published_time' content='{entry['published']}T{entry['hour']:02d}:00:00Z'>"
        f"</head><body><header><nav><a href='/'>Home</a> <a href='/news'>News</a> <a href='/sports'>Sports</a>"
        f"</nav></header><main><article><h1>{html.escape(entry['title'])}</h1>{_paragraphs(entry['text'])}"
        f"</article></main><footer>© {outlet}. All rights reserved.</footer></body></html>")


def feed_xml(name: str, entries: list[dict], base: str) -> str:
    items = []
    for e in entries:
        teaser = html.escape(" ".join(e["text"].split()[:30]) + " …")
        body = (f"<content:encoded>{html.escape(_paragraphs(e['text']))}</content:encoded>"
                if e["full_text"] else "")
        items.append(f"<item><title>{html.escape(e['title'])}</title><link>{base}{e['path']}</link>"
                     f"<guid>{base}{e['path']}</guid><pubDate>{_stamp(e)}</pubDate>"
                     f"<description>{teaser}</description>{body}</item>")
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
            f"<title>{html.escape(name)}</title><link>{base}/</link>{''.join(items)}</channel></rss>")


#: Indexes into the server's shared counters.
FEED_200, FEED_304, PAGES, NOT_FOUND = range(4)


def serve(entries: list[dict], day, counters, ports) -> None:
    """The child process: one HTTP server per outlet host; ``day`` (shared) is the simulated
    day, entries of later days are not in the feeds and their pages are 404."""
    by_host: dict[str, list[dict]] = defaultdict(list)
    for e in entries:
        by_host[e["host"]].append(e)
    servers = []

    def count(slot: int) -> None:
        with counters.get_lock():
            counters[slot] += 1

    for host, mine in sorted(by_host.items()):
        pages = {e["path"]: e for e in mine}
        feeds: dict[str, list[dict]] = defaultdict(list)
        for e in mine:
            feeds["/feeds/" + e["feed"].split("/")[1] + ".xml"].append(e)

        class Handler(http.server.BaseHTTPRequestHandler):
            host_feeds, host_pages = feeds, pages  # bound now: the loop rebinds the names

            def do_GET(self):  # noqa: N802 - http.server API
                today, feeds, pages = day.value, self.host_feeds, self.host_pages
                base = f"http://{self.server.server_address[0]}:{self.server.server_address[1]}"
                if self.path in feeds:
                    visible = sorted((e for e in feeds[self.path] if e["day"] <= today),
                                     key=lambda e: (e["day"], e["hour"], e["n"]), reverse=True)[:FEED_ITEMS]
                    etag = '"' + hashlib.sha1(",".join(str(e["n"]) for e in visible).encode()).hexdigest()[:16] + '"'
                    if self.headers.get("If-None-Match") == etag:
                        count(FEED_304)
                        self.send_response(304)
                        self.send_header("ETag", etag)
                        self.end_headers()
                        return
                    count(FEED_200)
                    body = feed_xml(self.path, visible, base).encode()
                    return self._send(200, "application/rss+xml; charset=utf-8", body, {"ETag": etag})
                entry = pages.get(self.path)
                if entry is not None and entry["day"] <= today:
                    count(PAGES)
                    return self._send(200, "text/html; charset=utf-8", page_html(entry, base).encode())
                count(NOT_FOUND)
                return self._send(404, "text/plain", b"not found")

            def _send(self, status, content_type, body, headers=None):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer((host, 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    ports.send({s.server_address[0]: s.server_address[1] for s in servers})
    parent = os.getppid()
    while os.getppid() == parent:  # until the parent terminates us, or dies without doing so
        time.sleep(1)


class FeedServer:
    def __init__(self, entries: list[dict]):
        ctx = multiprocessing.get_context("fork")  # started before torch is imported
        self.day = ctx.Value("i", -1)
        self.counters = ctx.Array("q", 4)
        parent, child = ctx.Pipe()
        self.process = ctx.Process(target=serve, args=(entries, self.day, self.counters, child), daemon=True)
        self.process.start()
        if not parent.poll(30):
            raise RuntimeError("the feed server did not start")
        self.ports: dict[str, int] = parent.recv()

    def base(self, host: str) -> str:
        return f"http://{host}:{self.ports[host]}"

    def show(self, day: int) -> None:
        self.day.value = day

    def reset(self) -> None:
        self.day.value = -1
        with self.counters.get_lock():
            for i in range(len(self.counters)):
                self.counters[i] = 0

    def stats(self) -> dict[str, int]:
        return dict(zip(("feed_200", "feed_304", "pages", "not_found"), self.counters[:]))

    def close(self) -> None:
        self.process.terminate()
        self.process.join(5)


# ---------------------------------------------------------------------------- simulated time


@contextlib.contextmanager
def simulated_today():
    """Make ``date.today()`` in retrieval.engine and retrieval.sources return ``Today.value``:
    retention counts days from ``date.today()``, not from the watcher's clock."""
    import retrieval.engine
    import retrieval.sources

    class _Meta(type):
        def __instancecheck__(cls, obj):
            return isinstance(obj, date)

        def __subclasscheck__(cls, sub):
            return issubclass(sub, date)

    class Today(date, metaclass=_Meta):
        value = date.today()

        @classmethod
        def today(cls):
            return cls.value

    saved = retrieval.engine.date, retrieval.sources.date
    retrieval.engine.date = retrieval.sources.date = Today
    try:
        yield Today
    finally:
        retrieval.engine.date, retrieval.sources.date = saved


class Clock:
    """The watcher's clock, moved by hand a day per round (scheduling only)."""

    def __init__(self) -> None:
        # Feeds are added at the real time; the clock starts after that, so they are due.
        self.start = datetime.now(timezone.utc) + timedelta(minutes=1)
        self.now = self.start

    def __call__(self) -> datetime:
        return self.now


class TimedEmbedder:
    """Delegates to an embedder and adds up the process CPU time and texts of its calls."""

    def __init__(self, inner):
        self.inner, self.name, self.dimension = inner, inner.name, inner.dimension
        self.cpu = 0.0
        self.texts = 0

    def embed(self, texts, **kwargs):
        started = time.process_time()
        try:
            return self.inner.embed(texts, **kwargs)
        finally:
            self.cpu += time.process_time() - started
            self.texts += len(texts)


def index_bytes(path: Path) -> dict[str, int]:
    files = {p.name: p.stat().st_size for p in path.iterdir() if p.is_file()}
    sqlite = sum(v for k, v in files.items() if k.startswith("index.sqlite"))
    faiss = files.get("vectors.faiss", 0)
    # The WAL keeps its largest size between checkpoints (SQLite does not truncate it).
    wal = files.get("index.sqlite-wal", 0)
    return {"sqlite": sqlite, "wal": wal, "faiss": faiss, "total": sum(files.values())}


# ---------------------------------------------------------------------------- one replay


def replay(args, entries: list[dict], server: FeedServer, window: int, embedder_kind: str, start: date,
           topics: list[dict]) -> dict:
    from retrieval import Settings
    from retrieval.embeddings import HashEmbedder, load_embedder
    from retrieval.engine import Engine
    from retrieval.watch import Watcher

    index = args.work_dir / f"window-{window}-{embedder_kind}"
    shutil.rmtree(index, ignore_errors=True)
    extra = {} if args.host_delay is None else {"watch_host_delay": args.host_delay}
    settings = Settings(index=index, fetch_allow="127.0.0.0/8", max_age_days=window, **extra)
    if embedder_kind == "hash":
        inner = HashEmbedder(HASH_DIMENSION)
        read_embedder = inner
    else:  # as the engine loads them: torch for ingest, the question backend for the read side
        backend = "torch" if settings.backend == "auto" else settings.backend
        inner = load_embedder(settings.model, settings.device, settings.batch_size, backend, settings.cache_dir)
        read_embedder = None
    timed = TimedEmbedder(inner)
    server.reset()
    by_feed: dict[str, list[dict]] = defaultdict(list)
    for e in entries:
        by_feed[server.base(e["host"]) + "/feeds/" + e["feed"].split("/")[1] + ".xml"].append(e)
    state = {e["n"]: {"status": "waiting"} for e in entries}
    problems: Counter = Counter()

    with simulated_today() as today:
        engine = Engine.open(settings, embedder=timed, create=True)
        for url, mine in by_feed.items():
            engine.add_feed(url, every_minutes=FEED_MINUTES, source=mine[0]["outlet"])
        reader = Engine.open(Settings(index=index, fetch_allow="127.0.0.0/8"), embedder=read_embedder)
        reader.search("warm up the question model", k=1)  # loads it before the clock runs
        for t in topics:  # as /follow does, through the bot's engine; the cursor starts at chunk 0
            reader.alerts.follow(t["chat"], t["topic"])
        if topics:
            reader.alerts.analyse([t["topic"] for t in topics])  # embedded once, before the clock runs
            log.info("%d topics followed; match rule %s", len(topics), reader.alerts.params)
        by_url = {server.base(e["host"]) + e["path"]: e for e in entries}
        clock = Clock()
        days_out, round_state, alerts = [], {}, []

        def since_shown() -> float:
            """Seconds since the day's entries appeared, less the benchmark's own checks so far."""
            return time.perf_counter() - round_state["shown"] - round_state["checks"]

        def checked(wall: float, cpu: float) -> None:
            round_state["checks"] += time.perf_counter() - wall
            round_state["check_cpu"] += time.process_time() - cpu

        def check_alerts() -> None:
            """What the bot's alert task does (bot/alerts.py alert_round): check, then claim."""
            wall, cpu = time.perf_counter(), time.process_time()
            found = reader.alerts.check()
            claims = [reader.alerts.claim(a, CLAIM_PER_HOUR) for a in found]
            latency = since_shown()
            for a, status in zip(found, claims):
                e = by_url.get(a.citation.url)
                alerts.append({"chat": a.chat, "topic": a.topic, "url": a.citation.url, "status": status,
                               "entry": e["n"] if e else None, "round": round_state["day"],
                               "same_day": bool(e and e["day"] == round_state["day"]), "latency_s": latency,
                               "cosine": round(a.cosine, 3), "coverage": round(a.coverage, 3)})
            checked(wall, cpu)

        def on_poll(result) -> None:
            """Right after a feed's poll: alerts on what it added, then which of its entries are
            indexed (or folded), and are they found?"""
            round_state["polls"].append(result)
            if result.failed:  # the reason is kept on the feed, not in the PollResult
                problems[engine.store.feed(result.url).last_error or "?"] += 1
            if topics:
                check_alerts()
            for e in by_feed[result.url]:
                s = state[e["n"]]
                if e["day"] > round_state["day"] or s["status"] != "waiting":
                    continue
                url = server.base(e["host"]) + e["path"]
                wall, cpu = time.perf_counter(), time.process_time()
                if not engine.store.has_url(url):
                    checked(wall, cpu)
                    continue
                other = engine.store.alternative(url)  # folded: kept as another source of a story
                story = engine.store.article(other.story_id) if other else None
                hits = reader.search(e["title"], k=args.k, as_of=today.value)
                done = time.perf_counter()
                s.update(status="indexed", round=round_state["day"], search_s=done - wall,
                         folded_into=other.story_id if other else None,
                         story_url=story.url if story else url,
                         found=any(h.url == url or any(a.url == url for a in h.also) for h in hits),
                         latency_s=since_shown())
                article = None if other else engine.store.article(engine.store.resolve(url))
                s["words_kept"] = len(article.text.split()) / max(1, e["words"]) if article else None
                s["stored_date"] = article.published.isoformat() if article and article.published else None
                checked(wall, cpu)

        watcher = Watcher(engine, clock=clock, on_poll=on_poll, seed=args.seed)
        try:
            for d in range(args.days):
                today.value = start + timedelta(d)
                clock.now = clock.start + timedelta(days=d)
                round_state.update(day=d, polls=[], checks=0.0, check_cpu=0.0)
                cpu0, embed0 = time.process_time(), timed.cpu
                server.show(d)
                round_state["shown"] = time.perf_counter()
                results = watcher.run_once()
                wall = time.perf_counter() - round_state["shown"]
                warm = time.perf_counter()
                reader.search(entries[0]["title"], k=args.k, as_of=today.value)  # nothing changed since
                warm = time.perf_counter() - warm
                if results is None:
                    raise RuntimeError("another watcher holds the index's watch.lock")
                stats = engine.stats()
                days_out.append({
                    "day": d, "date": today.value.isoformat(),
                    "published": sum(1 for e in entries if e["day"] == d),
                    "added": sum(r.added for r in results), "failed": sum(r.failed for r in results),
                    "polls": Counter(r.status for r in results),
                    "round_wall_s": round(wall - round_state["checks"], 3),
                    "cpu_s": round(time.process_time() - cpu0 - round_state["check_cpu"], 3),
                    "embed_cpu_s": round(timed.cpu - embed0, 3),
                    "warm_search_s": round(warm, 4),
                    "articles": stats.articles, "chunks": stats.chunks,
                    "folded": sum(1 for e in entries if e["day"] == d and state[e["n"]].get("folded_into")),
                    "folded_sources": engine.store.folded_count(),
                    "alerts": sum(1 for a in alerts if a["round"] == d and a["status"] == "claimed"),
                    **{f"{k}_bytes": v for k, v in index_bytes(index).items()},
                    "rss_mb": round(rss_mb(), 1),
                })
                row = days_out[-1]
                log.info("window %d day %d (%s): +%d articles -> %d articles, %d chunks, %.1f MB, "
                         "round %.1f s, cpu %.1f s", window, d, row["date"], row["added"], row["articles"],
                         row["chunks"], row["total_bytes"] / 1e6, row["round_wall_s"], row["cpu_s"])
        finally:
            reader.close()
            engine.close()
    summary = summarise(window, embedder_kind, entries, state, days_out, server.stats(), timed)
    summary["entry_failures"] = dict(problems)  # feed's last_error → polls that reported it
    summary["alerts"] = summarise_alerts(entries, state, topics, alerts, by_url) if topics else None
    return summary


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def summarise(window, embedder_kind, entries, state, days, served, timed) -> dict:
    indexed = [(e, state[e["n"]]) for e in entries if state[e["n"]]["status"] == "indexed"]
    stored = [(e, s) for e, s in indexed if not s.get("folded_into")]  # as articles of their own
    same_day = [s for e, s in indexed if s["round"] == e["day"]]
    found = [s["latency_s"] for s in same_day if s["found"]]
    added = sum(d["added"] for d in days)
    cpu = sum(d["cpu_s"] for d in days)
    chunks_added = timed.texts
    kept = {kind: [s["words_kept"] for e, s in indexed if e["full_text"] == full and s.get("words_kept")]
            for kind, full in (("full_text", True), ("fetched", False))}
    return {
        "window_days": window,
        "embedder": embedder_kind,
        "entries": len(entries),
        "full_text_entries": sum(e["full_text"] for e in entries),
        "indexed": len(indexed),
        "indexed_late": len(indexed) - len(same_day),
        "not_indexed": len(entries) - len(indexed),
        "not_found_by_title": sum(1 for s in same_day if not s["found"]),
        "latency_p50_s": _pct(found, 0.5),
        "latency_p95_s": _pct(found, 0.95),
        "latency_max_s": max(found) if found else None,
        "search_after_write_p50_s": _pct([s["search_s"] for _, s in indexed], 0.5),
        "search_after_write_p95_s": _pct([s["search_s"] for _, s in indexed], 0.95),
        "warm_search_p50_s": _pct([d["warm_search_s"] for d in days], 0.5),
        "stored_date_differs": sum(1 for e, s in stored if s.get("stored_date") != e["published"]),
        "stored_date_differs_full_text": sum(1 for e, s in stored
                                             if e["full_text"] and s.get("stored_date") != e["published"]),
        "articles_added": added,
        "chunks_embedded": chunks_added,
        "cpu_s": round(cpu, 1),
        "cpu_s_per_article": round(cpu / added, 3) if added else None,
        "embed_cpu_s_per_article": round(timed.cpu / added, 3) if added else None,
        "words_kept_median": {k: round(statistics.median(v), 3) if v else None for k, v in kept.items()},
        "rss_mb_end": days[-1]["rss_mb"] if days else None,
        "rss_mb_peak": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "served": served,
        "folded": sum(1 for _, s in indexed if s.get("folded_into")),
        "copies": sum(1 for e in entries if e["copy_of"] is not None),
        # A copy pair folds whichever of the two came first.
        "copies_folded": sum(1 for e in entries if e["copy_of"] is not None
                             and (state[e["n"]].get("folded_into") or state[e["copy_of"]].get("folded_into"))),
        "folded_sources_end": days[-1]["folded_sources"] if days else None,
        "days": days,
    }


def summarise_alerts(entries, state, topics, alerts, by_url) -> dict:
    """Alerts per topic shape: sent (claimed), on topic, recall of the expected ones."""
    indexed = [e for e in entries if state[e["n"]]["status"] == "indexed"]
    # The rtqa articles each stored story stands for: its own entry and the entries folded into it.
    stands_for: dict[str, set[str]] = defaultdict(set)
    for e in indexed:
        stands_for[state[e["n"]]["story_url"]].add(e["rtqa_url"])
    claimed = [a for a in alerts if a["status"] == "claimed"]
    sent_to: dict[int, set[str]] = defaultdict(set)  # chat → rtqa URLs its alerts stood for
    for a in claimed:
        sent_to[a["chat"]] |= stands_for.get(a["url"], set())
    out = {}
    by_n = {e["n"]: e for e in entries}
    for shape in dict.fromkeys(t["shape"] for t in topics):
        mine = [t for t in topics if t["shape"] == shape]
        chats = {t["chat"]: t for t in mine}
        sent = [a for a in claimed if a["chat"] in chats]
        on_topic = sum(1 for a in sent if stands_for.get(a["url"], set())
                       & set(chats[a["chat"]]["answer_in"] + chats[a["chat"]]["search_results"]))
        entered = {e["rtqa_url"] for e in indexed}
        expected = [(t["chat"], u) for t in mine for u in t["answer_in"] if u in entered]
        results = [(t["chat"], u) for t in mine for u in set(t["search_results"]) - set(t["answer_in"]) if u in entered]
        per_day = Counter((a["chat"], a["round"]) for a in sent)
        # Alerts on both an article and its wire copy (--copies), to one chat: one too many.
        pairs = Counter((a["chat"], by_n[a["entry"]]["copy_of"] if by_n[a["entry"]]["copy_of"] is not None
                         else a["entry"]) for a in sent if a["entry"] is not None)
        same_day = [a["latency_s"] for a in sent if a["same_day"]]
        out[shape] = {
            "topics": len(mine),
            "topics_alerted": len({a["chat"] for a in sent}),
            "sent": len(sent),
            "sent_before": sum(1 for a in alerts if a["chat"] in chats and a["status"] == "sent before"),
            "on_topic": on_topic,
            "on_topic_share": round(on_topic / len(sent), 3) if sent else None,
            "expected": len(expected),
            "expected_alerted": sum(1 for c, u in expected if u in sent_to[c]),
            "recall": round(sum(1 for c, u in expected if u in sent_to[c]) / len(expected), 3) if expected else None,
            "other_results": len(results),
            "other_results_alerted": sum(1 for c, u in results if u in sent_to[c]),
            "repeats_on_copies": sum(n - 1 for n in pairs.values()),
            "chat_days_over_bot_limit": sum(1 for n in per_day.values() if n > BOT_ALERTS_PER_HOUR),
            "most_in_a_chat_day": max(per_day.values(), default=0),
            "to_alert_p50_s": _pct(same_day, 0.5),
            "to_alert_p95_s": _pct(same_day, 0.95),
        }
    out["sent"] = alerts  # every alert the checks returned, with its claim status
    return out


# ---------------------------------------------------------------------------- report


def git_state() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "retrieval"],
                               cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in retrieval/" if dirty else "")


def _s(value, digits=2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def report_markdown(info: dict, runs: list[dict]) -> str:
    lines = [
        f"Live feeds replay — {info['date']}, {info['machine']}, commit {info['commit']}, "
        f"load average {info['load_start']} → {info['load_end']}",
        f"command: `{info['command']}`",
        "",
        f"{info['entries'] - info['copies']} rtqa articles published {info['first_day']} … {info['last_day']} "
        f"({info['days']} days, ≤ {info['per_day']} a day) and {info['copies']} wire copies of them "
        f"(--copies: another outlet, headline suffix, last paragraph cut) in {info['feeds']} feeds of "
        f"{info['outlets']} outlets; {info['full_text_entries']} entries carry the full text, the "
        f"others are fetched and extracted; {info['exact_copies']} entries repeat another's text "
        f"word for word. Watcher host delay {info['host_delay']} s.",
        "",
        "| retention | embedder | indexed (late) / entries | folded | copy pairs folded | not found by title | to searchable p50 / p95 / max | "
        "CPU s / article (embedding) | words kept, full text / fetched | feed 200 / 304 / pages | RSS MB end (peak) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        kept = r["words_kept_median"]
        served = r["served"]
        lines.append(
            f"| {r['window_days'] or 'off'} | {r['embedder']} | {r['indexed']} ({r['indexed_late']}) / {r['entries']} "
            f"| {r['folded']} | {r['copies_folded']} / {r['copies']} | {r['not_found_by_title']} | {_s(r['latency_p50_s'])} / {_s(r['latency_p95_s'])} / "
            f"{_s(r['latency_max_s'])} s | {_s(r['cpu_s_per_article'], 3)} ({_s(r['embed_cpu_s_per_article'], 3)}) "
            f"| {_s(kept['full_text'])} / {_s(kept['fetched'])} | {served['feed_200']} / {served['feed_304']} / "
            f"{served['pages']} | {r['rss_mb_end']} ({r['rss_mb_peak']}) |")
    lines += [""] + [
        f"Retention {r['window_days'] or 'off'} ({r['embedder']}): stored publication date differs from "
        f"the feed's for {r['stored_date_differs']} of {r['indexed']} indexed entries "
        f"({r['stored_date_differs_full_text']} of them full-text entries); first search after a "
        f"write p50 / p95 {_s(r['search_after_write_p50_s'], 3)} / {_s(r['search_after_write_p95_s'], 3)} s, "
        f"search with nothing changed p50 {_s(r['warm_search_p50_s'], 3)} s."
        for r in runs]
    lines += ["", "Folded: entries kept as another source of a stored story (same text or near copy); "
              "other sources stored at the end: "
              + ", ".join(f"{r['folded_sources_end']} (retention {r['window_days'] or 'off'})" for r in runs) + "."]
    if any(r["alerts"] for r in runs):
        lines += ["", f"Alerts ({info['topics']}): sent = claimed; on topic = the alerted story is among the "
                  "question's search results; expected = the question's answer articles that entered the index, "
                  "recall = those alerted; other results = its other search-result articles that entered, alerted.",
                  "", "| retention | embedder | topics | topics alerted | sent | on topic | expected | recall | "
                  "other results alerted | repeats on copies | to alert p50 / p95 | chat-days over "
                  f"{BOT_ALERTS_PER_HOUR} (most) |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in runs:
            for shape, a in (r["alerts"] or {}).items():
                if shape == "sent":
                    continue
                lines.append(
                    f"| {r['window_days'] or 'off'} | {r['embedder']} | {a['topics']} ({shape}) | {a['topics_alerted']} "
                    f"| {a['sent']} | {a['on_topic']} ({_s(a['on_topic_share'])}) | {a['expected']} "
                    f"| {a['expected_alerted']} ({_s(a['recall'])}) | {a['other_results_alerted']} / {a['other_results']} "
                    f"| {a['repeats_on_copies']} "
                    f"| {_s(a['to_alert_p50_s'])} / {_s(a['to_alert_p95_s'])} s "
                    f"| {a['chat_days_over_bot_limit']} ({a['most_in_a_chat_day']}) |")
    lines += ["", "Index after each day (articles / chunks / MB on disk, SQLite + FAISS + manifest):", ""]
    header = "| day | date | published |" + "".join(
        f" retention {r['window_days'] or 'off'} ({r['embedder']}) |" for r in runs)
    lines += [header, "|---|---|---|" + "---|" * len(runs)]
    for i, d in enumerate(runs[0]["days"]):
        cells = []
        for r in runs:
            x = r["days"][i]
            cells.append(f" {x['articles']} / {x['chunks']} / {x['total_bytes'] / 1e6:.1f} |")
        lines.append(f"| {d['day'] + 1} | {d['date']} | {d['published']} |" + "".join(cells))
    return "\n".join(lines)


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("faiss", "retrieval.watch", "trafilatura", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    articles_file = args.dataset / "articles.jsonl.gz"
    if not articles_file.exists():
        print(f"rtqa dataset not found at {args.dataset} (articles.jsonl.gz); nothing to do.")
        return 0
    started = time.perf_counter()
    with gzip.open(articles_file, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    start = args.start or densest_start(rows, args.days)
    entries = build_entries(rows, start, args.days, args.per_day, args.seed, args.copies)
    del rows
    if not entries:
        print(f"no rtqa article was published in the {args.days} days from {start}; nothing to do.")
        return 0
    server = FeedServer(entries)  # forked before torch is imported
    info = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()} {os.cpu_count()} CPU cores",
        "commit": git_state(),
        "command": "python benchmarks/bench_watch.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "load_start": round(os.getloadavg()[0], 2),
        "first_day": start.isoformat(), "last_day": (start + timedelta(args.days - 1)).isoformat(),
        "days": args.days, "per_day": args.per_day, "entries": len(entries),
        "full_text_entries": sum(e["full_text"] for e in entries),
        "copies": sum(1 for e in entries if e["copy_of"] is not None),
        "feeds": len({(e["host"], e["feed"]) for e in entries}), "outlets": len({e["outlet"] for e in entries}),
        "feed_names": sorted({e["feed"] for e in entries}),
        "exact_copies": len(entries) - len({" ".join(e["text"].split()) for e in entries}),
    }
    topics = []
    if args.topics != "none":
        with open(args.dataset / "questions.jsonl", encoding="utf-8") as fh:
            questions = [json.loads(line) for line in fh if line.strip()]
        shapes = ["question", "names"] if args.topics == "both" else [args.topics]
        topics = choose_topics(questions, entries, shapes)
        asked = len({t["question"] for t in topics})
        info["topics"] = (f"{asked} rtqa questions with an answer article in the replay; " + ", ".join(
            f"{sum(t['shape'] == s for t in topics)} {s} topics" for s in shapes))
        info["topic_list"] = topics
    runs = []
    try:
        from retrieval import Settings

        info["host_delay"] = args.host_delay if args.host_delay is not None else Settings().watch_host_delay
        for i, window in enumerate(args.windows):
            kind = args.embedder if i == 0 else args.other_embedder
            log.info("replay %d/%d: retention %s, %s embedder", i + 1, len(args.windows), window or "off", kind)
            runs.append(replay(args, entries, server, window, kind, start, topics))
    finally:
        server.close()
    info["load_end"] = round(os.getloadavg()[0], 2)
    info["wall_s"] = round(time.perf_counter() - started, 1)
    print(report_markdown(info, runs))
    print(f"\nWall time {info['wall_s'] / 60:.1f} min.")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"info": info, "runs": runs}, indent=1, default=str))
        log.info("wrote %s", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
