"""``stream-al status``: what a running serve is doing, read from its /metrics."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from stream_al.cli.main import main
from stream_al.runtime.health import Health, HealthServer
from stream_al.runtime.metrics import Metrics


@pytest.fixture
def serving() -> Iterator[tuple[Metrics, str]]:
    metrics = Metrics.create()
    server = HealthServer(metrics.registry, Health(), "127.0.0.1", 0).start()
    try:
        yield metrics, f"http://127.0.0.1:{server.port}/metrics"
    finally:
        server.stop()


def test_status_prints_events_per_second_label_fraction_queue_and_accuracy(
    serving: tuple[Metrics, str], capsys: pytest.CaptureFixture[str]
) -> None:
    metrics, url = serving
    metrics.events.labels(outcome="queried").inc(10)
    metrics.events.labels(outcome="not_queried").inc(90)
    metrics.labels.labels(outcome="learned").inc(8)
    metrics.queue_depth.set(2)
    metrics.accuracy.labels(sample="random").set(0.75)
    metrics.accuracy.labels(sample="labeled").set(0.6)
    metrics.budget_target.set(0.1)
    later = threading.Timer(0.1, lambda: metrics.events.labels(outcome="not_queried").inc(100))
    later.start()
    assert main(["status", "--url", url, "--interval", "0.5"]) == 0
    later.join()
    out = capsys.readouterr().out.strip()
    assert out.startswith("events 200 (") and "/s)" in out
    for shown in ("asked 5.0% (budget 10%)", "queue 2", "learned 8", "accuracy 75.0% on randomly"):
        assert shown in out, out


def test_status_without_a_serve_names_the_address_and_its_settings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["status", "--url", "http://127.0.0.1:1/metrics", "--wait", "0"]) == 2
    err = capsys.readouterr().err
    assert "http://127.0.0.1:1/metrics" in err and "STREAM_AL_METRICS__PORT" in err


def test_serves_logged_address_without_a_path_reads_its_metrics(
    serving: tuple[Metrics, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # serve logs "metrics and health on http://127.0.0.1:PORT": that address works as --url.
    _, url = serving
    address = url.removesuffix("/metrics")
    assert main(["status", "--url", address, "--interval", "0.1", "--count", "1"]) == 0
    assert capsys.readouterr().out.startswith("events 0")
    # A path that is not serve's metrics answers 404: said as such, not "nothing answers".
    assert main(["status", "--url", f"{address}/nope", "--wait", "0"]) == 2
    err = capsys.readouterr().err
    assert "answered 404" in err and "/metrics" in err and "nothing answers" not in err
