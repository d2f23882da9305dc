"""Ingestion of every input format, incrementality, removal and failure reporting.

Uses real index folders (SQLite + FAISS on disk), a real HTTP server on 127.0.0.1 and the fast
hashing embedder (meaning does not matter here).
"""

from __future__ import annotations

import gzip
import json

from support import SEED, article_html

FRONT = """---
title: Harbour bridge reopens after storm repairs
url: https://news.example.com/bridge
source: Coastal Times
published: 2024-02-10
authors: Ann Lee, Bo Chen
---
The harbour bridge reopened on Saturday after six weeks of storm repairs.

Mayor Dana Ruiz said the crews had worked through the night. Traffic was light in the morning.
"""


def _status(report) -> dict[str, str]:
    return {r.item: r.status for r in report.results}


def test_text_with_front_matter(hash_engine, tmp_path):
    path = tmp_path / "bridge.md"
    path.write_text(FRONT)
    report = hash_engine.ingest([str(path)])
    assert report.count("added") == 1, report.results
    article = hash_engine.store.article(report.results[0].article_id)
    assert article.title == "Harbour bridge reopens after storm repairs"
    assert article.url == "https://news.example.com/bridge"
    assert article.source == "Coastal Times"
    assert article.published.isoformat() == "2024-02-10"
    assert article.authors == ("Ann Lee", "Bo Chen")
    assert article.text.startswith("The harbour bridge reopened")
    assert "---" not in article.text


def test_seed_article_is_cleaned(hash_engine):
    report = hash_engine.ingest([str(SEED)])
    article = hash_engine.store.article(report.results[0].article_id)
    assert article.title == "Pakistan calls for engagement with US for stability in South Asia"
    for junk in ("Please register", "This content is for our paying subscribers", "Dismiss",
                 "Advertisement", "Image Credit"):
        assert junk not in article.text
    assert "FM Qureshi meets Blinken on the sidelines of UNGA in New York" in article.text
    assert "Islamabad: Pakistan has called for closer engagement" in article.text


def test_html_file_metadata(hash_engine, tmp_path):
    path = tmp_path / "page.html"
    path.write_text(article_html(
        "Rail strike ends after deal", ["Unions and the operator agreed a pay deal late on Tuesday, ending a strike "
        "that had halted trains for a week across the region.", "The union leader said members would vote on it."],
        canonical="https://example.com/rail-strike", date="2023-11-02", author="Sam Roe"))
    report = hash_engine.ingest([str(path)])
    assert report.count("added") == 1, report.results
    article = hash_engine.store.article(report.results[0].article_id)
    assert article.title == "Rail strike ends after deal"
    assert article.url == "https://example.com/rail-strike"
    assert article.source == "Example News"
    assert article.published.isoformat() == "2023-11-02"
    assert article.authors == ("Sam Roe",)
    assert "Home | World" not in article.text and "Copyright" not in article.text
    assert article.text.startswith("Unions and the operator agreed")


def _rows():
    return [
        {"url": "https://a.example/1", "title": "Volcano erupts in Iceland", "source": "cnn.com",
         "published": "2023/12/19", "authors": ["Kim Park"],
         "text": "A volcano erupted on the Reykjanes peninsula.\n\nLava flowed toward the town of Grindavik."},
        {"url": "https://a.example/2", "title": "Chess champion retires", "source": "usatoday.com",
         "published": None, "authors": [], "text": "The champion announced her retirement on Monday."},
    ]


def test_jsonl_and_gzip_and_bad_lines(hash_engine, tmp_path):
    plain = tmp_path / "a.jsonl"
    rows = _rows()
    plain.write_text(json.dumps(rows[0]) + "\n{not json\n" + json.dumps({"url": "https://a.example/3", "text": ""}) + "\n")
    packed = tmp_path / "b.jsonl.gz"
    with gzip.open(packed, "wt") as fh:
        fh.write(json.dumps(rows[1]) + "\n")
    report = hash_engine.ingest([str(plain), str(packed)])
    statuses = _status(report)
    assert statuses[f"{plain}:1"] == "added"
    assert statuses[f"{plain}:2"] == "failed"
    assert "invalid JSON" in next(r.reason for r in report.results if r.item == f"{plain}:2")
    assert "no article text" in next(r.reason for r in report.results if r.item == f"{plain}:3")
    assert statuses[f"{packed}:1"] == "added"
    volcano = hash_engine.store.article(hash_engine.store.resolve("https://a.example/1"))
    assert volcano.published.isoformat() == "2023-12-19"  # slashes normalised
    assert volcano.source == "cnn.com"


def test_directory_is_walked_recursively(hash_engine, tmp_path):
    (tmp_path / "docs" / "deep").mkdir(parents=True)
    (tmp_path / "docs" / "one.txt").write_text(FRONT)
    (tmp_path / "docs" / "deep" / "two.txt").write_text("Farmers protest new water rules\n\nHundreds of farmers drove tractors into the capital on Monday.")
    (tmp_path / "docs" / "deep" / "ignored.bin").write_bytes(b"\x00\x01")
    report = hash_engine.ingest([str(tmp_path / "docs")])
    assert report.count("added") == 2, report.results


def test_missing_path_and_bad_url_named(hash_engine, tmp_path, site):
    missing = tmp_path / "nope.txt"
    report = hash_engine.ingest([str(missing), site.base + "/gone", str(SEED)])
    failed = {r.item: r.reason for r in report.failed}
    assert failed[str(missing)] == "no such file or directory"
    assert failed[site.base + "/gone"] == "HTTP 404"
    assert report.count("added") == 1  # one bad item never stops the others


def test_url_ingest_follows_redirect(hash_engine, site):
    site.add("/story", article_html("Bank raises interest rates", [
        "The central bank raised its main interest rate by a quarter point on Thursday, citing stubborn inflation.",
        "Governor Lisa Hart said further rises could not be ruled out."], canonical="https://bank.example/story"))
    site.add("/short", site.base + "/story", status=302)
    report = hash_engine.ingest([site.base + "/short"])
    assert report.count("added") == 1, report.results
    article = hash_engine.store.article(report.results[0].article_id)
    assert article.url == "https://bank.example/story"  # canonical URL wins
    assert "stubborn inflation" in article.text


def test_url_size_cap(tmp_path, site):
    from retrieval import Settings
    from retrieval.embeddings import HashEmbedder
    from retrieval.engine import Engine

    site.add("/huge", "<html><body><p>" + "word " * 5000 + "</p></body></html>")
    engine = Engine.open(Settings(index=tmp_path / "i", fetch_max_bytes=1000, fetch_allow="127.0.0.1"), embedder=HashEmbedder(), create=True)
    report = engine.ingest([site.base + "/huge"])
    assert report.failed and "too large" in report.failed[0].reason
    engine.close()


def _feed(site, links: list[str]) -> str:
    items = "".join(f"<item><title>Item {i}</title><link>{link}</link></item>" for i, link in enumerate(links))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Example feed</title>{items}</channel></rss>'


def test_feed_url_ingests_entries_and_skips_known(hash_engine, site):
    a = site.add("/a", article_html("Storm hits coast", ["A powerful storm hit the coast overnight, cutting power to thousands of homes and businesses."], canonical=site.base + "/a"))
    b = site.add("/b", article_html("Museum reopens", ["The city museum reopened after a two-year renovation with a new wing for modern art."], canonical=site.base + "/b"))
    feed = site.add("/feed.xml", _feed(site, [a, b, site.base + "/missing"]), content_type="application/rss+xml")
    first = hash_engine.ingest([feed])
    assert first.count("added") == 2
    assert first.failed and first.failed[0].item == site.base + "/missing"
    second = hash_engine.ingest([feed])
    assert second.count("added") == 0
    assert second.count("unchanged") == 2  # known entries are not fetched again


def test_feed_file(hash_engine, tmp_path, site):
    a = site.add("/a", article_html("Storm hits coast", ["A powerful storm hit the coast overnight, cutting power to thousands of homes."], canonical=site.base + "/a"))
    path = tmp_path / "news.rss"
    path.write_text(_feed(site, [a]))
    assert hash_engine.ingest([str(path)]).count("added") == 1


def test_reingest_is_a_noop_and_change_replaces_chunks(hash_engine, tmp_path):
    path = tmp_path / "bridge.md"
    path.write_text(FRONT)
    hash_engine.ingest([str(path)])
    generation = hash_engine.store.generation()
    again = hash_engine.ingest([str(path)])
    assert again.count("unchanged") == 1 and again.chunks_added == 0
    assert hash_engine.store.generation() == generation  # nothing written

    path.write_text(FRONT.replace("six weeks", "seven weeks") + "\nA new paragraph about tolls being waived for a month.\n")
    changed = hash_engine.ingest([str(path)])
    assert changed.count("updated") == 1
    assert hash_engine.store.counts() == (1, 1)
    hits = hash_engine.search("tolls waived", k=3)
    assert "seven weeks" in hits[0].text and all("six weeks" not in h.text for h in hits)


def test_same_content_under_two_urls_is_stored_once(hash_engine, tmp_path):
    one = tmp_path / "one.md"
    two = tmp_path / "two.md"
    one.write_text(FRONT)
    two.write_text(FRONT.replace("https://news.example.com/bridge", "https://mirror.example.com/bridge"))
    report = hash_engine.ingest([str(one), str(two)])
    assert [r.status for r in report.results] == ["added", "unchanged"]


def test_remove_by_url_and_id(hash_engine, tmp_path):
    path = tmp_path / "bridge.md"
    path.write_text(FRONT)
    hash_engine.ingest([str(path), str(SEED)])
    assert hash_engine.remove("https://news.example.com/bridge").title.startswith("Harbour bridge")
    assert hash_engine.store.counts()[0] == 1
    assert all("bridge" not in h.text for h in hash_engine.search("harbour bridge reopened", k=5))
    seed_id = hash_engine.store.resolve(hash_engine.search("Qureshi", k=1)[0].article_id)
    assert hash_engine.remove(seed_id) is not None
    assert hash_engine.store.counts() == (0, 0)
    assert hash_engine.remove("https://never.example/x") is None


def test_unsupported_file_type(hash_engine, tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b\n")
    report = hash_engine.ingest([str(path)])
    assert report.failed[0].item == str(path)
    assert "unsupported file type" in report.failed[0].reason
