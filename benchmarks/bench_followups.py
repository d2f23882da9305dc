"""Follow-up resolution (retrieval/followup.py) measured on the hand-written cases.

    python benchmarks/bench_followups.py [--show] [--rtqa]

Per kind of case: how many resolved to the expected standalone question. A case is resolved
when the content terms of the question asked equal those of the expected one, compared by a
crude stem (:func:`retrieval.evaluate.same_terms`); a standalone case passes only when it is not
rewritten at all. Splits: ``dev`` (the rules were tuned on it), ``holdout`` and ``holdout2``
(each written before the rules saw it; docs/BENCHMARKS.md gives their first scores too).
``--rtqa`` also counts how many of the real rtqa questions (../shared, if present) would be
rewritten when asked after another question: all of them stand on their own, so every rewrite
is a false positive.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retrieval.evaluate import same_terms  # noqa: E402
from retrieval.followup import Previous, resolve  # noqa: E402

CASES = ROOT / "tests" / "data" / "followups.jsonl"
#: Earlier questions for the rtqa false-positive count: a speaker question, a "which" question
#: with its answer (so "it"/"he" have somewhere to point), an adverbial question.
CONTEXTS = (
    Previous("What did Qureshi say about Afghanistan?"),
    Previous("Which iconic landmark is reportedly riddled with rust?",
             "The Eiffel Tower is riddled with rust and badly needs repairs, according to reports."),
    Previous("Where was FTX founder Sam Bankman-Fried arrested?"),
)
RTQA = ROOT.parent / "shared" / "datasets" / "rtqa" / "questions.jsonl"
def load_cases(path: Path = CASES) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def run_case(case: dict):
    return resolve(case["text"], Previous(case["previous"], case.get("answer", "")),
                   reply=case.get("reply", False))


def passed(case: dict) -> bool:
    result = run_case(case)
    if case["kind"] == "standalone":
        return not result.rewritten
    return result.rewritten and same_terms(result.question, case["expected"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--show", action="store_true", help="print every failed case")
    parser.add_argument("--rtqa", action="store_true", help="count rewrites of real questions")
    args = parser.parse_args()
    cases = load_cases()
    for split in sorted({c["split"] for c in cases}):
        subset = [c for c in cases if c["split"] == split]
        totals, good = Counter(c["kind"] for c in subset), Counter()
        for case in subset:
            if passed(case):
                good[case["kind"]] += 1
            elif args.show:
                r = run_case(case)
                print(f"  FAIL {case['id']} {case['kind']}: {case['text']!r}\n"
                      f"       got      {r.question!r} ({r.kind})\n"
                      f"       expected {case['expected']!r}")
        print(f"split {split}: {sum(good.values())}/{len(subset)} "
              f"({sum(good.values()) / len(subset):.0%})")
        for kind in sorted(totals):
            print(f"  {kind:<11} {good[kind]:>3}/{totals[kind]:<3} {good[kind] / totals[kind]:.0%}")
    if args.rtqa:
        if not RTQA.exists():
            print(f"--rtqa: {RTQA} not found")
            return
        questions = [json.loads(line)["question"] for line in RTQA.read_text().splitlines()]
        for previous in CONTEXTS:
            for reply in (False, True):
                rewritten = [q for q in questions if resolve(q, previous, reply=reply).rewritten]
                print(f"rtqa questions rewritten after {previous.question!r} (reply={reply}): "
                      f"{len(rewritten)}/{len(questions)}")
                for q in rewritten[:20] if args.show else []:
                    print(f"  REWRITTEN {q!r} → {resolve(q, previous, reply=reply).question!r}")


if __name__ == "__main__":
    main()
