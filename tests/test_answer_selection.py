"""Pure pieces of answer selection: answer-type match, question sentences skipped, IDF coverage,
the sentence features and the shipped scorer."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from retrieval.answer import (
    SENTENCE_FEATURES,
    SENTENCE_SCORER,
    answer_type_match,
    idf_coverage,
    passage_sentences,
    sentence_features,
)
from retrieval.errors import RetrievalError
from retrieval.learned import LinearScorer, load_scorer
from retrieval.question import Question
from retrieval.types import Hit

Q = Question.parse


def _hit(text: str, title: str = "Title", rank: int = 1, published: date | None = None) -> Hit:
    return Hit(rank, 1.0, rank, f"a{rank}", text, title, None, None, published, 0, len(text))


def test_answer_type_match():
    assert answer_type_match(Q("How old was she?"), "She was 115 years old.")
    assert not answer_type_match(Q("How old was she?"), "She died on a farm.")
    assert answer_type_match(Q("Which airline was fined?"), "The fine went to American Airlines on Monday.")
    assert not answer_type_match(Q("Which airline was fined?"), "The airline was fined.")
    assert not answer_type_match(Q("Explain the ruling"), "The Court ruled 6-3.")


def test_question_sentences_are_not_answer_candidates():
    hit = _hit("What is the federal minimum wage? It is $7.25 per hour, unchanged since 2009.")
    assert [c.text for c in passage_sentences([hit])] == ["It is $7.25 per hour, unchanged since 2009."]


def test_idf_coverage_needs_the_rare_words_together():
    idf = {"groundhog": 5.0, "shadow": 3.0, "phil": 4.0, "saw": 0.5}.get
    question = "Did Phil the groundhog see his shadow?"
    together = [_hit("Punxsutawney Phil, the groundhog, saw his shadow on Thursday.")]
    apart = [_hit("The groundhog festival drew crowds.", rank=1), _hit("A long shadow fell.", rank=2)]
    assert idf_coverage(Q(question), together, idf) == 1.0
    assert idf_coverage(Q(question), apart, idf) == 5.0 / 12.0
    assert idf_coverage(Q("completely unknown words"), together, lambda t: None) == 1.0


# ---------------------------------------------------------------------------- learned scorer


def test_shipped_sentence_scorer_matches_the_features_the_code_computes():
    scorer = load_scorer(SENTENCE_SCORER, SENTENCE_FEATURES)
    assert scorer.features == SENTENCE_FEATURES
    assert "trained_on" in scorer.about and "command" in scorer.about


def test_a_scorer_trained_for_other_features_is_refused_with_the_file_named():
    text = LinearScorer(("cosine", "overlap"), np.zeros(2), np.ones(2), np.ones(2)).to_json()
    with pytest.raises(RetrievalError, match=r"scorer\.json: trained for features .* retrain"):
        LinearScorer.from_json(text, SENTENCE_FEATURES, "scorer.json")
    with pytest.raises(RetrievalError, match="not a scorer file"):
        LinearScorer.from_json("{}", SENTENCE_FEATURES, "scorer.json")


def test_scorer_round_trips_and_standardises():
    scorer = LinearScorer(("a", "b"), np.array([1.0, 0.0]), np.array([2.0, 1.0]), np.array([1.0, -1.0]))
    again = LinearScorer.from_json(scorer.to_json(), ("a", "b"), "x")
    assert again.score(np.array([[3.0, 1.0]])).tolist() == [0.0]  # (3-1)/2 - 1


def test_features_see_new_facts_freshness_and_position():
    query = "How many people live in Lagos?"
    text = "Lagos is a big city in Nigeria. About 15 million people live in Lagos, officials said."
    hits = [_hit(text, published=date(2024, 3, 4))]
    candidates = passage_sentences(hits)
    x = sentence_features(Q(query, date(2024, 3, 5)), candidates, np.array([0.5, 0.5]), hits)
    col = {name: x[:, i].tolist() for i, name in enumerate(SENTENCE_FEATURES)}
    assert col["new_numbers"] == [0.0, 1.0]
    assert col["answer_type"] == [0.0, 1.0]
    assert col["position"] == [1.0, 0.5]
    assert col["article_lead"] == [1.0, 0.0]
    assert col["fresh"] == [1.0, 1.0]
    assert col["quotation"] == [0.0, 0.0]
    assert col["support"] == [0.0, 0.0]  # one article does not vouch for itself
    stale = sentence_features(Q(query, date(2024, 5, 5)), candidates, np.array([0.5, 0.5]), hits)
    assert stale[:, SENTENCE_FEATURES.index("fresh")].tolist() == [0.0, 0.0]


def test_shipped_scorer_prefers_the_sentence_that_answers_over_one_that_restates():
    query = "How much is the federal minimum wage in the US?"
    hits = [_hit("Congress returned on Monday. The federal minimum wage in the US is a topic of debate "
                 "again this year. It has been $7.25 per hour since 2009, the longest stretch without a raise.")]
    candidates = passage_sentences(hits)
    # the restating sentence is much closer in meaning; the answering one carries the number
    x = sentence_features(Q(query), candidates, np.array([0.30, 0.75, 0.55]), hits)
    scores = load_scorer(SENTENCE_SCORER, SENTENCE_FEATURES).score(x)
    assert scores.argmax() == 2


def test_shipped_scorer_weighs_this_weeks_news_up():
    text = "The airline said it would weigh passengers before boarding from next month."
    as_of = date(2023, 6, 1)
    scorer = load_scorer(SENTENCE_SCORER, SENTENCE_FEATURES)
    score = []
    for day in (date(2023, 5, 30), date(2022, 1, 1)):
        hits = [_hit(text, published=day)]
        x = sentence_features(Q("Which airline will weigh passengers?", as_of), passage_sentences(hits), np.array([0.6]), hits)
        score.append(scorer.score(x)[0])
    assert score[0] > score[1]


def test_a_name_other_articles_repeat_supports_the_sentence_that_has_it():
    query = "Which airline will weigh passengers before boarding?"
    hits = [
        _hit("Air New Zealand will weigh passengers this month. Finnair did so in 2017.", rank=1),
        _hit("Passengers flying Air New Zealand may be asked to step on scales.", rank=2),
        _hit("Weighing passengers at Air New Zealand is voluntary, officials said.", rank=3),
    ]
    candidates = passage_sentences(hits)
    x = sentence_features(Q(query), candidates, np.full(len(candidates), 0.5), hits)
    support = dict(zip((c.text for c in candidates), x[:, SENTENCE_FEATURES.index("support")] * 20))
    assert support["Air New Zealand will weigh passengers this month."] == 4  # "new" and "zealand", each in 2 other articles
    assert support["Finnair did so in 2017."] == 0
    scores = load_scorer(SENTENCE_SCORER, SENTENCE_FEATURES).score(x[:2])
    assert scores[0] > scores[1]


def test_page_chrome_is_never_an_answer_candidate():
    text = ("May 3, 2025, 9:01 a.m. ET. Maja Hitij/Getty Images shows the crowd in Berlin today. "
            "JUST WATCHED Protesters march in Berlin Replay More Videos. "
            "Thousands marched through Berlin on Saturday against the new pension law.")
    assert [c.text for c in passage_sentences([_hit(text)])] == [
        "Thousands marched through Berlin on Saturday against the new pension law."
    ]


def test_a_refusal_names_the_nearest_articles_once_each():
    from retrieval.answer import nearest_articles

    hits = [_hit("x", title="Berlin pension protest", rank=1, published=date(2023, 5, 1)),
            replace(_hit("y", title="Berlin pension protest", rank=2), article_id="a1"),
            _hit("z", title="Budget vote", rank=3)]
    assert nearest_articles(hits) == " The nearest articles I have: “Berlin pension protest” (2023-05-01); “Budget vote”."
    assert nearest_articles([]) == ""


def test_abstention_needs_a_passage_close_in_meaning_and_the_rare_words():
    from retrieval.answer import ABSTAIN_COVERAGE, ABSTAIN_PASSAGE_COSINE, should_abstain

    fine = {"idf_coverage": 0.6, "passage_cosine": 0.7, "best_cosine": 0.6, "best_overlap": 0.8}
    assert not should_abstain(fine)
    far = {**fine, "passage_cosine": ABSTAIN_PASSAGE_COSINE - 0.01}
    assert should_abstain(far)
    assert not should_abstain({**far, "idf_coverage": 0.95})  # worded far off, but its rare words are there
    assert should_abstain({**fine, "idf_coverage": ABSTAIN_COVERAGE - 0.01})
    assert should_abstain({**fine, "best_cosine": 0.1, "best_overlap": 0.1})


def test_only_the_best_candidates_by_the_other_features_are_embedded():
    """Embedding candidate sentences is most of an answer's time: only ``embed_sentences`` of
    them are, the best by the features other than the cosine, and the answer quotes those."""
    from retrieval.answer import DEFAULT_ANSWER, compose
    from retrieval.embeddings import HashEmbedder

    seen: list[list[str]] = []
    hasher = HashEmbedder()

    def embed(texts):
        seen.append(list(texts))
        return hasher.embed(texts)

    filler = " ".join(f"Filler sentence number {i} talks about the weather in town." for i in range(12))
    hits = [_hit(f"The harbour strike ended on Tuesday after 40 days, the union said. {filler}", rank=1),
            _hit(f"{filler} Dock workers voted 312 to 9 to end the harbour strike.", rank=2)]
    question = Q("When did the harbour strike end?")
    params = replace(DEFAULT_ANSWER, embed_sentences=3, abstain_passage_cosine=0.0, abstain_cosine=-1.0)
    answer = compose(question, hits, embed, lambda _: None, params)
    assert len(seen) == 1 and len(seen[0]) == 1 + 3  # the question and three sentences of 26
    assert seen[0][0] == question.text and any("harbour strike" in text for text in seen[0][1:])
    assert answer.sentences and all(s.text in seen[0] for s in answer.sentences[:1])
    everything = replace(params, embed_sentences=0)
    seen.clear()
    compose(question, hits, embed, lambda _: None, everything)
    assert len(seen[0]) == 1 + len(passage_sentences(hits))
