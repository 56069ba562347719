"""A soak under faults: a stream of a few thousand events with fuzzed events and labels mixed
in, while Redis is killed and restarted (with persistence), and the broker is stopped and
started, then hangs a while. Nothing is lost, nothing is queued twice, every label is learned
once, and the model equals a replay of the train log (issue 15). On each Kafka client serve
runs on (BACKENDS): each has had fault bugs of its own."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stream_al.config import LearnerSettings
from stream_al.core.learner import ActiveLearner
from stream_al.io.checkpoints import restore_checkpoint
from tests.integration.conftest import Broker, RedisServer
from tests.integration.deployment import (
    BACKENDS,
    KEY,
    Deployment,
    Proc,
    stream_records,
    wait_for,
)
from tests.integration.test_bad_input import MALFORMED

N = 3000
RATE = 60.0  # events per second: the faults land mid-stream


def _fuzzed_events(base: dict[str, Any]) -> list[tuple[str, bytes]]:
    """Events the schema or the model refuses, each with a unique payload."""
    out: list[tuple[str, bytes]] = []
    for i, raw in enumerate(MALFORMED.values()):
        out.append((f"malformed-{i}", raw))
    too_big = [1e101, -1e300, float("1e308"), int("7" * 400), -(10**120)]
    for i, value in enumerate(too_big):
        event = {"id": f"huge-{i}", "features": {**base, "salary": value}}
        out.append((f"huge-{i}", json.dumps(event).encode()))
    return out


def _kind_conflicts(base: dict[str, Any], n: int) -> list[tuple[str, bytes]]:
    """Text where the model learned numbers (sent once it has learned)."""
    names = sorted(base)
    return [
        (
            f"kind-{i}",
            json.dumps(
                {"id": f"kind-{i}", "features": {**base, names[i % len(names)]: f"text {i}"}}
            ).encode(),
        )
        for i in range(n)
    ]


FUZZED_LABELS: list[dict[str, bytes | str]] = [
    {"label": b"\xff\xfe\xfd"},
    {"label": b'{"id": "x", "label": "\xc3\x28"}'},
    {"answer": json.dumps({"id": "e1", "label": 1})},
    {"label": "{not json"},
    {"label": json.dumps({"id": 5, "label": 1})},
    {"label": json.dumps({"id": "nobody-asked", "label": 1})},
    {"label": json.dumps({"id": "x", "label": {"nested": True}})},
    {"label": json.dumps({"id": "x", "label": [1, 2]})},
    {"label": json.dumps({"id": "", "label": 1})},
    {"label": json.dumps({"id": "x" * 300, "label": 1})},
    {"label": json.dumps({"id": "x", "label": 1, "extra": 2})},
    {"label": json.dumps({"id": "never-queried", "label": "0", "annotator": "fuzz"})},
    {"label": '{"id": "x", "label": 1, "ts": NaN}'},
    {"label": ""},
    {"label": json.dumps([1, 2, 3])},
]


def _label_ids(entries: list[Any]) -> list[Any]:
    """The item ids of the label-stream entries that hold a readable label."""
    ids = []
    for _, fields in entries:
        try:
            ids.append(json.loads(fields[b"label"])["id"])
        except (KeyError, TypeError, ValueError):
            continue
    return ids


def _handled(serve: Proc) -> float:
    outcomes = ("queried", "not_queried", "duplicate", "backpressure", "invalid")
    return sum(serve.metric("stream_al_events_total", outcome=o) for o in outcomes)


def _reference_digest(deployment: Deployment) -> tuple[str, int]:
    """A learner that saw no fault, fed the train log (skipping what serve skips)."""
    learner: ActiveLearner = LearnerSettings().spec().build(0)
    skipped = 0
    for entry in deployment.store().read_train_log(None, 10**6):
        item, label = json.loads(entry.item), json.loads(entry.label)
        try:
            learner.learn(item["features"], label["label"], item["prediction"])
        except Exception:
            skipped += 1
    return learner.model_digest(), skipped


@pytest.mark.parametrize("backend", BACKENDS)
def test_nothing_lost_nothing_doubled_under_redis_and_broker_faults_and_fuzzed_input(
    deployment: Deployment,
    broker: Broker,
    redis_server: Callable[..., RedisServer],
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    server = redis_server(durable=True)  # fsync always: a kill loses nothing
    deployment.redis_url = server.url
    deployment.settings.update(
        {
            "STREAM_AL_LEARNER__WINDOW": "200",
            "STREAM_AL_CHECKPOINT__EVERY_LABELS": "50",
            "STREAM_AL_CHECKPOINT__EVERY_SECONDS": "1",
            "STREAM_AL_CHECKPOINT__TRIM_TRAIN_LOG": "false",
            "STREAM_AL_CHECKPOINT__DIR": str(tmp_path / "checkpoints"),
            "STREAM_AL_KAFKA__MAX_POLL_RECORDS": "100",
            # Sends expire during the broker's outage, and are sent again.
            "STREAM_AL_KAFKA__DELIVERY_TIMEOUT_MS": "5000",
        }
    )
    truth = tmp_path / "truth.csv"
    records = stream_records("synth:agrawal-drift", N, truth)
    valid = {i for i, _ in records}
    base = json.loads(records[0][1])["features"]
    fuzzed = _fuzzed_events(base)
    conflicts = _kind_conflicts(base, 30)
    # Fuzzed events spread through the first two thirds; kind conflicts after the first
    # labels are learned (before that, a feature has no kind to conflict with).
    stream: list[tuple[str | None, str | bytes]] = []
    early, late = records[: N // 3], records[N // 3 :]
    step = max(1, len(early) // len(fuzzed))
    for i, record in enumerate(early):
        stream.append(record)
        if i % step == 0 and i // step < len(fuzzed):
            stream.append(fuzzed[i // step])
    step = max(1, len(late) // len(conflicts))
    for i, record in enumerate(late):
        stream.append(record)
        if i % step == 0 and i // step < len(conflicts):
            stream.append(conflicts[i // step])

    serve = deployment.serve()
    worker = deployment.worker(truth)
    producing = threading.Thread(target=deployment.produce_raw, args=(stream, RATE))
    producing.start()
    labels_key = f"{deployment.prefix}:labels"
    faults: Counter[str] = Counter()
    try:
        fuzz = server.client()
        for fields in FUZZED_LABELS[:8]:
            fuzz.xadd(labels_key, fields)  # type: ignore[arg-type]
        wait_for(lambda: _handled(serve) >= 400, 120, what="400 events")
        server.kill()  # 1: Redis killed mid-stream
        faults["redis killed"] += 1
        wait_for(lambda: not serve.ready(), 10, interval=0.1, what="serve unready")
        server.start()
        wait_for(serve.ready, 60, what="serve ready after Redis")
        wait_for(lambda: serve.metric("stream_al_train_log_applied_total") > 0, 60)
        wait_for(lambda: _handled(serve) >= 1200, 120, what="1200 events")
        broker.stop()  # 2: the broker stopped mid-stream, started again
        faults["broker stopped"] += 1
        wait_for(lambda: not serve.ready(), 10, interval=0.1, what="serve unready")
        broker.start()
        wait_for(serve.ready, 90, what="serve ready after the broker")
        for fields in FUZZED_LABELS[8:]:
            server.client().xadd(labels_key, fields)  # type: ignore[arg-type]
        wait_for(lambda: _handled(serve) >= 1800, 120, what="1800 events")
        broker.pause()  # 3: the broker hangs (connections open, no answers) ...
        faults["broker hung"] += 1
        try:  # ... until serve has noticed (the loop stalls: 503 within 5 s)
            wait_for(lambda: not serve.ready(), 30, interval=0.1, what="serve unready")
        finally:
            broker.resume()
        wait_for(lambda: _handled(serve) >= 2200, 120, what="2200 events")
        server.kill()  # 4: Redis killed again, while labels and events flow
        faults["redis killed"] += 1
        server.start()
    finally:
        producing.join(180)
    deployment.wait_until_settled(sorted(valid), timeout=120)
    store = deployment.store()
    wait_for(
        lambda: (
            serve.metric("stream_al_train_log_applied_total")
            + serve.metric("stream_al_train_log_skipped_total")
            >= len(store.read_train_log(None, 10**6))
        ),
        60,
        what="the whole train log applied",
    )
    assert serve.alive() and worker.alive(), serve.output()[-3000:]

    # Every valid event predicted (some twice: at-least-once), no invalid one predicted.
    predicted = Counter(p["id"] for p in deployment.predictions())
    lost = valid - set(predicted)
    assert not lost, f"{len(lost)} events without a prediction"
    assert not set(predicted) - valid
    # Every invalid event dead-lettered, with its reason.
    dead = deployment.dead_letters()
    dead_payloads = {d["payload"] for d in dead}
    invalid = [raw.decode("utf-8", "replace") for _, raw in fuzzed + conflicts]
    missing = [t for t in invalid if t not in dead_payloads and t[:16_384] not in dead_payloads]
    assert not missing, missing[:3]
    assert all(d["error"] for d in dead)
    # Nothing queued twice: the worker labeled each queued item once; every label learned
    # once; every fuzzed label dead-lettered in Redis.
    labeled = [i for i in _label_ids(deployment.redis().xrange(labels_key)) if i in valid]
    doubled = [i for i, n in Counter(labeled).items() if n > 1]
    assert not doubled, doubled[:5]
    log_ids = [json.loads(e.label)["id"] for e in store.read_train_log(None, 10**6)]
    assert sorted(log_ids) == sorted(labeled)
    letters = [
        json.loads(fields[b"dead_letter"])
        for _, fields in deployment.redis().xrange(f"{deployment.prefix}:dead_letters")
    ]
    assert len([d for d in letters if d["source"].startswith("labels:")]) == len(FUZZED_LABELS)
    # The model equals a replay of the train log by a learner that saw no fault.
    assert serve.terminate(timeout=30) == 0
    checkpoint = store.load("r1")
    assert checkpoint is not None
    learner = restore_checkpoint(checkpoint, KEY.encode())
    digest, skipped = _reference_digest(deployment)
    assert learner.model_digest() == digest
    elapsed = time.monotonic() - started
    print(
        f"\nsoak: {N} events + {len(invalid)} fuzzed events + {len(FUZZED_LABELS)} fuzzed "
        f"labels; faults: {dict(faults)}; lost {len(lost)}, queued twice {len(doubled)}, "
        f"predicted twice (at-least-once) {sum(n > 1 for n in predicted.values())}, "
        f"labels learned {len(log_ids)}, train-log entries skipped {skipped}; {elapsed:.0f} s"
    )
    assert elapsed < 180
