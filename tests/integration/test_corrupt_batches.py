"""A record batch corrupt on the broker's disk (a byte flipped in a log segment: a bad disk,
a torn write), on the real broker and both backends: its events are dead-lettered with a
reason that names their offsets and the CRC mismatch, serve goes on to the events after
it, nothing else is lost, and a restart is clean.

The broker is stopped cleanly (so it does not recover, and truncate, the segment at its
next start), one byte inside the records of the middle of three batches is flipped, and
the broker started again: it serves the batch as it is on disk, and only the consumer's
CRC check can tell. Before: kafka-python raised ``CorruptRecordError`` at every poll, which
serve took for Kafka away (unready, for ever, nothing dead-lettered); librdkafka, which
checks no CRC by default, handed out the flipped event as if it were the one produced
(a digit changed, predicted silently) or, a length flipped, fetched the batch again and
again: its partition stalled for good, serve ready and its log silent.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stream_al.io.stalled import UNSERVED_S
from tests.integration.conftest import ROOT, Broker, committed_offset
from tests.integration.deployment import BACKENDS, Deployment, Proc, wait_for

BATCH = 10  # events per batch: three batches, offsets 0-9, 10-19 (corrupted), 20-29
HEADER = 61  # bytes of a record batch's header (message format 2) before its records
LAST_OFFSET_DELTA = 23  # where the header's last offset (from its base offset) is, an int32


def _event(i: int, label: bool = False) -> tuple[str, str]:
    event = {"id": f"e{i}", "features": {"x": float(i), "city": "abcdefgh"}}
    return f"e{i}", json.dumps({**event, "label": "yes" if i % 2 else "no"} if label else event)


def _batches(segment: Path) -> Iterator[tuple[int, int, int]]:
    """``(position, base offset, length)`` of each record batch of a log segment."""
    data, position = segment.read_bytes(), 0
    while position + HEADER <= len(data):
        base, length = struct.unpack_from(">qi", data, position)
        yield position, base, length
        position += 12 + length


def corrupt(broker: Broker, topic: str, base_offset: int, where: str) -> None:
    """Flip one byte of the record batch at ``base_offset`` of partition 0 of ``topic``, the
    broker stopped meanwhile: in a record's value (``value``: still JSON, another number),
    its length (``length``: the records no longer parse), the header's last offset
    (``last offset``: 9 to 73 after the base, which the broker's lookup of an offset
    trusts: it answers a fetch of the next batch's offsets with the corrupt batch first)
    or its base offset, which no CRC covers (``base offset up``: 10 to 74, past the
    partition's end; ``base offset down``: 10 to 2, whose offsets 2-9 kafka-python took
    for offsets before the one it fetched and skipped)."""
    broker.stop()
    try:
        [segment] = (ROOT / ".services" / "kafka" / "data" / f"{topic}-0").glob("*.log")
        [(position, _, length)] = [b for b in _batches(segment) if b[1] == base_offset]
        data = bytearray(segment.read_bytes())
        records = position + HEADER, position + 12 + length
        if where == "last offset":
            data[position + LAST_OFFSET_DELTA + 3] ^= 0x40  # its low byte: 9 -> 73
        elif where == "batch length":  # before the CRC too: 2**30 more, past the segment
            data[position + 8] ^= 0x40
        elif where.startswith("base offset"):
            data[position + 7] ^= 0x40 if where == "base offset up" else 0x08  # its low byte
        elif where == "value":
            digit = data.index(b'"x": %d.0' % (base_offset + 4), *records) + len('"x": ')
            data[digit] ^= 0x01  # 4 -> 5: the event still reads, with another value
        else:
            data[records[0]] ^= 0x7F  # the first record's length (a varint)
        segment.write_bytes(bytes(data))
    finally:
        broker.start()


def committed(deployment: Deployment) -> int | None:
    return committed_offset(deployment.bootstrap, deployment.group, deployment.events_topic)


def predicted(deployment: Deployment) -> list[str]:
    return [p["id"] for p in deployment.predictions()]


def dead_lettered_offsets(deployment: Deployment) -> list[int]:
    """The offsets each dead letter names: its source's, to the end of the range its reason
    names (``the events at offsets 10-19 (10) are ...``)."""
    out: list[int] = []
    for letter in deployment.dead_letters():
        first = int(letter["source"].rsplit(":", 1)[1])
        named = re.match(r"the events at offsets (\d+)-(\d+) ", letter["error"])
        last = int(named.group(2)) if named else first
        assert not named or int(named.group(1)) == first, letter
        out.extend(range(first, last + 1))
    return out


CASES = [
    ("kafka-python", "value", "earliest"),
    ("kafka-python", "length", "earliest"),
    ("kafka-python", "last offset", "earliest"),
    ("kafka-python", "base offset up", "earliest"),
    ("kafka-python", "base offset down", "earliest"),
    ("confluent", "value", "earliest"),
    ("confluent", "length", "earliest"),
    ("confluent", "base offset up", "earliest"),
    # librdkafka misreads the rest of a corrupt batch and resets its position to
    # auto.offset.reset: latest would jump past the events after it
    ("confluent", "value", "latest"),
]


@pytest.mark.parametrize(("backend", "where", "reset"), CASES)
def test_a_corrupt_batch_on_the_brokers_disk_is_dead_lettered_and_serve_goes_on(
    deployment: Deployment, broker: Broker, where: str, reset: str
) -> None:
    serve = deployment.serve()
    deployment.produce_raw([_event(i) for i in range(BATCH)])
    wait_for(lambda: committed(deployment) == BATCH, 30, what="the first batch committed")
    assert serve.terminate() == 0, serve.output()[-3000:]
    for first in (BATCH, 2 * BATCH):  # two more batches, one produce (and flush) each
        deployment.produce_raw([_event(i) for i in range(first, first + BATCH)])
    corrupt(broker, deployment.events_topic, BATCH, where)

    serve = deployment.serve(STREAM_AL_KAFKA__AUTO_OFFSET_RESET=reset)
    wait_for(lambda: committed(deployment) == 3 * BATCH, 60, what="every offset committed")
    good = [f"e{i}" for i in (*range(BATCH), *range(2 * BATCH, 3 * BATCH))]
    assert predicted(deployment) == good  # none of the corrupt batch, nothing else lost
    assert dead_lettered_offsets(deployment) == list(range(BATCH, 2 * BATCH))
    for letter in deployment.dead_letters():
        if where.startswith("base offset"):
            assert "damaged base offset" in letter["error"], letter
        else:
            assert "corrupt record batch" in letter["error"], letter
            assert "CRC mismatch" in letter["error"], letter
    assert serve.ready(), serve.readyz()
    assert "not read, dead-lettered; serve goes on after it" in serve.output()

    restarts_cleanly(deployment, serve)


def restarts_cleanly(deployment: Deployment, serve: Proc) -> None:
    """``serve`` stops cleanly; a new one goes on after the last offset: its next event is
    predicted, nothing is dead-lettered or predicted again."""
    assert serve.terminate() == 0, serve.output()[-3000:]
    letters, predictions = len(deployment.dead_letters()), len(predicted(deployment))
    again = deployment.serve()
    deployment.produce_raw([_event(99)])
    wait_for(lambda: "e99" in predicted(deployment), 30, what="the event after a restart")
    assert len(deployment.dead_letters()) == letters
    assert len(predicted(deployment)) == predictions + 1
    assert again.alive() and again.terminate() == 0, again.output()[-3000:]


@pytest.mark.parametrize("backend", ["kafka-python", "confluent"])
def test_a_base_offset_damaged_upward_within_the_partition_is_dead_lettered(
    deployment: Deployment, broker: Broker
) -> None:
    """10 -> 74 in a partition of 100 events: offsets the partition has, so only the step
    back to 20 after them tells (confluent: librdkafka hands out messages; kafka-python's
    check sees the batches). Before, confluent handed events 10-19 out as 74-83, then
    20-99: all 100 predicted, events 10-19 under offsets 74-83, which came twice."""
    serve = deployment.serve()
    deployment.produce_raw([_event(i) for i in range(BATCH)])
    wait_for(lambda: committed(deployment) == BATCH, 30, what="the first batch committed")
    assert serve.terminate() == 0, serve.output()[-3000:]
    for first in range(BATCH, 10 * BATCH, BATCH):
        deployment.produce_raw([_event(i) for i in range(first, first + BATCH)])
    corrupt(broker, deployment.events_topic, BATCH, "base offset up")

    serve = deployment.serve()
    wait_for(lambda: committed(deployment) == 10 * BATCH, 60, what="every offset committed")
    assert predicted(deployment) == [f"e{i}" for i in range(100) if not BATCH <= i < 2 * BATCH]
    assert dead_lettered_offsets(deployment) == list(range(BATCH, 2 * BATCH))
    assert all("damaged base offset" in d["error"] for d in deployment.dead_letters())
    restarts_cleanly(deployment, serve)


@pytest.mark.parametrize("backend", ["confluent"])
def test_a_base_offset_damaged_lower_is_said_on_confluent(
    deployment: Deployment, broker: Broker
) -> None:
    """librdkafka drops the records of an answer below the offset it fetched, so a batch
    whose base offset says 2 (10 -> 2), fetched from 10, loses its events 10-17 and hands
    out 18 and 19 as offsets 10 and 11 (measured); the records are not at hand to
    dead-letter. The gap they leave, 12-19, is said. Before, nothing was."""
    serve = deployment.serve()
    deployment.produce_raw([_event(i) for i in range(BATCH)])
    wait_for(lambda: committed(deployment) == BATCH, 30, what="the first batch committed")
    assert serve.terminate() == 0, serve.output()[-3000:]
    for first in (BATCH, 2 * BATCH):
        deployment.produce_raw([_event(i) for i in range(first, first + BATCH)])
    corrupt(broker, deployment.events_topic, BATCH, "base offset down")

    serve = deployment.serve()
    wait_for(lambda: committed(deployment) == 3 * BATCH, 60, what="every offset committed")
    lost = range(BATCH, 2 * BATCH - 2)
    assert predicted(deployment) == [f"e{i}" for i in range(3 * BATCH) if i not in lost]
    said = f"{deployment.events_topic}:0: offsets 12-19 (8) were not handed out by librdkafka"
    assert said in serve.output()
    assert "a record batch whose base offset is damaged" in serve.output()
    restarts_cleanly(deployment, serve)


@pytest.mark.parametrize("where", ["value", "length"])
def test_a_corrupt_batch_in_a_warm_start_topic_is_skipped_and_said(
    deployment: Deployment, broker: Broker, kafka_topic: Callable[..., str], where: str
) -> None:
    """serve's warm start reads its topic with kafka-python on either backend: the corrupt
    batch is skipped and said, the rest learned. Before, the read stopped at it with
    ``CorruptRecordError``: serve exited at start, again at every restart."""
    history = kafka_topic(partitions=1, prefix="history")
    saved, deployment.events_topic = deployment.events_topic, history
    for first in (0, BATCH, 2 * BATCH):
        deployment.produce_raw([_event(i, label=True) for i in range(first, first + BATCH)])
    deployment.events_topic = saved
    corrupt(broker, history, BATCH, where)

    serve = deployment.serve(STREAM_AL_SERVICE__WARM_START=f"topic:{history}")
    out = serve.output()
    assert f"warm start from topic:{history}: {2 * BATCH} labeled examples, 1 skipped" in out
    assert f"{history}:0:{BATCH}: the events at offsets 10-19 (10) are in a corrupt" in out
    deployment.produce_raw([_event(99)])
    wait_for(lambda: "e99" in predicted(deployment), 30, what="an event after the warm start")
    assert serve.terminate() == 0, serve.output()[-3000:]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_damaged_batch_length_that_ends_what_the_broker_serves_is_said_and_counted(
    deployment: Deployment, broker: Broker
) -> None:
    """A batch's length (before its CRC) made longer than the segment: the broker starts,
    and its reading of the log stops there, so it answers every fetch from the batch on
    with nothing, the events already there and those produced after alike (measured). No
    consumer can read them; serve says so, on either backend, and counts the partition in
    ``stream_al_partitions_stalled`` (its lag is small and constant: no lag alert fires),
    instead of waiting without a word. Before, only kafka-python's serve said it, in its
    log alone; confluent's, which had handed out no message of the partition, did not
    report it even in its lag."""
    serve = deployment.serve()
    deployment.produce_raw([_event(i) for i in range(BATCH)])
    wait_for(lambda: committed(deployment) == BATCH, 30, what="the first batch committed")
    assert serve.terminate() == 0, serve.output()[-3000:]
    deployment.produce_raw([_event(i) for i in range(BATCH, 2 * BATCH)])
    corrupt(broker, deployment.events_topic, BATCH, "batch length")

    serve = deployment.serve()
    deployment.produce_raw([_event(99)])  # after the damage: not served either
    said = f"{deployment.events_topic}:0: no event served from offset {BATCH} for"
    wait_for(lambda: said in serve.output(), UNSERVED_S + 30, what="the unserved partition said")
    assert "a record batch damaged in the broker's log" in serve.output()
    assert serve.output().count(said) == 1
    wait_for(
        lambda: serve.metric("stream_al_partitions_stalled") == 1, 10, what="the stall counted"
    )
    assert serve.metric("stream_al_consumer_lag_messages", partition="0") > 0
    assert predicted(deployment) == [f"e{i}" for i in range(BATCH)]
    assert serve.alive() and serve.terminate() == 0, serve.output()[-3000:]
