"""serve on a broker that creates no topics (``auto.create.topics.enable=false``, as on many
managed clusters), on both Kafka backends: while a topic it needs is missing, at start or
deleted while serve runs, serve consumes nothing and ``/readyz`` answers 503 naming the
topic and how to create it (the log says so once); once the topic is created, serve is
ready and predicts every event; a SIGTERM meanwhile ends it at once, nothing committed of
the batch that waits and no checkpoint written (a restart predicts it, counting each of its
events and charging each of its questions once).

Before the topic check, serve was ready beside a missing events topic and consumed
nothing without a word, and a missing predictions topic held every batch in a send that
waited for the topic's metadata, a Kafka outage that named no topic: each test here failed
there. The broker is this module's own (a few seconds to start), so the shared one keeps
creating topics for every other test.
"""

from __future__ import annotations

import importlib.util
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import redis

from stream_al.io.checkpoints import restore_checkpoint
from stream_al.service.topics import RECHECK_S
from tests.deploy_support import missing
from tests.integration.conftest import (
    SPARE_REDIS_DB,
    Broker,
    SecondBroker,
    Services,
    kafka_admin,
    stop_reporting,
    topic_maker,
    topic_name,
)
from tests.integration.deployment import (
    BACKENDS,
    KEY,
    Deployment,
    Proc,
    spare_db_url,
    wait_for,
)

Strict = tuple[Deployment, Callable[..., str]]


@pytest.fixture(scope="module")
def broker_without_auto_create(
    services: Services, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SecondBroker]:
    broker = SecondBroker(
        Broker(services.kafka_bootstrap),
        tmp_path_factory.mktemp("kafka-no-auto-create"),
        {"auto.create.topics.enable": "false"},
    )
    try:
        yield broker.start()
    finally:
        broker.stop()


@pytest.fixture
def strict(
    broker_without_auto_create: SecondBroker,
    services: Services,
    redis_client: redis.Redis,
    tmp_path: Path,
    backend: str,
    request: pytest.FixtureRequest,
) -> Iterator[Strict]:
    """A deployment on that broker whose topics do not exist yet, and the factory that
    creates them (``make(name=...)``)."""
    if backend == "confluent" and importlib.util.find_spec("confluent_kafka") is None:
        missing("confluent-kafka is not installed (pip install -e '.[test]')")
    bootstrap = broker_without_auto_create.bootstrap
    d = Deployment(
        bootstrap=bootstrap,
        redis_url=spare_db_url(services.redis_url, SPARE_REDIS_DB),
        events_topic=topic_name("events"),
        predictions_topic=topic_name("predictions"),
        dead_letter_topic=topic_name("dlq"),
        workdir=tmp_path,
        backend=backend,
    )
    with topic_maker(bootstrap) as make:
        try:
            yield d, make
        finally:
            stop_reporting(d, request)


def _events(n: int, start: int = 0) -> list[tuple[str, str]]:
    return [
        (f"e{i}", json.dumps({"id": f"e{i}", "features": {"x": float(i % 7), "y": i % 3}}))
        for i in range(start, start + n)
    ]


def _unready_naming(serve: Proc, deployment: Deployment, topic: str, setting: str) -> str:
    """/readyz's reason, once it is a 503 that names ``topic``, its setting and the command
    that creates it."""

    def named() -> str:
        status, says = serve.readyz()
        return says if status == 503 and f"kafka topic {topic} ({setting})" in says else ""

    reason = wait_for(named, 30, what=f"readyz to name the missing topic {topic}")
    create = f"kafka-topics.sh --bootstrap-server {deployment.bootstrap} --create --topic {topic}"
    assert create in reason, reason
    return reason


def _times_said(serve: Proc, topic: str) -> int:
    return serve.output().count(f"kafka topic {topic} (")


def _consumed(serve: Proc) -> float:
    """Events serve has decided, by its metrics."""
    outcomes = ("queried", "not_queried", "invalid", "duplicate", "backpressure")
    return sum(serve.metric("stream_al_events_total", outcome=o) for o in outcomes)


def _predicted(deployment: Deployment) -> set[str]:
    return {p["id"] for p in deployment.predictions()}


def _serve_without(
    strict: Strict, missing: str, setting: str, before: Sequence[tuple[str, str]] = ()
) -> Proc:
    """serve started with every topic but ``missing``, once it is unready naming it and has
    looked again twice while saying so once (``before``: events produced first)."""
    deployment, make = strict
    for topic in (deployment.events_topic, deployment.predictions_topic):
        if topic != missing:
            make(name=topic)
    make(name=deployment.dead_letter_topic)
    if before:
        deployment.produce_raw(before)  # waiting in the events topic before serve starts
    serve = deployment.serve(wait_ready=False)
    _unready_naming(serve, deployment, missing, setting)
    # A window for what must not happen (nothing to await): serve looks again twice, and
    # says it once.
    time.sleep(2 * RECHECK_S)
    assert not serve.ready()
    assert _times_said(serve, missing) == 1
    return serve


@pytest.mark.parametrize("backend", BACKENDS)
def test_serve_is_unready_naming_a_missing_events_topic_then_predicts_every_event(
    strict: Strict,
) -> None:
    deployment, make = strict
    serve = _serve_without(strict, deployment.events_topic, "STREAM_AL_KAFKA__EVENTS_TOPIC")

    make(name=deployment.events_topic)
    wait_for(serve.ready, 30, what="serve ready once the topic exists")
    events = _events(40)
    deployment.produce_raw(events)
    wanted = {i for i, _ in events}
    wait_for(lambda: _predicted(deployment) >= wanted, 60, what="every event predicted")
    assert _times_said(serve, deployment.events_topic) == 1
    assert "exist now: serve goes on" in serve.output()


@pytest.mark.parametrize("backend", BACKENDS)
def test_serve_consumes_nothing_while_the_predictions_topic_is_missing_and_loses_nothing(
    strict: Strict,
) -> None:
    deployment, make = strict
    before = _events(30)
    serve = _serve_without(
        strict, deployment.predictions_topic, "STREAM_AL_KAFKA__PREDICTIONS_TOPIC", before
    )
    assert _consumed(serve) == 0
    admin = kafka_admin(deployment.bootstrap)
    try:  # the group never even joined: no offset committed, no event skipped
        assert admin.list_consumer_group_offsets(deployment.group) == {}
    finally:
        admin.close()

    make(name=deployment.predictions_topic)
    wait_for(serve.ready, 30, what="serve ready once the topic exists")
    after = _events(20, start=30)
    deployment.produce_raw(after)
    wanted = {i for i, _ in before + after}
    wait_for(lambda: _predicted(deployment) >= wanted, 60, what="every event predicted")
    assert _consumed(serve) == len(wanted)


# -- a topic deleted while serve runs --------------------------------------------------------


def _committed(deployment: Deployment) -> int:
    """The group's committed offset on the events topic (one partition): 0 before any."""
    admin = kafka_admin(deployment.bootstrap)
    try:
        offsets = admin.list_consumer_group_offsets(deployment.group)
    finally:
        admin.close()
    found = [meta.offset for tp, meta in offsets.items() if tp.topic == deployment.events_topic]
    return max(found, default=0)


def _delete(bootstrap: str, topic: str) -> None:
    admin = kafka_admin(bootstrap)
    try:
        admin.delete_topics([topic])
        wait_for(lambda: topic not in admin.list_topics(), 30, what=f"{topic} deleted")
    finally:
        admin.close()


def _serving_then_deleted(strict: Strict, topic: str, then: list[tuple[str, str]]) -> Proc:
    """serve on its three topics, its first 20 events predicted and committed; then ``topic``
    deleted and the events ``then`` sent: a batch that waits for the topic."""
    deployment, make = strict
    for name in (
        deployment.events_topic,
        deployment.predictions_topic,
        deployment.dead_letter_topic,
    ):
        make(name=name)
    serve = deployment.serve()
    deployment.produce_raw(_events(20))
    wait_for(lambda: _committed(deployment) == 20, 30, what="the first events committed")
    _delete(deployment.bootstrap, topic)
    deployment.produce_raw(then)
    return serve


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_topic_deleted_while_serve_runs_is_named_and_waited_for_and_nothing_is_lost(
    strict: Strict,
) -> None:
    # Before, a send to it failed as a Kafka outage that named no topic.
    deployment, make = strict
    then = [*_events(30, start=20), ("bad", "not json")]  # offsets 20-49, and 50: a dead letter
    serve = _serving_then_deleted(strict, deployment.dead_letter_topic, then)
    _unready_naming(
        serve, deployment, deployment.dead_letter_topic, "STREAM_AL_KAFKA__DEAD_LETTER_TOPIC"
    )
    assert serve.metric("stream_al_topics_missing") == 1
    assert _committed(deployment) <= 50  # the dead letter's event waits, uncommitted

    make(name=deployment.dead_letter_topic)
    wait_for(serve.ready, 30, what="serve ready once the topic exists again")
    wait_for(lambda: _committed(deployment) == 51, 30, what="every event committed")
    assert _predicted(deployment) >= {i for i, _ in then[:-1]}
    [letter] = deployment.dead_letters()
    assert letter["payload"] == "not json" and letter["source"].endswith(":0:50")
    assert serve.metric("stream_al_topics_missing") == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigterm_while_serve_waits_for_a_deleted_topic_stops_at_once_and_loses_nothing(
    strict: Strict,
) -> None:
    # Before, kafka-python's serve went on waiting on its send for minutes, until a second
    # signal; confluent's tried for 30 s and more, then failed ("shutdown incomplete").
    deployment, make = strict
    then = _events(30, start=20)
    serve = _serving_then_deleted(strict, deployment.predictions_topic, then)
    _unready_naming(
        serve, deployment, deployment.predictions_topic, "STREAM_AL_KAFKA__PREDICTIONS_TOPIC"
    )
    sent = time.monotonic()
    assert serve.terminate(timeout=30) == 1
    assert time.monotonic() - sent < 5  # a missing topic is nothing to wait 10 s for
    out = serve.output()
    assert re.search(r"\d+ events polled are not committed: serve .* consumes them again", out)
    assert "Traceback" not in out  # the clients closed, the producer's undelivered sends dropped
    assert _committed(deployment) == 20
    # No checkpoint of the learner that decided the batch in hand: restored from one, the
    # restart decided the batch again, its events counted (and questions charged) twice.
    assert deployment.store().load("r1") is None

    make(name=deployment.predictions_topic)
    restarted = deployment.serve()  # a restart consumes them again
    wanted = {i for i, _ in then}
    wait_for(lambda: _predicted(deployment) >= wanted, 60, what="every event predicted")
    assert restarted.terminate(timeout=30) == 0
    store = deployment.store()
    checkpoint = store.load("r1")
    assert checkpoint is not None
    learner = restore_checkpoint(checkpoint, KEY.encode())
    assert learner.n_events == len(then)  # was 80: 20 + 30 in the stop's checkpoint, 30 again
    assert learner.n_queried == len(store.asked(sorted(wanted)))  # each question charged once


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_events_topic_recreated_while_serve_runs_is_consumed_from_its_beginning(
    strict: Strict,
) -> None:
    # Before, confluent's consumer kept its position in the deleted topic (20), valid in
    # the new one, and skipped the new topic's first 20 events without a word (lag 0,
    # ready). kafka-python saw the deletion here (its assignment emptied, then came back
    # with no offset committed: from the beginning), which is a race it may lose.
    deployment, make = strict
    serve = _serving_then_deleted(strict, deployment.events_topic, then=[])
    make(name=deployment.events_topic)
    fresh = _events(50, start=100)  # offsets 0-49 of the new topic, past the old 20
    deployment.produce_raw(fresh)
    # A look sees the new id within IDLE_RECHECK_S (30 s) of the last one.
    wanted = {i for i, _ in fresh}
    wait_for(
        lambda: _predicted(deployment) >= wanted, 60, what="every event of the new topic predicted"
    )
    said = f"kafka topic {deployment.events_topic} was recreated (topic id "
    wait_for(lambda: said in serve.output(), 60, what="serve to say the topic was recreated")
    assert f"consumes its partitions {deployment.events_topic}:0 again" in serve.output()
    wait_for(lambda: _committed(deployment) == 50, 30, what="the new topic committed")
    assert serve.ready()
