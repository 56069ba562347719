"""Odd Kafka records and odd labels on the real servers, one serve per backend for the
whole battery: each record polled ends as a prediction or as a dead letter whose reason
says what to fix, and serve goes on."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from kafka import KafkaProducer

from tests.deploy_support import need_module
from tests.integration.deployment import BACKENDS, Deployment, wait_for


def _event(item_id: object, **fields: object) -> bytes:
    return json.dumps({"id": item_id, "features": {"x": 1.0}, **fields}).encode()


@dataclass(frozen=True)
class Odd:
    """A record to send, and what serve makes of it: a dead letter whose reason holds
    each of ``reason``, or (no ``reason``) the prediction of event ``predicted``."""

    value: bytes | None
    reason: tuple[str, ...] = ()
    predicted: str | None = None
    key: bytes | None = b"odd"
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    timestamp_ms: int | None = None


GOOD = _event("good")
NESTED = b'{"id": "deep", "features": {"x": 1}, "meta": ' + b'{"a": ' * 5_000 + b"1" + b"}" * 5_001

ODD: dict[str, Odd] = {
    # Read as the empty message, its reason was "Invalid JSON: EOF while parsing a value".
    "tombstone": Odd(None, ("tombstone", "null value", "takes no deletes")),
    "empty value": Odd(b"", ("empty message (0 bytes)",)),
    # "Input should be an object" alone: cut, framed, or of another kind?
    "a number": Odd(b"42", ("should be an object, got a JSON number",)),
    "a string": Odd(b'"e1"', ("should be an object, got a JSON string",)),
    "an array": Odd(b'[{"id": "e1"}]', ("should be an object, got a JSON array",)),
    "the null literal": Odd(b"null", ("should be an object, got JSON null",)),
    "a boolean": Odd(b"true", ("should be an object, got a JSON boolean",)),
    # "Invalid JSON: expected value at line 1 column 1" alone.
    "a UTF-8 byte order mark": Odd(b"\xef\xbb\xbf" + GOOD, ("UTF-8 byte order mark",)),
    "UTF-16 with its mark": Odd(GOOD.decode().encode("utf-16"), ("UTF-16 text, not UTF-8",)),
    "UTF-16 without": Odd(GOOD.decode().encode("utf-16-le"), ("UTF-16 text, not UTF-8",)),
    "deep nesting": Odd(NESTED, ("recursion limit exceeded",)),
    "a surrogate's bytes": Odd(b'{"id": "s\xed\xa0\x80", "features": {"x": 1}}', ("unicode",)),
    "a null id": Odd(_event(None), ("id: Input should be a valid string",)),
    "no key": Odd(_event("no-key"), predicted="no-key", key=None),
    "a key of 500 KB": Odd(_event("huge-key"), predicted="huge-key", key=b"k" * 500_000),
    "odd headers": Odd(
        _event("headers"),
        predicted="headers",
        headers=[("h", b"\xff\xfe"), ("h", b"again"), ("\u00e9", b"")],
    ),
    "a record time of -1": Odd(_event("time-1"), predicted="time-1", timestamp_ms=-1),
    "a record time in 9999": Odd(
        _event("time-9999"), predicted="time-9999", timestamp_ms=253402300799000
    ),
    "an event time of -1": Odd(_event("ts-1", ts=-1), predicted="ts-1"),
    "an event time in 9999": Odd(_event("ts-9999", ts="9999-12-31T23:59:59"), predicted="ts-9999"),
    "an id with control characters": Odd(_event("a\nb\x00\u202e"), predicted="a\nb\x00\u202e"),
    # JSON leaves a repeated key to the reader: the last one counts, as in json.loads.
    "a repeated key": Odd(b'{"id": "one", "id": "two", "features": {"x": 1}}', predicted="two"),
    "feature names like the encoder's": Odd(
        json.dumps({"id": "names", "features": {"c": "red", "c=red": 5.0, "": 1.0}}).encode(),
        predicted="names",
    ),
}


# Labels (their item ids never queried): each dead-lettered in Redis with its reason.
ODD_LABELS: dict[str, tuple[str, str]] = {
    # Its reason was "Invalid JSON: expected value at line 1 column 1" alone.
    "behind a byte order mark": ("\ufeff" + json.dumps({"id": "a", "label": 1}), "byte order mark"),
    "a list": (json.dumps({"id": "a", "label": [1]}), "label.str: Input should be a valid string"),
    "null": (json.dumps({"id": "a", "label": None}), "label.int: Input should be a valid integer"),
    "a fraction": (json.dumps({"id": "a", "label": 1.5}), "got a number with a fractional part"),
    "of 10 MB": (json.dumps({"id": "a", "label": "y" * 10_000_000}), "at most 256 characters"),
    "an id no text": (json.dumps({"id": 5, "label": 1}), "id: Input should be a valid string"),
    "a class never seen, for an id never queried": (
        json.dumps({"id": "ghost", "label": "zebra"}),
        "orphaned label",
    ),
}


def _send(deployment: Deployment) -> dict[int, str]:
    """Send the battery, one record through librdkafka, then a transaction aborted and one
    committed; the offset of each record that serve must account for, and its kind."""
    producer = KafkaProducer(bootstrap_servers=deployment.bootstrap, max_request_size=8_000_000)
    sent = {
        kind: producer.send(
            deployment.events_topic,
            key=odd.key,
            value=odd.value,
            headers=odd.headers,
            timestamp_ms=odd.timestamp_ms,
        )
        for kind, odd in ODD.items()
    }
    producer.flush()
    producer.close()
    offsets = {future.get(30).offset: kind for kind, future in sent.items()}
    # kafka-python's producer writes header keys as text; librdkafka's takes any bytes.
    confluent = need_module("confluent_kafka")
    delivered: list[int] = []
    raw = confluent.Producer({"bootstrap.servers": deployment.bootstrap})
    raw.produce(
        deployment.events_topic,
        value=_event("header-key"),
        headers=[(b"\xff\xfe", b"v")],
        on_delivery=lambda err, msg: delivered.append(msg.offset() if err is None else -1),
    )
    assert raw.flush(30) == 0 and delivered[0] >= 0
    offsets[delivered[0]] = "a header key not UTF-8"
    # The aborted event never happened (read_committed on both backends); the transaction
    # markers are no records.
    tx = KafkaProducer(
        bootstrap_servers=deployment.bootstrap, transactional_id=f"{deployment.group}-tx"
    )
    tx.init_transactions()
    tx.begin_transaction()
    tx.send(deployment.events_topic, value=_event("aborted"))
    tx.flush()
    tx.abort_transaction()
    tx.begin_transaction()
    committed = tx.send(deployment.events_topic, value=_event("committed"))
    tx.commit_transaction()
    offsets[committed.get(30).offset] = "committed"
    tx.close()
    return offsets


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_odd_record_is_predicted_or_dead_lettered_with_what_to_fix(
    deployment: Deployment,
) -> None:
    serve = deployment.serve()
    offsets = _send(deployment)
    predicted = {odd.predicted for odd in ODD.values() if odd.predicted}
    predicted |= {"header-key", "committed"}
    wait_for(
        lambda: (
            (
                len(deployment.dead_letters()) >= len(offsets) - len(predicted)
                and len(deployment.predictions()) >= len(predicted)
            )
            or not serve.alive()
        ),
        60,
        what="every record predicted or dead-lettered",
    )
    assert serve.alive(), serve.output()[-3000:]
    letters = {int(d["source"].rsplit(":", 1)[1]): d for d in deployment.dead_letters()}
    ids = [p["id"] for p in deployment.predictions()]
    assert sorted(ids) == sorted(predicted)  # once each; nothing of the aborted transaction
    vague: dict[str, str] = {}
    for offset, kind in offsets.items():
        odd = ODD.get(kind)
        if odd is None or odd.predicted:
            assert offset not in letters, (kind, letters.get(offset))
            continue
        error = letters[offset]["error"]
        if not all(part in error for part in odd.reason):
            vague[kind] = error
    assert not vague, vague
    assert len(letters) == len(offsets) - len(predicted)
    r, labels = deployment.redis(), f"{deployment.prefix}:labels"
    for raw, _ in ODD_LABELS.values():
        r.xadd(labels, {"label": raw})
    wait_for(
        lambda: (
            serve.metric("stream_al_labels_total", outcome="invalid")
            + serve.metric("stream_al_labels_total", outcome="orphaned")
            >= len(ODD_LABELS)
        ),
        30,
        what="every label dead-lettered",
    )
    entries = r.xrange(f"{deployment.prefix}:dead_letters")
    errors = [json.loads(fields[b"dead_letter"])["error"] for _, fields in entries]
    vague = {
        kind: error
        for (kind, (_, part)), error in zip(ODD_LABELS.items(), errors, strict=True)
        if part not in error
    }
    assert not vague, vague
    assert r.xpending(labels, "serve")["pending"] == 0
    assert serve.terminate() == 0, serve.output()[-3000:]
