"""The benchmark's modules live in ``bench/`` (scripts, not a package): put it on the path."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench"
for folder in (BENCH, BENCH / "peers"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
