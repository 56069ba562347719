"""The servers from scripts/services are real and usable: a Kafka consumer group commits
what it read, and a Redis stream group delivers and acknowledges an entry."""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import redis

from tests.integration.conftest import Services, kafka_admin

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

pytestmark = pytest.mark.integration

# Fast consumer-group joins against a single local broker.
GROUP_SETTINGS = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 2000}


def test_kafka_is_a_single_node_cluster(services: Services) -> None:
    admin = kafka_admin(services.kafka_bootstrap)
    try:
        cluster = admin.describe_cluster()
    finally:
        admin.close()
    assert cluster["cluster_id"]
    assert [broker["node_id"] for broker in cluster["brokers"]] == [cluster["controller_id"]]
    port = int(services.kafka_bootstrap.rsplit(":", 1)[1])
    assert cluster["brokers"][0]["port"] == port


def test_kafka_round_trip_with_group_and_manual_commit(
    services: Services, kafka_topic: Callable[..., str]
) -> None:
    topic = kafka_topic()
    group = f"stream-al-it-{uuid.uuid4().hex[:12]}"
    payload = f"event-{uuid.uuid4().hex}".encode()

    producer = KafkaProducer(bootstrap_servers=services.kafka_bootstrap, acks="all")
    try:
        sent = producer.send(topic, key=b"k1", value=payload).get(timeout=30)
    finally:
        producer.close()
    assert (sent.topic, sent.partition, sent.offset) == (topic, 0, 0)

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=services.kafka_bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **GROUP_SETTINGS,
    )
    try:
        records: list[Any] = []
        deadline = time.monotonic() + 30
        while not records and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=1000).values():
                records.extend(batch)
        assert [(r.key, r.value, r.offset) for r in records] == [(b"k1", payload, 0)]
        consumer.commit()
        assert consumer.committed(TopicPartition(topic, 0)) == 1
    finally:
        consumer.close()

    # The commit lives on the broker: the group's offset is visible to a fresh admin client.
    admin = kafka_admin(services.kafka_bootstrap)
    try:
        offsets = admin.list_consumer_group_offsets(group)
        admin.delete_consumer_groups([group])
    finally:
        admin.close()
    assert offsets[TopicPartition(topic, 0)].offset == 1


def test_redis_stream_group_round_trip(redis_client: redis.Redis) -> None:
    stream, group = "stream-al:it:events", "labelers"
    redis_client.xgroup_create(stream, group, id="0", mkstream=True)
    entry_id = redis_client.xadd(stream, {"event_id": "e1", "x": "0.5"})

    delivered = redis_client.xreadgroup(group, "worker-1", {stream: ">"}, count=10, block=2000)
    assert delivered == [[stream.encode(), [(entry_id, {b"event_id": b"e1", b"x": b"0.5"})]]]
    assert redis_client.xpending(stream, group)["pending"] == 1

    assert redis_client.xack(stream, group, entry_id) == 1
    assert redis_client.xpending(stream, group)["pending"] == 0
    # Nothing new for the group once acknowledged.
    assert redis_client.xreadgroup(group, "worker-1", {stream: ">"}, block=100) == []


def test_redis_client_uses_the_spare_database(
    services: Services, redis_client: redis.Redis
) -> None:
    assert redis_client.connection_pool.connection_kwargs["db"] == 15
    assert redis_client.dbsize() == 0
    assert redis_client.info("server")["redis_version"]
