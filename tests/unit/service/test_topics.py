"""serve's topic check without a broker: which topics are missing for good, what /readyz
and the log say about them, and the wait until they exist."""

from __future__ import annotations

import logging

import pytest

from stream_al.config import KafkaSettings
from stream_al.errors import BrokerUnavailable
from stream_al.io.base import ClusterTopics
from stream_al.runtime.health import Health
from stream_al.runtime.metrics import Metrics
from stream_al.service.topics import (
    Recreated,
    TopicCheck,
    TopicWatch,
    missing_topics,
    missing_topics_reason,
    serve_topics,
)

EVENTS, PREDICTIONS, DEAD_LETTERS = "stream-al.events", "stream-al.predictions", "stream-al.dlq"
KAFKA = KafkaSettings(bootstrap_servers="k1:9092,k2:9092", dead_letter_topic=DEAD_LETTERS)
NEEDED = serve_topics(KAFKA)
ALL = frozenset(NEEDED)


# -- which topics serve needs ---------------------------------------------------------------


def test_serve_needs_its_events_predictions_and_dead_letter_topics_named_by_their_settings() -> (
    None
):
    assert NEEDED == {
        EVENTS: "STREAM_AL_KAFKA__EVENTS_TOPIC",
        PREDICTIONS: "STREAM_AL_KAFKA__PREDICTIONS_TOPIC",
        DEAD_LETTERS: "STREAM_AL_KAFKA__DEAD_LETTER_TOPIC",
    }


def test_no_predictions_topic_is_needed_when_none_is_published() -> None:
    assert PREDICTIONS not in serve_topics(KAFKA, publish_predictions=False)
    assert PREDICTIONS not in serve_topics(KAFKA.model_copy(update={"predictions_topic": ""}))


def test_a_topic_two_settings_name_is_needed_once_with_both_settings() -> None:
    shared = serve_topics(KAFKA.model_copy(update={"predictions_topic": DEAD_LETTERS}))
    assert shared == {
        EVENTS: "STREAM_AL_KAFKA__EVENTS_TOPIC",
        DEAD_LETTERS: "STREAM_AL_KAFKA__PREDICTIONS_TOPIC, STREAM_AL_KAFKA__DEAD_LETTER_TOPIC",
    }


# -- the decision: topics present, the broker's auto-creation -> missing -------------------


@pytest.mark.parametrize("auto_create", [False, None])
def test_topics_that_do_not_exist_are_missing_unless_the_broker_creates_them(
    auto_create: bool | None,
) -> None:
    assert missing_topics(NEEDED, ALL, auto_create) == []
    assert missing_topics(NEEDED, {PREDICTIONS}, auto_create) == [EVENTS, DEAD_LETTERS]
    assert missing_topics(NEEDED, set(), auto_create) == [EVENTS, PREDICTIONS, DEAD_LETTERS]


def test_nothing_is_missing_on_a_broker_that_creates_topics_at_their_first_use() -> None:
    assert missing_topics(NEEDED, set(), auto_create=True) == []


def test_a_topic_needed_twice_is_missing_once() -> None:
    assert missing_topics(["a", "b", "a"], {"b"}, auto_create=False) == ["a"]


# -- what is said --------------------------------------------------------------------------


def test_the_reason_names_each_missing_topic_its_setting_and_the_command_that_creates_it() -> None:
    reason = missing_topics_reason(
        {EVENTS: NEEDED[EVENTS], PREDICTIONS: NEEDED[PREDICTIONS]}, "k1:9092,k2:9092", False
    )
    assert reason.startswith(
        f"kafka topics {EVENTS} (STREAM_AL_KAFKA__EVENTS_TOPIC), {PREDICTIONS} "
        "(STREAM_AL_KAFKA__PREDICTIONS_TOPIC) do not exist, and the broker does not create "
        "topics (auto.create.topics.enable=false): serve consumes nothing until they do."
    )
    create = "kafka-topics.sh --bootstrap-server k1:9092,k2:9092 --create --topic"
    # The events topic's partitions bound the replicas that consume; the others' do not.
    assert f"{create} {EVENTS} --partitions N (N: at least the number of serve replicas)" in reason
    assert reason.endswith(f"; {create} {PREDICTIONS}")


def test_the_reason_says_when_the_brokers_auto_creation_could_not_be_read() -> None:
    reason = missing_topics_reason(
        {DEAD_LETTERS: NEEDED[DEAD_LETTERS]},
        "k1:9092",
        None,
        "ClusterAuthorizationFailedError",
    )
    assert reason.startswith(
        f"kafka topic {DEAD_LETTERS} (STREAM_AL_KAFKA__DEAD_LETTER_TOPIC) does not exist, and "
        "whether the broker creates topics could not be read (ClusterAuthorizationFailedError)"
    )
    assert "--partitions" not in reason


# -- the check: /readyz, the log, the wait ------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Health(Health):
    """Counts the heartbeats: /healthz must stay 200 while serve waits for its topics."""

    beats = 0

    def beat(self) -> None:
        self.beats += 1
        super().beat()


def _check(clock: _Clock | None = None) -> tuple[TopicCheck, _Health]:
    health = _Health()
    check = TopicCheck(
        NEEDED, "k1:9092", health, recheck_s=2.0, remind_every_s=60.0, clock=clock or _Clock()
    )
    return check, health


def _said(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in record.getMessage() for record in caplog.records)


def test_a_missing_topic_makes_serve_unready_with_the_reason_and_keeps_it_alive() -> None:
    check, health = _check()
    reason = check.verdict(ClusterTopics(frozenset({PREDICTIONS, DEAD_LETTERS}), False))
    assert reason is not None and EVENTS in reason
    assert health.readiness() == (False, reason)
    assert health.beats == 1  # /healthz: a process waiting for its topics is no stall


def test_the_log_says_a_missing_topic_once_then_again_each_minute_or_when_it_changes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "stream_al.serve")
    clock = _Clock()
    check, _ = _check(clock)
    none = ClusterTopics(frozenset(), False)
    for _ in range(10):  # 20 s of rechecks every 2 s: one line
        check.verdict(none)
        clock.now += 2.0
    assert _said(caplog, "do not exist") == 1
    clock.now += 40.0  # a minute after the first line: said again
    check.verdict(none)
    assert _said(caplog, "do not exist") == 2
    check.verdict(ClusterTopics(frozenset({EVENTS}), False))  # fewer missing: said at once
    assert _said(caplog, "do not exist") == 3
    assert check.verdict(ClusterTopics(ALL, False)) is None
    assert _said(caplog, "exist now: serve goes on") == 1


def test_topics_the_broker_will_create_are_named_in_the_log_and_do_not_hold_serve(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "stream_al.serve")
    check, health = _check()
    assert check.verdict(ClusterTopics(frozenset({DEAD_LETTERS}), True)) is None
    assert f"kafka topics {EVENTS}, {PREDICTIONS} do not exist yet" in caplog.text
    assert health.reason == "starting"  # readiness untouched: the start-up goes on


def test_an_unreadable_auto_creation_is_logged_once_and_judged_by_existence(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "stream_al.serve")
    check, _ = _check()
    unread = "ClusterAuthorizationFailedError"
    assert check.verdict(ClusterTopics(frozenset(), None, unread)) is not None
    assert check.verdict(ClusterTopics(ALL, None, unread)) is None
    assert _said(caplog, f"could not read the broker's auto.create.topics.enable ({unread})") == 1


def test_the_wait_rechecks_until_the_topics_exist() -> None:
    check, _ = _check()
    states = [ClusterTopics(frozenset(), False)] * 3 + [ClusterTopics(ALL, False)]
    slept: list[float] = []
    assert check.wait(lambda: states.pop(0), lambda: False, slept.append)
    assert slept == [2.0, 2.0, 2.0] and not states


def test_the_wait_ends_when_serve_is_asked_to_stop() -> None:
    check, _ = _check()
    stop: list[bool] = []
    missing = ClusterTopics(frozenset(), False)
    assert not check.wait(lambda: missing, lambda: bool(stop), lambda s: stop.append(True))
    assert not check.wait(lambda: None, lambda: False)  # stopped while Kafka was away


# -- the watch while serve runs -------------------------------------------------------------


class _Catalog:
    """A cluster the watch describes; ``away`` makes the look fail as a broker away would."""

    def __init__(self, existing: frozenset[str] = ALL) -> None:
        self.existing = existing
        self.away = False
        self.looks = 0
        self.closed = 0
        self.events_id: str | None = "id-1"  # the events topic's, while it exists

    def describe(self) -> ClusterTopics:
        self.looks += 1
        if self.away:
            raise BrokerUnavailable("kafka: no broker answers")
        ids = {EVENTS: self.events_id} if EVENTS in self.existing and self.events_id else {}
        return ClusterTopics(self.existing, False, ids=ids)

    def close(self) -> None:
        self.closed += 1


def _watch(catalog: _Catalog, clock: _Clock) -> tuple[TopicWatch, _Health, Metrics]:
    health, metrics = _Health(), Metrics.create()
    check = TopicCheck(NEEDED, "k1:9092", health, metrics, recheck_s=2.0, clock=clock)
    check.verdict(catalog.describe())  # the start-up's look
    catalog.looks = 0
    return TopicWatch(check, lambda: catalog, idle_recheck_s=30.0, clock=clock), health, metrics


def test_the_watch_looks_at_most_every_recheck_and_between_turns_every_half_minute() -> None:
    clock, catalog = _Clock(), _Catalog()
    watch, _, _ = _watch(catalog, clock)
    assert watch.missing() is None and catalog.looks == 0  # the start-up's check just looked
    clock.now = 2.0
    assert watch.missing() is None and watch.missing() is None and catalog.looks == 1
    clock.now = 10.0
    assert watch.missing(between_turns=True) is None and catalog.looks == 1  # every 30 s
    clock.now = 32.0
    catalog.existing = ALL - {PREDICTIONS}
    reason = watch.missing(between_turns=True)
    assert reason is not None and PREDICTIONS in reason and catalog.looks == 2
    clock.now = 34.0  # missing: every 2 s, idle or not
    assert watch.missing(between_turns=True) == reason and catalog.looks == 3
    assert watch.reason == reason


def test_the_gauge_counts_the_missing_topics_and_the_readiness_names_them() -> None:
    clock, catalog = _Clock(), _Catalog(frozenset({EVENTS}))
    watch, health, metrics = _watch(catalog, clock)
    clock.now = 2.0
    reason = watch.missing()
    assert metrics.registry.get_sample_value("stream_al_topics_missing") == 2
    assert health.readiness() == (False, reason)
    catalog.existing = ALL
    clock.now = 4.0
    assert watch.missing() is None
    assert metrics.registry.get_sample_value("stream_al_topics_missing") == 0


def test_a_look_kafka_does_not_answer_names_nothing_and_the_next_one_starts_afresh() -> None:
    clock, catalog = _Clock(), _Catalog(ALL - {DEAD_LETTERS})
    made: list[_Catalog] = []

    def make() -> _Catalog:
        made.append(catalog)
        return catalog

    watch, _, _ = _watch(catalog, clock)
    watch.catalog = make
    clock.now = 2.0
    assert watch.missing() is not None
    catalog.away = True
    clock.now = 4.0
    assert watch.missing() is None  # the outage is the reason, not a topic
    assert catalog.closed == 1
    catalog.away = False
    clock.now = 6.0
    assert watch.missing() is not None and len(made) == 2  # a new admin client


# -- the events topic deleted and created again ----------------------------------------------


def test_the_watch_starts_from_the_start_ups_topic_id_and_says_when_it_changes() -> None:
    clock, catalog = _Clock(), _Catalog()
    watch, _, _ = _watch(catalog, clock)
    assert watch.topic_id == "id-1" and watch.recreated is None
    clock.now = 30.0
    assert watch.missing(between_turns=True) is None and watch.recreated is None
    catalog.events_id = "id-2"  # deleted and created again between two looks
    clock.now = 60.0
    assert watch.missing(between_turns=True) is None  # nothing missing: only a new id
    assert watch.recreated == Recreated(EVENTS, "id-1", "id-2")
    assert watch.topic_id == "id-2"


def test_a_look_at_the_events_topic_missing_keeps_its_last_id() -> None:
    # A deletion seen by a look, then the creation seen by the next: a recreation too.
    clock, catalog = _Clock(), _Catalog()
    watch, _, _ = _watch(catalog, clock)
    catalog.existing = ALL - {EVENTS}
    clock.now = 30.0
    assert watch.missing(between_turns=True) is not None and watch.recreated is None
    catalog.existing, catalog.events_id = ALL, "id-2"
    clock.now = 32.0
    assert watch.missing(between_turns=True) is None
    assert watch.recreated == Recreated(EVENTS, "id-1", "id-2")


def test_no_id_before_is_no_recreation_and_two_keep_the_first_old_id() -> None:
    # At start the topic did not exist yet (the broker creates it) or the broker gives no
    # ids: its first id is no recreation. Two recreations before the loop acted: one, from
    # the id the consumer's positions belong to.
    clock, catalog = _Clock(), _Catalog()
    catalog.events_id = None
    watch, _, _ = _watch(catalog, clock)
    assert watch.topic_id is None
    catalog.events_id = "id-1"
    clock.now = 30.0
    watch.missing(between_turns=True)
    assert watch.topic_id == "id-1" and watch.recreated is None
    for i, now in ((2, 60.0), (3, 90.0)):
        catalog.events_id, clock.now = f"id-{i}", now
        watch.missing(between_turns=True)
    assert watch.recreated == Recreated(EVENTS, "id-1", "id-3")
