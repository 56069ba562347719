"""Pool mode on real Kafka and Redis: ``stream-al select`` queues a batch from a historical
pool, workers label it and serve learns it through the normal path."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from stream_al.data.streams import parse_stream
from tests.integration.deployment import ROOT, Deployment, stream_records, wait_for

K = 25


def _write_pool(path: Path, truth: Path, rows: int, seed: int) -> list[dict[str, Any]]:
    """A pool CSV with ids and a label column, and the truth of its rows."""
    events = list(parse_stream("synth:agrawal-drift", n_events=rows).events(seed))
    columns = list(events[0][0])
    with path.open("w", newline="") as f, truth.open("w", newline="") as t:
        writer, truth_writer = csv.writer(f), csv.writer(t)
        writer.writerow(["id", *columns, "label"])
        truth_writer.writerow(["id", "label"])
        for n, (x, y) in enumerate(events):
            writer.writerow([f"pool-{n}", *[x[c] for c in columns], y])
            truth_writer.writerow([f"pool-{n}", y])
    return [{"id": f"pool-{n}", "features": x} for n, (x, _) in enumerate(events)]


def _select(deployment: Deployment, *args: str) -> tuple[int, dict[str, Any], str]:
    out = deployment.workdir / f"select-{len(args)}-{args[1].split(':')[0]}.json"
    done = subprocess.run(
        [sys.executable, "-m", "stream_al.cli", "select", *args, "--quiet", "--json", str(out)],
        cwd=ROOT,
        env=deployment.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(out.read_text()) if done.returncode == 0 else {}
    return done.returncode, report, done.stdout + done.stderr


def _train_log_items(deployment: Deployment) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    log = deployment.store().read_train_log(None, 100_000)
    return [(json.loads(e.item), json.loads(e.label)) for e in log]


def test_select_queues_k_distinct_pool_items_that_are_labeled_and_learned(
    deployment: Deployment, tmp_path: Path
) -> None:
    deployment.settings["STREAM_AL_CHECKPOINT__EVERY_LABELS"] = "20"
    # The whole train log stays, to be read back below (serve trims what checkpoints hold).
    deployment.settings["STREAM_AL_CHECKPOINT__TRIM_TRAIN_LOG"] = "false"
    stream_truth = tmp_path / "stream-truth.csv"
    deployment.produce_stream("synth:agrawal-drift", 600, stream_truth, seed=1)
    serve = deployment.serve()
    worker = deployment.worker(stream_truth, "stream-labeler")
    store = deployment.store()
    wait_for(lambda: store.newest() is not None, 120, what="serve's first checkpoint")
    worker.terminate()  # (a file worker skips, and so drops, items its file does not know)
    stream_learned = len(_train_log_items(deployment))

    pool, pool_truth = tmp_path / "pool.csv", tmp_path / "pool-truth.csv"
    _write_pool(pool, pool_truth, 3000, seed=7)
    code, report, output = _select(
        deployment, "--pool", f"csv:{pool}", "--target", "label", "--k", str(K)
    )
    assert code == 0, output
    assert report["scanned"] == 3000 and report["queued"] == K
    assert len(set(report["ids"])) == K and all(i.startswith("pool-") for i in report["ids"])
    assert report["mean_pairwise_distance"] > 0

    both = tmp_path / "truth.csv"
    both.write_text(stream_truth.read_text() + "".join(pool_truth.read_text().splitlines(True)[1:]))
    deployment.worker(both, "labeler")
    selected = set(report["ids"])
    wait_for(
        lambda: selected <= {label["id"] for _, label in _train_log_items(deployment)},
        120,
        what="every selected pool item labeled and joined",
    )
    learned = [(i, lab) for i, lab in _train_log_items(deployment) if lab["id"] in selected]
    assert len(learned) == K  # each once
    assert all(item["source"] == "pool" and item["reason"] == "pool" for item, _ in learned)
    total = len(_train_log_items(deployment))
    assert total >= stream_learned + K
    wait_for(
        lambda: serve.metric("stream_al_train_log_applied_total") >= total,
        60,
        what="serve to learn the pool labels",
    )
    stream_items = [i for i, lab in _train_log_items(deployment) if lab["id"] not in selected]
    assert stream_items and all(i["source"] == "stream" for i in stream_items)

    # Asked again, the labeled items are passed over: a new batch of K other items.
    code, again, output = _select(
        deployment, "--pool", f"csv:{pool}", "--target", "label", "--k", str(K)
    )
    assert code == 0, output
    assert again["queued"] == K and not set(again["ids"]) & selected


def test_select_reads_a_pool_topic_and_an_exported_model(
    deployment: Deployment, tmp_path: Path, kafka_topic: Any
) -> None:
    from stream_al.core.learner import ActiveLearner
    from stream_al.io.model_file import export_model
    from tests.integration.deployment import KEY

    learner = ActiveLearner("hoeffding-tree", "split", budget=0.1, seed=0)
    for x, y in parse_stream("synth:agrawal-drift", n_events=2000).events(3):
        learner.learn(x, y, learner.predict(x))
    model = tmp_path / "model.salm"
    export_model(learner, model, KEY.encode())

    topic = kafka_topic(partitions=2, prefix="pool")
    producer = KafkaProducer(bootstrap_servers=deployment.bootstrap, linger_ms=5)
    records = stream_records("synth:agrawal-drift", 1500, seed=11)
    for item_id, value in records:
        producer.send(topic, key=item_id.encode(), value=value.encode())
    producer.send(topic, key=b"bad", value=b"{not json")  # skipped, not fatal
    producer.send(topic, key=b"gone", value=None)  # a delete: skipped, counted apart
    producer.flush()
    producer.close()

    code, report, output = _select(
        deployment, "--pool", f"topic:{topic}", "--model", str(model), "--k", "40"
    )
    assert code == 0, output
    assert report["scanned"] == 1500 and report["queued"] == 40
    assert f"skipped 1 invalid events of topic {topic}" in output, output
    assert f"skipped the tombstones (deletes, no events) of topic {topic}: 1" in output, output
    assert len(set(report["ids"])) == 40 <= deployment.store().queue_depth()
    # The diversity step does what it is for: a more spread batch than the top 40.
    assert report["mean_pairwise_distance"] > report["top_uncertainty_mean_pairwise_distance"]

    code, _, output = _select(
        deployment, "--pool", "topic:no-such-topic-x", "--model", str(model), "--k", "5"
    )
    assert code == 2 and "no-such-topic-x" in output
