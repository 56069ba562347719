"""Where serve's time goes: ``stream-al bench throughput`` with each phase timed on its own.

Runs the serve benchmark of :mod:`stream_al.benchmarks.throughput` (real Kafka and Redis:
the settings of ``scripts/services up`` in the environment) with timers around the
phases of a turn (labels joined, train log learned, events decided, batch completed) and
the store and Kafka calls inside them, and reports microseconds per event for each, with
the main thread's CPU time against the wall time of the turns (the rest is waiting on
Redis and Kafka). ``--producer`` also times kafka-python's producer alone, one message per
send, for a small value and for a prediction-sized one: the floor of serve's Kafka I/O on
that backend. Writes ``bench/results/phases-BACKEND.json`` and prints a table; the README's
breakdown comes from it.

    set -a; eval "$(scripts/services up)"; set +a
    .venv/bin/python bench/phases.py --backend confluent [--events 100000] [--producer]

The timers wrap methods of the loop's classes: their own overhead (about a microsecond
per call, a few calls per event) is in the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stream_al.benchmarks.throughput import bench_throughput, with_services
from stream_al.config import Settings
from stream_al.core.learner import ActiveLearner
from stream_al.io.redis import RedisStore
from stream_al.service.loop import LabelLoop
from stream_al.service.runner import Service

BENCH = Path(__file__).resolve().parent

# (class, method, phase): the phases of a turn, then the calls inside them.
PHASES: list[tuple[type, str, str]] = [
    (Service, "turn", "turn"),
    (LabelLoop, "process_labels", "join labels"),
    (LabelLoop, "apply_train_log", "learn the train log"),
    (LabelLoop, "decide_batch", "decide the batch"),
    (LabelLoop, "complete_batch", "complete the batch"),
    (Service, "maybe_checkpoint", "checkpoints"),
    (ActiveLearner, "decide", "  learner.decide"),
    (ActiveLearner, "learn", "  learner.learn"),
    (RedisStore, "join_many", "  redis join_many"),
    (RedisStore, "read_labels", "  redis read_labels"),
    (RedisStore, "read_train_log", "  redis read_train_log"),
    (RedisStore, "enqueue_many", "  redis enqueue_many"),
    (RedisStore, "queue_depth", "  redis queue_depth"),
]


def _kafka_phases(backend: str) -> list[tuple[type, str, str]]:
    if backend == "confluent":
        from stream_al.io.kafka_confluent import ConfluentEventSource as Source
        from stream_al.io.kafka_confluent import ConfluentPublisher as Publisher
    else:
        from stream_al.io.kafka import EventSource as Source  # type: ignore[assignment]
        from stream_al.io.kafka import Publisher  # type: ignore[assignment]
    return [
        (Source, "poll", "poll"),
        (Publisher, "prediction", "  produce predictions"),
        (Publisher, "flush", "flush"),
        (Source, "commit", "commit"),
    ]


def _timed(
    phases: list[tuple[type, str, str]], wall: defaultdict[str, float], calls: Counter[str]
) -> Callable[[], None]:
    """Wrap each method with a timer; returns what undoes it."""
    originals = []
    for cls, name, label in phases:
        original = cls.__dict__[name]
        originals.append((cls, name, original))

        def timed(*args: Any, _f: Any = original, _label: str = label, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                wall[_label] += time.perf_counter() - start
                calls[_label] += 1

        setattr(cls, name, timed)

    def undo() -> None:
        for cls, name, original in originals:
            setattr(cls, name, original)

    return undo


def _cpu_of_turns(cpu: list[float]) -> Callable[[], None]:
    original = Service.turn

    def turn(self: Service) -> None:
        start = time.thread_time()
        try:
            original(self)
        finally:
            cpu[0] += time.thread_time() - start

    Service.turn = turn  # type: ignore[method-assign]

    def undo() -> None:
        Service.turn = original  # type: ignore[method-assign]

    return undo


def producer_alone(bootstrap: str, messages: int = 50_000) -> dict[str, float]:
    """kafka-python's send and flush per message (µs), a small and a prediction-sized value."""
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient, NewTopic

    topic = f"bench-producer-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 1, 1)])
    small = b'{"id":"12345"}'
    prediction = json.dumps(
        {
            "id": "12345",
            "prediction": 0,
            "proba": {"0": 0.7321312, "1": 0.2678688},
            "queried": False,
            "score": 0.2678688123,
            "model_version": 1234,
            "ts": 1764000000.123456,
        }
    ).encode()
    out: dict[str, float] = {}
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    try:
        for name, value in (("small", small), ("prediction", prediction)):
            for _ in range(2):  # the first round warms up; the second is kept
                start = time.perf_counter()
                for i in range(messages):
                    producer.send(topic, key=b"12345", value=value)
                    if i % 500 == 499:
                        producer.flush()
                producer.flush()
                seconds = time.perf_counter() - start
            out[f"{name}_bytes"] = len(value)
            out[f"{name}_us_per_message"] = 1e6 * seconds / messages
    finally:
        producer.close()
        admin.delete_topics([topic])
        admin.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["kafka-python", "confluent"], default="confluent")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--producer", action="store_true", help="also time kafka-python alone")
    parser.add_argument("--out", type=Path, help="default: bench/results/phases-BACKEND.json")
    args = parser.parse_args(argv)
    if not os.environ.get("KAFKA_BOOTSTRAP") or not os.environ.get("REDIS_URL"):
        print(
            "bench phases: needs KAFKA_BOOTSTRAP and REDIS_URL "
            '(set -a; eval "$(scripts/services up)"; set +a)',
            file=sys.stderr,
        )
        return 2
    settings = with_services(Settings(), args.backend)
    wall: defaultdict[str, float] = defaultdict(float)
    calls: Counter[str] = Counter()
    cpu = [0.0]
    undo_timers = _timed(PHASES + _kafka_phases(args.backend), wall, calls)
    undo_cpu = _cpu_of_turns(cpu)  # outermost: its own timer is not in "turn"
    try:
        result = bench_throughput(settings, events=args.events)
    finally:
        undo_cpu()
        undo_timers()
    n = result["n_events"]
    report: dict[str, Any] = {
        "benchmark": "phases",
        "backend": args.backend,
        "n_events": n,
        "serve_events_per_s": result["serve_events_per_s"],
        "turn_cpu_us_per_event": 1e6 * cpu[0] / n,
        "us_per_event": {label: 1e6 * wall[label] / n for _, _, label in PHASES}
        | {label: 1e6 * wall[label] / n for _, _, label in _kafka_phases(args.backend)},
        "calls": dict(calls),
    }
    if args.producer:
        report["kafka_python_producer"] = producer_alone(settings.kafka.bootstrap_servers)
    out = args.out or BENCH / "results" / f"phases-{args.backend}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"serve ({args.backend}): {result['serve_events_per_s']:,.0f} events/s")
    print("| phase | µs per event |\n|---|---|")
    for label, us in report["us_per_event"].items():  # phases first, calls indented
        print(f"| {'- ' + label.strip() if label.startswith(' ') else label} | {us:.1f} |")
    print(f"| main thread's CPU in turns | {report['turn_cpu_us_per_event']:.1f} |")
    for key, value in report.get("kafka_python_producer", {}).items():
        print(f"kafka-python producer alone: {key} = {value:.1f}")
    print(f"report: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
