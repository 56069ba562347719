"""Servers going away mid-run: the service waits with backoff, reconnects, loses nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import Broker, RedisServer
from tests.integration.deployment import BACKENDS, Deployment, Proc, stream_records, wait_for

N = 3000


def _labels_joined_once(deployment: Deployment, serve: Proc) -> None:
    labels = deployment.redis().xrange(f"{deployment.prefix}:labels")
    labeled = [json.loads(fields[b"label"])["id"] for _, fields in labels]
    log = [json.loads(e.label)["id"] for e in deployment.store().read_train_log(None, 10**6)]
    assert len(labeled) == len(set(labeled)) and len(log) == len(set(log))
    # A checkpoint trims the train log before it (one a minute): what is left, each once.
    assert set(log) <= set(labeled)
    wait_for(
        lambda: serve.metric("stream_al_labels_total", outcome="learned") == len(labeled),
        30,
        what=f"{len(labeled)} labels learned, each once",
    )


def test_redis_restarted_during_a_run(
    deployment: Deployment, redis_server: Callable[..., RedisServer], tmp_path: Path
) -> None:
    server = redis_server(durable=True)  # keeps its data across a restart (append-only file)
    deployment.redis_url = server.url
    truth = tmp_path / "truth.csv"
    ids = deployment.produce_stream("synth:sea-drift", N, truth)
    serve = deployment.serve(STREAM_AL_KAFKA__MAX_POLL_RECORDS="50")
    deployment.worker(truth)
    wait_for(lambda: serve.metric("stream_al_labels_total", outcome="learned") >= 50, 60)
    server.stop()  # a clean stop: the append-only file has everything
    wait_for(lambda: "retrying" in serve.output(), 30, what="serve noticed redis gone")
    assert serve.alive()
    server.start()
    wait_for(serve.ready, 60, what="serve ready again")
    deployment.wait_until_settled(ids)
    _labels_joined_once(deployment, serve)
    assert serve.alive()


# A few seconds, and longer than a commit is waited for before its consumer is given up
# (confluent: COMMIT_STUCK_S, 60 s; kafka-python retries the commit for as long).
OUTAGES_S = (3.0, 75.0)


@pytest.mark.parametrize("outage_s", OUTAGES_S)
@pytest.mark.parametrize("backend", BACKENDS)
def test_kafka_broker_restarted_during_a_run(
    deployment: Deployment, broker: Broker, tmp_path: Path, outage_s: float
) -> None:
    truth = tmp_path / "truth.csv"
    records = stream_records("synth:sea-drift", N, truth)
    ids = [i for i, _ in records]
    # In three parts: before serve starts, just before the broker stops (in flight while it
    # goes away, at least with the slower backend), and after it is back (the consumer,
    # whose group session expired meanwhile, must rejoin and go on).
    before, during, after = records[: N // 2], records[N // 2 : N - 500], records[N - 500 :]
    deployment.produce_raw(before)
    serve = deployment.serve(STREAM_AL_KAFKA__MAX_POLL_RECORDS="50")
    deployment.worker(truth)
    wait_for(lambda: serve.metric("stream_al_events_total", outcome="not_queried") >= 500, 60)
    deployment.produce_raw(during)
    broker.stop()
    time.sleep(outage_s)  # the outage, during which labels still flow
    assert serve.alive()
    broker.start()
    deployment.produce_raw(after)
    deployment.wait_until_settled(ids)
    _labels_joined_once(deployment, serve)
    assert serve.alive()
