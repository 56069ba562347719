"""The label loop on a real Redis, where its answers may differ from the in-memory twin's."""

from __future__ import annotations

import json

import redis

from stream_al.core.learner import ActiveLearner
from stream_al.io.redis import RedisStore
from stream_al.service.loop import LabelLoop


def test_an_event_twice_in_one_batch_is_queued_once_and_counted_once(
    redis_client: redis.Redis,
) -> None:
    # Redis takes a pending record stored identically as queued by an earlier try at the
    # same batch; the same event twice in one batch has identical records, so its second
    # copy was counted queried (the twin said duplicate) although one item was queued.
    store = RedisStore(redis_client, "twice", consumer="serve-1")
    store.ensure_groups()
    learner = ActiveLearner("gaussian-nb", "random", 1.0, seed=0)  # the same score twice
    loop = LabelLoop(learner, store=store, dead_letters=store, clock=lambda: 1_000.0)
    raw = json.dumps({"id": "e5", "features": {"x": 5.0}})
    loop.process_events([("events:0:5", raw), ("events:0:6", raw)])
    assert store.queue_depth() == 1
    assert (loop.events["queried"], loop.events["duplicate"]) == (1, 1)
