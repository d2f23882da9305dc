"""Test helper (not a test): run an ingest in this process and SIGKILL it at a chosen point.

    python tests/kill_at.py embed N INDEX ITEM...    killed as the N-th embedding call starts
    python tests/kill_at.py commit TEXT INDEX ITEM... killed in the embedding call of a passage
                                                      holding TEXT, once this ingest has
                                                      committed a batch (the call waits for it)
    python tests/kill_at.py open NAME INDEX ITEM...  killed as NAME is opened for writing
    python tests/kill_at.py rename NAME INDEX ITEM... killed as NAME is about to be renamed

The first two points use the engine's public embedder seam (the second waits for a commit
because the ingest commits a batch while the next one is embedded); the others a ``sys.addaudithook``
hook on Python's own "open" and "os.rename" (os.replace) audit events, so the product code
carries no test hooks. Exits 3 when the point was never reached (the ingest completed).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's retrieval/

from retrieval import Settings  # noqa: E402
from retrieval.embeddings import HashEmbedder  # noqa: E402
from retrieval.engine import Engine  # noqa: E402


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class KillingEmbedder(HashEmbedder):
    def __init__(self, kill_on_call: int):
        super().__init__()
        self.calls = 0
        self.kill_on_call = kill_on_call

    def embed(self, texts, *, progress=False):
        self.calls += 1
        if self.calls == self.kill_on_call:
            die()
        return super().embed(texts, progress=progress)


class CommitKillingEmbedder(HashEmbedder):
    def __init__(self, text: str, index: Path):
        super().__init__()
        self.text = text
        self.db = index / "index.sqlite"
        self.start = self.generation()

    def generation(self) -> int:
        if not self.db.exists():
            return 0
        db = sqlite3.connect(f"{self.db.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return int(db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
        finally:
            db.close()

    def embed(self, texts, *, progress=False):
        if any(self.text in t for t in texts):
            deadline = time.monotonic() + 60
            while self.generation() == self.start:
                if time.monotonic() > deadline:
                    raise RuntimeError("no batch was committed while the marked passage waited")
                time.sleep(0.01)
            die()
        return super().embed(texts, progress=progress)


def main(point: str, arg: str, index: str, items: list[str]) -> int:
    if point == "embed":
        embedder = KillingEmbedder(int(arg))
    elif point == "commit":
        embedder = CommitKillingEmbedder(arg, Path(index))
    else:
        embedder = HashEmbedder()
    if point in ("open", "rename"):
        event = {"open": "open", "rename": "os.rename"}[point]

        def hook(name: str, args: tuple) -> None:
            if name == event and args and isinstance(args[0], (str, os.PathLike)) \
                    and Path(os.fsdecode(args[0])).name == arg:
                die()

        sys.addaudithook(hook)
    engine = Engine.open(Settings(index=Path(index)), embedder=embedder, create=True)
    engine.ingest(items)
    engine.close()
    return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]))
