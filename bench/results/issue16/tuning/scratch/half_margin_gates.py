"""The gates of candidate ``hm`` (README, "Margin instead of least confidence").

Run from this folder: ``python half_margin_gates.py drift-delta-seeds30.jsonl half-margin.jsonl``.
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[4]))
from analysis import wilcoxon

MC = ("led-drift", "rbf-4c-static", "waveform")
SETTINGS = ("nb-first-d05", "nb-first-d05-random", "hm")
SEEDS = range(30, 50)
BUDGETS = (0.02, 0.05, 0.1, 0.2)
DELAYS = (0, 500)
Key = tuple[str, str, int, float, int]


def main(files: list[str]) -> None:
    runs: dict[Key, dict[str, float]] = {}
    for name in files:
        for line in Path(name).read_text().splitlines():
            r = json.loads(line)
            if r["stream"] in MC and r["setting"] in SETTINGS and r["seed"] in SEEDS:
                runs[(r["setting"], r["stream"], r["seed"], r["budget"], r["delay"])] = r
    cells = [(st, b, d) for st in MC for b in BUDGETS for d in DELAYS]
    need = [(s, st, k, b, d) for s in SETTINGS for st, b, d in cells for k in SEEDS]
    print("missing runs:", sum(key not in runs for key in need))

    def acc(s: str, st: str, k: int, b: float, d: int) -> float:
        return runs[(s, st, k, b, d)]["accuracy"]

    for s in ("nb-first-d05", "hm"):
        below = []
        for st, b, d in cells:
            t = wilcoxon([acc(s, st, k, b, d) - acc(SETTINGS[1], st, k, b, d) for k in SEEDS])
            if t.p < 0.05 and t.mean < 0:
                below.append(f"{st} {b}/{d} {100 * t.mean:+.2f}")
        print(f"(1) {s}: {len(below)} cells below random {below}")
    for s in ("nb-first-d05", "hm"):
        means = []
        for st, b, d in cells:
            fractions = [runs[(s, st, k, b, d)]["label_fraction"] / b for k in SEEDS]
            means.append(sum(fractions) / len(fractions))
        print(f"(2) {s}: fraction / budget, cell means {min(means):.3f}-{max(means):.3f}")
    pooled: dict[tuple[float, int], list[float]] = collections.defaultdict(list)
    for st, b, d in cells:
        pooled[(b, d)] += [acc("hm", st, k, b, d) - acc("nb-first-d05", st, k, b, d) for k in SEEDS]
    every: list[float] = []
    for (b, d), diffs in sorted(pooled.items()):
        t = wilcoxon(diffs)
        every += diffs
        won, lost = sum(x > 0 for x in diffs), sum(x < 0 for x in diffs)
        print(f"(3) {b}/{d}: {100 * t.mean:+.2f} p={t.p:.2g} {won}W/{lost}L")
    t = wilcoxon(every)
    won, lost = sum(x > 0 for x in every), sum(x < 0 for x in every)
    print(f"(4) all {len(every)} pairs: {100 * t.mean:+.3f} p={t.p:.2g} {won}W/{lost}L")


if __name__ == "__main__":
    main(sys.argv[1:])
