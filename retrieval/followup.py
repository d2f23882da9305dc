"""Follow-up questions: turn "and what about Biden?" into a question that stands on its own. Pure.

A conversation hands :func:`resolve` the previous question (and, when there is one, the text of
its answer) with the new text. When the new text depends on them it returns a standalone
question plus a short label of what was understood ("Biden — about Afghanistan"), which the
bot shows above the answer so that a wrong guess is visible. Anything else passes unchanged:
a rewritten standalone question costs more than a missed follow-up, so every rule below fires
only on a clear sign of dependence. The rules are measured on ``tests/data/followups.jsonl``
and on the real rtqa questions (``benchmarks/bench_followups.py``, docs/BENCHMARKS.md).

The signs, checked in this order:

* a bare question word: "why?", "how so?", "and when?" (also "tell me more") — the previous
  question is re-asked with that question word;
* a fragment: "what about X?", "and X?", "how about X?", a bare "X?" of up to three words, or
  in a reply to the bot any short fragment — X takes the place in the previous question of
  what it resembles: a superlative another superlative, a name sharing a word a name, a place
  the topic (or the "which country" slot), a person the speaker, a lower-case phrase the topic;
* a third-person pronoun (he, she, it, they, his, its, …) with no antecedent in the new text —
  it is replaced by the previous answer's new name when the previous question asked for one
  ("Which landmark …?" → "the Eiffel Tower"), else by the speaker or a name of the previous
  question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.lexical import STOPWORDS, terms
from retrieval.names import bare, clean_name, is_person, is_place, whole_names
from retrieval.question import Question

#: Kinds of resolution, for the label and the benchmark.
STANDALONE, WH, FRAGMENT, PRONOUN, MORE = "standalone", "wh", "fragment", "pronoun", "more"

#: A bare fragment without "and"/"what about" is a follow-up only when it is this short and
#: ends with "?" ("India?"); a longer one, or one without "?", is a keyword query.
BARE_FRAGMENT_WORDS = 3
#: "What about X" counts as a fragment when X has at most this many words and no verb.
FRAGMENT_WORDS = 6

_AUX = ("is was are were has have had will would can could should did does do may might must "
        "'s").split()
_DO = {"did", "does", "do"}
_IRREGULAR_PAST = set(
    """said told met won made took gave went saw found left began became hit led ran set sent
    spent built bought brought caught chose drew drove ate fell fought flew got grew held kept
    knew lost meant paid put rose sold shot shut stood struck swore taught threw wore wrote
    broke spoke stole sank sought""".split()
)
_WH_ONLY = re.compile(
    r"^(?:(?:and|but|so|ok|okay|then)[,\s]+)?(?P<wh>why(?: so| is that| not)?|how so|how come|when|"
    r"where|how|how many|how much|how long|how old|since when|who|which one)(?:\s+exactly)?\s*[?!.]*$",
    re.I,
)
_MORE = re.compile(r"^(?:(?:and|ok|okay)[,\s]+)?(?:tell me more|more|go on|more details|details|"
                   r"and then|what else)(?: (?:about|on) (?:it|that|this))?\s*[?!.]*$", re.I)
_CONNECTOR = re.compile(
    r"^(?:and\s+)?(?:what|how)\s+about\s+(?P<x>.+?)\s*[?!.]*$"
    r"|^(?:and|also|same for|and also)\s+(?:(?:about|for|on|in)\s+)?(?P<y>.+?)\s*[?!.]*$",
    re.I,
)
_SUPERLATIVE = re.compile(r"\b(?:(?:most|least)\s+\w+|\w{2,}est)\b", re.I)
_NOT_SUPERLATIVE = {"interest", "protest", "request", "west", "test", "rest", "contest", "forest",
                    "arrest", "suggest", "invest", "digest", "harvest", "honest", "modest",
                    "manifest", "latest"}
_PRONOUNS = {"he": "m", "him": "m", "his": "m", "she": "f", "her": "f", "hers": "f",
             "it": "n", "its": "n", "they": "p", "them": "p", "their": "p"}
_POSSESSIVE = {"his", "its", "their", "hers"}
_OBJECT = {"him", "them"}
#: "it" that refers to nothing: "is it true that", "how long will it take", "it costs".
_EXPLETIVE_IT = re.compile(
    r"\b(?:is|was|isn't|wasn't)\s+it\s+(?:true|possible|likely|right|correct|fair|safe|legal|"
    r"the case)\b|\bit\s+(?:take|takes|took|cost|costs)\b(?=.*\bto\b|\s+(?:\d|a|an|one|two|"
    r"three|four|five|six|seven|eight|nine|ten|several|many|more|less|about|over|nearly)\b)|\bit\s+(?:seem|seems|"
    r"seemed|mean|means|matter|matters)\b|\bhow long (?:has|had|is|was) it been\b|\bit['’]s\b|\bit (?:is|was)\s+(?:time|"
    r"true|said|reported|known|expected|believed|possible|likely|official)\b",
    re.I,
)
_DETERMINER_NP = re.compile(r"\b(?:which|what|whose|the|a|an|this|that|these|those)\s+[a-z]\w+",
                            re.I)
_CLAUSE = re.compile(r",|\b(?:that|who|when|after|because|since|if|said|says|while|to)\b", re.I)
#: "X said it …", "X announced they …": the pronoun refers to X.
_REPORTING = re.compile(r"\b(?:said|says|announced|announces|told|claimed|claims|reported|warned|"
                        r"argued|stated|added|insisted|denied|admitted|revealed|confirmed)\b", re.I)
#: "In his new series, Bill Nye said …": the pronoun points forward to the name.
_FRONTED = re.compile(r"^(?:in|with|after|despite|following|for|on|at|during|before|since)\s*$",
                      re.I)
#: Nouns of a "which …" slot that a place can fill: "Which country was shaken …?" + "And
#: Afghanistan?" → "Was Afghanistan shaken …?".
_PLACE_NOUNS = {"country", "countries", "nation", "nations", "state", "states", "city", "cities",
                "region", "province", "island", "capital", "county", "borough", "territory"}
_TIME = re.compile(r"\s+(?:this|last|next)\s+(?:week|month|year)\b.*$|\s+(?:today|yesterday|"
                   r"recently|on \w+day)\b.*$", re.I)
_PREPOSITION = re.compile(r"\b(?:by|about|of|for|on|with|over|from)\s+", re.I)


@dataclass(frozen=True)
class Previous:
    """What the new text may depend on: the last question and the text of its answer."""

    question: str
    answer: str = ""  # the answer's sentences; "" when it abstained or is not known


@dataclass(frozen=True)
class Resolution:
    """What to ask: ``question`` stands on its own; ``label`` says what was understood ("" for
    a standalone question, which passes unchanged)."""

    text: str  # what was typed
    question: str
    kind: str = STANDALONE
    label: str = ""

    @property
    def rewritten(self) -> bool:
        return self.kind != STANDALONE


def resolve(text: str, previous: Previous | None, *, reply: bool = False) -> Resolution:
    """``text`` as a standalone question, given the ``previous`` question and answer.

    ``reply`` is true when the text replies to the previous answer itself: then a fragment
    counts even without "?" ("and prices").
    """
    text = " ".join(text.split())
    if previous is None or not previous.question.strip() or not text:
        return Resolution(text, text)
    prev = Question.parse(previous.question)
    answer = " ".join(previous.answer.split())
    if wh := _WH_ONLY.match(text):
        return _done(text, WH, _with_question_word(prev, answer, wh.group("wh")))
    if _MORE.match(text):
        return _done(text, MORE, prev.text)
    if (fragment := _fragment(text, reply)) is not None:
        return _done(text, FRAGMENT, _substitute(prev, answer, fragment))
    if (replaced := _replace_pronouns(text, prev, answer)) is not None:
        return _done(text, PRONOUN, replaced)
    return Resolution(text, text)


def _done(text: str, kind: str, question: str) -> Resolution:
    question = re.sub(r"^(?:and|so|but|ok|okay|then)[,\s]+(?=\w)", "", question, flags=re.I)
    question = question[:1].upper() + question[1:]
    if not question.endswith("?"):
        question = question.rstrip(" .!") + "?"
    return Resolution(text, question, kind, label(question))


def label(question: str) -> str:
    """A short description of a resolved question: "Biden — about Afghanistan" for a speaker
    question, else the question itself."""
    speaker = Question.parse(question).speaker
    if speaker is None:
        return question
    return f"{speaker.speaker} — about {speaker.topic}" if speaker.topic else speaker.speaker


def _question_words(question: Question) -> set[str]:
    return {w.lower() for w in re.findall(r"\w+", question.text)}


def _answer_entity(prev: Question, answer: str, *, person: bool | None = None) -> str:
    """The first name in the answer that the question did not mention, as written ("the
    Eiffel Tower", "Finland and Sweden"); "" when there is none. ``person`` True/False keeps
    only names that look like / do not look like a person."""
    if not answer:
        return ""
    known = _question_words(prev)
    for raw in whole_names(answer):
        name = clean_name(raw)
        if not name or {w.lower() for w in re.findall(r"\w+", name)} <= known:
            continue
        if person is True and not is_person(name):
            continue
        at = answer.find(name)
        after = answer[at + len(name):] if at >= 0 else ""
        if (both := re.match(r"\s+and\s+([A-Z][\w'’\-]+(?:\s+[A-Z][\w'’\-]+)*)", after)):
            name = f"{name} and {both.group(1)}"
        if at >= 4 and answer[at - 4 : at].lower() == "the ":
            name = "the " + name
        return name
    return ""


def _asks_for_entity(prev: Question) -> bool:
    """Is the answer a name ("Which landmark …?", "The prime minister of which nation …?")?"""
    return (prev.entity or bool(re.match(r"^what\s+(?!(?:is|was|are|were|did|does|do|has|have|had|"
                                         r"will|would|can|could)\b)\w+", prev.text, re.I))
            ) and prev.speaker is None


# ---------------------------------------------------------------- the previous question's frame


@dataclass(frozen=True)
class _Frame:
    """A subject question split up: "Which iconic landmark | is | reportedly riddled with rust"."""

    noun: str  # the asked-for noun phrase without its question word ("iconic landmark")
    verb: str  # an auxiliary ("is") or a past-tense verb ("issued")
    rest: str

    @property
    def aux(self) -> bool:
        return self.verb.lower() in _AUX

    def statement(self, subject: str, wh: str = "") -> str:
        """"Why is the Eiffel Tower …", "Was Afghanistan shaken …", "Why Russia issued …"."""
        if self.aux:
            head = f"{wh} {self.verb} {subject}" if wh else f"{self.verb} {subject}"
        elif base := base_form(self.verb):
            head = f"{wh} did {subject} {base}" if wh else f"did {subject} {base}"
        else:  # a verb whose base form is not certain: "Why Russia sanctioned …"
            head = f"{wh} {subject} {self.verb}" if wh else f"{subject} {self.verb}"
        return f"{head} {self.rest}".strip()

    def definite(self) -> str:
        return f"the {self.noun}" if self.noun else ""


_IRREGULAR_BASE = dict(pair.split(":") for pair in """
    said:say told:tell met:meet won:win made:make took:take gave:give went:go saw:see found:find
    left:leave began:begin became:become hit:hit led:lead ran:run set:set sent:send spent:spend
    built:build bought:buy brought:bring caught:catch chose:choose drew:draw drove:drive ate:eat
    fell:fall fought:fight flew:fly got:get grew:grow held:hold kept:keep knew:know lost:lose
    meant:mean paid:pay put:put rose:rise sold:sell shot:shoot shut:shut stood:stand
    struck:strike swore:swear taught:teach threw:throw wore:wear wrote:write broke:break
    spoke:speak stole:steal sank:sink sought:seek""".split())
#: After "-ed" comes off, these endings need their "e" back ("closed" → "close", "issued" →
#: "issue"); these need nothing ("called" → "call", "impacted" → "impact").
_E_ENDINGS = ("at", "iz", "bl", "os", "us", "ir", "ur", "nc", "rc", "ag", "ok", "ot", "v", "u",
              "ar", "uc", "ac", "rg", "dg", "ng", "is", "ud", "id", "ad")
_PLAIN_ENDINGS = ("ll", "ss", "ct", "st", "nd", "rt", "rn", "wn", "rm", "lp", "sh", "ch", "ft",
                  "mp", "lt", "nt", "pt", "rk", "ck", "lk", "sk", "wer", "ter", "der", "ain",
                  "ail", "eal", "oil", "ean", "eil", "ow", "ay", "ey", "oy", "pen", "en", "er")


def base_form(verb: str) -> str | None:
    """The base form of a past-tense verb ("issued" → "issue", "called" → "call", "won" →
    "win"), or None when a simple rule cannot be sure ("visited"/"invited")."""
    word = verb.lower()
    if word in _IRREGULAR_BASE:
        return _IRREGULAR_BASE[word]
    if not word.endswith("ed") or len(word) < 5:
        return None
    if word.endswith("ied"):
        return word[:-3] + "y"
    if word.endswith("eed"):
        return word[:-1]
    stem = word[:-2]
    if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in "lsz":
        return stem[:-1]  # "banned" → "ban"
    if stem.endswith(_PLAIN_ENDINGS):
        return stem
    if stem.endswith(_E_ENDINGS):
        return stem + "e"
    return None


def _frame(question: str) -> _Frame | None:
    """The frame of "Which/What/Who NP verb rest?" (a subject question); None otherwise."""
    words = question.rstrip(" ?").split()
    if len(words) < 3 or words[0].lower() not in {"which", "what", "who"}:
        return None
    start = 1 if words[0].lower() == "who" else 2
    for i in range(start, len(words) - 1):
        word = words[i].lower()
        adverb_before = words[i - 1].lower().endswith("ly")
        if word in _AUX or word in _IRREGULAR_PAST or (word.endswith("ed") and len(word) > 4
                                                      and not adverb_before):
            if word in _DO:
                return None  # "Which product did Tesla unveil?": the asked-for NP is an object
            noun = " ".join(words[1:i])
            verb_at = i
            if i > 1 and words[i - 1].lower().endswith("ly") and i - 1 >= start:
                noun, verb_at = " ".join(words[1 : i - 1]), i - 1  # "gymnast | recently won"
                return _Frame(noun, words[verb_at], " ".join(words[verb_at + 1 :]))
            return _Frame(noun, words[i], " ".join(words[i + 1 :]))
    return None


# ---------------------------------------------------------------- rules


def _with_question_word(prev: Question, answer: str, wh: str) -> str:
    wh = wh.lower()
    wh = "why" if wh in {"how so", "how come", "why so", "why is that"} else wh
    if prev.speaker is not None:
        about = f" about {prev.speaker.topic}" if prev.speaker.topic else ""
        return f"{wh} did {prev.speaker.speaker} say that{about}"
    adverbial = re.match(r"^(?:where|when|why|how(?: many| much| old| long| far)?)\s+(?P<tail>(?:"
                         + "|".join(map(re.escape, _AUX)) + r")\b.*)$", prev.text, re.I)
    if adverbial:
        return f"{wh} {adverbial.group('tail')}"
    frame = _frame(prev.text)
    subject = _answer_entity(prev, answer) if _asks_for_entity(prev) else ""
    if frame is not None and (subject or frame.definite()):
        return frame.statement(subject or frame.definite(), wh)
    return f"{wh} — {prev.text.rstrip('?')}" + (f" ({subject})" if subject else "")


def _fragment(text: str, reply: bool) -> str | None:
    """X of "what about X?", "and X?", a bare "X?"; None when the text is a whole question."""
    match = _CONNECTOR.match(text)
    if match:
        x = match.group("x") or match.group("y")
    elif (text.endswith("?") or reply) and len(text.split()) <= BARE_FRAGMENT_WORDS:
        x = text.strip(" ?!.")
    else:
        return None
    words = [w.lower().strip(",") for w in x.split()]
    if not words or len(words) > FRAGMENT_WORDS:
        return None
    question_words = {"what", "who", "whom", "which", "where", "when", "why", "how", "whose"}
    if words[0] in question_words or set(words) & (set(_AUX) - {"'s"}) or set(words) & set(_PRONOUNS):
        return None
    return x


def _superlative(text: str) -> re.Match[str] | None:
    for match in _SUPERLATIVE.finditer(text):
        if match.group(0).lower() not in _NOT_SUPERLATIVE:
            return match
    return None


def _replace_last(text: str, old: str, new: str) -> str:
    at = text.rfind(old)
    return text[:at] + new + text[at + len(old):] if at >= 0 else text


def _substitute(prev: Question, answer: str, x: str) -> str:
    """The previous question with ``x`` in the place of what it resembles."""
    text = prev.text.rstrip(" ?")
    plain = bare(x)
    x_names = whole_names(x)
    mine, theirs = _superlative(x), _superlative(text)
    if mine and theirs:
        return text[: theirs.start()] + mine.group(0) + text[theirs.end() :]
    their_names = whole_names(text)
    x_words = {w.lower() for w in re.findall(r"\w+", plain)}
    for name in their_names:  # "and the Big 12?" after "… join the Big Ten?"
        if x_names and x_words & {w.lower() for w in name.split()} and name.lower() != plain.lower():
            return _replace_last(text, name, plain)
    place = is_place(x)
    speaker = prev.speaker
    if speaker is not None:
        if x_names and not place:
            return text.replace(speaker.speaker, plain, 1)
        if not speaker.topic:
            return f"{text} about {x}"
        inner = [n for n in whole_names(speaker.topic) if is_place(n)] if place else []
        if inner:  # "trade with the United States" + "China?" → "trade with China"
            spans = list(re.finditer(rf"(?:\bthe\s+)?{re.escape(inner[-1])}", text))
            return text[: spans[-1].start()] + x + text[spans[-1].end() :]
        return _replace_last(text, speaker.topic, x)
    frame = _frame(prev.text)
    if place and frame is not None and set(frame.noun.lower().split()) & _PLACE_NOUNS:
        return frame.statement(plain)  # "Which country was shaken …" → "Was Afghanistan shaken …"
    if x_names:
        kind = is_place if place else is_person
        same_kind = [n for n in their_names if kind(n)]
        if same_kind or their_names:  # a name of the same kind, else the last name of any kind
            return _replace_last(text, (same_kind or their_names)[-1], plain)
    else:
        core = _TIME.sub("", text)
        objects = list(_PREPOSITION.finditer(core))
        replaced = core[objects[-1].end() :].split() if objects else []
        if 0 < len(replaced) <= 4 and not {w.lower() for w in replaced} & set(_AUX):
            # "… impacted by severe flooding this week" + "wildfires?"
            return core[: objects[-1].end()] + x + text[len(core) :]
    return f"{text} — and {x}"


def _has_antecedent(before: str, after: str, pronoun: str, inverted: bool) -> bool:
    """Does the text before a pronoun give it something to refer to?"""
    if re.search(r"[.!?;]\s+\S", before):  # an earlier sentence: "X happened. Where did he go?"
        return True
    if _FRONTED.match(before) and "," in after:
        return True
    reporting = _REPORTING.search(before)
    if reporting and terms(before[: reporting.start()]):
        return True
    found = whole_names(before)
    if _PRONOUNS[pronoun] in "mf":  # "How did China react to her visit?": her is not China
        found = [n for n in found if is_person(clean_name(n))]
    if pronoun in _OBJECT:  # "Why did Biden pardon him?": him is not Biden
        return bool(found or _DETERMINER_NP.search(before)) and bool(_CLAUSE.search(before))
    if found:
        return True
    # "Which company said it …" refers back; "What evidence did he cite?" does not.
    return not inverted and bool(_DETERMINER_NP.search(before))


def _referents(prev: Question, answer: str) -> dict[str, list[str]]:
    """Candidates for each pronoun group, best first."""
    entity_question = _asks_for_entity(prev)
    frame = _frame(prev.text)
    definite = frame.definite() if frame is not None else ""
    cleaned = [name for n in whole_names(prev.text) if (name := clean_name(n))]
    people = [n for n in cleaned if is_person(n)]
    things = [n for n in cleaned if not is_person(n)]
    person: list[str] = []
    if entity_question and (found := _answer_entity(prev, answer, person=True)):
        person.append(found)
    if prev.speaker is not None:
        person.append(prev.speaker.speaker)
    person += people
    thing: list[str] = []
    if entity_question and (found := _answer_entity(prev, answer)):
        thing.append(found)
    if prev.speaker is not None and prev.speaker.topic:
        thing.append(prev.speaker.topic)
    thing += [d for d in (definite,) if d] + things
    if not entity_question and (found := _answer_entity(prev, answer)):
        thing.append(found)
    if entity_question and definite and not person:
        person.append(definite)
    return {"m": person, "f": person, "n": thing, "p": thing}


def _replace_pronouns(text: str, prev: Question, answer: str) -> str | None:
    """``text`` with its dependent pronouns replaced; None when it has none."""
    referents = _referents(prev, answer)
    expletive = [m.span() for m in _EXPLETIVE_IT.finditer(text)]
    used: dict[str, str] = {}
    taken: set[str] = set()
    pieces, last = [], 0
    for match in re.finditer(r"\b(?:" + "|".join(_PRONOUNS) + r")\b", text, re.I):
        word = match.group(0).lower()
        if word == "it" and any(a <= match.start() < b for a, b in expletive):
            continue
        before = text[: match.start()]
        inverted = bool(re.search(r"\b(?:" + "|".join(_AUX) + r")\s*$", before, re.I))
        if _has_antecedent(before, text[match.end():], word, inverted):
            continue
        group = _PRONOUNS[word]
        if group not in used:
            choice = next((c for c in referents[group] if c not in taken), "")
            if not choice:
                continue
            used[group] = choice
            taken.add(choice)
        name = used[group]
        possessive = word in _POSSESSIVE or (word == "her" and re.match(
            r"\s+(?!(?:" + "|".join(STOPWORDS) + r")\b)[a-z]", text[match.end():]))
        pieces.append(text[last : match.start()] + (name + "'s" if possessive else name))
        last = match.end()
    if not pieces:
        return None
    return "".join(pieces) + text[last:]
