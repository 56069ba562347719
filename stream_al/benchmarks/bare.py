"""The bare loops: the Kafka I/O ``serve`` cannot avoid, without anything ``serve`` adds.

A bare loop joins a fresh consumer group on the events topic and, batch by batch, polls,
decodes every event (``json.loads``), produces one message per event (``{"id": ...}``)
when given an output topic, flushes the producer and commits: what any consumer that
answers every event pays its Kafka client, with nothing decided. One loop per backend:

- :func:`kafka_python_loop`, on kafka-python (``STREAM_AL_KAFKA__BACKEND=kafka-python``);
- :func:`confluent_loop`, on confluent-kafka (``STREAM_AL_KAFKA__BACKEND=confluent``).

``stream-al bench throughput`` runs them in its own process; ``--deployed`` runs them as
a process of their own, as ``serve`` runs (``python -m stream_al.benchmarks.bare``), which
prints ``ready`` once its clients exist and, at the end, a JSON line with the events it
saw, the seconds from its first event to its last and the process's CPU seconds over the
same span (``time.process_time``: every thread of the process, user and system).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["BareRun", "confluent_loop", "kafka_python_loop", "main"]

BareRun = tuple[int, float, float]
"""``(events, seconds, cpu_seconds)`` from the first non-empty poll to the last event."""


def _cpu() -> float:
    # The process's CPU time, every thread (librdkafka's too), to the nanosecond: os.times()
    # counts clock ticks (10 ms), and a bare run of 2,000 events takes about 30 ms, so it
    # read 0 or 10 ms (0 or 5 us an event).
    return time.process_time()


def kafka_python_loop(
    bootstrap: str,
    topic: str,
    out_topic: str | None,
    n: int,
    batch: int,
    ready: Callable[[], None] = lambda: None,
) -> BareRun:
    """The bare loop on kafka-python until ``n`` events are seen (see the module doc)."""
    from kafka import KafkaConsumer, KafkaProducer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"raw-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=batch,
        receive_message_max_bytes=64 * 1024 * 1024,
        isolation_level="read_committed",  # as serve's consumer
    )
    producer = (
        KafkaProducer(bootstrap_servers=bootstrap, client_id="raw-producer", linger_ms=5)
        if out_topic
        else None
    )
    ready()
    seen, start, cpu = 0, 0.0, 0.0
    try:
        while seen < n:
            records = consumer.poll(timeout_ms=200, max_records=batch)
            if not records:
                continue
            if not start:
                start, cpu = time.perf_counter(), _cpu()
            for messages in records.values():
                for m in messages:
                    event = json.loads(m.value)
                    if producer is not None:
                        producer.send(
                            out_topic, key=m.key, value=b'{"id":"%s"}' % event["id"].encode()
                        )
                    seen += 1
            if producer is not None:
                producer.flush()
            consumer.commit()
        return seen, time.perf_counter() - start, _cpu() - cpu
    finally:
        consumer.close(autocommit=False)
        if producer is not None:
            producer.close()


def confluent_loop(
    bootstrap: str,
    topic: str,
    out_topic: str | None,
    n: int,
    batch: int,
    ready: Callable[[], None] = lambda: None,
) -> BareRun:
    """The bare loop on confluent-kafka until ``n`` events are seen (see the module doc)."""
    from confluent_kafka import Consumer, Producer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"raw-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5}) if out_topic else None
    ready()
    seen, start, cpu = 0, 0.0, 0.0
    try:
        while seen < n:
            messages = consumer.consume(num_messages=batch, timeout=0.2)
            messages = [m for m in messages if m.error() is None]
            if not messages:
                continue
            if not start:
                start, cpu = time.perf_counter(), _cpu()
            for m in messages:
                event = json.loads(m.value() or b"")
                if producer is not None and out_topic:
                    producer.produce(
                        out_topic, key=m.key(), value=b'{"id":"%s"}' % event["id"].encode()
                    )
                    producer.poll(0)
                seen += 1
            if producer is not None:
                producer.flush()
            consumer.commit(asynchronous=False)
        return seen, time.perf_counter() - start, _cpu() - cpu
    finally:
        consumer.close()


LOOPS: dict[str, Callable[..., BareRun]] = {
    "kafka-python": kafka_python_loop,
    "confluent": confluent_loop,
}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m stream_al.benchmarks.bare``: one bare loop as a process of its own."""
    parser = argparse.ArgumentParser(prog="python -m stream_al.benchmarks.bare")
    parser.add_argument("--backend", choices=sorted(LOOPS), required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--out-topic", default="")
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args(argv)

    def ready() -> None:
        print("ready", flush=True)

    seen, seconds, cpu = LOOPS[args.backend](
        args.bootstrap, args.topic, args.out_topic or None, args.events, args.batch, ready
    )
    report: dict[str, Any] = {"events": seen, "seconds": seconds, "cpu_seconds": cpu}
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
