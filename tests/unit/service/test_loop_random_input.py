"""The loop under seeded random input: valid and broken events, text features missing for
some classes, labels of the wrong kind. Whatever comes, every event of a batch ends as a
prediction or a dead letter, and the model serve holds is the one a replay of its train
log builds (a replica, or serve after a restart) and the one its snapshot restores."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from stream_al.core.learner import ActiveLearner
from stream_al.core.spec import LearnerSpec
from stream_al.io.memory import MemoryStore
from stream_al.service.loop import LabelLoop

TEXT = ["red", "green", "blue", "v1", "v2", "v3"]


def _value(rng: random.Random) -> Any:
    return rng.choice(
        [None, True, 3, -2.5, 1e101, 10**400, "", "abc", "é" * 3, [1], {"a": 1}, rng.gauss(0, 1)]
    )


def _features(rng: random.Random) -> Any:
    kind = rng.random()
    if kind < 0.8:  # plausible: numbers, text features often missing, a null now and then
        x: dict[str, Any] = {"x": rng.gauss(0, 1), "y": rng.gauss(0, 1)}
        for name in ("c", "d"):
            if rng.random() < 0.5:
                x[name] = rng.choice(TEXT)
        if rng.random() < 0.1:
            x["x"] = None
        return x
    if kind < 0.95:  # odd names and values
        return {rng.choice(["x", "c", "", "c=red", "z"]): _value(rng) for _ in range(3)}
    return _value(rng)


def _raw_event(rng: random.Random, n: int) -> str | bytes:
    if rng.random() < 0.05:
        return rng.choice([b"\xff\xfe", b"", b"{", b"[]", b"null", b'{"id": "a"}'])
    event: dict[str, Any] = {"id": f"e{n}" if rng.random() < 0.9 else _value(rng)}
    event["features"] = _features(rng)
    for key in ("ts", "cost", "meta"):
        if rng.random() < 0.05:
            event[key] = _value(rng)
    return json.dumps(event)


def _label(rng: random.Random, item_id: str) -> str:
    label = rng.choice([0, 1, 2]) if rng.random() < 0.95 else _value(rng)
    return json.dumps({"id": item_id, "label": label, "annotator": rng.choice(["a", "b", ""])})


@pytest.mark.parametrize(
    ("model", "seed"),
    [
        ("auto", 1),
        ("auto", 4),
        ("hoeffding-adaptive-tree", 1),
        ("bagging", 1),
        ("adaptive-random-forest", 1),
        ("adaptive-random-forest", 2),
    ],
)
def test_nothing_is_lost_and_serve_holds_the_model_a_replay_builds(model: str, seed: int) -> None:
    rng = random.Random(seed)
    spec = LearnerSpec(model=model, budget=0.5)
    store, published = MemoryStore(), []
    learner = spec.build(seed)
    loop = LabelLoop(
        learner,
        store=store,
        dead_letters=store,
        predictions=lambda key, payload: published.append(key),
        max_queue_depth=100_000,
        label_ttl=1e9,
        max_event_bytes=10_000,
        max_features=10,
    )
    n = 0
    for _ in range(40):
        batch = [(f"events:0:{n + i}", _raw_event(rng, n + i)) for i in range(rng.randrange(1, 40))]
        n += len(batch)
        before = len(published) + len(store.dead_letters)
        loop.process_events(batch)
        assert len(published) + len(store.dead_letters) - before == len(batch)
        for entry_id, raw in store.take("worker", 1000, 0):
            store._labels.append((store._next_id(), _label(rng, json.loads(raw)["id"])))
            store.complete(entry_id, None)
        loop.process_labels()
        loop.apply_train_log()
    assert learner.n_learned > 100  # the run learned, and refused what it must
    reasons = [json.loads(d)["error"] for d in store.dead_letters]
    assert any("learned it as" in r or "learned its classes as" in r for r in reasons)
    replica = spec.build(seed)
    LabelLoop(replica, store=store, dead_letters=store).replay(None)
    assert replica.model_digest() == learner.model_digest()
    assert ActiveLearner.restore(learner.snapshot()).model_digest() == learner.model_digest()
