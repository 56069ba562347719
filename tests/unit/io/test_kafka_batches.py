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
