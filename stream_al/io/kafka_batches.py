"""Compressed record batches read by kafka-python within a bound.

kafka-python inflates a compressed record batch whole, copies it, and copies each record's
value out of it: a gzip batch is at most the topic's ``max.message.bytes`` (1 MB by
default) but may inflate a thousand times (spaces, zeros), and zstd far more. Such a batch
took several times its inflated size in serve (docs/design.md, Service, "A batch that
inflates beyond a bound"), enough to end a replica with a memory limit, and again at every
restart, its offset never committed.

:func:`install` has kafka-python read record batches with :class:`_BoundedBatch`, whose
inflation stops past :data:`~stream_al.io.base.MAX_BATCH_BYTES` and raises
:class:`BatchTooLarge`, naming the batch's offsets;
:meth:`stream_al.io.kafka.EventSource.poll` dead-letters the batch
(:meth:`BatchTooLarge.reason`) and goes on past it. librdkafka (the confluent backend)
bounds zstd and lz4 batches by the same number (its ``receive.message.max.bytes``), not
gzip.

A record batch whose CRC-32C check fails (the bytes the broker holds are not those the
producer wrote: a bad disk, a torn write) raises :class:`BatchCorrupt` the same way.
kafka-python raised its own ``CorruptRecordError`` from the partition's records in hand,
which serve took for Kafka away: it waited for ever, unready, the partition never fetched
again (docs/design.md, Faults, "A record batch that fails its CRC check").

Each partition's part of a fetch answer is read as an :class:`_Answer`, which its batches
know: a batch not read carries the rest of the answer (:attr:`BatchUnread.rest`), from
which the reading goes on, so the batches after it are not fetched again. The broker
answers a fetch from the first batch whose header's last offset reaches the offset asked
for: a corrupt batch whose last offset was damaged (larger) came first in the answer to
every fetch of the offsets after it, and those good events were dead-lettered with it.

A batch's base offset is before its CRC, checked by no client: a byte damaged there had
kafka-python hand the batch's events out under offsets they do not have, or skip them as
before the offset it fetched. A consumer given to :func:`check_offsets` (serve's) checks
each answer's base offsets against each other, the offset fetched and the partition's high
watermark (:func:`misplaced`; in a topic that may be compacted, only for offsets no topic
can hold), and a batch that does not fit raises :class:`BatchMisplaced`, naming the
offsets its events have.
"""

from __future__ import annotations

import io
import logging
import struct
import zlib
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any

import kafka.codec as kafka_codecs
import kafka.consumer.fetcher as fetcher_module
import kafka.record.memory_records as memory_records
from kafka.record.default_records import DefaultRecordBatch
from kafka.record.memory_records import MemoryRecords
from kafka.version import __version__ as kafka_version

from stream_al.io.base import MAX_BATCH_BYTES

__all__ = [
    "BatchCorrupt",
    "BatchMisplaced",
    "BatchTooLarge",
    "BatchUnread",
    "check_offsets",
    "inflate",
    "install",
    "misplaced",
]

log = logging.getLogger(__name__)

# The offset fetched, the partition's high watermark and whether its topic may have gaps
# (compacted) of the fetch answer kafka-python is parsing, for a consumer whose answers
# are checked (check_offsets), else None.
_FETCH: ContextVar[tuple[int, int | None, bool] | None] = ContextVar("_FETCH", default=None)

_CHUNK = 1 << 20
# A record batch's header (message format 2): its size, and where its magic byte and its
# last offset delta are.
_HEADER = DefaultRecordBatch.HEADER_STRUCT.size
_MAGIC = MemoryRecords.MAGIC_OFFSET
_LAST_OFFSET_DELTA = struct.calcsize(">qiibIh")
_CODECS = {
    DefaultRecordBatch.CODEC_GZIP: "gzip",
    DefaultRecordBatch.CODEC_SNAPPY: "snappy",
    DefaultRecordBatch.CODEC_LZ4: "lz4",
    DefaultRecordBatch.CODEC_ZSTD: "zstd",
}


def _events(first: int, last: int) -> str:
    """The events of offsets ``first`` to ``last``, as a dead letter's reason names them.

    >>> _events(4, 4), _events(4, 6)
    ('the event at offset 4 is', 'the events at offsets 4-6 (3) are')
    """
    if first >= last:
        return f"the event at offset {first} is"
    return f"the events at offsets {first}-{last} ({last - first + 1:,}) are"


class BatchUnread(Exception):
    """A record batch the consumer does not read, from ``base_offset`` to ``last_offset``
    (None: not known): its events are dead-lettered with :meth:`reason`, and the partition
    goes on after it, from ``rest`` (the answer's batches after it, an :class:`_Answer`)
    when it is known."""

    base_offset: int
    last_offset: int | None
    rest: Any = None

    def last(self, first: int) -> int:
        """The last offset not read when the events from ``first`` on are not: the batch's
        last (below ``first`` when the batch is behind it), or ``first`` alone when the
        batch's extent is not known.

        >>> BatchTooLarge(4, 6, "gzip", 1, 1).last(5), BatchCorrupt(4, 6, 0, 1).last(5)
        (6, 5)
        """
        return first if self.last_offset is None else self.last_offset

    def reason(self, first: int) -> str:
        """The dead letter's reason for the batch's events from offset ``first`` on."""
        raise NotImplementedError


class BatchTooLarge(BatchUnread):
    """A compressed record batch that inflates to more than ``limit`` bytes: not read."""

    last_offset: int

    def __init__(
        self,
        base_offset: int,
        last_offset: int,
        codec: str,
        compressed: int,
        limit: int,
        rest: Any = None,
    ) -> None:
        super().__init__(
            f"record batch at offsets {base_offset}-{last_offset} ({codec}, {compressed:,} "
            f"bytes) inflates to more than {limit:,} bytes"
        )
        self.base_offset = base_offset
        self.last_offset = last_offset
        self.codec = codec
        self.compressed = compressed
        self.limit = limit
        self.rest = rest

    def reason(self, first: int) -> str:
        """The dead letter's reason for the batch's events from offset ``first`` on.

        >>> print(BatchTooLarge(4, 6, "gzip", 1_000, 100).reason(5))  # doctest: +ELLIPSIS
        the events at offsets 5-6 (2) are in a gzip record batch of 1,000 bytes that ...
        >>> print(BatchTooLarge(4, 4, "zstd", 1_000, 100).reason(4))  # doctest: +ELLIPSIS
        the event at offset 4 is in a zstd record batch of 1,000 bytes that inflates to ...
        """
        return (
            f"{_events(first, self.last_offset)} in a {self.codec} record batch of "
            f"{self.compressed:,} bytes that inflates to more than {self.limit:,} bytes: not "
            "read (an event may have max_event_bytes; the producer of these events compresses "
            "far more than events take)"
        )


class BatchCorrupt(BatchUnread):
    """A record batch whose CRC-32C check fails: its bytes are not those the producer
    wrote (a bad disk under the broker, a torn write, a bit flipped on the way). Not read.

    The CRC covers the batch's header after it, its offsets among them: ``last_offset`` is
    the header's only when its two counts agree (a record per offset: events topics are
    not compacted), else the offset before ``next_base``, the next batch's in the broker's
    answer (the broker framed the batches by their lengths, and the next one passed its
    check), else not known: the events are then dead-lettered one offset at a time (each
    read again fails the check, and names the next offset not read).
    """

    def __init__(
        self,
        base_offset: int,
        last_offset_delta: int,
        records: int,
        size: int,
        rest: Any = None,
        next_base: int | None = None,
    ) -> None:
        consistent = last_offset_delta >= 0 and records == last_offset_delta + 1
        self.base_offset = base_offset
        self.last_offset = base_offset + last_offset_delta if consistent else None
        if self.last_offset is None and next_base is not None and next_base > base_offset:
            self.last_offset = next_base - 1
        self.size = size
        self.rest = rest
        super().__init__(
            f"record batch at offset {base_offset} ({size:,} bytes) fails its CRC-32C check"
        )

    def reason(self, first: int) -> str:
        """The dead letter's reason for the batch's events from offset ``first`` on.

        >>> print(BatchCorrupt(10, 9, 10, 709).reason(10))  # doctest: +ELLIPSIS
        the events at offsets 10-19 (10) are in a corrupt record batch of 709 bytes (at ...
        >>> print(BatchCorrupt(10, 9, 0, 709).reason(12))  # doctest: +ELLIPSIS
        the event at offset 12 is in a corrupt record batch of 709 bytes (at offset 10): ...
        >>> print(BatchCorrupt(10, 73, 10, 709, next_base=20).reason(10))  # doctest: +ELLIPSIS
        the events at offsets 10-19 (10) are in a corrupt record batch of 709 bytes (at ...
        """
        return (
            f"{_events(first, self.last(first))} in a corrupt record batch of {self.size:,} "
            f"bytes (at offset {self.base_offset}): CRC mismatch, not read (the bytes the "
            "broker holds are not those the producer wrote: a bad disk or a torn write on "
            "the broker; send the events again if they matter)"
        )


class BatchMisplaced(BatchUnread):
    """A record batch whose header's base offset is not where the batches around it in the
    broker's answer put it: the offset is before the CRC, not covered by it, so a byte
    damaged there on the broker's disk went unseen, and kafka-python handed its events
    out under offsets they do not have (past the partition's end; or before the offset
    asked for, silently skipped). Not read: its events are those of offsets
    ``first``-``last`` (:func:`misplaced`), dead-lettered."""

    last_offset: int

    def __init__(self, header_base: int, first: int, last: int, rest: Any = None) -> None:
        super().__init__(
            f"record batch at offsets {first}-{last} says it begins at offset {header_base}"
        )
        self.base_offset = first
        self.last_offset = last
        self.header_base = header_base
        self.rest = rest

    def reason(self, first: int) -> str:
        """The dead letter's reason for the batch's events from offset ``first`` on.

        >>> print(BatchMisplaced(74, 10, 19).reason(10))  # doctest: +ELLIPSIS
        the events at offsets 10-19 (10) are in a record batch whose header says it ...
        """
        return (
            f"{_events(first, self.last_offset)} in a record batch whose header says it begins "
            f"at offset {self.header_base:,}, where the batches around it leave offsets "
            f"{self.base_offset}-{self.last_offset}: a damaged base offset (not covered by the "
            "batch's CRC: a bad disk or a torn write on the broker), not read (send the "
            "events again if they matter)"
        )


def misplaced(
    batches: Sequence[tuple[int, int]], start: int | None, end: int | None, gaps: bool = False
) -> dict[int, tuple[int, int]]:
    """The batches of a fetch answer whose header's base offset is damaged: index ->
    the offsets ``(first, last)`` its events have.

    ``batches`` are each batch's ``(base offset, last offset delta)``, in the answer's
    order; ``start`` is the offset fetched, ``end`` the partition's high watermark (None:
    not known). In a topic that is not compacted (events topics are not) each batch
    begins where the one before it ends, the first holds ``start`` and none passes
    ``end``. The last offset delta is under the CRC (checked before), the base offset is
    not. A batch's header is taken as right when it fits a neighbour, begins at
    ``start``, or, last, ends at ``end``; one that fits none of these and breaks with a
    neighbour taken as right, or that holds offsets past ``end`` (or, first, begins after
    ``start``), is misplaced, and its neighbour says where it lies (alone, it begins at
    ``start``). A break with no batch taken as right on either side is not decided (the
    records are handed out as the headers say, as before). With ``gaps`` (a topic that
    may be compacted, where whole batches go and leave gaps) only a batch whose header's
    offsets can be in no topic is misplaced: past ``end``, overlapping a neighbour, or
    ending before ``start``.

    >>> misplaced([(0, 9), (74, 9), (20, 9)], 0, 30)  # a flipped bit: 10 -> 74
    {1: (10, 19)}
    >>> misplaced([(2, 9), (20, 9)], 10, 30)  # 10 -> 2: offsets 2-9 would be skipped
    {0: (10, 19)}
    >>> misplaced([(10, 9), (20, 9)], 10, 30), misplaced([(10, 9)], 15, None)
    ({}, {})
    >>> misplaced([(2**62 + 20, 9)], 20, 30)  # alone: where the fetch began
    {0: (20, 29)}
    >>> misplaced([(0, 9), (20, 9)], 0, 40), misplaced([(0, 9), (20, 9)], 0, 40, gaps=True)
    ({1: (10, 19)}, {})
    """
    count = len(batches)
    last = [base + delta for base, delta in batches]

    def fits(i: int) -> bool:  # batch i begins where batch i - 1 ends
        return 0 < i < count and last[i - 1] + 1 == batches[i][0]

    def right(i: int) -> bool:
        return (
            fits(i)
            or fits(i + 1)
            or (i == 0 and batches[0][0] == start)
            or (i == count - 1 and end is not None and last[i] == end - 1)
        )

    def _possible(i: int) -> bool:  # in a compacted topic: no overlap, within the partition
        return not (
            (end is not None and last[i] >= end)
            or (i > 0 and batches[i][0] <= last[i - 1])
            or (i + 1 < count and last[i] >= batches[i + 1][0])
            or (i == 0 and start is not None and last[i] < start)
        )

    out: dict[int, tuple[int, int]] = {}
    for i, (base, delta) in enumerate(batches):
        if right(i):
            continue
        # offsets that cannot be: its neighbours are right (one batch damaged at a time)
        wrong = (end is not None and last[i] >= end) or (
            i == 0 and start is not None and base > start
        )
        if i > 0 and (wrong or right(i - 1)):
            first = last[i - 1] + 1
        elif i + 1 < count and (wrong or right(i + 1)):
            first = batches[i + 1][0] - delta - 1
        elif wrong and start is not None:  # alone in the answer
            first = start
        else:
            continue  # not decided
        if first != base and not (gaps and _possible(i)):
            out[i] = (first, first + delta)
    return out


def _stream(decompress: Any, data: bytes | memoryview, limit: int) -> bytearray:
    """Inflate with a zlib-style ``decompress(data, max_length)`` and ``unconsumed_tail``,
    stopping as soon as more than ``limit`` bytes came out (``OverflowError``)."""
    out = bytearray()
    while True:
        chunk = decompress.decompress(data, _CHUNK)
        out += chunk
        if len(out) > limit:
            raise OverflowError(limit)
        data = decompress.unconsumed_tail
        if decompress.eof or (not chunk and not data):
            return out


def _gunzip(data: memoryview, limit: int) -> bytearray:
    out = bytearray()
    rest: bytes | memoryview = data
    while rest:  # a gzip stream may be several members, one after the other
        member = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        out += _stream(member, rest, limit - len(out))
        if not member.eof:
            raise EOFError("the gzip stream ended before its end-of-stream marker")
        rest = member.unused_data
    return out


def _unzstd(data: memoryview, limit: int) -> bytearray:
    out = bytearray()
    decompressor = kafka_codecs.zstd.ZstdDecompressor()
    source = io.BytesIO(data)
    with decompressor.stream_reader(source, read_across_frames=True) as reader:
        while chunk := reader.read(_CHUNK):
            out += chunk
            if len(out) > limit:
                raise OverflowError(limit)
    return out


def _unlz4(data: memoryview, limit: int) -> bytearray:
    out = bytearray()
    decompressor = kafka_codecs.lz4.LZ4FrameDecompressor()
    rest: bytes | memoryview = data
    while not decompressor.eof:
        chunk = decompressor.decompress(rest, max_length=_CHUNK)
        rest = b""
        out += chunk
        if len(out) > limit:
            raise OverflowError(limit)
        if not chunk and decompressor.needs_input:
            raise EOFError("the lz4 frame ended before its end mark")
    return out


def inflate(codec: int, data: memoryview, limit: int) -> bytearray:
    """``data`` inflated with kafka-python's ``codec`` (a batch's compression type), or
    ``OverflowError`` as soon as that would be more than ``limit`` bytes.

    >>> import gzip
    >>> bytes(inflate(DefaultRecordBatch.CODEC_GZIP, memoryview(gzip.compress(b"ab")), 2))
    b'ab'
    >>> inflate(DefaultRecordBatch.CODEC_GZIP, memoryview(gzip.compress(b" " * 10**6)), 999)
    Traceback (most recent call last):
    OverflowError: 999
    """
    if codec == DefaultRecordBatch.CODEC_GZIP:
        return _gunzip(data, limit)
    if codec == DefaultRecordBatch.CODEC_ZSTD:
        return _unzstd(data, limit)
    if codec == DefaultRecordBatch.CODEC_LZ4:
        return _unlz4(data, limit)
    # snappy: kafka-python's own decoder, the bound checked after (snappy inflates about
    # twenty times at most: far less than gzip or zstd).
    out = bytearray(kafka_codecs.snappy_decode(bytes(data)))
    if len(out) > limit:
        raise OverflowError(limit)
    return out


class _BoundedBatch(DefaultRecordBatch):
    """kafka-python's record batch (message format 2), inflated within
    :data:`~stream_al.io.base.MAX_BATCH_BYTES`, and without the copy of the inflated bytes
    it made; ``answer`` is the :class:`_Answer` it came in (None: made otherwise). (No
    ``__slots__ = ()``: mypy does not see the slots of a class it cannot read, and a
    ``__dict__`` per batch costs little.)"""

    # kafka-python's own fields (its slots), as this class uses them
    _buffer: bytearray
    _pos: int
    _decompressed: bool
    answer: _Answer | None = None
    index = -1  # its place in the answer

    def validate_crc(self) -> bool:
        """True, or :class:`BatchCorrupt` naming the batch (kafka-python's own
        ``CorruptRecordError`` names its base offset only, and leaves its partition's
        records spent: see :meth:`stream_al.io.kafka.EventSource.poll`), or
        :class:`BatchMisplaced` when its answer is checked and its base offset is not
        where the answer's other batches put it (kafka-python checks no offsets)."""
        if not super().validate_crc():
            following = None if self.answer is None else self.answer.next_base()
            raise BatchCorrupt(
                self.base_offset,
                self.last_offset_delta,
                self.records_count,
                self.size_in_bytes,
                rest=self.answer,
                next_base=following,
            )
        where = None if self.answer is None else self.answer.misplaced_at(self.index)
        if where is not None:
            raise BatchMisplaced(self.base_offset, *where, rest=self.answer)
        return True

    def _maybe_uncompress(self) -> None:
        if not self._decompressed and self.compression_type != self.CODEC_NONE:
            self._assert_has_codec(self.compression_type)
            data = memoryview(self._buffer)[self._pos :]
            try:
                self._buffer = inflate(self.compression_type, data, MAX_BATCH_BYTES)
            except OverflowError:
                raise BatchTooLarge(
                    self.base_offset,
                    self.last_offset,
                    _CODECS.get(self.compression_type, str(self.compression_type)),
                    len(data),
                    MAX_BATCH_BYTES,
                    rest=self.answer,
                ) from None
            finally:
                data.release()
            self._pos = 0
        self._decompressed = True


class _Answer(MemoryRecords):
    """A partition's records in a fetch answer, as kafka-python reads them, whose batches
    know it (:attr:`_BoundedBatch.answer`): the reading may go on after a batch not read
    (:attr:`BatchUnread.rest`). Made by kafka-python's fetcher (see :func:`install`);
    ``fetched`` is the offset fetched, the high watermark and whether the topic may have
    gaps when its consumer's answers are checked (:func:`check_offsets`), else None."""

    __slots__ = ("_made", "_misplaced", "fetched")
    _buffer: bytes  # kafka-python's: the answer's bytes
    _next_slice: memoryview | None  # kafka-python's: the next batch's bytes, or None

    def __init__(self, bytes_data: bytes) -> None:
        super().__init__(bytes_data)
        self.fetched = _FETCH.get()
        self._made = 0
        self._misplaced: dict[int, tuple[int, int]] | None = None

    def next_batch(self, *args: Any, **kwargs: Any) -> Any:
        batch = super().next_batch(*args, **kwargs)
        if isinstance(batch, _BoundedBatch):
            batch.answer, batch.index = self, self._made
        self._made += batch is not None
        return batch

    def misplaced_at(self, index: int) -> tuple[int, int] | None:
        """The offsets of the events of the answer's batch ``index`` when its header's base
        offset is damaged (:func:`misplaced`); None when it is not, or not checked."""
        if self.fetched is None or index < 0:
            return None
        if self._misplaced is None:
            self._misplaced = misplaced(self._headers(), *self.fetched)
        return self._misplaced.get(index)

    def _headers(self) -> list[tuple[int, int]]:
        """``(base offset, last offset delta)`` of each whole batch, framed as kafka-python
        frames them; none when one is not of message format 2 (not checked)."""
        out, data, at = [], self._buffer, 0
        while at + MemoryRecords.LOG_OVERHEAD <= len(data):
            base, length = struct.unpack_from(">qi", data, at)
            if at + MemoryRecords.LOG_OVERHEAD + length > len(data):
                break
            if length < _HEADER - MemoryRecords.LOG_OVERHEAD or data[at + _MAGIC] != 2:
                return []
            out.append((base, struct.unpack_from(">i", data, at + _LAST_OFFSET_DELTA)[0]))
            at += MemoryRecords.LOG_OVERHEAD + length
        return out

    def next_base(self) -> int | None:
        """The base offset of the answer's next batch, when one follows whole (message
        format 2) and passes its CRC check; else None. Not iterated: the reading goes on
        from it.

        >>> _Answer(b"").next_base() is None
        True
        """
        following = self._next_slice
        if following is None or len(following) < _HEADER or following[_MAGIC] != 2:
            return None
        batch = DefaultRecordBatch(following)
        return int(batch.base_offset) if batch.validate_crc() else None


def _known_layout() -> bool:
    """Whether kafka-python is laid out as :class:`_BoundedBatch` and
    :meth:`stream_al.io.kafka.EventSource.poll` expect (2.3): its batch inflated in
    ``_maybe_uncompress`` from ``_buffer`` at ``_pos``, the batches made in
    ``memory_records``, the fetcher's partition records in hand in
    ``_next_partition_records``, their answer made in ``fetcher`` as a ``MemoryRecords``
    that keeps its next batch's bytes in ``_next_slice``, and read by the partition
    records' ``_unpack_records`` generator from ``record_iterator``."""
    partition_records = getattr(fetcher_module.Fetcher, "PartitionRecords", None)
    slots = getattr(DefaultRecordBatch, "__slots__", ())
    return (
        callable(getattr(DefaultRecordBatch, "_maybe_uncompress", None))
        and callable(getattr(DefaultRecordBatch, "validate_crc", None))
        and all(
            isinstance(getattr(DefaultRecordBatch, name, None), property)
            for name in ("last_offset_delta", "records_count", "size_in_bytes")
        )
        and all(name in slots for name in ("_buffer", "_pos", "_decompressed"))
        and getattr(memory_records, "DefaultRecordBatch", None)
        in (DefaultRecordBatch, _BoundedBatch)
        and getattr(fetcher_module, "MemoryRecords", None) in (MemoryRecords, _Answer)
        and "_next_slice" in getattr(MemoryRecords, "__slots__", ())
        and callable(getattr(partition_records, "_unpack_records", None))
        and callable(getattr(partition_records, "_maybe_skip_record", None))
        and callable(getattr(fetcher_module.Fetcher, "_parse_fetched_data", None))
        # the names its __init__ stores (read from its code: no source needed, none read)
        and "_next_partition_records" in fetcher_module.Fetcher.__init__.__code__.co_names
    )


def install() -> bool:
    """Have kafka-python's consumers read record batches as :class:`_BoundedBatch`
    (idempotent; every kafka-python consumer of the process); whether it did.

    A kafka-python laid out otherwise than 2.3 (see ``_known_layout``) is left as it is,
    with a warning: its batches inflate unbounded, as before, rather than being read by
    code written for another layout.
    """
    if not _known_layout():
        log.warning(
            "kafka-python %s is not laid out as 2.3 is: its compressed record batches "
            "inflate unbounded (the confluent backend bounds zstd and lz4 ones)",
            kafka_version,
        )
        return False
    memory_records.DefaultRecordBatch = _BoundedBatch
    fetcher_module.MemoryRecords = _Answer
    fetcher_module.Fetcher._parse_fetched_data = _parse_fetched_data
    return True


def check_offsets(consumer: Any, gaps: bool) -> None:
    """Have kafka-python's ``consumer`` check the base offsets of the record batches in
    its fetch answers (:func:`misplaced`; ``gaps``: its topic may be compacted, where a
    gap between batches is no damage): a batch misplaced raises :class:`BatchMisplaced`.
    Needs :func:`install` (else nothing is checked)."""
    consumer._fetcher.offsets_checked = True
    consumer._fetcher.offsets_gaps = gaps


_KAFKA_PARSE = fetcher_module.Fetcher._parse_fetched_data  # kafka-python's own


def _parse_fetched_data(self: Any, completed_fetch: Any) -> Any:
    """kafka-python's, with the offset fetched and the high watermark at hand for the
    :class:`_Answer` it makes, when the consumer's answers are checked."""
    if not getattr(self, "offsets_checked", False):
        return _KAFKA_PARSE(self, completed_fetch)
    high = completed_fetch.partition_data[1]
    gaps = bool(getattr(self, "offsets_gaps", True))
    token = _FETCH.set((completed_fetch.fetched_offset, high if high >= 0 else None, gaps))
    try:
        return _KAFKA_PARSE(self, completed_fetch)
    finally:
        _FETCH.reset(token)
