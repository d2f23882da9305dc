"""Pure rendering: engine results → Telegram HTML message strings.

Nothing here talks to Telegram or imports it, so every function can be tested on its own.
Rules kept by every function:

* all question and article text is escaped (``&``, ``<``, ``>``; ``"`` inside attributes);
* a message is at most :data:`MESSAGE_LIMIT` UTF-16 code units, which is how Telegram counts
  (an emoji or other astral character counts twice). The limit is applied to the raw HTML,
  which is stricter than Telegram (it counts the text after parsing), so a page never bounces;
* long content is split between self-contained blocks, and a block too long on its own is cut
  between words of its plain text and re-wrapped, so no tag or entity is ever broken.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from retrieval.types import (
    OTHER_LANGUAGE,
    Answer,
    Alert,
    Citation,
    Digest,
    Feed,
    Hit,
    IngestReport,
    IngestStep,
    ItemResult,
    SearchResult,
    Stats,
    Subscription,
    also_in,
)

#: Telegram's limit for one message text, in UTF-16 code units.
MESSAGE_LIMIT = 4096
#: Titles longer than this are clipped: a source line must stay one short block.
TITLE_CHARS = 200
#: Snippet length for inline results: long enough to carry a quote, short enough to read.
SNIPPET_CHARS = 600

#: Commands shown in /help and registered with setMyCommands (name, description).
COMMANDS: tuple[tuple[str, str], ...] = (
    ("ask", "Answer a question with quoted sentences and sources"),
    ("search", "List the passages that match a question best"),
    ("source", "Reply to a message with this to find its sources"),
    ("today", "The day's main stories, or a topic's: /today [topic]"),
    ("follow", "Get a message when news about a topic comes in"),
    ("following", "The topics this chat follows"),
    ("unfollow", "Stop following a topic"),
    ("stats", "How many articles I know, and the newest"),
    ("help", "How to use this bot, with example questions"),
    ("start", "Start here"),
)

#: Example questions for /help; they are answerable from the seed corpus.
EXAMPLE_QUESTIONS: tuple[str, ...] = (
    "What did Qureshi say about Afghanistan?",
    "What kind of government does Pakistan want in Afghanistan?",
    "Who did Blinken meet at the UN General Assembly?",
)


def utf16_len(text: str) -> int:
    """Length of ``text`` as Telegram counts it: in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def escape(text: str) -> str:
    """Escape text for Telegram HTML (``&``, ``<``, ``>``)."""
    return html.escape(text, quote=False)


def clip(text: str, limit: int) -> str:
    """Shorten ``text`` to at most ``limit`` characters, at a word boundary, with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:.") + "…"


@dataclass(frozen=True)
class _Block:
    """A balanced HTML fragment and the separator that goes before it inside one message."""

    html: str
    sep: str = "\n\n"


def _pack(blocks: Iterable[_Block], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Join blocks into as few messages as fit ``limit``; a separator never starts a message."""
    pages: list[str] = []
    current = ""
    for block in blocks:
        candidate = current + block.sep + block.html if current else block.html
        if utf16_len(candidate) <= limit:
            current = candidate
        else:
            if current:
                pages.append(current)
            current = block.html
    if current:
        pages.append(current)
    return pages


def split_text(text: str, budget: int, *, escaped: bool = True) -> list[str]:
    """Cut ``text`` into pieces of at most ``budget`` UTF-16 units (after escaping when
    ``escaped``), between words where possible and never inside a character or an entity."""
    convert = escape if escaped else (lambda s: s)
    pieces: list[str] = []
    current, size = "", 0
    for token in re.findall(r"\S+\s*|\s+", text):
        units = [token] if utf16_len(convert(token)) <= budget else list(token)
        for unit in units:
            converted = convert(unit)
            length = utf16_len(converted)
            if size + length > budget and current:
                pieces.append(current)
                current, size = "", 0
            current += converted
            size += length
    if current.strip():
        pieces.append(current)
    return [piece.strip() for piece in pieces if piece.strip()]


def _text_blocks(
    text: str, open_tag: str = "", close_tag: str = "", sep: str = "\n"
) -> list[_Block]:
    """Escape ``text`` and wrap it in a tag pair, as one block or several if it is too long."""
    budget = MESSAGE_LIMIT - utf16_len(open_tag + close_tag)
    pieces = split_text(text, budget)
    return [_Block(f"{open_tag}{piece}{close_tag}", sep) for piece in pieces]


def _safe_url(url: str | None) -> str | None:
    return url if url and re.match(r"https?://\S+$", url) else None


def _title_link(title: str, url: str | None) -> str:
    text = escape(clip(title or "Untitled", TITLE_CHARS))
    url = _safe_url(url)
    return f'<a href="{html.escape(url, quote=True)}">{text}</a>' if url else text


def _meta(source: str | None, published: date | None) -> str:
    parts = [clip(source, 80) if source else "", published.isoformat() if published else ""]
    return escape(", ".join(part for part in parts if part))


def _source_line(label: str, title: str, url: str | None, source: str | None,
                 published: date | None) -> str:
    meta = _meta(source, published)
    return f"{label} {_title_link(title, url)}" + (f" — {meta}" if meta else "")


def citation_line(citation: Citation) -> str:
    """``[n] <a href=url>Title</a> — Outlet, YYYY-MM-DD`` for the sources list, with the
    other outlets that ran the story: ``— AP, also in The Independent and Yahoo News, …``."""
    source = citation.source
    also = also_in(source, citation.also)
    if also:
        source = f"{source}, {also}" if source else also.capitalize()
    return _source_line(f"[{citation.n}]", citation.title, citation.url, source, citation.published)


def answer_messages(answer: Answer) -> list[str]:
    """The reply to a question: the answer with ``[n]`` markers, then its linked sources."""
    if answer.abstained or not answer.sentences:
        note = answer.note or "I found nothing about that in the articles I have read."
        hint = "" if answer.refusal == OTHER_LANGUAGE else " Try /search to see the closest passages."
        return _pack(_text_blocks(note + hint))
    blocks: list[_Block] = []
    for sentence in answer.sentences:
        blocks.extend(_Block(b.html, " ") for b in _text_blocks(f"{sentence.text} [{sentence.n}]"))
    blocks.append(_Block("<b>Sources</b>", "\n\n"))
    blocks.extend(_Block(citation_line(c), "\n") for c in answer.citations)
    return _pack(blocks)


def understood(label: str, pages: list[str]) -> list[str]:
    """Answer pages headed by what was understood of a follow-up ("<i>Biden — about
    Afghanistan:</i>"), so that a wrong guess is visible; ``pages`` as they are without one."""
    if not label:
        return pages
    label = clip(label, 300)
    return with_note(f"<i>{escape(label)}{'' if label.endswith('?') else ':'}</i>", pages)


def clipped_note(question: str) -> str:
    """Said before the answer to a long message: which question of it was answered."""
    return f"<i>Your message was long; I answered: {escape(clip(question, 300))}</i>"


def with_note(note: str, pages: list[str]) -> list[str]:
    """``pages`` with a short HTML ``note`` at the top of the first one (or on a page of its
    own when the first is full)."""
    if pages and utf16_len(f"{note}\n\n{pages[0]}") <= MESSAGE_LIMIT:
        return [f"{note}\n\n{pages[0]}", *pages[1:]]
    return [note, *pages]


def _keep_together(blocks: list[_Block]) -> list[_Block]:
    """One listed item's blocks as a single block when they fit one message, so that a page
    break never falls between a passage's source line and its text; an item longer than a
    message keeps its blocks and is split between them."""
    joined = "".join((b.sep if i else "") + b.html for i, b in enumerate(blocks))
    if blocks and utf16_len(joined) <= MESSAGE_LIMIT:
        return [_Block(joined, blocks[0].sep)]
    return blocks


def _hit_blocks(label: str, hit: Hit, span: tuple[int, int] | None = None) -> list[_Block]:
    """A passage's source line and its text in a blockquote; ``span`` (offsets into
    ``hit.text``) is set in bold when the whole passage fits one message."""
    header = _Block(_source_line(label, hit.title, hit.url, hit.source, hit.published))
    if span is not None:
        before, quote, after = hit.text[: span[0]], hit.text[span[0] : span[1]], hit.text[span[1] :]
        quoted = (f"<blockquote>{escape(before)}<b>{escape(quote)}</b>{escape(after)}"
                  "</blockquote>")
        if utf16_len(header.html) + 1 + utf16_len(quoted) <= MESSAGE_LIMIT:
            return [header, _Block(quoted, "\n")]
    return [header, *_text_blocks(hit.text, "<blockquote>", "</blockquote>")]


def search_note(result: SearchResult) -> str:
    """The line above /search results when none is a good match ("" when some is)."""
    if result.good_match:
        return ""
    if result.refusal == OTHER_LANGUAGE:
        return result.note
    return f"None of these passages is a good match. {result.note}"


def hits_messages(hits: Sequence[Hit], heading: str, *, first_number: int = 1,
                  note: str = "") -> list[str]:
    """A numbered list of passages (for /search, /source and "More sources"), under ``note``;
    the heading stays on the page of the first passage."""
    head = [_Block(f"<b>{escape(clip(heading, 300))}</b>")]
    head.extend(_Block(b.html, "\n") for b in _text_blocks(note))
    blocks = [] if hits else head
    for offset, hit in enumerate(hits):
        item = _hit_blocks(f"<b>{first_number + offset}.</b>", hit)
        blocks.extend(_keep_together([*head, *item] if offset == 0 else item))
    return _pack(blocks)


def quote_span(citation: Citation, hit: Hit) -> tuple[int, int] | None:
    """Where the citation's quote sits inside the passage text: by the recorded char offsets
    when they agree with the text, else by the first occurrence, else None."""
    relative = citation.start - hit.start
    if hit.text[relative : relative + len(citation.quote)] == citation.quote and relative >= 0:
        return relative, relative + len(citation.quote)
    found = hit.text.find(citation.quote) if citation.quote else -1
    return (found, found + len(citation.quote)) if found >= 0 else None


def passage_messages(citation: Citation, hit: Hit | None) -> list[str]:
    """The full passage behind citation ``[n]``, its quoted sentence in bold."""
    if hit is None:  # the passage is not among the answer's hits; the quote alone still cites
        hit = Hit(rank=0, score=0.0, chunk_id=citation.chunk_id, article_id=citation.article_id,
                  text=citation.quote, title=citation.title, url=citation.url,
                  source=citation.source, published=citation.published, start=citation.start,
                  end=citation.start + len(citation.quote))
    return _pack(_hit_blocks(f"<b>[{citation.n}]</b>", hit, quote_span(citation, hit)))


def inline_quote(hit: Hit) -> str:
    """The message posted when an inline result is chosen: a quote and its citation. A passage
    that opens with a quotation mark of its own gets no second one."""
    meta = _meta(hit.source, hit.published)
    cite = _title_link(hit.title, hit.url) + (f", {meta}" if meta else "")
    text = escape(clip(hit.text, SNIPPET_CHARS))
    quoted = text if text.startswith(_OPENING_QUOTES) else f"“{text}”"
    return f"{quoted}\n— {cite}"


#: Quotation marks a passage may open with: “ " ‘ ' « „ and the German/Swiss ones.
_OPENING_QUOTES = ("“", '"', "‘", "'", "«", "„", "‚", "‹", "»")


def inline_description(hit: Hit) -> str:
    """Plain-text second line of an inline result: outlet, date and the start of the text."""
    meta = ", ".join(p for p in (hit.source or "", hit.published.isoformat()
                                 if hit.published else "") if p)
    return clip(f"{meta} — {hit.text}" if meta else hit.text, 200)


def stats_message(stats: Stats) -> str:
    """/stats: corpus size and freshness."""
    newest = stats.newest_published.isoformat() if stats.newest_published else "unknown"
    lines = [
        "<b>What I have read</b>",
        f"Articles: {stats.articles}",
        f"Passages: {stats.chunks}",
        f"Newest article: {newest}",
        f"Last update: {escape(stats.last_ingest or 'never')}",
        f"Model: {escape(stats.model)}",
    ]
    return "\n".join(lines)


#: Placeholder for a question whose answer takes a while (plain text; edited into the answer).
LOOKING_UP = "Looking that up…"

_STATUS_WORDS = {"added": "Added", "updated": "Updated", "unchanged": "Already indexed",
                 "folded": "Same story as one I have", "removed": "Removed", "failed": "Failed"}


def ingest_progress(step: IngestStep) -> str:
    """/add's placeholder while it works (plain text): fetching, reading, indexing."""
    if step.stage == "fetching":
        return f"Fetching {step.count} link{'s' if step.count != 1 else ''}…"
    if step.stage == "reading":
        return f"Reading “{clip(step.item, TITLE_CHARS)}”…"
    if step.stage == "indexing":
        return f"Indexing {step.count} passage{'s' if step.count != 1 else ''}…"
    return "Working…"


def _ingest_line(result: ItemResult) -> str:
    if result.status == "failed":
        return f"<b>Could not add</b> {escape(clip(result.item, 300))}: " \
               f"{escape(clip(result.reason or 'unknown reason', 500))}"
    word = _STATUS_WORDS.get(result.status, result.status.capitalize())
    name = escape(clip(result.title or result.item, TITLE_CHARS))
    meta = _meta(result.source, result.published)
    line = f"<b>{word}:</b> {name}" + (f" ({meta})" if meta else "")
    return line + (" — ask me about it" if result.status in ("added", "updated") else "")


def ingest_message(report: IngestReport) -> list[str]:
    """/add's result, one line per article: "Added: <title> (outlet, date) — ask me about
    it", "Already indexed: …", or "Could not add <url>: <reason>"."""
    if not report.results:
        return ["Nothing to add: no articles found at those links."]
    return _pack(_Block(_ingest_line(result), "\n") for result in report.results)


def _feed_block(feed: Feed) -> str:
    lines = [clip(line, 400) for line in feed.status_lines()]
    return "\n".join([f"<b>{escape(feed.url)}</b>", *map(escape, lines)])


def feeds_message(feeds: Sequence[Feed]) -> list[str]:
    """/feeds: each followed feed with its polling state."""
    if not feeds:
        return ["I follow no feeds. Add one with /addfeed &lt;feed URL&gt;."]
    return _pack([_Block("<b>Feeds I follow</b>"),
                  *(_Block(_feed_block(f), "\n\n") for f in feeds)])


def feed_added_message(feed: Feed, created: bool, watching: bool) -> str:
    """/addfeed's reply."""
    verb = "Following" if created else "Updated"
    when = ("I poll it within a minute" if watching
            else "it is polled by the index's watcher (`retriever watch`, or NEWSBOT_WATCH=1)")
    return f"{verb} {escape(feed.url)} every {feed.every_minutes:g} min; {escape(when)}."


#: A quoted sentence in an alert or a digest is clipped here: one glance, not a passage.
QUOTE_CHARS = 300


def _quote(citation: Citation) -> str:
    return f"“{escape(clip(citation.quote, QUOTE_CHARS))}”"


def alert_message(alert: Alert) -> str:
    """A topic alert: the topic, the linked title with outlet and date, one cited sentence."""
    c = alert.citation
    return (f"<b>New on “{escape(clip(alert.topic, 100))}”</b>\n"
            f"{_source_line('', c.title, c.url, c.source, c.published).lstrip()}\n{_quote(c)}")


def following_message(subscriptions: Sequence[Subscription]) -> str:
    """/following: the chat's topics."""
    if not subscriptions:
        return "This chat follows no topics. Follow one with /follow &lt;topic&gt;."
    topics = "\n".join(f"• {escape(s.topic)}" for s in subscriptions)
    return (f"<b>Topics this chat follows</b>\n{topics}\n\n"
            "/unfollow &lt;topic&gt; stops one.")


def followed_message(topic: str, created: bool, per_hour: int) -> str:
    """/follow's reply."""
    if not created:
        return f"This chat already follows “{escape(topic)}”. /following lists its topics."
    limit = (f" (at most {per_hour} an hour)" if per_hour
             else "; alerts are switched off on this bot for now")
    return (f"Following “{escape(topic)}”: when a new article about it comes in I post its "
            f"title, one sentence and the link here{limit}. /unfollow {escape(topic)} stops.")


def _outlets(outlets: Sequence[str]) -> str:
    if not outlets:
        return ""
    shown = ", ".join(clip(o, 40) for o in outlets[:4])
    more = f" and {len(outlets) - 4} more" if len(outlets) > 4 else ""
    return escape(shown + more)


def digest_message(digest: Digest) -> str:
    """/today: the day's stories, the most widely carried first, one cited sentence each, in
    one message (stories that do not fit are counted at the end)."""
    about = f" about “{escape(clip(digest.topic, 100))}”" if digest.topic else ""
    if digest.day is None:
        return f"I have no news{about} yet."
    if not digest.stories:
        return f"No story{about} on {digest.day.isoformat()}."
    when = ("today" if digest.day == digest.asked
            else f"of {digest.day.isoformat()} (the latest day I have news from)")
    head = f"<b>Main stories {when}{about}</b>"
    blocks = []
    for n, story in enumerate(digest.stories, 1):
        c = story.citation
        carried = _outlets(story.outlets)
        count = f" ({len(story.outlets)} outlets)" if len(story.outlets) > 1 else ""
        meta = f" — {carried}{count}" if carried else ""
        blocks.append(f"<b>{n}.</b> {_title_link(c.title, c.url)}{meta}\n{_quote(c)}")
    text = head
    for shown, block in enumerate(blocks):
        rest = len(blocks) - shown - 1
        tail = f"\n\n…and {rest} more" if rest else ""
        if utf16_len(f"{text}\n\n{block}{tail}") > MESSAGE_LIMIT:
            return f"{text}\n\n…and {len(blocks) - shown} more"
        text = f"{text}\n\n{block}"
    return text


def help_message(username: str) -> str:
    """/start and /help: what the bot does, its commands and example questions."""
    commands = "\n".join(f"/{name} — {escape(text)}" for name, text in COMMANDS
                         if name != "start")
    examples = "\n".join(f"• {escape(q)}" for q in EXAMPLE_QUESTIONS)
    bot = escape(f"@{username}")
    return (
        "<b>Ask me about the news articles I have read.</b>\n"
        "I answer with sentences quoted word for word from the articles, each followed by "
        "its source number [n], and list the sources below.\n\n"
        f"<b>Commands</b>\n{commands}\n\n"
        f"<b>In groups</b> use /ask{bot} your question, reply to one of my messages, or "
        f"mention {bot}. Reply to any message with /source to look for its sources.\n"
        f"<b>Anywhere</b>: type {bot} and a question to share a cited passage.\n\n"
        f"<b>Try</b>\n{examples}"
    )


def inline_help_message(username: str) -> str:
    """Posted when someone picks the help entry of an empty inline query."""
    bot, example = escape(f"@{username}"), escape(EXAMPLE_QUESTIONS[0])
    return (f"Ask {bot} about the news: type <code>{bot} {example}</code> in any chat, "
            "or talk to me in private.")


_LINK_RE = re.compile(r'<a href="([^"]*)">(.*?)</a>', re.S)


def to_plain(html_text: str) -> str:
    """Strip our HTML back to plain text for the resend after a parse error; links keep
    their URL in brackets."""
    text = _LINK_RE.sub(lambda m: f"{m[2]} ({m[1]})", html_text)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def plain_pages(html_page: str) -> list[str]:
    """One HTML page as plain-text pages, each within :data:`MESSAGE_LIMIT`."""
    plain = to_plain(html_page)
    if utf16_len(plain) <= MESSAGE_LIMIT:
        return [plain]
    return split_text(plain, MESSAGE_LIMIT, escaped=False)
