"""Linear scorers fitted on the rtqa development questions, shipped as small JSON files.

A scorer is a weight per named feature over standardised values: ``((x - mean) / scale) · w``.
The numbers come from ``benchmarks/train_scorers.py`` (listwise logistic regression on
questions outside the benchmark samples; docs/BENCHMARKS.md); the file records the command and
the training set. Each scorer is a dozen numbers, not a model download: nothing is fetched.

Loading checks that the file names exactly the features the code computes, in order, so a
feature added to the code without retraining fails loudly instead of scoring with the wrong
weights.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.errors import RetrievalError


@dataclass(frozen=True)
class LinearScorer:
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    about: dict[str, Any] = field(default_factory=dict, compare=False)

    def score(self, values: np.ndarray) -> np.ndarray:
        """Scores of the rows of ``values`` (one column per feature, in ``features`` order)."""
        values = np.asarray(values, dtype=np.float64).reshape(-1, len(self.features))
        return ((values - self.mean) / self.scale) @ self.weights

    def to_json(self) -> str:
        return json.dumps(
            {
                "features": list(self.features),
                "mean": [round(float(x), 6) for x in self.mean],
                "scale": [round(float(x), 6) for x in self.scale],
                "weights": [round(float(x), 6) for x in self.weights],
                **self.about,
            },
            indent=1,
        ) + "\n"

    @classmethod
    def from_json(cls, text: str, expected: Sequence[str], where: str) -> "LinearScorer":
        try:
            data = json.loads(text)
            features = tuple(data["features"])
            arrays = [np.asarray(data[key], dtype=np.float64) for key in ("mean", "scale", "weights")]
        except (ValueError, KeyError, TypeError) as exc:
            raise RetrievalError(f"{where}: not a scorer file ({exc})") from exc
        if features != tuple(expected):
            raise RetrievalError(
                f"{where}: trained for features {list(features)}, the code computes {list(expected)}; "
                "retrain with benchmarks/train_scorers.py"
            )
        if any(a.shape != (len(features),) for a in arrays) or not np.all(arrays[1] > 0):
            raise RetrievalError(f"{where}: mean, scale and weights need one positive-scale value per feature")
        about = {k: v for k, v in data.items() if k not in ("features", "mean", "scale", "weights")}
        return cls(features, *arrays, about=about)


def scorer_path(name: str) -> Path:
    return Path(str(resources.files("retrieval") / "data" / f"{name}.json"))


@cache
def load_scorer(name: str, expected: tuple[str, ...]) -> LinearScorer:
    """The shipped scorer ``retrieval/data/<name>.json`` (read once per process)."""
    path = scorer_path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RetrievalError(f"{path}: cannot read the scorer ({exc.strerror})") from exc
    return LinearScorer.from_json(text, expected, str(path))
