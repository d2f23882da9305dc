"""Is a question written in another language than English? Offline and fast.

The index holds English news, so a question in Spanish or Russian finds only unrelated
passages; the engine says "I read English news only" instead. The decision must never call a
short English question foreign: "Lula Bolsonaro" or "Sam Bankman-Fried trial" are mostly names,
and every language detector guesses wildly on names. So:

* a question mostly in another script than Latin (Cyrillic, Arabic, CJK, Devanagari …) is
  foreign;
* otherwise capitalised words (names, and the first word) and numbers are dropped, and with
  fewer than :data:`MIN_WORDS` words left the question counts as English (nothing to judge by);
* the rest goes to py3langid (the langid.py model, inside its 4.5 MB wheel; numpy only) and is
  foreign when the model gives English a probability below :data:`MAX_ENGLISH_PROBABILITY`
  among its 97 languages.

Measured on 50 short English questions (mostly names), the 1,026 distinct rtqa news questions
and 32 short questions in 16 other languages: no English question called foreign, 30 of 32
foreign ones caught (two French questions whose only telling word was the first: they get the
ordinary refusal). Candidates and numbers: docs/BENCHMARKS.md, "Language of the question".
"""

from __future__ import annotations

import re
import threading
from typing import Any

#: Fewer content words than this (after dropping names and numbers): English by default.
MIN_WORDS = 2
#: Foreign when py3langid's normalised probability of English is below this. 0.01 called no
#: English question foreign; 0.1 called 5 of 50 short English ones foreign ("covid vaccines"
#: → Latin); 0.001 let 5 of 32 foreign ones through.
MAX_ENGLISH_PROBABILITY = 0.01
#: Share of letters outside the Latin script that makes a question foreign outright.
OTHER_SCRIPT_SHARE = 0.5

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_LATIN_END = 0x24F  # Basic Latin … Latin Extended-B

_identifier: Any = None
_lock = threading.Lock()


def _model() -> Any:
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _identifier


def other_script(text: str) -> bool:
    """Mostly letters of another script than Latin."""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(ord(c) > _LATIN_END for c in letters) / len(letters) > OTHER_SCRIPT_SHARE


def judged_words(text: str) -> list[str]:
    """The words the language is judged by: lower-case words, names and numbers left out."""
    return [w for w in _WORD.findall(text) if not w[0].isupper()]


def is_foreign(text: str) -> bool:
    """True when ``text`` is clearly not English (see the module docstring)."""
    if other_script(text):
        return True
    words = judged_words(text)
    if len(words) < MIN_WORDS:
        return False
    ranks = dict(_model().rank(" ".join(words).lower()))
    return ranks.get("en", 0.0) < MAX_ENGLISH_PROBABILITY
