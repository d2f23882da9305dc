"""The fetch guard (retrieval/fetch.py): SSRF refusals, the allow setting, deadlines, feed
budgets and per-host concurrency, and fetching without the index's write lock.

All traffic stays on 127.0.0.1. Addresses that must never be connected to (169.254.169.254,
10.x, ...) are checked with the guard's address check alone, never by fetching them.
"""

from __future__ import annotations

import http.server
import ipaddress
import socket
import threading
import time

import pytest
from click.testing import CliRunner

from retrieval import Settings
from retrieval.cli import cli
from retrieval.embeddings import HashEmbedder
from retrieval.fetch import AllowList, Fetcher, why_not_public
from support import LOOPBACK, SEED, LocalSite, article_html

STORY = article_html("Harbour bridge reopens", [
    "The harbour bridge reopened on Saturday after six weeks of storm repairs, the city said.",
    "Mayor Dana Ruiz thanked the crews who had worked through the night."], canonical="https://news.example/bridge")
SECRET = article_html("Internal admin page", ["Database password and the staff phone list."],
                      canonical="http://internal.example/admin")


def ingest(index, *items, allow: str | None = None, **env):
    """``retriever ingest`` through click, with the hash embedder and, unless given, no allow list."""
    environment = {"RETRIEVER_MODEL": "hash-256", "RETRIEVER_FETCH_ALLOW": allow or ""}
    environment.update({f"RETRIEVER_{k.upper()}": str(v) for k, v in env.items()})
    result = CliRunner().invoke(cli, ["--index", str(index), "ingest", *map(str, items)], env=environment)
    return result.exit_code, result.output


@pytest.fixture
def other_site():
    s = LocalSite()
    yield s
    s.close()


# ---------------------------------------------------------------------------- the address check


@pytest.mark.parametrize("address, reason", [
    ("169.254.169.254", "link-local"),  # cloud metadata
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "CGNAT"),
    ("100.100.100.200", "CGNAT"),  # a cloud metadata service in the shared range
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "private"),
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.2.1", "private"),  # documentation range
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "link-local"),
    ("::ffff:10.0.0.1", "private"),
    ("2002:a9fe:a9fe::1", "link-local"),  # 6to4 around 169.254.169.254
    ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 around 169.254.169.254
    ("2001:db8::1", "private"),  # documentation range
])
def test_non_public_addresses_are_refused_with_the_reason(address, reason):
    assert reason in (why_not_public(ipaddress.ip_address(address)) or "")


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    assert why_not_public(ipaddress.ip_address(address)) is None


def test_allow_list_hosts_addresses_and_networks():
    allow = AllowList.parse(" Intranet.Example. , 127.0.0.1,10.0.0.0/8, [fd00::1] ")
    assert allow.allows("intranet.example", ipaddress.ip_address("10.9.9.9"))
    assert allow.allows("anything", ipaddress.ip_address("10.200.0.1"))
    assert allow.allows("x", ipaddress.ip_address("::ffff:127.0.0.1"))  # mapped form of an allowed one
    assert allow.allows("x", ipaddress.ip_address("fd00::1"))
    assert not allow.allows("x", ipaddress.ip_address("127.0.0.2"))
    assert not allow.allows("x", ipaddress.ip_address("169.254.169.254"))
    with pytest.raises(ValueError, match="not a host name"):
        AllowList.parse("good.example, bad host!")


def test_bad_allow_setting_is_named(tmp_path):
    code, output = ingest(tmp_path / "index", SEED, allow="10.0.0.0/8, not a host!")
    assert code == 1
    assert "RETRIEVER_FETCH_ALLOW" in output and "not a host!" in output


# ---------------------------------------------------------------------------- SSRF through the CLI


SPELLINGS = [
    "http://127.0.0.1:{port}/secret",
    "http://localhost:{port}/secret",
    "http://LOCALHOST:{port}/secret",
    "http://2130706433:{port}/secret",  # decimal
    "http://0x7f000001:{port}/secret",  # hex
    "http://017700000001:{port}/secret",  # octal
    "http://127.1:{port}/secret",  # short
    "http://0.0.0.0:{port}/secret",  # reaches this machine on Linux
    "http://[::ffff:127.0.0.1]:{port}/secret",  # IPv4-mapped IPv6
    "http://[::1]:{port}/secret",
    "https://127.0.0.1:{port}/secret",
    "http://user:pw@127.0.0.1:{port}/secret",
]


def test_every_spelling_of_this_machine_is_refused_before_connecting(tmp_path, site):
    site.add("/secret", SECRET)
    urls = [s.format(port=site.port) for s in SPELLINGS]
    code, output = ingest(tmp_path / "index", *urls, SEED)
    assert code == 1
    for url in urls:
        line = next(line for line in output.splitlines() if line.startswith(f"failed: {url}: "))
        assert "refused" in line and "RETRIEVER_FETCH_ALLOW" in line, line
        assert "loopback" in line or "unspecified" in line, line
    assert "resolves to 127.0.0.1, a loopback address" in output  # the address is named
    assert site.connections == 0 and site.requests == []
    assert "added 1" in output  # the good item of the same command is stored


def test_allowed_with_the_setting(tmp_path, site):
    site.add("/story", STORY)
    code, output = ingest(tmp_path / "index", f"http://127.0.0.1:{site.port}/story", allow=LOOPBACK)
    assert code == 0 and "added 1" in output, output
    code, output = ingest(tmp_path / "index2", f"http://2130706433:{site.port}/story", allow="127.0.0.0/8")
    assert code == 0 and "added 1" in output, output
    assert site.requests == ["/story", "/story"]


def test_redirect_to_an_internal_address_is_refused(tmp_path, site, other_site):
    """The first hop is allowed (by host name); the hop it redirects to is checked again."""
    other_site.add("/secret", SECRET)
    site.add("/go", f"http://127.0.0.1:{other_site.port}/secret", status=302)
    url = f"http://localhost:{site.port}/go"
    code, output = ingest(tmp_path / "index", url, allow="localhost")
    assert code == 1
    assert f"failed: {url}: refused: redirected to http://127.0.0.1:{other_site.port}/secret" in output
    assert site.requests == ["/go"]
    assert other_site.connections == 0


def test_feed_entry_linking_inside_is_refused(tmp_path, site, other_site):
    other_site.add("/secret", SECRET)
    story = site.add("/story", STORY).replace("127.0.0.1", "localhost")
    secret = f"http://127.0.0.1:{other_site.port}/secret"
    items = "".join(f"<item><title>{i}</title><link>{link}</link></item>" for i, link in enumerate([secret, story]))
    site.add("/feed.xml", f'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>{items}</channel></rss>',
             content_type="application/rss+xml")
    code, output = ingest(tmp_path / "index", f"http://localhost:{site.port}/feed.xml", allow="localhost")
    assert code == 1
    assert f"failed: {secret}: refused: 127.0.0.1 is a loopback address" in output
    assert "added 1" in output  # the public-enough entry of the same feed
    assert other_site.connections == 0


def test_other_schemes_and_malformed_urls_are_named(tmp_path):
    code, output = ingest(tmp_path / "index", "file:///etc/passwd", "gopher://127.0.0.1:70/", "http://[::1", SEED)
    assert code == 1
    assert "failed: file:///etc/passwd: refused: only http:// and https://" in output
    assert "failed: gopher://127.0.0.1:70/: refused: only http:// and https://" in output
    assert "failed: http://[::1: malformed URL" in output
    assert "added 1" in output


# ---------------------------------------------------------------------------- deadlines and budgets


class _SlowServer:
    """Raw HTTP on 127.0.0.1: ``trickle`` sends headers, then one body byte every ``every`` s;
    ``hang`` never answers. Counts connections and the most open at once."""

    def __init__(self, mode: str, every: float = 0.25):
        self.mode, self.every = mode, every
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.open = self.peak = self.connections = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with self.lock:
            self.connections += 1
            self.open += 1
            self.peak = max(self.peak, self.open)
        try:
            conn.recv(65536)
            if self.mode == "trickle":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n")
                while not self.stop.wait(self.every):
                    conn.sendall(b"a")
            else:
                while conn.recv(1):  # until the client gives up
                    pass
        except OSError:
            pass
        finally:
            conn.close()
            with self.lock:
                self.open -= 1

    def close(self):
        self.stop.set()
        self.sock.close()


def test_a_trickling_server_is_cut_at_the_deadline():
    server = _SlowServer("trickle")
    fetcher = Fetcher(timeout=5, deadline=1.5, allow=LOOPBACK)
    started = time.monotonic()
    try:
        with pytest.raises(Exception) as caught:
            fetcher.get(f"http://127.0.0.1:{server.port}/slow")
    finally:
        fetcher.close()
        server.close()
    elapsed = time.monotonic() - started
    assert "gave up: not complete within RETRIEVER_FETCH_DEADLINE=1.5s" in str(caught.value)
    assert elapsed < 5, elapsed  # each byte came well within the 5 s step timeout


def test_feed_entries_bounded_per_host_and_by_the_feed_budget(tmp_path, site):
    hang = _SlowServer("hang")
    links = [f"http://127.0.0.1:{hang.port}/entry{i}" for i in range(12)]
    items = "".join(f"<item><title>{i}</title><link>{link}</link></item>" for i, link in enumerate(links))
    feed = site.add("/feed.xml", f'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>{items}</channel></rss>',
                    content_type="application/rss+xml")
    started = time.monotonic()
    try:
        code, output = ingest(tmp_path / "index", feed, allow=LOOPBACK, feed_budget=2, fetch_per_host=3,
                              fetch_deadline=30)
    finally:
        hang.close()
    elapsed = time.monotonic() - started
    assert code == 1
    failed = [line for line in output.splitlines() if line.startswith("failed: ")]
    assert len(failed) == len(links)
    assert all("RETRIEVER_FEED_BUDGET=2s" in line for line in failed), failed
    assert hang.peak <= 3 and hang.connections <= 3  # never more than three at once to one host
    assert elapsed < 20, elapsed  # not 12 entries x 30 s


def test_fetching_does_not_hold_the_write_lock(tmp_path):
    """While one ingest waits on a slow server, another writer can ingest into the same index."""
    from retrieval.engine import Engine

    release = threading.Event()
    asked = threading.Event()

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            asked.set()
            release.wait(30)
            body = STORY.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = Settings(index=tmp_path / "index", fetch_allow=LOOPBACK)
    first = Engine.open(settings, embedder=HashEmbedder(), create=True)
    first.ingest([str(SEED)])
    second = Engine.open(settings, embedder=HashEmbedder())
    reports = {}
    fetching = threading.Thread(target=lambda: reports.update(url=first.ingest([f"http://127.0.0.1:{server.server_address[1]}/s"])))
    try:
        fetching.start()
        assert asked.wait(10)
        bridge = tmp_path / "bridge.txt"
        bridge.write_text("Harbour bridge reopens after repairs\n\nThe harbour bridge reopened on Saturday after six weeks.\n")
        local = second.ingest([str(bridge)])  # IndexLockedError if the fetch held the lock
        assert local.count("added") == 1, local.results
    finally:
        release.set()
        fetching.join(30)
        server.shutdown()
        server.server_close()
    assert reports["url"].count("added") == 1, reports["url"].results
    assert first.store.counts()[0] == 3
    first.close()
    second.close()


def test_https_connects_to_the_checked_address_and_verifies_the_host_name(tmp_path):
    """TLS through the guarded backend: SNI and certificate checks use the URL's host name
    (a certificate for localhost passes for https://localhost, fails for https://127.0.0.1)."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificate for the local TLS server")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)
    site = LocalSite()
    site.add("/story", STORY)
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)
    site.server.socket = server_side.wrap_socket(site.server.socket, server_side=True)
    client_side = ssl.create_default_context(cafile=str(cert))
    fetcher = Fetcher(allow="localhost,127.0.0.1", ssl_context=client_side, deadline=10)
    try:
        response = fetcher.get(f"https://localhost:{site.port}/story")
        assert b"Harbour bridge reopens" in response.body
        with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED|doesn't match|not valid for"):
            fetcher.get(f"https://127.0.0.1:{site.port}/story")
    finally:
        fetcher.close()
        site.close()


def test_gzip_bodies_are_decoded_within_the_cap_and_bad_locations_named():
    import gzip

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path == "/bad-location":
                self.send_response(302)
                self.send_header("Location", "http://[::1")
                self.end_headers()
                return
            body = gzip.compress(STORY.encode() if self.path == "/story" else b"\0" * 20_000_000)
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    fetcher = Fetcher(allow=LOOPBACK, max_bytes=1_000_000)
    try:
        assert fetcher.get(base + "/story").body == STORY.encode()
        with pytest.raises(Exception, match=r"response too large \(over 1000000 bytes"):
            fetcher.get(base + "/bomb")  # 20 MB of zeros in ~20 KB of gzip
        with pytest.raises(Exception, match=r"malformed URL 'http://\[::1'"):
            fetcher.get(base + "/bad-location")
    finally:
        fetcher.close()
        server.shutdown()
        server.server_close()
