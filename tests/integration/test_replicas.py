"""Two replicas of serve on one consumer group: both work, both end with the same model."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from stream_al.service.replica_lease import TTL_S
from tests.integration.deployment import BACKENDS, Deployment, Proc, stream_records, wait_for
from tests.integration.test_recovery import (
    _reference_digest,
    _stop_and_check_log_applied,
    _wait_log_learned,
)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("deployment", [2], indirect=True)
def test_two_replicas_share_the_work_and_hold_identical_models(
    deployment: Deployment, tmp_path: Path
) -> None:
    deployment.settings.update(
        {
            "STREAM_AL_CHECKPOINT__TRIM_TRAIN_LOG": "false",
            "STREAM_AL_KAFKA__MAX_POLL_RECORDS": "100",
            # A fast worker answers every item at once: with 500 labels a turn, the first
            # replica out of its poll would join them all and the other none.
            "STREAM_AL_SERVICE__LABELS_PER_LOOP": "10",
        }
    )
    truth = tmp_path / "truth.csv"
    r1 = deployment.serve("r1")
    r2 = deployment.serve("r2")
    wait_for(lambda: "Updated partition assignment" in r2.output(), 30, what="r2 assigned")
    ids = deployment.produce_stream("synth:agrawal-drift", 5000, truth)
    deployment.worker(truth)
    deployment.wait_until_settled(ids)
    for replica in (r1, r2):  # each replica learns the entries the other joined
        _wait_log_learned(deployment, replica)
    for replica in (r1, r2):
        decided = sum(
            replica.metric("stream_al_events_total", outcome=o) for o in ("queried", "not_queried")
        )
        assert decided > 500, replica.output()[-2000:]
        assert replica.metric("stream_al_labels_total", outcome="learned") > 0
    m1 = _stop_and_check_log_applied(deployment, r1, "r1")
    m2 = _stop_and_check_log_applied(deployment, r2, "r2")
    assert m1.model_digest() == m2.model_digest() == _reference_digest(deployment)
    # Each replica's budget followed its own events: together they decided all of them.
    assert m1.n_events + m2.n_events >= 5000
    assert m1.n_events < 5000 and m2.n_events < 5000
    log = deployment.store().read_train_log(None, 10**6)
    assert len({json.loads(e.label)["id"] for e in log}) == len(log)


def test_a_new_replica_starts_from_the_newest_checkpoint(
    deployment: Deployment, tmp_path: Path
) -> None:
    deployment.settings["STREAM_AL_CHECKPOINT__TRIM_TRAIN_LOG"] = "false"
    truth = tmp_path / "truth.csv"
    ids = deployment.produce_stream("synth:sea-drift", 1500, truth)
    first = deployment.serve("r1")
    deployment.worker(truth)
    deployment.wait_until_settled(ids)
    _wait_log_learned(deployment, first)
    learned = _stop_and_check_log_applied(deployment, first, "r1")
    newcomer = deployment.serve("r9")
    assert "newest checkpoint (r1)" in newcomer.output()
    assert "0 train-log entries replayed" in newcomer.output()
    again = _stop_and_check_log_applied(deployment, newcomer, "r9")
    assert again.model_digest() == learned.model_digest()


@pytest.mark.parametrize("backend", BACKENDS)
def test_partitions_added_while_serve_runs_are_consumed_within_a_minute(
    deployment: Deployment,
) -> None:
    # Scaling out adds partitions first (README, "Scaling by partitions"): their events
    # must not wait for the clients' default metadata refresh, five minutes.
    from kafka import KafkaProducer
    from kafka.admin import NewPartitions

    from tests.integration.conftest import kafka_admin
    from tests.integration.deployment import stream_records

    records = stream_records("synth:sea-drift", 1200)
    serve = deployment.serve()
    deployment.produce_raw(records[:200])
    wait_for(lambda: len(deployment.predictions()) >= 200, 60, what="the first 200 predicted")
    topic = deployment.events_topic
    admin = kafka_admin(deployment.bootstrap)
    try:
        admin.create_partitions({topic: NewPartitions(3)})
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=deployment.bootstrap)
    try:
        wait_for(lambda: len(producer.partitions_for(topic) or ()) == 3, 30, what="3 partitions")
        for n, (key, value) in enumerate(records[200:]):
            producer.send(topic, key=key.encode(), value=value.encode(), partition=n % 3)
        producer.flush()
    finally:
        producer.close()
    partition_of = {i: 0 for i, _ in records[:200]}
    partition_of |= {i: n % 3 for n, (i, _) in enumerate(records[200:])}
    left: Counter[int] = Counter()

    def all_predicted() -> bool:
        seen = {p["id"] for p in deployment.predictions()}
        left.clear()
        left.update(part for i, part in partition_of.items() if i not in seen)
        return not left

    try:
        wait_for(
            all_predicted,
            75,  # a minute, and the time to read the predictions
            interval=2.0,
            what="the events of the added partitions predicted",
        )
    except AssertionError as exc:
        # Which partitions lag says whether serve stalled or never saw the new ones.
        assignments = [line for line in serve.output().splitlines() if "assignment" in line]
        detail = f"unpredicted per partition {dict(left)}; {assignments}"
        raise AssertionError(f"{exc}; {detail}") from exc


def _owns_both(serve: Proc, topic: str) -> int:
    """How many times ``serve`` was assigned both partitions of ``topic``."""
    both = f"['{topic}:0', '{topic}:1']"
    return sum(both in line for line in serve.output().splitlines() if "assignment" in line)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("deployment", [2], indirect=True)
def test_a_replica_stopped_past_its_session_comes_back_and_nothing_is_lost_or_learned_twice(
    deployment: Deployment, tmp_path: Path
) -> None:
    # A zombie: r2 stops (SIGSTOP: a long GC pause, a frozen VM) while it holds a partition,
    # events and labels flow, the group gives its partition to r1; then r2 goes on. Its
    # refused commit means the batch in hand is predicted again (at-least-once); on its
    # first checkpoint after, r1 had acknowledged the labels r2 held, and the label
    # stream's trim raised DataError (serve exit 1).
    deployment.settings.update(
        {
            "STREAM_AL_CHECKPOINT__TRIM_TRAIN_LOG": "false",
            "STREAM_AL_CHECKPOINT__EVERY_SECONDS": "1",
            "STREAM_AL_KAFKA__MAX_POLL_RECORDS": "50",
            "STREAM_AL_SERVICE__LABELS_PER_LOOP": "10",
            "STREAM_AL_LEARNER__BUDGET": "0.3",
        }
    )
    truth = tmp_path / "truth.csv"
    records = stream_records("synth:agrawal-drift", 3000, truth)
    r1 = deployment.serve("r1")
    r2 = deployment.serve("r2")
    wait_for(lambda: "Updated partition assignment" in r2.output(), 30, what="r2 assigned")
    producing = threading.Thread(target=deployment.produce_raw, args=(records, 100.0))
    producing.start()
    deployment.worker(truth)
    try:
        wait_for(lambda: r2.metric("stream_al_labels_total", outcome="learned") >= 20, 60)
        owned = _owns_both(r1, deployment.events_topic)
        r2.popen.send_signal(signal.SIGSTOP)
        try:  # until the group has given r2's partition to r1 (a 6 s session timeout)
            wait_for(lambda: _owns_both(r1, deployment.events_topic) > owned, 60)
        finally:
            r2.popen.send_signal(signal.SIGCONT)
    finally:
        producing.join(120)
    ids = [i for i, _ in records]
    deployment.wait_until_settled(ids)
    for replica in (r1, r2):
        _wait_log_learned(deployment, replica)
    assert r1.alive() and r2.alive(), r2.output()[-3000:]
    m1 = _stop_and_check_log_applied(deployment, r1, "r1")
    m2 = _stop_and_check_log_applied(deployment, r2, "r2")
    assert m1.model_digest() == m2.model_digest() == _reference_digest(deployment)
    log = deployment.store().read_train_log(None, 10**6)
    assert len({json.loads(e.label)["id"] for e in log}) == len(log)  # each label learned once
    assert set(ids) <= {p["id"] for p in deployment.predictions()}


def test_a_second_serve_with_a_live_replicas_id_is_refused_and_a_restart_after_kill_9_is_not(
    deployment: Deployment,
) -> None:
    # Two processes with one id ran side by side: measured, `status` showed one replica r1
    # flipping between their states (9 changes in 10 s), both read labels as one consumer
    # and overwrote one checkpoint.
    first = deployment.serve("r1")
    second = deployment.serve("r1", wait_ready=False)
    assert second.popen.wait(timeout=60) == 2, second.output()
    said = second.output()
    assert "stream-al serve: error: STREAM_AL_SERVICE__REPLICA_ID=r1: another live serve" in said
    assert "give each process its own STREAM_AL_SERVICE__REPLICA_ID" in said
    [seen] = deployment.store().replica_states()
    assert first.ready() and seen.state is not None and seen.state.ready  # r1's own word
    first.kill()  # SIGKILL: its lease is left behind, and lapses
    restarted = time.monotonic()
    again = deployment.serve("r1")
    waited = time.monotonic() - restarted
    assert "waiting for its lease to lapse" in again.output()
    assert "lapsed after" in again.output()
    assert waited < TTL_S + 30, waited  # the lease's TTL, and a start
    assert again.terminate(30) == 0
    assert deployment.redis().get(f"{deployment.prefix}:lease:r1") is None  # a clean stop
    deployment.serve("r1").terminate(30)  # so a restart waits for nothing


def test_a_serve_paused_past_its_lease_while_another_took_its_id_exits_and_writes_nothing(
    deployment: Deployment,
) -> None:
    paused = deployment.serve("r1")
    paused.popen.send_signal(signal.SIGSTOP)  # a long GC pause, a frozen VM
    try:
        newcomer = deployment.serve("r1")  # waits out the paused one's lease, then holds it
    finally:
        paused.popen.send_signal(signal.SIGCONT)
    assert paused.popen.wait(timeout=30) == 2, paused.output()
    assert "another serve process holds this replica id now" in paused.output()
    assert newcomer.alive() and newcomer.ready()

    def newcomer_said_ready() -> bool:
        [seen] = deployment.store().replica_states()
        return seen.state is not None and seen.state.ready

    wait_for(newcomer_said_ready, 10, what="r1's state from the newcomer")
    [seen] = deployment.store().replica_states()
    assert seen.state is not None and not seen.state.stopped  # the paused one said nothing
