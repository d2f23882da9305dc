"""Extractive answers: pick one to four verbatim sentences from the retrieved passages, number
their sources, and abstain when nothing relevant was found.

Every quote is sliced out of the article's stored text by offsets (``text[start:end]``), so it
is verbatim by construction; :func:`check_citations` verifies it anyway.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

import numpy as np

from retrieval.attribution import SpeakerQuestion, attribute, is_speaker
from retrieval.clean import is_page_chrome
from retrieval.learned import load_scorer
from retrieval.lexical import terms
from retrieval.question import NUMBER, Question
from retrieval.reader_text import sentence_text
from retrieval.sentences import split_sentences
from retrieval.types import (
    NO_MATCH,
    OTHER_LANGUAGE,
    OUT_OF_RANGE,
    Answer,
    AnswerSentence,
    Article,
    Citation,
    DateRange,
    Hit,
)

Embed = Callable[[list[str]], np.ndarray]
IDF = Callable[[str], float | None]
Read = Callable[[list[str], str], np.ndarray]  # (texts, unit) → reader logits for the question

#: Answers stay short enough to read in a chat bubble.
MAX_ANSWER_WORDS = 80
#: Speaker answers may quote a little more: three statements are often one thought.
MAX_SPEAKER_WORDS = 130
#: Up to four sentences within the 80 words: more, shorter sentences hedge better than fewer
#: long ones (rtqa: 3 → 4 lifts "answer contains expected" on the training questions and on
#: both benchmark samples; docs/BENCHMARKS.md). A speaker's statements: up to three.
MAX_SENTENCES = 4
MAX_SPEAKER_SENTENCES = 3
#: Passages whose sentences are considered for a general answer.
ANSWER_PASSAGES = 4
#: Articles scanned for a speaker's statements.
SPEAKER_ARTICLES = 6
#: Below this cosine between question and best sentence, with few question words present in
#: it, the question is taken as unanswerable (calibrated on rtqa dev; see docs/BENCHMARKS.md).
ABSTAIN_COSINE = 0.30
ABSTAIN_OVERLAP = 0.5
#: Abstain when no single passage among the top COVERAGE_PASSAGES holds this share of the
#: question's IDF-weighted words. 0.40 (set on train_scorers.py's 300 questions) declined 8% of
#: the answerable questions of the calib period (April–June 2023) on its own; 0.30 goes with
#: the passage-cosine rule below (benchmarks/bench_reader.py --fit, docs/BENCHMARKS.md).
ABSTAIN_COVERAGE = 0.30
COVERAGE_PASSAGES = 5
#: The reader's say in choosing sentences: adding its logit for the fitted scorer's best
#: sentences (0.1 or 0.3 of it) changed "answer contains expected" by +0.000 / +0.009 on the
#: calib period for ~120 ms more per answer, so the shipped reader does not read sentences;
#: the weight stays for a stronger reader (benchmarks/bench_reader.py --weight-grid).
READER_WEIGHT = 0.0
READ_SENTENCES = 10
#: Candidate sentences embedded per answer, the best by the features other than the cosine
#: (of ~25): embedding them was 80% of ``ask``. 16 changed 4 of 200 rtqa answers, none from
#: right to wrong or back, and no measure on later questions; 12 lost one (docs/BENCHMARKS.md).
EMBED_SENTENCES = 16
#: Abstain when the best cosine between the question and the title + passage vectors of its
#: top 30 passages is below ABSTAIN_PASSAGE_COSINE (``retrieval.rerank.passage_cosine``) —
#: unless one passage holds ABSTAIN_COSINE_COVERAGE of its IDF-weighted words (a question worded
#: far from the text, whose rare words are all there, is answerable). The cosine is the
#: strongest single signal on the calib period (AUC 0.88; IDF coverage 0.83, the reader's best
#: passage logit 0.83; no blend of the three did better). Chosen with ABSTAIN_COVERAGE on the
#: calib period (April–June 2023): 4.5% of its answerable and 51% of its unanswerable questions
#: declined; on the test period (July–December 2023) 3% and 44% (docs/BENCHMARKS.md). The
#: value is a cosine of the default model: the rule is off for other models.
ABSTAIN_PASSAGE_COSINE = 0.495
ABSTAIN_COSINE_COVERAGE = 0.8
#: Sentence scorer shipped in retrieval/data/ (benchmarks/train_scorers.py fits it).
SENTENCE_SCORER = "sentence_scorer"
#: A passage published this many days before the as-of date (or up to FRESH_AFTER after it,
#: time zones and updates) is "this week's news".
FRESH_DAYS = 7
FRESH_AFTER = 3


@dataclass(frozen=True)
class AnswerParams:
    """Knobs of sentence selection, defaults as supported by the benchmark (docs/BENCHMARKS.md)."""

    passages: int = ANSWER_PASSAGES
    max_sentences: int = MAX_SENTENCES
    #: At most this many sentences from one passage (0 = no cap).
    per_passage: int = 0
    abstain_coverage: float = ABSTAIN_COVERAGE
    abstain_cosine: float = ABSTAIN_COSINE
    abstain_overlap: float = ABSTAIN_OVERLAP
    #: Scorer file under retrieval/data/ that weighs :data:`SENTENCE_FEATURES`.
    scorer: str = SENTENCE_SCORER
    #: Weight of the reader's logit for a sentence, added to the fitted score (0 = not read),
    #: and how many of the fitted scorer's best sentences the reader reads.
    reader_weight: float = READER_WEIGHT
    read_sentences: int = READ_SENTENCES
    #: Sentences embedded (cosine to the question) per answer, the best by the other features
    #: first (0 = all): embedding them is most of an answer's time.
    embed_sentences: int = EMBED_SENTENCES
    #: Abstain below this best passage cosine, unless the rare words are found (0 = off).
    abstain_passage_cosine: float = ABSTAIN_PASSAGE_COSINE


DEFAULT_ANSWER = AnswerParams()

_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z’'\-]+")
_QUOTE_MARK = re.compile(r"[\"“”]")


def answer_type_match(question: Question, sentence: str) -> bool:
    """Does ``sentence`` carry a new number (numeric question) or a new name (who/which)?"""
    if question.numeric:
        return any(n not in question.numbers for n in NUMBER.findall(sentence))
    if question.entity:
        return any(w.lower() not in question.words for w in _CAPITALISED.findall(sentence))
    return False


@dataclass
class _Candidate:
    article: Article | None
    hit: Hit
    start: int  # offsets into the article text
    end: int
    text: str
    score: float = 0.0
    position: int = 0  # index of the sentence in its passage
    before: str = ""  # the neighbouring sentences in the passage: the reader's context
    after: str = ""

    @property
    def published(self) -> date | None:
        return self.hit.published


#: The refusal for a question in another language (no search is made for it).
OTHER_LANGUAGE_NOTE = "I read English news only: please ask your question in English."
NO_ANSWER_NOTE = "I found no passage in the indexed articles that answers this."


def compose(
    question: Question,
    hits: list[Hit],
    embed: Embed,
    load_article: Callable[[str], Article | None],
    params: AnswerParams = DEFAULT_ANSWER,
    idf: IDF | None = None,
    evidence: dict[str, float] | None = None,
    read: Read | None = None,
    dates: DateRange | None = None,
) -> Answer:
    """Build the answer to ``question`` from ranked ``hits``. ``idf(term)`` (None for a term the
    index has never seen) enables the coverage test for abstention; the question's ``as_of``
    (the day it is asked) lets this week's news weigh more; ``evidence`` (``retrieval.rerank``)
    and ``read(texts, unit)`` (the reader's logits for this question) are optional. ``dates``,
    the index's publication range, lets a question about years outside it be declined and is
    named in every refusal."""
    dates = dates or DateRange()
    answer = _early_refusal(question, hits, dates)
    if answer is None and question.speaker:
        answer = _speaker_answer(question, question.speaker, hits, embed, load_article)
    elif answer is None:
        answer = _general_answer(question, hits, embed, params, idf, evidence or {}, read)
    return replace(answer, note=answer.note + dates.note()) if answer.abstained else answer


def _early_refusal(question: Question, hits: list[Hit], dates: DateRange) -> Answer | None:
    """A refusal that needs no sentence: another language, no passage, years not covered."""
    if question.foreign:
        return _abstain(question, [], OTHER_LANGUAGE_NOTE, OTHER_LANGUAGE)
    if not hits:
        return _abstain(question, hits, "I found nothing about this in the indexed articles.")
    if years := unreported_years(question, hits, dates):
        return _abstain(question, hits, f"I found nothing about {_and(years)} in the indexed articles.", OUT_OF_RANGE)
    return None


def unreported_years(question: Question, hits: list[Hit], dates: DateRange) -> list[int]:
    """The years the question names when every one of them lies outside the index's
    publication range and no retrieved passage mentions it ("the 2030 World Cup final" in an
    index of 2022–2023 news); else []. A year that a passage names is kept: articles of 2023
    do write about "the 2024 election" and "net zero by 2050"."""
    if not question.years or dates.oldest is None or dates.newest is None:
        return []
    outside = [y for y in question.years if not dates.oldest.year <= y <= dates.newest.year]
    if len(outside) < len(question.years):
        return []
    said = " ".join(NUMBER.sub(lambda m: m.group().replace(",", ""), h.title + " " + h.text) for h in hits)
    if any(re.search(rf"(?<!\d){y}(?!\d)", said) for y in outside):
        return []
    return sorted(set(outside))


def _and(items: list[int]) -> str:
    words = [str(i) for i in items]
    return " and ".join([", ".join(words[:-1]), words[-1]]) if len(words) > 1 else words[0]


def passage_refusal(
    question: Question,
    hits: list[Hit],
    evidence: dict[str, float],
    idf: IDF,
    params: AnswerParams = DEFAULT_ANSWER,
    dates: DateRange | None = None,
) -> Answer | None:
    """The refusal ``ask`` would give before it reads any sentence — the question is in another
    language, about years the index does not cover, or no passage is close to it in meaning or
    holds its rare words (:func:`passages_fail`) — or None when the passages may answer it.
    For search: cheap (no sentence is embedded), so inline results can be dropped on it."""
    dates = dates or DateRange()
    refusal = _early_refusal(question, hits, dates)
    if refusal is None and passages_fail({**evidence, **coverage_features(question, hits, idf)}, params):
        refusal = _abstain(question, hits, NO_ANSWER_NOTE)
    return replace(refusal, note=refusal.note + dates.note()) if refusal else None


# ---------------------------------------------------------------------------- general


def passage_sentences(hits: list[Hit]) -> list[_Candidate]:
    out = []
    for hit in hits:
        spans = split_sentences(hit.text)
        for position, span in enumerate(spans):
            if len(span.text.split()) < 4:
                continue  # headlines, datelines, fragments
            if span.text.rstrip("”’\"' )").endswith("?"):
                continue  # a question in the text restates the question; it answers nothing
            if is_page_chrome(span.text):
                continue  # credits, captions, video players, timestamps: never news
            out.append(
                _Candidate(
                    None, hit, hit.start + span.start, hit.start + span.end, span.text, position=position,
                    before=spans[position - 1].text if position else "",
                    after=spans[position + 1].text if position + 1 < len(spans) else "",
                )
            )
    return out


def _overlap(query_terms: tuple[str, ...] | list[str], text: str) -> float:
    """Share of the question's content words found in ``text`` (prefix match for stems)."""
    if not query_terms:
        return 0.0
    words = set(terms(text))
    found = sum(1 for t in query_terms if t in words or any(w.startswith(t[:5]) for w in words))
    return found / len(query_terms)


#: What the sentence scorer weighs, in this order (retrieval/data/sentence_scorer.json).
SENTENCE_FEATURES = (
    "cosine",  # question vs sentence, same embedding model as search
    "overlap",  # share of the question's content words in the sentence
    "answer_type",  # a new number for how many/old/much, a new name for who/which
    "passage_rank",  # 1 / sqrt(rank of its passage)
    "position",  # 1 / (1 + index of the sentence in its passage)
    "article_lead",  # the article's first sentence
    "length",  # words / 60, capped at 1
    "new_numbers",  # numbers the question lacks (numeric questions only), capped at 3
    "new_names",  # capitalised words the question lacks (who/which questions only) / 5, capped
    "new_words",  # share of the sentence's content words that are not in the question
    "quotation",  # holds a quotation mark
    "fresh",  # its article is this week's news relative to as_of
    "support",  # other articles among the top passages naming its new names/numbers / 20, capped
)
#: Passages whose articles may vouch for a sentence's names and numbers, and the cap of the
#: count: an answer that several sources repeat is more likely the answer (rtqa: +0.03 on the
#: training questions; docs/BENCHMARKS.md).
SUPPORT_PASSAGES = 6
SUPPORT_CAP = 20


def sentence_features(
    question: Question, candidates: list[_Candidate], cosines: np.ndarray, hits: list[Hit]
) -> np.ndarray:
    """One row of :data:`SENTENCE_FEATURES` per candidate sentence; ``hits`` are the ranked
    passages (the first SUPPORT_PASSAGES vouch for names and numbers). Pure."""
    query_terms = question.terms
    query_words = question.words
    query_numbers = question.numbers
    numeric, entity, as_of = question.numeric, question.entity, question.as_of
    mentioned_by: dict[str, set[str]] = {}  # a name or number → articles that have it
    for s in passage_sentences(hits[:SUPPORT_PASSAGES]):
        for fact in _facts(*_new_facts(s.text, query_words, query_numbers)):
            mentioned_by.setdefault(fact, set()).add(s.hit.article_id)
    rows = []
    for c, cos in zip(candidates, cosines):
        content = terms(c.text)
        new_names, new_numbers = _new_facts(c.text, query_words, query_numbers)
        support = sum(len(mentioned_by.get(f, set()) - {c.hit.article_id}) for f in _facts(new_names, new_numbers))
        rows.append((
            float(cos),
            _overlap(query_terms, c.text),
            float(answer_type_match(question, c.text)),
            1.0 / math.sqrt(c.hit.rank),
            1.0 / (1 + c.position),
            float(c.position == 0 and c.hit.start == 0),
            min(len(c.text.split()), 60) / 60,
            float(numeric) * min(len(new_numbers), 3),
            float(entity) * min(len(new_names), 5) / 5,
            sum(1 for t in content if t not in query_terms) / max(1, len(content)),
            float(bool(_QUOTE_MARK.search(c.text))),
            float(is_fresh(c.published, as_of)),
            min(support, SUPPORT_CAP) / SUPPORT_CAP,
        ))
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(SENTENCE_FEATURES))


def _new_facts(text: str, query_words: frozenset[str], query_numbers: frozenset[str]) -> tuple[list[str], list[str]]:
    """Capitalised words and numbers in ``text`` that the question does not mention."""
    names_ = [w for w in _CAPITALISED.findall(text) if w.lower() not in query_words]
    return names_, [n for n in NUMBER.findall(text) if n not in query_numbers]


def _facts(new_names: list[str], new_numbers: list[str]) -> set[str]:
    return {w.lower() for w in new_names} | set(new_numbers)


def is_fresh(published: date | None, as_of: date | None) -> bool:
    if published is None or as_of is None:
        return False
    return -FRESH_AFTER <= (as_of - published).days <= FRESH_DAYS


def _score_sentences(
    question: Question,
    candidates: list[_Candidate],
    hits: list[Hit],
    embed: Embed,
    params: AnswerParams = DEFAULT_ANSWER,
    read: Read | None = None,
) -> dict[str, float]:
    """Score candidate sentences in place; return the abstention features of the question."""
    query_terms = question.terms
    scorer = load_scorer(params.scorer, SENTENCE_FEATURES)
    everyone = candidates
    # the cosine (column 0) taken as its training mean until the sentence is embedded
    features = sentence_features(question, candidates, np.full(len(candidates), scorer.mean[0]), hits)
    if params.embed_sentences and len(candidates) > params.embed_sentences:
        # the best by every feature but the cosine are embedded; the others rank after them
        best = np.sort(np.argsort(-scorer.score(features), kind="stable")[: params.embed_sentences])
        for c in candidates:
            c.score = -math.inf
        candidates, features = [candidates[i] for i in best], features[best]
    vectors = embed([question.text] + [c.text for c in candidates])
    cosines = vectors[1:] @ vectors[0]
    features[:, 0] = cosines
    for c, score in zip(candidates, scorer.score(features)):
        c.score = float(score)
    reader_best = {}
    if read is not None and params.reader_weight:
        # The reader reads the fitted scorer's best sentences only (each costs a cross-encoder
        # pass); the others count as no better than the worst of those.
        shortlist = sorted(candidates, key=lambda c: -c.score)[: params.read_sentences]
        logits = read([sentence_text(c.hit.title, c.text, c.before, c.after) for c in shortlist], "sentence")
        read_logit = {id(c): float(v) for c, v in zip(shortlist, logits)}
        floor = float(logits.min())
        for c in candidates:
            c.score += params.reader_weight * read_logit.get(id(c), floor)
        reader_best = {"sentence_reader": float(logits.max())}
    passages = " ".join(h.title + " " + h.text for h in {c.hit.chunk_id: c.hit for c in everyone}.values())
    found = set(terms(passages))
    name_terms = [t for n in question.specific_names for t in terms(n)]
    return {
        "best_cosine": float(cosines.max()),
        "best_overlap": max(_overlap(query_terms, c.text) for c in everyone),
        "term_coverage": sum(t in found for t in query_terms) / len(query_terms) if query_terms else 1.0,
        "name_coverage": sum(t in found for t in name_terms) / len(name_terms) if name_terms else 1.0,
        **reader_best,
    }


def should_abstain(features: dict[str, float], params: AnswerParams = DEFAULT_ANSWER) -> bool:
    """Unanswerable when the passages fail (:func:`passages_fail`) or the best sentence is far
    from the question in meaning and words."""
    if passages_fail(features, params):
        return True
    return features["best_cosine"] < params.abstain_cosine and features["best_overlap"] < params.abstain_overlap


def passages_fail(features: dict[str, float], params: AnswerParams = DEFAULT_ANSWER) -> bool:
    """No passage holds enough of what is specific in the question (its rare words, weighted by
    IDF), no passage is close to it in meaning, or the index knows none of its words (a
    question of made-up words finds passages on meaning alone, and they are noise)."""
    if features.get("known_terms", 1.0) == 0:
        return True
    if features.get("idf_coverage", 1.0) < params.abstain_coverage:
        return True
    return (features.get("passage_cosine", 1.0) < params.abstain_passage_cosine
            and features.get("idf_coverage", 0.0) < ABSTAIN_COSINE_COVERAGE)


def coverage_features(question: Question, hits: list[Hit], idf: IDF) -> dict[str, float]:
    """``idf_coverage`` (:func:`idf_coverage`) and ``known_terms``: how many of the question's
    content words the index has seen."""
    return {
        "idf_coverage": idf_coverage(question, hits, idf),
        "known_terms": float(sum(1 for t in question.terms if idf(t))) if question.terms else 1.0,
    }


def idf_coverage(question: Question, hits: list[Hit], idf: Callable[[str], float | None]) -> float:
    """Largest share of the question's IDF mass found in one of the top passages.

    A question about something the corpus does not cover still finds passages on its common
    words; what it cannot find is its rare words together in one place. Words the index has
    never seen are left out (they say nothing about any one passage).
    """
    weights = {t: w for t in question.terms if (w := idf(t))}
    total = sum(weights.values())
    if not total:
        return 1.0
    best = 0.0
    for hit in hits[:COVERAGE_PASSAGES]:
        words = set(terms(hit.title + " " + hit.text))
        found = sum(w for t, w in weights.items() if t in words or any(x.startswith(t[:5]) for x in words))
        best = max(best, found / total)
    return best


def abstention_features(question: Question, hits: list[Hit], embed: Embed) -> dict[str, float]:
    """The features :func:`should_abstain` decides on (for calibration scripts)."""
    candidates = passage_sentences(hits[:ANSWER_PASSAGES])
    return _score_sentences(question, candidates, hits, embed) if candidates else {}


def _general_answer(
    question: Question,
    hits: list[Hit],
    embed: Embed,
    params: AnswerParams,
    idf: IDF | None,
    evidence: dict[str, float],
    read: Read | None,
) -> Answer:
    candidates = passage_sentences(hits[: params.passages])
    if not candidates:
        return _abstain(question, hits, "I found no passage that answers this.")
    features = {**_score_sentences(question, candidates, hits, embed, params, read), **evidence}
    if idf is not None:
        features.update(coverage_features(question, hits, idf))
    if should_abstain(features, params):
        return _abstain(question, hits, NO_ANSWER_NOTE)
    ranked = sorted(candidates, key=lambda c: -c.score)
    # The next best sentences fill the word budget: more sentences hedge against the first
    # being the wrong one (measured better than stopping at one; docs/BENCHMARKS.md).
    chosen = _select(ranked, MAX_ANSWER_WORDS, -math.inf, params.max_sentences, params.per_passage)
    return _build(question, chosen, hits)


def _select(
    ranked: list[_Candidate], budget: int, floor: float, max_sentences: int, per_passage: int = 0
) -> list[_Candidate]:
    chosen: list[_Candidate] = []
    words = 0
    seen_text: set[str] = set()
    from_passage: dict[int, int] = {}
    for c in ranked:
        if len(chosen) == max_sentences:
            break
        n = len(c.text.split())
        key = " ".join(c.text.lower().split())
        if key in seen_text:
            continue  # the same sentence from a syndicated copy
        if chosen and (c.score < floor or words + n > budget):
            continue
        if per_passage and from_passage.get(c.hit.chunk_id, 0) >= per_passage:
            continue
        from_passage[c.hit.chunk_id] = from_passage.get(c.hit.chunk_id, 0) + 1
        chosen.append(c)
        seen_text.add(key)
        words += n
    return chosen


# ---------------------------------------------------------------------------- speaker


def _speaker_answer(
    asked: Question,
    question: SpeakerQuestion,
    hits: list[Hit],
    embed: Embed,
    load_article: Callable[[str], Article | None],
) -> Answer:
    candidates: list[_Candidate] = []
    seen_articles: list[str] = []
    for hit in hits:
        if hit.article_id in seen_articles:
            continue
        seen_articles.append(hit.article_id)
        if len(seen_articles) > SPEAKER_ARTICLES:
            break
        article = load_article(hit.article_id)
        if article is None:
            continue
        sentences = split_sentences(article.text)
        for span, speaker in zip(sentences, attribute(sentences, article.text)):
            if is_speaker(speaker, question):
                candidates.append(_Candidate(article, hit, span.start, span.end, span.text))
    if not candidates:
        about = f" about {question.topic}" if question.topic else ""
        return _abstain(
            asked, hits, f"I found no statement by {question.speaker}{about} in the indexed articles."
        )
    topic = question.topic or asked.text
    topic_terms = terms(topic)
    vectors = embed([topic] + [c.text for c in candidates])
    cosines = vectors[1:] @ vectors[0]
    for c, cos in zip(candidates, cosines):
        c.score = float(cos) + 0.5 * _overlap(topic_terms, c.text) + 0.05 / math.sqrt(c.hit.rank)
    ranked = sorted(candidates, key=lambda c: -c.score)
    chosen = _select(ranked, MAX_SPEAKER_WORDS, ranked[0].score * 0.6, MAX_SPEAKER_SENTENCES)
    # Newest statements first when dates differ; within one article, in the article's order
    # (so "He …" follows the sentence that names him).
    first_seen = {id(c.article): i for i, c in reversed(list(enumerate(chosen)))}
    chosen.sort(
        key=lambda c: (-(c.published.toordinal() if c.published else 0), first_seen[id(c.article)], c.start)
    )
    return _build(asked, chosen, hits)


# ---------------------------------------------------------------------------- output


def _build(question: Question, chosen: list[_Candidate], hits: list[Hit]) -> Answer:
    numbers: dict[str, int] = {}
    citations: list[Citation] = []
    sentences: list[AnswerSentence] = []
    for c in chosen:
        hit = c.hit
        if hit.article_id not in numbers:
            numbers[hit.article_id] = len(numbers) + 1
            citations.append(
                Citation(
                    n=numbers[hit.article_id],
                    article_id=hit.article_id,
                    title=hit.title,
                    url=hit.url,
                    source=hit.source,
                    published=hit.published,
                    quote=c.text,
                    start=c.start,
                    chunk_id=hit.chunk_id,
                    also=hit.also,
                )
            )
        sentences.append(AnswerSentence(c.text, numbers[hit.article_id]))
    return Answer(query=question.text, sentences=tuple(sentences), citations=tuple(citations), passages=tuple(hits))


#: Articles named in a refusal, so the user sees what the index does hold nearby.
NEAREST_TITLES = 3


def _abstain(question: Question, hits: list[Hit], note: str, refusal: str = NO_MATCH) -> Answer:
    return Answer(
        query=question.text, sentences=(), citations=(), passages=tuple(hits), abstained=True,
        note=note + nearest_articles(hits), refusal=refusal,
    )


def nearest_articles(hits: list[Hit]) -> str:
    """" The nearest articles I have: “Title” (outlet, date); …" — or "" without hits."""
    seen: dict[str, str] = {}
    for h in hits:
        if h.article_id in seen or len(seen) == NEAREST_TITLES:
            continue
        about = ", ".join(x for x in (h.source, h.published.isoformat() if h.published else None) if x)
        seen[h.article_id] = f"“{h.title}”" + (f" ({about})" if about else "")
    return " The nearest articles I have: " + "; ".join(seen.values()) + "." if seen else ""


_MARKER = re.compile(r"\[(\d+)\]")


def check_citations(answer: Answer, article_text: Callable[[str], str | None]) -> list[str]:
    """Problems with an answer's citations (empty when honest): every quote verbatim in its
    article, every ``[n]`` backed by a citation, every citation used."""
    problems = []
    used = {int(n) for n in _MARKER.findall(answer.text)} if not answer.abstained else set()
    numbers = {c.n for c in answer.citations}
    for n in sorted(used - numbers):
        problems.append(f"[{n}] has no citation")
    for n in sorted(numbers - used):
        problems.append(f"citation [{n}] is not used in the answer")
    for c in answer.citations:
        text = article_text(c.article_id)
        if text is None or c.quote not in text:
            problems.append(f"quote of [{c.n}] is not verbatim in article {c.article_id}")
    for s in answer.sentences:
        cited = next((c for c in answer.citations if c.n == s.n), None)
        text = article_text(cited.article_id) if cited else None
        if text is None or s.text not in text:
            problems.append(f"sentence {s.text[:40]!r}… is not verbatim in its cited article")
    return problems
