"""Test helper (not a test): run an ingest in this process and SIGKILL it at a chosen point.

    python tests/kill_at.py embed N INDEX ITEM...    killed as the N-th embedding call starts
    python tests/kill_at.py open NAME INDEX ITEM...  killed as NAME is opened for writing
    python tests/kill_at.py rename NAME INDEX ITEM... killed as NAME is about to be renamed

The first point uses the engine's public embedder seam; the others a ``sys.addaudithook``
hook on Python's own "open" and "os.rename" (os.replace) audit events, so the product code
carries no test hooks. Exits 3 when the point was never reached (the ingest completed).
"""

from __future__ import annotations

import os
import signal
import sys
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


def main(point: str, arg: str, index: str, items: list[str]) -> int:
    embedder = KillingEmbedder(int(arg)) if point == "embed" else HashEmbedder()
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
