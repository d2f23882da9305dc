"""Training pairs for the reader, from ../shared/datasets/rtqa only (see training/splits.py).

Two sources, both written as JSONL rows ``{"qid", "q", "text", "label", "unit", "origin"}``
(``unit`` is "sentence" or "passage"; ``text`` is already in the reader's input form,
``retrieval.reader_text``):

* **real** questions of the train period (and, in ``calib.jsonl``, of the calib period for
  held-out metrics): articles are chunked like the product chunks them; a passage or a sentence
  is positive when it holds the normalised expected answer. Labels are cleaned: a question whose
  answer occurs in the question itself is dropped, and a positive sentence must share a content
  word with the question (a sentence that merely mentions "Biden" answers nothing). Negatives
  mix hard ones (the most question words, same topic, no answer), random ones from the same
  search results, and easy ones from other questions' articles — only hard negatives teach
  "overlap means wrong".
* **synthetic** cloze questions from articles no held-out question searched: a sentence with a
  name or a number becomes a wh-question around that span ("Who …?", "How many …?"), and the
  positive is a *different* sentence that holds the same span and shares two of the question's
  words (another paragraph or another outlet telling the same fact), so the reader cannot win
  by copying. Negatives: sentences sharing the question's words without the span, the source
  article's other sentences, random sentences.

    python training/make_reader_data.py --out .bench/reader --synthetic 12000
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from splits import load_articles, load_questions, split  # noqa: E402

from retrieval.chunking import chunk_text  # noqa: E402
from retrieval.errors import IngestError  # noqa: E402
from retrieval.evaluate import normalise  # noqa: E402
from retrieval.lexical import STOPWORDS, terms  # noqa: E402
from retrieval.reader_text import passage_text, sentence_text  # noqa: E402
from retrieval.sentences import split_sentences  # noqa: E402
from retrieval.sources import article_from_row  # noqa: E402


def units(article) -> tuple[list[str], list[list[tuple[str, str, str]]]]:
    """Passages of an article and, per passage, its (sentence, before, after) triples, as the
    product sees them (same chunker, same sentence filter as answer.passage_sentences)."""
    passages, sentences = [], []
    for start, end in chunk_text(article.text):
        text = article.text[start:end]
        spans = [s.text for s in split_sentences(text)]
        triples = []
        for i, s in enumerate(spans):
            if len(s.split()) < 4 or s.rstrip("”’\"' )").endswith("?"):
                continue
            triples.append((s, spans[i - 1] if i else "", spans[i + 1] if i + 1 < len(spans) else ""))
        passages.append(text)
        sentences.append(triples)
    return passages, sentences


class Corpus:
    def __init__(self, articles: dict[str, dict]):
        self.rows = articles
        self._cache: dict[str, tuple] = {}

    def get(self, url: str):
        if url not in self._cache:
            row = self.rows.get(url)
            try:
                article = article_from_row(row, url) if row else None
            except IngestError:
                article = None
            self._cache[url] = (article, *units(article)) if article else None
        return self._cache[url]


def _overlap(q_terms: set[str], text: str) -> int:
    return len(q_terms & set(terms(text)))


def real_pairs(q: dict, corpus: Corpus, easy_urls: list[str], rnd: random.Random) -> list[dict]:
    answer = normalise(q["answer"])
    if not answer or answer in normalise(q["question"]):
        return []
    q_terms = set(terms(q["question"])) - set(terms(q["answer"]))
    pos_p, neg_p, pos_s, neg_s = [], [], [], []
    for url in q["search_results"]:
        got = corpus.get(url)
        if not got:
            continue
        article, passages, sentences = got
        for passage, triples in zip(passages, sentences):
            has = answer in normalise(passage)
            text = passage_text(article.title, passage)
            (pos_p if has else neg_p).append((_overlap(q_terms, passage), text))
            for s, before, after in triples:
                ov = _overlap(q_terms, s)
                item = (ov, sentence_text(article.title, s, before, after))
                if answer in normalise(s):
                    if ov >= 1 or not q_terms:
                        pos_s.append(item)
                else:
                    neg_s.append(item)
    if not pos_s and not pos_p:
        return []
    rows = []

    def add(items, label, unit, origin):
        for _, text in items:
            rows.append({"qid": q["id"], "q": q["question"], "text": text, "label": label, "unit": unit, "origin": origin})

    def hard_and_random(items, n_hard, n_random):
        items = sorted(items, key=lambda x: -x[0])
        hard, rest = items[:n_hard], items[n_hard:]
        return hard + rnd.sample(rest, min(n_random, len(rest)))

    add(sorted(pos_p, key=lambda x: -x[0])[:3], 1, "passage", "real")
    add(hard_and_random(neg_p, 4, 2), 0, "passage", "real")
    words = keywords(q["question"])
    if len(words.split()) >= 2:  # the same question typed as a search box query
        for _, text in sorted(pos_p, key=lambda x: -x[0])[:2]:
            rows.append({"qid": q["id"], "q": words, "text": text, "label": 1, "unit": "passage", "origin": "keyword"})
        for _, text in hard_and_random(neg_p, 3, 1):
            rows.append({"qid": q["id"], "q": words, "text": text, "label": 0, "unit": "passage", "origin": "keyword"})
    add(sorted(pos_s, key=lambda x: -x[0])[:4], 1, "sentence", "real")
    add(hard_and_random(neg_s, 6, 3), 0, "sentence", "real")
    for url in rnd.sample(easy_urls, 3):  # easy: another question's article
        got = corpus.get(url)
        if not got or not got[1]:
            continue
        article, passages, sentences = got
        i = rnd.randrange(len(passages))
        if answer in normalise(passages[i]):
            continue
        add([(0, passage_text(article.title, passages[i]))], 0, "passage", "easy")
        if sentences[i]:
            s, b, a = rnd.choice(sentences[i])
            add([(0, sentence_text(article.title, s, b, a))], 0, "sentence", "easy")
    return rows


# ---------------------------------------------------------------------------- synthetic

_WORD = re.compile(r"[\w’'\-]+")


def keywords(question: str) -> str:
    """A question as a search-box query: its words without stopwords and question words, case
    kept ("What did Qureshi say about Afghanistan?" → "Qureshi Afghanistan")."""
    return " ".join(w for w in _WORD.findall(question) if w.lower() not in STOPWORDS and len(w) > 1)

_NUMBER_SPAN = re.compile(r"(?<![\w.\-:$])(\d[\d,.]*)(\s(?:percent|million|billion|people|years?|days?|dollars|points|times|months?|weeks?|hours?|miles|feet))?")
_NAME_SPAN = re.compile(r"(?<=\s)([A-Z][a-z’'\-]+(?:\s[A-Z][a-z’'\-]+){1,3})")
#: Page chrome, credits and datelines: no quiz question is made from them.
_CHROME = re.compile(r"Video Ad Feedback|Source: CNN|Getty Images|/AP\b|/Reuters|\bPhotos?:|a\.m\.|p\.m\.|\bET\b|\$")
_YEAR = re.compile(r"^(1[89]|20)\d\d$")
_PERSON_HINT = re.compile(r"\b(said|says|told|president|minister|senator|CEO|who|his|her|he|she)\b")


def cloze(sentence: str, rnd: random.Random) -> tuple[str, str] | None:
    """(question, answer span) from a sentence, or None. Names → who/what, numbers → how many."""
    if _CHROME.search(sentence):
        return None
    spans = []
    for m in _NAME_SPAN.finditer(sentence):
        if m.group(1).split()[0].lower() in STOPWORDS:
            continue
        wh = "who" if _PERSON_HINT.search(sentence) else "what"
        spans.append((m.start(1), m.end(1), m.group(1), wh))
    for m in _NUMBER_SPAN.finditer(sentence):
        value = m.group(1).strip(",.")
        if (len(value) < 2 and not m.group(2)) or (_YEAR.match(value) and not m.group(2)):
            continue  # single digits and bare years answer too many questions at once
        wh = "how many" + (m.group(2) or "") if m.group(2) else "what number"
        spans.append((m.start(), m.end(), m.group(1).strip(",."), wh))
    if not spans:
        return None
    start, end, answer, wh = rnd.choice(spans)
    left = sentence[:start].split()[-10:]
    right = sentence[end:].split()[:10]
    right_text = " ".join(right).rstrip(".,;:”\"’ ")
    # wh-fronting is beyond a regex; a wh-word in place reads as a quiz question, which is
    # what rtqa's questions are ("The storm killed how many people?").
    q = " ".join([*left, wh, right_text]).strip()
    q = q[0].upper() + q[1:] + "?"
    if len(terms(q)) < 3:
        return None
    return q, answer


def synthetic_pairs(urls: list[str], corpus: Corpus, n: int, rnd: random.Random) -> list[dict]:
    sents: list[tuple[str, str, str, str, str, int]] = []  # sentence, before, after, title, passage, article#
    passages_of: list[list[str]] = []
    for a_i, url in enumerate(urls):
        got = corpus.get(url)
        if not got:
            passages_of.append([])
            continue
        article, passages, sentences = got
        passages_of.append(passages)
        for passage, triples in zip(passages, sentences):
            for s, b, a in triples:
                sents.append((s, b, a, article.title, passage, a_i))
    postings: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(sents):
        for t in set(terms(row[0])):
            postings[t].append(i)
    rows: list[dict] = []
    order = list(range(len(sents)))
    rnd.shuffle(order)
    made = 0
    for i in order:
        if made >= n:
            break
        s, _, _, _, _, a_i = sents[i]
        if not 8 <= len(s.split()) <= 45:
            continue
        got = cloze(s, rnd)
        if not got:
            continue
        q, answer = got
        q_terms = [t for t in terms(q) if t not in STOPWORDS and t not in ("many", "number")]
        rare = sorted(q_terms, key=lambda t: len(postings.get(t, ())))[:4]
        counts: dict[int, int] = defaultdict(int)
        for t in rare:
            plist = postings.get(t, ())
            if len(plist) > 3000:
                continue
            for j in plist:
                counts[j] += 1
        needle = normalise(answer)
        pos, hard = [], []
        wanted = set(q_terms) - set(terms(answer))
        for j, c in sorted(counts.items(), key=lambda x: -x[1]):
            if c < 2 or j == i or normalise(sents[j][0]) == normalise(s):
                continue
            if needle in normalise(sents[j][0]):
                # The same fact told again: most of the question's words, not just the span.
                if len(wanted & set(terms(sents[j][0]))) >= max(3, 0.5 * len(wanted)):
                    pos.append(j)
            else:
                hard.append(j)
        if not pos or len(hard) < 2:
            continue
        made += 1
        qid = f"syn{i}"

        def add(j, label, origin):
            t, b, a, title, _, _ = sents[j]
            rows.append({"qid": qid, "q": q, "text": sentence_text(title, t, b, a), "label": label, "unit": "sentence", "origin": origin})

        for j in pos[:2]:
            add(j, 1, "synthetic")
            rows.append({"qid": qid, "q": q, "text": passage_text(sents[j][3], sents[j][4]), "label": 1, "unit": "passage", "origin": "synthetic"})
        for j in hard[:4]:
            add(j, 0, "synthetic")
        if needle not in normalise(sents[hard[0]][4]):
            rows.append({"qid": qid, "q": q, "text": passage_text(sents[hard[0]][3], sents[hard[0]][4]), "label": 0, "unit": "passage", "origin": "synthetic"})
        same = [j for j in range(max(0, i - 30), min(len(sents), i + 30)) if sents[j][5] == a_i and needle not in normalise(sents[j][0])]
        for j in rnd.sample(same, min(2, len(same))):
            add(j, 0, "synthetic")
        for j in rnd.sample(range(len(sents)), 2):
            if needle not in normalise(sents[j][0]):
                add(j, 0, "easy")
    return rows


def name_pairs(urls: list[str], corpus: Corpus, n: int, rnd: random.Random) -> list[dict]:
    """Name-and-topic queries as people type them into /search ("Jonas Berg microcontrollers"):
    a name and one or two rarer words of the same passage. Positives: passages (of any article)
    holding the name and every word; hard negatives: passages holding the name without the
    words, or the words without the name."""
    passages: list[tuple[str, str, set[str]]] = []  # title, passage, its terms
    for url in urls:
        got = corpus.get(url)
        if got:
            passages.extend((got[0].title, p, set(terms(got[0].title + " " + p))) for p in got[1])
    postings: dict[str, list[int]] = defaultdict(list)
    for i, (_, _, ts) in enumerate(passages):
        for t in ts:
            postings[t].append(i)
    rows: list[dict] = []
    order = list(range(len(passages)))
    rnd.shuffle(order)
    made = 0
    for i in order:
        if made >= n:
            break
        title, passage, ts = passages[i]
        names = [m.group(1) for m in _NAME_SPAN.finditer(passage)
                 if m.group(1).split()[0].lower() not in STOPWORDS and not _CHROME.search(m.group(1))]
        if not names:
            continue
        name = rnd.choice(names)
        name_terms = set(terms(name))
        if not name_terms:
            continue
        others = [t for t in ts - name_terms if t not in STOPWORDS and not t.isdigit() and 2 <= len(postings[t]) <= 200]
        if not others:
            continue
        words = rnd.sample(others, min(len(others), rnd.choice((1, 1, 2))))
        with_name = set.intersection(*(set(postings[t]) for t in name_terms))
        with_words = set.intersection(*(set(postings[t]) for t in words))
        pos = sorted(with_name & with_words)
        name_only, words_only = sorted(with_name - with_words), sorted(with_words - with_name)
        if not pos or not (name_only or words_only):
            continue
        made += 1
        spelled = {t: next((w for w in _WORD.findall(passage) if w.lower() == t), t) for t in words}
        q = " ".join([name, *(spelled[t] for t in words)])
        qid = f"name{i}"

        def add(j, label, origin):
            rows.append({"qid": qid, "q": q, "text": passage_text(passages[j][0], passages[j][1]),
                         "label": label, "unit": "passage", "origin": origin})

        for j in rnd.sample(pos, min(2, len(pos))):
            add(j, 1, "name")
        for j in rnd.sample(name_only, min(2, len(name_only))) + rnd.sample(words_only, min(2, len(words_only))):
            add(j, 0, "name")
        j = rnd.randrange(len(passages))
        if j not in with_name and j not in with_words:
            add(j, 0, "easy")
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path(".bench/reader"))
    p.add_argument("--synthetic", type=int, default=12000, help="synthetic questions to make")
    p.add_argument("--names", type=int, default=0, help="name-and-topic keyword queries to make")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--show", type=int, default=0, help="print this many synthetic questions to check by eye")
    args = p.parse_args(argv)
    rnd = random.Random(args.seed)
    questions, articles = load_questions(), load_articles()
    s = split(questions, articles)
    corpus = Corpus(articles)
    args.out.mkdir(parents=True, exist_ok=True)
    train_urls = sorted({u for q in s.train for u in q["search_results"]})
    calib_urls = sorted({u for q in s.calib for u in q["search_results"]})
    real = [r for q in s.train for r in real_pairs(q, corpus, train_urls, rnd)]
    calib = [r for q in s.calib for r in real_pairs(q, corpus, calib_urls, rnd)]
    syn = synthetic_pairs(s.synthetic_urls, corpus, args.synthetic, rnd)
    syn += name_pairs(s.synthetic_urls, corpus, args.names, rnd) if args.names else []
    if args.show:
        seen = set()
        for r in syn:
            if r["label"] == 1 and r["unit"] == "sentence" and r["qid"] not in seen:
                seen.add(r["qid"])
                print(f"Q: {r['q']}\n   + {r['text'][:160]}")
                if len(seen) >= args.show:
                    break
    train = real + syn
    rnd.shuffle(train)
    for name, rows in (("train", train), ("calib", calib)):
        with open(args.out / f"{name}.jsonl", "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    def describe(rows):
        by = defaultdict(int)
        for r in rows:
            by[(r["origin"], r["unit"], r["label"])] += 1
        return {f"{o}/{u}/{l}": c for (o, u, l), c in sorted(by.items())}
    info = {"train_questions": len(s.train), "calib_questions": len(s.calib),
            "synthetic_articles": len(s.synthetic_urls), "train_pairs": len(train),
            "train": describe(train), "calib_pairs": len(calib), "calib": describe(calib)}
    (args.out / "data.json").write_text(json.dumps(info, indent=1))
    print(json.dumps(info, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
