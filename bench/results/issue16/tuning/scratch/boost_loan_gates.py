"""Gates (2) and (3) of the boost-loan rule (scratch README, session 43): the largest
true fraction of a single run on a stream of 5,000+ events, and the candidate against the
default pooled over (stream, seed) in each budget and delay (mean, pairs won / lost,
Wilcoxon signed-rank). Gate (1) is `bench/tune_summary.py`'s count, run once per setting
with its own random sampling.

    python boost_loan_gates.py DEFAULT_FILE CANDIDATE_FILE DEFAULT CANDIDATE FIRST-LAST
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

from scipy.stats import wilcoxon

Run = tuple[float, float, int]  # accuracy, label fraction, events


def runs(path: str, setting: str, seeds: range) -> dict[tuple[str, float, int, int], Run]:
    out = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r["setting"] == setting and r["seed"] in seeds:
                key = (r["stream"], float(r["budget"]), int(r["delay"]), int(r["seed"]))
                out[key] = (100 * r["accuracy"], r["label_fraction"], int(r["n_events"]))
    return out


def main() -> None:
    base_file, cand_file, base, cand, span = sys.argv[1:6]
    first, last = (int(s) for s in span.split("-"))
    seeds = range(first, last + 1)
    a, b = runs(cand_file, cand, seeds), runs(base_file, base, seeds)
    for name, rs in ((base, b), (cand, a)):
        long = [(f / k[1], k) for k, (_, f, n) in rs.items() if n >= 5000]
        print(f"{name}: largest fraction / budget of a run on 5,000+ events: {max(long)}")
    cells: dict[tuple[float, int], list[float]] = defaultdict(list)
    for k in sorted(set(a) & set(b)):
        cells[(k[1], k[2])].append(a[k][0] - b[k][0])
    for (budget, delay), d in sorted(cells.items()):
        won, lost = sum(x > 0 for x in d), sum(x < 0 for x in d)
        p = wilcoxon(d).pvalue if any(d) else 1.0
        print(
            f"{cand} - {base}, B {budget}, delay {delay}: {len(d)} pairs, "
            f"mean {sum(d) / len(d):+.3f}, won {won} / lost {lost}, p = {p:.3g}"
        )


if __name__ == "__main__":
    main()
