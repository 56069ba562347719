"""The worker's rerun loop: backoff during an outage, from the first step after work."""

from __future__ import annotations

from stream_al.errors import StoreUnavailable
from stream_al.runtime.backoff import Backoff, rerun_until_done


def test_a_new_outage_after_a_long_run_waits_from_the_first_step_again() -> None:
    now = [0.0]
    waits: list[float] = []
    # Three quick failures (one outage), a run of an hour, two quick failures, done.
    lengths = [0.0, 0.0, 0.0, 3600.0, 0.0, 0.0]

    def run() -> str:
        if not lengths:
            return "done"
        now[0] += lengths.pop(0)
        raise StoreUnavailable("redis: connection refused")

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    result = rerun_until_done(run, Backoff(0.2, 2.0, 10.0), sleep=sleep, clock=lambda: now[0])
    assert result == "done"
    assert waits == [0.2, 0.4, 0.8, 0.2, 0.4, 0.8]  # not 1.6, 3.2, 6.4 after the hour
