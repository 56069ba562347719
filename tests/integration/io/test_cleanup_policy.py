"""Whether serve's kafka-python source reads its events topic as one that may be compacted,
from the real broker: it decides which base offsets it takes for damaged
(stream_al.io.kafka_batches.misplaced)."""

from __future__ import annotations

import contextlib

from kafka.admin import NewTopic

from stream_al.config import KafkaSettings
from stream_al.io.kafka import _may_be_compacted
from tests.integration.conftest import Services, kafka_admin, topic_name


def test_the_events_topic_is_taken_as_compacted_unless_the_broker_says_it_is_not(
    services: Services,
) -> None:
    policies = {"delete": False, "compact": True, "compact,delete": True}
    names = {policy: topic_name("policy") for policy in policies}
    admin = kafka_admin(services.kafka_bootstrap)
    try:
        admin.create_topics(
            [NewTopic(names[p], 1, 1, topic_configs={"cleanup.policy": p}) for p in policies]
        )
        for policy, compacted in [*policies.items(), ("no such topic", True)]:
            settings = KafkaSettings(
                bootstrap_servers=services.kafka_bootstrap,
                events_topic=names.get(policy, topic_name("absent")),
            )
            assert _may_be_compacted(settings) is compacted, policy
    finally:
        with contextlib.suppress(Exception):
            admin.delete_topics(list(names.values()))
        admin.close()
