"""Readers: files, directories, URLs and feeds → :class:`Article`.

Formats are detected from the name and, for URLs, from the response:

* ``.txt`` / ``.md`` — one article, optional front matter, boilerplate stripped (clean.py)
* ``.html`` / ``.htm`` — main text and metadata extracted with trafilatura
* ``.jsonl`` / ``.jsonl.gz`` — one article per line (url, title, text, source, published, authors)
* ``.xml`` / ``.rss`` / ``.atom`` and feed URLs — every entry's article is fetched
* directories — walked recursively; ``http(s)://`` — fetched through retrieval/fetch.py

Each item that cannot be read is reported as a failed :class:`ItemResult` naming the item
(``FILE``, ``FILE:LINE``, the URL) and the reason; the others go on. Whatever goes wrong while
one item is read — a field of the wrong type, JSON nested too deeply, corrupt gzip data, a
malformed URL, bytes that are not text, an error inside trafilatura or feedparser — stops at
that item's boundary (:meth:`Reader._guard`, the only place here that catches any exception).

Reading is bounded (:class:`Limits`, each a ``RETRIEVER_*`` setting): article text, JSONL line
length, bytes a ``.gz`` inflates to (streamed, never held), HTML and feed file size. A reader
holds one JSONL line at a time, and runs of blank lines are skipped in C, so a gigabyte of
newlines costs seconds. Network work happens in :meth:`Reader.fetch`, before the engine takes
the index's write lock; :meth:`Reader.read` then reads local files and hands back what was
fetched, in input order.
"""

from __future__ import annotations

import codecs
import gzip
import json
import logging
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from retrieval.clean import clean_text, strip_chrome
from retrieval.errors import IngestError
from retrieval.fetch import Fetcher
from retrieval.types import Article, ItemResult, article_id_for

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson")
FEED_SUFFIXES = (".rss", ".atom", ".xml")
SUPPORTED = TEXT_SUFFIXES + HTML_SUFFIXES + JSONL_SUFFIXES + FEED_SUFFIXES

_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.S)

Item = Article | ItemResult  # what readers yield: an article, or a failure naming the item

#: Bytes read at a time from a JSONL file (or inflated from a .gz): memory stays near this.
BLOCK_BYTES = 1 << 20
#: Feed entries fetched at once in all (RETRIEVER_FETCH_PER_HOST bounds each host).
FEED_WORKERS = 8
#: A feed entry whose own content (``content:encoded``, Atom ``content``) has at least this many
#: words is taken as the full article and indexed without fetching its link; shorter content is
#: a teaser (feeds that give one say a sentence or three, under ~80 words), so the page is read.
FULL_TEXT_WORDS = 150
#: A JSONL file stops being read after this many failed lines: past that it is not a corpus,
#: and a million one-byte bad lines should not cost a million messages.
MAX_FAILED_LINES = 1_000


@dataclass(frozen=True)
class Limits:
    """What reading one input may cost; each field is the RETRIEVER_* setting of that name."""

    max_article_chars: int = 500_000
    max_line_bytes: int = 10_000_000
    max_gz_bytes: int = 500_000_000
    max_html_bytes: int = 5_000_000
    feed_budget: float = 300.0
    fetch_per_host: int = 4
    max_age_days: int = 0  # feed entries published longer ago are not fetched (0 = any age)

    @classmethod
    def from_settings(cls, settings) -> "Limits":
        return cls(**{name: getattr(settings, name) for name in cls.__dataclass_fields__})


# ---------------------------------------------------------------------------- field parsing


def parse_date(value: Any) -> date | None:
    """Parse a publication date from common forms; None when absent or unreadable."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if len(text) == 10 and text[4] == "-" and text[7] == "-":  # as the store keeps them
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    match = re.match(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", text)
    try:
        if match:
            return date(*(int(g) for g in match.groups()))
        from dateutil import parser as dateparser

        return dateparser.parse(text).date()
    except (ValueError, OverflowError):
        return None


def _authors(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, str):
        value = value.strip("[]")
        parts = re.split(r";|,(?![^()]*\))| and ", value)
    else:
        parts = [str(v) for v in value]
    return tuple(p.strip().strip("'\"") for p in parts if p.strip().strip("'\""))


def _source_from_url(url: str | None) -> str | None:
    if not url:
        return None
    host = urlsplit(url).hostname or ""
    return host.removeprefix("www.") or None


def _check_string(name: str, value: str, origin: str) -> None:
    """Refuse what cannot be stored as text: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise IngestError(origin, f"{name} holds NUL characters: binary data, not text")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise IngestError(origin, f"{name} holds a character that is not valid Unicode text ({exc.reason})") from exc


def make_article(
    *,
    text: str,
    title: str | None,
    url: str | None = None,
    source: str | None = None,
    published: Any = None,
    authors: Any = None,
    origin: str,
) -> Article:
    """Validate fields and build an Article; raises IngestError naming ``origin``. Page chrome
    (photo credits and captions, video-player text, sign-up prompts: ``clean.strip_chrome``)
    is removed here, whatever the format."""
    text = strip_chrome(text or "")
    if not text:
        raise IngestError(origin, "no article text found")
    url = (url or "").strip() or None
    for name, value in (("text", text), ("title", title), ("url", url), ("source", source)):
        if value:
            _check_string(name, value, origin)
    if url and not re.match(r"https?://", url):
        raise IngestError(origin, f"url must start with http:// or https:// (got {url!r})")
    try:
        urlsplit(url or "").port  # parses the host and port: "http://[::1" fails here
    except ValueError as exc:
        raise IngestError(origin, f"malformed url {url!r} ({exc})") from exc
    title = " ".join((title or "").split()) or _fallback_title(text)
    return Article(
        id=article_id_for(url, text),
        title=title,
        text=text,
        url=url,
        source=(source or "").strip() or _source_from_url(url),
        published=parse_date(published),
        authors=_authors(authors),
        origin=origin,
    )


def _fallback_title(text: str) -> str:
    first = text.strip().split("\n", 1)[0]
    return first if len(first) <= 90 else first[:87].rsplit(" ", 1)[0] + "…"


# ---------------------------------------------------------------------------- formats


def parse_front_matter(raw: str) -> tuple[dict[str, str], str]:
    """Split an optional ``---`` block of ``key: value`` lines from the body."""
    match = _FRONT_MATTER.match(raw)
    if not match:
        return {}, raw
    meta: dict[str, str] = {}
    for line in match.group(1).splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            meta[key.strip().lower()] = value.strip().strip("'\"")
    return meta, raw[match.end() :]


def read_text(raw: str, origin: str, url: str | None = None) -> Article:
    """A .txt/.md article: front matter wins; otherwise infer the title and strip boilerplate."""
    meta, body = parse_front_matter(raw)
    inferred_title, text = clean_text(body)
    return make_article(
        text=text,
        title=meta.get("title") or inferred_title,
        url=meta.get("url") or url,
        source=meta.get("source"),
        published=meta.get("published") or meta.get("date"),
        authors=meta.get("authors") or meta.get("author"),
        origin=origin,
    )


def read_html(html: str | bytes, origin: str, url: str | None = None) -> Article:
    """Main text and metadata (title, date, author, outlet, canonical URL) via trafilatura."""
    import trafilatura

    if isinstance(html, bytes) and html.startswith(_WIDE_BOMS):
        html = decode_text(html, origin)  # trafilatura guesses 8-bit encodings itself

    doc = trafilatura.bare_extraction(
        html, url=url, with_metadata=True, include_comments=False, include_tables=False
    )
    if doc is None or not (doc.text or "").strip():
        raise IngestError(origin, "no article text could be extracted from the HTML")
    title = doc.title
    text = doc.text
    if title and text.startswith(title):  # trafilatura repeats the headline as line one
        text = text[len(title) :]
    canonical = doc.url if doc.url and re.match(r"https?://", doc.url) else url
    return make_article(
        text=text,
        title=title,
        url=canonical,
        source=doc.sitename or doc.hostname,
        published=doc.date,
        authors=doc.author,
        origin=origin,
    )


def article_from_row(row: dict[str, Any], origin: str) -> Article:
    """One JSONL object (url, title, text, source, published, authors) → Article. Every field is
    type-checked here: a wrong type is this row's IngestError, never an AttributeError later."""
    for name in ("url", "title", "text", "source", "published"):
        value = row.get(name)
        if value is not None and not isinstance(value, str):
            raise IngestError(origin, f"field {name!r} must be a string, not {_json_type(value)}")
    authors = row.get("authors")
    if authors is not None and not isinstance(authors, str) and not (
        isinstance(authors, list) and all(isinstance(a, str) for a in authors)
    ):
        raise IngestError(origin, f"field 'authors' must be a string or a list of strings, not {_json_type(authors)}")
    return make_article(
        text=row.get("text", ""),
        title=row.get("title"),
        url=row.get("url"),
        source=row.get("source"),
        published=row.get("published"),
        authors=row.get("authors"),
        origin=origin,
    )


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)


def read_jsonl_line(line: str | bytes, where: str) -> Item:
    """One JSONL line → an Article, or a failed ItemResult naming ``where``. Never raises."""
    try:
        if isinstance(line, bytes):
            line = line.decode("utf-8")
        row = json.loads(line)
    except UnicodeDecodeError as exc:
        return ItemResult(where, "failed", f"not UTF-8 text (byte {exc.start + 1} of the line)")
    except RecursionError:
        return ItemResult(where, "failed", "JSON nested too deeply to read")
    except ValueError as exc:  # JSONDecodeError, and ints past Python's digit limit
        return ItemResult(where, "failed", f"invalid JSON ({getattr(exc, 'msg', exc)})")
    if not isinstance(row, dict):
        return ItemResult(where, "failed", f"line is {_json_type(row)}, not a JSON object")
    try:
        return article_from_row(row, where)
    except IngestError as exc:
        return ItemResult(where, "failed", exc.reason)


def read_jsonl(lines: Iterable[str | bytes], origin: str) -> Iterator[Item]:
    """One article per line; a bad line is reported as ``FILE:LINE`` and skipped."""
    for number, line in enumerate(lines, 1):
        if line.strip():
            yield read_jsonl_line(line, f"{origin}:{number}")


_CONTENT = re.compile(rb"\S")


def jsonl_lines(blocks: Iterable[bytes], max_line: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) for each line of ``blocks`` that is not blank; the line is None when
    it is longer than ``max_line`` bytes (said as soon as that is known; its bytes are skipped,
    never held). Blank runs are skipped with C-speed searches, however many newlines they hold."""
    number = 1  # the line that `pending` belongs to
    pending = bytearray()
    too_long = False
    for block in blocks:
        if not pending and not too_long and block.isspace():  # a blank block: count and go on
            number += block.count(b"\n")
            continue
        pos, size = 0, len(block)
        while pos < size:
            if not pending and not too_long:
                found = _CONTENT.search(block, pos)
                if found is None:
                    number += block.count(b"\n", pos)
                    break
                number += block.count(b"\n", pos, found.start())
                pos = found.start()
            end = block.find(b"\n", pos)
            stop = size if end < 0 else end
            if not too_long:
                pending += block[pos:stop]
                if len(pending) > max_line:  # said now; the rest of the line is skipped
                    pending.clear()
                    too_long = True
                    yield number, None
            if end < 0:
                break
            if not too_long:
                yield number, bytes(pending)
            pending.clear()
            too_long = False
            number += 1
            pos = end + 1
    if pending.strip():
        yield number, bytes(pending)


def looks_like_feed(content: bytes | str, content_type: str = "") -> bool:
    if any(t in content_type for t in ("rss", "atom", "/xml", "+xml")):
        head = content[:2000] if isinstance(content, str) else content[:2000].decode("utf-8", "replace")
        return "<rss" in head or "<feed" in head or "<rdf:RDF" in head
    head = content[:2000] if isinstance(content, str) else content[:2000].decode("utf-8", "replace")
    return bool(re.search(r"<(rss|feed|rdf:RDF)[\s>]", head))


def parse_feed(content: bytes | str, origin: str) -> list[dict[str, Any]]:
    """Feed entries as dicts: link, title, published, authors, content (may be empty)."""
    import feedparser

    parsed = feedparser.parse(content)
    if parsed.bozo and not parsed.entries:
        raise IngestError(origin, f"not a readable RSS/Atom feed ({parsed.bozo_exception})")
    entries = []
    for entry in parsed.entries:
        body = ""
        if entry.get("content"):
            body = entry["content"][0].get("value", "")
        entries.append(
            {
                "link": entry.get("link"),
                "title": entry.get("title"),
                "published": entry.get("published") or entry.get("updated"),
                "authors": [a.get("name", "") for a in entry.get("authors", [])],
                "content": body,
                "source": parsed.feed.get("title"),
            }
        )
    return entries


def is_full_text(content: str) -> bool:
    """Whether a feed entry's content is the whole article, not a teaser (FULL_TEXT_WORDS)."""
    return len(re.sub(r"<[^>]*>", " ", content or "").split()) >= FULL_TEXT_WORDS


# ---------------------------------------------------------------------------- decoding


_WIDE_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # UTF-32's BOMs begin with these too
_BOMS = (  # UTF-32 first: its little-endian mark starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode_text(data: bytes, origin: str) -> str:
    """Bytes → text: by the byte-order mark when there is one (UTF-8, UTF-16 or UTF-32, either
    byte order), else UTF-8, else Windows-1252. Text holding NUL characters is refused as
    binary (UTF-16 without a byte-order mark looks like that too)."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(codec)
            except UnicodeDecodeError as exc:
                raise IngestError(origin, f"starts with a {codec} byte-order mark but is not {codec} text (byte {exc.start + len(bom)})") from exc
            break
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError as exc:
                raise IngestError(origin, "not text: neither UTF-8 nor Windows-1252") from exc
    if "\x00" in text:
        raise IngestError(origin, "binary data, not text (it holds NUL bytes; UTF-16 text needs a byte-order mark)")
    return text


def _read_bytes(path: Path, cap: int, setting: str) -> bytes:
    """The file's bytes, refused when there are more than ``cap`` (named by ``setting``)."""
    origin = str(path)
    try:
        if not path.is_file():
            raise IngestError(origin, "not a regular file")
        size = path.stat().st_size
        if size > cap:
            raise IngestError(origin, f"file is {size:,} bytes, over the {cap:,}-byte limit ({setting})")
        with path.open("rb") as fh:
            data = fh.read(cap + 1)  # the file may have grown since stat
    except OSError as exc:
        raise IngestError(origin, f"cannot read file ({exc.strerror or exc})") from exc
    if len(data) > cap:
        raise IngestError(origin, f"file is over the {cap:,}-byte limit ({setting})")
    return data


# ---------------------------------------------------------------------------- item boundary


def _describe(exc: Exception) -> str:
    """The reason given for an error that is not an IngestError, met while reading one item."""
    if isinstance(exc, RecursionError):
        return "nested too deeply to read"
    if isinstance(exc, (zlib.error, EOFError, gzip.BadGzipFile)):
        return f"corrupt or truncated gzip data ({exc})"
    if isinstance(exc, UnicodeError):
        return f"cannot decode it ({exc})"
    if isinstance(exc, MemoryError):
        return "too large to hold in memory"
    if isinstance(exc, OSError):
        return f"cannot read it ({exc.strerror or exc})"
    return f"unexpected error while reading it ({type(exc).__name__}: {exc})"


def _is_url(item: str) -> bool:
    """http(s) URLs, and anything else with a scheme (so ``file://`` is refused by name)."""
    return bool(re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", item))


# ---------------------------------------------------------------------------- walking items


class Reader:
    """Turns CLI items (paths, directories, URLs) into a stream of articles and failures.

    Two phases, so that the network is never waited on while the index is locked:
    :meth:`fetch` gets everything the items need from the network (URLs, feeds and their
    entries, also feed files inside directories), then :meth:`read` walks the items in order,
    reading local files as it goes and handing back what was fetched. ``is_known(url)`` lets
    feed ingestion skip entries that are already indexed without fetching them again.
    """

    def __init__(
        self,
        fetcher: Fetcher,
        limits: Limits = Limits(),
        is_known: Callable[[str], bool] = lambda url: False,
    ):
        self.fetcher = fetcher
        self.limits = limits
        self.is_known = is_known

    def fetch(self, items: list[str]) -> dict[str, list[Item]]:
        """What the items hold behind the network, keyed by URL or feed file path."""
        fetched: dict[str, list[Item]] = {}
        for item in items:
            if _is_url(item):
                fetched[item] = list(self._guard(item, self._url(item)))
                continue
            for path in self._feed_files(Path(item)):
                fetched[str(path)] = list(self._guard(str(path), self._feed_file(path)))
        return fetched

    def read(self, items: list[str], fetched: dict[str, list[Item]] | None = None) -> Iterator[Item]:
        """Every article and failure of ``items``, in order (fetching now what ``fetched``,
        from :meth:`fetch`, does not hold)."""
        fetched = fetched or {}
        for item in items:
            if item in fetched:
                yield from fetched[item]
            elif _is_url(item):
                yield from self._guard(item, self._url(item))
            else:
                yield from self._guard(item, self._path(Path(item), fetched))

    def _guard(self, where: str, items: Iterator[Item]) -> Iterator[Item]:
        """The per-item boundary. Whatever goes wrong while ``where`` is read becomes its
        failure, with the reason, and the caller goes on with the next item; articles over the
        size limit are refused here. This is the one place in the readers that catches any
        exception: parsers (json, gzip, trafilatura, lxml, feedparser) raise more kinds than
        can be listed, and one bad item must never stop the others."""
        try:
            for item in items:
                yield self._bounded(item)
        except IngestError as exc:
            yield ItemResult(exc.item, "failed", exc.reason)
        except Exception as exc:  # noqa: BLE001 - the documented per-item boundary
            log.debug("reading %s failed", where, exc_info=True)
            yield ItemResult(where, "failed", _describe(exc))

    def _bounded(self, item: Item) -> Item:
        cap = self.limits.max_article_chars
        if isinstance(item, Article) and len(item.text) > cap:
            return ItemResult(
                item.origin, "failed",
                f"article text is {len(item.text):,} characters, over the {cap:,} limit (RETRIEVER_MAX_ARTICLE_CHARS)",
            )
        return item

    def _feed_files(self, path: Path) -> list[Path]:
        """Feed files at ``path`` (itself, or inside it when it is a directory)."""
        try:
            if path.is_dir():
                return sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(FEED_SUFFIXES))
            return [path] if path.name.lower().endswith(FEED_SUFFIXES) and path.is_file() else []
        except OSError:
            return []  # read() names the problem

    def _path(self, path: Path, fetched: dict[str, list[Item]]) -> Iterator[Item]:
        if path.is_dir():
            files = sorted(
                p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(SUPPORTED)
            )
            if not files:
                yield ItemResult(str(path), "failed", "no supported files in directory")
            for file in files:
                if str(file) in fetched:
                    yield from fetched[str(file)]
                else:
                    yield from self._guard(str(file), self._file(file))
            return
        if not path.exists():
            raise IngestError(str(path), "no such file or directory")
        yield from fetched[str(path)] if str(path) in fetched else self._file(path)

    def _file(self, path: Path) -> Iterator[Item]:
        name = path.name.lower()
        origin = str(path)
        limits = self.limits
        if name.endswith(JSONL_SUFFIXES):
            yield from self._jsonl(path)
        elif name.endswith(HTML_SUFFIXES):
            yield read_html(_read_bytes(path, limits.max_html_bytes, "RETRIEVER_MAX_HTML_BYTES"), origin)
        elif name.endswith(FEED_SUFFIXES):
            yield from self._feed_file(path)
        elif name.endswith(TEXT_SUFFIXES):
            # 4 bytes per character at most (UTF-32), plus the byte-order mark
            cap = 4 * limits.max_article_chars + 4
            data = _read_bytes(path, cap, f"RETRIEVER_MAX_ARTICLE_CHARS={limits.max_article_chars:,} characters")
            yield read_text(decode_text(data, origin), origin)
        else:
            raise IngestError(origin, f"unsupported file type (supported: {', '.join(SUPPORTED)})")

    def _jsonl(self, path: Path) -> Iterator[Item]:
        """A .jsonl/.jsonl.gz file, streamed: one line in memory at a time."""
        origin = str(path)
        packed = path.name.lower().endswith(".gz")
        state = {"line": 0}
        failures = 0
        try:
            lines = jsonl_lines(self._blocks(path, packed), self.limits.max_line_bytes)
            for number, line in lines:
                state["line"] = number
                where = f"{origin}:{number}"
                if line is None:
                    item: Item = ItemResult(where, "failed", f"line longer than {self.limits.max_line_bytes:,} bytes (RETRIEVER_MAX_LINE_BYTES)")
                else:
                    if number == 1:
                        line = line.removeprefix(codecs.BOM_UTF8)
                        if line.startswith(_WIDE_BOMS):
                            raise IngestError(origin, "JSONL must be UTF-8 (this file starts with a UTF-16 or UTF-32 byte-order mark)")
                    item = self._bounded(read_jsonl_line(line, where))
                if isinstance(item, ItemResult):
                    failures += 1
                yield item
                if failures >= MAX_FAILED_LINES:
                    raise IngestError(origin, f"stopped after {failures:,} bad lines (line {number:,}); is it JSONL?")
        except (OSError, EOFError, zlib.error) as exc:
            after = f" after line {state['line']:,}" if state["line"] else ""
            what = "corrupt or truncated gzip data" if packed else "cannot read file"
            raise IngestError(origin, f"{what}{after} ({exc}); the lines before it were read") from exc
        if not state["line"]:
            yield ItemResult(origin, "failed", "no JSON lines in the file")

    def _blocks(self, path: Path, packed: bool) -> Iterator[bytes]:
        """The file's bytes, inflated when ``packed``, refused past RETRIEVER_MAX_GZ_BYTES."""
        cap = self.limits.max_gz_bytes
        total = 0
        with (gzip.open(path, "rb") if packed else path.open("rb")) as fh:
            # read1: what one step inflates (never more than asked), so the lines before a
            # corrupt stretch are handed on before the error is met
            while block := fh.read1(BLOCK_BYTES):
                total += len(block)
                if packed and total > cap:
                    raise IngestError(
                        str(path),
                        f"inflates to more than {cap:,} bytes (RETRIEVER_MAX_GZ_BYTES); stopped "
                        "there, the articles before it were read",
                    )
                yield block

    def _feed_file(self, path: Path) -> Iterator[Item]:
        data = _read_bytes(path, self.limits.max_html_bytes, "RETRIEVER_MAX_HTML_BYTES")
        yield from self._feed(data, str(path))

    def _url(self, url: str) -> Iterator[Item]:
        response = self.fetcher.get(url)
        if looks_like_feed(response.body, response.content_type):
            yield from self._feed(response.body, url)
        elif "html" in response.content_type or response.body.lstrip()[:1] == b"<":
            yield read_html(response.body, url, url=response.url)
        elif response.content_type.startswith("text/"):
            yield read_text(decode_text(response.body, url), url, url=response.url)
        else:
            raise IngestError(url, f"unsupported content type {response.content_type!r}")

    def read_feed(self, content: bytes | str, origin: str) -> Iterator[Item]:
        """The entries of a feed already fetched (the watcher's): each is an article or its
        failure; a feed that cannot be parsed is one failure named ``origin``; an empty feed
        yields nothing."""
        return self._guard(origin, self._feed(content, origin, allow_empty=True))

    def _feed(self, content: bytes | str, origin: str, allow_empty: bool = False) -> Iterator[Item]:
        """A feed's entries, fetched a few at a time (at most RETRIEVER_FETCH_PER_HOST per host)
        and all within RETRIEVER_FEED_BUDGET seconds; each entry is its own item. Entries
        already indexed, or published before RETRIEVER_MAX_AGE_DAYS, are not fetched."""
        entries = parse_feed(content, origin)
        if not entries:
            if not allow_empty:
                yield ItemResult(origin, "failed", "feed has no entries")
            return
        cutoff = (date.today() - timedelta(days=self.limits.max_age_days)) if self.limits.max_age_days else None
        until = time.monotonic() + self.limits.feed_budget
        budget = f"the feed's budget of RETRIEVER_FEED_BUDGET={self.limits.feed_budget:g}s"
        hosts: dict[str, threading.Semaphore] = {}
        tasks = []
        for entry in entries:
            link = entry["link"] if isinstance(entry["link"], str) else None
            label = link or f"{origin} entry {entry['title']!r}"
            if link and self.is_known(link):
                tasks.append(ItemResult(label, "unchanged", "already indexed", title=entry["title"]))
                continue
            published = parse_date(entry["published"]) if cutoff else None
            if published and published < cutoff:
                tasks.append(ItemResult(label, "unchanged", f"published {published}, older than "
                                        f"RETRIEVER_MAX_AGE_DAYS={self.limits.max_age_days}: not kept",
                                        title=entry["title"]))
                continue
            host = (urlsplit(link).hostname or "") if link and _is_url(link) else ""
            slot = hosts.setdefault(host, threading.Semaphore(self.limits.fetch_per_host))
            tasks.append((entry, link, label, slot))

        def run(task) -> Item:
            if isinstance(task, ItemResult):
                return task
            entry, link, label, slot = task
            with slot:
                if link and time.monotonic() >= until:
                    return ItemResult(label, "failed", f"not fetched: {budget} ran out")
                results = list(self._guard(label, self._entry(entry, link, label, until, budget)))
            return results[0]

        with ThreadPoolExecutor(max_workers=min(FEED_WORKERS, len(tasks)), thread_name_prefix="feed") as pool:
            yield from pool.map(run, tasks)

    def _entry(self, entry: dict[str, Any], link: str | None, label: str, until: float, budget: str) -> Iterator[Item]:
        if link and not is_full_text(entry["content"]):
            response = self.fetcher.get(link, until=until, budget=budget)
            article = read_html(response.body, link, url=response.url)
            title = article.title or entry["title"]
        else:  # the entry is the article: its own title, not one guessed from the text
            article = read_html(entry["content"], label, url=link)
            title = entry["title"] or article.title
        yield make_article(
            text=article.text,
            title=title,
            url=article.url or link,
            source=article.source or entry["source"],
            # The feed's own date first: for a full-text entry the extractor can only guess one
            # from the text (a year it mentions), which put 70 of 148 replayed articles in 2013.
            published=entry["published"] or article.published,
            authors=article.authors or entry["authors"],
            origin=label,
        )
