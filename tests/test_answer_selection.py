"""Pure pieces of answer selection: answer-type match, question sentences skipped, IDF coverage."""

from __future__ import annotations

from retrieval.answer import _passage_sentences, answer_type_match, idf_coverage
from retrieval.types import Hit


def _hit(text: str, title: str = "Title", rank: int = 1) -> Hit:
    return Hit(rank, 1.0, rank, f"a{rank}", text, title, None, None, None, 0, len(text))


def test_answer_type_match():
    assert answer_type_match("How old was she?", "She was 115 years old.")
    assert not answer_type_match("How old was she?", "She died on a farm.")
    assert answer_type_match("Which airline was fined?", "The fine went to American Airlines on Monday.")
    assert not answer_type_match("Which airline was fined?", "The airline was fined.")
    assert not answer_type_match("Explain the ruling", "The Court ruled 6-3.")


def test_question_sentences_are_not_answer_candidates():
    hit = _hit("What is the federal minimum wage? It is $7.25 per hour, unchanged since 2009.")
    assert [c.text for c in _passage_sentences([hit])] == ["It is $7.25 per hour, unchanged since 2009."]


def test_idf_coverage_needs_the_rare_words_together():
    idf = {"groundhog": 5.0, "shadow": 3.0, "phil": 4.0, "saw": 0.5}.get
    question = "Did Phil the groundhog see his shadow?"
    together = [_hit("Punxsutawney Phil, the groundhog, saw his shadow on Thursday.")]
    apart = [_hit("The groundhog festival drew crowds.", rank=1), _hit("A long shadow fell.", rank=2)]
    assert idf_coverage(question, together, idf) == 1.0
    assert idf_coverage(question, apart, idf) == 5.0 / 12.0
    assert idf_coverage("completely unknown words", together, lambda t: None) == 1.0
