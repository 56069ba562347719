"""The Label Studio bridge's pure parts, and its loop on the in-memory queue with a fake
Label Studio (the real server is in tests/integration/test_label_studio.py)."""

from __future__ import annotations

import json
import threading
import urllib.request
from typing import Any

import pytest

from stream_al.core.routing import queue_slot
from stream_al.errors import LabelStudioError
from stream_al.io.memory import MemoryStore
from stream_al.labeling.label_studio.api import (
    LabelStudioClient,
    auth_scheme,
    classes_of,
    is_jwt,
    label_config,
    label_names,
    task_answer,
    task_payload,
    webhook_task_ids,
)
from stream_al.labeling.label_studio.bridge import (
    SECRET_HEADER,
    LabelStudioBridge,
    WebhookReceiver,
)

PAT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsInVzZXJfaWQiOiIxIn0"
    ".I-b5GlS98ZIZn2Fkc_wZW9s98LLq0ckMaR15CpeLbyg"
)
NAMES = label_names(label_config(["False", "True"]))


def _choice(label: str) -> dict[str, Any]:
    return {
        "type": "choices",
        "from_name": "label",
        "to_name": "features",
        "value": {"choices": [label]},
    }


def test_auth_scheme_follows_the_kind_of_token() -> None:
    assert is_jwt(PAT) and auth_scheme(PAT) == "Bearer"
    for legacy in ("0123456789abcdef0123456789abcdef01234567", "a.b.c", "", "x..y"):
        assert not is_jwt(legacy) and auth_scheme(legacy) == "Token"


def test_label_config_lists_the_known_classes_and_escapes_them() -> None:
    config = label_config(["a", 'say "hi" & <go>'])
    names = label_names(config)
    assert names.classes == ("a", 'say "hi" & <go>') and names.managed
    assert (names.choices, names.text, names.to_name) == ("label", "other", "features")
    without = label_names(label_config([]))  # no class yet: only the new-class choice
    assert without.classes == () and without.new_choice and without.managed


def test_a_foreign_config_is_read_but_not_managed() -> None:
    config = (
        '<View><Text name="t" value="$text"/><Choices name="c" toName="t">'
        '<Choice value="x"/></Choices></View>'
    )
    names = label_names(config)
    assert (names.choices, names.to_name, names.classes, names.managed) == ("c", "t", ("x",), False)
    with pytest.raises(LabelStudioError, match="no Choices or TextArea"):
        label_names('<View><Text name="t" value="$text"/></View>')
    with pytest.raises(LabelStudioError, match="not XML"):
        label_names("<View>")


def test_classes_come_from_probabilities_and_predictions() -> None:
    assert classes_of([{"proba": {"True": 0.9, "False": 0.1}}, {"prediction": 3}]) == [
        "3",
        "False",
        "True",
    ]
    assert classes_of([{"proba": {}, "prediction": None}]) == []


def test_a_task_carries_the_prediction_with_the_model_confidence_as_score() -> None:
    item = {
        "id": 7,
        "features": {"x": 1.5},
        "prediction": True,
        "proba": {"True": 0.55, "False": 0.45},
        "score": 0.45,
        "strategy": "split",
        "reason": "uncertain",
    }
    task = task_payload(item, "high/5-0", NAMES)
    assert task["data"]["stream_al_id"] == "7" and task["data"]["features"] == {"x": 1.5}
    assert task["meta"] == {"stream_al_entry": "high/5-0"}
    [prediction] = task["predictions"]
    assert prediction["score"] == 0.55 and prediction["model_version"] == "stream-al"
    assert prediction["result"] == [{**_choice("True")}]
    assert "model says True (55%)" in task["data"]["model_says"]
    # No prediction yet: no Label Studio prediction either; an unknown class goes as text.
    assert "predictions" not in task_payload({**item, "prediction": None}, "1-0", NAMES)
    other = task_payload({**item, "prediction": "maybe"}, "1-0", NAMES)
    assert other["predictions"][0]["result"][0]["type"] == "textarea"


def test_the_newest_kept_annotation_decides() -> None:
    def users(user_id: int) -> str:
        return {1: "ann@example.com"}.get(user_id, str(user_id))

    text = {"type": "textarea", "from_name": "other", "value": {"text": [" new class "]}}
    task = {
        "annotations": [
            {"id": 2, "result": [_choice("True")], "completed_by": 1},
            {"id": 5, "result": [_choice("False")], "completed_by": {"id": 3, "email": "b@x"}},
            {"id": 9, "result": [], "was_cancelled": True, "completed_by": 1},
        ]
    }
    assert task_answer(task, NAMES, users).label == "False"
    assert task_answer(task, NAMES, users).annotator == "b@x"
    typed = {"annotations": [{"id": 1, "result": [text], "completed_by": 1}]}
    assert task_answer(typed, NAMES, users) == task_answer(typed, NAMES, users)
    assert task_answer(typed, NAMES, users).label == "new class"  # type: ignore[union-attr]
    skipped = {"annotations": [{"id": 1, "result": [], "was_cancelled": True, "completed_by": 1}]}
    answer = task_answer(skipped, NAMES, users)
    assert answer is not None and answer.label is None and answer.annotator == "ann@example.com"
    empty = {"annotations": [{"id": 1, "result": [], "completed_by": 1}]}
    assert task_answer(empty, NAMES, users).label is None  # type: ignore[union-attr]
    assert task_answer({"annotations": []}, NAMES) is None


def test_webhook_payloads_name_their_tasks() -> None:
    many = {
        "action": "ANNOTATIONS_CREATED",
        "task": [{"id": 1}, {"id": 2}],
        "annotation": [{"id": 10, "task": 2}, {"id": 11, "task": 3}],
    }
    assert webhook_task_ids(many) == [1, 2, 3]
    assert webhook_task_ids({"action": "ANNOTATION_UPDATED", "annotation": {"task": 4}}) == [4]
    assert webhook_task_ids({"action": "TASKS_DELETED", "tasks": [{"id": 1}]}) == []


def test_the_webhook_endpoint_wants_the_secret() -> None:
    got: list[list[int]] = []
    receiver = WebhookReceiver(got.append, port=0, secret="s3cret")
    try:
        url = f"http://127.0.0.1:{receiver.port}/"
        body = json.dumps({"action": "ANNOTATION_CREATED", "annotation": {"task": 8}}).encode()

        def post(headers: dict[str, str]) -> int:
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    return int(response.status)
            except urllib.error.HTTPError as refused:
                return int(refused.code)

        assert post({}) == 401 and post({SECRET_HEADER: "wrong"}) == 401 and got == []
        assert post({SECRET_HEADER: "s3cret"}) == 200 and got == [[8]]
        for length in ("many", "-5"):  # answered, not an exception or a read to the end
            assert post({SECRET_HEADER: "s3cret", "Content-Length": length}) == 400
        body = b"[" * 50_000  # nested too deep for a JSON parser: answered too
        assert post({SECRET_HEADER: "s3cret"}) == 400 and got == [[8]]
    finally:
        receiver.close()


class FakeLabelStudio(LabelStudioClient):
    """Label Studio's API as the bridge uses it, in memory."""

    def __init__(self) -> None:
        super().__init__("http://label-studio.invalid", "token")
        self.config = ""
        self.tasks_: dict[int, dict[str, Any]] = {}
        # How imports fail: "down" (nothing imported), "lost" (imported, the reply lost),
        # "short" (imported, the reply one id short).
        self.imports_fail: str | None = None

    def whoami(self) -> dict[str, Any]:
        return {"email": "me@example.com"}

    def find_project(self, title: str) -> dict[str, Any] | None:
        return {"id": 1, "label_config": self.config} if self.config else None

    def create_project(self, title: str, config: str) -> dict[str, Any]:
        self.config = config
        return {"id": 1, "label_config": config}

    def update_project(self, project_id: int, **fields: Any) -> dict[str, Any]:
        self.config = fields.get("label_config", self.config)
        return {"id": 1, "label_config": self.config}

    def import_tasks(self, project_id: int, tasks: Any) -> list[int]:
        if self.imports_fail == "down":
            raise LabelStudioError("label studio: 502 Bad Gateway")
        ids = []
        for task in tasks:
            task_id = len(self.tasks_) + 1
            self.tasks_[task_id] = {**task, "id": task_id, "annotations": []}
            ids.append(task_id)
        if self.imports_fail == "lost":
            raise LabelStudioError("label studio: timed out")
        return ids[:-1] if self.imports_fail == "short" else ids

    def tasks_by_id(self, project_id: int, task_ids: Any) -> list[dict[str, Any]]:
        return [self.tasks_[i] for i in task_ids if i in self.tasks_]

    def tasks_by_item(self, project_id: int, item_ids: Any) -> list[dict[str, Any]]:
        return [t for t in self.tasks_.values() if t["data"]["stream_al_id"] in item_ids]

    def user_email(self, user_id: int) -> str:
        return f"user{user_id}@example.com"

    def annotate(self, item_id: str, label: str | None) -> int:
        [task] = [t for t in self.tasks_.values() if t["data"]["stream_al_id"] == item_id]
        cancelled = label is None
        result = [] if cancelled else [_choice(label)]  # type: ignore[arg-type]
        task["annotations"].append(
            {"id": 1, "result": result, "was_cancelled": cancelled, "completed_by": 1}
        )
        return int(task["id"])


def _queue(n: int) -> MemoryStore:
    store = MemoryStore()
    for i in range(n):
        item = {"id": str(i), "features": {"x": i}, "prediction": i % 2 == 0}
        item["proba"] = {"True": 0.6, "False": 0.4}
        store.enqueue(str(i), json.dumps(item), json.dumps(item), 3600)
    return store


def test_the_bridge_holds_at_most_max_open_and_acks_only_answered_items() -> None:
    store, ls = _queue(5), FakeLabelStudio()
    bridge = LabelStudioBridge(store, ls, "b", max_open_tasks=3, poll_seconds=3600)
    bridge.connect()
    bridge._fill()
    assert len(ls.tasks_) == 3 and store.read_labels(10) == []
    assert ls.config and label_names(ls.config).classes == ("False", "True")
    bridge.signal([ls.annotate("0", "False")])
    bridge.signal([ls.annotate("1", None)])
    bridge._sync(bridge._take_signalled())
    labels = [json.loads(label) for _, label in store.read_labels(10)]
    assert [(x["id"], x["label"], x["annotator"]) for x in labels] == [
        ("0", False, "label-studio:user1@example.com")
    ]
    assert bridge.stats.labeled == 1 and bridge.stats.skipped == 1 and len(bridge._open) == 1
    bridge._fill()
    assert len(ls.tasks_) == 5 and len(bridge._open) == 3


def test_the_bridge_drops_queue_entries_that_are_not_items_and_attaches_the_rest() -> None:
    store, ls = _queue(2), FakeLabelStudio()
    for raw in ("[1]", "null", '{"id": 7}', "{broken"):
        store._add(queue_slot(), raw)
    bridge = LabelStudioBridge(store, ls, "b", max_open_tasks=10)
    bridge.connect()
    bridge._fill()
    assert bridge.stats.unreadable == 4 and len(ls.tasks_) == 2 and store.queue_depth() == 2


def test_a_restarted_bridge_finds_its_tasks_instead_of_making_new_ones() -> None:
    store, ls = _queue(2), FakeLabelStudio()
    first = LabelStudioBridge(store, ls, "b", max_open_tasks=5)
    first.connect()
    first._fill()
    ls.annotate("1", "True")  # while nobody listens
    store._seen_consumers.discard("b")  # the memory twin's view of a restarted worker
    again = LabelStudioBridge(store, ls, "b", max_open_tasks=5)
    again.connect()
    again._fill()
    assert len(ls.tasks_) == 2 and again.stats.created == 0 and again.stats.labeled == 1
    assert list(again._open) == [1]


def test_items_taken_while_label_studio_failed_get_their_tasks_when_it_answers_again() -> None:
    # Taken, then the import failed: the items stayed held (kept from other workers for
    # good) with no task, and the next fill read new items only. Nobody labeled them.
    store, ls = _queue(3), FakeLabelStudio()
    bridge = LabelStudioBridge(store, ls, "b", max_open_tasks=10)
    bridge.connect()
    ls.imports_fail = "down"
    with pytest.raises(LabelStudioError):
        bridge._fill()
    ls.imports_fail = None
    bridge._fill()
    assert sorted(t["data"]["stream_al_id"] for t in ls.tasks_.values()) == ["0", "1", "2"]
    for item_id in ("0", "1", "2"):
        bridge.signal([ls.annotate(item_id, "True")])
    bridge._sync(bridge._take_signalled())
    assert bridge.stats.labeled == 3 and store.queue_depth() == 0


@pytest.mark.parametrize("how", ["lost", "short"])
def test_items_whose_tasks_were_made_before_a_failure_are_not_imported_twice(how: str) -> None:
    # The import went through and its reply was lost, or named fewer tasks than were sent
    # (a ValueError out of the run before): the retry finds the tasks.
    store, ls = _queue(2), FakeLabelStudio()
    bridge = LabelStudioBridge(store, ls, "b", max_open_tasks=10)
    bridge.connect()
    ls.imports_fail = how
    with pytest.raises(LabelStudioError):
        bridge._fill()
    ls.imports_fail = None
    bridge._fill()
    assert len(ls.tasks_) == 2 and bridge.open_tasks == 2


def test_items_redis_gave_a_failed_run_are_attached_by_the_next_run() -> None:
    # Redis ran the take and the reply was lost with the connection (the run ended with
    # the error): the items were this worker's, unacknowledged, and waited for the
    # claim-idle time (300 s by default) before anyone read them again.
    store, ls = _queue(3), FakeLabelStudio()
    bridge = LabelStudioBridge(store, ls, "b", max_open_tasks=10, tick_seconds=0.01)
    bridge.connect()
    assert len(store.take("b", 2, 0)) == 2  # what the lost reply held
    imported = ls.import_tasks

    def then_stop(project_id: int, tasks: Any) -> list[int]:
        ids = imported(project_id, tasks)
        if len(ls.tasks_) == 3:
            bridge.stop()
        return ids

    ls.import_tasks = then_stop  # type: ignore[method-assign]
    timer = threading.Timer(10.0, bridge.stop)  # without the fix: stopped with 1 task
    timer.start()
    try:
        bridge.run()
    finally:
        timer.cancel()
    assert sorted(t["data"]["stream_al_id"] for t in ls.tasks_.values()) == ["0", "1", "2"]


def test_an_item_whose_task_was_deleted_keeps_waiting_for_a_new_one_through_a_failure() -> None:
    store, ls = _queue(1), FakeLabelStudio()
    bridge = LabelStudioBridge(store, ls, "b", max_open_tasks=10)
    bridge.connect()
    bridge._fill()
    ls.tasks_.clear()  # deleted in Label Studio
    ls.imports_fail = "down"
    with pytest.raises(LabelStudioError):
        bridge._sync(list(bridge._open))
    ls.imports_fail = None
    bridge._fill()
    bridge.signal([ls.annotate("0", "True")])
    bridge._sync(bridge._take_signalled())
    assert bridge.stats.labeled == 1 and store.queue_depth() == 0


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class _GivesBack(MemoryStore):
    """A queue that notes when each item went back (``release``)."""

    def __init__(self, clock: _Clock) -> None:
        super().__init__(clock=clock)
        self.released: list[float] = []

    def release(self, entry_id: str, item: str) -> None:
        self.released.append(self._clock())
        super().release(entry_id, item)


def _skipped_once(clock: _Clock) -> tuple[_GivesBack, LabelStudioBridge]:
    """A bridge whose one item an annotator skipped: it went back to the queue."""
    store, ls = _GivesBack(clock), FakeLabelStudio()
    item = {"id": "s", "features": {"x": 1}, "prediction": True, "proba": {"True": 0.6}}
    store.enqueue("s", json.dumps(item), json.dumps(item), 3600)
    bridge = LabelStudioBridge(store, ls, "b", poll_seconds=3600, clock=clock)
    bridge.connect()
    bridge._fill()
    bridge.signal([ls.annotate("s", None)])
    bridge._sync(bridge._take_signalled())
    return store, bridge


@pytest.mark.parametrize("turn_seconds", [0.05, 1.0])
def test_a_skipped_item_goes_back_at_the_workers_pace_however_often_the_bridge_turns(
    turn_seconds: float,
) -> None:
    # The bridge gave a skipped item back at each fill it met it in: every second alone,
    # and at each webhook call between (20 calls a second: 1,200 give-backs in the minute),
    # where a worker holds it between give-backs, gaps of 0.25 s doubling to 4 s (20 acts).
    clock = _Clock()
    store, bridge = _skipped_once(clock)
    skipped_at = clock.now
    while store.pending_count() and clock.now < skipped_at + 120:  # alone: it always returns
        clock.now += turn_seconds
        bridge._fill()
    gaps = [b - a for a, b in zip(store.released[1:], store.released[2:], strict=False)]
    worker = [0.25, 0.5, 1.0, 2.0] + [4.0] * 20  # GiveBacks's pace (the worker's)
    assert all(gap >= want - 1e-9 for gap, want in zip(gaps, worker, strict=False)), gaps
    assert len(store.released) - 1 <= 20 and bridge.stats.dropped == 1
    assert 60.0 <= clock.now - skipped_at <= 60.0 + 2 * turn_seconds  # dropped after a minute
    assert bridge._held == set() and store.queue_depth() == 0  # nothing held, nothing queued


def test_the_bridge_waits_for_the_first_held_skip_and_gives_them_back_when_it_stops() -> None:
    clock = _Clock()
    store, bridge = _skipped_once(clock)
    assert bridge._tick() == 1.0  # nothing held: the fill's pace
    bridge._fill()  # met again: back at once
    clock.now += 0.1
    bridge._fill()  # and again: held for 0.25 s from the last
    assert bridge._tick() == pytest.approx(0.15) and store.queue_depth() == 1
    bridge.stop()
    bridge.run()  # the run ends at once, the held skip goes back for the others
    assert bridge._held == set() and len(store.released) == 3
    [(_, raw)] = store.take("other", 10)
    assert json.loads(raw)["id"] == "s"
