"""Lexical segments for large indexes: each word's postings in arrays, summed in numpy.

FTS5 ranks an OR query by scoring every row that holds any of the question's words, row by row
in C through its bm25() callback, and computes each word's IDF by walking all of its rows:
~0.5–1 s a question at 1M chunks (docs/BENCHMARKS.md, "Lexical side at 1M chunks"). A
segment stores, for each word, the chunks that hold it (ids ascending) with the word's count
there (the title's weighted by BM25_WEIGHTS[0]) and the chunk's length. A question reads its
words' postings, turns them into FTS5's BM25 terms with the IDF and average length of the
whole index, and adds them into an array over the segment's ids (``np.bincount``: no sort, no
hash); the best ``k`` of each segment are merged. The scores are FTS5's, up to float16 counts.

Segments cover contiguous ranges of chunk ids, ``lexical/<lo>-<hi>/`` in the index folder, and
never change: the writer builds one from the chunks past the newest and merges the small ones,
``fan`` of a size class at a time (an LSM tree), up to ``merge_max`` chunks; a segment whose
chunks are mostly removed is rewritten. A reader tokenizes the few chunks past the last
segment itself. Chunks removed since a segment was built stay in its lists until then: the
store drops them from the results, and they still count in the words' frequencies.

Tokens follow FTS5's ``porter unicode61 remove_diacritics 2``: runs of letters and digits,
lower-cased, diacritics removed, Porter-stemmed from three letters on (PyStemmer's ``porter``,
the same algorithm).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import threading
import unicodedata
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

#: FTS5's bm25() constants.
K1, B = 1.2, 0.75
FORMAT = 1
FOLDER = "lexical"


@dataclass(frozen=True)
class LexicalParams:
    """When lexical segments are used, built and merged."""

    segment_min: int = 50_000  # chunks in the index before segments are built and searched
    build_min: int = 5_000  # chunks past the last segment that make a writer build one
    build_max: int = 100_000  # chunks per segment built in one go (memory: ~10 KB a chunk)
    fan: int = 4  # segments of one size class merged together
    merge_max: int = 400_000  # chunks a merge may make (its memory: ~4 KB a chunk)
    reader_tail_max: int = 50_000  # chunks past the segments a reader tokenizes; more → FTS5


DEFAULT_LEXICAL = LexicalParams()

_WORD = re.compile(r"[^\W_]+")
_QUOTED = re.compile(r'"([^"]*)"')


class Tokenizer:
    """Text → tokens as FTS5's porter unicode61 tokenizer makes them. One per thread."""

    _CACHE = 400_000  # distinct words remembered (~60 MB); past this it starts over

    def __init__(self) -> None:
        import Stemmer  # PyStemmer; lazy: only large indexes need it

        self._stemmer = Stemmer.Stemmer("porter")
        self._stems: dict[str, str] = {}

    def __call__(self, text: str) -> list[str]:
        stems = self._stems
        out = []
        for word in _WORD.findall(text.lower()):
            stem = stems.get(word)
            if stem is None:
                if len(stems) > self._CACHE:
                    stems.clear()
                stem = stems[word] = self._stem(word)
            out.append(stem)
        return out

    def _stem(self, word: str) -> str:
        if not word.isascii():
            word = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
        if len(word) < 3 or len(word) > 64:  # FTS5's porter leaves these alone (fts5_tokenize.c)
            return word
        return self._stemmer.stemWord(word)


_local = threading.local()


def tokenizer() -> Tokenizer:
    """This thread's tokenizer (PyStemmer's stemmers are not shared between threads)."""
    found = getattr(_local, "tokenizer", None)
    if found is None:
        found = _local.tokenizer = Tokenizer()
    return found


def query_tokens(match: str) -> list[str]:
    """The tokens of an FTS5 expression of quoted words (``"a" OR "b"``). Repeats are kept:
    FTS5 scores each phrase, so "airline" OR "airlines" counts the stem "airlin" twice."""
    tokenize = tokenizer()
    return [t for word in _QUOTED.findall(match) for t in tokenize(word)]


@dataclass
class Postings:
    """Words and their postings, grouped by word, chunk ids ascending within a word. A posting
    keeps the word's count in the chunk (title weighted) and the chunk's length, so
    that a question scores it with the average length of the whole index, as FTS5 does."""

    terms: list[str]
    offsets: np.ndarray  # int64, len(terms) + 1: word i's postings are [offsets[i], offsets[i+1])
    ids: np.ndarray  # chunk ids (uint32, or int64 past 2**32)
    frequencies: np.ndarray  # float16: count in the title × its weight + count in the text
    lengths: np.ndarray  # uint16: the chunk's tokens, title and text
    length: float  # tokens in all the chunks


def build(rows: Iterable[tuple[int, str, str]], weights: tuple[float, float]) -> tuple[Postings, int]:
    """Postings of ``(chunk id, title, text)`` rows (ids ascending) and the number of rows."""
    tokenize = tokenizer()
    vocabulary: dict[str, int] = {}
    term_of = vocabulary.setdefault
    # compact arrays, not lists: ~80 postings a chunk
    words, docs, rows_of = array("q"), array("q"), array("q")
    in_title, in_body, lengths = array("H"), array("H"), array("q")
    last_title, title_counts, title_tokens = None, {}, 0
    n = 0
    for chunk_id, title, text in rows:
        if title != last_title:  # the chunks of one article share its title
            last_title, title_counts = title, _counts(tokenize(title or ""))
            title_tokens = sum(title_counts.values())
        body_counts = _counts(tokenize(text))
        lengths.append(title_tokens + sum(body_counts.values()))
        found = title_counts.keys() | body_counts.keys()
        words.extend([term_of(word, len(vocabulary)) for word in found])
        in_title.extend([min(title_counts.get(word, 0), 65535) for word in found])
        in_body.extend([min(body_counts.get(word, 0), 65535) for word in found])
        docs.extend([chunk_id] * len(found))
        rows_of.extend([n] * len(found))
        n += 1
    length = _array(lengths, np.int64)
    frequency = (weights[0] * _array(in_title, np.uint16).astype(np.float32)
                 + weights[1] * _array(in_body, np.uint16).astype(np.float32))
    postings = _grouped(list(vocabulary), _array(words, np.int64), _array(docs, np.int64), frequency,
                        length[_array(rows_of, np.int64)], float(length.sum()))
    return postings, n


def _array(values: array, dtype) -> np.ndarray:
    return np.frombuffer(values, dtype=dtype) if len(values) else np.zeros(0, dtype=dtype)


def _counts(tokens: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in tokens:
        counts[t] = counts.get(t, 0) + 1
    return counts


def impacts(frequencies: np.ndarray, lengths: np.ndarray, average: float) -> np.ndarray:
    """FTS5's bm25() term weight without the IDF (fts5_aux.c): ``frequencies`` are counts
    weighted by column, ``lengths`` the chunks' tokens in all columns."""
    tf = np.asarray(frequencies, dtype=np.float32)
    below = np.multiply(lengths, np.float32(K1 * B / max(average, 1e-9)), dtype=np.float32)
    below += tf
    below += np.float32(K1 * (1 - B))
    return np.divide(tf * np.float32(K1 + 1), below, out=below)


def _grouped(terms: list[str], words: np.ndarray, ids: np.ndarray, frequencies: np.ndarray,
             lengths: np.ndarray, length: float) -> Postings:
    """Group postings by word, ids ascending within a word (``ids`` come ascending, or in
    ascending runs per segment of a merge); words without postings are dropped."""
    order = np.lexsort((ids, words))
    counts = np.bincount(words, minlength=len(terms))
    keep = counts > 0
    id_type = np.uint32 if ids.size == 0 or int(ids.max()) < 2**32 else np.int64
    offsets = np.zeros(int(keep.sum()) + 1, dtype=np.int64)
    np.cumsum(counts[keep], out=offsets[1:])
    return Postings([t for t, k in zip(terms, keep) if k], offsets, ids[order].astype(id_type),
                    frequencies[order].astype(np.float16), np.minimum(lengths[order], 65535).astype(np.uint16),
                    length)


class Segment:
    """Postings of the chunks with ids in ``[lo, hi]``, on disk (memory-mapped) or in memory."""

    def __init__(self, lo: int, hi: int, chunks: int, postings: Postings, folder: Path | None = None):
        self.lo, self.hi, self.chunks = lo, hi, chunks
        self.folder = folder
        self.length = postings.length
        self._postings = postings
        self._index = {t: i for i, t in enumerate(postings.terms)}

    @property
    def name(self) -> str:
        return f"{self.lo}-{self.hi}"

    def df(self, term: str) -> int:
        i = self._index.get(term)
        if i is None:
            return 0
        offsets = self._postings.offsets
        return int(offsets[i + 1] - offsets[i])

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The word's postings: chunk ids (ascending), weighted counts and chunk lengths."""
        i = self._index.get(term)
        if i is None:
            return None
        p = self._postings
        start, end = int(p.offsets[i]), int(p.offsets[i + 1])
        return p.ids[start:end], p.frequencies[start:end], p.lengths[start:end]

    def all_postings(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(terms, word index of each posting, ids, weighted counts, lengths), for a merge."""
        p = self._postings
        words = np.repeat(np.arange(len(p.terms), dtype=np.int32), np.diff(p.offsets))
        return p.terms, words, np.asarray(p.ids), np.asarray(p.frequencies), np.asarray(p.lengths)

    # ---------------------------------------------------------------- files

    def save(self, parent: Path) -> "Segment":
        """Write to ``parent/<lo>-<hi>`` (whole or not at all) and return the saved segment."""
        final = parent / self.name
        tmp = parent / f".tmp-{self.name}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        p = self._postings
        (tmp / "terms.txt").write_text("\n".join(p.terms), encoding="utf-8")
        for name in ("offsets", "ids", "frequencies", "lengths"):
            np.save(tmp / f"{name}.npy", getattr(p, name))
        (tmp / "meta.json").write_text(json.dumps(
            {"format": FORMAT, "lo": self.lo, "hi": self.hi, "chunks": self.chunks, "length": p.length,
             "postings": int(p.offsets[-1]), "k1": K1, "b": B}))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        return Segment.load(final)

    @classmethod
    def load(cls, folder: Path) -> "Segment":
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"lexical segment {folder} has format {meta.get('format')}, not {FORMAT}")
        text = (folder / "terms.txt").read_text(encoding="utf-8")
        postings = Postings(
            text.split("\n") if text else [],
            np.load(folder / "offsets.npy"),
            np.load(folder / "ids.npy", mmap_mode="r"),
            np.load(folder / "frequencies.npy", mmap_mode="r"),
            np.load(folder / "lengths.npy", mmap_mode="r"),
            float(meta["length"]),
        )
        return cls(int(meta["lo"]), int(meta["hi"]), int(meta["chunks"]), postings, folder)


def merge(segments: Sequence[Segment], alive: Callable[[int, int], np.ndarray]) -> Segment:
    """One segment with the postings of consecutive ``segments``, less the chunks that are
    gone (``alive(lo, hi)``: the sorted ids still in the index)."""
    vocabulary: dict[str, int] = {}
    parts: list[list[np.ndarray]] = [[], [], [], []]
    for segment in segments:
        terms, *columns = segment.all_postings()
        mapping = np.fromiter((vocabulary.setdefault(t, len(vocabulary)) for t in terms),
                              dtype=np.int32, count=len(terms))
        columns[0] = mapping[columns[0]]
        for part, column in zip(parts, columns):
            part.append(column)
    words, frequencies, lengths = (np.concatenate(p) for p in (parts[0], parts[2], parts[3]))
    ids = np.concatenate([i.astype(np.int64, copy=False) for i in parts[1]])
    lo, hi = segments[0].lo, segments[-1].hi
    present = alive(lo, hi)
    keep = np.isin(ids, present)
    words, ids, frequencies, lengths = words[keep], ids[keep], frequencies[keep], lengths[keep]
    _, first = np.unique(ids, return_index=True)  # each chunk's length once
    postings = _grouped(list(vocabulary), words, ids, frequencies, lengths,
                        float(lengths[first].sum(dtype=np.int64)))
    return Segment(lo, hi, int(present.size), postings)


def size_class(chunks: int, params: LexicalParams) -> int:
    return int(math.log(max(chunks, 1) / params.build_min, params.fan)) if chunks > params.build_min else 0


def to_merge(segments: Sequence[Segment], params: LexicalParams) -> list[Segment] | None:
    """The newest ``fan`` segments when they are of one size class and together hold at most
    ``merge_max`` chunks (merge them), else None."""
    if len(segments) < params.fan:
        return None
    last = segments[-params.fan:]
    if sum(s.chunks for s in last) > params.merge_max:
        return None
    classes = {size_class(s.chunks, params) for s in last}
    return list(last) if len(classes) == 1 else None


def chain(segments: Iterable[Segment]) -> list[Segment]:
    """The segments that cover chunk ids from 1 up without a gap or an overlap, larger ones
    first (a merge's result is saved before the segments it replaces are removed)."""
    chosen: list[Segment] = []
    for s in sorted(segments, key=lambda s: s.lo - s.hi):
        if all(s.hi < c.lo or s.lo > c.hi for c in chosen):
            chosen.append(s)
    chosen.sort(key=lambda s: s.lo)
    out: list[Segment] = []
    for s in chosen:
        if s.lo != (out[-1].hi + 1 if out else 1):
            break
        out.append(s)
    return out


class Lexical:
    """Segments and in-memory tail parts of one index generation: immutable, shared by threads."""

    def __init__(self, generation: int, segments: Sequence[Segment], tail: Sequence[Segment]):
        self.generation = generation
        self.segments = tuple(segments)
        self.tail = tuple(tail)

    @property
    def parts(self) -> tuple[Segment, ...]:
        return self.segments + self.tail

    @property
    def covered(self) -> int:
        """The highest chunk id the parts cover (0 when none)."""
        return max((s.hi for s in self.parts), default=0)

    def df(self, token: str) -> int:
        """Chunks that hold ``token`` (those removed since their segment was built included)."""
        return sum(s.df(token) for s in self.parts)

    @property
    def tail_chunks(self) -> int:
        return sum(s.chunks for s in self.tail)

    def search(self, tokens: Sequence[str], k: int, total: int,
               allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The ``k`` best chunks for ``tokens`` by BM25 over ``total`` chunks (the index's,
        as FTS5 counts them); ``allowed`` (sorted ids) restricts them.

        Segments split the chunk ids, so each is scored on its own: its postings of the
        question's words summed into an array over its ids (no sort), its best ``k`` kept."""
        parts = self.parts
        chunks = max(1, sum(s.chunks for s in parts))
        mask = None
        if allowed is not None:
            if allowed.size == 0:
                return []
            mask = np.zeros(int(allowed[-1]) + 1, dtype=bool)
            mask[allowed] = True
        average = sum(s.length for s in parts) / chunks
        weights: dict[str, float] = {}  # token → its IDF, times the phrases that make it
        for token in tokens:
            df = self.df(token)
            if df:
                # df still counts chunks removed since their segment was built, until a merge
                rest = total - df + 0.5
                idf = math.log(rest / (df + 0.5)) if rest > 0 else 0.0
                weights[token] = weights.get(token, 0.0) + (idf if idf > 0 else 1e-6)
        best_ids, best_scores = [], []
        for s in parts:
            # The question's postings of this segment as one set of arrays, scored with a few
            # whole-array operations: with several threads searching, each NumPy call hands the
            # GIL over and back, and per-word calls made that cost more than the sums.
            ids_of, frequencies_of, lengths_of, idf_of = [], [], [], []
            for token, idf in weights.items():
                got = s.postings(token)
                if got is not None:
                    ids_of.append(got[0])
                    frequencies_of.append(got[1])
                    lengths_of.append(got[2])
                    idf_of.append((idf, got[0].size))
            if not ids_of:
                continue
            ids = np.concatenate(ids_of)
            frequencies, lengths = np.concatenate(frequencies_of), np.concatenate(lengths_of)
            if mask is not None:
                keep = mask[np.minimum(ids, mask.size - 1)] & (ids < mask.size)
                ids, frequencies, lengths = ids[keep], frequencies[keep], lengths[keep]
                if not ids.size:
                    continue
                idf = np.repeat(np.array([w for w, _ in idf_of]), [n for _, n in idf_of])[keep]
            else:
                idf = np.repeat(np.array([w for w, _ in idf_of]), [n for _, n in idf_of])
            scores = np.bincount(ids - s.lo, weights=impacts(frequencies, lengths, average) * idf)
            held = np.flatnonzero(scores)  # often a small part of the segment's ids
            if held.size > k:
                held = held[np.argpartition(-scores[held], k - 1)[:k]]
            best_ids.append(held + s.lo)
            best_scores.append(scores[held])
        if not best_ids:
            return []
        ids, scores = np.concatenate(best_ids), np.concatenate(best_scores)
        order = np.lexsort((ids, -scores))[:k]
        return [(int(ids[i]), float(scores[i])) for i in order]


def saved_segments(index_folder: Path, known: dict[str, Segment] | None = None) -> list[Segment]:
    """The segments saved under ``index_folder/lexical`` that chain; those in ``known`` (by
    name) are not read again, unreadable ones are skipped (being replaced by a merge)."""
    folder = index_folder / FOLDER
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        if not re.fullmatch(r"\d+-\d+", path.name):
            continue
        segment = (known or {}).get(path.name)
        if segment is None:
            try:
                segment = Segment.load(path)
            except (OSError, ValueError, KeyError):
                continue
        found.append(segment)
    return chain(found)
