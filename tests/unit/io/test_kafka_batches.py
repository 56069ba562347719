"""kafka-python's record batches inflated within a bound (stream_al.io.kafka_batches)."""

from __future__ import annotations

import gzip
import logging

import kafka.record.memory_records as memory_records
import pytest
from kafka.record.default_records import DefaultRecordBatch

from stream_al.io import kafka_batches


def test_the_installed_kafka_python_is_laid_out_as_the_bound_expects() -> None:
    # A kafka-python release that moves what the bound replaces fails here, in CI, before
    # a user meets a batch read unbounded (install() would only warn).
    assert kafka_batches._known_layout()
    assert kafka_batches.install()
    assert memory_records.DefaultRecordBatch is kafka_batches._BoundedBatch


def test_a_kafka_python_laid_out_otherwise_is_left_as_it_is_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(memory_records, "DefaultRecordBatch", DefaultRecordBatch)
    monkeypatch.setattr(DefaultRecordBatch, "__slots__", ("_buffer", "_header_data"))
    with caplog.at_level(logging.WARNING, logger=kafka_batches.__name__):
        assert not kafka_batches.install()
    assert memory_records.DefaultRecordBatch is DefaultRecordBatch
    assert "inflate unbounded" in caplog.text


@pytest.mark.parametrize("codec", ["gzip", "zstd", "lz4", "snappy"])
def test_each_codec_inflates_within_the_bound_and_stops_past_it(codec: str) -> None:
    import kafka.codec as codecs

    data = b"x" * 5_000
    number = {
        "gzip": DefaultRecordBatch.CODEC_GZIP,
        "zstd": DefaultRecordBatch.CODEC_ZSTD,
        "lz4": DefaultRecordBatch.CODEC_LZ4,
        "snappy": DefaultRecordBatch.CODEC_SNAPPY,
    }[codec]
    packed = {
        "gzip": gzip.compress,
        "zstd": codecs.zstd_encode,
        "lz4": codecs.lz4_encode,
        "snappy": codecs.snappy_encode,
    }[codec](data)
    assert bytes(kafka_batches.inflate(number, memoryview(packed), len(data))) == data
    with pytest.raises(OverflowError):
        kafka_batches.inflate(number, memoryview(packed), len(data) - 1)


def _batch(base_offset: int, events: int) -> bytearray:
    """A record batch (message format 2, uncompressed) of ``events`` small records."""
    from kafka.record.default_records import DefaultRecordBatchBuilder

    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=False,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    for i in range(events):
        builder.append(i, timestamp=1, key=None, value=b'{"x": %d}' % i, headers=[])
    data = builder.build()
    data[:8] = base_offset.to_bytes(8, "big")  # the base offset precedes the CRC
    return data


def test_a_batch_whose_crc_fails_names_its_offsets() -> None:
    data = _batch(10, 5)
    assert kafka_batches._BoundedBatch(bytearray(data)).validate_crc()
    data[-3] ^= 0x01  # a digit of the last record's value
    with pytest.raises(kafka_batches.BatchCorrupt) as caught:
        kafka_batches._BoundedBatch(data).validate_crc()
    assert (caught.value.base_offset, caught.value.last_offset) == (10, 14)
    assert caught.value.reason(12).startswith("the events at offsets 12-14 (3) are in a corrupt")


def test_a_corrupt_batch_whose_header_counts_disagree_goes_one_offset_at_a_time() -> None:
    # The CRC covers the header's last offset delta and record count: a damaged one is not
    # taken for the batch's extent.
    data = _batch(10, 5)
    data[60] ^= 0x01  # the record count (the header's last byte): 5 -> 4
    with pytest.raises(kafka_batches.BatchCorrupt) as caught:
        kafka_batches._BoundedBatch(data).validate_crc()
    assert caught.value.last(10) == 10 and caught.value.last(12) == 12
    assert caught.value.reason(12).startswith("the event at offset 12 is in a corrupt")


def test_a_corrupt_batch_whose_counts_disagree_ends_where_the_answers_next_batch_begins() -> None:
    # The broker framed the batches: the next one, whole and passing its check, bounds it.
    assert kafka_batches.install()
    first, second = _batch(10, 5), _batch(15, 5)
    first[26] ^= 0x40  # the last offset delta's low byte: 4 -> 68 (the count stays 5)
    answer = kafka_batches._Answer(bytes(first + second))
    with pytest.raises(kafka_batches.BatchCorrupt) as caught:
        answer.next_batch().validate_crc()
    assert (caught.value.last_offset, caught.value.rest) == (14, answer)
    assert answer.next_batch().base_offset == 15  # where the reading goes on


@pytest.mark.parametrize(
    ("batches", "start", "end", "expected"),
    [
        ([(0, 4), (5, 4), (10, 4)], 0, 15, {}),  # all in place
        ([(0, 4), (69, 4), (10, 4)], 0, 15, {1: (5, 9)}),  # between two in place
        ([(5, 4), (1, 4), (15, 4)], 5, 20, {1: (10, 14)}),  # 10 -> 1: offsets 1-4 earlier
        ([(1, 4), (10, 4)], 5, 15, {0: (5, 9)}),  # first, its offsets 1-4 skipped before
        ([(5, 4), (2, 4)], 5, 15, {1: (10, 14)}),  # last, overlapping the one before
        ([(5, 4), (7, 4)], 7, None, {}),  # fetched in a batch, a break, no end: not decided
        ([(0, 4), (20, 4)], 0, 25, {}),  # a gap, both ends in place: neither moved
    ],
)
def test_a_batch_whose_base_offset_breaks_with_its_neighbours_is_misplaced(
    batches: list[tuple[int, int]],
    start: int,
    end: int | None,
    expected: dict[int, tuple[int, int]],
) -> None:
    assert kafka_batches.misplaced(batches, start, end) == expected


@pytest.mark.parametrize(
    ("batches", "start", "end", "expected"),
    [
        ([(0, 4), (20, 4)], 0, 30, {}),  # compaction took 5-19: a gap, no damage
        ([(1, 4), (10, 4)], 5, 15, {}),  # 5 -> 1 looks like a gap before 10 there
        ([(0, 4), (69, 4), (10, 4)], 0, 15, {1: (5, 9)}),  # past the end: in no topic
        ([(5, 4), (2, 4)], 5, 15, {1: (10, 14)}),  # overlapping the one before: in none
    ],
)
def test_in_a_topic_that_may_be_compacted_only_offsets_no_topic_holds_are_misplaced(
    batches: list[tuple[int, int]],
    start: int,
    end: int,
    expected: dict[int, tuple[int, int]],
) -> None:
    # An events topic with cleanup.policy=compact loses whole batches: the gaps they leave
    # had the good events after them dead-lettered as a damaged base offset.
    assert kafka_batches.misplaced(batches, start, end, gaps=True) == expected
