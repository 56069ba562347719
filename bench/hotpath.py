"""serve's hot path without Kafka and Redis, phase by phase, before and after a change.

Runs the serve loop (:class:`~stream_al.service.loop.LabelLoop`, serve's collector
settings) on the in-memory store over a stream's events, batch by batch as serve turns:
labels joined, train log learned, batch decided, batch completed (predictions encoded,
queue entries written); a simulated labeler answers every queued item from the ground
truth between turns (untimed). Reports microseconds per event for each phase and the
process's CPU per event; phases are timed in CPU seconds (``time.process_time``), which
a busy neighbour does not stretch.

``--stream bag-of-words`` measures sparse events (15 words of 3,000 each) instead of a
stream spec: a leaf comes to know thousands of features while each event carries a few.
``--stream text-values``: a text feature of 2,000 values that says little beside two numeric
features that say much (a leaf's nominal splitter comes to know hundreds of values).

``--before TREE`` (a checkout of another commit, e.g. ``git worktree add /tmp/base HEAD~3``)
runs the same measurement on that tree's ``stream_al`` too, alternating rounds of each in
fresh processes, and compares the medians: the ratio of each step is measured in one run,
on one machine, under the same load. ``--tree NAME=PATH`` (repeatable, in order) adds
more checkouts: each is compared with the one before it.

    .venv/bin/python bench/hotpath.py --before /tmp/base --events 20000 --rounds 3 \\
        --out bench/results/hotpath-STEP.json
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PHASES = ["join labels", "learn the train log", "decide the batch", "complete the batch"]


BAG_OF_WORDS = "bag-of-words"
TEXT_VALUES = "text-values"


def _bag_of_words(n: int) -> Iterator[tuple[dict[str, float], str]]:
    """Sparse events: 15 words of a Zipf vocabulary of 3,000 each, counted, the label the
    sign of a sum over some words' weights (a leaf comes to know thousands of features,
    an event carries a few)."""
    rng = random.Random(0)
    ranks = list(range(3000))
    cumulative = list(itertools.accumulate(1.0 / (r + 1) for r in ranks))
    sign = {w: rng.choice((-1, 1)) for w in range(0, 3000, 7)}
    for _ in range(n):
        x: dict[str, float] = {}
        score = 0
        for w in rng.choices(ranks, cum_weights=cumulative, k=15):
            x[f"w{w}"] = x.get(f"w{w}", 0.0) + 1.0
            score += sign.get(w, 0)
        yield x, "pos" if score > 0 else "neg"


def _text_values(n: int) -> Iterator[tuple[dict[str, Any], str]]:
    """A text feature of 2,000 values (a product, a town) that says little beside two
    numeric features that say much: a leaf's nominal splitter comes to know hundreds of
    values before a split."""
    rng = random.Random(0)
    for _ in range(n):
        v = rng.randrange(2000)
        a, b = rng.gauss(0, 1), rng.gauss(0, 1)
        p = 0.8 * (a + 0.5 * b > 0) + 0.1 + 0.05 * (v % 3 == 0)
        yield {"item": f"v{v}", "a": a, "b": b}, "yes" if rng.random() < p else "no"


GENERATED = {BAG_OF_WORDS: _bag_of_words, TEXT_VALUES: _text_values}


def measure(events: int, stream: str, batch: int, strategy: str) -> dict[str, Any]:
    """One round in this process, on whichever ``stream_al`` it imports."""
    import stream_al
    from stream_al.config import Settings
    from stream_al.data.produce import event_records
    from stream_al.data.streams import parse_stream
    from stream_al.io.memory import MemoryStore
    from stream_al.service.loop import LabelLoop
    from stream_al.service.runner import tune_gc

    settings = Settings()
    learner_settings = settings.learner.model_copy(update={"strategy": strategy})
    learner = learner_settings.spec().build(learner_settings.seed)
    source = (
        GENERATED[stream](events)
        if stream in GENERATED
        else parse_stream(stream, n_events=events).events(0)
    )
    records = list(event_records(source))
    truth = {item_id: label for item_id, _, label in records}
    raws = [(f"events:0:{i}", value.encode()) for i, (_, value, _) in enumerate(records)]
    store = MemoryStore()
    sent: list[str] = []
    loop = LabelLoop(
        learner, store=store, dead_letters=store, predictions=lambda k, v: sent.append(v)
    )
    tune_gc()
    seconds: dict[str, float] = defaultdict(float)
    digest = hashlib.sha256()
    clock = time.process_time  # CPU, not wall: the machine is shared
    cpu = time.process_time()  # the start, moved on past every pause
    for start in range(0, len(raws), batch):
        t0 = clock()
        loop.process_labels(500)
        t1 = clock()
        loop.apply_train_log(1000)
        t2 = clock()
        actions = loop.decide_batch(raws[start : start + batch])
        t3 = clock()
        loop.complete_batch(actions)
        t4 = clock()
        for name, a, b in zip(PHASES, (t0, t1, t2, t3), (t1, t2, t3, t4), strict=True):
            seconds[name] += b - a
        sent.clear()
        cpu_paused = time.process_time()
        for a in actions:  # untimed: a digest of every decision, compared across trees
            d = a.decision
            if d is not None:
                digest.update(repr((d.prediction, d.proba, d.score, d.queried, d.reason)).encode())
        for entry_id, raw in store.take("labeler", 10_000, block_ms=0):
            item_id = json.loads(raw)["id"]
            store.complete(entry_id, json.dumps({"id": item_id, "label": truth[item_id]}))
        cpu += time.process_time() - cpu_paused  # the digest and labeler are not serve's work
    cpu = time.process_time() - cpu
    us = {name: 1e6 * s / len(raws) for name, s in seconds.items()}
    us["total"] = sum(us[name] for name in PHASES)
    return {
        "source": str(Path(stream_al.__file__).parent),
        "model": learner_settings.model,
        "us_per_event": us,
        "cpu_us_per_event": 1e6 * cpu / len(raws),
        "labels": loop.applied,
        "decisions": {
            "counts": [learner.n_events, learner.n_queried, learner.n_learned, learner.n_drifts],
            "swaps": learner.n_swaps,
            "decisions_sha256": digest.hexdigest(),
            "model_digest": learner.model_digest(),
        },
    }


def _child(tree: Path, args: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    argv = [sys.executable, str(Path(__file__).resolve()), "--child"]
    argv += ["--events", str(args.events), "--stream", args.stream, "--batch", str(args.batch)]
    argv += ["--strategy", args.strategy]
    out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    if Path(result["source"]) != tree / "stream_al":
        raise RuntimeError(f"measured {result['source']}, not {tree}")
    return result


def _medians(rounds: list[dict[str, Any]]) -> dict[str, float]:
    keys = [*rounds[0]["us_per_event"], "cpu"]
    return {
        key: statistics.median(
            r["cpu_us_per_event"] if key == "cpu" else r["us_per_event"][key] for r in rounds
        )
        for key in keys
    }


def _trees(args: argparse.Namespace) -> dict[str, Path]:
    """The checkouts to measure, in order: ``--tree NAME=PATH``s, ``--before``, then this."""
    trees: dict[str, Path] = {}
    for spec in args.tree:
        name, _, path = spec.partition("=")
        trees[name] = Path(path).resolve()
    if args.before:
        trees["before"] = args.before.resolve()
    trees["after"] = ROOT
    return trees


def _print(report: dict[str, Any]) -> None:
    """The medians, each tree's ratio to the one before it, and whether all decided alike."""
    medians = report["medians_us_per_event"]
    names = list(medians)
    header = "".join(
        ("" if i == 0 else f"{'x':>6s}") + f"{name:>12s}" for i, name in enumerate(names)
    )
    print(f"{'us/event':22s}{header}")
    for key in medians[names[-1]]:
        cells = []
        for i, name in enumerate(names):
            if i:
                cells.append(f"{medians[names[i - 1]][key] / medians[name][key]:6.2f}")
            cells.append(f"{medians[name][key]:12.2f}")
        print(f"{key:22s}{''.join(cells)}")
    if len(names) > 1:
        decisions = list(report["decisions"].values())
        same = all(d == decisions[0] for d in decisions)
        print(f"every decision and the learned model equal across the trees: {same}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument(
        "--stream",
        default="synth:agrawal-drift",
        help=f"a stream spec, {BAG_OF_WORDS!r}: sparse events of a 3,000-word vocabulary, or "
        f"{TEXT_VALUES!r}: a text feature of 2,000 values beside two numeric ones",
    )
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--strategy", default="variable-uncertainty")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, help="another checkout to compare with")
    parser.add_argument(
        "--tree", action="append", default=[], metavar="NAME=PATH", help="more checkouts, in order"
    )
    parser.add_argument("--out", type=Path, help="write the JSON report here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.events, args.stream, args.batch, args.strategy)))
        return 0
    trees = _trees(args)
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            rounds[name].append(_child(tree, args))
    report: dict[str, Any] = {
        "events": args.events,
        "stream": args.stream,
        "batch": args.batch,
        "strategy": args.strategy,
        "model": rounds["after"][0]["model"],
        "trees": {name: str(tree) for name, tree in trees.items()},
        "load": [round(x, 2) for x in os.getloadavg()],
        "medians_us_per_event": {name: _medians(r) for name, r in rounds.items()},
        "decisions": {name: r[0]["decisions"] for name, r in rounds.items()},
        "rounds": rounds,
        # Reports before b3993c2 timed the decisions' digest in "complete the batch" and
        # counted the simulated labeler twice in "cpu"; the report says which kind it reads.
        "labeler_untimed": True,
    }
    _print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
