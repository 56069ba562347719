"""What the loop does when an input or a server misbehaves (issue 15), with the in-memory
twins; the same faults on the real servers are in tests/integration/test_faults.py."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from river import base

from stream_al.core.learner import ActiveLearner
from stream_al.errors import StoreReset, StoreUnavailable
from stream_al.io.base import Unreadable
from stream_al.io.checkpoints import CheckpointDirectory, make_checkpoint
from stream_al.io.memory import MemoryStore
from stream_al.runtime.metrics import Metrics
from stream_al.schemas import DeadLetter
from stream_al.service.loop import LabelLoop
from tests.unit.service.test_runner import FakeSource, _events, _service
from tests.unit.stubs import NoisyClassifier


class Fragile(NoisyClassifier):
    """A model that raises on one feature value, as a model with a bug would."""

    def predict_proba_one(self, x: dict[Any, Any]) -> dict[Any, float]:
        if x.get("x") == 13:
            raise ZeroDivisionError("division by zero")
        return super().predict_proba_one(x)


def _loop(store: MemoryStore, model: base.Classifier | None = None) -> LabelLoop:
    learner = ActiveLearner(model or NoisyClassifier(), "random", 1.0, seed=0)
    return LabelLoop(learner, store=store, dead_letters=store, metrics=Metrics.create())


def _dead(store: MemoryStore) -> list[DeadLetter]:
    return [DeadLetter.model_validate_json(d) for d in store.dead_letters]


def test_an_event_whose_decision_raises_is_dead_lettered_and_the_batch_goes_on() -> None:
    store = MemoryStore()
    loop = _loop(store, Fragile())
    batch = [(o, raw.decode()) for o, raw in _events(10, 20)]
    decisions = loop.process_events(batch)
    assert [d is None for d in decisions].count(True) == 1
    [letter] = _dead(store)
    assert letter.source == "t:0:13"
    assert "could not decide this event: ZeroDivisionError: division by zero" in letter.error
    assert loop.events["invalid"] == 1 and loop.learner.n_events == 19


def test_an_entry_the_store_cannot_read_is_dead_lettered_with_its_reason() -> None:
    class Garbled(MemoryStore):
        def read_labels(self, count: int) -> Sequence[tuple[str, str | Unreadable]]:
            self._labels_unacked["9-0"] = "\\xff"  # handed out: unacknowledged
            return [("9-0", Unreadable("label is not UTF-8 text: ...", "\\xff"))]

    store = Garbled()
    loop = _loop(store)
    assert loop.process_labels() == 0
    [letter] = _dead(store)
    assert letter.source == "labels:9-0" and "not UTF-8" in letter.error
    assert letter.payload == "\\xff" and loop.label_outcomes["invalid"] == 1


def _poisoned_log(store: MemoryStore) -> None:
    """A train log with an entry no model can learn between two good ones."""
    from stream_al.io.base import TrainLogEntry

    def entry(n: int, features: str) -> TrainLogEntry:
        item = f'{{"id": "i{n}", "features": {features}, "prediction": null}}'
        return TrainLogEntry(f"{n}-0", item, json.dumps({"id": f"i{n}", "label": True}))

    store._train_log += [
        entry(1, '{"x": 1.0}'),
        entry(2, '{"x": ' + "9" * 400 + "}"),
        entry(3, '{"x": "text"}'),  # x was learned as a number
        entry(4, "not json"),
        entry(5, '{"x": 2.0}'),
    ]


def test_a_train_log_entry_that_cannot_be_learned_is_skipped_the_same_way_by_every_replica() -> (
    None
):
    store = MemoryStore()
    _poisoned_log(store)
    replicas = [_loop(store) for _ in range(2)]
    for loop in replicas:
        assert loop.apply_train_log() == 5
        assert loop.learner.n_learned == 2 and loop.skipped == 3 and loop.last_applied == "5-0"
        assert loop.metrics is not None
        assert loop.metrics.registry.get_sample_value("stream_al_train_log_skipped_total") == 3
    assert replicas[0].learner.model_digest() == replicas[1].learner.model_digest()
    letters = _dead(store)  # once each, whichever replica skipped it first
    assert [d.source for d in letters] == ["train_log:2-0", "train_log:3-0", "train_log:4-0"]
    assert "400 digits" in letters[0].error and "'x' is text" in letters[1].error


def test_a_logged_label_of_another_kind_is_skipped_and_the_tree_predicts_on() -> None:
    # A replica that had learned no label yet lets any kind into the train log; the
    # learner refuses it there, the same way on every replica and every replay.
    from stream_al.io.base import TrainLogEntry

    def entry(n: int, label: object) -> TrainLogEntry:
        item = json.dumps({"id": f"i{n}", "features": {"x": float(n % 7)}, "prediction": None})
        return TrainLogEntry(f"{n}-0", item, json.dumps({"id": f"i{n}", "label": label}))

    store = MemoryStore()
    store._train_log += [entry(n, "ab"[n % 2]) for n in range(50)]
    store._train_log += [entry(50, 1), entry(51, "a"), entry(52, False)]
    replicas = [_loop(store, ActiveLearner("hoeffding-tree").model) for _ in range(2)]
    for loop in replicas:
        assert loop.apply_train_log() == 53
        assert loop.learner.n_learned == 51 and loop.skipped == 2
        decisions = loop.process_events([(o, raw.decode()) for o, raw in _events(0, 20)])
        assert None not in decisions  # every later event decided
    assert replicas[0].learner.model_digest() == replicas[1].learner.model_digest()
    letters = _dead(store)
    assert [d.source for d in letters] == ["train_log:50-0", "train_log:52-0"]
    assert "label 1 is an integer" in letters[0].error


def test_an_entry_learned_despite_times_that_are_no_numbers_is_not_said_skipped() -> None:
    # The label delay was computed after learning: text times raised TypeError there, and
    # the entry, learned, was counted and dead-lettered as "cannot be learned, skipped".
    from stream_al.io.base import TrainLogEntry

    store = MemoryStore()
    item = json.dumps({"id": "i", "features": {"x": 1.0}, "prediction": None, "enqueued_at": "?"})
    label = json.dumps({"id": "i", "label": True, "ts": "yesterday"})
    store._train_log.append(TrainLogEntry("1-0", item, label))
    loop = _loop(store)
    assert loop.apply_train_log() == 1
    assert loop.learner.n_learned == 1 and loop.skipped == 0 and not store.dead_letters
    assert loop.metrics is not None
    assert loop.metrics.registry.get_sample_value("stream_al_train_log_applied_total") == 1


HAND_WRITTEN_ENTRIES = {
    # item, label -> what the dead letter names (it said KeyError: 'prediction', or
    # AttributeError: 'list' object has no attribute 'get', or EOF while parsing a value)
    ('{"features": {"x": 1}}', '{"label": 1}'): "its item has no 'prediction'",
    ("[1]", '{"label": 1}'): "its item is a JSON array, not an object",
    ('{"features": {"x": 1}, "prediction": 0}', ""): "it has no label field",
    ("{broken", '{"label": 1}'): "its item is not JSON (key must be a string",
    ('{"features": {"x": 1}, "prediction": 0}', '{"id": "i"}'): "its label has no 'label'",
}


def test_a_hand_written_train_log_entry_is_dead_lettered_naming_the_field_to_fix() -> None:
    from stream_al.io.base import TrainLogEntry

    store = MemoryStore()
    for n, (item, label) in enumerate(HAND_WRITTEN_ENTRIES):
        store._train_log.append(TrainLogEntry(f"{n}-0", item, label))
    loop = _loop(store)
    assert loop.apply_train_log() == len(HAND_WRITTEN_ENTRIES) == loop.skipped
    errors = [d.error for d in _dead(store)]
    for error, part in zip(errors, HAND_WRITTEN_ENTRIES.values(), strict=True):
        assert part in error and "written by hand or by another program" in error, error


def test_a_skipped_entry_is_not_learned_again_when_its_dead_letter_must_wait_for_redis() -> None:
    class Away(MemoryStore):
        down = True

        def skip_train_log_entry(self, entry_id: str, dead_letter: str) -> bool:
            if self.down:
                raise StoreUnavailable("redis: away")
            return super().skip_train_log_entry(entry_id, dead_letter)

    store = Away()
    _poisoned_log(store)
    loop = _loop(store)
    with pytest.raises(StoreUnavailable):
        loop.apply_train_log()
    assert loop.last_applied == "5-0" and loop.learner.n_learned == 2  # applied all the same
    store.down = False
    assert loop.apply_train_log() == 0  # nothing left to learn; the dead letters are written
    assert len(_dead(store)) == 3 and loop.learner.n_learned == 2


def test_a_polled_batch_survives_a_failure_of_the_first_store_call() -> None:
    source = FakeSource([_events(0, 10), _events(10, 5)])
    service, store = _service(source)
    depth = store.queue_depth
    failures = {"left": 1}

    def queue_depth() -> int:
        if failures["left"]:
            failures["left"] -= 1
            raise StoreUnavailable("redis: away")
        return depth()

    store.queue_depth = queue_depth  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailable):
        service.turn()
    assert source.commits == 0 and source.calls.count("poll") == 1
    service.turn()  # the kept batch first, then the next one
    assert service.loop.learner.n_events == 15 and source.commits == 2


def test_readiness_follows_the_event_source_s_view_of_its_broker() -> None:
    service, _ = _service(FakeSource([]))
    answers = iter(["kafka: no connection to any broker", None, None])
    service.probe = lambda: next(answers)
    seen: list[tuple[bool, str]] = []

    def turn() -> None:  # a turn that succeeds; readiness is read before each
        seen.append((service.health.ready, service.health.reason))
        if len(seen) == 3:
            service.stop()

    service.turn = turn  # type: ignore[method-assign]
    service.run(sleep=lambda s: None)
    assert seen == [
        (False, "starting"),
        (False, "kafka: no connection to any broker"),
        (True, ""),
    ]


def test_redis_that_lost_its_data_restarts_the_learner_from_the_newest_checkpoint(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = FakeSource([_events(0, 5)])
    service, store = _service(source)
    home = CheckpointDirectory(tmp_path)
    service.durable = home
    kept = ActiveLearner(NoisyClassifier(), "random", 0.5, seed=0)
    for _ in range(7):
        kept.learn({"x": 1.0}, True, True)
    home.save(make_checkpoint(kept, "r2", "41-0", b"k", now=1.0))
    reads = {"n": 0}
    read_labels = store.read_labels

    def lost_once(count: int) -> Any:
        reads["n"] += 1
        if reads["n"] == 1:
            raise StoreReset(  # as RedisStore says it
                "redis no longer holds stream-al's state (its state id changed: it lost its "
                "data); the consumer groups are recreated"
            )
        return read_labels(count)

    store.read_labels = lost_once  # type: ignore[method-assign]

    def stop_when_restarted() -> None:
        if service.health.note:
            service.stop()

    beat = service.health.beat

    def beat_and_check() -> None:
        beat()
        stop_when_restarted()

    service.health.beat = beat_and_check  # type: ignore[method-assign]
    service.run(sleep=lambda s: None)
    assert service.loop.learner.n_learned == 7 and service.loop.last_applied == "41-0"
    assert "restarted from the checkpoint of r2 (train log 41-0)" in service.health.note
    assert service.metrics.registry.get_sample_value("stream_al_state_resets_total") == 1
    assert home.load("r1") is not None  # and checkpointed at once, there too
    # One error line, saying each thing once (it said "the consumer groups are recreated;
    # consumer groups recreated").
    [said] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert said.count("recreated") == 1 and "restarted from the checkpoint of r2" in said


def test_a_checkpoint_the_directory_cannot_take_is_counted_and_serving_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A full volume was a log line at each checkpoint and nothing an alert could see
    # (the last-checkpoint time went on rising: Redis had it).
    source = FakeSource([_events(0, 5), _events(5, 10)])
    service, store = _service(source)
    blocked = tmp_path / "volume"
    blocked.mkdir()
    service.durable = CheckpointDirectory(blocked)
    failures = "stream_al_checkpoint_dir_failures_total"
    service.turn()
    assert service.maybe_checkpoint(force=True)
    assert service.metrics.registry.get_sample_value(failures) == 0
    # The volume goes (a file where the directory was: root writes through chmod 000).
    for entry in blocked.iterdir():
        entry.unlink()
    blocked.rmdir()
    blocked.write_text("not a directory")
    service.turn()
    assert service.maybe_checkpoint(force=True)
    assert service.metrics.registry.get_sample_value(failures) == 1
    assert "checkpoint not written to the checkpoint directory" in caplog.text
    newest = store.newest()  # Redis has it, with the learner's place in the log
    assert newest is not None and newest.train_log_id == service.loop.last_applied
