from __future__ import annotations

import csv
import json
from pathlib import Path

from stream_al.data.produce import event_records, replay
from stream_al.data.streams import parse_stream
from stream_al.schemas import Event


def test_events_carry_row_numbers_or_the_id_column_and_never_the_label() -> None:
    records = list(event_records([({"a": 1.0}, "x"), ({"a": 2.0}, "y")]))
    assert [(i, label) for i, _, label in records] == [("0", "x"), ("1", "y")]
    event = Event.model_validate_json(records[1][1])
    assert event.id == "1" and event.features == {"a": 2.0}
    with_ids = list(event_records([({"id": 41.0, "a": 1.0}, "x")]))
    assert with_ids[0][0] == "41" and "id" not in json.loads(with_ids[0][1])["features"]


def test_replay_sends_up_to_the_limit_and_writes_the_truth(tmp_path: Path) -> None:
    sent: list[tuple[str, str]] = []
    truth = tmp_path / "out" / "truth.csv"
    data = parse_stream("synth:sea-drift", n_events=50).events(seed=3)
    n = replay(data, lambda k, v: sent.append((k, v)), limit=20, truth=truth)
    assert n == 20 == len(sent)
    with truth.open() as f:
        rows = list(csv.DictReader(f))
    stream = parse_stream("synth:sea-drift", n_events=50)
    expected = [str(y) for _, y in list(stream.events(3))][:20]
    assert [r["id"] for r in rows] == [k for k, _ in sent]
    assert [r["label"] for r in rows] == expected


def test_replay_keeps_to_the_rate() -> None:
    now = {"t": 0.0}
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now["t"] += seconds

    n = replay(
        [({"a": float(i)}, 0) for i in range(11)],
        lambda k, v: None,
        rate=5.0,
        sleep=sleep,
        clock=lambda: now["t"],
    )
    assert n == 11
    assert now["t"] == 2.0  # event k goes out at k / rate seconds
