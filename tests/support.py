"""Test helpers shared by several modules (imported as ``support``; fixtures live in conftest)."""

from __future__ import annotations

import hashlib
import http.server
import os
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "corpus" / "000_1630563cb37a9090.txt"
SHARED = ROOT.parent / "shared"
#: RETRIEVER_FETCH_ALLOW for tests that ingest from a LocalSite (the guard refuses loopback).
LOOPBACK = "127.0.0.1"
#: The release check against a real Milvus (docs/SCALE_OUT.md): with TEST_MILVUS_URI set, the
#: store tests put their collections on that server (analyzer TEST_MILVUS_ANALYZER, default
#: english), one prefix per test folder; without it, on milvus-lite in the test's tmp_path.
TEST_MILVUS_URI = os.environ.get("TEST_MILVUS_URI", "")


def milvus_fields(folder: Path) -> dict[str, str]:
    """The Milvus settings of a test whose files live in ``folder``."""
    if TEST_MILVUS_URI:
        prefix = "t" + hashlib.sha1(str(folder).encode()).hexdigest()[:12]
        return {"milvus_uri": TEST_MILVUS_URI, "milvus_collection": prefix,
                "milvus_analyzer": os.environ.get("TEST_MILVUS_ANALYZER", "english")}
    return {"milvus_uri": str(folder / "milvus.db"), "milvus_analyzer": "standard"}


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, str, bytes]] = {}
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server API
        self.requests.append(self.path)
        status, content_type, body = self.routes.get(self.path, (404, "text/plain", b"not found"))
        if status in (301, 302):
            self.send_response(status)
            self.send_header("Location", body.decode())
            self.end_headers()
            return
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _CountingServer(http.server.ThreadingHTTPServer):
    """Counts accepted connections, so a test can assert that nothing connected at all."""

    connections = 0

    def process_request(self, request, client_address):
        self.connections += 1
        super().process_request(request, client_address)


class LocalSite:
    """A real HTTP server on 127.0.0.1 serving registered paths; ``requests`` lists the paths
    asked for and ``connections`` counts the connections accepted."""

    def __init__(self):
        handler = type("Handler", (_Handler,), {"routes": {}, "requests": []})
        self.routes = handler.routes
        self.requests = handler.requests
        self.server = _CountingServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def connections(self) -> int:
        return self.server.connections

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, path: str, body: str | bytes, content_type: str = "text/html", status: int = 200) -> str:
        self.routes[path] = (status, content_type, body.encode() if isinstance(body, str) else body)
        return self.base + path

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def article_html(title: str, body_paragraphs: list[str], *, canonical: str, date: str = "2024-03-05",
                 author: str = "Jane Doe", site_name: str = "Example News") -> str:
    paragraphs = "".join(f"<p>{p}</p>" for p in body_paragraphs)
    return (
        f"<html><head><title>{title} | {site_name}</title>"
        f'<link rel="canonical" href="{canonical}">'
        f'<meta property="og:site_name" content="{site_name}">'
        f'<meta name="author" content="{author}">'
        f'<meta property="article:published_time" content="{date}T09:00:00Z">'
        f"</head><body><nav>Home | World | Sport</nav><article><h1>{title}</h1>{paragraphs}</article>"
        f"<footer>Copyright Example News</footer></body></html>"
    )
