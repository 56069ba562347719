from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence

import pytest

from stream_al.core import feature_kinds
from stream_al.core.learner import ActiveLearner
from stream_al.core.spec import LearnerSpec
from stream_al.data.produce import event_records
from stream_al.data.streams import parse_stream
from stream_al.io.base import TIERS, EnqueueRequest, Joined, WrongType
from stream_al.io.memory import MemoryStore
from stream_al.runtime.metrics import Metrics
from stream_al.schemas import DeadLetter, Prediction, QueryItem
from stream_al.service.loop import MAX_DEAD_LETTER_PAYLOAD, LabelLoop, dead_letter
from stream_al.service.runner import checkpoint_due
from tests.unit.stubs import NoisyClassifier


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _loop(
    budget: float = 1.0,
    max_queue_depth: int = 1000,
    ttl: float = 60.0,
    model: object = None,
    store_of: Callable[[Clock], MemoryStore] = lambda clock: MemoryStore(clock=clock),
) -> tuple[LabelLoop, Clock, list[tuple[str, str]]]:
    clock = Clock()
    published: list[tuple[str, str]] = []
    store = store_of(clock)
    learner = ActiveLearner(model or NoisyClassifier(), "random", budget, seed=0)
    loop = LabelLoop(
        learner,
        store=store,
        dead_letters=store,
        predictions=lambda key, payload: published.append((key, payload)),
        metrics=Metrics.create(),
        max_queue_depth=max_queue_depth,
        label_ttl=ttl,
        max_event_bytes=1000,
        max_features=3,
        clock=clock,
    )
    return loop, clock, published


def _store(loop: LabelLoop) -> MemoryStore:
    assert isinstance(loop.store, MemoryStore)
    return loop.store


def _event(i: int, **extra: object) -> tuple[str, str]:
    return f"events:0:{i}", json.dumps({"id": f"e{i}", "features": {"x": float(i)}, **extra})


def _label(item_id: str, label: object = True) -> str:
    return json.dumps({"id": item_id, "label": label, "annotator": "ann"})


def _give(loop: LabelLoop, *labels: str) -> None:
    """A worker's answers, as they would arrive on the label stream."""
    store = _store(loop)
    for label in labels:
        store._labels.append((store._next_id(), label))


def _dead(loop: LabelLoop) -> list[DeadLetter]:
    return [DeadLetter.model_validate_json(r) for r in _store(loop).dead_letters]


def _count(loop: LabelLoop, metric: str, outcome: str) -> float:
    assert loop.metrics is not None
    value = loop.metrics.registry.get_sample_value(
        f"stream_al_{metric}_total", {"outcome": outcome}
    )
    return float(value or 0.0)


def test_a_queried_event_is_stored_pending_and_queued_with_everything_a_labeler_needs() -> None:
    loop, _, published = _loop()
    [decision] = loop.process_events([_event(1)])
    assert decision is not None and decision.queried
    [(_, raw)] = _store(loop).take("w", 10)
    item = QueryItem.model_validate_json(raw)
    assert item.id == "e1" and item.features == {"x": 1.0}
    assert item.strategy == "random" and item.reason == "random"
    assert _store(loop).pending_count() == 1
    key, payload = published[0]
    prediction = Prediction.model_validate_json(payload)
    assert key == "e1" and prediction.id == "e1" and prediction.queried
    assert loop.events["queried"] == 1 == _count(loop, "events", "queried")


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("not json", "json"),
        ("[1, 2]", "object"),
        (json.dumps({"features": {"x": 1}}), "id"),
        (json.dumps({"id": "", "features": {"x": 1}}), "id"),
        (json.dumps({"id": "a" * 257, "features": {"x": 1}}), "id"),
        ('{"id": "a", "features": {"x": NaN}}', "finite"),
        (json.dumps({"id": "a", "features": {}}), "no feature has a value: "),
        # null is a missing feature: with every one null, none is left to predict from
        (
            json.dumps({"id": "a", "features": {"x": None, "y": None}}),
            "no feature has a value (every one is null, a missing value): an event needs",
        ),
        (json.dumps({"id": "a", "features": {"x": None, "y": [1]}}), "features.y"),
        (json.dumps({"id": "a", "features": [1]}), "features"),
        (json.dumps({"id": "a", "features": {"x": {"y": 1}}}), "features.x"),
        (json.dumps({"id": 7, "features": {"x": 1}}), "id"),
        (json.dumps({"id": "a", "features": {"x": 1}, "cost": -1}), "cost"),
        (json.dumps({"id": "a", "features": {"x": 1}, "colour": "red"}), "colour"),
        (json.dumps({"id": "a", "features": {"x": "y" * 2000}}), "max_event_bytes"),
        (
            json.dumps({"id": "a", "features": dict.fromkeys("wxyz", 1.0)}),
            "event has 4 features, more than max_features (3)",
        ),
        # Python's json.dumps of a string that is no text: the parser's own words were
        # "unexpected end of hex escape", as if the escape were cut
        (json.dumps({"id": "a", "features": {"x": "\ud800"}}), "\\ud800 is half of a utf-16"),
        (json.dumps({"id": "a", "features": {"x": "b\udc00"}}), "\\udc00 is half of a utf-16"),
    ],
)
def test_invalid_events_are_dead_lettered_with_the_reason_and_the_loop_goes_on(
    raw: str, error: str
) -> None:
    loop, _, published = _loop()
    out = loop.process_events([("events:3:17", raw), _event(2)])
    assert out[0] is None and out[1] is not None
    [dead] = _dead(loop)
    assert dead.source == "events:3:17" and dead.payload == raw
    assert error in dead.error.lower()
    assert loop.events["invalid"] == 1 == _count(loop, "events", "invalid")
    assert loop.events["queried"] == 1
    assert [key for key, _ in published] == ["e2"]


@pytest.mark.parametrize("char", ["a", "\u00e9", "\u4e2d", "\U0001f600"])
def test_a_large_payload_is_dead_lettered_cut_to_its_first_characters_as_decoded_whole(
    char: str,
) -> None:
    # 1 to 4 bytes a character, the value cut mid-character at every offset class: what is
    # kept is the start of the value decoded whole, and the reason gives its size in bytes.
    for tail in range(4):
        raw = (char * (MAX_DEAD_LETTER_PAYLOAD * 5)).encode()[: -tail or None] + b"\xff"
        dead = DeadLetter.model_validate_json(dead_letter("events:0:1", "too large", raw, 0.0))
        whole = raw.decode("utf-8", errors="replace")
        assert dead.payload == whole[:MAX_DEAD_LETTER_PAYLOAD]
        assert dead.error == (
            f"too large (payload cut from {len(raw)} bytes to {MAX_DEAD_LETTER_PAYLOAD} chars)"
        )
    short = (char * 10).encode()
    dead = DeadLetter.model_validate_json(dead_letter("events:0:1", "bad", short, 0.0))
    assert (dead.payload, dead.error) == (char * 10, "bad")


def test_an_event_with_max_features_features_is_decided() -> None:
    loop, _, published = _loop()
    raw = json.dumps({"id": "e", "features": dict.fromkeys("xyz", 1.0)})
    assert loop.process_events([("events:0:1", raw)])[0] is not None
    assert not _dead(loop) and [key for key, _ in published] == ["e"]


def test_a_null_feature_is_left_out_of_the_prediction_the_item_and_what_is_learned() -> None:
    # null is JSON's missing value (pandas writes NaN as null): such an event was a dead
    # letter. Now the feature is missing for that event, as an empty CSV cell is, and the
    # nulls do not count towards max_features (3): what a model takes is what is left.
    from river import naive_bayes

    loop, _, published = _loop(model=naive_bayes.GaussianNB())
    features = {"age": None, "x": 2.0, "y": 1.0, "on": None, "z": 0.5}
    raw = json.dumps({"id": "e1", "features": features})
    assert loop.process_events([("events:0:1", raw), _event(2)])[0] is not None
    assert not _dead(loop) and [key for key, _ in published] == ["e1", "e2"]
    assert Prediction.model_validate_json(published[0][1]).queried
    [(_, item), _] = _store(loop).take("w", 10)
    assert QueryItem.model_validate_json(item).features == {"x": 2.0, "y": 1.0, "z": 0.5}
    assert '"age"' not in item and "null" not in json.dumps(json.loads(item)["features"])
    _give(loop, _label("e1"), _label("e2", False))
    assert loop.process_labels() == 2 and loop.apply_train_log() == 2
    logged = _store(loop).read_train_log(None, 10)
    assert json.loads(logged[0].item)["features"] == {"x": 2.0, "y": 1.0, "z": 0.5}
    assert loop.learner.n_learned == 2
    # A replica started from nothing replays the log to the same model.
    replica = LabelLoop(
        ActiveLearner(naive_bayes.GaussianNB(), "random", 1.0, seed=0),
        store=loop.store,
        dead_letters=loop.store,
    )
    assert replica.replay(None) == 2
    assert replica.learner.model_digest() == loop.learner.model_digest()


def test_a_redelivered_event_is_queued_once_even_after_it_was_labeled() -> None:
    loop, _, _ = _loop()
    loop.process_events([_event(5), _event(5)])
    assert loop.store.queue_depth() == 1
    assert loop.events["queried"] == 1 and loop.events["duplicate"] == 1
    [(entry_id, _)] = _store(loop).take("w", 10)
    _store(loop).complete(entry_id, _label("e5"))
    assert loop.process_labels() == 1
    loop.process_events([_event(5)])  # replayed after its label was learned
    assert loop.store.queue_depth() == 0 and loop.events["duplicate"] == 2


def _queried_flags(published: list[tuple[str, str]]) -> list[tuple[str, bool]]:
    return [(key, Prediction.model_validate_json(raw).queried) for key, raw in published]


def test_a_copy_of_an_event_this_learner_asked_is_predicted_as_asked_and_not_charged_again() -> (
    None
):
    # A producer's retry, in the same batch or a later one: the learner was asked for the
    # copy again and charged it again, one question charged twice, and the copy's
    # prediction said "queried": false while its item waited for a label.
    loop, _, published = _loop()
    loop.process_events([_event(5), _event(5)])
    loop.process_events([_event(6), _event(5)])
    assert loop.learner.n_queried == 2 and loop.learner.n_events == 2
    assert loop.store.queue_depth() == 2
    assert _queried_flags(published) == [("e5", True), ("e5", True), ("e6", True), ("e5", True)]
    assert loop.events["queried"] == 2 and loop.events["duplicate"] == 2


def test_an_event_asked_before_a_crash_is_charged_once_by_the_restored_learner() -> None:
    # serve queued the question, then died before the event's offset was committed: the
    # restored learner never saw it. It was decided afresh: at a budget the strategy then
    # refused, no charge for the question there was, and "queried": false.
    loop, _, published = _loop(budget=1.0)
    loop.process_events([_event(1)])
    restored = ActiveLearner(NoisyClassifier(), "random", 0.01, seed=0)
    loop.learner = restored
    loop.process_events([_event(2), _event(1)])  # the budget refuses e2; e1 is asked
    assert restored.n_events == 2 and restored.n_queried == 1
    assert _queried_flags(published)[1:] == [("e2", False), ("e1", True)]
    assert loop.store.queue_depth() == 1 and loop.events["duplicate"] == 1
    assert [r for r in _dead(loop)] == []


def test_an_item_labeled_already_is_not_asked_again_when_its_event_comes_again() -> None:
    loop, _, published = _loop()
    loop.process_events([_event(5)])
    [(entry_id, _)] = _store(loop).take("w", 10)
    _store(loop).complete(entry_id, _label("e5"))
    assert loop.process_labels() == 1
    loop.learner = ActiveLearner(NoisyClassifier(), "random", 1.0, seed=0)  # restored
    loop.process_events([_event(5)])
    assert loop.learner.n_queried == 1 and loop.store.queue_depth() == 0
    assert _queried_flags(published)[-1] == ("e5", True)


def test_an_item_the_workers_dropped_is_not_asked_again_when_its_event_comes_again() -> None:
    # Nobody would label it, so the workers dropped it (out of the queue and the pending
    # items): its event consumed again (a crash before the commit) was asked again, queued
    # again for the workers who had dropped it, charged again and predicted not queried
    # when the budget refused it.
    loop, clock, published = _loop(ttl=60.0)
    loop.process_events([_event(5)])
    [(entry_id, _)] = _store(loop).take("w", 10)
    _store(loop).drop(entry_id, "e5")
    assert _store(loop).pending_count() == 0 and _store(loop).queue_stats()["skipped"] == 1
    loop.learner = ActiveLearner(NoisyClassifier(), "random", 0.01, seed=0)  # restored
    loop.process_events([_event(6), _event(5)])  # the budget refuses e6 (as it would e5)
    assert loop.learner.n_events == 2 and loop.learner.n_queried == 1  # e5's label, once
    assert loop.store.queue_depth() == 0 and loop.events["duplicate"] == 1
    assert _queried_flags(published)[1:] == [("e6", False), ("e5", True)]
    clock.now += 60.0  # as long as its pending item would have lived: then forgotten
    assert _store(loop).asked(["e5"]) == set()


def test_backpressure_skips_queries_when_the_queue_is_full_without_spending_budget() -> None:
    loop, _, _ = _loop(max_queue_depth=2)
    loop.process_events([_event(i) for i in range(5)])
    assert loop.store.queue_depth() == 2
    assert loop.events["queried"] == 2 and loop.events["backpressure"] == 3
    assert loop.learner.n_queried == 2


def test_a_batch_half_done_is_completed_not_decided_again() -> None:
    loop, _, _ = _loop()
    actions = loop.decide_batch([_event(i) for i in range(4)])
    store = _store(loop)
    calls = {"n": 0}
    original = store.enqueue

    def flaky(*args: object, **kwargs: object) -> bool:
        calls["n"] += 1
        if calls["n"] == 3:
            raise ConnectionError("redis went away")
        return original(*args, **kwargs)  # type: ignore[arg-type]

    store.enqueue = flaky  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        loop.complete_batch(actions)
    loop.complete_batch(actions)
    assert loop.learner.n_events == 4  # decided once
    assert store.queue_depth() == 4 and loop.events["queried"] == 4


def test_labels_are_joined_logged_and_learned_in_log_order() -> None:
    from river import naive_bayes

    loop, _, _ = _loop(model=naive_bayes.GaussianNB())
    loop.process_events([_event(i) for i in range(4)])
    _give(loop, *(_label(i, i != "e0") for i in ("e2", "e0", "e3")))
    assert loop.process_labels() == 3
    logged = _store(loop).read_train_log(None, 10)
    assert [json.loads(e.label)["id"] for e in logged] == ["e2", "e0", "e3"]
    assert json.loads(logged[0].item)["features"] == {"x": 2.0}
    assert json.loads(logged[0].label)["annotator"] == "ann"
    assert json.loads(logged[0].label)["ts"] is not None  # stamped on arrival
    assert loop.learner.n_learned == 0  # learned from the log, not from the label
    assert loop.apply_train_log() == 3
    assert loop.learner.n_learned == 3
    assert loop.apply_train_log() == 0  # nothing learned twice
    assert _store(loop).pending_count() == 1
    assert _store(loop).unacknowledged_labels == 0
    assert _count(loop, "labels", "learned") == 3


def test_orphaned_duplicate_and_invalid_labels_are_dead_lettered_and_counted() -> None:
    loop, clock, _ = _loop(ttl=60.0)
    loop.process_events([_event(1), _event(2)])
    _give(loop, _label("e1"), _label("e1"), _label("nobody"), '{"id": "e2"}')
    assert loop.process_labels() == 1
    clock.now += 61  # e2's pending item expires
    _give(loop, _label("e2"))
    assert loop.process_labels() == 0
    assert dict(loop.label_outcomes) == {
        "learned": 1,
        "duplicate": 1,
        "orphaned": 2,
        "invalid": 1,
        "voted": 0,
        "escalated": 0,
    }
    reasons = sorted(d.error for d in _dead(loop))
    assert [r.split(" ", 1)[0] for r in reasons] == ["duplicate", "label:", "orphaned", "orphaned"]
    assert "Field required" in reasons[1]
    assert all(d.source.startswith("labels:") for d in _dead(loop))
    assert _store(loop).unacknowledged_labels == 0
    for outcome, n in loop.label_outcomes.items():
        assert _count(loop, "labels", outcome) == n


def test_a_label_of_another_kind_than_those_learned_is_refused_and_the_item_stays_pending() -> None:
    loop, _, _ = _loop()
    loop.process_events([_event(i) for i in range(3)])
    _give(loop, _label("e0", "cat"))
    loop.process_labels()
    loop.apply_train_log()
    _give(loop, _label("e1", 1), _label("e2", True))
    assert loop.process_labels() == 0
    errors = [d.error for d in _dead(loop)]
    assert errors == [
        "label 1 is an integer, but the model has learned its classes as text: "
        "send every label as text",
        "label True is a boolean, but the model has learned its classes as text: "
        "send every label as text",
    ]
    assert loop.label_outcomes["invalid"] == 2 and _store(loop).pending_count() == 2
    _give(loop, _label("e1", "dog"))  # the right kind is still welcome
    assert loop.process_labels() == 1


def test_no_predictions_are_published_when_switched_off() -> None:
    loop, _, published = _loop()
    loop.predictions = None
    assert loop.process_events([_event(1)])[0] is not None
    assert published == []


def test_gauges_follow_the_learner_and_the_store() -> None:
    loop, _, _ = _loop(budget=0.5)
    loop.process_events([_event(i) for i in range(10)])
    loop.update_gauges()
    assert loop.metrics is not None
    reg = loop.metrics.registry
    assert reg.get_sample_value("stream_al_budget_target_ratio") == 0.5
    depth = {t: reg.get_sample_value("stream_al_label_queue_depth", {"tier": t}) for t in TIERS}
    assert depth == {"crowd": loop.store.queue_depth(), "expert": 0} and depth["crowd"] > 0
    assert reg.get_sample_value("stream_al_pending_items") == loop.store.queue_depth()


def test_checkpoints_are_due_on_count_or_on_time_with_news() -> None:
    assert checkpoint_due(1000, 0.0, every_labels=1000, every_seconds=60)
    assert checkpoint_due(1, 61.0, every_labels=1000, every_seconds=60)
    assert not checkpoint_due(0, 600.0, every_labels=1000, every_seconds=60)
    assert not checkpoint_due(999, 59.0, every_labels=1000, every_seconds=60)


def test_a_batch_is_decided_as_it_would_be_one_event_at_a_time() -> None:
    """The loop predicts a batch's events together; a twin whose learner assesses each
    event alone decides every one the same (``==``), batch after batch, labels between."""
    records = list(event_records(parse_stream("synth:agrawal-drift", n_events=3000).events(2)))
    truth = {item_id: label for item_id, _, label in records}
    events = [(f"events:0:{i}", value) for i, (_, value, _) in enumerate(records)]
    events[7] = ("events:0:7", '{"id": "bad"}')  # an invalid event keeps its place
    made: list[list[object]] = []
    digests = []
    for bulk in (True, False):
        store = MemoryStore()
        loop = LabelLoop(
            LearnerSpec(strategy="split").build(seed=1), store=store, dead_letters=store
        )
        if not bulk:
            loop.learner.assess_many = lambda xs: None  # type: ignore[method-assign]
        decisions: list[object] = []
        for start in range(0, len(events), 250):
            decisions += loop.process_events(events[start : start + 250])
            for entry_id, item in store.take("w", 1000, block_ms=0):
                item_id = json.loads(item)["id"]
                store.complete(entry_id, json.dumps({"id": item_id, "label": truth[item_id]}))
            loop.process_labels()
            loop.apply_train_log()
        assert loop.applied > 200 and decisions[7] is None
        made.append(decisions)
        digests.append(loop.learner.model_digest())
    assert made[0] == made[1]
    assert digests[0] == digests[1]


def test_a_label_too_large_to_name_a_class_is_refused_and_the_item_stays_pending() -> None:
    # Every prediction names every class: such a label would make them all as large.
    loop, _, _ = _loop()
    loop.process_events([_event(0), _event(1)])
    _give(loop, _label("e0", "x" * 257), _label("e1", 2**63), _label("e1", ""))
    assert loop.process_labels() == 0
    errors = [d.error for d in _dead(loop)]
    assert "a label is a class name of at most 256 characters, got 257" in errors[0]
    assert "an empty label names no class" in errors[2]  # it was learned as the class ""
    assert (
        "an integer label is a signed 64-bit integer (-2**63 to 2**63 - 1), got one of 64 bits"
        in errors[1]
    )
    _give(loop, _label("e0", "x" * 256))  # the longest class name there may be
    assert loop.process_labels() == 1


def test_the_features_gauge_counts_the_features_learned_and_shows_a_name_per_event() -> None:
    loop, _, _ = _loop()
    assert loop.metrics is not None
    events = [
        ("events:0:0", json.dumps({"id": "a", "features": {"x": 1.0, "t1700000000": 1}})),
        ("events:0:1", json.dumps({"id": "b", "features": {"x": 2.0, "t1700000001": 1}})),
    ]
    loop.process_events(events)
    _give(loop, _label("a"), _label("b"))
    loop.process_labels()
    loop.apply_train_log()
    # x and a key that changes per event: each label adds a feature the model keeps
    assert loop.metrics.registry.get_sample_value("stream_al_model_features") == 3


def test_names_beyond_the_cap_are_counted_and_logged_once_with_the_fix(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="stream_al.service")
    loop, _, _ = _loop()
    assert loop.metrics is not None
    loop.learner.cap_features(1)
    events = [
        (f"events:0:{i}", json.dumps({"id": f"e{i}", "features": {"x": float(i), f"user_{i}": 1}}))
        for i in range(4)
    ]
    loop.process_events(events[:2])  # nothing learned yet: no name beyond the cap
    sample = loop.metrics.registry.get_sample_value
    assert sample("stream_al_features_ignored_total") == 0
    _give(loop, _label("e0"), _label("e1"))
    loop.process_labels()
    loop.apply_train_log()
    # x is learned; user_0 and user_1 are not, in either label
    assert sample("stream_al_model_features") == 1
    assert sample("stream_al_features_ignored_total") == 2
    loop.process_events(events[2:])  # the cap reached: each event is decided without its id
    assert sample("stream_al_features_ignored_total") == 4
    loop.process_events(events[3:])  # consumed again: predicted once more, said no more
    assert sample("stream_al_features_ignored_total") == 5
    warnings = [r.getMessage() for r in caplog.records if "MAX_MODEL_FEATURES" in r.getMessage()]
    assert len(warnings) == 1
    assert "'user_0'" in warnings[0] and "fix the producer's keys" in warnings[0]
    assert "raise the setting" in warnings[0]


def test_a_label_beyond_the_classes_a_model_learns_is_refused_and_the_item_stays_pending(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An id column given as the label column makes a class of every label.
    monkeypatch.setattr(feature_kinds, "MAX_CLASSES", 2)
    loop, _, _ = _loop()
    loop.process_events([_event(i) for i in range(4)])
    _give(loop, _label("e0", "a"), _label("e1", "b"))
    assert loop.process_labels() == 2 and loop.apply_train_log() == 2
    _give(loop, _label("e2", "c"), _label("e3", "a"))
    assert loop.process_labels() == 1  # e3's "a" is a class it knows
    [dead] = _dead(loop)
    assert "label 'c' would be class 3, beyond the 2 a model learns" in dead.error
    assert _store(loop).pending_count() == 1  # e2 waits for a label it can learn


def test_an_id_among_the_features_is_named_in_a_warning_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop, _, _ = _loop()
    events = [
        (f"events:0:{i}", json.dumps({"id": f"e{i}", "features": {"x": 1.0, "uid": f"u{i}"}}))
        for i in range(300)
    ]
    loop.process_events(events)
    _give(loop, *(_label(f"e{i}") for i in range(300)))
    loop.process_labels(1000)
    loop.apply_train_log()
    assert caplog.text.count("feature 'uid' took a new value in nearly every labeled") == 1


class _ForeignKeys(MemoryStore):
    """A store whose keys for the items in ``foreign`` hold what another program wrote."""

    def __init__(self, clock: Clock, foreign: set[str]) -> None:
        super().__init__(clock=clock)
        self.foreign = foreign

    def _wrong(self, item_id: str) -> WrongType:
        return WrongType(f"p:pending:{item_id}", "hash", "string")

    def enqueue_many(self, requests: Sequence[EnqueueRequest]) -> list[bool | WrongType]:
        return [
            self._wrong(r.item_id) if r.item_id in self.foreign else ok
            for r, ok in zip(requests, super().enqueue_many(requests), strict=True)
        ]

    def join_many(self, requests: Sequence[tuple[str, str, str]]) -> list[Joined]:
        joined = iter(super().join_many([r for r in requests if r[1] not in self.foreign]))
        return [self._wrong(r[1]) if r[1] in self.foreign else next(joined) for r in requests]


def test_an_item_whose_store_key_holds_another_type_is_dead_lettered_alone() -> None:
    # The store's WRONGTYPE for one item failed the whole batch: serve exited, at every
    # restart. Now that event (or label) is dead-lettered naming the key, not predicted.
    loop, _, published = _loop(store_of=lambda clock: _ForeignKeys(clock, {"e2"}))
    store = loop.store
    assert isinstance(store, _ForeignKeys)
    loop.process_events([_event(1), _event(2), _event(3)])
    assert [key for key, _ in published] == ["e1", "e3"]
    [dead] = _dead(loop)
    assert dead.source == "events:0:2" and json.loads(dead.payload)["id"] == "e2"
    assert dead.error.startswith("redis key p:pending:e2 holds a hash, not the string")
    assert dead.error.endswith("delete the key, then send this event again")
    assert loop.events["invalid"] == 1 and loop.events["queried"] == 2
    store.foreign = {"e3"}
    _give(loop, _label("e1"), _label("e3"))
    assert loop.process_labels() == 1
    assert loop.label_outcomes["learned"] == 1 and loop.label_outcomes["invalid"] == 1
    assert "redis key p:pending:e3 holds a hash" in _dead(loop)[1].error
    assert store.unacknowledged_labels == 0


class _AnswerLost(MemoryStore):
    """A store that loses the answer of its next ``join_many`` (done, or not done) or
    ``reject_label`` (done): as Redis when the connection closes before it answers."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock=clock)
        self.lose: dict[str, bool] = {}  # call -> whether it is done before the answer is lost

    def _lost(self, call: str) -> bool | None:
        return self.lose.pop(call, None)

    def join_many(self, requests: Sequence[tuple[str, str, str]]) -> list[Joined]:
        done = self._lost("join_many")
        if done is False:
            raise ConnectionError("lost before the join")
        joined = super().join_many(requests)
        if done:
            raise ConnectionError("lost after the join")
        return joined

    def reject_label(self, entry_id: str, dead_letter: str) -> None:
        done = self._lost("reject_label")
        super().reject_label(entry_id, dead_letter)
        if done:
            raise ConnectionError("lost after the rejection")


@pytest.mark.parametrize(("call", "done"), [("join_many", True), ("join_many", False)])
def test_labels_whose_join_failed_are_joined_next_time_and_counted_once(
    call: str, done: bool
) -> None:
    # A join Redis ran whose answer was lost left its labels learned and acknowledged,
    # counted nowhere; one that did not run left them unjoined until claimed, a minute on.
    loop, _, _ = _loop(store_of=_AnswerLost)
    store = loop.store
    assert isinstance(store, _AnswerLost)
    loop.process_events([_event(i) for i in range(3)])
    _give(loop, *(_label(f"e{i}") for i in range(3)))
    store.lose[call] = done
    with pytest.raises(ConnectionError):
        loop.process_labels()
    assert len(store.read_train_log(None, 10)) == (3 if done else 0)
    assert store.read_labels(10) == []  # read, and kept by the loop
    assert loop.process_labels() == 3
    assert len(store.read_train_log(None, 10)) == 3
    assert loop.label_outcomes["learned"] == 3 == _count(loop, "labels", "learned")
    assert loop.label_outcomes["duplicate"] == 0 and _dead(loop) == []
    assert store.unacknowledged_labels == 0
    assert loop.process_labels() == 0  # nothing kept


def test_a_label_dead_lettered_whose_answer_was_lost_is_dead_lettered_and_counted_once() -> None:
    loop, _, _ = _loop(store_of=_AnswerLost)
    store = loop.store
    assert isinstance(store, _AnswerLost)
    loop.process_events([_event(1)])
    _give(loop, _label("e1"), _label("nobody"), '{"id": "e1"}')
    store.lose["reject_label"] = True
    with pytest.raises(ConnectionError):
        loop.process_labels()
    assert loop.process_labels() == 1
    assert [d.error.split(" ", 1)[0] for d in _dead(loop)] == ["label:", "orphaned"]
    assert loop.label_outcomes == {
        "learned": 1,
        "orphaned": 1,
        "invalid": 1,
        "duplicate": 0,
        "voted": 0,
        "escalated": 0,
    }


def test_labels_kept_longer_than_the_hold_are_let_go_for_the_store_to_hand_out_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Held past the store's claim time, another replica may have taken them over.
    loop, _, _ = _loop(store_of=_AnswerLost)
    store = loop.store
    assert isinstance(store, _AnswerLost)
    loop.hold_labels_seconds = 0.0
    loop.process_events([_event(1)])
    _give(loop, _label("e1"))
    store.lose["join_many"] = False
    with pytest.raises(ConnectionError):
        loop.process_labels()
    assert loop.process_labels() == 0  # let go: the in-memory store hands out nothing again
    assert "1 labels read 0 s ago are let go unhandled" in caplog.text
    assert store.unacknowledged_labels == 1
