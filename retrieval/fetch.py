"""Fetching URLs: the one place the engine talks to the network, guarded against SSRF.

Every fetch goes through :meth:`Fetcher.get`: a URL given to ``retriever ingest``, a feed and
each of its entries' links, the bot's ``/add``. Anyone who can put a URL into an index (a CLI
user, a bot admin, the author of any feed) must not be able to make the engine read an
internal page and index it where every user can search it, so a fetch:

* accepts ``http`` and ``https`` URLs only;
* resolves the host itself and refuses it when any of its addresses is loopback, private
  (RFC 1918, fc00::/7), shared (100.64.0.0/10, CGNAT), link-local (169.254.0.0/16 with the
  cloud metadata service, fe80::/10), multicast, unspecified or otherwise reserved. The check is
  made on the resolved address, so every spelling of it is caught: ``2130706433``,
  ``0x7f000001``, ``127.1``, ``0.0.0.0``, ``[::ffff:127.0.0.1]``, and IPv4 inside 6to4, Teredo
  and NAT64 addresses;
* connects to the very address it checked: the check lives in the network backend that
  httpcore calls to open a socket, which resolves the name once and hands the socket layer the
  literal address, so DNS cannot answer differently in between. TLS still verifies the
  certificate for the host name (SNI and the ``Host`` header are the URL's own);
* follows redirects itself, at most :data:`MAX_REDIRECTS`, and every hop opens its connection
  through the same check;
* finishes within a deadline (``RETRIEVER_FETCH_DEADLINE``) that covers resolving, connecting,
  every redirect and every byte, so a server trickling one byte at a time is cut off; each
  single step also has its own timeout (``RETRIEVER_FETCH_TIMEOUT``). Bodies are capped at
  ``RETRIEVER_FETCH_MAX_BYTES`` (after gzip decoding, which is itself bounded).

``RETRIEVER_FETCH_ALLOW`` lets named hosts, addresses or networks through although they are
not public (an intranet news source; the tests' loopback servers). Environment proxies are not
used: a proxy would do its own lookups, out of reach of the check.
"""

from __future__ import annotations

import contextvars
import ipaddress
import re
import socket
import ssl
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Any

from retrieval.errors import FetchError

#: Redirect hops followed per fetch (browsers allow ~20; news links need one or two).
MAX_REDIRECTS = 5

_REDIRECTS = (301, 302, 303, 307, 308)
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HOST_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?$")

#: The time.monotonic() by which the fetch running in this thread must be done; read by the
#: guarded streams on every connect, read and write (a pooled connection serves many fetches).
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("fetch_deadline", default=None)


# ---------------------------------------------------------------------------- the address check


def why_not_public(address: _Address) -> str | None:
    """Why ``address`` must not be fetched from (None for a public address)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d is a.b.c.d on the wire
            return why_not_public(address.ipv4_mapped)
        embedded = [address.sixtofour, address.teredo[1] if address.teredo else None]
        if address in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        for inner in embedded:
            reason = why_not_public(inner) if inner is not None else None
            if reason:
                return f"{reason} ({inner}) inside an IPv6 address"
    if address.is_unspecified:
        return "an unspecified address (it reaches this machine)"
    if address.is_loopback:
        return "a loopback address (this machine)"
    if address.is_link_local:
        return "a link-local address (cloud metadata services live there)"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "a shared (CGNAT) address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "a reserved address"
    return None


@dataclass(frozen=True)
class AllowList:
    """Hosts, addresses and networks fetched from although they are not public."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[_Network, ...] = ()

    @classmethod
    def parse(cls, spec: str) -> "AllowList":
        """``"intranet.example, 127.0.0.1, 10.0.0.0/8"`` → AllowList; ValueError names a bad entry."""
        hosts: set[str] = set()
        networks: list[_Network] = []
        for entry in (e.strip() for e in spec.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            name = _normal_host(entry)
            if not _HOST_NAME.match(name):
                raise ValueError(f"{entry!r} is not a host name, an address or a network")
            hosts.add(name)
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, host: str, address: _Address) -> bool:
        if _normal_host(host) in self.hosts:
            return True
        candidates = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(a in net for a in candidates for net in self.networks if a.version == net.version)


def _normal_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


class _Refused(Exception):
    """Raised inside the network backend; :meth:`Fetcher.get` turns it into a FetchError."""

    def __init__(self, host: str, address: _Address, reason: str):
        shown = str(address)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            shown += f" ({address.ipv4_mapped})"
        same = _normal_host(host) == str(address)
        super().__init__(f"{host} is {reason}" if same else f"{host} resolves to {shown}, {reason}")


# ---------------------------------------------------------------------------- network backend


def _remaining(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` shortened to what is left of this fetch's deadline; raises ``error`` when
    nothing is left."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("fetch deadline reached")
    return left if timeout is None else min(timeout, left)


def _resolve(host: str, port: int, timeout: float | None) -> list[tuple[Any, ...]]:
    """getaddrinfo, given up after ``timeout`` seconds (the C call itself cannot be cut short,
    so it runs in a daemon thread that is left to finish on its own)."""
    import httpcore

    answer: dict[str, Any] = {}

    def lookup() -> None:
        try:
            answer["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            answer["error"] = exc

    worker = threading.Thread(target=lookup, name="fetch-resolve", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise httpcore.ConnectTimeout(f"no DNS answer for {host}")
    if "error" in answer:
        exc = answer["error"]
        raise httpcore.ConnectError(f"cannot resolve {host} ({getattr(exc, 'strerror', None) or exc})")
    return answer["infos"]


def _backend(allow: AllowList):
    """An httpcore network backend that checks every address before it connects to it."""
    import httpcore

    class GuardedStream(httpcore.NetworkStream):
        """Every read and write (and the TLS handshake) bounded by the fetch deadline."""

        def __init__(self, inner: httpcore.NetworkStream):
            self._inner = inner

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            return self._inner.read(max_bytes, _remaining(timeout, httpcore.ReadTimeout))

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            self._inner.write(buffer, _remaining(timeout, httpcore.WriteTimeout))

        def close(self) -> None:
            self._inner.close()

        def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> "GuardedStream":
            timeout = _remaining(timeout, httpcore.ConnectTimeout)
            return GuardedStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    class GuardedBackend(httpcore.SyncBackend):
        def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
            infos = _resolve(host, port, _remaining(timeout, httpcore.ConnectTimeout))
            addresses = []
            for info in infos:
                address = ipaddress.ip_address(info[4][0].split("%")[0])
                if address not in addresses:
                    addresses.append(address)
            # A name is refused when any of its addresses is: an attacker's DNS could list a
            # public address first and a private one second.
            for address in addresses:
                reason = None if allow.allows(host, address) else why_not_public(address)
                if reason:
                    raise _Refused(host, address, reason)
            last: Exception | None = None
            for address in addresses:
                try:  # the literal address: create_connection does no lookup for it
                    stream = super().connect_tcp(
                        str(address), port, _remaining(timeout, httpcore.ConnectTimeout),
                        local_address, socket_options,
                    )
                    return GuardedStream(stream)
                except httpcore.ConnectError as exc:
                    last = exc
            raise last or httpcore.ConnectError(f"no address for {host}")

    return GuardedBackend()


# ---------------------------------------------------------------------------- the fetcher


@dataclass(frozen=True)
class Response:
    url: str  # after redirects
    body: bytes
    content_type: str  # lower case, without parameters
    status: int = 200  # 304 (empty body) when a conditional request found nothing new
    etag: str | None = None  # validators for the next conditional request
    last_modified: str | None = None


class Fetcher:
    """HTTP(S) GET with the SSRF guard, a deadline, manual redirects and a body size cap.

    Thread-safe: feed entries are fetched from several threads at once, sharing the pool.
    """

    def __init__(
        self,
        *,
        timeout: float = 20.0,
        deadline: float = 30.0,
        max_bytes: int = 5_000_000,
        user_agent: str = "",
        allow: AllowList | str = "",
        ssl_context: ssl.SSLContext | None = None,
    ):
        """``ssl_context``: whom to trust for https (default: the system's and certifi's CAs;
        tests pass one that trusts their own certificate)."""
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.user_agent = user_agent
        self.allow = AllowList.parse(allow) if isinstance(allow, str) else allow
        self._pool = None
        self._pool_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings) -> "Fetcher":
        return cls(
            timeout=settings.fetch_timeout,
            deadline=settings.fetch_deadline,
            max_bytes=settings.fetch_max_bytes,
            user_agent=settings.user_agent,
            allow=settings.fetch_allow,
        )

    def _connections(self):
        with self._pool_lock:
            if self._pool is None:
                import httpcore
                import httpx

                self._pool = httpcore.ConnectionPool(
                    ssl_context=self.ssl_context or httpx.create_ssl_context(),
                    max_connections=32,
                    network_backend=_backend(self.allow),
                )
            return self._pool

    def get(self, url: str, *, until: float | None = None, budget: str = "",
            etag: str | None = None, last_modified: str | None = None) -> Response:
        """Fetch ``url``. ``until`` (a time.monotonic() value) ends the fetch sooner than its own
        deadline, for a caller with a budget of its own, named by ``budget`` in the message.
        ``etag`` / ``last_modified`` (from an earlier Response) make the request conditional:
        a server with nothing new answers 304, returned as a Response with that status and no
        body. Raises FetchError naming ``url`` and the reason."""
        own = time.monotonic() + self.deadline
        deadline = own if until is None or own <= until else until
        token = _DEADLINE.set(deadline)
        try:
            conditions = [(b"If-None-Match", etag), (b"If-Modified-Since", last_modified)]
            headers = [(name, value.encode("latin-1", "replace")) for name, value in conditions if value]
            return self._follow(url, deadline, budget if deadline < own else "", headers)
        finally:
            _DEADLINE.reset(token)

    def _follow(self, url: str, deadline: float, budget: str, extra: list[tuple[bytes, bytes]]) -> Response:
        import httpcore

        current = _parse(url, url)
        for hop in range(MAX_REDIRECTS + 1):
            try:
                response = self._get_once(current, url, extra)
            except _Refused as exc:
                via = f"redirected to {current}; " if hop else ""
                raise FetchError(
                    url,
                    f"refused: {via}{exc}. Only public addresses are fetched; "
                    "RETRIEVER_FETCH_ALLOW lists exceptions",
                ) from None
            except httpcore.TimeoutException as exc:
                if time.monotonic() >= deadline - 0.05:
                    limit = budget or f"RETRIEVER_FETCH_DEADLINE={self.deadline:g}s"
                    raise FetchError(
                        url, f"gave up: not complete within {limit} (connecting, redirects and every byte)"
                    ) from exc
                raise FetchError(
                    url, f"timed out: no progress for {self.timeout:g}s (RETRIEVER_FETCH_TIMEOUT)"
                ) from exc
            except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
                raise FetchError(url, f"cannot fetch ({exc.__class__.__name__}: {exc})") from exc
            if isinstance(response, Response):
                return response
            current = _parse(response, url, base=current)  # a Location: the next hop
        raise FetchError(url, f"too many redirects (more than {MAX_REDIRECTS})")

    def _get_once(self, url, origin: str, extra: list[tuple[bytes, bytes]]) -> "Response | str":
        """One request: a Response, or the Location of a redirect."""
        import httpcore

        headers = [(b"Accept-Encoding", b"gzip"), *extra]
        if self.user_agent:
            headers.append((b"User-Agent", self.user_agent.encode("latin-1", "replace")))
        target = httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path)
        timeouts = dict.fromkeys(("connect", "read", "write", "pool"), self.timeout)
        with self._connections().stream("GET", target, headers=headers, extensions={"timeout": timeouts}) as response:
            head = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers}
            if response.status in _REDIRECTS:
                if not head.get("location"):
                    raise FetchError(origin, f"HTTP {response.status} redirect without a Location")
                return head["location"]
            if response.status == 304:
                return Response(str(url), b"", "", 304, head.get("etag"), head.get("last-modified"))
            if response.status >= 400:
                raise FetchError(origin, f"HTTP {response.status}")
            declared = head.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes and not head.get("content-encoding"):
                raise FetchError(origin, f"response too large ({declared} > {self.max_bytes} bytes, RETRIEVER_FETCH_MAX_BYTES)")
            body = self._body(response.iter_stream(), head.get("content-encoding", "").strip().lower(), origin)
            content_type = head.get("content-type", "").split(";")[0].strip().lower()
            return Response(str(url), body, content_type, response.status, head.get("etag"),
                            head.get("last-modified"))

    def _body(self, blocks, encoding: str, origin: str) -> bytes:
        """The body, gzip-decoded when so sent, refused past ``max_bytes`` without holding more."""
        if encoding not in ("", "identity", "gzip", "x-gzip"):
            raise FetchError(origin, f"unsupported Content-Encoding {encoding!r}")
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if "gzip" in encoding else None
        body = bytearray()
        for block in blocks:
            if inflater is not None:
                try:  # at most one byte past the cap per step: a gzip bomb never inflates
                    block = inflater.decompress(block, self.max_bytes + 1 - len(body))
                except zlib.error as exc:
                    raise FetchError(origin, f"corrupt gzip body ({exc})") from exc
            body.extend(block)
            if len(body) > self.max_bytes:
                raise FetchError(origin, f"response too large (over {self.max_bytes} bytes, RETRIEVER_FETCH_MAX_BYTES)")
        return bytes(body)

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


def _parse(url: str, origin: str, base=None):
    """``url`` (relative to ``base``, an httpx.URL, when given) as an httpx.URL with an http(s)
    scheme and a host; FetchError naming ``origin``."""
    import httpx

    try:
        parsed = base.join(url) if base is not None else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, UnicodeError) as exc:
        raise FetchError(origin, f"malformed URL {url!r} ({exc})") from exc
    if parsed.scheme not in ("http", "https"):
        raise FetchError(origin, f"refused: only http:// and https:// URLs are fetched (got {url!r})")
    if not parsed.host:
        raise FetchError(origin, f"malformed URL {url!r} (no host)")
    return parsed
