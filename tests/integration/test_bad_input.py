"""Bad input on real Kafka and Redis: dead letters with reasons, and the service goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kafka.admin import ConfigResource, ConfigResourceType

from tests.integration.conftest import kafka_admin
from tests.integration.deployment import BACKENDS, Deployment, Proc, wait_for


def queued_ids(deployment: Deployment) -> list[str]:
    entries = deployment.redis().xrange(f"{deployment.prefix}:queue")
    return [json.loads(fields[b"item"])["id"] for _, fields in entries]


GOOD = {"id": "ok", "features": {"x": 1.0}}

MALFORMED: dict[str, bytes] = {
    "not JSON": b"{not json",
    "not an object": b"[1, 2, 3]",
    "missing id": json.dumps({"features": {"x": 1}}).encode(),
    "empty id": json.dumps({"id": "", "features": {"x": 1}}).encode(),
    "id too long": json.dumps({"id": "i" * 300, "features": {"x": 1}}).encode(),
    "features not an object": json.dumps({"id": "f", "features": [1, 2]}).encode(),
    "non-finite number": b'{"id": "nan", "features": {"x": NaN}}',
    "infinite number": b'{"id": "inf", "features": {"x": Infinity}}',
    "nested object as a feature": json.dumps({"id": "n", "features": {"x": {"y": 1}}}).encode(),
    "huge payload": json.dumps({"id": "big", "features": {"x": "y" * 200_000}}).encode(),
    "too many features": json.dumps(
        {"id": "wide", "features": {f"f{i}": i for i in range(1_001)}}
    ).encode(),
    "wrong types": json.dumps({"id": 17, "features": {"x": 1}, "cost": "cheap"}).encode(),
    "unknown top-level field": json.dumps({**GOOD, "id": "u", "label": "cat"}).encode(),
    "empty message": b"",
    "not UTF-8": b"\xff\xfe{",
    "Schema Registry framing": bytes([0, 0, 0, 0, 3]) + json.dumps(GOOD).encode(),
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_kind_of_malformed_event_is_dead_lettered_with_a_reason(
    deployment: Deployment,
) -> None:
    serve = deployment.serve()
    good = [(f"g{i}", json.dumps({"id": f"g{i}", "features": {"x": float(i)}})) for i in range(50)]
    deployment.produce_raw([*(("bad", raw) for raw in MALFORMED.values()), *good])
    wait_for(
        lambda: (
            serve.metric("stream_al_events_total", outcome="invalid") >= len(MALFORMED)
            and serve.metric("stream_al_events_total", outcome="queried")
            + serve.metric("stream_al_events_total", outcome="not_queried")
            >= len(good)
        ),
        60,
        what="every event handled",
    )
    # Produces are asynchronous: a handled event's dead letter and prediction are delivered
    # (at the latest) before its offset is committed, not when the metric moves.
    wait_for(
        lambda: (
            len(deployment.dead_letters()) >= len(MALFORMED)
            and len(deployment.predictions()) >= len(good)
        ),
        60,
        what="dead letters and predictions delivered",
    )
    dead = deployment.dead_letters()
    assert len(dead) == len(MALFORMED)
    for letter, (kind, raw) in zip(dead, MALFORMED.items(), strict=True):
        assert letter["error"], kind
        assert letter["source"].startswith(deployment.events_topic + ":0:"), kind
        if kind != "huge payload":
            assert letter["payload"] == raw.decode("utf-8", errors="replace"), kind
    reasons = {kind: letter["error"] for letter, kind in zip(dead, MALFORMED, strict=True)}
    assert "max_event_bytes" in reasons["huge payload"]
    assert "1001 features, more than max_features (1000)" in reasons["too many features"]
    assert "finite" in reasons["non-finite number"]
    assert "label" in reasons["unknown top-level field"]
    assert "Schema Registry's framing" in reasons["Schema Registry framing"]
    assert {p["id"] for p in deployment.predictions()} == {i for i, _ in good}
    assert serve.alive()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_null_feature_is_missing_and_an_event_of_nulls_only_is_dead_lettered_naming_why(
    deployment: Deployment,
) -> None:
    # null is JSON's missing value (pandas' to_json writes NaN as null): every event with
    # one was dead-lettered, and such a producer's stream lost its predictions.
    deployment.settings["STREAM_AL_LEARNER__BUDGET"] = "1.0"
    deployment.settings["STREAM_AL_LEARNER__STRATEGY"] = "random"  # asks every event
    deployment.settings["STREAM_AL_CHECKPOINT__TRIM_TRAIN_LOG"] = "false"  # read below
    serve = deployment.serve()
    events = {
        "a": {"id": "a", "features": {"x": 1.0, "age": None, "colour": "red"}},
        "nulls": {"id": "nulls", "features": {"x": None, "age": None}},
        "b": {"id": "b", "features": {"x": 2.0, "colour": "blue"}},
    }
    deployment.produce_raw([(key, json.dumps(event)) for key, event in events.items()])
    wait_for(
        lambda: len(deployment.predictions()) >= 2 and len(deployment.dead_letters()) >= 1,
        60,
        what="two predictions and a dead letter delivered",
    )
    assert [p["id"] for p in deployment.predictions()] == ["a", "b"]
    [letter] = deployment.dead_letters()
    assert json.loads(letter["payload"]) == events["nulls"]
    assert letter["error"] == (
        "features: Value error, no feature has a value (every one is null, a missing "
        "value): an event needs at least one feature that is a number, a boolean or text"
    )
    store = deployment.store()
    taken = {json.loads(item)["id"]: (entry, item) for entry, item in store.take("w", 2, 0)}
    entry, item = taken["a"]
    assert json.loads(item)["features"] == {"x": 1.0, "colour": "red"}  # "age" left out
    store.complete(entry, json.dumps({"id": "a", "label": "cat"}))
    wait_for(lambda: serve.metric("stream_al_train_log_applied_total") >= 1, 30, what="learned")
    [logged] = store.read_train_log(None, 10)
    assert json.loads(logged.item)["features"] == {"x": 1.0, "colour": "red"}
    assert serve.alive()


@pytest.mark.parametrize("backend", BACKENDS)
def test_dead_letters_reach_a_compacted_dead_letter_topic_keyed_by_their_origin(
    deployment: Deployment,
) -> None:
    # A compacted topic refuses a message without a key: the first invalid event's dead
    # letter was refused again at every flush, and serve stopped at its batch for good.
    admin = kafka_admin(deployment.bootstrap)
    topic = ConfigResource(
        ConfigResourceType.TOPIC, deployment.dead_letter_topic, {"cleanup.policy": "compact"}
    )
    admin.alter_configs([topic])
    admin.close()
    bad = [b"{not json", b"[1, 2]", b""]
    good = [(f"g{i}", json.dumps({"id": f"g{i}", "features": {"x": float(i)}})) for i in range(20)]
    deployment.produce_raw([*(("bad", raw) for raw in bad), *good])
    serve = deployment.serve()
    wait_for(
        lambda: {i for i, _ in good} <= {p["id"] for p in deployment.predictions()},
        60,
        what="the events after the invalid ones predicted",
    )
    letters = deployment.read_topic(deployment.dead_letter_topic)
    assert len(letters) == len(bad)
    for key, value in letters:
        assert key == json.loads(value)["source"]
        assert key is not None and key.startswith(f"{deployment.events_topic}:0:")
    assert serve.ready(), serve.readyz()


def _handled(serve: Proc) -> float:
    outcomes = ("queried", "not_queried", "duplicate")
    return sum(serve.metric("stream_al_events_total", outcome=o) for o in outcomes)


@pytest.mark.parametrize("backend", BACKENDS)
def test_replayed_events_are_never_queued_twice(deployment: Deployment, tmp_path: Path) -> None:
    deployment.settings["STREAM_AL_LEARNER__BUDGET"] = "0.5"
    truth = tmp_path / "truth.csv"
    serve = deployment.serve()
    deployment.produce_stream("synth:sea-drift", 300, truth)
    wait_for(lambda: _handled(serve) >= 300, 60, what="first pass")
    first = queued_ids(deployment)
    assert len(first) > 0
    deployment.produce_stream("synth:sea-drift", 300)  # the same ids again
    wait_for(lambda: _handled(serve) >= 600, 60, what="second pass")
    second = queued_ids(deployment)
    # Events skipped the first time may be asked now; none is in the queue twice.
    assert len(second) == len(set(second)) and set(first) <= set(second)
    # Those asked again were refused by the store: counted as duplicates.
    assert 0 < serve.metric("stream_al_events_total", outcome="duplicate") <= len(first)
    # Once labeled and learned, a replayed event is not queued again either.
    worker = deployment.worker(truth)
    wait_for(lambda: deployment.store().queue_depth() == 0, 60, what="labels")
    wait_for(lambda: serve.metric("stream_al_train_log_applied_total") >= len(second), 60)
    deployment.produce_stream("synth:sea-drift", 300)
    wait_for(lambda: _handled(serve) >= 900, 60, what="third pass")
    third = queued_ids(deployment)
    assert not set(third) & set(second)
    worker.kill()


def _label_item_a(deployment: Deployment) -> None:
    """Send event ``a`` to the serve running, wait until it is queued, label it ``cat``."""
    deployment.produce_raw([("a", json.dumps({"id": "a", "features": {"x": 1.0}}))])
    store = deployment.store()
    wait_for(lambda: store.queue_depth() == 1, 30, what="item a queued")
    [(entry, _)] = store.take("w", 1, block_ms=0)
    store.complete(entry, json.dumps({"id": "a", "label": "cat"}))


def test_orphaned_duplicate_and_invalid_labels_are_dead_lettered_in_redis(
    deployment: Deployment,
) -> None:
    deployment.settings["STREAM_AL_LEARNER__BUDGET"] = "1.0"
    serve = deployment.serve()
    _label_item_a(deployment)
    r, labels = deployment.redis(), f"{deployment.prefix}:labels"
    r.xadd(labels, {"label": json.dumps({"id": "a", "label": "dog"})})  # duplicate
    r.xadd(labels, {"label": json.dumps({"id": "ghost", "label": "cat"})})  # orphaned
    r.xadd(labels, {"label": "{broken"})  # invalid
    r.xadd(labels, {"label": json.dumps({"id": "a"})})  # invalid: no label
    wait_for(
        lambda: (
            serve.metric("stream_al_labels_total", outcome="invalid") >= 2
            and serve.metric("stream_al_labels_total", outcome="orphaned") >= 1
            and serve.metric("stream_al_labels_total", outcome="duplicate") >= 1
        ),
        30,
        what="labels handled",
    )
    assert serve.metric("stream_al_labels_total", outcome="learned") == 1
    entries = r.xrange(f"{deployment.prefix}:dead_letters")
    letters = [json.loads(fields[b"dead_letter"]) for _, fields in entries]
    errors = [d["error"] for d in letters]
    assert len(letters) == 4
    kinds = sorted(error.split(" ", 1)[0] for error in errors)
    assert kinds == ["duplicate", "label:", "message:", "orphaned"], errors
    assert all(d["source"].startswith("labels:") for d in letters)
    assert r.xpending(labels, "serve")["pending"] == 0


def test_a_label_of_another_kind_is_dead_lettered_and_serve_predicts_on(
    deployment: Deployment,
) -> None:
    # One integer label among text classes used to leave serve's tree raising on every
    # later event: each was dead-lettered, none predicted.
    deployment.settings["STREAM_AL_LEARNER__BUDGET"] = "1.0"
    deployment.settings["STREAM_AL_LEARNER__MODEL"] = "hoeffding-tree"
    serve = deployment.serve()
    deployment.produce_raw(
        [(i, json.dumps({"id": i, "features": {"x": float(n)}})) for n, i in enumerate("ab")]
    )
    store = deployment.store()
    wait_for(lambda: store.queue_depth() == 2, 30, what="items a and b queued")
    (ea, _), (eb, _) = store.take("w", 2, block_ms=0)
    store.complete(ea, json.dumps({"id": "a", "label": "cat"}))
    # Learned, not only joined: before its first label the model takes any kind.
    wait_for(lambda: serve.metric("stream_al_train_log_applied_total") == 1, 30, what="a learned")
    store.complete(eb, json.dumps({"id": "b", "label": 1}))
    wait_for(
        lambda: serve.metric("stream_al_labels_total", outcome="invalid") == 1,
        30,
        what="label 1 refused",
    )
    r = deployment.redis()
    [(_, fields)] = r.xrange(f"{deployment.prefix}:dead_letters")
    letter = json.loads(fields[b"dead_letter"])
    assert letter["source"].startswith("labels:")
    error = letter["error"]
    assert "label 1 is an integer, but the model has learned its classes as text" in error
    r.xadd(f"{deployment.prefix}:labels", {"label": json.dumps({"id": "b", "label": "dog"})})
    wait_for(
        lambda: serve.metric("stream_al_labels_total", outcome="learned") == 2, 30, what="b learned"
    )
    later = [(f"c{n}", json.dumps({"id": f"c{n}", "features": {"x": n / 10}})) for n in range(20)]
    deployment.produce_raw(later)
    wait_for(lambda: len(deployment.predictions()) >= 22, 60, what="every event predicted")
    assert {p["prediction"] for p in deployment.predictions()} <= {"cat", "dog", None}
    assert serve.metric("stream_al_events_total", outcome="invalid") == 0


def test_an_item_key_another_program_wrote_dead_letters_that_event_or_label_alone(
    deployment: Deployment,
) -> None:
    # A hash under an item's pending key failed the whole batch's enqueue (or join) with
    # WRONGTYPE: serve exited 1, and again at every restart (the offset never committed,
    # the label read again).
    deployment.settings["STREAM_AL_LEARNER__BUDGET"] = "1.0"
    r, prefix = deployment.redis(), deployment.prefix
    r.hset(f"{prefix}:pending:e5", "a", "b")
    serve = deployment.serve()
    events = [
        (i, json.dumps({"id": i, "features": {"x": float(n)}}))
        for n, i in enumerate(["e4", "e5", "e6"])
    ]
    deployment.produce_raw(events)
    wait_for(
        lambda: len(deployment.dead_letters()) == 1 and len(deployment.predictions()) == 2,
        30,
        what="e5 dead-lettered, e4 and e6 predicted",
    )
    [letter] = deployment.dead_letters()
    assert letter["source"].startswith(deployment.events_topic + ":0:")
    assert json.loads(letter["payload"])["id"] == "e5"
    assert f"redis key {prefix}:pending:e5 holds a hash, not the string" in letter["error"]
    assert "STREAM_AL_REDIS__PREFIX; delete the key" in letter["error"]
    assert {p["id"] for p in deployment.predictions()} == {"e4", "e6"}
    assert serve.metric("stream_al_events_total", outcome="invalid") == 1
    store = deployment.store()
    (e4, _), (e6, _) = store.take("w", 2, block_ms=0)
    r.delete(f"{prefix}:pending:e6")
    r.hset(f"{prefix}:pending:e6", "a", "b")
    store.complete(e6, json.dumps({"id": "e6", "label": "yes"}))
    store.complete(e4, json.dumps({"id": "e4", "label": "no"}))
    wait_for(
        lambda: (
            serve.metric("stream_al_labels_total", outcome="learned") == 1
            and serve.metric("stream_al_labels_total", outcome="invalid") == 1
        ),
        30,
        what="e4 learned, e6's label dead-lettered",
    )
    [(_, fields)] = r.xrange(f"{prefix}:dead_letters")
    dead = json.loads(fields[b"dead_letter"])
    assert dead["source"].startswith("labels:") and json.loads(dead["payload"])["id"] == "e6"
    assert f"redis key {prefix}:pending:e6 holds a hash" in dead["error"]
    assert r.xpending(f"{prefix}:labels", "serve")["pending"] == 0
    assert serve.alive() and serve.terminate() == 0, serve.output()


# Consensus records the join decodes, as another program (or a hand) could leave them: not
# JSON; without the queue item a repeated vote puts back; a vote that is no JSON object.
CORRUPT_RECORDS: dict[str, tuple[str, dict[str, str]]] = {
    "not JSON": ('{"votes_needed": 2, broken', {}),
    "no queue item": ('{"votes_needed": 2, "slot": ""}', {"vote:w9": "{}"}),
    "a vote no object": ('{"votes_needed": 2, "queue_item": "{}"}', {"vote:w9": "7"}),
}


@pytest.mark.parametrize("kind", CORRUPT_RECORDS)
def test_a_consensus_record_serve_did_not_write_dead_letters_its_label_alone(
    deployment: Deployment, kind: str
) -> None:
    # The join script decoded such a record unchecked: its error stopped serve (exit 1),
    # and again at every start, the label read again each time.
    r, prefix = deployment.redis(), deployment.prefix
    record, votes = CORRUPT_RECORDS[kind]
    r.set(f"{prefix}:pending:c", record)
    if votes:
        r.hset(f"{prefix}:votes:c", mapping=votes)
    labels = f"{prefix}:labels"
    r.xadd(labels, {"label": json.dumps({"id": "c", "label": "yes", "annotator": "w9"})})
    serve = deployment.serve()
    wait_for(
        lambda: serve.metric("stream_al_labels_total", outcome="invalid") == 1 or not serve.alive(),
        30,
        what="the label dead-lettered",
    )
    assert serve.alive(), serve.output()[-2000:]
    [(_, fields)] = r.xrange(f"{prefix}:dead_letters")
    dead = json.loads(fields[b"dead_letter"])
    assert dead["source"].startswith("labels:") and json.loads(dead["payload"])["id"] == "c"
    assert f"redis key {prefix}:" in dead["error"] and "delete the key" in dead["error"]
    assert r.xpending(labels, "serve")["pending"] == 0
    assert r.get(f"{prefix}:pending:c") == record.encode()  # nothing changed for it
    deployment.produce_raw([("e1", json.dumps({"id": "e1", "features": {"x": 1.0}}))])
    wait_for(lambda: len(deployment.predictions()) == 1, 30, what="serve predicting on")
    assert serve.terminate() == 0


def test_a_checkpoint_key_serve_did_not_write_stops_neither_serve_nor_its_restart(
    deployment: Deployment,
) -> None:
    # A hash edited by hand under another replica's checkpoint key (its train-log id no
    # stream entry id) raised at each trim of the train log: serve stopped at its first
    # checkpoint after a label (exit 1), and again after every restart. One under serve's
    # own key (created_at not a number) stopped it at start.
    deployment.settings["STREAM_AL_LEARNER__BUDGET"] = "1.0"
    deployment.settings["STREAM_AL_CHECKPOINT__EVERY_SECONDS"] = "1"
    r, prefix = deployment.redis(), deployment.prefix
    r.hset(f"{prefix}:checkpoint:r9", mapping={"train_log_id": "garbage", "created_at": "1"})
    r.sadd(f"{prefix}:checkpoints", "r9")
    serve = deployment.serve()
    _label_item_a(deployment)
    wait_for(lambda: serve.metric("stream_al_last_checkpoint_timestamp_seconds") > 0, 30)
    assert serve.alive(), serve.output()
    assert serve.terminate() == 0, serve.output()
    assert f"{prefix}:checkpoint:r9 is not a checkpoint this version can read" in serve.output()
    r.hset(f"{prefix}:checkpoint:r1", "created_at", "abc")
    again = deployment.serve()
    assert again.alive() and again.terminate() == 0, again.output()
    assert f"{prefix}:checkpoint:r1 is not a checkpoint this version can read" in again.output()


def test_a_hand_written_train_log_entry_learned_is_not_dead_lettered_as_skipped(
    deployment: Deployment,
) -> None:
    # Its times are no numbers: the label delay raised after the entry was learned, and it
    # was counted and dead-lettered as "cannot be learned, skipped" all the same.
    r, prefix = deployment.redis(), deployment.prefix
    item = {"id": "h", "features": {"x": 1.0}, "prediction": None, "enqueued_at": "?"}
    label = {"id": "h", "label": "cat", "ts": "yesterday"}
    r.xadd(f"{prefix}:train_log", {"item": json.dumps(item), "label": json.dumps(label)})
    serve = deployment.serve()
    wait_for(lambda: serve.metric("stream_al_train_log_applied_total") == 1, 30, what="learned")
    assert serve.metric("stream_al_train_log_skipped_total") == 0
    assert r.xlen(f"{prefix}:dead_letters") == 0


def test_counts_written_by_hand_that_are_no_integers_do_not_stop_serve(
    deployment: Deployment,
) -> None:
    # serve reads the workers' queue counts and the annotators' agreement for its gauges
    # every second: one value that is no integer (or an annotator's name that is not
    # UTF-8) stopped it within a second of every start ("failed: ValueError: invalid
    # literal for int() with base 10: b'abc'"). Read as 0, said once.
    r, prefix = deployment.redis(), deployment.prefix
    r.hset(f"{prefix}:queue_stats", mapping={"stale": "abc", "skipped": "2"})
    r.hset(f"{prefix}:agreement", mapping={"ann:total": "x", b"\xff:total": "2", "bob:total": "4"})
    r.hset(f"{prefix}:agreement", mapping={"bob:agree": "3"})
    serve = deployment.serve()
    wait_for(lambda: serve.metric("stream_al_annotator_agreement_ratio", annotator="bob"), 30)
    assert serve.metric("stream_al_annotator_agreement_ratio", annotator="bob") == 0.75
    assert serve.metric("stream_al_label_queue_stale_items") == 0
    assert serve.alive() and serve.terminate() == 0, serve.output()
    assert serve.output().count(f"{prefix}:queue_stats field 'stale' is no count") == 1


def test_events_whose_costs_round_to_nothing_in_the_budget_are_predicted_and_serve_goes_on(
    deployment: Deployment,
) -> None:
    # 5e-324 is a cost > 0: with a budget window of 2 its decayed sum rounds to 0.0, and the
    # budget's spent fraction raised ZeroDivisionError: each queried event was dead-lettered
    # ("the model could not decide this event") and serve stopped at its gauges (exit 1).
    serve = deployment.serve(STREAM_AL_LEARNER__WINDOW="2", STREAM_AL_LEARNER__UNIT="cost")
    events = [
        (f"e{i}", json.dumps({"id": f"e{i}", "features": {"x": float(i)}, "cost": 5e-324}))
        for i in range(20)
    ]
    deployment.produce_raw(events)
    wait_for(
        lambda: (
            serve.metric("stream_al_events_total", outcome="invalid")
            + serve.metric("stream_al_events_total", outcome="queried")
            + serve.metric("stream_al_events_total", outcome="not_queried")
            >= len(events)
            or not serve.alive()
        ),
        30,
        what="every event handled",
    )
    assert serve.alive(), serve.output()[-3000:]
    assert serve.metric("stream_al_events_total", outcome="invalid") == 0
    queried = serve.metric("stream_al_events_total", outcome="queried")
    assert queried > 0  # each explained with the budget spent
    # The gauges (read each second) have counted them: the budget's spent fraction read too.
    wait_for(lambda: serve.metric("stream_al_pending_items") == queried, 30, what="gauges")
    assert serve.alive(), serve.output()[-3000:]
    wait_for(lambda: len(deployment.predictions()) == len(events), 30, what="predictions")
    assert serve.terminate() == 0
