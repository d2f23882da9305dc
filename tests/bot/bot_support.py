"""Constants and helpers shared by the bot tests: the token, the test articles, settings."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

from bot.config import BotSettings
from retrieval import Settings
from retrieval.embeddings import HashEmbedder
from retrieval.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "corpus" / "000_1630563cb37a9090.txt"
#: Looks like a real token, so a leak would be visible in logs.
TOKEN = "123456789:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
SECRET = TOKEN.split(":")[1]

MARS = """---
title: Rover finds ancient lake bed on Mars
url: https://example.com/science/mars-lake
source: Space Daily
published: 2024-02-01
---
The Perseverance rover has found layers of clay that formed at the bottom of an ancient lake \
on Mars, mission scientists said on Thursday.

"These sediments tell us that liquid water stood in Jezero crater for a long time," said \
Maria Lopez, a geologist on the rover team. Lopez said the clay could preserve traces of \
ancient microbial life if any ever existed.

The rover will store samples of the lake bed in sealed tubes. A later mission is meant to \
bring the tubes back to Earth around 2033.
"""

CHIPS = """---
title: Chips & <Silicon> shortage eases for carmakers
url: https://example.com/business/chips?id=7&lang=en
source: Motor & Markets <Weekly>
published: 2023-11-20
---
Carmakers say the shortage of chips & sensors that slowed factories for two years is over. \
Supplier Jonas Berg said deliveries of <microcontrollers> were back to normal levels.

Berg warned that prices would stay high until new plants open in 2026.
"""


def _long_article() -> str:
    """A long article about copper whose passages overflow one message when listed."""
    paragraphs = []
    for i in range(1, 13):
        paragraphs.append(
            f"Copper report part {i}: traders in London said copper prices rose for the {i} "
            "day in a row as smelters in Chile and Peru cut output after strikes, while "
            "warehouses in Shanghai reported lower copper stocks than a year earlier and "
            "analysts at several banks raised their forecasts for the metal, citing demand "
            "from power grids, electric cars and solar farms that need copper wiring. "
            "Mining companies said new copper mines take a decade to open, so supply will "
            "stay tight, and buyers in Europe said they had started to sign longer contracts. "
            "Recycling firms in Germany said scrap copper was in short supply as well, and "
            "shipping agents in Rotterdam said freight rates for copper cathodes had doubled "
            "since the summer because fewer vessels were available for the route from South "
            "America, which added to the cost for factories that turn the metal into cables."
        )
    front = ("---\ntitle: Copper prices climb as supply tightens\n"
             "url: https://example.com/markets/copper\nsource: Metals Wire\n"
             "published: 2024-03-10\n---\n")
    return front + "\n\n".join(paragraphs) + "\n"


ARTICLES = {"mars.txt": MARS, "chips.txt": CHIPS, "copper.txt": _long_article()}


def write_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(SEED, folder / SEED.name)
    for name, text in ARTICLES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def open_engine(index: Path, embedder: Any = None, engine_class: type[Engine] = Engine, **settings: Any) -> Engine:
    return engine_class.open(Settings(index=index, **settings), embedder=embedder or HashEmbedder())


def bot_settings(base_url: str, **overrides: Any) -> BotSettings:
    """Settings as newsbot would read them, without the environment or .env.

    Slow answers get no "Looking that up…" placeholder unless a test asks for one: on a busy
    machine a first answer may pass 1.5 s, and tests that read the answer from the first
    sendMessage would then read the placeholder (test_bot_progress.py covers it).
    """
    overrides.setdefault("progress_after_seconds", 60)
    return BotSettings(_env_file=None, telegram_bot_token=TOKEN,  # type: ignore[call-arg]
                       telegram_api_base_url=base_url, **overrides)


class GatedEmbedder(HashEmbedder):
    """Holds questions containing "slowpoke" until the test releases them (``entered`` is set
    when one arrives), to make an answer slow on purpose."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def embed(self, texts, *, progress=False):  # type: ignore[no-untyped-def]
        if any("slowpoke" in text for text in texts):
            self.entered.set()
            assert self.release.wait(30)
        return super().embed(texts, progress=progress)
