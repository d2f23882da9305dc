"""Boilerplate removal and title inference for plain-text articles copied from web pages.

Pure functions. Text copied from a news site carries paywall prompts, ad markers, image
captions and credits, sharing widgets and section breadcrumbs; none of it is news, and quoting
it would be embarrassing. Rules work line by line, so the article's own sentences are kept
verbatim (quotes must be exact substrings of the stored text).
"""

from __future__ import annotations

import re

from retrieval.sentences import split_sentences

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


#: Page chrome: sentences of page furniture that survive into article text. One list, used
#: twice: :func:`strip_chrome` removes them when an article is ingested (every format), and
#: :func:`is_page_chrome` keeps them out of answers in articles indexed before that. Each entry
#: was checked on the rtqa articles (benchmarks/bench_chrome.py prints what it removes); a
#: pattern that also matched news prose was narrowed (e.g. "sign up for" alone: "2 million
#: people sign up for health insurance" is news).
CHROME_PATTERNS: tuple[str, ...] = (
    # Photo credits and captions: "Maja Hitij/Getty Images", "(AP Photo/Evan Vucci)",
    # "(Image credit: Getty Images)", "Photo: George Osodi", "Hide Caption 3 of 44".
    r"(?:/|\bvia |\()\s*getty images|getty images\)?\s*$",
    r"\bap photo\b",
    r"/ ?(?:ap|afp|reuters|epa(?:-efe)?|bloomberg|shutterstock|sipa(?: usa)?|redux|xinhua|pool|file|"
    r"anadolu agency|nurphoto|lightrocket|zuma press|usa today(?: network| sports)?|imagn images)\b",
    r"\bphoto(?:graph)? (?:by|courtesy)\b|\b(?:image|photo|video|picture) (?:credit|source|courtesy)s?\b",
    r"^\s*\(?photos?:",
    r"\bhide caption\b|\bshow caption\b",
    # Video players: "JUST WATCHED … Replay More Videos … MUST WATCH", "Video Ad Feedback 01:29 -
    # Source: CNN", the ad-feedback form.
    r"(?-i:JUST WATCHED|MUST WATCH)|replay more videos|video ad feedback|\bsource: cnn\b",
    r"how relevant is this ad to you|video player was slow to load|ad froze or did not finish",
    # Newsletters, sign-ups and subscriptions.
    r"\bsign up (?:right )?(?:here|now|today)\b|\bsign up (?:for|to receive) .{0,60}newsletter|"
    r"\bsubscribe to (?:the|our) newsletter|\bnewsletter here\b",
    r"delivered to your inbox|\bget .{0,40} in your inbox|\bnewsletter provides you\b|"
    r"would you like to receive .{0,40}newsletter",
    r"\bsubscribe (?:now|today|here)\b|\bsubscribe to [\w .]{1,40}\bhere\b|^\s*subscribe to\b|"
    r"support (?:local |our )?journalism|"
    r"consider supporting our journalism|thank you for supporting our journalism|digital subscriber today",
    r"we will use the (?:details|information) you have shared|if you wish to object to the use of your data",
    r"prices were accurate at the time this article was published|recommendations are independently chosen",
    r"purchases you make through our links may earn",
    # Contact lines and credits of the report.
    r"^\s*(?:follow|find) (?:\w+ ){0,3}on (?:twitter|facebook|instagram|x)\b|^\s*contributing: |pic\.twitter\.com/",
    r"^\s*(?:contact|reach|email|e-mail|shoot)\b.{0,80}(?:\w@\w|\b\d{3}-\d{3}-\d{4}\b)",
    r"\bclick here\b|check your local forecast here",
    # Timestamps and bylines: "Updated 10:01 AM EDT", "By Jane Doe and John Roe, CNN",
    # "May 3, 2025, 9:01". Case-sensitive: "By Monday, officials said …" is news.
    r"\b(?:updated|published):? \d{1,2}:\d\d",
    r"^\s*(?-i:By [A-Z][\w.'’-]+ [A-Z][\w.'’-]+(?: [A-Z][\w.'’-]+){0,2}(?:,| and | for ))",
    r"^\s*(?:\w+ )?\d{1,2}, \d{4},? \d{1,2}:\d\d",
)
_CHROME = re.compile("|".join(CHROME_PATTERNS), re.IGNORECASE)
#: Text every match of a CHROME_PATTERNS entry holds (lower case; "By " as written, it is
#: case-sensitive), plus one small pattern for the datelines. A line with none of them cannot
#: match, so the long alternation is not run on it: that search was ~85% of reading an rtqa
#: article (7 ms), and ~7% of lines hold one of these. A new pattern needs its text here;
#: tests/test_chrome.py checks both lists against each other and against real lines.
CHROME_LITERALS: tuple[str, ...] = (
    "getty images", "ap photo", "/", "photo", "image", "video", "picture", "caption", "watch",
    "source: cnn", "how relevant", "ad froze", "sign up", "newsletter", "inbox", "subscribe",
    "journalism", "we will use the", "if you wish to object", "prices were accurate",
    "recommendations are", "purchases you make", "follow", "find", "contributing: ",
    "pic.twitter.com", "contact", "reach", "email", "e-mail", "shoot", "click here",
    "check your local forecast", "updated", "published",
)
_DATELINE_HINT = re.compile(r"\d, \d{4}")
#: The only non-ASCII characters an IGNORECASE pattern matches for an ASCII letter (İ ı ſ and
#: the Kelvin sign): a line holding one is always searched in full.
_CASE_TWINS = re.compile("[\u0130\u0131\u017f\u212a]")
#: The same patterns anywhere in a line (a sentence may start mid-line): the quick test of
#: whether a line needs splitting into sentences at all.
_CHROME_IN_LINE = re.compile("|".join(CHROME_PATTERNS).replace(r"^\s*", r"(?:^|\s)"), re.IGNORECASE)
_CLOCK = re.compile(r"\b\d{1,2}:\d\d\s*(a\.?m\.?|p\.?m\.?)?\s*(ET|EDT|EST|PT|PDT|GMT|UTC)\b", re.I)
#: A caption line: it ends with a photographer's credit ("… on August 25. Drew Angerer/Getty
#: Images", "… Rodrigo Abd/AP", "… Shiho Fukada for CNN", "… (AP Photo/Susan Walsh)"). The
#: caption goes with its credit.
_CAPTION_END = re.compile(
    r"[.!?\"”)]\s+(?:[A-Z][\w.'’-]*\s){1,4}?(?:[A-Z][\w.'’-]*)(?:/[A-Z][\w.'’&-]*(?:\s[A-Z][\w.'’&-]*){0,3})+\s*$"
    r"|[.!?\"”)]\s+(?:[A-Z][\w.'’-]*\s){1,3}for CNN\s*$"
    r"|\((?i:ap photo|photo by|image credit|photo:)[^()]*\)\s*$|[.!?]\s+(?i:photo): [^.]*$"
)


_PROSE = re.compile(r"[^\W\d_]{2}")


def may_hold_chrome(line: str) -> bool:
    """False only when no CHROME_PATTERNS entry can match anywhere in ``line`` (a quick test of
    the texts every match holds; see CHROME_LITERALS)."""
    lower = line.lower()
    return (any(text in lower for text in CHROME_LITERALS) or "By " in line
            or _DATELINE_HINT.search(line) is not None or _CASE_TWINS.search(line) is not None)


def is_page_chrome(sentence: str) -> bool:
    """A credit, caption label, video-player text, sign-up prompt or timestamp rather than news."""
    if _CHROME.search(sentence):
        return True
    # A dateline with a clock time and few other words ("May 3, 2025, 9:01 a.m. ET").
    return bool(_CLOCK.search(sentence)) and len(sentence.split()) < 14


def is_caption(line: str) -> bool:
    """A photo caption: a line that ends with its photographer's credit."""
    return bool(_CAPTION_END.search(line))


def strip_chrome(text: str) -> str:
    """``text`` without page chrome: caption lines go whole (with their credit), and chrome
    sentences (:data:`CHROME_PATTERNS`) are cut out of the other lines; a line left without
    prose goes too. What stays is verbatim, so quotes remain exact substrings."""
    kept = []
    for line in text.split("\n"):
        if is_caption(line):
            continue
        if not may_hold_chrome(line) or not _CHROME_IN_LINE.search(line):
            kept.append(line)
            continue
        # Not the clock rule of is_page_chrome: "The vote starts at 9 a.m. ET." is news.
        spans = [s for s in split_sentences(line) if not _CHROME.search(s.text)]
        rest = " ".join(s.text for s in spans)
        if _PROSE.search(rest):  # not just a list number or a stray mark
            kept.append(rest)
    return _tidy("\n".join(kept))
