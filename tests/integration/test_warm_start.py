"""Warm start and model files on real Kafka and Redis."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from stream_al.data.produce import event_records
from stream_al.data.streams import parse_stream
from stream_al.io.checkpoints import restore_checkpoint
from stream_al.io.model_file import import_model, read_header
from tests.integration.deployment import (
    KEY,
    ROOT,
    Deployment,
    Proc,
    spare_db_url,
    stream_records,
    wait_for,
)

HISTORY = 3000
LIVE = 20
OWN_DB = 14


@pytest.fixture(autouse=True)
def own_database(deployment: Deployment) -> Iterator[None]:
    """The deployment on a Redis database of this module's own, its keys deleted after.

    Other test modules flush the shared spare database when they start and end: run in
    parallel with them (another checkout, pytest-xdist), a running serve's keys would be
    wiped mid-test. Every prefix used here is unique, so sharing this database is safe.
    """
    deployment.redis_url = spare_db_url(deployment.redis_url, OWN_DB)
    yield
    client = deployment.redis()
    try:
        for prefix in {*_USED, deployment.prefix}:
            keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
            if keys:
                client.delete(*keys)
    finally:
        client.close()
        _USED.clear()


_USED: list[str] = []  # prefixes a test moved away from (see _fresh)


def _first_prediction(deployment: Deployment, topic: str, event_id: str) -> dict[str, Any]:
    def found() -> dict[str, Any]:
        for _, value in deployment.read_topic(topic):
            p: dict[str, Any] = json.loads(value)
            if p["id"] == event_id:
                return p
        return {}

    return wait_for(found, 60, what=f"a prediction of event {event_id} on {topic}")


def _labeled_history(deployment: Deployment, topic: str) -> None:
    """The first HISTORY events of agrawal-drift (seed 1) with their labels, to ``topic``."""
    examples = parse_stream("synth:agrawal-drift", n_events=HISTORY).events(seed=1)
    producer = KafkaProducer(bootstrap_servers=deployment.bootstrap, linger_ms=5)
    for _, value, label in event_records(examples):
        producer.send(topic, value=json.dumps({**json.loads(value), "label": str(label)}).encode())
    producer.send(topic, value=b'{"id": "bad", "features": {"x": 1}}')  # no label: skipped
    producer.flush()
    producer.close()


def _fresh(deployment: Deployment, kafka_topic: Callable[..., str]) -> str:
    """Another deployment on the same events: its own Redis prefix, consumer group and
    predictions topic (returned)."""
    _USED.append(deployment.prefix)
    deployment.prefix = f"it{uuid.uuid4().hex[:8]}"
    deployment.group = f"g{uuid.uuid4().hex[:8]}"
    topic = kafka_topic(partitions=1, prefix="predictions")
    deployment.predictions_topic = topic
    return topic


def _cli(deployment: Deployment, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stream_al.cli", *args],
        cwd=ROOT,
        env=deployment.env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_warm_started_service_decides_its_first_event_with_the_warm_model(
    deployment: Deployment, kafka_topic: Callable[..., str]
) -> None:
    history = kafka_topic(partitions=2, prefix="history")
    _labeled_history(deployment, history)
    ids = deployment.produce_stream("synth:agrawal-drift", LIVE, seed=2)

    cold = deployment.serve()
    cold_first = _first_prediction(deployment, deployment.predictions_topic, ids[0])
    assert cold.terminate() == 0

    warm_topic = _fresh(deployment, kafka_topic)
    warm = deployment.serve(STREAM_AL_SERVICE__WARM_START=f"topic:{history}")
    warm_first = _first_prediction(deployment, warm_topic, ids[0])

    # A cold model has seen no label: no prediction. The warm one learned the history.
    assert cold_first["prediction"] is None and cold_first["model_version"] == 0
    assert warm_first["prediction"] is not None
    assert warm_first["prediction"] != cold_first["prediction"]
    assert warm_first["model_version"] == HISTORY
    out = warm.output()
    assert f"warm start from topic:{history}: {HISTORY:,} labeled examples, 1 skipped" in out
    assert 'no "label"' in out  # the skipped record, named with its offset

    # The warm model was checkpointed at once: a restart starts from it and does not learn
    # the history a second time.
    checkpoint = deployment.store().load("r1")
    assert checkpoint is not None and checkpoint.train_log_id is None
    assert restore_checkpoint(checkpoint, KEY.encode()).n_learned == HISTORY
    assert warm.terminate() == 0
    more = [json.loads(v) for _, v in stream_records("synth:agrawal-drift", 5, seed=3)]
    deployment.produce_raw((None, json.dumps({**e, "id": f"later-{e['id']}"})) for e in more)
    assert "learner settings differ" not in warm.output()
    # Restarted with another budget, which it takes, and another strategy, which a
    # checkpoint holds: serve says so.
    again = deployment.serve(
        STREAM_AL_SERVICE__WARM_START=f"topic:{history}",
        STREAM_AL_LEARNER__BUDGET="0.05",
        STREAM_AL_LEARNER__STRATEGY="random",
    )
    later = _first_prediction(deployment, warm_topic, "later-0")
    assert later["model_version"] == HISTORY
    out = again.output()
    assert "model from checkpoint of r1" in out
    assert "budget settings of this start applied (budget: 0.1 -> 0.05)" in out
    assert again.metric("stream_al_budget_target_ratio") == 0.05
    warning = "learner settings differ from those of the model restored from checkpoint of r1"
    assert warning in out and "(strategy: variable-uncertainty -> random)" in out
    assert again.terminate() == 0


def _serve_until_predicted(
    deployment: Deployment, topic: str, event_id: str, **settings: str
) -> tuple[Proc, dict[str, Any]]:
    proc = deployment.serve("r1", True, **settings)
    return proc, _first_prediction(deployment, topic, event_id)


def test_model_export_and_import_round_trip_through_redis(
    deployment: Deployment, kafka_topic: Callable[..., str], tmp_path: Path
) -> None:
    history = tmp_path / "history.csv"
    examples = list(parse_stream("synth:agrawal-drift", n_events=HISTORY).events(seed=1))
    columns = list(examples[0][0])
    lines = [",".join([*columns, "label"])]
    lines += [",".join([*(str(x[c]) for c in columns), str(y)]) for x, y in examples]
    history.write_text("\n".join(lines) + "\n")
    ids = deployment.produce_stream("synth:agrawal-drift", LIVE, seed=2)

    # serve 1: warm-started from a CSV, checkpointed
    serve, first = _serve_until_predicted(
        deployment,
        deployment.predictions_topic,
        ids[0],
        STREAM_AL_SERVICE__WARM_START=f"csv:{history}",
        STREAM_AL_SERVICE__WARM_START_TARGET="label",
    )
    assert first["model_version"] == HISTORY
    assert serve.terminate() == 0

    model = tmp_path / "model.salm"
    result = _cli(deployment, "model", "export", "--out", str(model))
    assert result.returncode == 0, result.stderr
    assert "exported the checkpoint of replica r1" in result.stdout
    exported = import_model(model, KEY.encode())
    assert exported.n_learned == HISTORY and read_header(model)["source"]["replica"] == "r1"

    # Importing over a deployment that has a checkpoint is refused without --force.
    result = _cli(deployment, "model", "import", str(model))
    assert result.returncode == 2 and "--force" in result.stderr, result.stderr
    result = _cli(deployment, "model", "import", str(model), "--force", "--replica", "r9")
    assert result.returncode == 0, result.stderr
    assert "replaced r1" in result.stdout
    store = deployment.store()
    assert store.load("r1") is None and store.load("r9") is not None

    # A wrong key is refused before Redis is touched.
    bad = _cli(deployment, "model", "import", str(model), "--force", STREAM_AL_CHECKPOINT__KEY="x")
    assert bad.returncode == 2 and "bad signature" in bad.stderr

    # serve 2: a fresh deployment, the model imported; it predicts as the exported model does
    topic = _fresh(deployment, kafka_topic)
    result = _cli(deployment, "model", "import", str(model))
    assert result.returncode == 0, result.stderr
    checkpoint = deployment.store().newest()
    assert checkpoint is not None
    assert restore_checkpoint(checkpoint, KEY.encode()).model_digest() == exported.model_digest()
    imported, second = _serve_until_predicted(deployment, topic, ids[0])
    assert second["model_version"] == HISTORY
    assert (second["prediction"], second["proba"]) == (first["prediction"], first["proba"])
    assert imported.terminate() == 0

    # serve 3: the model file as a warm start of a fresh learner
    topic = _fresh(deployment, kafka_topic)
    warm, third = _serve_until_predicted(
        deployment, topic, ids[0], STREAM_AL_SERVICE__WARM_START=f"model:{model}"
    )
    assert (third["prediction"], third["model_version"]) == (first["prediction"], HISTORY)
    assert warm.terminate() == 0
