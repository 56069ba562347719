"""Whether serve's sources read their events topic as one that may be compacted, from the
real broker: it decides which base offsets kafka-python's takes for damaged
(stream_al.io.kafka_batches.misplaced), and whether confluent's says a gap between offsets
(ConfluentEventSource._jumped)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from kafka.admin import NewTopic

from stream_al.config import KafkaSettings
from stream_al.io import kafka
from tests.deploy_support import need_module
from tests.integration.conftest import Services, kafka_admin, topic_name


def _confluent() -> Callable[[KafkaSettings], bool]:
    confluent = need_module("stream_al.io.kafka_confluent")
    return confluent._may_be_compacted  # type: ignore[no-any-return]


@pytest.mark.parametrize("backend", ["kafka-python", "confluent"])
def test_the_events_topic_is_taken_as_compacted_unless_the_broker_says_it_is_not(
    services: Services, backend: str
) -> None:
    may_be_compacted = kafka._may_be_compacted if backend == "kafka-python" else _confluent()
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
            assert may_be_compacted(settings) is compacted, policy
    finally:
        with contextlib.suppress(Exception):
            admin.delete_topics(list(names.values()))
        admin.close()
