"""The watch for partitions that stop being served, on a fake clock: a stall counts after its
seconds *and* its polls, is said once, and ends when the partition moves or leaves."""

from __future__ import annotations

import logging

import pytest

from stream_al.io.stalled import UNSERVED_S, StalledPartitions
from stream_al.runtime.metrics import Metrics

P0, P1 = ("events", 0), ("events", 1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def watch(clock: Clock) -> StalledPartitions:
    return StalledPartitions("the client's bound", seconds=30, polls=10, clock=clock)


def _poll(watch: StalledPartitions, clock: Clock, polls: int, seconds: float) -> None:
    """``polls`` polls spread over ``seconds``."""
    for _ in range(polls):
        watch.polled()
        clock.now += seconds / polls


def _said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_partition_unmoved_for_its_seconds_of_polls_with_events_after_it_is_stalled_and_said(
    watch: StalledPartitions, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    assert watch.look({P0: (10, 21), P1: (5, 9)}) == 0
    _poll(watch, clock, 10, 29)
    assert watch.look({P0: (10, 21), P1: (6, 9)}) == 0  # not yet 30 s
    _poll(watch, clock, 1, 1)
    assert watch.look({P0: (10, 21), P1: (7, 9)}) == 1  # P1 moves
    assert watch.stalled == 1
    [said] = _said(caplog)
    assert said.startswith(
        "events:0: no event served from offset 10 for 30 s while the partition holds offsets "
        "up to 20"
    )
    assert "larger than the client takes in one answer (the client's bound" in said
    assert "damaged in the broker's log" in said


def test_a_stall_is_said_once_and_counted_while_it_lasts(
    watch: StalledPartitions, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    watch.look({P0: (10, 21)})
    for _ in range(5):
        _poll(watch, clock, 10, 30)
        assert watch.look({P0: (10, 22)}) == 1  # more events come, none served
    assert len(_said(caplog)) == 1


def test_a_partition_that_moves_again_is_no_longer_stalled_and_said_again_when_it_stalls_anew(
    watch: StalledPartitions, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    watch.look({P0: (10, 21)})
    _poll(watch, clock, 10, 30)
    assert watch.look({P0: (10, 21)}) == 1
    assert watch.look({P0: (11, 21)}) == 0
    _poll(watch, clock, 10, 30)
    assert watch.look({P0: (11, 21)}) == 1
    assert [s.split(" for ")[0] for s in _said(caplog)] == [
        "events:0: no event served from offset 10",
        "events:0: no event served from offset 11",
    ]


def test_a_serve_that_does_not_poll_is_not_stalled(
    watch: StalledPartitions, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """Waiting on Redis, say: its positions stand still because it asks for nothing."""
    watch.look({P0: (10, 21)})
    _poll(watch, clock, 9, 600)
    assert watch.look({P0: (10, 21)}) == 0
    watch.polled()
    assert watch.look({P0: (10, 21)}) == 1
    assert len(_said(caplog)) == 1


def test_a_partition_served_to_its_end_is_not_stalled(
    watch: StalledPartitions, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    watch.look({P0: (21, 21)})
    _poll(watch, clock, 100, 600)
    assert watch.look({P0: (21, 21)}) == 0
    # Events come: the wait begins with them, not with the idle time before.
    assert watch.look({P0: (21, 22)}) == 0
    _poll(watch, clock, 10, 30)
    assert watch.look({P0: (21, 22)}) == 1
    assert len(_said(caplog)) == 1


def test_a_partition_revoked_or_unknown_is_forgotten(
    watch: StalledPartitions, clock: Clock
) -> None:
    watch.look({P0: (10, 21), P1: (3, 9)})
    _poll(watch, clock, 10, 30)
    assert watch.look({P0: (10, 21), P1: (3, 9)}) == 2
    assert watch.look({P1: (3, 9)}) == 1  # P0 revoked
    assert watch.look({P0: (10, 21), P1: (3, 9)}) == 1  # P0 back: its wait begins again
    assert watch.look({}) == 0
    assert watch.stalled == 0


def test_the_gauges_help_names_the_watchs_wait() -> None:
    """The help text lives in runtime, below io: it cannot import the number it names."""
    help_text = Metrics.create().partitions_stalled._documentation
    assert f"for {UNSERVED_S:.0f} s of polls" in help_text
