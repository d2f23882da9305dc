"""Answers on the seed article with the real packaged model: who said what, citations, honesty,
abstention and the JSON contract."""

from __future__ import annotations

import pytest

QURESHI = "What did Qureshi say about Afghanistan?"
BLINKEN_QUOTE = "There is very strong unity of approach"


@pytest.fixture(scope="module")
def qureshi(seed_engine):
    return seed_engine.ask(QURESHI)


def test_qureshi_answer_quotes_qureshi(qureshi):
    text = qureshi.text
    assert not qureshi.abstained
    assert "stable and broad-based government in Afghanistan" in text
    assert "moral obligation to help the Afghan people" in text
    assert "would not repeat the mistake of disengaging with Afghanistan" in text
    assert BLINKEN_QUOTE not in text and "Blinken said" not in text
    assert text.count("[1]") == len(qureshi.sentences) <= 3


def test_qureshi_citation(qureshi, seed_engine):
    assert [c.n for c in qureshi.citations] == [1]
    citation = qureshi.citations[0]
    assert citation.title == "Pakistan calls for engagement with US for stability in South Asia"
    article = seed_engine.store.article(citation.article_id)
    assert article.text[citation.start : citation.start + len(citation.quote)] == citation.quote
    assert seed_engine.check(qureshi) == []


def test_other_speaker_is_not_mixed_in(seed_engine):
    answer = seed_engine.ask("What did Blinken say about the Taliban?")
    assert not answer.abstained
    assert "Qureshi" not in answer.text
    assert "moral obligation" not in answer.text


def test_unknown_speaker_abstains(seed_engine):
    answer = seed_engine.ask("What did Macron say about Afghanistan?")
    assert answer.abstained
    assert "Macron" in answer.text and not answer.citations


def test_unrelated_question_abstains(seed_engine):
    answer = seed_engine.ask("Who won the football world cup final?")
    assert answer.abstained, answer.text
    assert answer.citations == ()
    # The refusal says what the index does hold near the question.
    assert "The nearest articles I have: “Pakistan calls for engagement with US" in answer.text


def test_general_question_is_answered_verbatim(seed_engine):
    answer = seed_engine.ask("Who attended the delegation level meetings?")
    assert not answer.abstained
    assert "Munir Akram" in answer.text
    assert seed_engine.check(answer) == []


def test_ask_json_shape(qureshi):
    data = qureshi.to_json("q1")
    assert set(data) >= {"id", "query", "answer", "citations", "passages"}
    assert data["id"] == "q1" and data["query"] == QURESHI
    assert "Sources" not in data["answer"]
    assert set(data["citations"][0]) == {"n", "title", "url", "source", "published", "quote", "article_id", "also"}
    assert set(data["passages"][0]) == {
        "rank", "score", "text", "title", "url", "source", "published", "article_id", "chunk_id", "also"
    }
