"""bot.render is pure: Answer/Hit/Stats → HTML strings. Every page must pass the fake
server's Telegram HTML check and stay within 4096 UTF-16 units."""

from __future__ import annotations

from datetime import date

import pytest

from bot import render
from telegram_rules import html_error, visible_text
from retrieval.types import (Answer, AnswerSentence, Citation, Hit, IngestReport, IngestStep,
                             ItemResult, Stats)


def hit(text: str, n: int = 1, **kw: object) -> Hit:
    fields = dict(rank=n, score=0.5, chunk_id=n, article_id=f"a{n}", text=text,
                  title=f"Title {n}", url=f"https://example.com/{n}", source="Outlet",
                  published=date(2021, 9, 23), start=0, end=len(text))
    fields.update(kw)
    return Hit(**fields)  # type: ignore[arg-type]


def citation(quote: str, n: int = 1, start: int = 0, **kw: object) -> Citation:
    fields = dict(n=n, article_id=f"a{n}", title=f"Title {n}", url=f"https://example.com/{n}",
                  source="Outlet", published=date(2021, 9, 23), quote=quote, start=start,
                  chunk_id=n)
    fields.update(kw)
    return Citation(**fields)  # type: ignore[arg-type]


def assert_valid(pages: list[str]) -> None:
    assert pages
    for page in pages:
        assert render.utf16_len(page) <= render.MESSAGE_LIMIT
        assert html_error(page) is None, page


def test_answer_has_markers_linked_sources_and_escapes_everything() -> None:
    nasty = 'Tom & Jerry said <b>"hi"</b>'
    answer = Answer(
        query="q", sentences=(AnswerSentence(nasty, 1), AnswerSentence("Second one.", 2)),
        citations=(citation(nasty, 1, title="A <b>bold</b> & title"),
                   citation("Second one.", 2, url="https://x.org/?a=1&b=\"2\"", source=None,
                            published=None)),
        passages=(),
    )
    pages = render.answer_messages(answer)
    assert_valid(pages)
    (page,) = pages
    assert "Tom &amp; Jerry said &lt;b&gt;\"hi\"&lt;/b&gt; [1] Second one. [2]" in page
    assert '[1] <a href="https://example.com/1">A &lt;b&gt;bold&lt;/b&gt; &amp; title</a>' \
        " — Outlet, 2021-09-23" in page
    assert '[2] <a href="https://x.org/?a=1&amp;b=&quot;2&quot;">Title 2</a>' in page


def test_abstention_says_so_plainly() -> None:
    answer = Answer(query="q", sentences=(), citations=(), passages=(), abstained=True,
                    note="I found nothing <here>.")
    (page,) = render.answer_messages(answer)
    assert page.startswith("I found nothing &lt;here&gt;.")
    assert "[1]" not in page


def test_non_http_urls_are_not_linked() -> None:
    line = render.citation_line(citation("q", url="javascript:alert(1)"))
    assert "<a" not in line and "Title 1" in line


def test_long_answer_is_split_below_the_limit_counting_utf16() -> None:
    # 🙂 is one character in Python but two UTF-16 units for Telegram.
    sentence = "Word 🙂 & <x> " * 400
    answer = Answer(query="q", sentences=tuple(AnswerSentence(sentence, i) for i in (1, 2, 3)),
                    citations=tuple(citation("c", i) for i in (1, 2, 3)), passages=())
    pages = render.answer_messages(answer)
    assert len(pages) > 2
    assert_valid(pages)
    assert all(len(p) <= 4096 for p in pages)
    assert any(render.utf16_len(p) > len(p) for p in pages)  # the emoji were counted twice
    text = " ".join(visible_text(p, "HTML") for p in pages)
    assert text.count("🙂") == 1200 and text.count("<x>") == 1200


def test_a_single_unbreakable_word_is_cut_without_breaking_entities() -> None:
    pages = render.hits_messages([hit("&" * 5000)], "Heading")
    assert len(pages) >= 2
    assert_valid(pages)
    assert sum(visible_text(p, "HTML").count("&") for p in pages) == 5000


def test_search_list_numbers_passages_in_blockquotes() -> None:
    pages = render.hits_messages([hit("First <text>.", 1), hit("Second.", 2)], "Passages for: x")
    assert_valid(pages)
    page = pages[0]
    assert page.startswith("<b>Passages for: x</b>")
    assert "<b>1.</b> <a href=\"https://example.com/1\">Title 1</a> — Outlet, 2021-09-23\n" \
           "<blockquote>First &lt;text&gt;.</blockquote>" in page
    assert "<b>2.</b>" in page


def test_passage_view_sets_the_quote_in_bold_by_offsets() -> None:
    text = "Intro. He said it twice. Then he said it twice."
    second = text.rindex("he said it twice.")
    passage = hit(text, start=100)
    cited = citation("he said it twice.", start=100 + second)
    (page,) = render.passage_messages(cited, passage)
    assert "<b>[1]</b>" in page
    assert "Then <b>he said it twice.</b></blockquote>" in page
    assert_valid([page])


def test_passage_view_without_the_hit_shows_the_quote() -> None:
    pages = render.passage_messages(citation("Only the quote."), None)
    assert_valid(pages)
    assert "<b>Only the quote.</b>" in pages[0]


def test_inline_quote_is_short_and_cited() -> None:
    quote = render.inline_quote(hit("word " * 1000))
    assert html_error(quote) is None
    assert render.utf16_len(quote) < 1000
    assert quote.endswith('— <a href="https://example.com/1">Title 1</a>, Outlet, 2021-09-23')
    assert "Outlet, 2021-09-23 — word" in render.inline_description(hit("word " * 100))


def test_stats_ingest_and_help_are_valid_html() -> None:
    stats = Stats(articles=3, chunks=9, model="m<1>", dimension=8, index_bytes=1,
                  last_ingest=None, newest_published=date(2024, 3, 10), path="/x")
    text = render.stats_message(stats)
    assert "Articles: 3" in text and "Newest article: 2024-03-10" in text
    report = IngestReport([ItemResult("http://x/a", "added", "", "id", "A & B", "O<", date(2024, 4, 2)),
                           ItemResult("http://x/c", "unchanged", "", "id2", "C"),
                           ItemResult("http://x/b", "failed", "HTTP 404 <not found>")], 2, 0.5)
    pages = render.ingest_message(report)
    assert pages[0].split("\n") == [
        "<b>Added:</b> A &amp; B (O&lt;, 2024-04-02) — ask me about it",
        "<b>Already indexed:</b> C",
        "<b>Could not add</b> http://x/b: HTTP 404 &lt;not found&gt;"]
    assert [render.ingest_progress(IngestStep(*step)) for step in (
        ("fetching", 1), ("fetching", 2), ("reading", 0, "A title"), ("indexing", 12))] == [
        "Fetching 1 link…", "Fetching 2 links…", "Reading “A title”…", "Indexing 12 passages…"]
    assert render.ingest_message(IngestReport()) == [
        "Nothing to add: no articles found at those links."]
    help_text = render.help_message("news_bot")
    assert "/ask@news_bot" in help_text and render.EXAMPLE_QUESTIONS[0] in help_text
    assert_valid([text, *pages, help_text])


def test_plain_fallback_strips_tags_keeps_urls_and_unescapes() -> None:
    html_page = ('<b>Sources</b>\n[1] <a href="https://x.org/?a=1&amp;b=2">A &amp; B</a>'
                 " — &lt;o&gt;")
    assert render.to_plain(html_page) == "Sources\n[1] A & B (https://x.org/?a=1&b=2) — <o>"
    long_page = render.hits_messages([hit("x &amp; y " * 300)], "h")[0]
    assert all(render.utf16_len(p) <= 4096 for p in render.plain_pages(long_page))


@pytest.mark.parametrize("text", ["", "   ", "a", "🙂" * 3000, "a " * 3000])
def test_split_text_respects_budget(text: str) -> None:
    pieces = render.split_text(text, 100)
    assert all(render.utf16_len(p) <= 100 for p in pieces)
    assert "".join(pieces).replace(" ", "") == render.escape(text).replace(" ", "")


def test_inline_quote_adds_no_second_opening_quote_mark() -> None:
    quoted = render.inline_quote(hit("“These sediments tell us a lot,” said Maria Lopez."))
    assert quoted.startswith("“These sediments") and not quoted.startswith("““")
    assert render.inline_quote(hit('"Plain quotes," she said.')).startswith('"Plain quotes')
    plain = render.inline_quote(hit("The rover found clay."))
    assert plain.startswith("“The rover found clay.”\n— ")


def test_a_listed_passage_is_never_split_from_its_source_line() -> None:
    """Items of /search that fit a message stay whole on one page; sizes chosen so that
    packing block by block would put item 2's source line on page 1 and its text on page 2."""
    hits = [hit("alpha " * 560, 1), hit("beta " * 300, 2), hit("gamma " * 100, 3)]
    pages = render.hits_messages(hits, "Passages for: x")
    assert_valid(pages)
    assert len(pages) == 2
    for page in pages:
        headers = page.count("</a> — Outlet")
        assert headers == page.count("<blockquote>"), page[:200]
    assert pages[0].startswith("<b>Passages for: x</b>\n\n<b>1.</b>")
    assert pages[1].startswith("<b>2.</b>")


def test_a_passage_longer_than_a_message_is_still_split() -> None:
    pages = render.hits_messages([hit("word " * 2000, 1)], "Passages for: x")
    assert_valid(pages)
    assert len(pages) >= 3 and pages[0].startswith("<b>Passages for: x</b>")
    assert sum(p.count("word") for p in pages) == 2000


def test_a_note_goes_on_top_of_the_first_page() -> None:
    note = render.clipped_note("What did <Lopez> say?" + " very" * 200)
    assert note.startswith("<i>Your message was long; I answered: What did &lt;Lopez&gt; say?")
    assert html_error(note) is None and len(note) < 400
    assert render.with_note(note, ["Answer."]) == [f"{note}\n\nAnswer."]
    full = "x" * render.MESSAGE_LIMIT
    assert render.with_note(note, [full, "more"]) == [note, full, "more"]
