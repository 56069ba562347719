"""Servers going away mid-run: the service waits with backoff, reconnects, loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.integration.conftest import ROOT, kafka_admin
from tests.integration.deployment import (
    BACKENDS,
    Deployment,
    free_port,
    stream_records,
    wait_for,
)

N = 3000


@pytest.fixture
def durable_redis(tmp_path: Path) -> Iterator[tuple[str, Path, int]]:
    """A Redis of this test's own that keeps its data across a restart (append-only file)."""
    port = free_port()
    workdir = tmp_path / "redis"
    workdir.mkdir()
    procs: list[subprocess.Popen[bytes]] = []
    procs.append(
        subprocess.Popen(
            _durable_redis_command(port, workdir),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    client = redis.Redis(port=port, socket_connect_timeout=1)
    wait_for(lambda: _pings(client), 20, what="redis to answer")
    try:
        yield f"redis://127.0.0.1:{port}/0", workdir, port
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)


def _durable_redis_command(port: int, workdir: Path) -> list[str]:
    return [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        str(workdir),
    ]


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def _labels_joined_once(deployment: Deployment) -> None:
    labels = deployment.redis().xrange(f"{deployment.prefix}:labels")
    labeled = [json.loads(fields[b"label"])["id"] for _, fields in labels]
    log = [json.loads(e.label)["id"] for e in deployment.store().read_train_log(None, 10**6)]
    assert len(labeled) == len(set(labeled)) and sorted(log) == sorted(labeled)


def test_redis_restarted_during_a_run(
    deployment: Deployment, durable_redis: tuple[str, Path, int], tmp_path: Path
) -> None:
    url, workdir, port = durable_redis
    deployment.redis_url = url
    truth = tmp_path / "truth.csv"
    ids = deployment.produce_stream("synth:sea-drift", N, truth)
    serve = deployment.serve(STREAM_AL_KAFKA__MAX_POLL_RECORDS="50")
    deployment.worker(truth)
    wait_for(lambda: serve.metric("stream_al_labels_total", outcome="learned") >= 50, 60)
    client = redis.Redis(port=port)
    client.shutdown(nosave=False)  # a clean stop: the append-only file has everything
    wait_for(lambda: not _pings(redis.Redis(port=port, socket_connect_timeout=0.5)), 20)
    wait_for(lambda: "retrying" in serve.output(), 30, what="serve noticed redis gone")
    assert serve.alive()
    again = [*_durable_redis_command(port, workdir), "--daemonize", "yes"]
    again += ["--pidfile", str(workdir / "again.pid")]
    subprocess.run(again, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
    try:
        wait_for(lambda: _pings(redis.Redis(port=port)), 20, what="redis back")
        wait_for(serve.ready, 60, what="serve ready again")
        deployment.wait_until_settled(ids)
        _labels_joined_once(deployment)
        assert serve.alive()
    finally:
        pid = int((workdir / "again.pid").read_text()) if (workdir / "again.pid").exists() else 0
        if pid:
            os.kill(pid, signal.SIGKILL)


def _broker() -> tuple[int, list[str], Path]:
    state = ROOT / ".services" / "kafka"
    pid = int((state / "kafka.pid").read_text())
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return pid, [part.decode() for part in cmdline if part], state


@pytest.mark.parametrize("backend", BACKENDS)
def test_kafka_broker_restarted_during_a_run(deployment: Deployment, tmp_path: Path) -> None:
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
    pid, cmd, state = _broker()
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), 60, what="broker down")
    time.sleep(3)  # an outage of a few seconds, during which labels still flow
    assert serve.alive()
    with (state / "kafka.out").open("ab") as out:
        broker = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    (state / "kafka.pid").write_text(f"{broker.pid}\n")  # so that `services down` stops it
    wait_for(lambda: _kafka_answers(deployment.bootstrap), 90, interval=1.0, what="broker back")
    deployment.produce_raw(after)
    deployment.wait_until_settled(ids)
    _labels_joined_once(deployment)
    assert serve.alive()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def _kafka_answers(bootstrap: str) -> bool:
    try:
        admin = kafka_admin(bootstrap, 5)
        admin.list_topics()
        admin.close()
        return True
    except Exception:
        return False
