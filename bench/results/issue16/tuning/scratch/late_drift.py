"""A probe of the budget, not a benchmark stream: Sine whose concept flips late.

5,000 events (``--events``) of River's Sine, labels from SINE1 (``classification_function``
0) and from event ``--at`` on from SINE2 (1), written as a CSV with an ``id`` column for
``stream-al evaluate --stream csv:OUT --target label``. A drift this close to the end
leaves a boost's loan unpaid when the stream ends (scratch README, session 43).

    .venv/bin/python bench/results/issue16/tuning/scratch/late_drift.py \
        --at 4000 --out /tmp/late-4000.csv
    .venv/bin/stream-al evaluate --stream csv:/tmp/late-4000.csv --target label \
        --budget 0.1 --seeds 3
"""

from __future__ import annotations

import argparse
import csv

from river.datasets import synth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--at", type=int, required=True, help="first event of the second concept")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    before = iter(synth.Sine(classification_function=0, seed=3))
    after = iter(synth.Sine(classification_function=1, seed=4))
    with open(args.out, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "x1", "x2", "label"])
        for i in range(args.events):
            x, y = next(before if i < args.at else after)
            writer.writerow([i, x[0], x[1], int(y)])


if __name__ == "__main__":
    main()
