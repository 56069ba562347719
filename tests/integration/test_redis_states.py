"""Redis refusing writes for a while (out of memory) or hanging (SIGSTOP: connections open,
no answers): serve and the worker wait it out and lose nothing."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import RedisServer
from tests.integration.deployment import Deployment, Proc, stream_records, wait_for

N = 3000


def _nothing_lost(deployment: Deployment, ids: list[str], *procs: Proc) -> None:
    """Every event predicted, none dead-lettered, every label learned once."""
    deployment.wait_until_settled(ids)
    labels = deployment.redis().xrange(f"{deployment.prefix}:labels")
    labeled = [json.loads(fields[b"label"])["id"] for _, fields in labels]
    learned = [json.loads(e.label)["id"] for e in deployment.store().read_train_log(None, 10**6)]
    assert labeled and len(labeled) == len(set(labeled)) and sorted(learned) == sorted(labeled)
    assert deployment.dead_letters() == []
    assert all(proc.alive() for proc in procs)


def _begin(
    deployment: Deployment, redis_server: Callable[..., RedisServer], tmp_path: Path
) -> tuple[RedisServer, Path, list[tuple[str, str]]]:
    """A Redis of the test's own, the stream's truth, and its first 1,000 events sent."""
    server = redis_server(durable=False)
    deployment.redis_url = server.url
    truth = tmp_path / "truth.csv"
    records = stream_records("synth:sea-drift", N, truth)
    deployment.produce_raw(records[:1000])
    return server, truth, records


def test_a_redis_out_of_memory_is_waited_out_and_loses_nothing(
    deployment: Deployment, redis_server: Callable[..., RedisServer], tmp_path: Path
) -> None:
    server, truth, records = _begin(deployment, redis_server, tmp_path)
    serve = deployment.serve(STREAM_AL_KAFKA__MAX_POLL_RECORDS="50")
    wait_for(lambda: serve.metric("stream_al_events_total", outcome="queried") >= 30, 60)
    client = server.client()
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", "1")  # below what it holds: every write that grows refused
    deployment.produce_raw(records[1000:])
    worker = deployment.worker(truth)  # items wait for it: its labels are refused too

    def refused() -> bool:
        status, reason = serve.readyz()
        return status == 503 and "out of memory" in reason

    wait_for(refused, 60, what="serve not ready, naming Redis's memory")
    wait_for(lambda: "refuses writes" in worker.output(), 60, what="the worker waiting")
    assert serve.alive() and worker.alive()

    client.config_set("maxmemory", "0")
    wait_for(serve.ready, 60, what="serve ready again")
    _nothing_lost(deployment, [i for i, _ in records], serve, worker)


def test_a_hanging_redis_is_waited_out_and_loses_nothing(
    deployment: Deployment, redis_server: Callable[..., RedisServer], tmp_path: Path
) -> None:
    server, truth, records = _begin(deployment, redis_server, tmp_path)
    timeout = {"STREAM_AL_REDIS__SOCKET_TIMEOUT": "1"}
    serve = deployment.serve(STREAM_AL_KAFKA__MAX_POLL_RECORDS="50", **timeout)
    worker = deployment.worker(truth, **timeout)
    wait_for(lambda: serve.metric("stream_al_labels_total", outcome="learned") >= 30, 60)
    assert server.proc is not None
    for k in range(3):  # three hangs, each with events arriving, longer than the timeout
        deployment.produce_raw(records[1000 + 500 * k : 1500 + 500 * k])
        os.kill(server.proc.pid, signal.SIGSTOP)
        time.sleep(3)  # the fault's length: nothing to await while Redis is stopped
        os.kill(server.proc.pid, signal.SIGCONT)
        wait_for(serve.ready, 60, what="serve ready again")
    deployment.produce_raw(records[2500:])
    _nothing_lost(deployment, [i for i, _ in records], serve, worker)
    assert "Timeout reading" in serve.output() and "Timeout reading" in worker.output()


def test_a_redis_that_may_evict_keys_is_refused_at_start_naming_the_fix(
    deployment: Deployment, redis_server: Callable[..., RedisServer], tmp_path: Path
) -> None:
    # At its maxmemory an evicting Redis drops queued and pending items, labels and train-log
    # entries without a word (many managed Redis services default to volatile-lru).
    server = redis_server(durable=False)
    deployment.redis_url = server.url
    client = server.client()
    client.config_set("maxmemory", "100mb")
    client.config_set("maxmemory-policy", "volatile-lru")
    truth = tmp_path / "truth.csv"
    truth.write_text("id,label\n")
    for proc in (deployment.serve(wait_ready=False), deployment.worker(truth)):
        assert proc.popen.wait(60) == 2, proc.output()
        assert "maxmemory-policy volatile-lru" in proc.output()
        assert "set maxmemory-policy noeviction" in proc.output()
    client.config_set("maxmemory-policy", "noeviction")  # what the message asks
    serve = deployment.serve()
    assert serve.alive() and serve.terminate() == 0
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.config_set("maxmemory", "0")  # no limit: nothing is evicted, whatever the policy
    serve = deployment.serve()
    assert serve.alive() and serve.terminate() == 0


@pytest.mark.parametrize("info", ["readable", "renamed"])
def test_a_redis_in_cluster_mode_is_refused_naming_it(
    deployment: Deployment, redis_server: Callable[..., RedisServer], tmp_path: Path, info: str
) -> None:
    # serve exited 1 with "MovedError: Command # 3 (TYPE ...) of pipeline caused error"
    # (several nodes), or at its first batch with CROSSSLOT (one node holding every slot).
    # Found at start from INFO cluster; where INFO is not allowed (managed services rename
    # commands), from the cluster's first refusal: the batch is not committed.
    args = ["--cluster-enabled", "yes", "--cluster-config-file", str(tmp_path / "nodes.conf")]
    if info == "renamed":
        args += ["--rename-command", "INFO", ""]
    server = redis_server(durable=False, args=args)
    server.client().execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
    wait_for(lambda: b"cluster_state:ok" in server.client().execute_command("CLUSTER", "INFO"))
    standalone, deployment.redis_url = deployment.redis_url, server.url
    truth = tmp_path / "truth.csv"
    truth.write_text("id,label\n")
    deployment.produce_raw([("e", json.dumps({"id": "e", "features": {"x": 1.0}}))])
    for proc in (deployment.serve(wait_ready=False), deployment.worker(truth)):
        assert proc.popen.wait(60) == 2, proc.output()
        [line] = [line for line in proc.output().splitlines() if "error:" in line]
        assert "runs in cluster mode" in line and "point it at a standalone Redis" in line
    deployment.redis_url = standalone  # what the message asks: the event was not skipped
    deployment.serve()
    wait_for(lambda: "e" in {p["id"] for p in deployment.predictions()}, 60)


def _blocked_in_xreadgroup(server: RedisServer) -> bool:
    clients = server.client().client_list()
    return any(c["cmd"] == "xreadgroup" and "b" in c["flags"] for c in clients)


def test_a_redis_made_a_read_only_replica_and_back_is_waited_out_and_loses_nothing(
    deployment: Deployment, redis_server: Callable[..., RedisServer], tmp_path: Path
) -> None:
    # A failover makes the primary a replica: it refuses writes (READONLY), and ends a
    # worker's blocking read with "UNBLOCKED ... (master -> replica?)", which escaped the
    # worker (exit 1; its items then waited for ever).
    server, truth, records = _begin(deployment, redis_server, tmp_path)
    serve = deployment.serve(STREAM_AL_KAFKA__MAX_POLL_RECORDS="50")
    worker = deployment.worker(truth)
    deployment.wait_until_settled([i for i, _ in records[:1000]])
    wait_for(lambda: _blocked_in_xreadgroup(server), 30, what="the worker waiting for items")
    with socket.socket() as s:  # a primary that is nowhere: the replica keeps its data
        s.bind(("127.0.0.1", 0))
        nowhere = s.getsockname()[1]
    client = server.client()
    client.execute_command("REPLICAOF", "127.0.0.1", str(nowhere))
    deployment.produce_raw(records[1000:])

    def refused() -> bool:
        status, reason = serve.readyz()
        return status == 503 and "read-only replica" in reason

    wait_for(refused, 60, what="serve not ready, naming the read-only replica")
    wait_for(lambda: "refuses writes" in worker.output(), 60, what="the worker waiting")
    assert serve.alive() and worker.alive(), worker.output()[-2000:]

    client.execute_command("REPLICAOF", "NO", "ONE")
    wait_for(serve.ready, 60, what="serve ready again")
    _nothing_lost(deployment, [i for i, _ in records], serve, worker)


def test_a_key_of_another_type_under_the_prefix_is_refused_at_start_naming_it(
    deployment: Deployment, tmp_path: Path
) -> None:
    # serve exited 1 at every start with "ResponseError: WRONGTYPE Operation against a
    # key holding the wrong kind of value", naming no key.
    r, prefix = deployment.redis(), deployment.prefix
    r.hset(f"{prefix}:state_id", "a", "b")
    truth = tmp_path / "truth.csv"
    truth.write_text("id,label\n")
    for proc in (deployment.serve(wait_ready=False), deployment.worker(truth)):
        assert proc.popen.wait(60) == 2, proc.output()
        [line] = [line for line in proc.output().splitlines() if "error:" in line]
        assert f"redis key {prefix}:state_id holds a hash, not the string" in line
        assert f"STREAM_AL_REDIS__PREFIX ({prefix}); delete it" in line
    r.delete(f"{prefix}:state_id")  # what the message asks
    serve = deployment.serve()
    # Made another type while serve runs: named at its next look at the state id (1 s).
    r.pipeline(transaction=True).delete(f"{prefix}:state_id").sadd(
        f"{prefix}:state_id", "x"
    ).execute()
    assert serve.popen.wait(30) == 2, serve.output()
    assert f"redis key {prefix}:state_id holds a set" in serve.output()
