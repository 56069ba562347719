"""A broker that answers Metadata with no broker listed and then closes the connection, as a
lone broker does in the last moment of a shutdown (SIGTERM: the controller has fenced it,
its socket is still open).

librdkafka (2.10 and later, 2.16 here) forgets every broker such an answer leaves out, and
when its broker thread has seen the connection close before its main thread reads the
answer, it never re-bootstraps: the client keeps no broker with an address and never
connects again. serve's consumer ended so about once in 40 restarts of the shared broker
under CPU load (test_faults.py's readyz test failed so in CI: unready 60 s after the broker
was back). Here a proxy in front of this module's own broker, advertised as the broker's
address, gives that answer on purpose and ends the connection with it, and pads it with
made-up topics so that librdkafka's main thread is still reading it when its broker thread
sees the close (the order librdkafka's own test 0193 forces by holding its main thread).
Before the fix both tests failed in each of 5 runs, after it both passed in each of 7,
each time after the first fenced answer.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import pytest
from kafka import KafkaProducer

from stream_al.config import KafkaSettings
from stream_al.errors import BrokerUnavailable
from tests.deploy_support import missing
from tests.integration.conftest import Broker, SecondBroker, Services, topic_maker

METADATA = 3  # the Metadata request's api key
ADDRESSED = ("learned", "configured")  # broker handles with an address, by their source
# Topics of no partition added to a fenced answer: the client's main thread reads them for a
# few milliseconds, and meanwhile its broker thread sees the connection close, the order
# that leaves librdkafka without a broker (without them, one try in two or three).
MADE_UP_TOPICS = 10_000
Asked = dict[int, tuple[int, int]]  # a connection's requests: correlation id -> key, version


def _uvarint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        value, at, shift = value | (byte & 0x7F) << shift, at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def _after_tags(data: bytes, at: int) -> int:
    count, at = _uvarint(data, at)
    for _ in range(count):
        _, at = _uvarint(data, at)
        size, at = _uvarint(data, at)
        at += size
    return at


def _after_string(data: bytes, at: int) -> int:
    size, at = _uvarint(data, at)  # a compact string: its length + 1, 0 for null
    return at + max(0, size - 1)


def _varint(value: int) -> bytes:
    out = b""
    while value >= 0x80:
        out, value = out + bytes([value & 0x7F | 0x80]), value >> 7
    return out + bytes([value])


def fenced_answer(frame: bytes, version: int, made_up: int) -> bytes:
    """A Metadata response as a fenced broker gives it: no broker, no controller, the same
    topics, after ``made_up`` topics of no partition (see :class:`FencedProxy`)."""
    assert version >= 10, f"Metadata v{version}: this proxy reads v10 and later"
    at = _after_tags(frame, 4) + 4  # the correlation id, the header's tags, throttle time
    brokers = at
    count, at = _uvarint(frame, at)
    for _ in range(count - 1):
        at = _after_string(frame, at + 4) + 4  # node id, host, port
        at = _after_tags(frame, _after_string(frame, at))  # rack, tags
    controller = _after_string(frame, at)  # after the cluster id
    topics, rest = _uvarint(frame, controller + 4)
    return b"".join(
        [
            frame[:brokers],
            _varint(1),  # no broker
            frame[at:controller],
            struct.pack(">i", -1),  # no controller
            _varint(topics + made_up),
            *(_made_up_topic(f"made-up-{i}") for i in range(made_up)),
            frame[rest:],
        ]
    )


_NO_OPS = struct.pack(">i", -(2**31))  # authorized operations: not asked for


def _made_up_topic(name: str) -> bytes:
    # no error, its name, a null topic id, not internal, no partition, no operations, no tags
    text = name.encode()
    return b"".join(
        [b"\0\0", _varint(len(text) + 1), text, bytes(16), b"\0", _varint(1), _NO_OPS, b"\0"]
    )


class FencedProxy:
    """Forwards Kafka's protocol between the clients and a broker. While :attr:`fenced` it
    is the broker's last moment: a Metadata answer lists no broker and ends its connection
    (counted in :attr:`answered_fenced`), and no new connection is taken."""

    def __init__(self) -> None:
        self.upstream = ("127.0.0.1", 0)  # set before the broker starts
        self.fenced = False
        self.answered_fenced = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.bootstrap = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        for s in [self._listener, *self._open]:
            s.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                if self.fenced:  # shutting down: no new connection
                    raise ConnectionRefusedError
                server = socket.create_connection(self.upstream)
            except OSError:  # or the broker is not up yet
                client.close()
                continue
            self._open += [client, server]
            asked: Asked = {}
            for pipe, ends in (
                (self._requests, (client, server)),
                (self._answers, (server, client)),
            ):
                threading.Thread(target=pipe, args=(*ends, asked), daemon=True).start()

    def _requests(self, client: socket.socket, server: socket.socket, asked: Asked) -> None:
        with _closing(client, server):
            while True:
                frame = _frame(client)
                key, version, correlation = struct.unpack_from(">hhi", frame)
                asked[correlation] = (key, version)
                server.sendall(_framed(frame))

    def _answers(self, server: socket.socket, client: socket.socket, asked: Asked) -> None:
        with _closing(server, client):
            while True:
                frame = _frame(server)
                key, version = asked.pop(struct.unpack_from(">i", frame)[0], (-1, -1))
                if key == METADATA and self.fenced:  # its last answer: then it closes
                    client.sendall(_framed(fenced_answer(frame, version, MADE_UP_TOPICS)))
                    self.answered_fenced += 1
                    return
                client.sendall(_framed(frame))


@contextmanager
def _closing(*sockets: socket.socket) -> Iterator[None]:
    """Either side closed (or a frame this proxy cannot read): close both."""
    try:
        yield
    except (OSError, struct.error):
        pass
    finally:
        for s in sockets:
            # shutdown() ends the connection now: close() alone waits for the other
            # direction's thread, blocked in a recv() on the same socket.
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


def _framed(frame: bytes) -> bytes:
    return struct.pack(">i", len(frame)) + frame


def _frame(sock: socket.socket) -> bytes:
    size = struct.unpack(">i", _exactly(sock, 4))[0]
    return _exactly(sock, size)


def _exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data


@pytest.fixture(scope="module")
def proxied(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FencedProxy]:
    """This module's broker, which every client reaches through the proxy: the broker
    advertises the proxy's address."""
    proxy = FencedProxy()
    broker = SecondBroker(
        Broker(services.kafka_bootstrap),
        tmp_path_factory.mktemp("kafka-behind-a-proxy"),
        {"advertised.listeners": f"PLAINTEXT://{proxy.bootstrap}"},
    )
    host, port = broker.bootstrap.rsplit(":", 1)
    proxy.upstream = (host, int(port))
    try:
        broker.start()
        yield proxy
    finally:
        broker.stop()
        proxy.close()


TRIES = 10  # in every run so far, the first left the client without a broker


@dataclass
class Reports:
    """What librdkafka's statistics said, report by report: no broker with an address left,
    and a broker connection up."""

    orphaned: list[bool] = field(default_factory=list)
    up: list[bool] = field(default_factory=list)


@pytest.fixture
def confluent(monkeypatch: pytest.MonkeyPatch) -> Any:
    """stream_al.io.kafka_confluent, whose clients ask for metadata every 200 ms (so each
    meets a fenced answer at once)."""
    if importlib.util.find_spec("confluent_kafka") is None:
        missing("confluent-kafka is not installed (pip install -e '.[test]')")
    from stream_al.io import kafka_confluent

    monkeypatch.setattr(kafka_confluent, "METADATA_REFRESH_MS", 200)  # the consumer's
    base = KafkaSettings.librdkafka_config
    often = {"topic.metadata.refresh.interval.ms": 200}
    monkeypatch.setattr(KafkaSettings, "librdkafka_config", lambda s: {**base(s), **often})
    return kafka_confluent


def _recorded(monkeypatch: pytest.MonkeyPatch, confluent: Any, client: str) -> Reports:
    """Every statistics report of the librdkafka ``client`` ("Consumer", "Producer") that
    the module makes from now on, recorded before the module reads it (if it does)."""
    reports, make = Reports(), getattr(confluent, client)

    def made(config: dict[str, Any]) -> Any:
        read = config.get("stats_cb")

        def stats(report: str) -> None:
            brokers = json.loads(report)["brokers"].values()
            reports.orphaned.append(not any(b["source"] in ADDRESSED for b in brokers))
            reports.up.append(any(b["nodeid"] >= 0 and b["state"] == "UP" for b in brokers))
            if read is not None:
                read(report)

        return make({**config, "statistics.interval.ms": 1000, "stats_cb": stats})

    monkeypatch.setattr(confluent, client, made)
    return reports


def _settings(bootstrap: str, make: Callable[..., str]) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        events_topic=make(prefix="events"),
        predictions_topic=make(prefix="predictions"),
        dead_letter_topic=make(prefix="dlq"),
        group_id=f"g{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        poll_timeout_ms=100,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )


def test_a_consumer_librdkafka_left_without_a_broker_is_replaced_and_consumes_again(
    proxied: FencedProxy, confluent: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = _recorded(monkeypatch, confluent, "Consumer")
    with topic_maker(proxied.bootstrap) as make:
        settings = _settings(proxied.bootstrap, make)
        source = confluent.ConfluentEventSource(settings)
        polled: list[bytes] = []

        def poll() -> None:
            polled.extend(value for _, value in source.poll())

        try:
            _until(poll, lambda: bool(source.assignment()) and not source.unavailable())
            left = any(_left_without_a_broker(proxied, poll, reports) for _ in range(TRIES))
            assert left, f"librdkafka kept a broker through {TRIES} fenced answers"
            # Before the fix: unready, and nothing consumed, for good.
            _send(proxied.bootstrap, settings.events_topic, b"after")
            _until(poll, lambda: b"after" in polled and not source.unavailable())
        finally:
            source.close()


def test_a_producer_librdkafka_left_without_a_broker_is_replaced_and_delivers_again(
    proxied: FencedProxy, confluent: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = _recorded(monkeypatch, confluent, "Producer")
    with topic_maker(proxied.bootstrap) as make:
        publisher = confluent.ConfluentPublisher(_settings(proxied.bootstrap, make))
        try:
            publisher.prediction("k", "before")
            publisher.flush()

            def serve() -> None:
                publisher.producer.poll(0.1)  # librdkafka's callbacks, its statistics

            left = any(_left_without_a_broker(proxied, serve, reports) for _ in range(TRIES))
            assert left, f"librdkafka kept a broker through {TRIES} fenced answers"
            # Before the fix: every flush failed, the prediction never delivered.
            publisher.prediction("k", "after")
            flushed: list[bool] = []

            def flush() -> None:
                publisher.flush(timeout=5)  # raises while anything is undelivered
                flushed.append(True)

            _until(flush, lambda: bool(flushed))
        finally:
            publisher.close()


def _left_without_a_broker(proxied: FencedProxy, turn: Callable[[], Any], reports: Reports) -> bool:
    """One fenced answer, then the broker is back: whether the client's statistics showed
    no broker with an address meanwhile (if not, it is connected again)."""
    seen, fenced = len(reports.orphaned), proxied.answered_fenced
    proxied.fenced = True
    try:
        _until(turn, lambda: proxied.answered_fenced > fenced)
    finally:
        proxied.fenced = False
    answered = len(reports.orphaned)
    _until(
        turn,
        lambda: (
            len(reports.orphaned) > answered and (any(reports.orphaned[seen:]) or reports.up[-1])
        ),
    )
    return any(reports.orphaned[seen:])


def _until(turn: Callable[[], Any], done: Callable[[], bool], timeout: float = 30) -> None:
    """``turn()`` (a failure the loop waits out is retried) until ``done()``."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"not done after {timeout:.0f} s"
        try:
            turn()
        except BrokerUnavailable:
            time.sleep(0.1)


def _send(bootstrap: str, topic: str, value: bytes) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        producer.send(topic, value=value).get(timeout=30)
    finally:
        producer.close()
