"""Speaker detection on sentences and questions (pure, no model)."""

from __future__ import annotations

import pytest

from retrieval.attribution import attribute, is_speaker, parse_speaker_question, sentence_speaker
from retrieval.sentences import split_sentences


@pytest.mark.parametrize(
    ("question", "speaker", "topic"),
    [
        ("What did Qureshi say about Afghanistan?", "Qureshi", "Afghanistan"),
        ("What has FM Qureshi said on trade", "Qureshi", "trade"),
        ("What did Secretary of State Antony Blinken tell reporters?", "Antony Blinken", "reporters"),
        ("Biden's view on inflation?", "Biden", "inflation"),
        ("Did Zelensky comment on the grain deal?", "Zelensky", "the grain deal"),
        ("How did Pelosi respond to the ruling?", "Pelosi", "the ruling"),
        ("Did Stefano Domenicali, F1's chief executive, comment on protests?", "Stefano Domenicali", "protests"),
    ],
)
def test_speaker_questions(question, speaker, topic):
    parsed = parse_speaker_question(question)
    assert parsed is not None
    assert (parsed.speaker, parsed.topic) == (speaker, topic)


@pytest.mark.parametrize("question", ["What did the minister say?", "Who won the election?", "What is inflation?"])
def test_not_speaker_questions(question):
    assert parse_speaker_question(question) is None


@pytest.mark.parametrize(
    ("sentence", "speaker"),
    [
        ("The talks went well, Qureshi said.", "Qureshi"),
        ("“We will help,” said Qureshi.", "Qureshi"),
        ("Blinken, the top US diplomat, said the talks were useful.", "Blinken"),
        ("According to Merkel, the deal is done.", "Merkel"),
        ("“The Taliban says it seeks legitimacy,” he said.", "<pronoun>"),
        ("Afghanistan dominated the talks.", None),
    ],
)
def test_sentence_speaker(sentence, speaker):
    assert sentence_speaker(sentence) == speaker


def test_continuations_follow_the_last_speaker():
    text = (
        "Qureshi said the region needed stability. “We want peace,” he added. He hoped for more trade. "
        "“Unity matters,” Blinken told reporters. “The Taliban must act,” he said."
    )
    spans = split_sentences(text)
    assert attribute(spans) == ["Qureshi", "Qureshi", "Qureshi", "Blinken", "Blinken"]
    question = parse_speaker_question("What did Shah Mehmood Qureshi say?")
    assert [is_speaker(s, question) for s in attribute(spans)] == [True, True, True, False, False]
