from __future__ import annotations

import io
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from stream_al.core.routing import queue_slot
from stream_al.io.memory import MemoryStore
from stream_al.labeling.base import KEEP_SECONDS, QUIT, SKIP, TIMEOUT, Oracle
from stream_al.labeling.oracles import FileOracle, TerminalOracle, make_oracle
from stream_al.labeling.worker import Worker


def _item(item_id: str, prediction: object = "cat") -> str:
    return json.dumps(
        {
            "id": item_id,
            "features": {"size": 3.0, "colour": "red"},
            "proba": {"cat": 0.6, "dog": 0.4},
            "prediction": prediction,
            "score": 0.4,
            "strategy": "split",
            "threshold": 0.7,
            "reason": "uncertain",
            "enqueued_at": 0.0,
            "model_version": 3,
        }
    )


def _queue(*ids: str) -> MemoryStore:
    store = MemoryStore()
    for i in ids:
        assert store.enqueue(i, "{}", _item(i), 60)
    return store


def _labels(store: MemoryStore) -> list[dict[str, object]]:
    return [json.loads(raw) for _, raw in store.read_labels(100)]


def test_file_oracle_reads_csv_and_jsonl(tmp_path: Path) -> None:
    csv_path = tmp_path / "truth.csv"
    csv_path.write_text("id,label\na,cat\nb,dog\n")
    jsonl = tmp_path / "truth.jsonl"
    jsonl.write_text('{"id": "a", "label": 1}\n\n{"id": 7, "label": 2}\n')
    assert FileOracle(csv_path).label({"id": "b"}) == "dog"
    assert FileOracle(csv_path).label({"id": "zzz"}) is SKIP
    oracle = FileOracle(jsonl)
    assert oracle.label({"id": "a"}) == 1 and oracle.label({"id": "7"}) == 2
    jsonl.write_text('{"id": "a", "label": false}\n')
    assert FileOracle(jsonl).label({"id": "a"}) is False


def test_file_oracle_says_once_that_an_item_is_not_in_its_truth_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # It skipped every item of another stream in silence: "0 labeled, 120 skipped".
    csv_path = tmp_path / "truth.csv"
    csv_path.write_text("id,label\na,cat\nb,dog\n")
    oracle = FileOracle(csv_path)
    with caplog.at_level(logging.WARNING, "stream_al.worker"):
        assert oracle.label({"id": "a"}) == "cat" and not caplog.records
        assert oracle.label({"id": "sea-1"}) is SKIP and oracle.label({"id": "sea-2"}) is SKIP
    [said] = [r.getMessage() for r in caplog.records]
    assert f"item 'sea-1' is not in the truth file {csv_path} (2 ids, such as 'a')" in said
    assert "skipped" in said and "id column" in said


def test_file_oracle_refuses_files_it_cannot_use(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such truth file"):
        FileOracle(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("key,value\na,b\n")
    with pytest.raises(ValueError, match="'id' and 'label'"):
        FileOracle(bad)
    with pytest.raises(ValueError, match="use file:PATH, terminal, web or label-studio"):
        make_oracle("web")
    bad.write_text("id,label\na,x\nb\n")  # a row a cell short: b's label would be None
    with pytest.raises(ValueError, match=r"bad.csv:3: 1 cell, the header has 2"):
        FileOracle(bad)
    bad.write_bytes(b"id,label\na,\xff\n")
    with pytest.raises(ValueError, match="not UTF-8 text"):
        FileOracle(bad)


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("t.jsonl", '{"id": 1, "label": "a"}\n5\n', r"t.jsonl:2: needs an object with 'id'"),
        ("t.jsonl", '["id", "label"]\n', r"t.jsonl:1: needs an object with 'id'"),
        (
            "t.jsonl",
            '{"id": 1, "label": "a"}\n{"id": 2\n',
            r"t.jsonl:2: not JSON \(EOF while parsing",
        ),
        ("t.jsonl", "[" * 100_000 + "\n", r"t.jsonl:1: not JSON"),
        (
            "t.jsonl",
            '{"id": 1, "label": "a"}\n\n{"id": "1", "label": "b"}\n',
            r"id '1' is labeled 'a' on line 1 and 'b' on line 3: keep the true one",
        ),
        (
            "t.csv",
            "id,label\n1,a\n\n2,b\n1,b\n",
            r"id '1' is labeled 'a' on row 1 and 'b' on row 3",
        ),
        # labels serve's model refuses: every answer would be a dead letter
        ("t.csv", "id,label\n1,a\n2," + "x" * 257 + "\n", r"row 2: a label is a class name of at"),
        (
            "t.jsonl",
            '{"id": 1, "label": 9223372036854775808}\n',
            r"line 1: an integer label is a signed 64-bit",
        ),
        # a CSV's empty cell is no label; a JSONL "" was learned as the class ""
        ("t.jsonl", '{"id": 1, "label": ""}\n', r"line 1: an empty label names no class"),
        # JSON a label cannot be: a list stopped the worker ("unhashable type: 'list'"), and
        # the others were written, each a dead letter leaving its item pending unlabeled
        ("t.jsonl", '{"id": 1, "label": [1]}\n', r"line 1: label \[1\] is list: a label is text"),
        ("t.jsonl", '{"id": 1, "label": {"a": 1}}\n', r"line 1: label \{'a': 1\} is dict"),
        ("t.jsonl", '{"id": 1, "label": "a"}\n{"id": 2, "label": 1.5}\n', r"line 2: .* is float"),
        ("t.jsonl", '{"id": 1, "label": null}\n', r"line 1: label None is NoneType"),
        ("t.jsonl", '{"id": 1, "label": NaN}\n{"id": 1, "label": NaN}\n', r"line 1: label nan"),
        # labels of two kinds: the model learns the first kind, the others are dead letters
        # (true and 1 were even taken as one label: Python's True == 1)
        (
            "t.jsonl",
            '{"id": 1, "label": true}\n{"id": 1, "label": 1}\n',
            r"line 2: label 1 is an integer, the labels before it \(from line 1\) a boolean",
        ),
        ("t.jsonl", '{"id": 1, "label": "yes"}\n{"id": 2, "label": 2}\n', r"line 2: label 2 is"),
        # an id no event has: str() of an object
        ("t.jsonl", '{"id": {"x": 1}, "label": "a"}\n', r"t.jsonl:1: 'id' is dict: an id is text"),
        (
            "t.csv",
            "id,label\n" + "".join(f"{i},{i}\n" for i in range(1001)),
            r"more than 1,000 classes by row 1001, .* is the label column an id\?",
        ),
    ],
)
def test_a_truth_file_that_is_broken_or_says_two_things_is_refused_naming_where(
    name: str, text: str, says: str, tmp_path: Path
) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match=says):
        FileOracle(tmp_path / name)


def test_a_truth_file_may_repeat_a_label_it_agrees_with(tmp_path: Path) -> None:
    truth = tmp_path / "t.csv"
    truth.write_text("id,label\n1,a\n2,b\n1,a\n")  # a stream replayed twice, say
    assert FileOracle(truth).truth == {"1": "a", "2": "b"}


def test_file_oracle_reads_a_spreadsheet_s_csv_and_keeps_its_labels_if_a_growing_file_breaks(
    tmp_path: Path,
) -> None:
    truth = tmp_path / "truth.csv"
    truth.write_bytes(b"\xef\xbb\xbfid,label\na,cat\n")  # with a byte-order mark
    oracle = FileOracle(truth)
    assert oracle.label({"id": "a"}) == "cat"
    with truth.open("a") as f:
        f.write("b\n")  # a broken row, written while the worker runs
    assert oracle.label({"id": "b"}) is SKIP and oracle.label({"id": "a"}) == "cat"


def test_worker_labels_every_item_once_and_empties_the_queue(tmp_path: Path) -> None:
    truth = tmp_path / "truth.csv"
    truth.write_text("id,label\na,cat\nb,dog\nc,cat\n")
    store = _queue("a", "b", "c", "unknown")
    # "unknown" is skipped, given back for other labelers for half a second, then dropped.
    worker = Worker(store, FileOracle(truth), "w1", batch=10, requeue_seconds=0.5)
    stats = worker.run(idle_exit=0.0)
    assert (stats.labeled, stats.skipped, stats.dropped) == (3, 1, 1)
    assert store.queue_depth() == 0
    labels = _labels(store)
    assert [(lab["id"], lab["label"], lab["annotator"]) for lab in labels] == [
        ("a", "cat", "file"),
        ("b", "dog", "file"),
        ("c", "cat", "file"),
    ]


UNREADABLE = {
    "not JSON": "{broken",
    "not a JSON object": "[1, 2]",
    "no item id (a non-empty string)": '{"features": {"x": 1}}',
    "votes_needed is not an integer ('two')": '{"id": "v", "votes_needed": "two"}',
    # serve reads a label's id in at most 256 characters: its label would be dead-lettered
    "item id of 257 characters, more than 256": json.dumps({"id": "i" * 257}),
}


def test_queue_entries_that_are_not_items_are_dropped_with_a_reason_and_work_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # An entry no worker could label (another version's, or written by hand) used to stop
    # the worker, and again after every restart: it gets its held entries back first.
    truth = tmp_path / "truth.csv"
    truth.write_text("id,label\na,cat\nb,dog\n")
    store = _queue("a")
    # (nested too deep, json.loads raised RecursionError: the worker stopped again)
    for raw in [*UNREADABLE.values(), "null", '{"id": 7}', "[" * 100_000]:
        store._add(queue_slot(), raw)
    assert store.enqueue("b", "{}", _item("b"), 60)
    stats = Worker(store, FileOracle(truth), "w1", batch=10).run(idle_exit=0.0)
    assert (stats.labeled, stats.unreadable) == (2, len(UNREADABLE) + 3)
    assert [lab["id"] for lab in _labels(store)] == ["a", "b"] and store.queue_depth() == 0
    for reason in UNREADABLE:
        assert f"dropped unlabeled: {reason}" in caplog.text


def test_terminal_oracle_shows_why_and_reads_the_answer() -> None:
    out = io.StringIO()
    oracle = TerminalOracle(stdin=io.StringIO("dog\n\n:q\n"), stdout=out)
    assert oracle.label(json.loads(_item("a"))) == "dog"
    shown = out.getvalue()
    for text in ("item a", "split", "uncertain", "colour", "red", "'cat'", "cat 60%"):
        assert text in shown
    assert oracle.label(json.loads(_item("b"))) is SKIP
    assert oracle.label(json.loads(_item("c"))) is QUIT
    assert TerminalOracle(stdin=io.StringIO(""), stdout=io.StringIO()).label({}) is QUIT


def test_the_terminal_shows_an_events_control_characters_instead_of_obeying_them() -> None:
    # A producer's text could clear the screen, move the cursor or rewrite a line the
    # labeler reads (\r): shown escaped, it cannot.
    item = json.loads(_item("a\x1b[2J"))
    item["features"] = {"size\r": 3.0, "colour": "\x1b[1A\x1b[2Kgreen\u202e"}
    out = io.StringIO()
    TerminalOracle(stdin=io.StringIO(":q\n"), stdout=out).label(item)
    shown = out.getvalue()
    assert "\x1b" not in shown and "\r" not in shown and "\u202e" not in shown
    assert "item a\\x1b[2J" in shown and "size\\r = 3.0" in shown
    assert "\\x1b[1A\\x1b[2Kgreen\\u202e" in shown


def test_terminal_answers_take_the_type_of_the_known_classes() -> None:
    out = io.StringIO()
    # (1 and True are classes these items' model has never seen: each is confirmed, "y")
    oracle = TerminalOracle(stdin=io.StringIO("1\ny\nTrue\ny\n"), stdout=out)
    assert oracle.label(json.loads(_item("a", prediction=0))) == 1
    assert oracle.label(json.loads(_item("b", prediction=False))) is True


def test_a_worker_that_quits_keeps_its_item_in_the_queue() -> None:
    # (Getting it back after a restart is Redis's consumer-group business: see the
    # integration tests.)
    store = _queue("a", "b")
    answers = io.StringIO(":q\n")
    stats = Worker(store, TerminalOracle(answers, io.StringIO()), "alice").run()
    assert stats.labeled == 0 and store.queue_depth() == 2
    assert _labels(store) == []


class _KeepCounting(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.kept: list[str] = []

    def keep(self, consumer: str, entry_ids: Sequence[str]) -> int:
        self.kept += entry_ids
        return super().keep(consumer, entry_ids)


class _SlowPerson(Oracle):
    """A web-like oracle (it has an undo) whose person thinks through two wake-ups."""

    name = "web"
    undo_seconds = 5.0

    def __init__(self) -> None:
        self.timeouts: list[float | None] = []

    def label(self, item: dict[str, Any], timeout: float | None = None) -> Any:
        self.timeouts.append(timeout)
        return TIMEOUT if len(self.timeouts) <= 2 else "1"


def test_an_item_a_person_is_looking_at_is_kept_from_other_workers() -> None:
    store = _KeepCounting()
    assert store.enqueue("a", "{}", _item("a"), 60)
    person = _SlowPerson()
    Worker(store, person, "w").run(max_items=1)
    assert len(store.kept) == 2 and len(set(store.kept)) == 1  # the item shown, twice
    assert person.timeouts[:2] == [KEEP_SECONDS, KEEP_SECONDS]  # nothing held yet
    assert [(label["id"], label["label"]) for label in _labels(store)] == [("a", "1")]
    assert store.queue_depth() == 0


class _Minimal(Oracle):
    """Only what an oracle must implement: every other ability keeps its default."""

    name = "minimal"

    def label(self, item: dict[str, Any], timeout: float | None = None) -> Any:
        return "cat"


def test_an_oracle_with_only_label_has_no_undo_and_is_written_at_once() -> None:
    oracle = _Minimal()
    assert (oracle.undo_seconds, oracle.batch) == (0.0, 1)
    oracle.holding(True)  # the defaults do nothing
    oracle.stop()
    oracle.close()
    store = _queue("a", "b")
    stats = Worker(store, oracle, "w").run(idle_exit=0.0)
    assert stats.labeled == 2 and store.queue_depth() == 0
    assert [(lab["id"], lab["annotator"]) for lab in _labels(store)] == [
        ("a", "minimal"),
        ("b", "minimal"),
    ]


class _Watched(_Minimal):
    undo_seconds = 60.0

    def __init__(self) -> None:
        self.calls: list[object] = []

    def holding(self, can_undo: bool) -> None:
        self.calls.append(can_undo)

    def stop(self) -> None:
        self.calls.append("stop")


def test_the_worker_tells_the_oracle_what_it_holds_and_when_it_stops() -> None:
    oracle = _Watched()
    store = _queue("a")
    worker = Worker(store, oracle, "w")
    worker.run(max_items=1)  # held for its undo window, then written as the worker ends
    worker.stop()
    assert oracle.calls == [True, False, "stop"]
    assert [lab["id"] for lab in _labels(store)] == ["a"]


def test_the_file_oracle_is_taken_in_batches_a_person_one_item_at_a_time(tmp_path: Path) -> None:
    truth = tmp_path / "truth.csv"
    truth.write_text("id,label\n")
    assert FileOracle(truth).batch > 1
    assert TerminalOracle(io.StringIO(), io.StringIO()).batch == 1


class _StopsWorkerOnHold(MemoryStore):
    """Stops the worker at its first take after a copy came back to it a second time."""

    def __init__(self) -> None:
        super().__init__()
        self.worker: Worker | None = None
        self.taken: list[str] = []

    def take(self, consumer: str, count: int, block_ms: int = 0, **kw: Any) -> list[Any]:
        if self.taken.count("a") >= 3 and self.worker is not None:
            self.worker.stop()  # the copy is held now (the gap after its first give-back)
        taken = super().take(consumer, count, block_ms, **kw)
        self.taken += [json.loads(item)["id"] for _, item in taken]
        return taken


def test_a_stopping_worker_gives_back_the_copies_it_holds() -> None:
    store = _StopsWorkerOnHold()
    item = json.dumps({**json.loads(_item("a")), "votes_needed": 2})
    assert store.enqueue("a", '{"votes_needed": 2}', item, 60, copies=2)
    worker = store.worker = Worker(store, _Minimal(), "w", batch=10)
    stats = worker.run()
    assert stats.labeled == 1 and store.taken == ["a", "a", "a"]  # voted, given back, held
    [(_, copy)] = store.take("another", 10)  # given back as the worker stopped: not held
    assert json.loads(copy)["id"] == "a"
