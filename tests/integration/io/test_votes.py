"""The join rule (:data:`stream_al.io.votes.RULES`) on both label stores: the same vote
scenarios on the in-memory twin and on a real Redis server, with the same outcomes, the
same learned labels and the same items queued for an expert."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis

from stream_al.io.base import JoinOutcome
from stream_al.io.memory import MemoryStore
from stream_al.io.redis import RedisStore
from stream_al.schemas import Label
from tests.integration.io.items import item_request

PREFIX = "votes"


@dataclass
class Desk:
    """A label store as serve uses it, and its workers, each by name."""

    serve: MemoryStore | RedisStore
    worker_store: Callable[[str], MemoryStore | RedisStore]
    workers: dict[str, MemoryStore | RedisStore] = field(default_factory=dict)

    def worker(self, name: str) -> MemoryStore | RedisStore:
        if name not in self.workers:
            self.workers[name] = self.worker_store(name)
        return self.workers[name]

    def queue(self, item_id: str, votes: int, features: dict[str, Any] | None = None) -> None:
        """Queue ``item_id`` for the crowd, in ``votes`` copies, as serve does."""
        request = item_request(item_id, votes, features)
        assert self.serve.enqueue_many([request]) == [True]

    def answer(self, who: str, label: Any, tier: str = "crowd") -> dict[str, Any]:
        """``who`` takes the next item of ``tier`` and answers ``label``; returns the item."""
        [(entry_id, raw)] = self.worker(who).take(who, 1, block_ms=0, tier=tier)
        item: dict[str, Any] = json.loads(raw)
        self.worker(who).complete(entry_id, _label(item["id"], label, who, tier))
        return item

    def give(self, item_id: str, label: Any, who: str, tier: str = "crowd") -> None:
        """A label for ``item_id`` that no queue item of this worker asked for."""
        self.worker(who).complete("0-1", _label(item_id, label, who, tier))

    def join(self) -> list[JoinOutcome]:
        """Join every label waiting, as serve does (what it does not use is rejected)."""
        outcomes: list[JoinOutcome] = []
        for entry_id, raw in self.serve.read_labels(100):
            outcome, _ = self.serve.join(entry_id, json.loads(raw)["id"], raw)
            if outcome not in ("learned", "voted", "escalated"):
                self.serve.reject_label(entry_id, f"{outcome}: {raw}")
            outcomes.append(outcome)
        return outcomes

    def learned(self) -> list[dict[str, Any]]:
        return [json.loads(e.label) for e in self.serve.read_train_log(None, 100)]


ANNOTATORS = ["ann", "bob", "cid", "eve"]


def _label(item_id: str, label: Any, who: str, tier: str) -> str:
    # As serve passes it on: validated and stamped, here with a time that names the voter.
    ts = float(ANNOTATORS.index(who))
    return Label(id=item_id, label=label, annotator=who, tier=tier, ts=ts).model_dump_json()


@pytest.fixture(params=["memory", "redis"])
def open_desk(request: pytest.FixtureRequest) -> Callable[..., Desk]:
    """A factory: ``open_desk(min_agreement=0.5)`` is a fresh store of the parameter's kind."""

    def memory(min_agreement: float = 0.5) -> Desk:
        store = MemoryStore(min_agreement=min_agreement)
        return Desk(store, lambda name: store)

    def real(min_agreement: float = 0.5) -> Desk:
        return _redis_desk(request.getfixturevalue("redis_client"), min_agreement)[0]

    return memory if request.param == "memory" else real


def _redis_desk(client: redis.Redis, min_agreement: float = 0.5) -> tuple[Desk, RedisStore]:
    """A desk on Redis, and serve's store in it."""
    store = RedisStore(client, PREFIX, consumer="serve-1", min_agreement=min_agreement)
    store.ensure_groups()
    return Desk(store, lambda name: RedisStore(client, PREFIX, consumer=name)), store


def test_one_label_is_learned_once_and_a_label_for_nothing_pending_is_not(
    open_desk: Callable[..., Desk],
) -> None:
    desk = open_desk()
    desk.queue("a", votes=1)
    desk.answer("ann", True)
    assert desk.join() == ["learned"]
    desk.give("a", False, "bob")
    desk.give("ghost", True, "bob")
    assert desk.join() == ["duplicate", "orphaned"]
    [learned] = desk.learned()
    assert (learned["id"], learned["label"], learned["annotator"]) == ("a", True, "ann")
    assert desk.serve.queue_depth() == 0 and desk.serve.pending_count() == 0


def test_the_kth_vote_settles_the_item_and_a_majority_with_enough_agreement_is_learned(
    open_desk: Callable[..., Desk],
) -> None:
    desk = open_desk(min_agreement=0.6)
    desk.queue("a", votes=3)
    assert desk.serve.queue_depth() == 3  # one copy per vote
    for who, label in [("ann", True), ("bob", True), ("cid", False)]:
        desk.answer(who, label)
    assert desk.join() == ["voted", "voted", "learned"]
    [learned] = desk.learned()
    votes = {"ann": True, "bob": True, "cid": False}
    assert learned.pop("agreement") == pytest.approx(2 / 3)
    # One of the majority's votes, as the consensus (the stores may pick either).
    assert learned.pop("ts") in (ANNOTATORS.index("ann"), ANNOTATORS.index("bob"))
    assert learned == {
        "id": "a",
        "label": True,
        "tier": "crowd",
        "annotator": "consensus",
        "votes": votes,
    }
    assert desk.serve.agreement() == {"ann": 1.0, "bob": 1.0, "cid": 0.0}
    assert desk.serve.queue_depth() == 0 and desk.serve.pending_count() == 0


@pytest.mark.parametrize(
    ("labels", "min_agreement"),
    [
        ([True, False], 0.5),  # a tie
        (["cat", "dog", "owl"], 0.3),  # a tie of three
        ([True, True, False], 0.7),  # a majority with too little agreement
    ],
    ids=["a tie", "a tie of three", "too little agreement"],
)
def test_a_tie_or_too_little_agreement_goes_to_one_expert_whose_label_is_learned(
    open_desk: Callable[..., Desk], labels: list[Any], min_agreement: float
) -> None:
    desk = open_desk(min_agreement=min_agreement)
    desk.queue("a", votes=len(labels))
    voters = ANNOTATORS[: len(labels)]
    for who, label in zip(voters, labels, strict=True):
        desk.answer(who, label)
    assert desk.join() == ["voted"] * (len(labels) - 1) + ["escalated"]
    assert desk.learned() == [] and desk.serve.agreement() == {}  # unsettled votes
    item = desk.answer("eve", labels[0], tier="expert")
    assert (item["tier"], item["priority"], item["votes_needed"]) == ("expert", "high", 1)
    assert item["escalated"] == dict(zip(voters, labels, strict=True))
    assert desk.join() == ["learned"]
    [learned] = desk.learned()
    assert (learned["annotator"], learned["label"]) == ("eve", labels[0])
    assert desk.serve.queue_depth() == 0 and desk.serve.pending_count() == 0


def test_a_crowd_answer_after_the_item_went_to_an_expert_is_late(
    open_desk: Callable[..., Desk],
) -> None:
    desk = open_desk()
    desk.queue("a", votes=2)
    desk.answer("ann", True)
    desk.answer("bob", False)
    assert desk.join() == ["voted", "escalated"]
    desk.give("a", True, "cid")
    assert desk.join() == ["late"]
    desk.answer("eve", False, tier="expert")
    assert desk.join() == ["learned"]
    assert [label["annotator"] for label in desk.learned()] == ["eve"]


def test_one_vote_per_annotator_a_repeated_vote_puts_the_copy_back_for_someone_else(
    open_desk: Callable[..., Desk],
) -> None:
    desk = open_desk()
    desk.queue("a", votes=2)
    desk.answer("ann", True)
    desk.answer("ann", True)  # the second copy, to the same annotator
    assert desk.join() == ["voted", "repeat"]
    assert desk.serve.queue_depth() == 1  # put back
    desk.answer("bob", True)
    assert desk.join() == ["learned"]
    [learned] = desk.learned()
    assert learned["votes"] == {"ann": True, "bob": True} and learned["agreement"] == 1.0


def test_a_vote_repeated_more_than_2k_times_sends_the_item_to_an_expert(
    open_desk: Callable[..., Desk],
) -> None:
    desk = open_desk()
    desk.queue("a", votes=2)
    outcomes = []
    for _ in range(6):  # one vote, 2k = 4 repeats that put a copy back, one repeat too many
        desk.answer("ann", True)
        outcomes += desk.join()
    assert outcomes == ["voted"] + ["repeat"] * 5
    assert desk.worker("bob").take("bob", 10, block_ms=0) == []  # no crowd copy left
    item = desk.answer("eve", False, tier="expert")
    assert item["escalated"] == {"ann": True}
    assert desk.join() == ["learned"]
    assert [label["annotator"] for label in desk.learned()] == ["eve"]
    assert desk.serve.queue_depth() == 0


# Integers past 14 digits: Lua's doubles and cjson's 14 digits made the first two one class.
BIG = [100000000000000001, 100000000000000002, 9223372036854775807]


def test_votes_on_large_integer_labels_are_counted_and_learned_exactly(
    open_desk: Callable[..., Desk],
) -> None:
    # On the Redis script, the two different classes agreed, were learned as 1e+17, a
    # float, and serve skipped the entry: the item left pending and its votes lost.
    desk = open_desk()
    desk.queue("a", votes=2)
    desk.answer("ann", BIG[0])
    desk.answer("bob", BIG[1])
    assert desk.join() == ["voted", "escalated"]
    item = desk.answer("eve", BIG[2], tier="expert")
    assert item["escalated"] == {"ann": BIG[0], "bob": BIG[1]}
    desk.queue("b", votes=2)
    desk.answer("ann", BIG[0])
    desk.answer("bob", BIG[0])
    assert desk.join() == ["learned", "voted", "learned"]
    expert, consensus = desk.learned()
    assert (expert["annotator"], expert["label"]) == ("eve", BIG[2])
    assert consensus["label"] == BIG[0] and type(consensus["label"]) is int
    assert consensus["votes"] == {"ann": BIG[0], "bob": BIG[0]}
    assert (consensus["annotator"], consensus["agreement"]) == ("consensus", 1.0)


def test_an_escalated_item_keeps_its_numbers_exactly_for_the_expert_and_the_model(
    open_desk: Callable[..., Desk],
) -> None:
    # The Redis script re-encoded the item at the escalation (cjson: 14 significant
    # digits): the expert saw, and the model learned, 0.12345678901235 and 1.2345678901235e16.
    features = {"x": 0.12345678901234567, "n": 12345678901234567, "t": "a/b"}
    desk = open_desk()
    desk.queue("a", votes=2, features=features)
    desk.answer("ann", True)
    desk.answer("bob", False)
    assert desk.join() == ["voted", "escalated"]
    item = desk.answer("eve", True, tier="expert")
    assert item["features"] == features and type(item["features"]["n"]) is int
    assert (item["tier"], item["votes_needed"], item["escalated"]) == (
        "expert",
        1,
        {"ann": True, "bob": False},
    )
    assert desk.join() == ["learned"]
    [entry] = desk.serve.read_train_log(None, 10)
    assert json.loads(entry.item)["features"] == features


def test_votes_and_items_kept_by_an_earlier_version_still_settle(
    redis_client: redis.Redis,
) -> None:
    # In flight across an upgrade: votes without their 'label:' text (the tally reads the
    # value) and pending records without the expert's forms (the script re-encodes them).
    desk, store = _redis_desk(redis_client)
    desk.queue("a", votes=2)
    desk.answer("ann", "cat")
    assert desk.join() == ["voted"]
    assert redis_client.hdel(store.keys.votes("a"), "label:ann") == 1
    desk.answer("bob", "cat")
    assert desk.join() == ["learned"]
    [learned] = desk.learned()
    assert (learned["label"], learned["votes"]) == ("cat", {"ann": "cat", "bob": "cat"})
    request = item_request("b", votes=2)
    record = json.loads(request.pending)
    del record["expert_item"], record["expert_record"]
    assert store.enqueue_many([dataclasses.replace(request, pending=json.dumps(record))])
    desk.answer("ann", "cat")
    desk.answer("bob", "dog")
    assert desk.join() == ["voted", "escalated"]
    item = desk.answer("eve", "dog", tier="expert")
    assert (item["tier"], item["votes_needed"]) == ("expert", 1)
    assert item["escalated"] == {"ann": "cat", "bob": "dog"}
    assert desk.join() == ["learned"]


def test_counts_written_by_hand_as_no_integer_stop_no_join_and_no_worker(
    redis_client: redis.Redis,
) -> None:
    # An operator's HSET of 'x' into a count the scripts and workers increment: Redis's
    # HINCRBY refuses it, and every consensus join (serve retrying the batch for ever), a
    # requeue, a stale item and a dropped item failed on it. The count starts again at 1.
    desk, store = _redis_desk(redis_client)
    keys = store.keys
    redis_client.hset(keys.agreement, mapping={"ann:total": "x", "bob:agree": "1.5"})
    redis_client.hset(keys.queue_stats, mapping={"stale": "abc", "skipped": "-"})
    desk.queue("a", votes=2)
    desk.answer("ann", True)
    desk.answer("bob", True)
    assert desk.join() == ["voted", "learned"]
    assert desk.learned()[0]["label"] is True
    assert redis_client.hmget(keys.agreement, ["ann:total", "bob:agree"]) == [b"1", b"1"]
    desk.queue("b", votes=2)
    redis_client.hset(keys.votes("b"), "requeues", "many")
    desk.answer("ann", True)
    desk.answer("ann", True)  # a repeated vote: its copy is put back, requeues counted
    assert desk.join() == ["voted", "repeat"]
    assert redis_client.hget(keys.votes("b"), "requeues") == b"1"
    worker = desk.worker("cid")
    [(entry_id, raw)] = worker.take("cid", 1, block_ms=0)
    worker.drop(entry_id, json.loads(raw)["id"])
    desk.queue("c", votes=1)
    assert worker.take("cid", 1, block_ms=0, stale_seconds=-1.0) == []
    assert redis_client.hmget(keys.queue_stats, ["stale", "skipped"]) == [b"1", b"1"]
