"""One story, many outlets (issue 11): near copies are folded into the stored story at ingest
and cited as "also in …". Real index folders, the hashing embedder (meaning does not matter:
folding is decided on the text), the seed article as the story."""

from __future__ import annotations

import sqlite3
from datetime import date

import pytest

from bot.render import citation_line
from retrieval import Settings, dupes
from retrieval.cli import format_answer, format_hits
from retrieval.embeddings import HashEmbedder
from retrieval.engine import Engine
from retrieval.types import AlternativeSource, Citation, Filters, also_in
from support import SEED

STORY_URL = "https://apnews.example/pakistan-us"
COPIES = {  # outlet → (URL, headline): the same wire story, another headline and boilerplate
    "The Independent": ("https://independent.example/world/qureshi-blinken",
                        "Pakistan seeks closer engagement with US, Qureshi tells Blinken"),
    "Yahoo News": ("https://news.yahoo.example/pakistan-calls-engagement",
                   "Pakistan calls for engagement with US for stability in South Asia"),
}


def _front(title: str, url: str, source: str, text: str) -> str:
    return f"---\ntitle: {title}\nurl: {url}\nsource: {source}\npublished: 2021-09-24\n---\n{text}\n"


@pytest.fixture
def story(hash_engine, tmp_path, seed_text):
    """The seed article as an AP story, and the stored text the copies are made from."""
    path = tmp_path / "ap.md"
    body = hash_engine  # the engine cleans the seed; the copies start from the cleaned text
    report = body.ingest([str(SEED)])
    text = body.store.article(report.results[0].article_id).text
    body.remove(report.results[0].article_id)
    path.write_text(_front("Pakistan calls for engagement with US for stability in South Asia",
                           STORY_URL, "AP", text))
    report = body.ingest([str(path)])
    assert report.count("added") == 1, report.results
    return report.results[0].article_id, text


def _copy_files(tmp_path, text: str) -> list[str]:
    paragraphs = text.split("\n\n")
    trimmed = "\n\n".join(paragraphs[:-1]) + "\n\nSign up to our free daily newsletter for the latest news."
    extended = text + "\n\nCopyright 2021 The Associated Press. All rights reserved."
    paths = []
    for (outlet, (url, title)), body in zip(COPIES.items(), (trimmed, extended)):
        path = tmp_path / f"{outlet.split()[-1]}.md"
        path.write_text(_front(title, url, outlet, body))
        paths.append(str(path))
    return paths


# ---------------------------------------------------------------------------- detection (pure)


def test_signature_estimates_the_exact_jaccard(seed_text):
    """Oracle: the MinHash estimate against the exact Jaccard of the shingle sets."""
    tokens = dupes.words(seed_text)
    for cut in (0.95, 0.8, 0.5):
        other = " ".join(tokens[: int(len(tokens) * cut)])
        exact = dupes.jaccard(dupes.shingles(tokens), dupes.shingles(dupes.words(other)))
        estimate = dupes.signature("", seed_text).similarity(dupes.signature("", other))
        assert abs(estimate - exact) < 0.12, (cut, estimate, exact)


def test_near_copy_rules(seed_text):
    title = "Pakistan calls for engagement with US for stability in South Asia"
    trimmed = seed_text.rsplit("\n\n", 2)[0] + "\n\nSign up to our newsletter."
    assert dupes.near_copy("Qureshi tells Blinken Pakistan wants closer engagement", trimmed,
                           title, seed_text) is not None
    # the same text under an unrelated headline: different stories on one template
    assert dupes.near_copy("Quiz of the week: 13 - 19 August", seed_text, title, seed_text) is None
    # an update that adds a long passage of its own is not a copy
    update = seed_text + "\n\n" + " ".join(f"New development number {i} was reported today." for i in range(60))
    assert dupes.near_copy(title, update, title, seed_text) is None
    # a short text is never folded
    assert dupes.near_copy(title, "Pakistan calls for engagement.", title, "Pakistan calls for engagement.") is None


def test_also_in_names_each_outlet_once():
    also = (AlternativeSource("https://i.example/a", "The Independent", "t"),
            AlternativeSource("https://y.example/b", "Yahoo News", "t"),
            AlternativeSource("https://y.example/c", "Yahoo News", "t"),
            AlternativeSource("https://ap.example/d", "AP", "t"),
            AlternativeSource("https://www.example.org/e", None, "t"))
    assert also_in("AP", also) == "also in The Independent, Yahoo News and www.example.org"
    assert also_in("AP", also[:2]) == "also in The Independent and Yahoo News"
    assert also_in("AP", ()) == ""


# ---------------------------------------------------------------------------- ingest


def test_near_copies_are_folded_and_cited(hash_engine, story, tmp_path):
    story_id, text = story
    report = hash_engine.ingest(_copy_files(tmp_path, text))
    assert [r.status for r in report.results] == ["folded", "folded"], report.results
    assert all(r.article_id == story_id for r in report.results)
    assert report.chunks_added == 0
    assert hash_engine.stats().articles == 1

    hits = hash_engine.search("Qureshi Blinken Afghanistan engagement", k=5)
    assert {h.article_id for h in hits} == {story_id}  # one story, not three outlets' copies
    assert [a.source for a in hits[0].also] == ["The Independent", "Yahoo News"]
    assert hits[0].to_json()["also"][0]["url"] == COPIES["The Independent"][0]
    assert "AP, also in The Independent and Yahoo News, 2021-09-24" in format_hits(hits)

    answer = hash_engine.ask("What did Qureshi say about Afghanistan?")
    assert not answer.abstained and answer.citations
    assert "— AP, also in The Independent and Yahoo News" in format_answer(answer)
    assert [a["source"] for a in answer.to_json()["citations"][0]["also"]] == ["The Independent", "Yahoo News"]

    # the copy's outlet finds the story
    assert hash_engine.search("Qureshi", k=3, filters=Filters(sources=("yahoo news",)))
    # re-ingesting a copy changes nothing
    again = hash_engine.ingest(_copy_files(tmp_path, text))
    assert [r.status for r in again.results] == ["unchanged", "unchanged"], again.results


def test_a_different_story_is_not_folded(hash_engine, story, tmp_path):
    story_id, text = story
    half = text[: len(text) // 2] + "\n\n" + " ".join(
        f"Officials in Karachi described a separate plan number {i} for ports." for i in range(40))
    path = tmp_path / "other.md"
    path.write_text(_front("Pakistan calls for engagement on ports", "https://other.example/ports", "Dawn", half))
    assert hash_engine.ingest([str(path)]).count("added") == 1


def test_copies_in_one_ingest_fold_into_the_first(hash_engine, story, tmp_path):
    story_id, text = story
    hash_engine.remove(story_id)
    first = tmp_path / "ap.md"
    report = hash_engine.ingest([str(first), *_copy_files(tmp_path, text)])
    assert [r.status for r in report.results] == ["added", "folded", "folded"], report.results
    assert hash_engine.stats().articles == 1


def test_folding_survives_reopening(hash_engine, story, tmp_path):
    """The band index is in SQLite: another engine (as another process would) finds the story."""
    story_id, text = story
    settings = hash_engine.settings
    hash_engine.close()
    with Engine.open(settings, embedder=HashEmbedder()) as other:
        report = other.ingest(_copy_files(tmp_path, text)[:1])
        assert report.results[0].status == "folded" and report.results[0].article_id == story_id


def test_remove_an_alternative_or_the_story(hash_engine, story, tmp_path):
    story_id, text = story
    independent, yahoo = _copy_files(tmp_path, text)
    hash_engine.ingest([independent, yahoo])

    removed = hash_engine.remove(COPIES["Yahoo News"][0])
    assert isinstance(removed, AlternativeSource) and removed.source == "Yahoo News"
    assert hash_engine.stats().articles == 1
    assert [a.source for a in hash_engine.search("Qureshi", k=1)[0].also] == ["The Independent"]
    assert hash_engine.remove(COPIES["Yahoo News"][0]) is None

    # removing the story drops its other sources: their text was never stored
    assert hash_engine.remove(STORY_URL).id == story_id
    assert hash_engine.stats().articles == 0
    assert hash_engine.remove(COPIES["The Independent"][0]) is None
    # so the copy, ingested again, becomes the story
    assert hash_engine.ingest([independent]).results[0].status == "added"


def test_index_made_before_folding_gains_it(tmp_path, story, hash_engine):
    """An index without the folding tables: opened for writing it gets them, and the next
    ingest signs the stored articles, so a copy of an old article is folded."""
    story_id, text = story
    settings = hash_engine.settings
    hash_engine.close()
    db = sqlite3.connect(settings.index / "index.sqlite")
    db.executescript("DROP TABLE article_sources; DROP TABLE article_bands; DROP TABLE article_minhash;"
                     "DELETE FROM meta WHERE key='dupes';")
    db.commit()
    db.close()
    with Engine.open(settings, embedder=HashEmbedder()) as engine:
        report = engine.ingest(_copy_files(tmp_path, text)[:1])
        assert report.results[0].status == "folded", report.results


# ---------------------------------------------------------------------------- rendering


def test_bot_citation_line_names_the_other_outlets():
    citation = Citation(
        n=1, article_id="a", title="Pakistan calls for engagement", url="https://ap.example/x",
        source="AP", published=date(2021, 9, 24), quote="q", start=0, chunk_id=1,
        also=(AlternativeSource("https://i.example/a", "The Independent", "t"),
              AlternativeSource("https://y.example/b", "Yahoo News", "t")),
    )
    assert citation_line(citation) == (
        '[1] <a href="https://ap.example/x">Pakistan calls for engagement</a> — '
        "AP, also in The Independent and Yahoo News, 2021-09-24"
    )
