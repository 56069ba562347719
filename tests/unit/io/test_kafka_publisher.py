"""kafka-python's Publisher reads every send's result: a send that failed (or expired while
the broker was away) makes flush raise and is sent again by the next flush (issue 15)."""

from __future__ import annotations

import pytest
from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from stream_al.config import KafkaSettings
from stream_al.errors import BrokerUnavailable
from stream_al.io.kafka import Publisher


class _Future:
    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.is_done = True

    def failed(self) -> bool:
        return self.error is not None

    def succeeded(self) -> bool:
        return self.error is None

    @property
    def exception(self) -> Exception | None:
        return self.error


class _Producer:
    """Delivers everything, except the sends ``expire`` says (as the broker away would)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        self.expire: set[bytes] = set()
        self.refuse: set[bytes] = set()  # refused once, as in a batch too large
        self.max_bytes = 10**9  # refused always, alone too

    def send(self, topic: str, key: bytes | None = None, value: bytes = b"") -> _Future:
        self.sent.append((topic, key, value))
        if value in self.refuse or len(value) > self.max_bytes:
            self.refuse.discard(value)
            return _Future(MessageSizeTooLargeError())
        expired = value in self.expire
        return _Future(KafkaTimeoutError("Expiring 1 record(s)") if expired else None)

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self, timeout: float | None = None) -> None:
        pass


def _publisher() -> tuple[Publisher, _Producer]:
    publisher = Publisher.__new__(Publisher)  # no broker: the producer is a fake
    publisher.settings = KafkaSettings(predictions_topic="p", dead_letter_topic="d")
    publisher.producer = _Producer()
    publisher.unconfirmed, publisher.failed, publisher.last_error = [], [], None
    publisher.too_large = []
    return publisher, publisher.producer


def test_a_failed_send_makes_flush_raise_and_is_sent_again_by_the_next_flush() -> None:
    publisher, producer = _publisher()
    producer.expire = {b"p2"}
    publisher.prediction("e1", "p1")
    publisher.prediction("e2", "p2")
    publisher.send("dead")
    with pytest.raises(BrokerUnavailable, match="1 messages not delivered"):
        publisher.flush()
    producer.expire = set()  # the broker is back
    publisher.flush()
    assert producer.sent[-1] == ("p", b"e2", b"p2")  # the one that failed, again
    assert [v for _, _, v in producer.sent] == [b"p1", b"p2", b"dead", b"p2"]
    assert publisher.unconfirmed == [] and publisher.failed == []
    publisher.flush()  # nothing left: nothing sent again
    assert len(producer.sent) == 4


def test_the_delivery_timeout_setting_reaches_the_producer_with_room_for_the_linger() -> None:
    from stream_al.io.kafka import _delivery_timeouts

    assert _delivery_timeouts(3000) == {"delivery_timeout_ms": 3000, "request_timeout_ms": 2995}
    assert _delivery_timeouts(120_000)["request_timeout_ms"] == 30_000


class _SlowProducer(_Producer):
    """Acknowledges nothing until ``answer``: each flush times out, as with a broker away."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = False
        self.flushes: list[float | None] = []

    def send(self, topic: str, key: bytes | None = None, value: bytes = b"") -> _Future:
        future = super().send(topic, key, value)
        future.is_done = False
        self.futures = [*getattr(self, "futures", []), future]
        return future

    def flush(self, timeout: float | None = None) -> None:
        self.flushes.append(timeout)
        if not self.answer:
            raise KafkaTimeoutError("Timeout waiting for future")
        for future in self.futures:
            future.is_done = True


def test_a_flush_waits_in_slices_and_gives_up_when_asked_keeping_the_sends() -> None:
    publisher, _ = _publisher()
    producer = publisher.producer = _SlowProducer()
    publisher.prediction("e1", "p1")
    asked: list[bool] = []
    with pytest.raises(BrokerUnavailable, match="1 messages not delivered after"):
        publisher.flush(give_up=lambda: len(asked) == 2 or bool(asked.append(False)))
    assert producer.flushes == [0.5, 0.5, 0.5]  # short waits, so a signal is heard in time
    assert len(publisher.unconfirmed) == 1 and publisher.failed == []  # waited for again
    producer.answer = True
    publisher.flush()
    assert publisher.unconfirmed == [] and len(producer.sent) == 1  # not sent twice


def test_messages_refused_as_too_large_are_sent_alone_and_cut_when_refused_alone() -> None:
    from stream_al.schemas import loads

    publisher, producer = _publisher()
    big = '{"source": "t:0:7", "error": "bad", "payload": "' + "x" * 5000 + '", "ts": 1.0}'
    producer.refuse = {b"p1", b"p2"}  # refused in their batch, taken alone
    producer.max_bytes = 2000  # the dead letter, too large even alone
    publisher.prediction("e1", "p1")
    publisher.prediction("e2", "p2")
    publisher.send(big)
    publisher.flush()  # does not raise: nothing is sent again as it was for ever
    topics_values = [(t, v) for t, _, v in producer.sent]
    assert topics_values[3:5] == [("p", b"p1"), ("p", b"p2")]  # again, one at a time
    short = loads(producer.sent[-1][2])
    assert producer.sent[-1][0] == "d" and short["source"] == "t:0:7"
    assert short["payload"] == "x" * 512 and "larger than it takes" in short["error"]
    assert publisher.failed == publisher.too_large == publisher.unconfirmed == []
