"""Who said what, on real news articles (issue 3, "Who said what").

Each case in ``tests/data/attribution_cases.jsonl`` names an article of the rtqa dev set by URL,
a speaker question about it, and short fragments (at most ~8 words) of the sentences that must
be quoted (statements by the questioned person) and of those that must never be attributed to
them (statements by other people in the same article, often on the same topic). The article
texts belong to their publishers and stay outside the repository: they are read from
``../shared/datasets/rtqa/articles.jsonl.gz`` and the whole module is skipped without it.

Two checks per case:

* ``test_answer``: the engine-level answer (``compose`` over a single hit holding the whole
  article, with the meaning-free :class:`HashEmbedder`, so relevance rests on word overlap with
  the topic) quotes every ``must`` sentence, none of the ``must_not`` ones, does not abstain,
  and its citations are verbatim.
* ``test_attribution``: the attribution layer alone gives every ``must`` sentence to the
  questioned speaker and no ``must_not`` sentence.

Cases the current engine gets wrong are kept, marked ``xfail(strict=True)`` in the two tables
below with the pattern that is missed, so a fix shows up as an XPASS to be unmarked.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from retrieval.answer import check_citations, compose
from retrieval.attribution import attribute, is_speaker, parse_speaker_question
from retrieval.embeddings import HashEmbedder
from retrieval.question import Question
from retrieval.sentences import split_sentences
from retrieval.sources import article_from_row
from retrieval.types import Article, Hit

DATASET = Path(__file__).resolve().parents[2] / "shared/datasets/rtqa/articles.jsonl.gz"
CASES_FILE = Path(__file__).parent / "data" / "attribution_cases.jsonl"
#: Fragments identify a sentence without copying the publisher's text.
MAX_FRAGMENT_WORDS = 8

pytestmark = pytest.mark.skipif(
    not DATASET.exists(),
    reason=f"rtqa dev articles not found at {DATASET} (the shared datasets folder is not checked out)",
)

CASES = [json.loads(line) for line in CASES_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]

def _params() -> list:
    return [pytest.param(case, id=case["id"]) for case in CASES]


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def articles() -> dict[str, Article]:
    """The case articles, read in one pass over the dataset and built as JSONL ingest builds them."""
    wanted = {c["url"] for c in CASES}
    found: dict[str, Article] = {}
    with gzip.open(DATASET, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not any(url in line for url in wanted - found.keys()):
                continue  # cheap pre-filter: most lines are not wanted
            row = json.loads(line)
            if row.get("url") in wanted:
                found[row["url"]] = article_from_row(row, f"{DATASET.name}:{number}")
            if len(found) == len(wanted):
                break
    missing = sorted(wanted - found.keys())
    assert not missing, f"case articles missing from {DATASET}: {missing}"
    return found


def _sentences_with(article: Article, fragment: str) -> list[int]:
    spans = split_sentences(article.text)
    return [i for i, span in enumerate(spans) if fragment in span.text]


# ---------------------------------------------------------------------------- tests


def test_case_file_is_well_formed():
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    assert len(CASES) >= 15
    for case in CASES:
        assert set(case) == {"id", "question", "url", "must", "must_not"}, case["id"]
        assert case["must"] and case["must_not"], case["id"]
        assert parse_speaker_question(case["question"]) is not None, case["question"]
        for fragment in case["must"] + case["must_not"]:
            assert len(fragment.split()) <= MAX_FRAGMENT_WORDS, (case["id"], fragment)


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in CASES])
def test_fragments_name_one_sentence_each(case, articles):
    article = articles[case["url"]]
    for fragment in case["must"] + case["must_not"]:
        assert len(_sentences_with(article, fragment)) == 1, (case["id"], fragment)


@pytest.mark.parametrize("case", _params())
def test_answer(case, articles):
    article = articles[case["url"]]
    hit = Hit(
        rank=1,
        score=1.0,
        chunk_id=1,
        article_id=article.id,
        text=article.text,
        title=article.title,
        url=article.url,
        source=article.source,
        published=article.published,
        start=0,
        end=len(article.text),
    )
    answer = compose(Question.parse(case["question"]), [hit], HashEmbedder(256).embed, {article.id: article}.get)
    assert not answer.abstained, answer.note
    missing = [f for f in case["must"] if f not in answer.text]
    wrong = [f for f in case["must_not"] if f in answer.text]
    assert not missing and not wrong, f"missing {missing}, misattributed {wrong} in: {answer.text}"
    for citation in answer.citations:
        assert citation.quote in article.text
    stored = {article.id: article.text}
    assert check_citations(answer, stored.get) == []


@pytest.mark.parametrize("case", _params())
def test_attribution(case, articles):
    article = articles[case["url"]]
    question = parse_speaker_question(case["question"])
    spans = split_sentences(article.text)
    speakers = attribute(spans)
    problems = []
    for fragment, expected in [(f, True) for f in case["must"]] + [(f, False) for f in case["must_not"]]:
        for i in _sentences_with(article, fragment):
            if is_speaker(speakers[i], question) != expected:
                problems.append(f"{fragment!r} attributed to {speakers[i]!r}")
    assert not problems, f"{question.speaker}: " + "; ".join(problems)
