from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.errors import CommitFailedError, KafkaConnectionError, KafkaTimeoutError

from stream_al.config import KafkaSettings
from stream_al.io.kafka import HEARTBEAT_UNANSWERED_S, EventSource, _disconnected
from stream_al.io.stalled import UNSERVED_POLLS, UNSERVED_S, StalledPartitions
from stream_al.runtime.backoff import RECOVERABLE


class _Consumer:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def commit(self, timeout_ms: int | None = None) -> None:
        raise self.error


def _source(error: Exception) -> EventSource:
    source = EventSource.__new__(EventSource)  # no broker needed: only commit is exercised
    source.consumer = _Consumer(error)
    return source


def test_a_commit_refused_after_a_rebalance_is_dropped_not_retried_forever(
    caplog: pytest.LogCaptureFixture,
) -> None:
    _source(CommitFailedError("group rebalanced")).commit()
    assert "the batch will come again" in caplog.text


def test_other_commit_failures_reach_the_loop_to_be_retried() -> None:
    with pytest.raises(RECOVERABLE):  # translated at the edge: BrokerUnavailable
        _source(KafkaConnectionError("broker away")).commit()


def test_a_commit_out_of_time_says_so_where_kafka_python_says_none() -> None:
    # kafka-python's own timeout error reads "None": /readyz said "kafka: ... None".
    with pytest.raises(RECOVERABLE) as raised:
        _source(KafkaTimeoutError()).commit()
    assert "commit: no answer from the group coordinator in 5 s" in str(raised.value)


class _Positions:
    """A consumer assigned ``positions`` (TopicPartition -> (position, high watermark))."""

    def __init__(self, positions: dict[TopicPartition, tuple[int, int | None]]) -> None:
        self.positions = positions
        self._coordinator = SimpleNamespace(rejoining=False)  # no group join pending

    def assignment(self) -> set[TopicPartition]:
        return set(self.positions)

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.positions[tp][1]

    def position(self, tp: TopicPartition, timeout_ms: int | None = None) -> int:
        return self.positions[tp][0]

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, Any]:
        return {}


def test_a_partition_unmoved_for_30_s_of_polls_with_events_after_it_is_counted_stalled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = EventSource.__new__(EventSource)
    source.settings = KafkaSettings()
    p0, p1 = TopicPartition("ev", 0), TopicPartition("ev", 1)
    source.consumer = _Positions({p0: (10, 21), p1: (3, None)})
    now = [0.0]
    source.stalled_partitions = StalledPartitions("a bound", clock=lambda: now[0])
    assert source.lag() == {0: 11}  # 1: not fetched yet
    for _ in range(UNSERVED_POLLS):
        source.poll()
    now[0] = UNSERVED_S
    assert source.lag() == {0: 11}
    assert source.stalled() == 1
    assert "ev:0: no event served from offset 10 for 30 s" in caplog.text


def _consumer(connected: bool, sent: float, received: float) -> object:
    conn = SimpleNamespace(connected=lambda: connected)
    heartbeat = SimpleNamespace(last_send=sent, last_receive=received)
    return SimpleNamespace(
        _client=SimpleNamespace(_conns={"b1": conn}),
        _coordinator=SimpleNamespace(heartbeat=heartbeat),
    )


def test_a_broker_that_hangs_is_unavailable_once_a_heartbeat_goes_unanswered() -> None:
    now = time.time()
    answered = _consumer(True, now - 20, now - 19.9)
    waiting_briefly = _consumer(True, now - 1, now - 4)
    hung = _consumer(True, now - HEARTBEAT_UNANSWERED_S - 2, now - 30)
    assert _disconnected(answered) is None
    assert _disconnected(waiting_briefly) is None
    assert "heartbeat" in (_disconnected(hung) or "")
    assert "no connection" in (_disconnected(_consumer(False, now, now)) or "")
