"""What a feature name that changes per event costs the learner (docs/design.md, "A cap on
the model's feature names").

Two streams of ``--events`` events each, learned as serve learns them (the default
settings' learner: model ``auto``, budget ``--budget``; every question answered at once):

- ``fixed``: three numeric features ``a``, ``b``, ``c`` (the label is ``a + b > 1``, 10%
  flipped);
- ``unique``: the same events, each with one more feature whose *name* is new
  (``{"user_8812": 1}``: an id or a timestamp used as a key).

Each stream runs in a process of its own (so that its resident memory is its own), and
at every ``--marks`` event count prints the distinct features the model learned, the
process's peak resident memory (``ru_maxrss``), the size of its checkpoint (the learner's
pickle, :meth:`~stream_al.core.learner.ActiveLearner.snapshot`) and the mean time per
event since the previous mark. ``--max-model-features`` sets the learner's cap (the
settings' default otherwise; 0 = none, for the code before the cap had no setting).

    .venv/bin/python bench/model_features.py [--events 100000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

STREAMS = ("fixed", "unique")


def events(n: int, unique: bool, seed: int = 1) -> Iterator[tuple[dict[str, Any], bool]]:
    """``n`` labeled events; with ``unique``, each has a feature name of its own."""
    rng = random.Random(seed)
    for i in range(n):
        x: dict[str, Any] = {"a": rng.random(), "b": rng.random(), "c": rng.random()}
        y = (x["a"] + x["b"] > 1.0) != (rng.random() < 0.1)
        if unique:
            x[f"user_{i}"] = 1
        yield x, y


def run_stream(stream: str, n: int, marks: list[int], budget: float, cap: int) -> list[dict]:
    """Learn one stream in this process; one row per mark."""
    from stream_al.config.learner import LearnerSettings

    settings = LearnerSettings(budget=budget)
    if cap:
        settings = settings.model_copy(update={"max_model_features": cap})
    learner = settings.spec().build(0)
    rows = []
    decide, learn = learner.decide, learner.learn
    start, done = time.perf_counter(), 0
    for i, (x, y) in enumerate(events(n, stream == "unique"), 1):
        decision = decide(x)
        if decision.queried:
            learn(x, y, decision.prediction)
        if i in marks:
            now = time.perf_counter()
            rows.append(
                {
                    "stream": stream,
                    "events": i,
                    "labels": learner.n_learned,
                    "model_features": learner.n_features,
                    "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                    "checkpoint_bytes": len(learner.snapshot()),
                    "us_per_event": 1e6 * (now - start) / (i - done),
                    "served": learner.served_name,
                }
            )
            start, done = time.perf_counter(), i  # the snapshot's time is not counted
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--marks", default="10000,50000,100000")
    parser.add_argument("--budget", type=float, default=0.1)
    parser.add_argument("--max-model-features", type=int, default=0)
    parser.add_argument("--stream", choices=STREAMS, help="run one stream here (internal)")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    marks = [int(m) for m in args.marks.split(",")]
    if args.stream:
        rows = run_stream(args.stream, args.events, marks, args.budget, args.max_model_features)
        print(json.dumps(rows))
        return 0
    rows = []
    for stream in STREAMS:
        command = [sys.executable, __file__, "--stream", stream, *sys.argv[1:]]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        rows += json.loads(out.splitlines()[-1])
    print("stream  events  labels  features  max RSS MB  checkpoint kB  us/event")
    for r in rows:
        print(
            f"{r['stream']:<7} {r['events']:>6} {r['labels']:>7} {r['model_features']:>9} "
            f"{r['max_rss_mb']:>11.1f} {r['checkpoint_bytes'] / 1024:>14.1f} "
            f"{r['us_per_event']:>9.1f}"
        )
    if args.json:
        with open(args.json, "w") as out_file:
            json.dump({"argv": sys.argv[1:], "rows": rows}, out_file, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
