"""Feature preparation for models that need numbers on a common scale.

Events carry numbers, booleans and text side by side. :class:`StandardizeAndEncode` is
one unsupervised step that standardises the numbers (running mean and variance, per
feature) and one-hot encodes the text (``colour="red"`` becomes ``colour=red: 1.0``).
One flat step, not a union of two sub-pipelines: River's nested pipelines update their
unsupervised parts once more on ``learn_one`` even under ``learn_during_predict``, so a
union would count every labeled event twice.

Examples
--------
>>> step = StandardizeAndEncode()
>>> for v in (1.0, 2.0, 3.0):
...     step.learn_one({"size": v, "colour": "red"})
>>> step.transform_one({"size": 3.0, "colour": "blue", "ok": True})
{'size': 1.224744871391589, 'colour=blue': 1.0, 'ok': 0.0}

"""

from __future__ import annotations

import math
from typing import Any

from river import base

__all__ = ["StandardizeAndEncode"]


class StandardizeAndEncode(base.Transformer):
    """Standardise numeric features, one-hot encode text features (see the module doc)."""

    def __init__(self) -> None:
        self._stats: dict[Any, list[float]] = {}  # feature -> [count, mean, sum of squares]

    def learn_one(self, x: dict[Any, Any]) -> None:
        stats = self._stats
        for name, value in x.items():
            if isinstance(value, str):
                continue
            s = stats.get(name)
            if s is None:
                s = stats[name] = [0.0, 0.0, 0.0]
            s[0] += 1.0
            delta = value - s[1]
            s[1] += delta / s[0]
            s[2] += delta * (value - s[1])

    def transform_one(self, x: dict[Any, Any]) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        stats = self._stats
        for name, value in x.items():
            if isinstance(value, str):
                out[f"{name}={value}"] = 1.0
                continue
            s = stats.get(name)
            if s is None or s[0] < 2.0 or s[2] <= 0.0:
                out[name] = 0.0
            else:
                out[name] = (value - s[1]) / math.sqrt(s[2] / s[0])
        return out

    def count(self, name: Any) -> int:
        """How many values of feature ``name`` the statistics have seen."""
        s = self._stats.get(name)
        return 0 if s is None else int(s[0])
