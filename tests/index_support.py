"""Helpers for the index hardening tests: generated corpora, the CLI as a subprocess, a
consistency check of an index folder, and Linux mount namespaces for read-only and full disks.

Imported as ``index_support`` (tests/ is on the path, like ``support``).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np

from support import ROOT

#: The hash embedder: the tests here are about files, not meaning.
MODEL = "hash-256"


def write_corpus(folder: Path, count: int, words: int, *, seed: int = 0, prefix: str = "story") -> Path:
    """``count`` .txt articles of about ``words`` words each, made of pseudo-words (so each
    article is distinct and chunks into ``words / 120`` chunks)."""
    rng = random.Random(seed)
    vocabulary = ["".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(3))
                  for _ in range(2000)]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        sentences, total = [], 0
        while total < words:
            sentence = rng.choices(vocabulary, k=rng.randint(8, 16))
            sentences.append(" ".join(sentence).capitalize() + ".")
            total += len(sentence)
        (folder / f"{prefix}-{i:03d}.txt").write_text(
            f"---\ntitle: {prefix.title()} {i} {sentences[0][:40]}\nurl: https://news.example/{prefix}/{i}\n"
            f"published: 2024-03-{1 + i % 28:02d}\n---\n" + " ".join(sentences) + "\n",
            encoding="utf-8",
        )
    return folder


def cli(*args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = (),
        timeout: float = 300) -> subprocess.CompletedProcess:
    """``retriever ARGS`` in a subprocess with the hash embedder (``prefix`` runs it under
    another command, such as ``unshare``)."""
    full_env = {**os.environ, "RETRIEVER_MODEL": MODEL, **(env or {})}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "retrieval", *args], capture_output=True, text=True,
        env=full_env, cwd=ROOT, timeout=timeout,
    )


def read_only_sqlite(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)


def segment_files(index: Path) -> list[Path]:
    """The vector segment files of an index folder (one per month)."""
    return sorted((index / "vectors").glob("*.faiss"))


def segment_file(index: Path) -> Path:
    """The one segment file of an index whose articles are all from one month."""
    [path] = segment_files(index)
    return path


def assert_consistent(index: Path) -> dict[str, int]:
    """The index folder agrees with itself: the segment files hold exactly SQLite's chunk ids
    (less the tombstones the manifest lists), the manifest vouches for the current generation,
    no ``.tmp`` file is left. Returns counts."""
    import faiss

    db = read_only_sqlite(index / "index.sqlite")
    try:
        ids = np.array([r[0] for r in db.execute("SELECT id FROM chunks ORDER BY id")], dtype=np.int64)
        articles = db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        generation = json.loads(db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
    finally:
        db.close()
    manifest = json.loads((index / "manifest.json").read_text())
    records = manifest["vectors"]["segments"]
    assert sorted(records) == [p.stem for p in segment_files(index)], (records.keys(), segment_files(index))
    held = []
    for path in segment_files(index):
        vectors = faiss.read_index(str(path))
        dead = set(records[path.stem]["deleted"])
        held.extend(i for i in faiss.vector_to_array(vectors.id_map).tolist() if i not in dead)
    assert len(held) == ids.size, f"the segments hold {len(held)} vectors, SQLite {ids.size} chunks"
    assert np.array_equal(np.sort(np.asarray(held, dtype=np.int64)), ids)
    assert manifest["generation"] == manifest["vectors_generation"] == generation, manifest
    assert manifest["counts"] == {"articles": articles, "chunks": int(ids.size)}
    leftovers = sorted(p.name for p in index.rglob("*.tmp"))
    assert not leftovers, f"left behind: {leftovers}"
    assert not (index / "vectors.faiss").exists()
    return {"articles": articles, "chunks": int(ids.size)}


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Name → (size, mtime) of every file in ``folder``: to show nothing was written."""
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


# ---------------------------------------------------------------------------- mount namespaces

_MOUNT_PROBE: str | None = None


def mount_namespace_problem() -> str | None:
    """Why this machine cannot give a test its own mounts (None when it can): the tests need
    ``unshare --mount`` and ``mount`` with CAP_SYS_ADMIN, as root in most containers."""
    global _MOUNT_PROBE
    if _MOUNT_PROBE is None:
        if not shutil.which("unshare") or not shutil.which("mount"):
            _MOUNT_PROBE = "unshare or mount is not installed"
        else:
            probe = subprocess.run(
                ["unshare", "--mount", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt && "
                 "mount --bind /mnt /mnt && mount -o remount,ro,bind /mnt"],
                capture_output=True, text=True, timeout=30,
            )
            _MOUNT_PROBE = "" if probe.returncode == 0 else (
                f"cannot make mounts here (unshare --mount: {probe.stderr.strip() or probe.returncode})")
    return _MOUNT_PROBE or None


def read_only_view(source: Path, target: Path) -> tuple[str, ...]:
    """A command prefix that runs a command in a private mount namespace where ``target`` is a
    read-only bind mount of ``source`` (gone when the command exits)."""
    target.mkdir(parents=True, exist_ok=True)
    script = 'mount --bind "$0" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"'
    return ("unshare", "--mount", "sh", "-c", script, str(source), str(target))


def build_index(folder: Path, articles: int, *, seed: int) -> Path:
    """An index (hash embedder) in ``folder/index`` of the seed article and ``articles``
    generated ones of 300 words: the starting point the hardening tests copy and damage."""
    from retrieval import Settings
    from retrieval.embeddings import HashEmbedder
    from retrieval.engine import Engine
    from support import SEED

    index = folder / "index"
    with Engine.open(Settings(index=index), embedder=HashEmbedder(), create=True) as engine:
        engine.ingest([str(SEED), str(write_corpus(folder / "c", articles, 300, seed=seed))])
    return index
