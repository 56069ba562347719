"""Gates (0) and (3) of session 51's rule (scratch README): a candidate against today's
default, pooled over (stream, seed), a stream both ran once counted once (as
`tune_summary.py`'s `against`).

- (0) the primary comparison: every budget and delay together, one Wilcoxon test;
- (3) each budget and delay, Holm's correction over the 8 tests (family-wise 0.05): a cell
  fails if Holm rejects it and its mean is negative.

Run from `bench/`:

    PYTHONPATH=. ../.venv/bin/python results/issue16/tuning/scratch/holm_gates.py \
        CANDIDATE FIRST-LAST FILE ...
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from pathlib import Path

from analysis import wilcoxon
from tune_summary import load_runs, paired

BASE = "nb-first-d05"
BUDGETS = (0.02, 0.05, 0.1, 0.2)
DELAYS = (0, 500)


def main() -> None:
    cand, span, *files = sys.argv[1:]
    first, last = (int(s) for s in span.split("-"))
    runs: dict = defaultdict(dict)
    for path in files:
        for key, by_seed in load_runs(Path(path), 0, range(first, last + 1)).items():
            runs[key].update(by_seed)
    pooled: list[float] = []
    tests = []
    for delay in DELAYS:
        for budget in BUDGETS:
            once = [d for _, ds in paired(runs, cand, BASE, budget, delay).values() for d in ds]
            pooled += once
            tests.append((budget, delay, wilcoxon(once), len(once)))
    t = wilcoxon(pooled)
    verdict = "holds" if t.mean > 0 and t.p < 0.05 else "FAILS"
    print(
        f"gate 0 (all cells pooled, {len(pooled)} pairs): {t.mean:+.3f} pts, p={t.p:.3g}, "
        f"{t.wins}W/{t.losses}L: {verdict}"
    )
    print("gate 3 (Holm over the 8 cells):")
    order = sorted(range(len(tests)), key=lambda i: tests[i][2].p)
    rejected = set()
    for rank, i in enumerate(order):  # Holm's step-down: stop at the first not rejected
        if tests[i][2].p > 0.05 / (len(tests) - rank):
            break
        rejected.add(i)
    fails = 0
    for i, (budget, delay, w, n) in enumerate(tests):
        mark = ""
        if i in rejected:
            mark = "  significant (Holm), " + ("BELOW" if w.mean < 0 else "above")
            fails += w.mean < 0
        print(f"  budget {budget} delay {delay}: {w.mean:+.2f} pts, p={w.p:.3g}, {n} pairs{mark}")
    print("gate 3:", "holds" if not fails else f"FAILS ({fails} cells below)")
    print("mean of the cell means:", round(statistics.fmean(w.mean for _, _, w, _ in tests), 3))


if __name__ == "__main__":
    main()
