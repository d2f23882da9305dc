"""Who said what: speaker questions and the speaker of each sentence. Pure, regex-based.

A sentence's speaker is found from the attribution patterns news prose uses:

* ``Qureshi said …`` / ``Qureshi, the foreign minister, said …`` / ``Qureshi reiterated …``
* ``“…,” said Qureshi.`` / ``“…,” Blinken told reporters.``
* ``according to Qureshi``
* ``He hoped …`` / ``“…,” he said.`` continue the previous sentence's speaker, and a sentence
  that is nothing but a quotation continues the speaker of the sentence before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.lexical import STOPWORDS
from retrieval.sentences import Span

SPEECH_VERBS = (
    r"said|says|say|told|tells|added|adds|stressed|stresses|urged|urges|reiterated|reiterates|"
    r"noted|notes|stated|states|warned|warns|argued|argues|insisted|insists|explained|explains|"
    r"emphasi[sz]ed|emphasi[sz]es|asserted|asserts|claimed|claims|declared|declares|announced|"
    r"announces|hoped|hopes|called|calls|vowed|vows|pledged|pledges|acknowledged|acknowledges|"
    r"admitted|admits|wrote|writes|tweeted|tweets|posted|asked|asks|replied|replies|responded|"
    r"remarked|continued|concluded|suggested|suggests|predicted|predicts|maintained|maintains|"
    r"contended|conceded|recalled|believes|believed|thinks|thought|felt|feels|pointed out|"
    r"made clear|expressed|welcomed|welcomes|critici[sz]ed|criticises|criticizes|denied|denies|"
    r"confirmed|confirms|defended|defends|underlined|underscored|observed|highlighted|"
    r"reaffirmed|affirmed|assured|told reporters|spoke|speaking|commented|comments"
)
# A name: capitalised words, possibly joined by "of"/"al"/"bin", possibly with a possessive.
_NAME = r"(?:[A-Z][\w’'\.\-]*)(?:\s+(?:(?:of|al|bin|de|van|von|the)\s+)?[A-Z][\w’'\.\-]*)*"
_AUX = r"(?:(?:has|had|have|also|later|then|further|again|previously|once|has also|had also)\s+)*"
_BEFORE_VERB = re.compile(
    rf"(?P<name>{_NAME})(?:,\s[^,“”\"]{{1,90}},)?\s+{_AUX}(?:{SPEECH_VERBS})\b"
)
_AFTER_VERB = re.compile(rf"\b(?:said|says|told|added|wrote|asked|[Aa]ccording to)\s+(?P<name>{_NAME})")
_PRONOUN = re.compile(
    rf"(?:^|[,”\"]\s*)(?:he|she|they)\s+{_AUX}(?:{SPEECH_VERBS})\b", re.IGNORECASE
)
_QUOTE_OPEN = re.compile(r"^[\"“‘']")

# Words that can open a name run but are not names themselves.
_NOT_NAMES = STOPWORDS | {"but", "and", "while", "following", "meanwhile", "however", "in", "on"}
# Honorifics and job titles stripped from a questioned name before matching.
_TITLES = frozenset(
    """
    mr mrs ms dr prof sir dame lord lady president vice prime minister fm pm secretary state
    senator sen rep representative governor gov mayor general gen chancellor king queen prince
    princess pope ambassador envoy chief judge justice spokesman spokeswoman spokesperson
    foreign finance defense defence interior health us u.s. uk former the of
    """.split()
)


@dataclass(frozen=True)
class SpeakerQuestion:
    speaker: str  # as written in the question, titles removed ("Qureshi")
    topic: str  # what about ("Afghanistan"), may be empty

    @property
    def surname(self) -> str:
        return self.speaker.split()[-1]


_QUESTION_PATTERNS = [
    re.compile(
        r"^\s*what\s+(?:did|does|do|has|have|had|was|is)\s+(?P<who>.+?)\s+"
        r"(?:say|said|saying|tell|told|think|thought|comment|commented|claim|claimed|argue|argued|"
        r"write|wrote|tweet|tweeted|announce|announced|reveal|revealed|stress|stressed|warn|warned)"
        r"(?:\s+(?:about|on|regarding|of|concerning|to|in))?(?P<topic>.*?)\??\s*$",
        re.I,
    ),
    re.compile(
        r"^\s*(?:what\s+(?:is|was|are|were)\s+)?(?P<who>.+?)[’']s?\s+(?:view|views|position|stance|take|"
        r"reaction|response|comment|comments|opinion|opinions|statement|statements|remarks)\s+"
        r"(?:on|about|to|regarding)\s+(?P<topic>.*?)\??\s*$",
        re.I,
    ),
    re.compile(
        r"^\s*(?:did|has|have)\s+(?P<who>.+?)\s+(?:comment|commented|say anything|said anything|speak|"
        r"spoken|talk|talked|respond|responded|react|reacted)\s*(?:on|about|to|regarding)?"
        r"(?P<topic>.*?)\??\s*$",
        re.I,
    ),
    re.compile(
        r"^\s*how\s+(?:did|does|has)\s+(?P<who>.+?)\s+(?:respond|react|reply|answer)\s*(?:to)?"
        r"(?P<topic>.*?)\??\s*$",
        re.I,
    ),
]


def parse_speaker_question(question: str) -> SpeakerQuestion | None:
    """Recognise "what did X say (about Y)"-style questions; X must contain a capitalised name."""
    for pattern in _QUESTION_PATTERNS:
        match = pattern.match(question)
        if not match:
            continue
        who = " ".join(
            w for w in re.split(r"\s+", match.group("who").strip()) if w.lower().strip(".") not in _TITLES
        )
        who = who.strip(" ,.'’")
        if not who or not re.search(r"[A-Z]", who):
            continue
        return SpeakerQuestion(speaker=who, topic=match.group("topic").strip(" ?.,"))
    return None


def _clean_name(name: str) -> str:
    words = name.split()
    while words and words[0].lower() in _NOT_NAMES:
        words = words[1:]
    return " ".join(words).rstrip(".,;:’'")


_AFTER_QUOTE = re.compile(r"[”\"]\s*,?\s*(?P<tail>[^“”\"]{0,120})$")


def sentence_speaker(text: str) -> str | None:
    """The named speaker of one sentence, "<pronoun>" for he/she continuations, or None.

    An attribution after a closing quotation mark ("…,” he said.") wins over names inside the
    quotation ("“The Taliban says …,” he said." is the pronoun's, not the Taliban's).
    """
    tail = _AFTER_QUOTE.search(text)
    if tail and tail.group("tail").strip():
        speaker = _find_speaker(tail.group("tail"))
        if speaker:
            return speaker
    return _find_speaker(text)


def _find_speaker(text: str) -> str | None:
    for pattern in (_AFTER_VERB, _BEFORE_VERB):
        for match in pattern.finditer(text):
            name = _clean_name(match.group("name"))
            if name and name.lower() not in _NOT_NAMES:
                return name
    if _PRONOUN.search(text):
        return "<pronoun>"
    return None


def attribute(sentences: list[Span]) -> list[str | None]:
    """Speaker of each sentence in order, resolving pronoun and quotation continuations."""
    speakers: list[str | None] = []
    previous: str | None = None
    for span in sentences:
        speaker = sentence_speaker(span.text)
        if speaker == "<pronoun>":
            speaker = previous
        elif speaker is None and _QUOTE_OPEN.match(span.text) and previous:
            speaker = previous  # a bare quotation continues the last speaker
        elif speaker is None and re.match(r"^(He|She)\b", span.text) and previous:
            speaker = previous  # "He hoped …" continues the statement
        speakers.append(speaker)
        previous = speaker
    return speakers


def is_speaker(speaker: str | None, question: SpeakerQuestion) -> bool:
    """Does a sentence's speaker name the questioned person (by surname or full name)?"""
    if not speaker:
        return False
    tokens = {t.lower().strip(".’'s") for t in re.split(r"[\s’']+", speaker)}
    tokens |= {t.lower() for t in re.split(r"\s+", speaker)}
    return question.surname.lower().strip(".") in tokens
