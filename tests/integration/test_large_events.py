"""Compressed batches of events that inflate beyond what serve reads, on the real broker
and both backends: dead-lettered with a reason, their offsets committed, and serve goes on,
in bounded memory, and starts again cleanly.

A gzip or zstd batch of a few kilobytes may hold 100 MB of spaces. kafka-python inflated
it whole and copied it twice more (serve's peak grew by three times its size: 900 MB for
300 MB, an end for a replica with a memory limit, and again at every restart); librdkafka
refuses a zstd one beyond its ``receive.message.max.bytes`` and fetched it again, for ever:
the partition stalled behind it, and again after a restart.

The batches are built here in pieces and sent as they are (a Produce request of one batch),
so that the test itself never holds what they inflate to.
"""

from __future__ import annotations

import json
import struct
import time
import zlib
from pathlib import Path

import pytest
from kafka.client_async import KafkaClient
from kafka.protocol.produce import ProduceRequest
from kafka.record.util import calc_crc32c, encode_varint

from stream_al.io.base import MAX_BATCH_BYTES
from tests.integration.conftest import committed_offset
from tests.integration.deployment import Deployment, Proc, wait_for

CODECS = {"gzip": 1, "zstd": 4}  # a record batch's compression attribute


def _varint(n: int) -> bytes:
    out = bytearray()
    encode_varint(n, out.append)
    return bytes(out)


def inflating_batch(codec: str, event_id: str, size: int) -> bytes:
    """A record batch (message format 2) of one event ``event_id`` whose value takes
    ``size`` bytes, nearly all spaces, compressed with ``codec`` as it is built: it never
    takes ``size`` bytes here."""
    if codec == "gzip":
        compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    else:
        import zstandard

        compressor = zstandard.ZstdCompressor().compressobj()
    head = json.dumps({"id": event_id, "features": {"x": ""}})[:-3].encode()
    tail = b'"}}'
    key = event_id.encode()
    # A record: attributes, timestamp delta, offset delta, key, value, no headers.
    fields = b"\0" + _varint(0) + _varint(0) + _varint(len(key)) + key + _varint(size)
    parts = [compressor.compress(_varint(len(fields) + size + 1) + fields + head)]
    spaces = size - len(head) - len(tail)
    chunk = b" " * (1 << 20)
    for _ in range(spaces // len(chunk)):
        parts.append(compressor.compress(chunk))
    parts.append(compressor.compress(b" " * (spaces % len(chunk)) + tail + _varint(0)))
    parts.append(compressor.flush())
    records = b"".join(parts)
    now = int(time.time() * 1000)
    # attributes, last offset delta, first and last timestamp, no producer id, epoch or
    # sequence, one record
    after_crc = struct.pack(">hiqqqhii", CODECS[codec], 0, now, now, -1, -1, -1, 1) + records
    # base offset, length after it, partition leader epoch, magic 2, CRC-32C
    header = struct.pack(">qiibI", 0, 4 + 1 + 4 + len(after_crc), -1, 2, calc_crc32c(after_crc))
    return header + after_crc


def produce_batch(deployment: Deployment, batch: bytes) -> None:
    """Send ``batch`` as it is to partition 0 of the events topic (Produce v7: a broker
    takes zstd from v7 on)."""
    client = KafkaClient(bootstrap_servers=deployment.bootstrap, api_version_auto_timeout_ms=20_000)
    try:
        node = wait_for(client.least_loaded_node, 30, what="a broker")
        deadline = time.monotonic() + 30
        while not client.ready(node):
            assert time.monotonic() < deadline, "no connection to the broker"
            client.poll(timeout_ms=100)
        request = ProduceRequest[7](None, -1, 30_000, [(deployment.events_topic, [(0, batch)])])
        future = client.send(node, request)
        client.poll(future=future, timeout_ms=30_000)
        assert future.succeeded(), future.exception
        [(_, [(_, error_code, *_)])] = future.value.topics
        assert error_code == 0, f"the broker refused the batch: error {error_code}"
    finally:
        client.close()


def _good(i: int) -> tuple[str, str]:
    return f"g{i}", json.dumps({"id": f"g{i}", "features": {"x": float(i)}})


def peak_rss_mb(proc: Proc) -> float:
    """The process's resident memory at its peak so far (VmHWM), in MiB."""
    for line in Path(f"/proc/{proc.popen.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def committed(deployment: Deployment) -> int | None:
    return committed_offset(deployment.bootstrap, deployment.group, deployment.events_topic)


def predicted(deployment: Deployment) -> set[str]:
    return {p["id"] for p in deployment.predictions()}


def restarts_cleanly(deployment: Deployment, serve: Proc, next_offset: int) -> None:
    """``serve`` stops (exit 0) with every offset up to ``next_offset`` committed; a new one
    goes on after it: the event it is given is predicted, and nothing dead-lettered again."""
    wait_for(lambda: committed(deployment) == next_offset, 30, what="the offsets committed")
    assert serve.terminate() == 0, serve.output()[-3000:]
    dead = len(deployment.dead_letters())
    again = deployment.serve()
    deployment.produce_raw([_good(9)])
    wait_for(lambda: "g9" in predicted(deployment), 30, what="the event after a restart")
    assert len(deployment.dead_letters()) == dead
    assert again.alive() and again.terminate() == 0, again.output()[-3000:]


CASES = [("kafka-python", "gzip"), ("kafka-python", "zstd"), ("confluent", "zstd")]


@pytest.mark.parametrize(("backend", "codec"), CASES)
def test_a_batch_inflating_beyond_what_serve_reads_is_dead_lettered_unread(
    deployment: Deployment, codec: str
) -> None:
    serve = deployment.serve()
    deployment.produce_raw([_good(1)])
    wait_for(lambda: "g1" in predicted(deployment), 30, what="a first event")
    before = peak_rss_mb(serve)
    produce_batch(deployment, inflating_batch(codec, "bomb", MAX_BATCH_BYTES + (8 << 20)))
    deployment.produce_raw([_good(2)])
    wait_for(lambda: "g2" in predicted(deployment), 30, what="the event after the batch")
    # Inflated no further than the bound, once (kafka-python's copies made it three times).
    grown = peak_rss_mb(serve) - before
    assert grown < 1.5 * MAX_BATCH_BYTES / 2**20, f"serve's peak grew by {grown:.0f} MiB"
    [letter] = deployment.dead_letters()
    assert letter["source"] == f"{deployment.events_topic}:0:1"
    assert f"more than {MAX_BATCH_BYTES:,} bytes" in letter["error"], letter["error"]
    assert codec in letter["error"] or deployment.backend == "confluent", letter["error"]
    assert serve.ready(), serve.readyz()
    restarts_cleanly(deployment, serve, 3)
