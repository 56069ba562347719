"""Prototype (session 41, not in the code): `auto` uncertainty by the margin of the top two.

Run instead of ``bench/tune.py``, with its arguments: it patches stream-al so that where
``auto`` would use least confidence (1 - p1) it uses half the margin, (1 - p1 + p2) / 2,
and where it would use the leaf's impurity (1 - s1, s the shares of the leaf's class
counts) it uses (1 - s1 + s2) / 2. With two classes or fewer both are exactly today's
(p2 = 1 - p1), so only streams of 3+ classes change. Every setting run through it is
patched, so give its settings new names (e.g. ``hm``, ``hm-random``).

    .venv/bin/python bench/results/issue16/tuning/scratch/half_margin.py --setting 'hm={...}' ...
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path
from typing import Any

from stream_al.core import assess, learner, uncertainty


def half_margin(proba: Any) -> float:
    if not proba:
        return 1.0
    if len(proba) <= 2:
        return 1.0 - max(proba.values())
    return uncertainty.margin(proba) / 2.0  # (1 - p1 + p2) / 2


def half_margin_counts(stats: Any) -> float:
    total = sum(stats.values()) if stats else 0.0
    if not stats or total <= 0:
        return 1.0
    if len(stats) <= 2:
        return 1.0 - max(stats.values()) / total
    return half_margin({k: v / total for k, v in stats.items()})


uncertainty.stats_impurity = half_margin_counts  # leaf_impurity looks it up here
assess.stats_impurity = half_margin_counts
learner.stats_impurity = half_margin_counts
_serve = learner.ActiveLearner._serve


def _patched_serve(self: Any, model: Any) -> None:
    _serve(self, model)
    if self.uncertainty == "least-confidence":
        self._least_confidence = False  # the inline 1 - p1 shortcut
        self._measure = half_margin


learner.ActiveLearner._serve = _patched_serve  # type: ignore[method-assign]

if __name__ == "__main__":
    bench = Path(__file__).resolve().parents[4]
    sys.path.insert(0, str(bench))
    sys.argv[0] = str(bench / "tune.py")
    runpy.run_path(str(bench / "tune.py"), run_name="__main__")
