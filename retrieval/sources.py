"""Readers: files, directories, URLs and feeds → :class:`Article`.

Formats are detected from the name and, for URLs, from the response:

* ``.txt`` / ``.md`` — one article, optional front matter, boilerplate stripped (clean.py)
* ``.html`` / ``.htm`` — main text and metadata extracted with trafilatura
* ``.jsonl`` / ``.jsonl.gz`` — one article per line (url, title, text, source, published, authors)
* ``.xml`` / ``.rss`` / ``.atom`` and feed URLs — every entry's article is fetched
* directories — walked recursively; ``http(s)://`` — fetched with httpx

Each item that cannot be read is reported as a failed :class:`ItemResult` naming the item and
the reason; the others go on.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from retrieval.clean import clean_text
from retrieval.errors import FetchError, IngestError
from retrieval.types import Article, ItemResult, article_id_for

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson")
FEED_SUFFIXES = (".rss", ".atom", ".xml")
SUPPORTED = TEXT_SUFFIXES + HTML_SUFFIXES + JSONL_SUFFIXES + FEED_SUFFIXES

_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.S)

Item = Article | ItemResult  # what readers yield: an article, or a failure naming the item


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
    host = urlparse(url).hostname or ""
    return host.removeprefix("www.") or None


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
    """Validate fields and build an Article; raises IngestError naming ``origin``."""
    text = (text or "").strip()
    if not text:
        raise IngestError(origin, "no article text found")
    url = (url or "").strip() or None
    if url and not re.match(r"https?://", url):
        raise IngestError(origin, f"url must start with http:// or https:// (got {url!r})")
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
    """One JSONL object (url, title, text, source, published, authors) → Article."""
    return make_article(
        text=row.get("text", ""),
        title=row.get("title"),
        url=row.get("url"),
        source=row.get("source"),
        published=row.get("published"),
        authors=row.get("authors"),
        origin=origin,
    )


def read_jsonl(lines: Iterator[str], origin: str) -> Iterator[Item]:
    """One article per line; a bad line is reported as ``FILE:LINE`` and skipped."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{origin}:{number}"
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise IngestError(where, "line is not a JSON object")
            yield article_from_row(row, where)
        except json.JSONDecodeError as exc:
            yield ItemResult(where, "failed", f"invalid JSON ({exc.msg})")
        except IngestError as exc:
            yield ItemResult(where, "failed", exc.reason)


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


# ---------------------------------------------------------------------------- walking items


class Reader:
    """Turns CLI items (paths, directories, URLs) into a stream of articles and failures.

    ``is_known(url)`` lets feed ingestion skip entries that are already indexed without
    fetching them again.
    """

    def __init__(self, fetcher: "Fetcher", is_known: Callable[[str], bool] = lambda url: False):
        self.fetcher = fetcher
        self.is_known = is_known

    def read(self, items: list[str]) -> Iterator[Item]:
        for item in items:
            try:
                if re.match(r"https?://", item):
                    yield from self._url(item)
                else:
                    yield from self._path(Path(item))
            except IngestError as exc:
                yield ItemResult(exc.item, "failed", exc.reason)

    def _path(self, path: Path) -> Iterator[Item]:
        if path.is_dir():
            files = sorted(
                p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(SUPPORTED)
            )
            if not files:
                yield ItemResult(str(path), "failed", "no supported files in directory")
            for file in files:
                try:
                    yield from self._file(file)
                except IngestError as exc:
                    yield ItemResult(exc.item, "failed", exc.reason)
            return
        if not path.exists():
            raise IngestError(str(path), "no such file or directory")
        yield from self._file(path)

    def _file(self, path: Path) -> Iterator[Item]:
        name = path.name.lower()
        origin = str(path)
        if name.endswith(JSONL_SUFFIXES):
            opener = gzip.open if name.endswith(".gz") else open
            try:
                with opener(path, "rt", encoding="utf-8") as fh:
                    yield from read_jsonl(iter(fh), origin)
            except (OSError, UnicodeDecodeError, EOFError) as exc:
                raise IngestError(origin, f"cannot read file ({exc})") from exc
            return
        data = _read_bytes(path)
        if name.endswith(HTML_SUFFIXES):
            yield read_html(data, origin)
        elif name.endswith(FEED_SUFFIXES):
            yield from self._feed(data, origin)
        elif name.endswith(TEXT_SUFFIXES):
            yield read_text(_decode(data, origin), origin)
        else:
            raise IngestError(origin, f"unsupported file type (supported: {', '.join(SUPPORTED)})")

    def _url(self, url: str) -> Iterator[Item]:
        response = self.fetcher.get(url)
        if looks_like_feed(response.body, response.content_type):
            yield from self._feed(response.body, url)
        elif "html" in response.content_type or response.body.lstrip()[:1] == b"<":
            yield read_html(response.body, url, url=response.url)
        elif response.content_type.startswith("text/"):
            yield read_text(_decode(response.body, url), url, url=response.url)
        else:
            raise IngestError(url, f"unsupported content type {response.content_type!r}")

    def _feed(self, content: bytes | str, origin: str) -> Iterator[Item]:
        entries = parse_feed(content, origin)
        if not entries:
            yield ItemResult(origin, "failed", "feed has no entries")
        for entry in entries:
            link = entry["link"]
            label = link or f"{origin} entry {entry['title']!r}"
            if link and self.is_known(link):
                yield ItemResult(label, "unchanged", "already indexed", title=entry["title"])
                continue
            try:
                if link:
                    response = self.fetcher.get(link)
                    article = read_html(response.body, link, url=response.url)
                else:
                    article = read_html(entry["content"], label)
                yield make_article(
                    text=article.text,
                    title=article.title or entry["title"],
                    url=article.url or link,
                    source=article.source or entry["source"],
                    published=article.published or entry["published"],
                    authors=article.authors or entry["authors"],
                    origin=label,
                )
            except IngestError as exc:
                yield ItemResult(label, "failed", exc.reason)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IngestError(str(path), f"cannot read file ({exc.strerror or exc})") from exc


def _decode(data: bytes, origin: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise IngestError(origin, "file is not UTF-8 text") from exc


# ---------------------------------------------------------------------------- fetching


class Response:
    def __init__(self, url: str, body: bytes, content_type: str):
        self.url = url
        self.body = body
        self.content_type = content_type


class Fetcher:
    """HTTP GET with a timeout, redirects and a body size cap (httpx)."""

    def __init__(self, timeout: float = 20.0, max_bytes: int = 5_000_000, user_agent: str = ""):
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.user_agent = user_agent
        self._client = None

    def _http(self):
        if self._client is None:
            import httpx

            self._client = httpx.Client(
                timeout=self.timeout,
                follow_redirects=True,
                max_redirects=5,
                headers={"User-Agent": self.user_agent} if self.user_agent else {},
            )
        return self._client

    def get(self, url: str) -> Response:
        import httpx

        try:
            with self._http().stream("GET", url) as response:
                if response.status_code >= 400:
                    raise FetchError(url, f"HTTP {response.status_code}")
                declared = int(response.headers.get("content-length") or 0)
                if declared > self.max_bytes:
                    raise FetchError(url, f"response too large ({declared} > {self.max_bytes} bytes)")
                body = bytearray()
                for block in response.iter_bytes():
                    body.extend(block)
                    if len(body) > self.max_bytes:
                        raise FetchError(url, f"response too large (over {self.max_bytes} bytes)")
                content_type = response.headers.get("content-type", "").split(";")[0].strip()
                return Response(str(response.url), bytes(body), content_type.lower())
        except httpx.TimeoutException as exc:
            raise FetchError(url, f"timed out after {self.timeout:g}s") from exc
        except httpx.TooManyRedirects as exc:
            raise FetchError(url, "too many redirects") from exc
        except httpx.HTTPError as exc:
            raise FetchError(url, f"cannot fetch ({exc.__class__.__name__}: {exc})") from exc

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
