"""A news site on 127.0.0.1 whose RSS feed changes while a test runs (imported as ``feed_site``).

The feed answers conditional requests as real servers do (ETag and Last-Modified, 304 when
nothing changed), can be made to fail with an HTTP status, and the articles can be made slow.
``requests`` lists every (path, headers) asked for; ``max_parallel`` is the most requests that
were in progress at once, for the one-request-per-host rule.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from email.utils import formatdate
from html import escape

WORDS = ("harbour", "council", "budget", "river", "school", "railway", "museum", "festival",
         "election", "hospital", "bridge", "market", "airport", "library", "stadium", "forest")


def story(n: int, words: int = 60) -> str:
    """A paragraph about story ``n``: a word only it has (``storyword<n>``) plus filler."""
    filler = " ".join(WORDS[(n * 7 + i) % len(WORDS)] for i in range(words))
    return f"Officials confirmed storyword{n} on Monday. The {filler} plans were discussed at length."


class FeedSite:
    def __init__(self, title: str = "Loopback News"):
        self.title = title
        self.entries: list[dict] = []  # link path, title, published, content (or "")
        self.pages: dict[str, str] = {}
        self.feed_status = 200
        self.page_delay = 0.0
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.max_parallel = 0
        self._active = 0
        self._lock = threading.Lock()
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server API
                site._enter(self.path, dict(self.headers))
                try:
                    site._answer(self)
                finally:
                    site._leave()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def feed_url(self) -> str:
        return self.base + "/feed.xml"

    def publish(self, n: int, *, published: str = "Mon, 04 Mar 2024 09:00:00 GMT",
                full_text: bool = False, words: int = 60) -> str:
        """Add story ``n`` to the feed (as its first entry, like news feeds), with its page;
        ``full_text`` puts the whole article in ``content:encoded``. Returns its URL."""
        path = f"/story/{n}"
        text = story(n, words)
        self.pages[path] = (
            f"<html><head><title>Story {n} | Loopback News</title>"
            f'<link rel="canonical" href="{self.base}{path}"></head><body><article>'
            f"<h1>Story {n}</h1><p>{text}</p><p>{story(n + 1000, words)}</p></article></body></html>")
        content = f"<p>{text}</p><p>{story(n + 1000, words)}</p>" if full_text else ""
        self.entries.insert(0, {"path": path, "title": f"Story {n}", "published": published,
                                "content": content})
        return self.base + path

    def feed(self) -> bytes:
        items = []
        for e in self.entries:
            body = f"<content:encoded>{escape(e['content'])}</content:encoded>" if e["content"] else ""
            items.append(f"<item><title>{e['title']}</title><link>{self.base}{e['path']}</link>"
                         f"<pubDate>{e['published']}</pubDate><description>Teaser.</description>{body}</item>")
        return ('<?xml version="1.0"?><rss version="2.0" '
                'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
                f"<title>{self.title}</title>{''.join(items)}</channel></rss>").encode()

    def story_requests(self) -> list[str]:
        return [path for path, _ in self.requests if path.startswith("/story/")]

    def feed_requests(self) -> list[dict[str, str]]:
        return [headers for path, headers in self.requests if path == "/feed.xml"]

    def _enter(self, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append((path, headers))
            self._active += 1
            self.max_parallel = max(self.max_parallel, self._active)

    def _leave(self) -> None:
        with self._lock:
            self._active -= 1

    def _answer(self, handler) -> None:
        path = handler.path
        if path == "/feed.xml":
            if self.feed_status != 200:
                return self._send(handler, self.feed_status, "text/plain", b"broken")
            body = self.feed()
            etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            if handler.headers.get("If-None-Match") == etag:
                handler.send_response(304)
                handler.send_header("ETag", etag)
                handler.end_headers()
                return None
            return self._send(handler, 200, "application/rss+xml", body,
                              {"ETag": etag, "Last-Modified": formatdate(usegmt=True)})
        if path in self.pages:
            if self.page_delay:
                time.sleep(self.page_delay)  # a slow server, so a test can act mid-poll
            return self._send(handler, 200, "text/html", self.pages[path].encode())
        return self._send(handler, 404, "text/plain", b"not found")

    @staticmethod
    def _send(handler, status: int, content_type: str, body: bytes, headers: dict | None = None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
