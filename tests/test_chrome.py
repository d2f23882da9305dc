"""Page chrome (issue 10): photo credits and captions, video-player text, sign-up prompts and
contact lines are removed when an article is ingested, and never quoted; news prose that
merely looks like them stays. The snippets are shaped like the CNN, USA TODAY and The Week
pages of the rtqa articles."""

from __future__ import annotations

import gzip
import itertools
import json

import pytest

from retrieval.clean import (
    _CHROME_IN_LINE,
    CHROME_LITERALS,
    CHROME_PATTERNS,
    is_caption,
    is_page_chrome,
    may_hold_chrome,
    strip_chrome,
)
from support import ROOT, SHARED
from retrieval.sources import make_article

CHROME_LINES = [
    # captions ending with their credit: the caption goes with it
    "Wes Moore speaks at a rally in Rockville, Maryland, on August 25, 2022. Drew Angerer/Getty Images",
    "Founder Truett Cathy grew Chick-fil-A from a southern chicken joint into a national chain. Joe Benton/Atlanta Journal Constitution/AP",
    "A woman cries as mourners pray at the Zojoji Temple in Tokyo. Shiho Fukada for CNN",
    "Maja Hitij/Getty Images",
    "Richard Branson cheers with crew members after flying into space (Image credit: Patrick T. Fallon/AFP via Getty Images)",
    "President Joe Biden arrives to speak about the economy, Thursday, July 28, 2022. (AP Photo/Susan Walsh)",
    "Oil Pollution in Goi, Niger Delta. Photo: George Osodi",
    "Photos: Hurricane Fiona slams the Caribbean Nicasio Gil walks through the water. Hide Caption 1 of 21",
    # video players
    "JUST WATCHED Biden tears into Trump during January 6th speech Replay More Videos ... MUST WATCH Biden tears into Trump during January 6th speech 02:00",
    "Video Ad Feedback 01:29 - Source: CNN CNN legal analyst explains what Oath Keepers leader's arrest indicates",
    "1. How relevant is this ad to you?",
    # newsletters, subscriptions, contact lines
    "Get CNN Health's weekly newsletter Sign up here to get The Results Are In with Dr. Sanjay Gupta every Tuesday from the CNN Health team.",
    "(You can get \"5 Things You Need to Know Today\" delivered to your inbox daily. Sign up here.)",
    "We will use the details you have shared to manage your newsletter subscription.",
    "Support local journalism. Subscribe to azcentral.com today.",
    "Follow Jordan Mendoza on Twitter: @jordan_mendoza5.",
    "Contact Kayla Jimenez at kjimenez@usatoday.com.",
    "Contributing: The Associated Press",
    "By Nadeen Ebrahim, CNN",
]

NEWS = [
    "By Monday, officials said 2 million people had signed up for health insurance.",
    "More than 2 million people sign up for health insurance each year, the agency said.",
    "Getty Images sued Stability AI in February, saying it copied 12 million photos.",
    "Zelenskyy made the comments in a video address early Thursday.",
    "The vote starts at 9 a.m. ET on Tuesday, the board said.",
    "Photos of the scene show people gathered around the former leader as he lay in the street.",
    "Netflix added 5.3 million new subscribers from July to September.",
    "It was Vogelbach's 15th homer of the season, and the call stood following a replay review.",
    "Published in 1990, the book sold a million copies.",
    "The AC/DC concert was cancelled.",
]


@pytest.mark.parametrize("line", CHROME_LINES)
def test_chrome_lines_are_removed(line):
    body = "Dock workers ended the strike on Tuesday, the union said."
    assert strip_chrome(f"{body}\n\n{line}\n\nShips began to unload.") == (
        f"{body}\n\nShips began to unload.")


@pytest.mark.parametrize("sentence", NEWS)
def test_news_that_looks_like_chrome_is_kept(sentence):
    text = f"Dock workers ended the strike on Tuesday.\n\n{sentence}"
    assert strip_chrome(text) == text


def test_a_chrome_sentence_is_cut_out_of_a_paragraph_and_the_rest_kept_verbatim():
    text = ("The governor said the state would act. Sign up here for the '5 Things' newsletter. "
            "Lawmakers meet on Friday.")
    assert strip_chrome(text) == "The governor said the state would act. Lawmakers meet on Friday."


def test_what_ingest_removes_is_never_quoted_either():
    """One list of patterns: every removed sentence outside a caption is page chrome."""
    for line in CHROME_LINES:
        if not is_caption(line):
            assert is_page_chrome(line), line
    for sentence in NEWS[:4]:
        assert not is_page_chrome(sentence), sentence


def test_every_format_is_cleaned_at_ingest(hash_engine, tmp_path):
    row = {"url": "https://example.com/strike", "title": "Dock strike ends", "published": "2022-06-14",
           "text": "Dock workers ended a three-day strike on Tuesday.\n\n"
                   "Pieter de Vries speaks to workers in Rotterdam on June 14. Peter Dejong/AP\n\n"
                   "JUST WATCHED Strike ends Replay More Videos ... MUST WATCH Strike ends 02:00\n\n"
                   "Ships began to unload on Tuesday evening, the port authority said."}
    (tmp_path / "news.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    report = hash_engine.ingest([str(tmp_path / "news.jsonl")])
    assert report.count("added") == 1, report.summary()
    stored = hash_engine.store.article(report.results[0].article_id).text
    assert stored == ("Dock workers ended a three-day strike on Tuesday.\n\n"
                      "Ships began to unload on Tuesday evening, the port authority said.")


def test_an_article_of_chrome_only_is_refused():
    from retrieval.errors import IngestError

    with pytest.raises(IngestError, match="no article text"):
        make_article(text="Maja Hitij/Getty Images\n\nJUST WATCHED x Replay More Videos", title="t", origin="x")


# ---------------------------------------------------------------------------- the quick pre-test


def _alternatives(pattern: str) -> list[str]:
    """The top-level ``|`` branches of a regular expression."""
    branches, depth, start, escaped = [], 0, 0, False
    for i, ch in enumerate(pattern):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "|" and depth == 0:
            branches.append(pattern[start:i])
            start = i + 1
    return branches + [pattern[start:]]


def test_every_chrome_pattern_holds_a_listed_text():
    """A pattern added to CHROME_PATTERNS without its text in CHROME_LITERALS would be skipped
    by the quick test on every line that has none of the others."""
    for pattern in CHROME_PATTERNS:
        for branch in _alternatives(pattern):
            plain = branch.replace("\\", "").lower()
            assert (any(text in plain for text in CHROME_LITERALS) or branch.startswith(r"^\s*(?-i:By ")
                    or r"\d{1,2}, \d{4}" in branch), f"no CHROME_LITERALS text in {branch!r}"


def _real_lines() -> list[str]:
    lines = [line for text in CHROME_LINES + NEWS for line in text.split("\n")]
    lines += [line for path in sorted((ROOT / "corpus").glob("*.txt")) for line in path.read_text().split("\n")]
    rtqa = SHARED / "datasets" / "rtqa" / "articles.jsonl.gz"
    if rtqa.exists():
        with gzip.open(rtqa, "rt", encoding="utf-8") as fh:
            for row in itertools.islice(fh, 300):
                lines += json.loads(row)["text"].split("\n")
    return lines


def test_quick_test_never_skips_a_line_the_patterns_match():
    """Oracle: the full search over the seed corpus, the snippets above and 300 rtqa articles
    (when the dataset is there), plus the characters IGNORECASE folds onto ASCII letters."""
    lines = _real_lines() + ["Sub\u017fcribe now", "\u212aeep up: sign up here", "Photo by Ann Lee",
                             "By Jane Doe and John Roe, CNN", "May 3, 2025, 9:01"]
    matched = [line for line in lines if _CHROME_IN_LINE.search(line)]
    assert len(matched) > len(CHROME_LINES)
    assert [line for line in matched if not may_hold_chrome(line)] == []
    skipped = sum(1 for line in lines if not may_hold_chrome(line))
    assert skipped > len(lines) / 2  # it does skip most lines
