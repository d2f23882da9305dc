"""Page chrome left in rtqa articles before and after ingest's cleaning (issue 10).

Every article goes through the product's reader for JSONL rows (``sources.article_from_row``,
which calls ``clean.strip_chrome``). "Before" is the row's text as the dataset has it (what
ingest stored until issue 10); "after" is the stored text now. Sentences of four words or more
(the ones an answer may quote) are checked against broad chrome *detectors*, written apart
from the cleaner's patterns and meant to over-match ("photo", "video", "newsletter" …), so
that the "after" column shows what the cleaner missed as well as prose that only looks like
chrome. Samples of each are printed for checking by eye, and so is a sample of what the
cleaner removed that no detector flags (the place to look for news removed by mistake).

    python benchmarks/bench_chrome.py                 # all 7,374 articles, ~2 min
    python benchmarks/bench_chrome.py --n 1000 --samples 20
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

from retrieval.errors import IngestError
from retrieval.sentences import split_sentences
from retrieval.sources import article_from_row

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "rtqa"

#: Broad detectors, one per kind of chrome; deliberately wider than the cleaner.
DETECTORS = {
    "photo credit (Getty, AP Photo, Name/Agency)": re.compile(
        r"getty|ap photo|[a-z]/ ?(ap|afp|reuters|epa|bloomberg|cnn|shutterstock)\b|image credit|hide caption", re.I),
    "the words photo / caption": re.compile(r"\bphoto|caption", re.I),
    "video player": re.compile(r"just watched|replay|video ad|must watch|ad feedback|this ad", re.I),
    "newsletter / sign-up": re.compile(r"newsletter|sign up|subscribe|subscriber|inbox|journalism", re.I),
    "source / contact line": re.compile(r"source: |follow \w+ (\w+ )?on |@\w|contributing:|click here", re.I),
}


def sentences(text: str) -> list[str]:
    return [s.text for s in split_sentences(text) if len(s.text.split()) >= 4]


def flagged(sentence: str) -> list[str]:
    return [name for name, rx in DETECTORS.items() if rx.search(sentence)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", type=Path, default=DATASET)
    p.add_argument("--n", type=int, default=0, help="articles sampled (0 = all)")
    p.add_argument("--seed", type=int, default=10)
    p.add_argument("--samples", type=int, default=15, help="sentences printed per sample")
    args = p.parse_args(argv)
    path = args.dataset / "articles.jsonl.gz"
    if not path.exists():
        print(f"no rtqa dataset at {args.dataset}; nothing to measure", file=sys.stderr)
        return 0
    rows = [json.loads(line) for line in gzip.open(path, "rt", encoding="utf-8")]
    if args.n:
        rows = random.Random(args.seed).sample(rows, args.n)
    before, after = Counter(), Counter()
    words_before = words_after = 0
    left: dict[str, list[str]] = {name: [] for name in DETECTORS}
    removed_unflagged: list[str] = []
    removed_flagged: list[str] = []
    for number, row in enumerate(rows):
        raw = (row.get("text") or "").strip()
        try:
            stored = article_from_row(row, f"articles:{number}").text
        except IngestError:
            stored = ""
        words_before += len(raw.split())
        words_after += len(stored.split())
        old, new = sentences(raw), sentences(stored)
        kept = Counter(new)
        for s in old:
            kinds = flagged(s)
            before.update(kinds)
            before["any"] += bool(kinds)
            if kept[s]:
                kept[s] -= 1
            elif kinds:
                removed_flagged.append(s)
            else:
                removed_unflagged.append(s)
        for s in new:
            kinds = flagged(s)
            after.update(kinds)
            after["any"] += bool(kinds)
            for kind in kinds:
                left[kind].append(s)
    print(f"{len(rows):,} articles; {words_before:,} words before cleaning, {words_after:,} after "
          f"({100 * (words_before - words_after) / max(1, words_before):.2f}% removed)\n")
    print("| detector (sentences of 4+ words) | before | after |")
    print("|---|---:|---:|")
    for name in [*DETECTORS, "any"]:
        print(f"| {name} | {before[name]:,} | {after[name]:,} |")
    print(f"\nremoved sentences: {len(removed_flagged):,} flagged by a detector, "
          f"{len(removed_unflagged):,} not flagged (check these for news removed by mistake)\n")
    rng = random.Random(args.seed)
    for kind, found in left.items():
        print(f"## still flagged after cleaning: {kind} ({len(found):,}), a sample")
        for s in rng.sample(found, min(args.samples, len(found))):
            print(f"  - {s[:220]}")
    print(f"## removed, flagged by a detector ({len(removed_flagged):,}), a sample")
    for s in rng.sample(removed_flagged, min(args.samples, len(removed_flagged))):
        print(f"  - {s[:220]}")
    print(f"## removed, not flagged by any detector ({len(removed_unflagged):,}), a sample")
    for s in rng.sample(removed_unflagged, min(args.samples * 2, len(removed_unflagged))):
        print(f"  - {s[:220]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
