"""The undoing of a reset of librdkafka's to a partition's end, after a corrupt batch, on
the real broker and librdkafka (ConfluentEventSource._stranded): what serve relies on, that
a seek unsets librdkafka's position and its statistics then report the fetch position,
holds only there."""

from __future__ import annotations

import contextlib
import time

from kafka import KafkaProducer
from kafka.admin import NewTopic

from stream_al.config import KafkaSettings
from tests.deploy_support import need_module
from tests.integration.conftest import Services, kafka_admin, topic_name


def test_a_partition_reset_to_its_end_after_a_corrupt_batch_is_read_on_from_serve(
    services: Services,
) -> None:
    confluent = need_module("stream_al.io.kafka_confluent")
    from confluent_kafka import Consumer, TopicPartition

    topic = topic_name("stranded")
    admin = kafka_admin(services.kafka_bootstrap)
    admin.create_topics([NewTopic(topic, 1, 1)])
    producer = KafkaProducer(bootstrap_servers=services.kafka_bootstrap)
    for i in range(30):
        producer.send(topic, f'{{"x": {i}}}'.encode())
    producer.flush()
    producer.close()
    # The group begins at offset 0; librdkafka's resets go to the end (latest).
    committer = Consumer({"bootstrap.servers": services.kafka_bootstrap, "group.id": topic})
    committer.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
    committer.close()
    source = confluent.ConfluentEventSource(
        KafkaSettings(
            bootstrap_servers=services.kafka_bootstrap,
            events_topic=topic,
            group_id=topic,
            auto_offset_reset="latest",
            max_poll_records=16,
        )
    )
    try:
        origins: list[str] = []
        deadline = time.monotonic() + 30
        while len(origins) < 16 and time.monotonic() < deadline:
            origins += [origin for origin, _ in source.poll()]
        assert len(origins) == 16
        # What a corrupt batch leaves (ConfluentEventSource._past), and librdkafka's reset
        # to the end with no event after it: here, from a seek out of range.
        source._corrupted.add((topic, 0))
        source.consumer.seek(TopicPartition(topic, 0, 1000))
        while len(origins) < 30 and time.monotonic() < deadline:
            origins += [origin for origin, _ in source.poll()]
        assert origins == [f"{topic}:0:{offset}" for offset in range(30)]
        assert source.lag() == {0: 0}
    finally:
        source.close()
        with contextlib.suppress(Exception):
            admin.delete_topics([topic])
        admin.close()
