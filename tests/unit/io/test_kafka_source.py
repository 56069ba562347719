from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from kafka.errors import CommitFailedError, KafkaConnectionError

from stream_al.io.kafka import HEARTBEAT_UNANSWERED_S, EventSource, _disconnected
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
