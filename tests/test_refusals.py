"""Honest refusals (issue 10): questions in other languages, about years the index does not
cover, or about nothing it holds — through the engine with the real model, and through the
`retriever` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

import pytest

from retrieval import Settings
from retrieval.language import is_foreign
from retrieval.question import Question
from retrieval.types import NO_MATCH, OTHER_LANGUAGE, OUT_OF_RANGE
from support import ROOT, SEED

MARS = """---
title: Rover finds ancient lake bed on Mars
url: https://example.com/science/mars-lake
source: Space Daily
published: 2024-02-01
---
The Perseverance rover has found layers of clay that formed at the bottom of an ancient lake \
on Mars, mission scientists said on Thursday.

"These sediments tell us that liquid water stood in Jezero crater for a long time," said \
Maria Lopez, a geologist on the rover team.

The rover will store samples of the lake bed in sealed tubes. A later mission is meant to \
bring the tubes back to Earth in 2033.
"""

STRIKE = """---
title: Dock workers end strike at Rotterdam port
url: https://example.com/business/rotterdam-strike
source: Harbour News
published: 2022-06-14
---
Dock workers at the port of Rotterdam ended a three-day strike on Tuesday after the union and \
terminal operators agreed on a pay rise of 6 percent, union leader Pieter de Vries said.

Ships that had waited at anchor began to unload on Tuesday evening, the port authority said.
"""

RANGE = "The articles I have were published from 2022-06-14 to 2024-02-01."


def write_corpus(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / SEED.name).write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "mars.txt").write_text(MARS, encoding="utf-8")
    (folder / "strike.txt").write_text(STRIKE, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def engine(tmp_path_factory, real_embedder):
    """Three articles, two of them dated (the seed article has no date), the real model."""
    from retrieval.engine import Engine

    base = tmp_path_factory.mktemp("refusals")
    engine = Engine.open(Settings(index=base / "index"), embedder=real_embedder, create=True)
    report = engine.ingest([str(write_corpus(base / "corpus"))])
    assert report.count("added") == 3, report.summary()
    yield engine
    engine.close()


# ---------------------------------------------------------------------------- language


SHORT_ENGLISH = [
    "Lula Bolsonaro", "Sam Bankman-Fried trial", "Pedro Sánchez snap election", "Messi World Cup",
    "Andrés Manuel López Obrador", "Karim Benzema Ballon d'Or", "Netanyahu judicial reform",
    "Luis Rubiales kiss", "covid vaccines", "Who is Giorgia Meloni?", "What did Qureshi say about Afghanistan?",
    "Jonas Berg microcontrollers", "Banco Santander profits", "qatar world cup",
]
OTHER_LANGUAGES = [
    "¿Quién ganó la final del Mundial 2022?", "¿Qué dijo Biden sobre Ucrania?", "Кто выиграл чемпионат мира?",
    "Was hat Scholz über die Ukraine gesagt?", "Chi ha vinto le elezioni in Italia?", "谁赢得了世界杯？",
    "Quem ganhou a eleição no Brasil?", "Kto wygrał wybory w Polsce?",
]


@pytest.mark.parametrize("question", SHORT_ENGLISH)
def test_short_english_questions_with_names_are_english(question):
    assert not is_foreign(question)


@pytest.mark.parametrize("question", OTHER_LANGUAGES)
def test_questions_in_other_languages_are_foreign(question):
    assert is_foreign(question)


def test_a_spanish_question_gets_the_english_only_note_and_no_quotes(engine):
    answer = engine.ask("¿Quién ganó la final del Mundial 2022?")
    assert answer.abstained and answer.refusal == OTHER_LANGUAGE
    assert answer.text.startswith("I read English news only")
    assert RANGE in answer.text
    assert answer.citations == () and answer.passages == ()  # nothing was searched for
    assert answer.to_json()["refusal"] == "language"


# ---------------------------------------------------------------------------- years


def test_question_years():
    assert Question.parse("Who won the 2030 FIFA World Cup final?").years == (2030,)
    assert Question.parse("What changed between 1998 and 2031?").years == (1998, 2031)
    assert Question.parse("How many of the 2,000 passengers, or 12030 tickets?").years == ()


def test_a_future_year_the_index_cannot_cover_is_declined(engine):
    answer = engine.ask("Who won the 2030 FIFA World Cup final?", as_of=date(2026, 12, 2))
    assert answer.abstained and answer.refusal == OUT_OF_RANGE, answer.text
    assert answer.text.startswith("I found nothing about 2030 in the indexed articles.")
    assert RANGE in answer.text and "The nearest articles I have:" in answer.text
    assert answer.citations == ()


def test_a_year_outside_the_range_that_a_passage_names_is_answered(engine):
    # The newest article is of 2024, but it says what will happen in 2033.
    answer = engine.ask("What will the mission bring back to Earth in 2033?")
    assert not answer.abstained, answer.text
    assert "bring the tubes back to Earth in 2033" in answer.text
    assert engine.check(answer) == []


def test_a_question_inside_the_range_is_answered_as_before(engine):
    answer = engine.ask("What pay rise ended the Rotterdam dock strike in 2022?")
    assert not answer.abstained, answer.text
    assert "6 percent" in answer.text


def test_every_refusal_names_the_date_range(engine):
    answer = engine.ask("Who won the football world cup final?")
    assert answer.abstained and answer.refusal == NO_MATCH
    assert answer.text.endswith(RANGE)


def test_stats_know_the_oldest_and_newest_article(engine):
    stats = engine.stats()
    assert (stats.oldest_published, stats.newest_published) == (date(2022, 6, 14), date(2024, 2, 1))
    assert stats.to_json()["oldest_published"] == "2022-06-14"


# ---------------------------------------------------------------------------- search


def test_find_says_when_no_passage_is_a_good_match(engine):
    good = engine.find("Jezero crater lake sediments", k=5)
    assert good.good_match and good.note == "" and good.hits[0].title == "Rover finds ancient lake bed on Mars"
    for nonsense in ("xqzvy blorptang fizzlewick", "purple elephant saxophone tournament"):
        bad = engine.find(nonsense, k=5)
        assert not bad.good_match and bad.refusal == NO_MATCH, nonsense
        assert bad.hits and RANGE in bad.note  # the passages are still there for /search
    spanish = engine.find("¿Qué dijo Biden sobre Ucrania?", k=5)
    assert not spanish.good_match and spanish.refusal == OTHER_LANGUAGE
    future = engine.find("2031 Olympic Games host city", k=5)
    assert not future.good_match and future.refusal == OUT_OF_RANGE


# ---------------------------------------------------------------------------- the CLI


def run(*args):
    env = {**os.environ, "RETRIEVER_MODEL": "hash-256"}
    return subprocess.run([sys.executable, "-m", "retrieval", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory):
    base = tmp_path_factory.mktemp("refusals-cli")
    result = run("ingest", str(write_corpus(base / "corpus")), "--index", str(base / "index"))
    assert result.returncode == 0, result.stderr
    return base / "index"


def test_cli_refusal_names_the_range_and_suggests_search(cli_index):
    result = run("--index", str(cli_index), "ask", "Who won the 2030 FIFA World Cup final?")
    assert result.returncode == 0, result.stderr
    assert "I found nothing about 2030" in result.stdout and RANGE in result.stdout
    assert 'Try `retriever search "Who won the 2030 FIFA World Cup final?"`' in result.stdout


def test_cli_spanish_question_gets_the_english_only_note(cli_index):
    result = run("--index", str(cli_index), "ask", "¿Qué dijo Biden sobre Ucrania?", "--json")
    data = json.loads(result.stdout)
    assert data["abstained"] and data["refusal"] == "language"
    assert data["answer"].startswith("I read English news only") and "retriever search" not in data["answer"]


def test_cli_search_says_none_is_a_good_match(cli_index):
    data = json.loads(run("--index", str(cli_index), "search", "xqzvy blorptang", "--json").stdout)
    assert data["good_match"] is False and data["refusal"] == "no_match" and RANGE in data["note"]
    text = run("--index", str(cli_index), "search", "xqzvy blorptang").stdout
    assert text.startswith("None of these passages is a good match.")
    good = json.loads(run("--index", str(cli_index), "search", "Rotterdam dock strike", "--json").stdout)
    assert good["good_match"] is True and good["note"] is None
    stats = run("--index", str(cli_index), "stats").stdout
    assert "oldest:       2022-06-14" in stats and "newest:       2024-02-01" in stats
