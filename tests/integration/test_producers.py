"""Events as other programs write them, on both backends: compressed with each codec Kafka
has, or in transactions.

- **Codecs** (gzip, snappy, lz4, zstd): the producer chooses (Java's clients offer all
  four; ``compression.type=lz4`` or ``zstd`` is common), and the consumer must read
  whatever it chose. kafka-python reads only gzip on its own: without its lz4, snappy and
  zstd extras, serve polled a batch it could not decompress for ever, unready with a
  "kafka" error, and predicted nothing behind it.
- **Transactions**: the events of an aborted transaction never happened; serve neither
  predicts them nor asks a labeler about them. librdkafka reads committed events only by
  default; kafka-python read them all, so the two backends disagreed.

The events are sent by librdkafka, which has every codec built in, so the tests judge
serve's consumer alone.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.deploy_support import missing
from tests.integration.deployment import BACKENDS, Deployment, wait_for

CODECS = ("gzip", "snappy", "lz4", "zstd")
PER_CODEC = 40


def produce_compressed(deployment: Deployment, codec: str, n: int) -> list[str]:
    """Send ``n`` events in batches compressed with ``codec``; returns their ids."""
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": deployment.bootstrap,
            "compression.type": codec,
            # Many events per batch, so the broker keeps them as one compressed batch.
            "linger.ms": 100,
        }
    )
    ids = [f"{codec}-{i}" for i in range(n)]
    for i, event_id in enumerate(ids):
        event = {"id": event_id, "features": {"x": float(i % 7), "y": float(i % 3)}}
        producer.produce(deployment.events_topic, json.dumps(event).encode())
    assert producer.flush(30) == 0, f"{codec}: events not delivered"
    return ids


@pytest.mark.parametrize("backend", BACKENDS)
def test_events_compressed_with_every_codec_are_predicted(deployment: Deployment) -> None:
    if importlib.util.find_spec("confluent_kafka") is None:
        missing("confluent-kafka is not installed (pip install -e '.[test]')")
    sent = [i for codec in CODECS for i in produce_compressed(deployment, codec, PER_CODEC)]
    serve = deployment.serve()
    wait_for(
        lambda: set(sent) <= {p["id"] for p in deployment.predictions()},
        90,
        what="every compressed event predicted",
    )
    assert serve.ready(), serve.readyz()
    assert deployment.dead_letters() == []


def produce_transactions(deployment: Deployment, n: int) -> tuple[list[str], list[str]]:
    """``n`` events in an aborted transaction, then ``n`` in a committed one; their ids."""
    from confluent_kafka import Producer

    producer = Producer(
        {"bootstrap.servers": deployment.bootstrap, "transactional.id": deployment.prefix}
    )
    producer.init_transactions(30)
    sent: dict[str, list[str]] = {}
    for outcome in ("aborted", "committed"):
        producer.begin_transaction()
        sent[outcome] = [f"{outcome}-{i}" for i in range(n)]
        for i, event_id in enumerate(sent[outcome]):
            event = {"id": event_id, "features": {"x": float(i % 7)}}
            producer.produce(deployment.events_topic, json.dumps(event).encode())
        if outcome == "aborted":
            assert producer.flush(30) == 0  # on the broker, then taken back
            producer.abort_transaction(30)
        else:
            producer.commit_transaction(30)
    return sent["aborted"], sent["committed"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_events_of_an_aborted_transaction_are_neither_predicted_nor_asked(
    deployment: Deployment,
) -> None:
    if importlib.util.find_spec("confluent_kafka") is None:
        missing("confluent-kafka is not installed (pip install -e '.[test]')")
    aborted, committed = produce_transactions(deployment, 60)
    serve = deployment.serve()
    wait_for(
        lambda: set(committed) <= {p["id"] for p in deployment.predictions()},
        90,
        what="every committed event predicted",
    )
    predicted = [p["id"] for p in deployment.predictions()]
    assert sorted(predicted) == sorted(committed)
    queued = deployment.redis().xrange(f"{deployment.prefix}:queue")
    asked = {json.loads(fields[b"item"])["id"] for _, fields in queued}
    assert asked and not asked & set(aborted)
    assert serve.ready(), serve.readyz()
