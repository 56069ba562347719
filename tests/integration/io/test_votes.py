"""The join rule (:data:`stream_al.io.votes.RULES`) on both label stores: the same vote
scenarios on the in-memory twin and on a real Redis server, with the same outcomes, the
same learned labels and the same items queued for an expert; and the labeling worker's
copies of an item it voted on, with serve joining as it goes."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis

from stream_al.io.base import Entry, JoinOutcome
from stream_al.io.memory import MemoryStore
from stream_al.io.redis import RedisStore
from stream_al.io.votes import REQUEUE_SECONDS
from stream_al.labeling.base import Oracle
from stream_al.labeling.worker import Worker, WorkerStats
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

    def answer(
        self, who: str, label: Any, tier: str = "crowd", ts: float | None = None
    ) -> dict[str, Any]:
        """``who`` takes the next item of ``tier`` and answers ``label`` (at ``ts``);
        returns the item."""
        [(entry_id, raw)] = self.worker(who).take(who, 1, block_ms=0, tier=tier)
        item: dict[str, Any] = json.loads(raw)
        self.worker(who).complete(entry_id, _label(item["id"], label, who, tier, ts))
        return item

    def give(self, item_id: str, label: Any, who: str, tier: str = "crowd") -> None:
        """A label for ``item_id`` that no queue item of this worker asked for."""
        self.worker(who).complete("0-1", _label(item_id, label, who, tier))

    def join(self, again: bool = False) -> list[JoinOutcome]:
        """Join every label waiting, as serve does (what it does not use is rejected);
        ``again``: each join and rejection twice, as serve after a lost answer, checking
        that the second answers the same and changes nothing."""
        outcomes: list[JoinOutcome] = []
        for entry_id, raw in self.serve.read_labels(100):
            item_id = json.loads(raw)["id"]
            outcome, log_id = self.serve.join(entry_id, item_id, raw)
            if again:
                state = self.state()
                assert self.serve.join(entry_id, item_id, raw) == (outcome, log_id)
                assert self.state() == state
            if outcome not in ("learned", "voted", "escalated"):
                self.serve.reject_label(entry_id, f"{outcome}: {raw}")
                if again:
                    state = self.state()
                    self.serve.reject_label(entry_id, f"{outcome}: {raw}")
                    assert self.state() == state
            outcomes.append(outcome)
        return outcomes

    def state(self) -> tuple[Any, ...]:
        """What a join or a rejection may change."""
        serve = self.serve
        dead = (
            len(serve.dead_letters)
            if isinstance(serve, MemoryStore)
            else serve.client.xlen(serve.keys.dead_letters)
        )
        return self.learned(), serve.queue_depth(), serve.pending_count(), serve.agreement(), dead

    def learned(self) -> list[dict[str, Any]]:
        return [json.loads(e.label) for e in self.serve.read_train_log(None, 100)]


ANNOTATORS = ["ann", "bob", "cid", "eve"]


def _label(item_id: str, label: Any, who: str, tier: str, ts: float | None = None) -> str:
    # As serve passes it on: validated and stamped, by default with a time that names the
    # voter.
    ts = float(ANNOTATORS.index(who)) if ts is None else ts
    return Label(id=item_id, label=label, annotator=who, tier=tier, ts=ts).model_dump_json()


@pytest.fixture(params=["memory", "redis"])
def open_desk(request: pytest.FixtureRequest) -> Callable[..., Desk]:
    """A factory: ``open_desk(min_agreement=0.5, requeue_seconds=60.0)`` is a fresh store
    of the parameter's kind."""

    def memory(min_agreement: float = 0.5, requeue_seconds: float = REQUEUE_SECONDS) -> Desk:
        store = MemoryStore(min_agreement=min_agreement, requeue_seconds=requeue_seconds)
        return Desk(store, lambda name: store)

    def real(min_agreement: float = 0.5, requeue_seconds: float = REQUEUE_SECONDS) -> Desk:
        client = request.getfixturevalue("redis_client")
        return _redis_desk(client, min_agreement, requeue_seconds)[0]

    return memory if request.param == "memory" else real


def _redis_desk(
    client: redis.Redis, min_agreement: float = 0.5, requeue_seconds: float = REQUEUE_SECONDS
) -> tuple[Desk, RedisStore]:
    """A desk on Redis, and serve's store in it."""
    store = RedisStore(
        client,
        PREFIX,
        consumer="serve-1",
        min_agreement=min_agreement,
        requeue_seconds=requeue_seconds,
    )
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
    assert desk.serve.queue_depths() == {"crowd": 0, "expert": 1}
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


def test_a_vote_repeated_within_requeue_seconds_puts_the_copy_back_however_often(
    open_desk: Callable[..., Desk],
) -> None:
    # Counted, the sixth repeat sent the item to an expert: a fast worker repeated that
    # many in milliseconds while a second annotator was away for a second.
    desk = open_desk()
    desk.queue("a", votes=2)
    outcomes = []
    for n in range(20):
        desk.answer("ann", True, ts=100.0 + 59.0 * n / 19)  # the last 59 s after the first
        outcomes += desk.join()
    assert outcomes == ["voted"] + ["repeat"] * 19
    assert desk.serve.queue_depth() == 1  # the copy, back each time
    desk.answer("bob", True, ts=200.0)
    assert desk.join() == ["learned"]
    [learned] = desk.learned()
    assert learned["votes"] == {"ann": True, "bob": True}


def test_a_label_joined_again_answers_as_the_first_time_and_changes_nothing(
    open_desk: Callable[..., Desk],
) -> None:
    # serve joins its labels again when the answer was lost with its connection, Redis
    # having run the join: counted nowhere before; a vote again would have been a repeat.
    desk = open_desk()
    desk.queue("one", votes=1)
    desk.queue("two", votes=2)
    desk.queue("tie", votes=2)
    desk.answer("ann", True)  # one
    desk.answer("ann", True)  # two
    desk.answer("ann", True)  # two's second copy, to the same annotator
    desk.answer("ann", True)  # tie
    desk.answer("bob", False)  # tie
    desk.give("one", False, "bob")
    desk.give("ghost", True, "bob")
    outcomes = ["learned", "voted", "repeat", "voted", "escalated", "duplicate", "orphaned"]
    assert desk.join(again=True) == outcomes
    desk.answer("bob", True)  # two's copy put back
    desk.give("tie", True, "cid")
    assert desk.join(again=True) == ["learned", "late"]
    assert [(label["id"], label["annotator"]) for label in desk.learned()] == [
        ("one", "ann"),
        ("two", "consensus"),
    ]


def test_a_vote_repeated_requeue_seconds_after_it_sends_the_item_to_an_expert(
    open_desk: Callable[..., Desk],
) -> None:
    desk = open_desk()
    desk.queue("a", votes=2)
    outcomes = []
    for ts in (100.0, 159.9, 100.0 + REQUEUE_SECONDS):  # the last: nobody else took a copy
        desk.answer("ann", True, ts=ts)
        outcomes += desk.join()
    assert outcomes == ["voted", "repeat", "escalated"]
    assert desk.worker("bob").take("bob", 10, block_ms=0) == []  # no crowd copy left
    item = desk.answer("eve", False, tier="expert")
    assert item["escalated"] == {"ann": True}
    assert desk.join() == ["learned"]
    assert [label["annotator"] for label in desk.learned()] == ["eve"]
    assert desk.serve.queue_depth() == 0
    # A vote with no time (stored by hand; serve stamps each): its repeat is not put back.
    desk.queue("b", votes=2)
    [(entry_id, _)] = desk.worker("ann").take("ann", 1, block_ms=0)
    untimed = {"id": "b", "label": True, "annotator": "ann"}
    desk.worker("ann").complete(entry_id, json.dumps(untimed))
    desk.answer("ann", True, ts=100.0)
    assert desk.join() == ["voted", "escalated"]


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
    # Their repeats counted (the count at its end: the next repeat escalated), and now
    # the count is not read: a repeat soon after the vote puts the copy back.
    desk, store = _redis_desk(redis_client)
    desk.queue("a", votes=2)
    desk.answer("ann", "cat")
    assert desk.join() == ["voted"]
    assert redis_client.hdel(store.keys.votes("a"), "label:ann") == 1
    redis_client.hset(store.keys.votes("a"), "requeues", "4")
    desk.answer("ann", "cat", ts=1.0)
    assert desk.join() == ["repeat"]
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
    # stale item and a dropped item failed on it. The count starts again at 1.
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
    worker = desk.worker("cid")
    desk.queue("b", votes=1)
    [(entry_id, raw)] = worker.take("cid", 1, block_ms=0)
    worker.drop(entry_id, json.loads(raw)["id"])
    desk.queue("c", votes=1)
    assert worker.take("cid", 1, block_ms=0, stale_seconds=-1.0) == []
    assert redis_client.hmget(keys.queue_stats, ["stale", "skipped"]) == [b"1", b"1"]


# -- the labeling worker's copies, with serve joining as it goes -------------------------


class _Says(Oracle):
    name = "says"
    batch = 10

    def label(self, item: dict[str, Any], timeout: float | None = None) -> Any:
        return True


@dataclass
class _Serving:
    """A worker's queue on ``desk`` with serve joining every label between the worker's
    takes, and ``bob`` (from ``bob_at`` s on) answering one item the moment it is there,
    as a worker waiting on the queue does (Redis hands an entry to a blocked reader)."""

    desk: Desk
    who: str
    bob_at: float | None = None
    started: float = field(default_factory=time.monotonic)
    outcomes: list[tuple[float, JoinOutcome]] = field(default_factory=list)
    takes: int = 0
    give_backs: int = 0

    @property
    def store(self) -> MemoryStore | RedisStore:
        return self.desk.worker(self.who)

    def _serve(self) -> None:
        at = time.monotonic() - self.started
        self.outcomes += [(at, outcome) for outcome in self.desk.join()]

    def take(
        self,
        consumer: str,
        count: int,
        block_ms: int = 0,
        tier: str = "crowd",
        stale_seconds: float | None = None,
    ) -> list[Entry]:
        self.takes += 1
        self._serve()
        if self.bob_at is not None and time.monotonic() - self.started >= self.bob_at:
            bob = self.desk.worker("bob")
            for entry_id, raw in bob.take("bob", 1, block_ms=0):
                bob.complete(
                    entry_id, _label(json.loads(raw)["id"], True, "bob", "crowd", time.time())
                )
                self.bob_at = None  # one answer
                self._serve()
        taken = self.store.take(consumer, count, block_ms, tier, stale_seconds)
        if not taken and isinstance(self.store, MemoryStore):
            time.sleep(block_ms / 1000)  # as Redis waits (nothing can come in meanwhile)
        return taken

    def take_own_again(self, consumer: str) -> None:
        self.store.take_own_again(consumer)

    def complete(self, entry_id: str, label: str | None) -> None:
        self.store.complete(entry_id, label)

    def keep(self, consumer: str, entry_ids: Sequence[str]) -> int:
        return self.store.keep(consumer, entry_ids)

    def release(self, entry_id: str, item: str) -> None:
        self.give_backs += 1
        self.store.release(entry_id, item)

    def drop(self, entry_id: str, item_id: str) -> None:
        self.store.drop(entry_id, item_id)

    def depth(self) -> int:
        return self.store.depth()


REQUEUE = 1.5  # these tests' requeue_seconds (serve's and the worker's), short


def _worker_alone_then(desk: Desk, bob_at: float | None) -> tuple[_Serving, WorkerStats]:
    """``ann``, a fast worker, alone with both copies of each item until ``bob_at`` s."""
    queue = _Serving(desk, "ann", bob_at=bob_at)
    worker = Worker(queue, _Says(), "ann", annotator="ann", batch=10, requeue_seconds=REQUEUE)
    stats = worker.run(idle_exit=0.2)
    queue._serve()
    return queue, stats


def test_an_annotator_away_for_less_than_requeue_seconds_still_gets_its_copy(
    open_desk: Callable[..., Desk],
) -> None:
    # The worker gave its copy back three times in milliseconds, voted again, and serve
    # put it back four times more: with the second annotator reconnecting for 1.6 s, 42 of
    # 800 items went to an expert with one vote (and nobody served the expert tier).
    desk = open_desk(requeue_seconds=REQUEUE)
    desk.queue("a", votes=2)
    queue, stats = _worker_alone_then(desk, bob_at=0.5)
    assert [outcome for _, outcome in queue.outcomes] == ["voted", "learned"]
    [learned] = desk.learned()
    assert learned["votes"] == {"ann": True, "bob": True}
    assert stats.voted_again == 0 and desk.serve.queue_depth() == 0
    assert queue.give_backs == 3  # at once, 0.25 s later, 0.5 s later: bob took it


def test_a_lone_annotator_s_item_goes_to_an_expert_after_requeue_seconds_without_spinning(
    open_desk: Callable[..., Desk],
) -> None:
    desk = open_desk(requeue_seconds=REQUEUE)
    desk.queue("a", votes=2)
    queue, stats = _worker_alone_then(desk, bob_at=None)
    assert [outcome for _, outcome in queue.outcomes] == ["voted", "escalated"]
    escalated_at = queue.outcomes[-1][0]
    assert REQUEUE <= escalated_at < REQUEUE + 0.5
    assert stats.voted_again == 1
    # Held between give-backs, waiting on the queue: no loop reading it again and again.
    assert queue.give_backs == 3 and queue.takes < 20
    item = desk.answer("eve", False, tier="expert")
    assert item["escalated"] == {"ann": True}
    assert desk.join() == ["learned"]
