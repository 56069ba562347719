"""``stream-al bench throughput``: ``serve`` on real Kafka and Redis against a raw loop.

One run, one process, the same topic of events produced beforehand:

1. **raw**: a bare consumer of the chosen backend in a consumer group that polls a batch,
   decodes every event (``json.loads``), produces one message per event to a predictions
   topic (when predictions are on), flushes and commits: the Kafka I/O ``serve`` cannot
   avoid;
2. **serve**: the real serve loop (:class:`~stream_al.service.runner.Service`) in a fresh group on
   the same topic, with Redis, the learner, the label queue and checkpoints, while a
   simulated labeler (between turns, not timed) answers every queued item from the
   stream's ground truth.

``ratio`` = serve events/s over raw events/s: the share of Kafka's own speed that is left
once everything stream-al adds is paid for. Each side is timed from its first non-empty
poll to its last event (the group join is not throughput). Latencies:

- ``decision_latency`` (p50/p99, ms): from the poll that returned an event to the commit
  of its batch, i.e. until its prediction and its queue entry are durable;
- ``label_to_learned`` (p99, ms): from a label's write to the label stream (its ``ts``) to
  the model having learned it from the train log.

The resident memory of the process is sampled along the run (``rss_mb``), and the model's
own size beside it (``model_mb``, River's deep size of the model object): a Hoeffding tree
grows with the labels it learns, so what the process gains beyond the model is what would
be a leak.
"""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from stream_al.benchmarks.bare import LOOPS
from stream_al.config import Settings
from stream_al.data.produce import event_records
from stream_al.data.streams import parse_stream
from stream_al.io.redis import RedisStore, connect
from stream_al.runtime.health import Health
from stream_al.runtime.metrics import Metrics
from stream_al.service.runner import Service, tune_gc

__all__ = ["bench_throughput", "percentile", "rss_mb", "with_services"]


def with_services(settings: Settings, backend: str | None = None) -> Settings:
    """``settings`` pointed at the servers ``scripts/services up`` exports (``KAFKA_BOOTSTRAP``,
    ``REDIS_URL``) unless ``STREAM_AL_*`` settings name others, with ``backend`` if given."""
    kafka, redis_settings = settings.kafka, settings.redis
    if os.environ.get("KAFKA_BOOTSTRAP") and "STREAM_AL_KAFKA__BOOTSTRAP_SERVERS" not in os.environ:
        kafka = kafka.model_copy(update={"bootstrap_servers": os.environ["KAFKA_BOOTSTRAP"]})
    if backend:
        kafka = kafka.model_copy(update={"backend": backend})
    if os.environ.get("REDIS_URL") and "STREAM_AL_REDIS__URL" not in os.environ:
        redis_settings = redis_settings.model_copy(update={"url": os.environ["REDIS_URL"]})
    return settings.model_copy(update={"kafka": kafka, "redis": redis_settings})


def percentile(values: list[float], q: float) -> float:
    """The ``q``-quantile (0..1) of ``values`` by nearest rank (0.0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[rank]


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _model_mb(learner: Any) -> float:
    """The learner's model in memory, in MiB (River's deep size of the model object)."""
    return float(learner.model._raw_memory_usage) / 2**20


def _produce(bootstrap: str, topic: str, records: list[tuple[str, str, Any]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=256 * 1024)
    for item_id, value, _ in records:
        producer.send(topic, key=item_id.encode(), value=value.encode())
    producer.flush()
    producer.close()


def _raw(backend: str, bootstrap: str, topic: str, out: str | None, n: int, batch: int) -> float:
    """The bare loop of ``backend`` in this process: events per second."""
    seen, seconds, _ = LOOPS[backend](bootstrap, topic, out, n, batch)
    return seen / seconds


def _sources(settings: Settings) -> tuple[Any, Any]:
    if getattr(settings.kafka, "backend", "kafka-python") == "confluent":
        from stream_al.io.kafka_confluent import ConfluentEventSource, ConfluentPublisher

        return ConfluentEventSource(settings.kafka), ConfluentPublisher(settings.kafka)
    from stream_al.io.kafka import EventSource, Publisher

    return EventSource(settings.kafka), Publisher(settings.kafka)


def _labeler(store: RedisStore, truth: dict[str, Any]) -> Callable[[], int]:
    """Answers every queued item at once from the ground truth (between turns)."""

    def step() -> int:
        answered = 0
        for entry_id, raw in store.take("bench-labeler", 1000, block_ms=0):
            item_id = json.loads(raw)["id"]
            label = {
                "id": item_id,
                "label": truth[item_id],
                "annotator": "bench",
                "ts": time.time(),
            }
            store.complete(entry_id, json.dumps(label))
            answered += 1
        return answered

    return step


def _cleanup(bootstrap: str, topics: list[str], client: Any, prefix: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_topics(topics)
    except Exception:
        pass  # best effort: a benchmark's topics are disposable
    finally:
        admin.close()
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)


def _stream_records(spec: str, n: int, seed: int) -> Iterator[tuple[str, str, Any]]:
    yield from event_records(parse_stream(spec, n_events=n).events(seed))


@dataclass
class _Measured:
    """What serve's side of the benchmark measured."""

    decided: int = 0
    seconds: float = 0.0
    batches: list[tuple[float, int]] = field(default_factory=list)  # (seconds, events)
    learned_delays: list[float] = field(default_factory=list)
    rss: list[tuple[int, float]] = field(default_factory=list)
    model_mb: list[tuple[int, float]] = field(default_factory=list)

    def sample(self, decided: int, learner: Any) -> None:
        self.rss.append((decided, rss_mb()))
        # The model's own size beside the process's: a Hoeffding tree grows with its labels
        # (until a drift restarts it), which is not a leak.
        self.model_mb.append((decided, _model_mb(learner)))

    def report(self, raw: float) -> dict[str, Any]:
        latencies = [seconds for seconds, count in self.batches for _ in range(count)]
        serve_rate = self.decided / self.seconds
        rss, model_mb = self.rss, self.model_mb
        return {
            "serve_events_per_s": serve_rate,
            "raw_consume_events_per_s": raw,
            "ratio": serve_rate / raw,
            "decision_latency_p50_ms": 1000 * percentile(latencies, 0.5),
            "decision_latency_p99_ms": 1000 * percentile(latencies, 0.99),
            "label_to_learned_p50_ms": 1000 * percentile(self.learned_delays, 0.5),
            "label_to_learned_p99_ms": 1000 * percentile(self.learned_delays, 0.99),
            "rss_mb": rss,
            "rss_growth_second_half_mb": rss[-1][1] - rss[len(rss) // 2][1],
            "rss_mean_mb": statistics.fmean(r for _, r in rss),
            "model_mb": model_mb,
            "model_growth_second_half_mb": model_mb[-1][1] - model_mb[len(model_mb) // 2][1],
        }


def _serve_settings(
    settings: Settings, run: str, topics: tuple[str, str, str], batch: int
) -> Settings:
    """Serve's settings on this run's topics (events, predictions or "", dead letters)."""
    events, predictions, dead_letters = topics
    kafka = settings.kafka.model_copy(
        update={
            "events_topic": events,
            "predictions_topic": predictions,
            "dead_letter_topic": dead_letters,
            "group_id": f"serve-{run}",
            "max_poll_records": batch,
            "auto_offset_reset": "earliest",
        }
    )
    return settings.model_copy(update={"kafka": kafka})


def _drive(
    service: Service,
    store: RedisStore,
    labeler: Callable[[], int],
    events: int,
    say: Callable[[str], None],
) -> _Measured:
    """Turn serve until every event is decided and every label learned; the labeler
    answers between turns (not timed)."""
    loop = service.loop
    measured = _Measured()
    loop.on_learned = lambda item, label: measured.learned_delays.append(
        time.time() - (label.get("ts") or time.time())
    )
    measured.sample(0, loop.learner)
    every = max(1, events // 20)
    next_sample = every
    while True:
        before = sum(loop.events.values())
        t0 = time.perf_counter()
        service.turn()
        elapsed = time.perf_counter() - t0
        measured.decided = decided = sum(loop.events.values())
        if decided > before:
            measured.seconds += elapsed
            measured.batches.append((elapsed, decided - before))
        elif decided:
            measured.seconds += elapsed  # turns that only learn labels are serve's work too
        if decided >= next_sample:
            measured.sample(decided, loop.learner)
            next_sample += every
            say(f"bench throughput: serve {decided:,}/{events:,} events")
        labeler()
        if (
            decided >= events
            and store.queue_depth() == 0
            and loop.applied >= loop.label_outcomes["learned"]
            and store.pending_count() == 0
        ):
            return measured


def bench_throughput(
    settings: Settings,
    *,
    events: int = 100_000,
    stream: str = "synth:agrawal-drift",
    batch: int = 500,
    predictions: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run both sides on ``events`` events; see the module docstring for what is measured."""
    kafka = settings.kafka
    bootstrap = kafka.bootstrap_servers
    run = uuid.uuid4().hex[:8]
    topic, predictions_topic = f"bench-{run}-events", f"bench-{run}-predictions"
    dead_letters, prefix = f"bench-{run}-dlq", f"bench_{run}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(t, 1, 1) for t in (topic, predictions_topic, dead_letters)])
    admin.close()
    client = connect(settings.redis.url, socket_timeout=settings.redis.socket_timeout)
    say = progress or (lambda message: None)
    tune_gc()  # serve's collector settings, for both sides
    try:
        say(f"bench throughput: producing {events:,} events of {stream}")
        records = list(_stream_records(stream, events, settings.learner.seed))
        truth = {item_id: label for item_id, _, label in records}
        _produce(bootstrap, topic, records)
        del records

        say(f"bench throughput: raw {getattr(kafka, 'backend', 'kafka-python')} loop")
        raw = _raw(
            getattr(kafka, "backend", "kafka-python"),
            bootstrap,
            topic,
            predictions_topic if predictions else None,
            events,
            batch,
        )

        say("bench throughput: serve")
        serve_settings = _serve_settings(
            settings, run, (topic, predictions_topic if predictions else "", dead_letters), batch
        )
        store = RedisStore(client, prefix=prefix, consumer="bench-serve")
        store.ensure_groups()
        source, publisher = _sources(serve_settings)
        metrics = Metrics.create()
        service = Service.from_settings(
            settings.model_copy(
                update={"service": settings.service.model_copy(update={"replica_id": "bench"})}
            ),
            settings.learner.spec().build(settings.learner.seed),
            checkpoint_key=b"bench",
            publish_predictions=predictions,
            source=source,
            publisher=publisher,
            store=store,
            metrics=metrics,
            health=Health(),
        )
        labeler_store = RedisStore(client, prefix=prefix, consumer="bench-labeler")
        measured = _drive(service, store, _labeler(labeler_store, truth), events, say)
        source.close()
        publisher.close()
        return {
            "benchmark": "throughput",
            "backend": getattr(kafka, "backend", "kafka-python"),
            "stream": stream,
            "n_events": measured.decided,
            "batch": batch,
            "predictions": predictions,
            "model": settings.learner.model,
            "strategy": settings.learner.strategy,
            "budget": settings.learner.budget,
            "labels": service.loop.label_outcomes["learned"],
            **measured.report(raw),
        }
    finally:
        _cleanup(bootstrap, [topic, predictions_topic, dead_letters], client, prefix)
