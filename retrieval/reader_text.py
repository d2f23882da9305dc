"""How the reader sees a candidate: one place for training and for the product. Pure.

The reader is a cross-encoder over (question, text). It reads two kinds of text:

* a **sentence** with its passage context: the sentence first (it is what is judged), then the
  article title and the neighbouring sentences, so truncation cuts context, never the sentence;
* a **passage**: the title, then the passage.
"""

from __future__ import annotations

SEPARATOR = " | "


def sentence_text(title: str, sentence: str, before: str = "", after: str = "") -> str:
    context = " ".join(part for part in (before, after) if part)
    return SEPARATOR.join(part for part in (sentence, title, context) if part)


def passage_text(title: str, passage: str) -> str:
    return SEPARATOR.join(part for part in (title, passage) if part)
