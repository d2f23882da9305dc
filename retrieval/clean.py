"""Boilerplate removal and title inference for plain-text articles copied from web pages.

Pure functions. Text copied from a news site carries paywall prompts, ad markers, image
captions and credits, sharing widgets and section breadcrumbs; none of it is news, and quoting
it would be embarrassing. Rules work line by line, so the article's own sentences are kept
verbatim (quotes must be exact substrings of the stored text).
"""

from __future__ import annotations

import re

# Whole lines that are never part of an article (matched case-insensitively, full line).
_BOILERPLATE = [
    r"advertisement",
    r"advertisements?\s*[-–—:]?\s*(scroll|continue) (down|reading).*",
    r"(sponsored|promoted)( content| stories)?",
    r"dismiss|close|skip( ad)?|x",
    r"please (register|sign in|sign up|log in|login|subscribe)\b.*",
    r"to continue (viewing|reading)\b.*",
    r"(this|the) (content|article|story) is (only )?(for|available to|reserved for) .*subscribers.*",
    r"(already a subscriber|subscribe now|sign up for (our|the) .*newsletter|get our .*newsletter).*",
    r"(image|photo|picture|video) ?(credit|courtesy|source)s?\s*:.*",
    r"(photo|image|file photo|credit)\s*:.*",
    r"(share|share this( article| story)?|tweet|email|print|copy link|comments?)",
    r"(read more|related|related articles|recommended|also read|most read|trending|"
    r"more from .{0,40}|you may also like|don't miss)\s*:?",
    r"(copyright|©|\(c\)) .*",
    r"follow us on .*",
    r"(we use cookies|this (site|website) uses cookies)\b.*",
    r"(click|tap) here .*",
]
_BOILERPLATE_RE = re.compile(r"^\s*(?:" + "|".join(_BOILERPLATE) + r")\s*$", re.IGNORECASE)
_CREDIT_RE = re.compile(r"^\s*(image|photo|picture)\s*(credit|courtesy|source)s?\s*:", re.I)
_SENTENCE_END = re.compile(r"[.!?\"”’:]\s*$")


def is_boilerplate(line: str) -> bool:
    return bool(_BOILERPLATE_RE.match(line))


def _looks_like_title(line: str) -> bool:
    """A headline: several words, no end punctuation, not too long."""
    words = line.split()
    return 4 <= len(words) <= 30 and not _SENTENCE_END.search(line)


def clean_text(raw: str) -> tuple[str | None, str]:
    """Strip boilerplate lines; return (inferred title or None, cleaned text).

    The title is the first headline-like line; short lines before it (section breadcrumbs
    such as "Asia Pakistan") are dropped. Everything after the title is kept, minus
    boilerplate lines and image captions (the line just before an image credit).
    """
    lines = [line.rstrip() for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    kept: list[str] = []
    for line in lines:
        if _CREDIT_RE.match(line):
            # An image credit follows its caption: drop the caption too.
            while kept and not kept[-1].strip():
                kept.pop()
            if kept:
                kept.pop()
            continue
        if is_boilerplate(line):
            continue
        kept.append(line)

    title = None
    body_start = 0
    for i, line in enumerate(kept):
        if not line.strip():
            continue
        if _looks_like_title(line.strip()):
            title = line.strip()
            body_start = i + 1
            break
        if len(line.split()) > 3:  # real prose before any headline: no title to infer
            break
    return title, _tidy("\n".join(kept[body_start:]))


def _tidy(text: str) -> str:
    """Collapse runs of blank lines into one paragraph break and trim the ends."""
    return re.sub(r"\n\s*\n(\s*\n)+", "\n\n", text).strip()


#: Sentences of page furniture that survive into article text: photo credits, video-player
#: labels, timestamps and bylines. They are kept in the stored text (quotes stay verbatim) but
#: never chosen as an answer sentence.
_CHROME = re.compile(
    r"getty images|\bap photo\b|/ ?ap\b|/ ?reuters\b|/ ?afp\b|\bphoto(graph)? (by|courtesy)\b|"
    r"\b(image|photo|video) (credit|source)\b|just watched|replay more videos|video ad feedback|"
    r"\bsource: cnn\b|must watch|click here|sign up for|\bupdated:? \d|\bpublished:? \d|"
    r"^\s*(by [A-Z][\w.'’-]+( [A-Z][\w.'’-]+){0,3}(,| and| for)|(\w+ )?\d{1,2}, \d{4},? \d{1,2}:\d\d)",
    re.IGNORECASE,
)
_CLOCK = re.compile(r"\b\d{1,2}:\d\d\s*(a\.?m\.?|p\.?m\.?)?\s*(ET|EDT|EST|PT|PDT|GMT|UTC)\b", re.I)


def is_page_chrome(sentence: str) -> bool:
    """A credit, caption label, video-player text or timestamp rather than news."""
    if _CHROME.search(sentence):
        return True
    # A dateline with a clock time and few other words ("May 3, 2025, 9:01 a.m. ET").
    return bool(_CLOCK.search(sentence)) and len(sentence.split()) < 14
