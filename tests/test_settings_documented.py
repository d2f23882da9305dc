"""Every engine setting is documented in .env.example (the bot's are checked in tests/bot)."""

from __future__ import annotations

import re

from support import ROOT
from retrieval.config import Settings


def test_every_retriever_variable_is_in_env_example():
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    expected = {f"RETRIEVER_{name.upper()}" for name in Settings.model_fields}
    assert expected <= documented, expected - documented
    unknown = {v for v in documented if v.startswith("RETRIEVER_")} - expected
    assert not unknown, f"documented but not read by the code: {unknown}"
