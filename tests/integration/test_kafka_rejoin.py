"""kafka-python's group join for partitions added to the events topic, against the real
broker: a join a poll's timeout interrupts must still complete."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from stream_al.config import KafkaSettings
from stream_al.io import kafka as kafka_io
from stream_al.io.kafka import EventSource
from tests.integration.conftest import Services, kafka_admin


def _partitions(source: EventSource) -> list[int]:
    return sorted(tp.partition for tp in source.assignment())


def _poll_until(source: EventSource, wanted: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while _partitions(source) != wanted and time.monotonic() < deadline:
        source.poll()
    return _partitions(source)


def test_partitions_added_are_assigned_when_each_poll_ends_mid_join(
    services: Services,
    kafka_topic: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Serve (kafka-python) never consumed partitions added while it ran, about 2 runs in
    60 under load: the poll that rejoined for them timed out between the JoinGroup and the
    SyncGroup answers, after the leader had recorded the new partitions as assigned, so no
    later poll completed the join (assignment kept at [0], group stable). A poll timeout
    of 0 ends every poll there: without the fix the new partitions never come."""
    from kafka.admin import NewPartitions

    monkeypatch.setattr(kafka_io, "METADATA_REFRESH_MS", 500)  # see the new ones soon
    topic = kafka_topic(partitions=1)
    settings = KafkaSettings(
        bootstrap_servers=services.kafka_bootstrap,
        events_topic=topic,
        group_id=f"g{uuid.uuid4().hex[:8]}",
        poll_timeout_ms=0,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    source = EventSource(settings)
    try:
        assert _poll_until(source, [0], 30) == [0]
        admin = kafka_admin(services.kafka_bootstrap)
        try:
            admin.create_partitions({topic: NewPartitions(3)})
        finally:
            admin.close()
        assert _poll_until(source, [0, 1, 2], 20) == [0, 1, 2]
    finally:
        source.close()
