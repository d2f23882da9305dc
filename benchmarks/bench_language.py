"""Language of the question: does ``retrieval.language.is_foreign`` call English questions
foreign, and does it catch short questions in other languages?

Short English questions (mostly names, the risky kind), the rtqa news questions when
``../shared`` is there, and short questions in 16 other languages. ``--compare`` also runs the
other candidate libraries on the same preprocessing where they are installed
(``pip install langdetect lingua-language-detector pycld2`` in a scratch venv, not the product's).

    python benchmarks/bench_language.py
    python benchmarks/bench_language.py --compare
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load_language():
    """retrieval/language.py on its own (it needs only py3langid), so --compare can run in a
    scratch venv that has the other candidates but not the product's dependencies."""
    spec = importlib.util.spec_from_file_location("language", ROOT / "retrieval" / "language.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


language = _load_language()

QUESTIONS = ROOT.parent / "shared" / "datasets" / "rtqa" / "questions.jsonl"

ENGLISH = [
    "Who won the 2030 FIFA World Cup final?",
    "What did Qureshi say about Afghanistan?",
    "Who is Olaf Scholz?",
    "Macron pension reform",
    "What did Zelensky say?",
    "Elon Musk Twitter",
    "Messi World Cup",
    "Jacinda Ardern resigns",
    "Taliban Kabul",
    "Xi Jinping Putin meeting",
    "Kishida G7 Hiroshima",
    "Erdogan election result",
    "Lula Bolsonaro",
    "Modi Adani",
    "Sunak Braverman",
    "Netanyahu judicial reform",
    "Pope Francis",
    "Banco Santander profits",
    "Credit Suisse UBS deal",
    "Ukraine grain deal",
    "Who won the Super Bowl?",
    "Hurricane Ian Florida",
    "Tyre Nichols Memphis",
    "Where is Kherson?",
    "Bakhmut",
    "Nagorno-Karabakh",
    "Gaza hospital",
    "Who is Giorgia Meloni?",
    "Pedro Sánchez snap election",
    "Lionel Messi Inter Miami",
    "What happened in Sudan?",
    "How many people died in the Turkey earthquake?",
    "Who leads the Wagner group?",
    "Prigozhin mutiny",
    "Sam Bankman-Fried trial",
    "Jonas Berg microcontrollers",
    "Emmanuel Macron Marine Le Pen",
    "Karim Benzema Ballon d'Or",
    "Who is the new CEO of Twitter?",
    "What is the Inflation Reduction Act?",
    "Why did Silicon Valley Bank fail?",
    "Rishi Sunak",
    "Luis Rubiales kiss",
    "Andrés Manuel López Obrador",
    "Vladimir Putin Xi Jinping",
    "qatar world cup",
    "covid vaccines",
    "Angela Merkel",
    "Which country hosted COP27?",
    "When is the next Fed meeting?",
]

FOREIGN = [
    ("es", "¿Quién ganó la final del Mundial 2022?"),
    ("es", "¿Qué dijo Biden sobre Ucrania?"),
    ("es", "noticias de hoy sobre la economía"),
    ("es", "¿Dónde está el presidente?"),
    ("es", "¿Cuántas personas murieron en el terremoto?"),
    ("ru", "Кто выиграл чемпионат мира?"),
    ("ru", "Что сказал Путин о войне?"),
    ("ru", "новости Украины"),
    ("de", "Wer hat die Wahl gewonnen?"),
    ("de", "Was hat Scholz über die Ukraine gesagt?"),
    ("de", "Nachrichten über die Inflation"),
    ("fr", "Qui a gagné la Coupe du monde?"),
    ("fr", "Qu'a dit Macron sur les retraites?"),
    ("fr", "Pourquoi les prix augmentent-ils?"),
    ("it", "Chi ha vinto le elezioni in Italia?"),
    ("it", "Cosa ha detto Meloni sull'immigrazione?"),
    ("pt", "Quem ganhou a eleição no Brasil?"),
    ("pt", "O que disse Lula sobre a Amazônia?"),
    ("nl", "Wie heeft de verkiezingen gewonnen?"),
    ("pl", "Kto wygrał wybory w Polsce?"),
    ("tr", "Depremde kaç kişi öldü?"),
    ("ar", "من فاز بكأس العالم؟"),
    ("zh", "谁赢得了世界杯？"),
    ("ja", "ワールドカップで優勝したのは誰ですか？"),
    ("uk", "Що сказав Зеленський?"),
    ("hi", "विश्व कप किसने जीता?"),
    ("es", "¿Qué pasó con Silicon Valley Bank?"),
    ("de", "Warum ist die Bank pleite?"),
    ("fr", "Les élections en France"),
    ("es", "¿Quién es el nuevo presidente de Argentina?"),
    ("sv", "Vem vann valet i Sverige?"),
    ("id", "Siapa yang memenangkan pemilu?"),
]


def _others() -> dict:
    """The other candidates, each behind the same script check and name dropping."""
    found = {}
    try:
        from langdetect import DetectorFactory, detect_langs

        DetectorFactory.seed = 0
        found["langdetect"] = lambda t: detect_langs(t)[0].lang != "en" and detect_langs(t)[0].prob >= 0.9
    except ImportError:
        pass
    try:
        from lingua import LanguageDetectorBuilder

        lingua = LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()

        def lingua_foreign(t):
            best = lingua.compute_language_confidence_values(t)[0]
            return best.language.iso_code_639_1.name != "EN" and best.value >= 0.5

        found["lingua (low accuracy)"] = lingua_foreign
    except ImportError:
        pass
    try:
        import pycld2

        def cld2_foreign(t):
            best = pycld2.detect(t)[2][0]
            return best[1] not in ("un", "en") and best[2] >= 50

        found["pycld2"] = cld2_foreign
    except ImportError:
        pass
    return found


def wrap(judge):
    def foreign(text: str) -> bool:
        if language.other_script(text):
            return True
        words = language.judged_words(text)
        return len(words) >= language.MIN_WORDS and judge(" ".join(words).lower())
    return foreign


def measure(name: str, foreign) -> dict:
    english = list(ENGLISH)
    rtqa = sorted({json.loads(line)["question"] for line in QUESTIONS.open()}) if QUESTIONS.exists() else []
    others = [q for _, q in FOREIGN]
    foreign("warm up the model")
    started = time.perf_counter()
    wrong_english = [q for q in english if foreign(q)]
    wrong_rtqa = [q for q in rtqa if foreign(q)]
    missed = [q for q in others if not foreign(q)]
    ms = (time.perf_counter() - started) / (len(english) + len(rtqa) + len(others)) * 1000
    print(f"| {name} | {len(wrong_english)} / {len(english)} | {len(wrong_rtqa)} / {len(rtqa)} | "
          f"{len(others) - len(missed)} / {len(others)} | {ms:.2f} |")
    for q in wrong_english + wrong_rtqa:
        print(f"    called foreign: {q}", file=sys.stderr)
    for q in missed:
        print(f"    missed: {q}", file=sys.stderr)
    return {"english_called_foreign": wrong_english + wrong_rtqa, "foreign_missed": missed}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--compare", action="store_true", help="also run the other installed candidates")
    args = p.parse_args(argv)
    print("| detector | short English called foreign | rtqa questions called foreign | foreign caught | ms / question |")
    print("|---|---:|---:|---:|---:|")
    measure("py3langid (shipped rule)", language.is_foreign)
    if args.compare:
        for name, judge in _others().items():
            measure(name, wrap(judge))
    return 0


if __name__ == "__main__":
    sys.exit(main())
