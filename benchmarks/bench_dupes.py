"""How many rtqa articles are near copies of another, at which similarity.

Computes the MinHash signature of each of the 7,374 articles (``retrieval.dupes``), finds
candidate pairs through the LSH bands exactly as ingest does, and for each candidate pair the
exact Jaccard of the shingle sets. Reports pairs and foldable articles per threshold (an
article is folded when some *earlier* article is a near copy), cross-outlet vs same-outlet,
and prints pairs per similarity band for eye-checking.

    python benchmarks/bench_dupes.py                      # counts
    python benchmarks/bench_dupes.py --samples 8 --seed 1 # plus 8 pairs per band to judge
    python benchmarks/bench_dupes.py --json out.json      # candidate pairs for later runs

Needs ../shared/datasets/rtqa/ (not part of the repository).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

from retrieval import dupes

ROOT = Path(__file__).resolve().parents[1]
ARTICLES = ROOT.parent / "shared" / "datasets" / "rtqa" / "articles.jsonl.gz"
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
BANDS = ((0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01))


def load(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def candidates(sigs: list[dupes.Signature]) -> set[tuple[int, int]]:
    buckets: dict[int, list[int]] = defaultdict(list)
    for i, sig in enumerate(sigs):
        for key in sig.bands():
            buckets[key].append(i)
    pairs = set()
    for members in buckets.values():
        if 1 < len(members) <= 200:  # a bucket this large would be boilerplate, not a story
            for x in range(len(members)):
                for y in range(x + 1, len(members)):
                    pairs.add((members[x], members[y]))
    return pairs


def folded(pairs: list[dict], threshold: float, key: str, n: int) -> int:
    """Articles that ingest in file order would fold: some earlier article is a near copy
    (the band lookup returns every earlier match; the best one decides)."""
    return len({p["j"] for p in pairs if p[key] >= threshold and p["foldable"]})


def simulate(rows: list[dict], sigs: list[dupes.Signature], pairs: list[dict], show: bool) -> None:
    """Ingest in file order with the product's rule: an article folds into the best earlier
    *story* (not itself folded) that passes ``dupes.near_copy``; what each guard stops."""
    by_new: dict[int, list[int]] = defaultdict(list)
    for p in pairs:
        if p["est"] >= dupes.NEAR_COPY_JACCARD - 0.1:
            by_new[p["j"]].append(p["i"])
    story_of: dict[int, int] = {}
    stopped = defaultdict(int)
    folded_pairs = []
    for j in sorted(by_new):
        best = None
        for i in by_new[j]:
            if i in story_of:
                continue
            a, b = rows[j], rows[i]
            match = dupes.near_copy(a["title"], a["text"], b["title"], b["text"])
            if match is None:
                stopped[_why_not(a, b)] += 1
            elif best is None or match.jaccard > best[1].jaccard:
                best = (i, match)
        if best is not None:
            story_of[j] = best[0]
            folded_pairs.append((best[0], j, best[1]))
    cross = sum(rows[i]["source"] != rows[j]["source"] for i, j, _ in folded_pairs)
    print(f"\nproduct rule (estimate >= {dupes.NEAR_COPY_JACCARD - 0.1:.1f}, exact J >= "
          f"{dupes.NEAR_COPY_JACCARD}, <= {dupes.MAX_OWN_SHINGLES} own shingles, a headline the story's text "
          f"bears out, >= {dupes.MIN_WORDS} words): {len(folded_pairs)} of {len(rows)} articles folded "
          f"({cross} across outlets) into {len(set(story_of.values()))} stories")
    print("candidate checks stopped by: " + ", ".join(f"{k} {v}" for k, v in sorted(stopped.items())))
    if show:
        for i, j, m in sorted(folded_pairs, key=lambda t: -t[2].jaccard):
            a, b = rows[i], rows[j]
            print(f"- J {m.jaccard:.2f} own {m.own_shingles:>3} | {a['source']} {a['published']} "
                  f"{a['title'][:60]!r}\n      <- {b['source']} {b['published']} {b['title'][:60]!r} {b['url'][-60:]}")


def _why_not(a: dict, b: dict) -> str:
    """The first guard of dupes.near_copy that a candidate pair fails."""
    if not dupes.headline_fits(a["title"], b["text"]):
        return "headline"
    if len(dupes.words(a["text"])) < dupes.MIN_WORDS:
        return "short"
    new = dupes.shingles(dupes.words(a["title"] + "\n" + a["text"]))
    old = dupes.shingles(dupes.words(b["title"] + "\n" + b["text"]))
    if len(new & old) / len(new | old) < dupes.NEAR_COPY_JACCARD:
        return "jaccard"
    return "own text"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=Path, default=ARTICLES)
    parser.add_argument("--samples", type=int, default=0, help="pairs to print per similarity band")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chars", type=int, default=300, help="characters of each text to print")
    parser.add_argument("--json", type=Path, help="write the candidate pairs here")
    parser.add_argument("--list", action="store_true", help="print every folded pair (to judge them)")
    args = parser.parse_args()
    if not args.articles.exists():
        sys.exit(f"{args.articles} not found: this benchmark needs ../shared/datasets/rtqa/")

    rows = load(args.articles)
    started = time.perf_counter()
    sigs = [dupes.signature(r["title"], r["text"]) for r in rows]
    sig_s = time.perf_counter() - started
    pairs_idx = candidates(sigs)
    print(f"{len(rows)} articles; signatures in {sig_s:.1f}s ({1000 * sig_s / len(rows):.1f} ms/article); "
          f"{len(pairs_idx)} candidate pairs from {dupes.BANDS}x{dupes.ROWS} bands", file=sys.stderr)

    grams = {}

    def shingles(i: int) -> set[str]:
        if i not in grams:
            grams[i] = dupes.shingles(dupes.words(rows[i]["title"] + "\n" + rows[i]["text"]))
        return grams[i]

    pairs = []
    for i, j in sorted(pairs_idx):
        a, b = shingles(i), shingles(j)
        inter = len(a & b)
        pairs.append({
            "i": i, "j": j, "est": sigs[i].similarity(sigs[j]), "jaccard": inter / len(a | b),
            "containment": inter / max(1, min(len(a), len(b))),
            "cross": rows[i]["source"] != rows[j]["source"],
            "foldable": sigs[i].foldable and sigs[j].foldable,
        })
    print(f"\nexact Jaccard of candidate pairs (estimate within 0.1 of it: "
          f"{sum(abs(p['est'] - p['jaccard']) <= 0.1 for p in pairs)}/{len(pairs)})")
    print(f"{'threshold':>9} {'pairs':>6} {'cross-outlet':>12} {'same-outlet':>11} "
          f"{'folded (exact J)':>16} {'folded (estimate)':>17}")
    for t in THRESHOLDS:
        hit = [p for p in pairs if p["jaccard"] >= t]
        print(f"{t:>9.1f} {len(hit):>6} {sum(p['cross'] for p in hit):>12} "
              f"{sum(not p['cross'] for p in hit):>11} {folded(pairs, t, 'jaccard', len(rows)):>16} "
              f"{folded(pairs, t, 'est', len(rows)):>17}")

    simulate(rows, sigs, pairs, args.list)
    if args.json:
        args.json.write_text(json.dumps(pairs))
    if not args.samples:
        return
    rng = random.Random(args.seed)
    for low, high in BANDS:
        band = [p for p in pairs if low <= p["est"] < high and p["foldable"]]
        print(f"\n======== estimated J in [{low}, {high}): {len(band)} pairs of foldable articles ========")
        for p in rng.sample(band, min(args.samples, len(band))):
            print(f"\n--- est {p['est']:.2f}  J {p['jaccard']:.2f}  containment {p['containment']:.2f}")
            for k in (p["i"], p["j"]):
                r = rows[k]
                text = " ".join(r["text"].split())
                print(f"  [{r['source']} {r['published']}] {r['title']}\n    {r['url']}\n"
                      f"    {len(text.split())} words: {text[: args.chars]}")


if __name__ == "__main__":
    main()
