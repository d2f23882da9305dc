"""Allowlist, admin-only /add and the per-user rate limit; the limiter and answer store alone."""

from __future__ import annotations

from bot_fixtures import (  # noqa: F401 (pytest fixtures)
    bot_index,
    clean_bot_env,
    start_bot,
    tg,
    writable_index,
)
from bot_support import open_engine
from tg_updates import ADMIN, ALICE, BOB, GROUP, STRANGER_GROUP, inline_query, send

from bot.access import RateLimiter
from bot.state import AnswerStore
from retrieval.types import Answer

LOPEZ = "What did Lopez say about the lake on Mars?"
POLITE = "You are asking faster than I can read"


class Clock:
    """A hand-moved clock for the limiter and the store."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_sliding_window_warns_once() -> None:
    clock = Clock()
    limiter = RateLimiter(2, 10, clock=clock)
    assert limiter.hit(1).allowed and limiter.hit(1).allowed
    clock.now += 4
    refused = limiter.hit(1)
    assert not refused.allowed and refused.warn and refused.retry_after == 6
    assert limiter.hit(2).allowed  # other users are not affected
    again = limiter.hit(1)
    assert not again.allowed and not again.warn  # one reply per window, not one per message
    clock.now += 6
    assert limiter.hit(1).allowed
    assert all(RateLimiter(0, 10, clock=clock).hit(1).allowed for _ in range(100))


def test_answer_store_keys_expire_and_capacity_is_bounded() -> None:
    clock = Clock()
    store = AnswerStore(ttl=60, capacity=2, clock=clock)
    answers = [Answer(query=str(i), sentences=(), citations=(), passages=()) for i in range(3)]
    keys = [store.put(a) for a in answers]
    assert all(len(k) == 8 and ":" not in k for k in keys)
    assert store.get(keys[0]) is None  # evicted: capacity 2
    assert store.get(keys[2]) is answers[2]
    clock.now += 61
    assert store.get(keys[2]) is None
    assert store.get("nonsense") is None


def test_allowlist_ignores_other_chats_and_leaves_unknown_groups(tg, start_bot) -> None:
    bot = start_bot(allowed_chat_ids={ALICE.id, GROUP["id"]}, admin_user_ids={ADMIN.id})
    ignored = [send(tg, BOB, LOPEZ)[0], send(tg, BOB, "/start")[0], inline_query(tg, BOB, "Mars")]
    stranger = send(tg, ALICE, f"/ask {LOPEZ}", chat=STRANGER_GROUP)[0]
    bot.wait_done(*ignored, stranger)
    assert tg.wait_for("leaveChat").params["chat_id"] == str(STRANGER_GROUP["id"])
    touched = {str(c.get("chat_id")) for c in tg.calls if c.method != "leaveChat"}
    assert str(STRANGER_GROUP["id"]) not in touched
    # Bob, unlisted, hears that the bot is private (once per message) and nothing else.
    assert [t.startswith("Sorry, this bot is private") for t in tg.sent_texts(BOB.id)] == [True] * 2
    assert [c.params["results"] for c in tg.calls_to("answerInlineQuery")] == [[]]

    allowed = [send(tg, ALICE, LOPEZ)[0], send(tg, ALICE, f"/ask {LOPEZ}", chat=GROUP)[0],
               send(tg, ADMIN, "/start")[0], inline_query(tg, ALICE, "Mars")]
    bot.wait_done(*allowed)
    for chat_id in (ALICE.id, GROUP["id"], ADMIN.id):
        assert tg.sent_texts(chat_id), chat_id
    assert tg.calls_to("answerInlineQuery")[-1].params["results"]


def test_rate_limit_answers_politely_instead_of_queueing(tg, start_bot) -> None:
    bot = start_bot(rate_limit_questions=2, rate_limit_window_seconds=600)
    ids = [send(tg, ALICE, text)[0] for text in
           (LOPEZ, f"/ask {LOPEZ}", f"/search {LOPEZ}", LOPEZ, f"/source {LOPEZ}")]
    bot.wait_done(*ids)
    texts = tg.sent_texts(ALICE.id)
    polite = [t for t in texts if t.startswith(POLITE)]
    assert len(polite) == 1 and "Please wait" in polite[0]
    assert len(texts) == 3  # two answers (one page each) and the single polite reply
    bot.wait_done(send(tg, ALICE, "/help")[0], send(tg, BOB, LOPEZ)[0])  # not limited
    assert "/ask" in tg.sent_texts(ALICE.id)[-1]
    assert "said Maria Lopez" in tg.sent_texts(BOB.id)[-1]


ARTICLE = """<html><head><title>Patagonian glacier loses record ice | Andes Post</title>
<meta property="og:site_name" content="Andes Post">
<meta property="article:published_time" content="2024-04-02T08:00:00Z">
</head><body><article><h1>Patagonian glacier loses record ice</h1>
<p>The Perito Moreno glacier lost more ice this summer than in any year since measurements
began, scientists in Argentina reported on Tuesday.</p>
<p>"We have never seen the ice front retreat this fast," glaciologist Ana Ruiz told reporters.
Ruiz said warmer winters had thinned the glacier for a decade.</p>
<p>Tourism officials said visitor numbers to the glacier were still rising.</p>
</article></body></html>"""


def test_admin_adds_an_article_and_the_next_question_cites_it(tg, start_bot, site,
                                                             writable_index) -> None:
    url = site.add("/world/glacier", ARTICLE)
    # The fetch guard refuses loopback addresses unless RETRIEVER_FETCH_ALLOW lists them.
    bot = start_bot(engine=open_engine(writable_index, fetch_allow="127.0.0.1"), admin_user_ids={ADMIN.id})
    question = "What did Ana Ruiz say about the glacier?"

    bot.wait_done(send(tg, ALICE, f"/add {url}")[0])
    assert tg.sent_texts(ALICE.id)[-1] == "Only the bot's admins can add articles."

    bot.wait_done(send(tg, ADMIN, "/add not-a-url")[0])
    assert tg.sent_texts(ADMIN.id)[-1].startswith("Usage: /add")
    bot.wait_done(send(tg, ADMIN, f"/add {url}")[0])
    report = tg.sent_texts(ADMIN.id)[-1]
    assert report == ("<b>Added:</b> Patagonian glacier loses record ice (Andes Post, "
                      "2024-04-02) — ask me about it"), report

    bot.wait_done(send(tg, ALICE, question)[0])
    answer = tg.sent_texts(ALICE.id)[-1]
    assert "Ruiz" in answer and "[1]" in answer
    assert "Patagonian glacier loses record ice</a>" in answer
    assert f'<a href="{url}">' in answer or "Andes Post" in answer

    bot.wait_done(send(tg, ADMIN, f"/add {url}")[0])
    assert tg.sent_texts(ADMIN.id)[-1].startswith("<b>Already indexed:</b> Patagonian glacier")


def test_add_refuses_an_internal_address_without_connecting(tg, start_bot, site, writable_index) -> None:
    """/add goes through the fetch guard: a loopback URL is refused, and never requested."""
    url = site.add("/admin", ARTICLE).replace("127.0.0.1", "2130706433")
    bot = start_bot(engine=open_engine(writable_index), admin_user_ids={ADMIN.id})
    bot.wait_done(send(tg, ADMIN, f"/add {url}")[0])
    report = tg.sent_texts(ADMIN.id)[-1]
    assert "refused" in report and "resolves to 127.0.0.1, a loopback address" in report, report
    assert site.connections == 0
