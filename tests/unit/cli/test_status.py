"""``stream-al status``: what a running serve is doing, read from its /metrics, and each
replica's state, read from Redis (here the in-memory twin; a real Redis and real serve
processes in tests/integration/test_status.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from stream_al.cli.main import main
from stream_al.io import redis as redis_io
from stream_al.io.base import ReplicaSeen, ReplicaState
from stream_al.io.memory import MemoryStore
from stream_al.runtime.health import Health, HealthServer
from stream_al.runtime.metrics import Metrics


class Clock:
    now = 5000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def states(monkeypatch: pytest.MonkeyPatch) -> tuple[MemoryStore, Clock]:
    """The replicas' states, in memory instead of the Redis of the settings."""
    clock = Clock()
    store = MemoryStore(clock=clock)
    monkeypatch.setattr(redis_io, "store_for", lambda *args, **kwargs: store)
    return store, clock


@pytest.fixture
def serving() -> Iterator[tuple[Metrics, str]]:
    metrics = Metrics.create()
    server = HealthServer(metrics.registry, Health(), "127.0.0.1", 0).start()
    try:
        yield metrics, f"http://127.0.0.1:{server.port}/metrics"
    finally:
        server.stop()


def _one_ready(store: MemoryStore) -> None:
    store.put_replica_state("r1", ReplicaState(True, "", 4000.0, 5000.0), 10.0, 86400.0)


def test_status_prints_events_per_second_label_fraction_queue_and_accuracy(
    serving: tuple[Metrics, str],
    states: tuple[MemoryStore, Clock],
    capsys: pytest.CaptureFixture[str],
) -> None:
    metrics, url = serving
    _one_ready(states[0])
    metrics.events.labels(outcome="queried").inc(10)
    metrics.events.labels(outcome="not_queried").inc(90)
    metrics.labels.labels(outcome="learned").inc(8)
    metrics.queue_depth.labels(tier="crowd").set(2)
    metrics.queue_depth.labels(tier="expert").set(1)
    metrics.accuracy.labels(sample="random").set(0.75)
    metrics.accuracy.labels(sample="labeled").set(0.6)
    metrics.budget_target.set(0.1)
    later = threading.Timer(0.1, lambda: metrics.events.labels(outcome="not_queried").inc(100))
    later.start()
    assert main(["status", "--url", url, "--interval", "0.5"]) == 0
    later.join()
    out = capsys.readouterr().out.strip()
    assert out.startswith("events 200 (") and "/s)" in out
    shown = ["asked 5.0% (budget 10%)", "queue 3 (1 for an expert)", "learned 8"]
    for part in [*shown, "accuracy 75.0% on randomly"]:
        assert part in out, out


def test_status_without_a_serve_names_the_address_and_its_settings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["status", "--url", "http://127.0.0.1:1/metrics", "--wait", "0"]) == 2
    err = capsys.readouterr().err
    assert "http://127.0.0.1:1/metrics" in err and "STREAM_AL_METRICS__PORT" in err


def test_serves_logged_address_without_a_path_reads_its_metrics(
    serving: tuple[Metrics, str],
    states: tuple[MemoryStore, Clock],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # serve logs "metrics and health on http://127.0.0.1:PORT": that address works as --url.
    _, url = serving
    _one_ready(states[0])
    address = url.removesuffix("/metrics")
    assert main(["status", "--url", address, "--interval", "0.1", "--count", "1"]) == 0
    assert capsys.readouterr().out.startswith("events 0")
    # A path that is not serve's metrics answers 404: said as such, not "nothing answers".
    assert main(["status", "--url", f"{address}/nope", "--wait", "0"]) == 2
    err = capsys.readouterr().err
    assert "answered 404" in err and "/metrics" in err and "nothing answers" not in err


def test_status_says_whether_each_replica_is_ready_and_why_not(
    serving: tuple[Metrics, str],
    states: tuple[MemoryStore, Clock],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # It read /metrics alone: during an outage it printed a healthy-looking line.
    _, url = serving
    store, clock = states
    reason = "kafka: no connection to any broker (127.0.0.1:9092)"
    store.put_replica_state("r1", ReplicaState(True, "", 4000.0, 5000.0), 10.0, 86400.0)
    store.put_replica_state("r2", ReplicaState(False, reason, 4950.0, 5000.0), 10.0, 86400.0)
    store.put_replica_state("r3", ReplicaState(True, "", 100.0, 5000.0), 10.0, 86400.0)
    stopped = ReplicaState(False, "stopped", 4000.0, 4000.0, stopped=True)
    clock.now = 4000.0
    store.put_replica_state("r4", stopped, 86400.0, 86400.0)
    clock.now = 5000.0
    store.put_replica_state("r1", ReplicaState(True, "", 4000.0, 5000.0), 10.0, 86400.0)
    store.put_replica_state("r2", ReplicaState(False, reason, 4950.0, 5000.0), 10.0, 86400.0)
    clock.now = 5001.0
    assert main(["status", "--url", url, "--interval", "0.01"]) == 1  # r2 is not ready
    first, *replicas = capsys.readouterr().out.splitlines()
    assert first.startswith("events 0 (")  # the line it printed before, unchanged
    assert replicas == [
        "  replica r1: ready",
        f"  replica r2: NOT READY for 51 s: {reason}",
        "  replica r3: ready",
        "  replica r4: stopped 17 min ago",
    ]
    clock.now = 5020.0  # r3 wrote last at 5000, its state lived 10 s: killed, or hung
    assert main(["status", "--url", url, "--interval", "0.01"]) == 1
    out = capsys.readouterr().out
    silent = "  replica r3: SILENT for 20 s: no word from it (killed, hung, or cut off from redis)"
    assert silent in out.splitlines()


def test_status_without_redis_says_so_and_still_prints_what_serve_does(
    serving: tuple[Metrics, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.undo()  # the Redis of the settings, at a port where nothing listens
    monkeypatch.setenv("STREAM_AL_REDIS__URL", "redis://127.0.0.1:1/0")
    _, url = serving
    # Readiness unknown: not the all-clear a script would read from 0.
    assert main(["status", "--url", url, "--interval", "0.01", "--count", "2"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and " events 0 (" in lines[0] and " events 0 (" in lines[2]
    said = "  replicas: unknown, redis redis://127.0.0.1:1/0 (prefix stream_al) could not be read ("
    assert lines[1].startswith(said) and lines[3].startswith(said), lines


def test_status_says_when_no_replica_has_said_anything(
    serving: tuple[Metrics, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = serving
    assert main(["status", "--url", url, "--interval", "0.01"]) == 1  # none says it is ready
    replicas = capsys.readouterr().out.splitlines()[1]
    assert replicas.startswith("  replicas: none said its state in redis redis://")
    assert replicas.endswith("(prefix stream_al) within a day")


def test_status_exit_code_is_0_only_while_the_last_reading_shows_every_replica_up(
    serving: tuple[Metrics, str],
    states: tuple[MemoryStore, Clock],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # It exited 0 with a replica NOT READY: a script or a check read that as all clear.
    _, url = serving
    store, clock = states
    watch = ["status", "--url", url, "--interval", "0.01"]
    clock.now = 4000.0
    stopped = ReplicaState(False, "stopped", 4000.0, 4000.0, stopped=True)
    store.put_replica_state("old", stopped, 86400.0, 86400.0)  # a rolling restart's
    clock.now = 5000.0
    assert main(watch) == 1  # stopped only: nothing serves
    store.put_replica_state("r1", ReplicaState(True, "", 4000.0, 5000.0), 10.0, 86400.0)
    assert main(watch) == 0
    waiting = ReplicaState(False, "redis: connection refused", 4990.0, 5000.0)
    store.put_replica_state("r2", waiting, 10.0, 86400.0)
    assert main(watch) == 1
    store.put_replica_state("r2", ReplicaState(True, "", 4990.0, 5001.0), 10.0, 86400.0)
    assert main(watch) == 0
    # --count 2: the last reading decides (r2 unready at the first, ready at the second).
    said = iter([waiting, ReplicaState(True, "", 4990.0, 5002.0)])
    read = store.replica_states

    def r2_changing() -> list[ReplicaSeen]:
        store.put_replica_state("r2", next(said), 10.0, 86400.0)
        return read()

    monkeypatch.setattr(store, "replica_states", r2_changing)
    assert main(["status", "--url", url, "--interval", "0.01", "--count", "2"]) == 0
    assert next(said, None) is None  # read twice


def test_status_names_no_budget_before_serve_has_one(
    serving: tuple[Metrics, str],
    states: tuple[MemoryStore, Clock],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A serve still waiting for Redis or Kafka has set no gauge: the budget's reads 0, which
    # no learner has (a budget is in (0, 1]). Status said "asked 0.0% (budget 0%)".
    _, url = serving
    _one_ready(states[0])
    assert main(["status", "--url", url, "--interval", "0.01", "--count", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("events 0 (0.0/s) · asked 0.0% · queue 0"), out
