"""The dense side of the index: chunk vectors in monthly segments, exact while small, HNSW when large.

News is partitioned by time, so the vectors are too: one segment per month of the article's day
(its publication date, else the day it was added — the same day ``store._DAY`` uses). A date
filter skips whole months, retention drops whole segments, and a poll of the feeds rewrites
only the months it touched.

Each segment is a FAISS ``IndexIDMap2`` (chunk id → vector) over **fp16 codes** (half the
bytes of float32; inner products change by ~1e-3; SQLite keeps the same float16 values).
Inner product on L2-normalised vectors is cosine similarity. A segment is searched:

* **exactly** (``IndexScalarQuantizer``, a flat scan) while it holds at most
  :attr:`AnnParams.exact_max` vectors — a scan of 20k fp16 vectors takes ~1–2 ms here;
* through an **HNSW graph** (``IndexHNSWSQ``) above that, once the month is over (the newest
  month keeps taking articles, so it stays exact until :attr:`AnnParams.open_exact_max`).
  HNSW because news arrives a few hundred chunks at a time: it takes additions without
  retraining (IVF needs its centroids trained and degrades as topics drift), and it answered
  best for its cost on real MiniLM vectors (docs/BENCHMARKS.md, "Scale on one machine").

HNSW cannot delete: a removed chunk becomes a tombstone (excluded by an ``IDSelector``), and a
segment whose tombstones pass :data:`COMPACT_FRACTION` is rebuilt at the end of the write.

Segments are never changed once published: a change makes a new :class:`Segment` (copy on
write) and a new :class:`Vectors` snapshot that the store swaps in, so searches from any number
of threads take no lock, and a write holds readers up only for the swap.

Filters: the store gives, per segment, the chunk ids a filter keeps (or none, when it keeps
the whole month). A few of them are scored exactly from their stored codes; more are searched
with a selector and an ``efSearch`` raised by the inverse of the fraction kept, so a filter
that keeps 0.1% of a month neither scans the month nor returns too few.
"""

from __future__ import annotations

import os
import threading
from functools import cached_property
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

import numpy as np

#: A segment whose tombstones are more than this fraction of its graph is rebuilt.
COMPACT_FRACTION = 0.1
#: efSearch is raised for selective filters up to this (the graph search then visits a few
#: thousand nodes: ~5 ms); past it the kept vectors are scored exactly.
EF_MAX = 2048
#: Flat segments this small (old months of a long archive: one month may hold a few articles)
#: are searched as one: a search per segment costs ~0.15 ms even when it holds ten vectors.
SMALL_SEGMENT = 5_000


def _faiss():
    import faiss

    return faiss


def _search_threads() -> None:
    """One OpenMP thread for this thread's searches. A single query gains nothing from more,
    and on a busy machine the second thread's wait costs 5-20x (an 11k-vector graph: 1 ms
    alone, 10 ms with two threads while other processes run; docs/BENCHMARKS.md). The
    setting belongs to the calling thread, so builds elsewhere keep every core."""
    _faiss().omp_set_num_threads(1)


def _build_threads() -> None:
    """Every core for building a graph (HNSW adds in parallel)."""
    _faiss().omp_set_num_threads(os.cpu_count() or 1)


@dataclass(frozen=True)
class AnnParams:
    """How segments are indexed and searched; recorded in the manifest (see docs/BENCHMARKS.md,
    "Scale on one machine", for the measurements behind each value)."""

    #: A finished month with more vectors than this gets an HNSW graph; up to it, a flat scan
    #: (exact, ~1 ms per 10k vectors on one core here) is as fast as the graph and exact.
    exact_max: int = 20_000
    #: The newest month stays exact up to this size (it changes at every poll, and adding to a
    #: flat index is a copy, to a graph a rebuild of links).
    open_exact_max: int = 100_000
    #: HNSW links per node (M) and build-time beam width (efConstruction).
    m: int = 32
    ef_construction: int = 80
    #: Search-time beam width. Real MiniLM vectors (18.6k rtqa chunks): recall@10 vs exact
    #: 1.00 from 96 up; rtqa vectors replicated ten times with noise (116k, near-duplicate
    #: clusters, harder): 0.94 at 64, 0.96 at 96, 0.97 at 160 (efConstruction 80).
    ef_search: int = 128
    #: A filter keeping at most this many vectors of a graph segment scores them exactly.
    filter_exact: int = 4096

    def record(self) -> dict:
        return asdict(self)


DEFAULT_ANN = AnnParams()


#: Appended to the month of the articles without a publication date (keyed by the day they
#: were added): a date filter never keeps them, so it skips their segments whole.
UNDATED = "-undated"


def month(day: str) -> str:
    """The month of an ISO day (``2023-07-14`` → ``2023-07``)."""
    return day[:7]


def segment_key(published: str | None, added: str) -> str:
    """The segment of an article published on ``published`` (ISO day), or, without a date,
    added on ``added``: ``2023-07`` or ``2023-07-undated``."""
    return month(published) if published else month(added) + UNDATED


class Segment:
    """One month's vectors. Immutable once made, except :attr:`saved` (set when its file is
    written): every change returns a new Segment."""

    def __init__(self, key: str, index, deleted: frozenset[int] = frozenset(), *, saved: bool = False):
        faiss = _faiss()
        self.key = key
        self.index = index  # faiss.IndexIDMap2 over IndexScalarQuantizer or IndexHNSWSQ
        self.deleted = deleted
        self.saved = saved
        ids = faiss.vector_to_array(index.id_map)
        self.ids = ids if np.all(ids[1:] >= ids[:-1]) else np.sort(ids)  # sorted, for lookups
        self.hnsw = isinstance(faiss.downcast_index(index.index), faiss.IndexHNSW)
        self._dead = np.sort(np.fromiter(deleted, dtype=np.int64, count=len(deleted)))
        self._live_selector = None
        if deleted:  # keep both Python objects alive: the Not holds a raw pointer to the Batch
            inner = faiss.IDSelectorBatch(self._dead)
            self._live_selector = (faiss.IDSelectorNot(inner), inner)

    # ------------------------------------------------------------------ facts

    @property
    def kind(self) -> str:
        return "hnsw" if self.hnsw else "exact"

    @property
    def ntotal(self) -> int:
        return self.ids.size  # the index is not changed once it is a segment's

    @property
    def count(self) -> int:
        """Live vectors (tombstones excluded)."""
        return self.ids.size - len(self.deleted)

    @property
    def id_sum(self) -> int:
        return int(self.ids.sum()) - sum(self.deleted)

    def live_ids(self) -> np.ndarray:
        if not self.deleted:
            return self.ids
        return self.ids[~np.isin(self.ids, self._dead)]

    def holds(self, ids: np.ndarray) -> np.ndarray:
        """Mask of ``ids`` that are live vectors of this segment."""
        pos = np.searchsorted(self.ids, ids)
        found = (pos < self.ids.size) & (self.ids[np.minimum(pos, self.ids.size - 1)] == ids)
        if self.deleted:
            found &= ~np.isin(ids, self._dead)
        return found

    def record(self) -> dict:
        """What the manifest says of this segment's file, checked when it is loaded."""
        return {"kind": self.kind, "ntotal": self.ntotal, "count": self.count, "id_sum": self.id_sum,
                "deleted": sorted(self.deleted)}

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(live ids, their vectors as float32), decoded from the fp16 codes."""
        live = self.live_ids()
        if live.size == 0:
            return live, np.zeros((0, self.index.d), dtype=np.float32)
        return live, self.index.reconstruct_batch(live)

    # ------------------------------------------------------------------ search

    def search(self, query: np.ndarray, k: int, ann: AnnParams, allowed: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (scores, ids) for one query row, among ``allowed`` ids when given."""
        faiss = _faiss()
        if allowed is not None:
            allowed = allowed[self.holds(allowed)]
            if allowed.size == 0:
                return _EMPTY
            if self.hnsw and allowed.size <= ann.filter_exact:
                return _exact(self.index.reconstruct_batch(allowed), allowed, query, k)
            selector = faiss.IDSelectorBatch(allowed)
            fraction = allowed.size / max(self.count, 1)
            ef = min(EF_MAX, max(ann.ef_search, int(ann.ef_search / fraction)))
            wanted = min(k, int(allowed.size))
        else:
            if self.count == 0:
                return _EMPTY
            selector = self._live_selector[0] if self._live_selector else None
            ef, wanted = ann.ef_search, min(k, self.count)
        if self.hnsw:
            params = faiss.SearchParametersHNSW(efSearch=max(ef, wanted), sel=selector)
        else:
            params = faiss.SearchParameters(sel=selector) if selector is not None else None
        scores, ids = self.index.search(query, wanted, params=params)
        keep = ids[0] >= 0
        scores, ids = scores[0][keep], ids[0][keep]
        if allowed is not None and self.hnsw and ids.size < wanted:
            # The graph ran out of kept neighbours within efSearch: score the kept ones exactly.
            return _exact(self.index.reconstruct_batch(allowed), allowed, query, k)
        return scores, ids

    # ------------------------------------------------------------------ changes (copy on write)

    @classmethod
    def empty(cls, key: str, dimension: int) -> "Segment":
        faiss = _faiss()
        flat = faiss.IndexScalarQuantizer(dimension, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
        return cls(key, faiss.IndexIDMap2(flat))

    @classmethod
    def build(cls, key: str, ids: np.ndarray, vectors: np.ndarray, ann: AnnParams, *, hnsw: bool) -> "Segment":
        faiss = _faiss()
        dimension = vectors.shape[1]
        _build_threads()
        if hnsw:
            graph = faiss.IndexHNSWSQ(dimension, faiss.ScalarQuantizer.QT_fp16, ann.m, faiss.METRIC_INNER_PRODUCT)
            graph.hnsw.efConstruction = ann.ef_construction
            index = faiss.IndexIDMap2(graph)
        else:
            index = cls.empty(key, dimension).index
        order = np.argsort(ids, kind="stable")
        if ids.size:
            index.add_with_ids(np.ascontiguousarray(vectors[order], dtype=np.float32), ids[order])
        return cls(key, index)

    def added(self, ids: np.ndarray, vectors: np.ndarray) -> "Segment":
        faiss = _faiss()
        index = _owned_copy(self.index)
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        return Segment(self.key, index, self.deleted)

    def removed(self, ids: np.ndarray) -> "Segment | None":
        """Without ``ids`` (tombstones in a graph); None when nothing is left."""
        ids = ids[self.holds(ids)]
        if ids.size == 0:
            return self
        if ids.size >= self.count:
            return None
        if self.hnsw:
            return Segment(self.key, self.index, self.deleted | frozenset(int(i) for i in ids))
        faiss = _faiss()
        index = _owned_copy(self.index)
        index.remove_ids(ids)
        return Segment(self.key, index)

    def sealed(self, ann: AnnParams, newest: str) -> "Segment":
        """This segment as it should be stored: a graph when large (see :class:`AnnParams`),
        rebuilt when its tombstones pass :data:`COMPACT_FRACTION`."""
        limit = ann.exact_max if month(self.key) < month(newest) else ann.open_exact_max
        # A graph stays a graph while it is larger than exact_max (no rebuild back and forth).
        graph = self.count > limit or (self.hnsw and self.count > ann.exact_max)
        compact = self.hnsw and len(self.deleted) > COMPACT_FRACTION * self.ntotal
        if graph == self.hnsw and not compact:
            return self
        ids, vectors = self.vectors()
        return Segment.build(self.key, ids, vectors, ann, hnsw=graph)


_EMPTY = (np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64))


def _owned_copy(index):
    """A copy of ``index`` that owns its memory, to change. A segment read from its file maps
    the file's codes, and ``faiss.clone_index`` would copy that view, not the codes: adding to
    the clone then aborts the process."""
    faiss = _faiss()
    return faiss.deserialize_index(faiss.serialize_index(index))


def _exact(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = vectors @ query[0]
    if scores.size > k:
        top = np.argpartition(-scores, k - 1)[:k]
    else:
        top = np.arange(scores.size)
    top = top[np.argsort(-scores[top], kind="stable")]
    return scores[top].astype(np.float32), ids[top]


class Vectors:
    """A snapshot of every segment, as of one SQLite generation: immutable except
    :attr:`from_files`, set when its segments are saved, and :attr:`small`, made on the first
    search."""

    def __init__(self, dimension: int, segments: Mapping[str, Segment], generation: int, ann: AnnParams,
                 *, from_files: bool = False, small: tuple | None = None):
        self.dimension = dimension
        #: Whether this is what the saved files hold (not caught up from SQLite, not changed).
        self.from_files = from_files
        self.segments = dict(segments)
        self.generation = generation
        self.ann = ann
        self.max_id = max((int(s.ids[-1]) for s in self.segments.values() if s.ids.size), default=0)
        #: The small segments searched as one: (their Segment objects, the combined one), made
        #: on the first search and handed on to the next snapshot while they stay the same.
        self.small = small
        self._small_found: tuple[list[str], Segment | None] | None = None
        self._small_lock = threading.Lock()

    @cached_property
    def ntotal(self) -> int:
        """Live vectors in all segments."""
        return sum(s.count for s in self.segments.values())

    @property
    def saved(self) -> bool:
        return all(s.saved for s in self.segments.values())

    def ids(self) -> np.ndarray:
        """Every live chunk id, sorted."""
        parts = [s.live_ids() for s in self.segments.values()]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def search(self, query: np.ndarray, k: int, plan: Mapping[str, np.ndarray | None] | None = None
               ) -> list[tuple[int, float]]:
        """Top ``k`` (chunk id, cosine) over the segments of ``plan`` (key → the ids a filter
        keeps there, or None for the whole segment); every segment when ``plan`` is None."""
        _search_threads()
        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        if plan is None:
            keys, combined = self._combined()
            parts = [self.segments[key].search(query, k, self.ann) for key in keys]
            if combined is not None:
                parts.append(combined.search(query, k, self.ann))
        else:
            keys = [key for key in plan if key in self.segments]
            parts = [self.segments[key].search(query, k, self.ann, plan[key]) for key in keys]
        if not parts:
            return []
        scores = np.concatenate([p[0] for p in parts])
        ids = np.concatenate([p[1] for p in parts])
        order = np.argsort(-scores, kind="stable")[:k]
        return [(int(ids[i]), float(scores[i])) for i in order]

    def _combined(self) -> tuple[list[str], "Segment | None"]:
        """The keys of the segments searched on their own, and one segment holding the small
        flat ones before the newest month (None when there are fewer than two). Found once
        per snapshot."""
        found = self._small_found
        if found is not None:
            return found
        with self._small_lock:
            if self._small_found is not None:
                return self._small_found
            keys: list[str] = []
            if self.segments:
                current = month(max(self.segments))  # written to all the time: searched on its own
                keys = sorted(key for key, s in self.segments.items()
                              if not s.hnsw and s.count <= SMALL_SEGMENT and month(key) < current)
            if len(keys) < 2:
                self._small_found = (list(self.segments), None)
                return self._small_found
            members = tuple(self.segments[key] for key in keys)
            cached = self.small
            if cached is None or len(cached[0]) != len(members) or any(a is not b for a, b in zip(cached[0], members)):
                parts = [s.vectors() for s in members]
                ids = np.concatenate([p[0] for p in parts])
                cached = self.small = (members, Segment.build("small", ids, np.vstack([p[1] for p in parts]),
                                                               self.ann, hnsw=False))
            small = set(keys)
            self._small_found = ([key for key in self.segments if key not in small], cached[1])
            return self._small_found

    def locate(self, ids: Iterable[int]) -> dict[str, np.ndarray]:
        """Segment key → which of ``ids`` it holds."""
        wanted = np.fromiter(ids, dtype=np.int64)
        found: dict[str, np.ndarray] = {}
        for key, segment in self.segments.items():
            mask = segment.holds(wanted)
            if mask.any():
                found[key] = wanted[mask]
        return found

    def changed(self, generation: int, added: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
                removed: Iterable[int] = ()) -> "Vectors":
        """A new snapshot with ``removed`` chunk ids gone and ``added`` (key → ids, vectors) in."""
        segments = dict(self.segments)
        for key, ids in self.locate(removed).items():
            segment = segments[key].removed(ids)
            if segment is None:
                del segments[key]
            else:
                segments[key] = segment
        for key, (ids, vectors) in (added or {}).items():
            if ids.size:
                base = segments.get(key) or Segment.empty(key, self.dimension)
                segments[key] = base.added(ids, vectors)
        return Vectors(self.dimension, segments, generation, self.ann, small=self.small)

    def sealed(self) -> "Vectors":
        """Graphs for the segments that have grown past their exact size, compacted tombstones."""
        if not self.segments:
            return self
        newest = max(self.segments)
        segments = {key: s.sealed(self.ann, newest) for key, s in self.segments.items()}
        if all(segments[key] is self.segments[key] for key in segments):
            return self
        return Vectors(self.dimension, segments, self.generation, self.ann, small=self.small)
