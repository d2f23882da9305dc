"""Talking to a Milvus server for :mod:`retrieval.milvus_store`: pymilvus imported on first
use (with an install hint), the connection (milvus-lite serves a local ``.db`` folder in this
process), every call's failures as domain errors that name the server and what was being done
(never a gRPC traceback), and the literals of filter expressions."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from retrieval.errors import ConfigError, IndexLockedError, IndexMissingError, RetrievalError, StorageError

#: Seconds a call to the server may take before it is an error (connecting included).
TIMEOUT = 10.0


def load_pymilvus():
    """pymilvus, or an error that says how to install it."""
    try:
        import pymilvus
    except ImportError as exc:
        raise ConfigError(
            "RETRIEVER_STORE=milvus needs pymilvus (and milvus-lite for a local .db): "
            "pip install 'newsbot-retriever[milvus]'"
        ) from exc
    # pymilvus sets up its own stderr handler when imported and logs every failed call with
    # its gRPC traceback; the store raises those failures as domain errors that carry the
    # server's message, so that logger is left only what is worse.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    return pymilvus


def quote(value: str) -> str:
    """A string literal for a Milvus filter expression."""
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


def strings(values: Sequence[str]) -> str:
    return "[" + ", ".join(quote(v) for v in values) + "]"


def ints(values: Sequence[int]) -> str:
    return "[" + ", ".join(str(int(v)) for v in values) + "]"


def connect(settings, *, create: bool = False):
    """A client for ``settings.milvus_uri``: a clear error when the server cannot be reached
    or refuses the token (never a gRPC traceback)."""
    pymilvus = load_pymilvus()
    uri = settings.milvus_uri
    if uri.endswith(".db"):
        try:
            import milvus_lite  # noqa: F401  (pymilvus starts it for a .db URI)
        except ImportError as exc:
            raise ConfigError(f"RETRIEVER_MILVUS_URI={uri} is a local milvus-lite folder, but "
                              "milvus-lite is not installed: pip install 'newsbot-retriever[milvus]'") from exc
        folder = Path(uri).expanduser().parent
        if create:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create {folder} for RETRIEVER_MILVUS_URI={uri}: {exc.strerror}") from exc
        check_lite_lock(Path(uri).expanduser())
    token = settings.milvus_token.get_secret_value()
    options = {}
    if uri.endswith(".db"):
        # pymilvus pings an idle connection every 10 s, which a Milvus server allows; the
        # milvus-lite server this process starts answers a few with GOAWAY "too_many_pings",
        # which gRPC prints on stderr. Nothing sits between this process and that server.
        options["grpc_options"] = {"grpc.keepalive_time_ms": 2**31 - 1,
                                   "grpc.keepalive_permit_without_calls": 0}
    return call(settings, "connect", pymilvus.MilvusClient, uri=uri, token=token, timeout=TIMEOUT, **options)


def check_lite_lock(data_dir: Path) -> None:
    """milvus-lite lets one process open a ``.db`` folder (a flock on its ``LOCK`` file):
    say so, and how to share it, instead of its "Open local milvus failed"."""
    from milvus_lite.db import LOCK_FILENAME
    from milvus_lite.server_manager import server_manager_instance

    if str(data_dir.resolve()) in server_manager_instance._servers or not (data_dir / LOCK_FILENAME).exists():
        return  # this process serves it already, or nobody ever opened it
    import fcntl

    try:
        with open(data_dir / LOCK_FILENAME, "rb") as fh:  # taken and let go at once
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise IndexLockedError(
            f"{data_dir} (RETRIEVER_MILVUS_URI) is open in another process, and milvus-lite lets "
            "one process open it; to share it, serve it with `milvus-lite server --data-dir "
            f"{data_dir} --host 127.0.0.1 --port 19530` and set "
            "RETRIEVER_MILVUS_URI=http://127.0.0.1:19530") from None
    except OSError as exc:
        raise StorageError(f"cannot open {data_dir} (RETRIEVER_MILVUS_URI): {exc.strerror}") from exc


def call(settings, what: str, function, *args, **kwargs):
    """``function(*args, **kwargs)``, a pymilvus call, with its failures as domain errors that
    name the server and what was being done."""
    pymilvus = load_pymilvus()
    try:
        return function(*args, **kwargs)
    except pymilvus.MilvusException as exc:
        raise translate_error(settings, what, exc) from None
    except ConnectionError as exc:
        raise StorageError(f"cannot {what} on the Milvus server {settings.milvus_uri}: {exc}") from None


def translate_error(settings, what: str, exc) -> RetrievalError:
    code = getattr(exc, "code", None)
    message = str(getattr(exc, "message", "") or exc).strip()
    where = f"the Milvus server {settings.milvus_uri}"
    lowered = message.lower()
    if code == 1800 or "auth" in lowered or "credential" in lowered or "token" in lowered or "unauthenticated" in lowered:
        return ConfigError(f"{where} refused the credentials (RETRIEVER_MILVUS_TOKEN) while trying to {what}: {message}")
    if code == 2 or "connect" in lowered or "unavailable" in lowered or "deadline" in lowered or "timeout" in lowered:
        return StorageError(f"cannot reach {where} (RETRIEVER_MILVUS_URI) to {what}: {message}; is it running?")
    if "not found" in lowered or "can't find" in lowered or "doesn't exist" in lowered or "not exist" in lowered:
        return IndexMissingError(f"{where}: cannot {what}: {message}")
    return StorageError(f"{where} failed to {what}: {message}")
