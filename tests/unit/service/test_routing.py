"""Tiers, priority bands, staleness and explanations, on the in-memory twin."""

from __future__ import annotations

import json
import time

import pytest

from stream_al.core.learner import ActiveLearner
from stream_al.core.routing import Routing
from stream_al.io.base import queue_slot
from stream_al.io.memory import MemoryStore
from stream_al.labeling.oracles import TerminalOracle
from stream_al.schemas import QueryItem
from stream_al.service.loop import LabelLoop


def _loop(model: str, routing: Routing) -> tuple[LabelLoop, MemoryStore]:
    store = MemoryStore()
    learner = ActiveLearner(model, "random", 1.0, seed=0)
    return LabelLoop(learner, store=store, dead_letters=store, routing=routing), store


def _events(n: int, start: int = 0) -> list[tuple[str, str]]:
    return [
        (f"t:0:{i}", json.dumps({"id": f"e{i}", "features": {"x": float(i % 10), "z": 1.0}}))
        for i in range(start, start + n)
    ]


def test_items_go_to_their_tier_and_band_and_workers_take_only_their_tier() -> None:
    loop, store = _loop("gaussian-nb", Routing(expert_threshold=0.99, priority_threshold=0.3))
    for x, y in [({"x": float(i % 10), "z": 1.0}, i % 10 >= 5) for i in range(100)]:
        loop.learner.learn(x, y)
    loop.process_events(_events(40))
    crowd = store.take("c", 100, tier="crowd")
    expert = store.take("e", 100, tier="expert")
    assert len(crowd) + len(expert) == 40
    items = [QueryItem.model_validate_json(item) for _, item in crowd + expert]
    for item in items:
        assert item.tier == ("expert" if item.score >= 0.99 else "crowd")
        assert item.priority == ("high" if item.score >= 0.3 else "normal")
    bands = [item.priority for item in items[: len(crowd)]]
    assert bands == sorted(bands)  # "high" < "normal": the high band came first
    assert {i.tier for i in items[: len(crowd)]} == {"crowd"}
    assert {i.tier for i in items[len(crowd) :]} <= {"expert"}


def test_a_linear_models_item_explains_which_features_pushed_its_prediction() -> None:
    loop, store = _loop("logistic-regression", Routing())
    for i in range(300):
        loop.learner.learn({"x": float(i % 10), "z": 1.0}, i % 10 >= 5)
    loop.process_events(_events(5))
    item = json.loads(store.take("w", 1)[0][1])
    why = item["explanation"]
    assert why["strategy"] == "random" and why["measure"] == "least-confidence"
    assert why["budget"] == {
        "budget": 1.0,
        "target": 1.0,
        "spent": pytest.approx(why["budget"]["spent"]),
        "boosted": False,
    }
    assert why["top_features"][0][0] == "x"
    shown = []
    oracle = TerminalOracle(stdin=_Lines(["1"]), stdout=_Collect(shown))
    oracle.label(item)
    assert any("pushed most by: x" in line for line in "".join(shown).splitlines())


def test_stale_items_are_dropped_and_counted_by_the_twin_too() -> None:
    store = MemoryStore()
    old = json.dumps({"id": "old", "enqueued_at": time.time() - 100})
    fresh = json.dumps({"id": "fresh", "enqueued_at": time.time()})
    store.enqueue("old", "{}", old, 600)
    store.enqueue("fresh", "{}", fresh, 600, queue_slot("crowd", high=True))
    assert [json.loads(i)["id"] for _, i in store.take("w", 10, stale_seconds=30)] == ["fresh"]
    assert store.queue_stats()["stale"] == 1


def test_unknown_tiers_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown tier 'vip'"):
        queue_slot("vip")


class _Lines:
    def __init__(self, lines: list[str]) -> None:
        self.lines = [line + "\n" for line in lines]

    def readline(self) -> str:
        return self.lines.pop(0) if self.lines else ""


class _Collect:
    def __init__(self, into: list[str]) -> None:
        self.into = into

    def write(self, text: str) -> int:
        self.into.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def _consensus_loop(votes: int = 3, min_agreement: float = 0.6) -> tuple[LabelLoop, MemoryStore]:
    store = MemoryStore(min_agreement=min_agreement)
    learner = ActiveLearner("gaussian-nb", "random", 1.0, seed=0)
    routing = Routing(crowd_votes=votes)
    return LabelLoop(learner, store=store, dead_letters=store, routing=routing), store


def _answer(
    store: MemoryStore, worker: str, label_for: dict[str, object], tier: str = "crowd"
) -> int:
    done = 0
    for entry_id, raw in store.take(worker, 100, tier=tier):
        item = json.loads(raw)
        answer = {"id": item["id"], "label": label_for[item["id"]], "annotator": worker}
        store.complete(entry_id, json.dumps(answer))
        done += 1
    return done


def test_consensus_learns_the_majority_and_escalates_a_split_vote_to_one_expert() -> None:
    loop, store = _consensus_loop(votes=2, min_agreement=0.6)
    loop.process_events(_events(2))
    assert store.queue_depth() == 4  # two copies of each item
    truth = {"e0": True, "e1": False}
    # Each worker takes one copy of each item (two workers, two copies).
    first = (
        store.take("ann", 1) + store.take("bob", 1) + store.take("ann", 1) + store.take("bob", 1)
    )
    for (entry_id, raw), who in zip(first, ["ann", "bob", "ann", "bob"], strict=True):
        item_id = json.loads(raw)["id"]
        label = truth[item_id] if who == "ann" or item_id == "e0" else not truth[item_id]
        store.complete(entry_id, json.dumps({"id": item_id, "label": label, "annotator": who}))
    loop.process_labels()
    assert loop.label_outcomes["learned"] == 1  # e0: both said True
    assert loop.label_outcomes["escalated"] == 1  # e1: one each way
    assert loop.label_outcomes["voted"] == 2
    ((entry_id, raw),) = store.take("expert", 10, tier="expert")
    escalated = json.loads(raw)
    assert escalated["id"] == "e1" and escalated["escalated"] == {"ann": False, "bob": True}
    expert_label = {"id": "e1", "label": False, "annotator": "expert", "tier": "expert"}
    store.complete(entry_id, json.dumps(expert_label))
    loop.process_labels()
    loop.apply_train_log()
    log = store.read_train_log(None, 10)
    labels = {json.loads(e.label)["id"]: json.loads(e.label) for e in log}
    assert labels["e0"]["annotator"] == "consensus" and labels["e0"]["label"] is True
    assert labels["e1"]["annotator"] == "expert" and labels["e1"]["label"] is False
    assert loop.learner.n_learned == 2  # only the consensus (and the expert's) label
    assert store.agreement() == {"ann": 1.0, "bob": 1.0}  # agreement counts settled votes


def test_a_repeated_vote_is_refused_and_the_item_goes_back_for_someone_else() -> None:
    loop, store = _consensus_loop(votes=2)
    loop.process_events(_events(1))
    copies = store.take("ann", 10)
    assert len(copies) == 2  # one worker took both copies
    for entry_id, _ in copies:
        store.complete(entry_id, json.dumps({"id": "e0", "label": True, "annotator": "ann"}))
    loop.process_labels()
    assert loop.label_outcomes["voted"] == 1 and loop.label_outcomes["duplicate"] == 1
    assert "repeated vote" in store.dead_letters[-1]
    assert _answer(store, "bob", {"e0": True}) == 1  # the copy put back
    loop.process_labels()
    assert loop.label_outcomes["learned"] == 1


def test_a_crowd_answer_for_an_escalated_item_is_refused_as_late() -> None:
    loop, store = _consensus_loop(votes=2, min_agreement=0.6)
    loop.process_events(_events(1))
    copies = [store.take("ann", 1)[0], store.take("bob", 1)[0]]
    for (entry_id, _), (who, label) in zip(copies, [("ann", True), ("bob", False)], strict=True):
        store.complete(entry_id, json.dumps({"id": "e0", "label": label, "annotator": who}))
    loop.process_labels()
    assert loop.label_outcomes["escalated"] == 1
    late = {"id": "e0", "label": True, "annotator": "cid", "tier": "crowd"}
    store._labels.append(("late-1", json.dumps(late)))
    loop.process_labels()
    assert "late vote" in store.dead_letters[-1]
    assert loop.learner.n_learned == 0  # still waiting for the expert
