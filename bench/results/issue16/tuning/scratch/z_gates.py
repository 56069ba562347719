"""Gates (2)/(4) of a budget-1 candidate against the default's every-label runs: pooled
over (stream, seed), the mean difference and a Wilcoxon signed-rank test.

    python z_gates.py CANDIDATE_FILE DEFAULT_FILE CANDIDATE DEFAULT FIRST-LAST
"""

from __future__ import annotations

import json
import sys

from scipy.stats import wilcoxon


def runs(path: str, setting: str, seeds: range) -> dict[tuple[str, int], float]:
    out = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r["setting"] == setting and r["seed"] in seeds and r["budget"] == 1.0:
                out[(r["stream"], r["seed"])] = 100 * r["accuracy"]
    return out


def main() -> None:
    cand_file, base_file, cand, base, span = sys.argv[1:6]
    first, last = (int(s) for s in span.split("-"))
    seeds = range(first, last + 1)
    a, b = runs(cand_file, cand, seeds), runs(base_file, base, seeds)
    keys = sorted(set(a) & set(b))
    d = [a[k] - b[k] for k in keys]
    won, lost = sum(x > 0 for x in d), sum(x < 0 for x in d)
    p = wilcoxon(d).pvalue if any(d) else 1.0
    print(
        f"{cand} - {base}, seeds {span}: {len(keys)} pairs, mean {sum(d) / len(d):+.3f} "
        f"points, won {won} / lost {lost}, Wilcoxon p = {p:.3g}"
    )
    streams = sorted({s for s, _ in keys})
    for s in streams:
        ds = [a[k] - b[k] for k in keys if k[0] == s]
        print(f"  {s}: {sum(ds) / len(ds):+.3f}")


if __name__ == "__main__":
    main()
