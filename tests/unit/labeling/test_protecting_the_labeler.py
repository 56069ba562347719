"""Labeling that protects the labeler from slips: one number key per class for the whole
session (class order, not probability order), a class the model has never seen needs a
confirmation (a fixed class list refuses it), a skipped item goes back to the queue for
someone else (and leaves the pending items when nobody takes it), and the worker shows
its progress."""

from __future__ import annotations

import io
import itertools
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stream_al.io.memory import MemoryStore
from stream_al.labeling.base import SKIP, Oracle
from stream_al.labeling.classes import SessionClasses
from stream_al.labeling.oracles import FileOracle, TerminalOracle
from stream_al.labeling.web import WebOracle
from stream_al.labeling.worker import Worker

TOKEN = "secret-token-123"


def _item(item_id: str, proba: dict[str, float], prediction: Any = None) -> dict[str, Any]:
    return {"id": item_id, "features": {"x": 1.0}, "proba": proba, "prediction": prediction}


def _queue(store: MemoryStore, *ids: str) -> MemoryStore:
    for i in ids:
        assert store.enqueue(i, "{}", json.dumps(_item(i, {"cat": 0.6, "dog": 0.4}, "cat")), 60)
    return store


# -- one key per class --------------------------------------------------------------------


def test_each_class_keeps_its_key_whatever_the_probabilities_say() -> None:
    classes = SessionClasses()
    classes.observe(_item("a", {"1": 0.9, "0": 0.1}))
    first = classes.keys()
    classes.observe(_item("b", {"0": 0.9, "1": 0.1}))
    assert first == classes.keys() == [(1, "0"), (2, "1")]  # class order, not probability
    classes.observe(_item("c", {"0": 0.2, "1": 0.1, "-1": 0.7}))  # a class learned later
    assert classes.keys() == [(1, "0"), (2, "1"), (3, "-1")]  # takes the next key


def test_a_fixed_class_list_sets_the_keys_from_the_start_and_refuses_other_labels() -> None:
    classes = SessionClasses(fixed=["dog", "cat"])
    classes.observe(_item("a", {"bird": 0.9}))
    assert classes.keys() == [(1, "dog"), (2, "cat")]
    assert classes.check("cat") is None
    assert "not one of the classes: dog, cat" in str(classes.check("cta"))
    classes.add("cta")
    assert not classes.known("cta")


@pytest.fixture
def web() -> Iterator[WebOracle]:
    oracle = WebOracle(TOKEN, port=0, undo_seconds=0.0)
    yield oracle
    oracle.close()


def _post(web: WebOracle, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{web.port}{path}", data=json.dumps(body).encode(), method="POST"
    )
    request.add_header("Authorization", f"Bearer {TOKEN}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return int(refused.code), json.loads(refused.read())


def _show(web: WebOracle, item: dict[str, Any]) -> None:
    with web._lock:  # what label() does before it waits for the page
        web.classes.observe(item)
        web._item = item


def test_the_web_page_gives_each_class_one_key_for_the_session(web: WebOracle) -> None:
    _show(web, _item("a", {"1": 0.8, "0": 0.2}, "1"))
    first = web.state()["classes"]
    _show(web, _item("b", {"0": 0.7, "1": 0.3}, "0"))
    assert web.state()["classes"] == first == [(1, "0"), (2, "1")]


def test_the_web_page_writes_a_new_class_only_once_confirmed(web: WebOracle) -> None:
    _show(web, _item("a", {"0": 0.8, "1": 0.2}, "0"))
    status, answer = _post(web, "/api/answer", {"label": "yes"})  # a typo
    assert status == 409 and not answer["accepted"] and answer["confirm"]
    assert "'yes' is a class the model has never seen" in answer["problem"]
    assert not web._answers  # nothing reaches the worker
    status, answer = _post(web, "/api/answer", {"label": "2", "confirm": True})
    assert status == 200 and answer["accepted"]
    assert list(web._answers) == ["2"] and web.state()["classes"][-1] == (3, "2")


def test_the_web_page_refuses_a_label_outside_a_fixed_class_list() -> None:
    web = WebOracle(TOKEN, port=0, classes=SessionClasses(fixed=["cat", "dog"]))
    try:
        _show(web, _item("a", {"cat": 0.8, "dog": 0.2}, "cat"))
        status, answer = _post(web, "/api/answer", {"label": "cta", "confirm": True})
        assert status == 409 and not answer["confirm"] and not web._answers
        assert web.state()["closed"] is True
    finally:
        web.close()


def test_the_terminal_asks_before_a_new_class_and_refuses_one_outside_a_fixed_list() -> None:
    out = io.StringIO()
    oracle = TerminalOracle(stdin=io.StringIO("yes\ndog\n"), stdout=out)
    assert oracle.label(_item("a", {"cat": 0.6, "dog": 0.4}, "cat")) == "dog"  # typo caught
    assert "'yes' is a class the model has never seen" in out.getvalue()
    oracle = TerminalOracle(stdin=io.StringIO("bird\ny\n"), stdout=io.StringIO())
    assert oracle.label(_item("b", {"cat": 0.6, "dog": 0.4}, "cat")) == "bird"  # confirmed
    assert oracle.classes.known("bird")
    fixed = SessionClasses(fixed=["cat", "dog"])
    out = io.StringIO()
    oracle = TerminalOracle(stdin=io.StringIO("bird\ny\ncat\n"), stdout=out, classes=fixed)
    assert oracle.label(_item("c", {"cat": 0.6, "dog": 0.4}, "cat")) == "cat"
    assert "not one of the classes: cat, dog" in out.getvalue()
    out = io.StringIO()  # 20 digits among integer classes: no class a model takes
    oracle = TerminalOracle(stdin=io.StringIO("12345678901234567890\n1\n"), stdout=out)
    assert oracle.label(_item("d", {"0": 0.6, "1": 0.4}, 0)) == 1
    assert "a signed 64-bit integer" in out.getvalue()


# -- skipping ---------------------------------------------------------------------------------


class _Skips(Oracle):
    name = "skipper"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def label(self, item: dict[str, Any], timeout: float | None = None) -> Any:
        self.seen.append(str(item["id"]))
        return SKIP


class _Knows(Oracle):
    name = "knows"

    def label(self, item: dict[str, Any], timeout: float | None = None) -> Any:
        return "cat"


def test_a_skipped_item_goes_back_to_the_queue_for_another_labeler() -> None:
    store = _queue(MemoryStore(), "a")
    alice = _Skips()
    stats = Worker(store, alice, "alice").run(max_items=1)
    assert stats.skipped == 1 and store.queue_depth() == 1  # back in the queue
    Worker(store, _Knows(), "bob").run(idle_exit=0.0)
    assert [json.loads(raw)["id"] for _, raw in store.read_labels(10)] == ["a"]


class _Clock:
    """A clock that moves ``step`` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class _Releases(MemoryStore):
    """The memory store, noting each item given back and when."""

    def __init__(self, clock: _Clock) -> None:
        super().__init__()
        self.clock, self.released = clock, []

    def release(self, entry_id: str, item: str) -> None:
        self.released.append((json.loads(item)["id"], self.clock.now))
        super().release(entry_id, item)


def test_an_item_nobody_else_takes_goes_back_for_a_minute_then_leaves_queue_and_pending() -> None:
    # It was dropped after three give-backs: a worker alone for a moment (the others busy
    # with an item, or reconnecting) dropped a skipped item within milliseconds.
    clock = _Clock(step=0.01)
    store = _queue(_Releases(clock), "a", "b")
    alice = _Skips()
    stats = Worker(store, alice, "alice", clock=clock, requeue_seconds=60.0).run(idle_exit=0.0)
    assert alice.seen == ["a", "b"]  # each shown once: given back unseen after that
    assert stats.skipped == 2 and stats.dropped == 2
    assert store.queue_depth() == 0 and store.pending_count() == 0
    assert store.queue_stats()["skipped"] == 2
    times = [t for item, t in store.released if item == "a"]
    # Given back when skipped, at once when met again, then paced: gaps from 0.25 s
    # doubling to 4 s, held in between (not read again at once), for the minute.
    assert 15 <= len(times) <= 25, times
    gaps = [b - a for a, b in itertools.pairwise(times[1:])]
    assert gaps[0] >= 0.25 and max(gaps) <= 4.0 + 0.1 and all(g >= 0.25 for g in gaps)
    assert 56.0 <= times[-1] - times[1] < 60.0  # dropped when met after the minute


def test_a_skipped_item_met_again_waits_for_the_minute_for_another_labeler() -> None:
    clock = _Clock(step=0.01)
    store = _queue(_Releases(clock), "a")
    alice = _Skips()
    worker = Worker(store, alice, "alice", clock=clock, requeue_seconds=60.0)
    worker.run(max_items=1)  # skipped
    worker.run(max_items=1)  # (counts the skip: returns at once)
    assert len(store.released) == 1 and not worker.stats.dropped
    [(entry_id, raw)] = store.take("alice", 1)
    worker._handle(entry_id, raw)  # met again: given back at once
    assert len(store.released) == 2
    [(entry_id, raw)] = store.take("alice", 1)
    worker._handle(entry_id, raw)  # and again: held until its gap has passed
    assert len(store.released) == 2 and entry_id in worker._holding
    clock.now += 30.0
    worker._give_back_due()  # half a minute on: back in the queue, not dropped
    assert len(store.released) == 3 and not worker._holding and worker.stats.dropped == 0
    Worker(store, _Knows(), "bob").run(idle_exit=0.0)  # bob is back: he labels it
    assert [json.loads(raw)["id"] for _, raw in store.read_labels(10)] == ["a"]


# -- progress -------------------------------------------------------------------------------


class _Watches(_Knows):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def progress(self, line: str) -> None:
        self.lines.append(line)


def test_the_worker_tells_the_labeler_its_progress_and_logs_it(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stream_al.labeling.worker as worker_module

    monkeypatch.setattr(worker_module, "REPORT_SECONDS", 0.0)
    oracle = _Watches()
    store = _queue(MemoryStore(), "a", "b", "c")
    with caplog.at_level(logging.INFO, logger="stream_al.worker"):
        Worker(store, oracle, "w").run(idle_exit=0.0)
    assert oracle.lines[0].startswith("0 labeled, 0 skipped")
    assert oracle.lines[2].startswith("2 labeled, 0 skipped")
    assert any(
        "3 labeled, 0 skipped" in r.message and "per minute" in r.message for r in caplog.records
    )


def test_the_file_oracle_reads_a_truth_file_that_grows(tmp_path: Path) -> None:
    truth = tmp_path / "truth.csv"
    truth.write_text("id,label\na,cat\n")
    oracle = FileOracle(truth)
    with truth.open("a") as f:
        f.write("b,dog\nc,d")  # c's row is still being written
    assert oracle.label({"id": "b"}) == "dog"
    assert oracle.label({"id": "c"}) is SKIP


# -- the Label Studio bridge -------------------------------------------------------------------


def _ls_bridge(
    *, classes: list[str] | None = None, max_open: int = 2
) -> tuple[Any, Any, MemoryStore]:
    from stream_al.labeling.label_studio.bridge import LabelStudioBridge
    from tests.unit.labeling.test_label_studio import FakeLabelStudio

    store = MemoryStore()
    for i, proba in enumerate(({"b": 0.7, "a": 0.3}, {"a": 0.9, "b": 0.1}, {"a": 0.5, "c": 0.5})):
        item = json.dumps(_item(str(i), proba, max(proba, key=proba.__getitem__)))
        store.enqueue(str(i), item, item, 3600)
    ls = FakeLabelStudio()
    bridge = LabelStudioBridge(store, ls, "b", max_open_tasks=max_open, classes=classes)
    bridge.connect()
    return bridge, ls, store


def _hotkeys(config: str) -> dict[str, str]:
    import xml.etree.ElementTree as ElementTree

    root = ElementTree.fromstring(config)
    return {c.get("value", ""): c.get("hotkey", "") for c in root.iter("Choice")}


def _annotate(ls: Any, item_id: str, result: list[dict[str, Any]]) -> int:
    [task] = [t for t in ls.tasks_.values() if t["data"]["stream_al_id"] == item_id]
    task["annotations"].append({"id": 1, "result": result, "completed_by": 1})
    return int(task["id"])


def _choose(value: str) -> dict[str, Any]:
    return {
        "type": "choices",
        "from_name": "label",
        "to_name": "features",
        "value": {"choices": [value]},
    }


def _type(text: str) -> dict[str, Any]:
    return {
        "type": "textarea",
        "from_name": "other",
        "to_name": "features",
        "value": {"text": [text]},
    }


def test_label_studio_keeps_each_class_s_key_and_asks_for_a_new_class() -> None:
    from stream_al.labeling.label_studio.api import NEW_CLASS

    bridge, ls, store = _ls_bridge()
    bridge._fill()  # items 0 and 1: classes a, b
    assert _hotkeys(ls.config) == {"a": "1", "b": "2", NEW_CLASS: "0"}
    bridge._sync([_annotate(ls, "0", [_type("c")])])  # typed, not confirmed: a typo?
    assert store.read_labels(10) == [] and store.queue_depth() == 3  # 0 given back
    bridge._sync([_annotate(ls, "1", [_choose(NEW_CLASS), _type("d")])])  # confirmed
    assert [json.loads(raw)["label"] for _, raw in store.read_labels(10)] == ["d"]
    bridge._fill()  # item 2 names c: it comes after d, and a and b keep their keys
    assert _hotkeys(ls.config) == {"a": "1", "b": "2", "d": "3", "c": "4", NEW_CLASS: "0"}


def test_label_studio_with_a_fixed_class_list_offers_no_new_class() -> None:
    from stream_al.labeling.label_studio.api import NEW_CLASS

    bridge, ls, store = _ls_bridge(classes=["b", "a"])
    bridge._fill()
    assert _hotkeys(ls.config) == {"b": "1", "a": "2"} and NEW_CLASS not in ls.config
    bridge._sync([_annotate(ls, "0", [_choose(NEW_CLASS), _type("c")])])
    assert store.read_labels(10) == []  # refused: not one of the classes


def test_a_task_skipped_in_label_studio_goes_back_to_the_queue() -> None:
    bridge, ls, store = _ls_bridge(max_open=5)
    bridge._fill()
    bridge._sync([ls.annotate("0", None)])  # skipped
    assert bridge.stats.skipped == 1 and store.queue_depth() == 3  # 0 is back; 1, 2 held
    for _ in range(5):  # the bridge meets it again within the minute: gives it back unseen
        bridge._fill()
    assert bridge.stats.dropped == 0 and store.queue_depth() == 3
    now = bridge.clock()
    bridge.clock = lambda: now + 61.0  # a minute after its first give-back: nobody took it
    bridge._fill()
    assert bridge.stats.dropped == 1 and store.queue_stats()["skipped"] == 1
    assert [t["data"]["stream_al_id"] for t in ls.tasks_.values()] == ["0", "1", "2"]
