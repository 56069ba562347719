"""The learner's options beyond plain uncertainty, through serve and a worker on real Kafka
and Redis: each configures, decides, queues, learns and explains itself end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stream_al.config import LearnerSettings
from tests.integration.deployment import Deployment, stream_records, wait_for

DEFAULT_STRATEGY = LearnerSettings().strategy

OPTIONS = {
    "committee": {
        "STREAM_AL_LEARNER__MODEL": "bagging",
        "STREAM_AL_LEARNER__UNCERTAINTY": "vote-entropy",
        "STREAM_AL_LEARNER__STRATEGY": "variable-uncertainty",
    },
    "density-and-imbalance": {
        "STREAM_AL_LEARNER__DENSITY_BETA": "1",
        "STREAM_AL_LEARNER__IMBALANCE": "1",
    },
    "cost": {"STREAM_AL_LEARNER__UNIT": "cost", "STREAM_AL_LEARNER__COST_POWER": "1"},
    "moving-average": {
        "STREAM_AL_LEARNER__STRATEGY": "moving-average",
        "STREAM_AL_LEARNER__STRATEGY_PARAMS": '{"k": 0.5}',
    },
    "stopping-and-label-free-drift": {
        "STREAM_AL_LEARNER__STOP_AFTER": "100",
        "STREAM_AL_LEARNER__DRIFT__LABEL_FREE": "true",
    },
}


@pytest.mark.parametrize("option", list(OPTIONS))
def test_each_option_runs_end_to_end(deployment: Deployment, tmp_path: Path, option: str) -> None:
    deployment.settings.update(OPTIONS[option])
    truth = tmp_path / "truth.csv"
    records = stream_records("synth:sea-drift", 1500, truth)
    if option == "cost":  # every third label costs five times as much
        records = [
            (i, json.dumps({**json.loads(raw), "cost": 5.0 if n % 3 == 0 else 1.0}))
            for n, (i, raw) in enumerate(records)
        ]
    serve = deployment.serve()
    deployment.worker(truth)
    # A first part, then the rest while labels come back (so the model has learned
    # something when it decides most events).
    deployment.produce_raw(records[:300])
    wait_for(lambda: serve.metric("stream_al_train_log_applied_total") >= 10, 60, what="labels")
    deployment.produce_raw(records[300:], 500.0)
    deployment.wait_until_settled([i for i, _ in records])
    queried = int(serve.metric("stream_al_events_total", outcome="queried"))
    assert queried > 20
    wait_for(
        lambda: serve.metric("stream_al_train_log_applied_total") >= queried,
        60,
        what="every label learned",
    )
    assert serve.metric("stream_al_events_total", outcome="invalid") == 0
    queries = [
        json.loads(r["body"]) for r in deployment.store().read_audit(10_000) if r["kind"] == "query"
    ]
    assert len(queries) == queried
    why = queries[-1]["explanation"]
    settings = OPTIONS[option]
    assert why["strategy"] == settings.get("STREAM_AL_LEARNER__STRATEGY", DEFAULT_STRATEGY)
    if option == "committee":
        assert {q["explanation"]["measure"] for q in queries} == {"vote-entropy"}
        assert len({round(q["score"], 6) for q in queries}) > 2  # the members disagree, variously
    if option == "cost":
        costly = sum(
            json.loads(raw)["cost"] == 5.0 for i, raw in records if i in {q["id"] for q in queries}
        )
        assert costly < queried / 3  # expensive items are asked less than their share
    if option == "stopping-and-label-free-drift":
        assert serve.metric("stream_al_asking_stopped") in (0.0, 1.0)
        reasons = {q["reason"] for q in queries}
        assert reasons <= {"random", "uncertain"}
