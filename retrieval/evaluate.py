"""Evaluation of an index on a question set: the measures of issues 2 and 3 as pure functions,
and one runner, :func:`evaluate`, shared by ``benchmarks/bench_rtqa.py`` and ``retriever eval``.

Definitions (from ``shared/datasets/rtqa/README.md``):

* **normalised text** — lower-case, punctuation replaced by a space, whitespace collapsed.
  Replacing punctuation by a space (rather than deleting it) is the reading under which the
  dataset's own ``answer_in`` lists agree best with its article texts (1,664 of 1,750 questions
  exactly, against 1,643 when deleting), and it keeps "mole-rats" and "mole rats" equal.
* **answer recall within N words** — join the top passages in rank order, cut at N words; a hit
  when the normalised answer occurs in the normalised cut text. The budget makes long passages
  gain nothing.
* **url recall@k** — one of the question's ``answer_in`` URLs is the article of one of the top
  ``k`` passages.
* **answer contains expected** — the normalised expected answer occurs in the ``ask`` answer's
  sentences (markers and sources list excluded); an abstention is a miss.
* **baseline** — the same test on the first 80 words of the top hybrid passage: what a system
  that just shows the best passage would say in the same space.
* **honest** — :meth:`Engine.check` finds no problem: every quote verbatim in its article,
  every ``[n]`` backed by a citation, every citation used.

Nothing here imports a heavy library; the engine is only called through ``search``, ``ask`` and
``check``.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from retrieval.errors import RetrievalError
from retrieval.sources import parse_date
from retrieval.types import Answer, Hit

MODES = ("hybrid", "dense", "lexical")
BUDGETS = (120, 300, 600)
#: Passages retrieved per question for the word budgets. Chunks hold ~120 words but an
#: article's last chunk is often short, so 20 passages fill 600 words with room to spare.
SEARCH_K = 20
#: url recall looks at the articles of this many top passages (the dataset's definition).
URL_K = 5
#: The baseline answer: this many words of the top passage, the length budget of an answer.
BASELINE_WORDS = 80

_PUNCT = re.compile(r"[^\w\s]")


class EvalInputError(RetrievalError):
    """A question file line is not a usable question (names the line and the reason)."""


class Evaluable(Protocol):
    """What :func:`evaluate` needs of an engine (``retrieval.engine.Engine`` has it)."""

    def search(self, query: str, *, k: int = ..., as_of: date | None = ..., mode: str = ...) -> list[Hit]: ...

    def ask(self, query: str, *, as_of: date | None = ...) -> Answer: ...

    def check(self, answer: Answer) -> list[str]: ...


@dataclass(frozen=True)
class Question:
    """One evaluation question; ``answer_in`` holds the URLs of articles containing the answer."""

    question: str
    answer: str
    id: str | None = None
    as_of: date | None = None
    answer_in: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, row: Mapping[str, Any], where: str = "question") -> "Question":
        """From a JSON object: ``question``, ``answer``, optional ``id``, ``as_of`` (or the
        dataset's ``date``) and ``answer_in``."""
        question, answer = row.get("question"), row.get("answer")
        if not isinstance(question, str) or not question.strip():
            raise EvalInputError(f"{where}: missing 'question'")
        if not isinstance(answer, str) or not normalise(answer):
            raise EvalInputError(f"{where}: missing 'answer'")
        raw_date = row.get("as_of") or row.get("date")
        as_of = parse_date(raw_date)
        if raw_date and as_of is None:
            raise EvalInputError(f"{where}: 'as_of' must be YYYY-MM-DD (got {raw_date!r})")
        urls = row.get("answer_in") or ()
        if isinstance(urls, str):
            urls = (urls,)
        ident = row.get("id")
        return cls(
            question=question,
            answer=answer,
            id=None if ident is None else str(ident),
            as_of=as_of,
            answer_in=tuple(str(u) for u in urls),
        )


def load_questions(path: str | Path) -> list[Question]:
    """Questions from a JSONL file, one object per line (blank lines skipped)."""
    questions = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvalInputError(f"{where}: invalid JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise EvalInputError(f"{where}: line is not a JSON object")
            questions.append(Question.from_json(row, where))
    return questions


# ---------------------------------------------------------------------------- pure measures


def normalise(text: str) -> str:
    """Lower-case, punctuation replaced by a space, whitespace collapsed."""
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


def contains_answer(text: str, answer: str) -> bool:
    """Whether the normalised ``answer`` occurs in the normalised ``text``."""
    needle = normalise(answer)
    return bool(needle) and needle in normalise(text)


def first_words(texts: Iterable[str], words: int) -> str:
    """The first ``words`` words of ``texts`` joined in order."""
    out: list[str] = []
    for text in texts:
        out.extend(text.split()[: words - len(out)])
        if len(out) >= words:
            break
    return " ".join(out)


def answer_in_budget(passage_texts: Sequence[str], answer: str, words: int) -> bool:
    """Answer recall within a word budget: passages joined in rank order, cut at ``words``."""
    return contains_answer(first_words(passage_texts, words), answer)


def url_recall_at_k(passage_urls: Sequence[str | None], answer_in: Iterable[str], k: int = URL_K) -> bool:
    """Whether one of ``answer_in`` is the article of one of the top ``k`` passages."""
    wanted = set(answer_in)
    return any(url in wanted for url in passage_urls[:k] if url)


def answer_body(answer: Answer) -> str:
    """An answer's quoted sentences without ``[n]`` markers or sources; empty on abstention."""
    return "" if answer.abstained else " ".join(s.text for s in answer.sentences)


def rate(flags: Iterable[bool]) -> float | None:
    """Share of true values; None for an empty sequence."""
    values = list(flags)
    return sum(values) / len(values) if values else None


def _median_ms(seconds: list[float]) -> float | None:
    return round(statistics.median(seconds) * 1000, 1) if seconds else None


# ---------------------------------------------------------------------------- runner


def evaluate(
    engine: Evaluable,
    questions: Sequence[Question | Mapping[str, Any]],
    *,
    modes: Sequence[str] = MODES,
    budgets: Sequence[int] = BUDGETS,
    ask: bool = True,
    k: int = SEARCH_K,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run every question through ``engine`` and return the measures.

    Shape::

        {"questions": n,
         "search": {mode: {"recall@120": r, ..., "url_recall@5": r | None,
                           "url_questions": m, "median_ms": t}},
         "ask": {"answers": n, "contains_answer": r, "baseline_first80": r, "honest": r,
                 "abstained": r, "citations": c, "median_words": w, "max_words": w,
                 "median_ms": t},                                  # only with ask=True
         "per_question": [{"id", "question", "answer", "as_of", "search": {mode: {...}},
                           "ask": {...}}]}

    Rates are floats in [0, 1] (None when nothing was measured); url recall counts only
    questions that carry ``answer_in``. The baseline uses the hybrid search, so it costs an
    extra search only when "hybrid" is not among ``modes``.
    """
    items = [q if isinstance(q, Question) else Question.from_json(q) for q in questions]
    timings: dict[str, list[float]] = {m: [] for m in modes}
    ask_seconds: list[float] = []
    per_question: list[dict[str, Any]] = []
    for done, q in enumerate(items, 1):
        record: dict[str, Any] = {
            "id": q.id,
            "question": q.question,
            "answer": q.answer,
            "as_of": q.as_of.isoformat() if q.as_of else None,
            "search": {},
        }
        top_hybrid: list[Hit] | None = None
        for mode in modes:
            started = time.perf_counter()
            hits = engine.search(q.question, k=k, as_of=q.as_of, mode=mode)
            timings[mode].append(time.perf_counter() - started)
            if mode == "hybrid":
                top_hybrid = hits
            record["search"][mode] = _search_record(q, hits, budgets)
        if ask:
            if top_hybrid is None:
                top_hybrid = engine.search(q.question, k=1, as_of=q.as_of, mode="hybrid")
            started = time.perf_counter()
            answer = engine.ask(q.question, as_of=q.as_of)
            ask_seconds.append(time.perf_counter() - started)
            record["ask"] = _ask_record(q, answer, engine.check(answer), top_hybrid)
        per_question.append(record)
        if progress is not None:
            progress(done, len(items))

    result: dict[str, Any] = {"questions": len(items), "search": {}}
    for mode in modes:
        rows = [r["search"][mode] for r in per_question]
        measures: dict[str, Any] = {f"recall@{b}": rate(r[f"recall@{b}"] for r in rows) for b in budgets}
        with_urls = [r for r, q in zip(rows, items) if q.answer_in]
        measures[f"url_recall@{URL_K}"] = rate(r["url_hit"] for r in with_urls)
        measures["url_questions"] = len(with_urls)
        measures["median_ms"] = _median_ms(timings[mode])
        result["search"][mode] = measures
    if ask:
        rows = [r["ask"] for r in per_question]
        answered = [r["words"] for r in rows if not r["abstained"]]
        result["ask"] = {
            "answers": len(rows),
            "contains_answer": rate(r["contains"] for r in rows),
            "baseline_first80": rate(r["baseline"] for r in rows),
            "honest": rate(not r["problems"] for r in rows),
            "abstained": rate(r["abstained"] for r in rows),
            "citations": sum(r["citations"] for r in rows),
            "median_words": statistics.median(answered) if answered else None,
            "max_words": max(answered) if answered else None,
            "median_ms": _median_ms(ask_seconds),
        }
    result["per_question"] = per_question
    return result


def _search_record(q: Question, hits: Sequence[Hit], budgets: Sequence[int]) -> dict[str, Any]:
    texts = [h.text for h in hits]
    urls = [h.url for h in hits]
    record: dict[str, Any] = {f"recall@{b}": answer_in_budget(texts, q.answer, b) for b in budgets}
    record["url_hit"] = url_recall_at_k(urls, q.answer_in) if q.answer_in else None
    record["words"] = sum(len(t.split()) for t in texts)
    record["top_urls"] = urls[:URL_K]
    return record


def _ask_record(q: Question, answer: Answer, problems: list[str], top: Sequence[Hit]) -> dict[str, Any]:
    body = answer_body(answer)
    baseline = first_words([top[0].text], BASELINE_WORDS) if top else ""
    return {
        "text": answer.text,
        "abstained": answer.abstained,
        "contains": contains_answer(body, q.answer),
        "baseline": contains_answer(baseline, q.answer),
        "problems": problems,
        "citations": len(answer.citations),
        "cited_urls": [c.url for c in answer.citations],
        "words": len(body.split()),
    }


# ---------------------------------------------------------------------------- report


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def format_table(result: Mapping[str, Any], *, unanswerable: Mapping[str, Any] | None = None) -> str:
    """Markdown tables of a result of :func:`evaluate`; ``unanswerable`` is a second result
    (ask only) on questions whose answers are not in the corpus."""
    lines: list[str] = []
    search = result.get("search", {})
    if search:
        modes = list(search)
        budgets = sorted(int(key.split("@")[1]) for key in search[modes[0]] if key.startswith("recall@"))
        lines.append(f"| {result['questions']} questions | " + " | ".join(modes) + " |")
        lines.append("|---|" + "---:|" * len(modes))
        for b in budgets:
            lines.append(f"| answer recall @{b} words | " + " | ".join(_fmt(search[m][f"recall@{b}"]) for m in modes) + " |")
        key = f"url_recall@{URL_K}"
        lines.append(f"| url recall@{URL_K} | " + " | ".join(_fmt(search[m][key]) for m in modes) + " |")
        lines.append("| search ms (median) | " + " | ".join(f"{search[m]['median_ms']}" for m in modes) + " |")
    ask = result.get("ask")
    if ask:
        if lines:
            lines.append("")
        lines.append("| answers | value |")
        lines.append("|---|---:|")
        lines.append(f"| answer contains expected | {_fmt(ask['contains_answer'])} |")
        lines.append(f"| baseline: first {BASELINE_WORDS} words of top hybrid passage | {_fmt(ask['baseline_first80'])} |")
        lines.append(f"| honest answers (no citation problem; {ask['citations']} citations) | {_fmt(ask['honest'])} |")
        lines.append(f"| abstained, answerable ({ask['answers']}) | {_fmt(ask['abstained'])} |")
        if unanswerable and unanswerable.get("ask"):
            un = unanswerable["ask"]
            lines.append(f"| abstained, unanswerable ({un['answers']}) | {_fmt(un['abstained'])} |")
        lines.append(f"| answer words (median / max) | {ask['median_words']} / {ask['max_words']} |")
        lines.append(f"| ask ms (median) | {ask['median_ms']} |")
    return "\n".join(lines)


def summary(result: Mapping[str, Any]) -> dict[str, Any]:
    """The result without ``per_question`` (for printing as JSON)."""
    return {key: value for key, value in result.items() if key != "per_question"}


#: Suffixes that :func:`same_terms` strips (one per word, first match wins).
_SUFFIXES = ("ing", "ed", "es", "s", "e")


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if len(word) > 4 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def same_terms(asked: str, expected: str) -> bool:
    """Do two questions ask for the same thing, as far as search can tell? Their content terms
    (:func:`retrieval.lexical.terms`: lower-cased, stopwords out) are equal after stripping one
    common suffix ("rusting"/"rust", "issued"/"issue"). The measure of follow-up resolution
    (``benchmarks/bench_followups.py``): "Why did Russia issue a warrant?" and "Why Russia
    issued a warrant?" match; "What did Qureshi say about India?" and "… about Pakistan?" don't."""
    from retrieval.lexical import terms

    return {_stem(t) for t in terms(asked)} == {_stem(t) for t in terms(expected)}
