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
    r"reaffirmed|affirmed|assured|told reporters|spoke|speaking|commented|comments|"
    r"demanded|demands|described|describes|talked|fired back|shot back|retorted|countered|quipped|"
    r"saying|adding|noting|telling"
)
# A name: capitalised words, possibly joined by "of"/"al"/"bin", possibly with a possessive.
_NAME = r"(?:[A-Z][\w’'\.\-]*)(?:\s+(?:(?:of|al|bin|de|van|von|the)\s+)?[A-Z][\w’'\.\-]*)*"
_AUX = r"(?:(?:has|had|have|also|later|then|further|again|previously|once|has also|had also)\s+)*"
_BEFORE_VERB = re.compile(
    rf"(?P<name>{_NAME})(?:,\s[^,“”\"]{{1,160}},)?\s+{_AUX}(?:{SPEECH_VERBS})\b"
)
# "said X" names X only when X is not the subject of what follows ("said Michigan would …",
# "said Juul's marketing …"): the name may not be followed by a verb or be a possessive.
_AFTER_VERB = re.compile(
    rf"\b(?:said|says|added|wrote|asked|tweeted|posted|continued|explained|replied|noted|[Aa]ccording to)"
    rf"\s+(?P<name>{_NAME})(?![\w’'])(?<![’']s)"
    r"(?!\s+(?:would|will|was|is|has|had|have|could|should|must|can|may|might|did|does|were|are|"
    r"wants|wanted|needs|needed|plans|planned)\b)"
)
_PARTICIPLE = re.compile(
    rf"(?P<name>{_NAME})(?:,\s[^,“”\"]{{1,160}},)?\s+[a-z][^.“”\"]{{0,80}}?,\s+(?:saying|adding|noting|arguing)\b"
)
_SUBJECT = re.compile(rf"^(?:[^,“”\"]{{0,40}},\s+)?(?P<name>{_NAME})\s+[a-z]")
_TEASER = re.compile(r"^(?:More|MORE|Read more|READ MORE|Related|RELATED)\s*:")
_PRONOUN = re.compile(
    rf"(?:^|[,”\"]\s*)(?:he|she|they)\s+{_AUX}(?:{SPEECH_VERBS})\b", re.IGNORECASE
)
_QUOTE_OPEN = re.compile(r"^[\"“‘']")

# Words that can open a name run but are not names themselves.
_NOT_NAMES = STOPWORDS | {"but", "and", "while", "following", "meanwhile", "however", "in", "on"} | {
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "although", "both", "when", "later"}
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
        who = match.group("who").split(",")[0]  # drop an appositive: "X, F1's chief executive,"
        who = " ".join(w for w in re.split(r"\s+", who.strip()) if w.lower().strip(".") not in _TITLES)
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
    for pattern in (_AFTER_VERB, _BEFORE_VERB, _PARTICIPLE):
        for match in pattern.finditer(text):
            name = _clean_name(match.group("name"))
            if name and name.lower() not in _NOT_NAMES:
                return name
    if _PRONOUN.search(text):
        return "<pronoun>"
    return None


def _quote_marks(text: str) -> int:
    """Double quotation marks of any style; an odd count opens or closes a quotation."""
    return sum(text.count(q) for q in '“”"')


def _subject(text: str) -> str | None:
    match = _SUBJECT.match(text)
    if match:
        name = _clean_name(match.group("name"))
        if name and name.lower() not in _NOT_NAMES:
            return name
    return None


def attribute(sentences: list[Span], article_text: str | None = None) -> list[str | None]:
    """Speaker of each sentence in order, resolving pronoun and quotation continuations.

    With ``article_text`` a quotation left open at the end of a paragraph ends there unless the
    next paragraph opens with a quotation mark (news style for quotes running over paragraphs).
    """
    speakers: list[str | None] = []
    explicit: list[bool] = []
    previous: str | None = None
    last_person: str | None = None
    inside = False  # a quotation opened in an earlier sentence is still open
    opened_at: int | None = None
    people: set[str] = set()  # surnames seen in full names ("Lewis Hamilton" -> "hamilton")
    for i, span in enumerate(sentences):
        text = span.text
        for full in re.findall(r"\b[A-Z][a-z]+(?:\s+[A-Z]\.)?\s+([A-Z][a-z][\w\-]+)\b", text):
            people.add(full.lower())
        if inside and article_text and i and "\n" in article_text[sentences[i - 1].end : span.start]:
            if not _QUOTE_OPEN.match(text):
                inside, opened_at = False, None  # a new paragraph without a quotation mark
        if _TEASER.match(text):
            speakers.append(None)
            explicit.append(False)
            continue  # link teasers are transparent
        toggles = _quote_marks(text) % 2 == 1
        closes = inside and toggles
        if inside and not closes:
            speaker, own = previous, False  # the middle of a multi-sentence quotation
        else:
            speaker = sentence_speaker(text) if not (inside and closes) else _tail_speaker(text)
            own = speaker not in (None, "<pronoun>")
            if speaker == "<pronoun>":
                speaker = previous or last_person
            elif speaker is None and (_QUOTE_OPEN.match(text) or inside) and previous:
                speaker = previous  # a bare quotation continues the last speaker
            elif speaker is None and re.match(r"^(He|She)\b", text) and previous:
                speaker = previous  # "He hoped …" continues the statement
        if closes and opened_at is not None and own:
            for j in range(opened_at, i):  # "…,” X said." names the whole quotation
                if not explicit[j]:
                    speakers[j] = speaker
        speakers.append(speaker)
        explicit.append(own)
        if speaker:
            last_person = speaker
        else:
            subject = _subject(text)
            if subject and subject.split()[-1].lower() in people:
                last_person = subject
        previous = speaker
        if toggles:  # quotation state for the next sentence
            inside, opened_at = (False, None) if inside else (True, i)
    return speakers


def _tail_speaker(text: str) -> str | None:
    """Speaker named after the closing quotation mark, or None."""
    tail = _AFTER_QUOTE.search(text)
    if tail and tail.group("tail").strip():
        return _find_speaker(tail.group("tail"))
    return None


def is_speaker(speaker: str | None, question: SpeakerQuestion) -> bool:
    """Does a sentence's speaker name the questioned person (by surname or full name)?"""
    if not speaker:
        return False
    tokens = {t.lower().strip(".’'s") for t in re.split(r"[\s’']+", speaker)}
    tokens |= {t.lower() for t in re.split(r"\s+", speaker)}
    return question.surname.lower().strip(".") in tokens
