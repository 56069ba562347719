from __future__ import annotations

import json

import pytest

from stream_al.core.learner import ActiveLearner
from stream_al.io.memory import (
    MemoryDeadLetters,
    MemoryLabelQueue,
    MemoryLabelStream,
    MemoryPendingStore,
    MemoryTrainLog,
)
from stream_al.schemas import DeadLetter, Prediction, QueryItem
from stream_al.service import LabelLoop
from tests.unit.stubs import NoisyClassifier


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _loop(
    budget: float = 1.0, max_queue_depth: int = 1000, ttl: float = 60.0, model: object | None = None
) -> tuple[LabelLoop, Clock, list[str]]:
    clock = Clock()
    published: list[str] = []
    learner = ActiveLearner(model or NoisyClassifier(), "random", budget, seed=0)
    loop = LabelLoop(
        learner,
        queue=MemoryLabelQueue(),
        pending=MemoryPendingStore(clock=clock),
        labels=MemoryLabelStream(),
        train_log=MemoryTrainLog(),
        dead_letters=MemoryDeadLetters(),
        predictions=published.append,
        max_queue_depth=max_queue_depth,
        label_ttl=ttl,
        clock=clock,
    )
    return loop, clock, published


def _event(i: int, **extra: object) -> tuple[str, str]:
    return f"events:0:{i}", json.dumps({"id": f"e{i}", "features": {"x": float(i)}, **extra})


def _label(item_id: str, label: object = True) -> str:
    return json.dumps({"id": item_id, "label": label, "annotator": "ann"})


def _dead(loop: LabelLoop) -> list[DeadLetter]:
    return [DeadLetter.model_validate_json(r) for r in loop.dead_letters.records]  # type: ignore[attr-defined]


def test_a_queried_event_is_stored_pending_and_queued_with_everything_a_labeler_needs() -> None:
    loop, _, published = _loop()
    [decision] = loop.process_events([_event(1)])
    assert decision is not None and decision.queried
    [(_, raw)] = loop.queue.take("w", 10)
    item = QueryItem.model_validate_json(raw)
    assert item.id == "e1" and item.features == {"x": 1.0}
    assert item.strategy == "random" and item.reason == "random"
    assert loop.pending.count() == 1
    prediction = Prediction.model_validate_json(published[0])
    assert prediction.id == "e1" and prediction.queried
    assert loop.events["queried"] == 1


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("not json", "json"),
        (json.dumps({"features": {"x": 1}}), "id"),
        (json.dumps({"id": "a", "features": {"x": float("nan")}}).replace("NaN", "NaN"), "finite"),
        (json.dumps({"id": "a", "features": {}}), "features"),
        (json.dumps({"id": "a", "features": {"x": 1}, "cost": -1}), "cost"),
        (json.dumps({"id": "a", "features": {"x": [1, 2]}}), "features.x"),
    ],
)
def test_invalid_events_are_dead_lettered_with_the_reason_and_the_loop_goes_on(
    raw: str, error: str
) -> None:
    loop, _, _ = _loop()
    out = loop.process_events([("events:3:17", raw), _event(2)])
    assert out[0] is None and out[1] is not None
    [dead] = _dead(loop)
    assert dead.source == "events:3:17" and dead.payload == raw
    assert error in dead.error.lower()
    assert loop.events["invalid"] == 1 and loop.events["queried"] == 1


def test_a_redelivered_event_is_queued_once() -> None:
    loop, _, _ = _loop()
    loop.process_events([_event(5), _event(5)])
    assert loop.queue.depth() == 1
    assert loop.events["queried"] == 1 and loop.events["duplicate"] == 1


def test_backpressure_skips_queries_when_the_queue_is_full_without_spending_budget() -> None:
    loop, _, _ = _loop(max_queue_depth=2)
    loop.process_events([_event(i) for i in range(5)])
    assert loop.queue.depth() == 2
    assert loop.events["queried"] == 2 and loop.events["backpressure"] == 3
    assert loop.learner.n_queried == 2


def test_labels_are_joined_logged_and_learned_in_log_order() -> None:
    from river import naive_bayes

    loop, _, _ = _loop(model=naive_bayes.GaussianNB())
    loop.process_events([_event(i) for i in range(4)])
    for item_id in ("e2", "e0", "e3"):
        loop.labels.append(_label(item_id, item_id != "e0"))
    assert loop.process_labels() == 3
    logged = [json.loads(raw) for _, raw in loop.train_log.read_after(None, 10)]
    assert [e["id"] for e in logged] == ["e2", "e0", "e3"]
    assert logged[0]["features"] == {"x": 2.0} and logged[0]["annotator"] == "ann"
    assert loop.learner.n_learned == 0  # learned from the log, not from the label
    assert loop.apply_train_log() == 3
    assert loop.learner.n_learned == 3
    assert loop.apply_train_log() == 0  # nothing learned twice
    assert loop.pending.count() == 1
    assert loop.labels.unacknowledged == 0  # type: ignore[attr-defined]


def test_orphaned_duplicate_and_invalid_labels_are_dead_lettered_and_counted() -> None:
    loop, clock, _ = _loop(ttl=60.0)
    loop.process_events([_event(1), _event(2)])
    loop.labels.append(_label("e1"))
    loop.labels.append(_label("e1"))  # duplicate
    loop.labels.append(_label("nobody"))  # orphan
    loop.labels.append('{"id": "e2"}')  # no label
    assert loop.process_labels() == 1
    clock.now += 61  # e2's pending item expires
    loop.labels.append(_label("e2"))
    assert loop.process_labels() == 0
    assert dict(loop.label_outcomes) == {"joined": 1, "duplicate": 1, "orphaned": 2, "invalid": 1}
    reasons = [d.error for d in _dead(loop)]
    assert reasons[0].startswith("duplicate label")
    assert reasons[1].startswith("orphaned label")
    assert "label" in reasons[2]
    assert all(d.source.startswith("labels:") for d in _dead(loop))
    assert loop.labels.unacknowledged == 0  # type: ignore[attr-defined]


def test_no_predictions_are_published_when_switched_off() -> None:
    loop, _, _ = _loop()
    loop.predictions = None
    assert loop.process_events([_event(1)])[0] is not None
