"""The evaluation measures on tiny hand-made data, and the runner on a real index built with the
meaning-free hash embedder (no model needed)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from retrieval.evaluate import (
    EvalInputError,
    Question,
    answer_body,
    answer_in_budget,
    contains_answer,
    evaluate,
    first_words,
    format_table,
    load_questions,
    normalise,
    rate,
    summary,
    url_recall_at_k,
)
from retrieval.types import Answer, AnswerSentence


def test_normalise_lowercases_replaces_punctuation_and_collapses_space():
    assert normalise("  “Squid Game”!\n\tSeason  2 ") == "squid game season 2"
    assert normalise("Naked mole-rats") == normalise("naked mole rats") == "naked mole rats"
    assert normalise("U.S. $1,000") == "u s 1 000"
    assert normalise("...") == ""


def test_contains_answer_ignores_case_and_punctuation():
    assert contains_answer("The show “Squid Game” returns.", '"Squid Game"')
    assert not contains_answer("The show returns.", "Squid Game")
    assert not contains_answer("anything", "!!")  # an empty normalised answer never matches


def test_first_words_joins_passages_in_order_and_cuts():
    assert first_words(["a b c", "d e", "f"], 4) == "a b c d"
    assert first_words(["a b"], 10) == "a b"
    assert first_words([], 3) == ""


def test_answer_in_budget_counts_words_across_passages():
    passages = ["one two three", "four “Squid", "Game” five"]
    assert answer_in_budget(passages, "Squid Game", 6)
    assert not answer_in_budget(passages, "Squid Game", 5)  # cut between the two words
    assert not answer_in_budget(list(reversed(passages)), "Squid Game", 100)  # rank order matters
    assert not answer_in_budget([], "Squid Game", 600)


def test_url_recall_at_k_looks_at_the_top_k_passages_only():
    urls = ["u1", None, "u2", "u3", "u4", "u5"]
    assert url_recall_at_k(urls, ["u4"], 5)
    assert not url_recall_at_k(urls, ["u5"], 5)
    assert url_recall_at_k(urls, ["u5"], 6)
    assert not url_recall_at_k(urls, [], 5)


def test_rate():
    assert rate([True, False, True, True]) == 0.75
    assert rate([]) is None


def test_answer_body_drops_markers_and_abstentions():
    answer = Answer("q", (AnswerSentence("First.", 1), AnswerSentence("Second 2.", 2)), (), ())
    assert answer.text == "First. [1] Second 2. [2]"
    assert answer_body(answer) == "First. Second 2."
    abstained = Answer("q", (), (), (), abstained=True, note="I found nothing about Squid Game.")
    assert answer_body(abstained) == ""


def test_question_from_dataset_row_uses_date_as_as_of():
    q = Question.from_json(
        {"id": 7, "date": "2022-06-16", "question": "Which show?", "answer": "Squid Game",
         "answer_in": ["https://a.example/1"], "search_results": []}
    )
    assert q == Question("Which show?", "Squid Game", "7", date(2022, 6, 16), ("https://a.example/1",))
    assert Question.from_json({"question": "Q?", "answer": "A b c", "as_of": "2024-01-02"}).as_of == date(2024, 1, 2)


@pytest.mark.parametrize(
    "row, message",
    [
        ({"answer": "x y z"}, "missing 'question'"),
        ({"question": "Q?", "answer": "--"}, "missing 'answer'"),
        ({"question": "Q?", "answer": "abc", "as_of": "soon"}, "'as_of' must be YYYY-MM-DD"),
    ],
)
def test_question_rejects_bad_rows_naming_the_problem(row, message):
    with pytest.raises(EvalInputError, match=message):
        Question.from_json(row, "f.jsonl:3")


def test_load_questions_names_the_bad_line(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "Q?", "answer": "abc"}\n\n{oops\n', encoding="utf-8")
    with pytest.raises(EvalInputError, match=r"q\.jsonl:3: invalid JSON"):
        load_questions(path)
    path.write_text('{"question": "Q?", "answer": "abc"}\n\n', encoding="utf-8")
    assert load_questions(path) == [Question("Q?", "abc")]


ARTICLES = [
    {
        "url": "https://news.example/otters",
        "title": "Sea otters return to the estuary",
        "published": "2022-06-10",
        "text": "Sea otters have returned to the Elkhorn estuary after decades away. "
        "Biologists counted forty-two otters in the survey this spring. "
        "The otters eat crabs that would otherwise destroy the seagrass beds.",
    },
    {
        "url": "https://news.example/bridge",
        "title": "City council approves new bridge",
        "published": "2022-06-12",
        "text": "The city council approved the Harbour Bridge project on Tuesday. "
        "Construction is expected to cost 40 million dollars and finish in 2025. "
        "Mayor Lena Ortiz said the bridge would cut commuting times in half.",
    },
]


@pytest.fixture
def small_engine(hash_engine, tmp_path):
    path = tmp_path / "articles.jsonl"
    path.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES), encoding="utf-8")
    report = hash_engine.ingest([str(path)])
    assert report.count("added") == 2, report.summary()
    return hash_engine


def test_evaluate_runs_every_mode_and_the_ask_measures(small_engine):
    questions = [
        {"id": "1", "date": "2022-06-16", "question": "How many sea otters did biologists count in the estuary?",
         "answer": "forty-two", "answer_in": ["https://news.example/otters"]},
        {"id": "2", "question": "What will the Harbour Bridge construction cost?",
         "answer": "40 million dollars", "answer_in": ["https://news.example/bridge"]},
        {"id": "3", "question": "Who won the chess championship in Madras?", "answer": "Magnus Carlsen"},
    ]
    result = evaluate(small_engine, questions, budgets=(10, 600))
    assert result["questions"] == 3
    assert set(result["search"]) == {"hybrid", "dense", "lexical"}
    hybrid = result["search"]["hybrid"]
    # The whole corpus fits in 600 words: both answerable questions are hits, the third is not.
    assert hybrid["recall@600"] == pytest.approx(2 / 3)
    assert hybrid["recall@10"] <= hybrid["recall@600"]
    assert hybrid["url_questions"] == 2  # question 3 has no answer_in
    assert hybrid["url_recall@5"] == 1.0
    ask = result["ask"]
    assert ask["answers"] == 3
    assert ask["honest"] == 1.0  # quotes are sliced from stored text
    assert 0.0 <= ask["abstained"] <= 1.0
    records = result["per_question"]
    assert [r["id"] for r in records] == ["1", "2", "3"]
    assert records[0]["as_of"] == "2022-06-16"
    assert records[2]["search"]["hybrid"]["url_hit"] is None
    for r in records:
        assert r["ask"]["contains"] == contains_answer(r["ask"]["text"], r["answer"]) or r["ask"]["abstained"]
    table = format_table(result, unanswerable=evaluate(small_engine, questions[2:], modes=()))
    assert "| answer recall @600 words |" in table
    assert "abstained, unanswerable (1)" in table
    assert "per_question" not in summary(result)


def test_evaluate_without_hybrid_still_measures_the_baseline(small_engine):
    questions = [Question("What will the Harbour Bridge construction cost?", "40 million dollars")]
    result = evaluate(small_engine, questions, modes=("lexical",))
    assert set(result["search"]) == {"lexical"}
    assert result["search"]["lexical"]["url_recall@5"] is None
    assert result["ask"]["baseline_first80"] == 1.0  # the bridge article is 36 words long
    assert evaluate(small_engine, questions, modes=("dense",), ask=False).keys() == {"questions", "search", "per_question"}
