from __future__ import annotations

import pytest
from kafka.errors import CommitFailedError, KafkaConnectionError

from stream_al.io.kafka import EventSource
from stream_al.runtime.backoff import RECOVERABLE


class _Consumer:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def commit(self) -> None:
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
