"""Warm start: history learned before the live stream, without spending the budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stream_al.cli.main import main
from stream_al.core.learner import ActiveLearner
from stream_al.core.types import Example
from stream_al.data.histories import (
    History,
    labeled_event,
    load_history,
    parse_warm_start,
    warm_learner,
    warm_up,
)
from stream_al.data.streams import parse_stream
from stream_al.io.model_file import export_model

KEY = "warm-start-key"


def _stream(n: int, seed: int = 0) -> list[Example]:
    return list(parse_stream("synth:sea-drift", n_events=n).events(seed))


def _csv(tmp_path: Path, rows: int = 600, blank_labels: int = 0) -> Path:
    path = tmp_path / "small.csv"
    lines = ["a,b,class"] + [f"{i % 7},{(i * 3) % 5},{int(i % 7 > 3)}" for i in range(rows)]
    for k in range(blank_labels):
        lines[1 + k] = lines[1 + k].rsplit(",", 1)[0] + ","
    path.write_text("\n".join(lines) + "\n")
    return path


# -- the budget is spent on the live stream only ---------------------------------------------


def test_history_counts_neither_as_events_nor_as_labels() -> None:
    learner = ActiveLearner("hoeffding-tree", "split", 0.05, window=200, seed=0)
    assert learner.warm_start(_stream(4000)) == 4000
    assert (learner.n_events, learner.n_queried, learner.budget.spent) == (0, 0, 0.0)
    assert learner.n_learned == 4000 and learner.model_version == 4000


def test_a_drift_in_the_history_does_not_boost_the_live_budget() -> None:
    learner = ActiveLearner("hoeffding-tree", "split", 0.05, window=200, seed=0)
    history = _stream(4000)
    flipped = [(x, not y) for x, y in history]  # the concept inverts halfway
    learner.warm_start(history + flipped)
    assert learner.n_drifts > 0
    assert learner.budget.target == 0.05 and learner.budget.boost_remaining == 0


def test_the_live_label_fraction_is_the_budget_warm_or_cold() -> None:
    live = _stream(10_000, seed=1)
    fractions = {}
    for warm in (False, True):
        learner = ActiveLearner("hoeffding-tree", "split", 0.05, window=200, seed=0)
        if warm:
            learner.warm_start(_stream(5000, seed=2))
        for x, y in live:
            d = learner.decide(x)
            if d.queried:
                learner.learn(x, y, d.prediction)
        fractions[warm] = learner.n_queried / len(live)
    for fraction in fractions.values():
        assert abs(fraction - 0.05) <= 0.1 * 0.05, fractions


def test_a_warm_learner_predicts_from_its_first_event() -> None:
    x, _ = _stream(1, seed=3)[0]
    cold = ActiveLearner("hoeffding-tree", seed=0)
    warm = ActiveLearner("hoeffding-tree", seed=0)
    warm.warm_start(_stream(2000))
    assert cold.decide(x).prediction is None
    assert warm.decide(x).prediction is not None


# -- from a saved model --------------------------------------------------------------------------


def test_adopt_takes_the_model_and_keeps_the_budget(tmp_path: Path) -> None:
    saved = ActiveLearner("hoeffding-tree", "random", 0.5, seed=0)
    for x, y in _stream(3000):
        d = saved.decide(x)
        if d.queried:
            saved.learn(x, y, d.prediction)
    path = tmp_path / "m.salm"
    export_model(saved, path, KEY.encode())
    learner = ActiveLearner("hoeffding-tree", "split", 0.05, seed=0)
    summary = warm_learner(learner, parse_warm_start(f"model:{path}"), None, KEY.encode())
    assert f"{saved.n_learned:,} labels learned before" in summary
    assert learner.model_digest() != ActiveLearner("hoeffding-tree").model_digest()
    assert learner.strategy_name == "split" and learner.budget.budget == 0.05
    assert (learner.n_events, learner.n_queried) == (0, 0)
    x = {0: 5.0, 1: 2.0, 2: 7.0}
    assert learner.predict(x) == saved.predict(x)


def test_adopt_keeps_the_learners_own_cap_on_feature_names() -> None:
    saved = ActiveLearner("hoeffding-tree", "random", 1.0, seed=0, max_model_features=2)
    saved.learn({"a": 1.0, "b": 2.0, "c": 3.0}, True)
    learner = ActiveLearner("hoeffding-tree", "split", 0.05, seed=0, max_model_features=3)
    learner.adopt(saved)
    assert learner.max_model_features == 3 and learner.n_features == 2
    learner.learn({"a": 1.0, "b": 2.0, "c": 3.0}, False)
    assert learner.n_features == 3


def test_adopt_refuses_another_model(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="choose the same model"):
        ActiveLearner("hoeffding-tree").adopt(ActiveLearner("gaussian-nb"))


# -- specs and histories -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kinds", "message"),
    [
        ("nope", None, "use one of csv:PATH, first:N, topic:NAME, model:PATH"),
        ("first:x", None, "first:N needs N >= 1"),
        ("first:5", ("csv", "topic", "model"), "use one of csv:PATH, topic:NAME, model:PATH"),
        ("csv:/no/such.csv", None, "needs --target"),
        ("model:/no/such.salm", None, "no such model file"),
    ],
)
def test_a_bad_spec_says_what_to_fix(
    spec: str, kinds: tuple[str, ...] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        parse_warm_start(spec, None, kinds or ("csv", "first", "topic", "model"))


def test_a_csv_history_counts_the_rows_without_a_label(tmp_path: Path) -> None:
    path = _csv(tmp_path, rows=100, blank_labels=3)
    warm = parse_warm_start(f"csv:{path}", "class")
    history = load_history(warm)
    assert len(history.examples) == 97 and history.skipped == 3
    assert "97 labeled examples, 3 skipped (rows without a 'class' label)" in history.describe(
        warm.spec
    )
    with pytest.raises(ValueError, match="target column 'label' is not in"):
        parse_warm_start(f"csv:{path}", "label")


def test_a_topic_history_skips_and_counts_invalid_records() -> None:
    good = json.dumps({"id": "1", "features": {"x": 1.0}, "label": "UP"})
    records = [
        ("t:0:0", good.encode()),
        ("t:0:1", b"{not json"),
        ("t:0:2", json.dumps({"id": "2", "features": {"x": 1.0}}).encode()),
        ("t:0:3", json.dumps({"id": "3", "features": {}, "label": "UP"}).encode()),
        ("t:0:4", json.dumps({"id": "4", "features": {"x": 2.0}, "label": 1.5}).encode()),
        ("t:0:5", good.encode()),
        ("t:0:6", b"[" * 100_000),  # json.loads raised RecursionError: serve failed to start
    ]
    warm = parse_warm_start("topic:history")
    history = load_history(warm, kafka=object(), read=lambda kafka, topic: records)  # type: ignore[arg-type]
    assert history.examples == [({"x": 1.0}, "UP")] * 2 and history.skipped == 5
    assert history.problems[0].startswith("t:0:1: not JSON")
    assert history.problems[1] == 't:0:2: no "label"'
    assert history.problems[2].startswith("t:0:3: features")
    assert history.problems[3] == "t:0:4: bad label 1.5"
    assert history.problems[4].startswith("t:0:6: not JSON: recursion limit exceeded")


def test_a_labeled_event_s_null_feature_is_missing_as_in_a_live_event() -> None:
    raw = '{"id": "a", "features": {"x": 1, "age": null}, "label": "UP"}'
    assert labeled_event(raw) == ({"x": 1}, "UP")


def test_labeled_events_keep_the_label_type() -> None:
    assert labeled_event(b'{"id": "a", "features": {"x": 1}, "label": 1}') == ({"x": 1}, 1)
    assert labeled_event('{"id": "a", "features": {"x": 1}, "label": true}')[1] is True


def test_warm_up_from_an_empty_history_is_a_cold_start(caplog: pytest.LogCaptureFixture) -> None:
    learner = ActiveLearner("gaussian-nb")
    warm = parse_warm_start("topic:history")
    history = History([])
    assert "0 labeled examples" in warm_learner(learner, warm, history, None)
    with pytest.raises(ValueError, match="needs the Kafka settings"):
        warm_up(learner, warm)


# -- evaluate ---------------------------------------------------------------------------------


def test_evaluate_reports_accuracy_with_and_without_the_warm_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _csv(tmp_path)
    out = tmp_path / "r.json"
    args = ["evaluate", "--stream", f"csv:{data}", "--target", "class", "--budget", "0.05"]
    assert (
        main([*args, "--warm-start", "first:200", "--seeds", "2", "--quiet", "--json", str(out)])
        == 0
    )
    report = json.loads(out.read_text())
    assert report["n_events"] == 400  # the live stream: what follows the history
    w = report["warm_start"]
    assert w["source"] == "first:200" and w["history_events"] == 200
    assert w["gain"] == pytest.approx(w["accuracy"] - report["accuracy"])
    assert 0 < w["label_fraction"] < 0.25 and len(w["accuracy_per_seed"]) == 2
    assert {"accuracy", "label_fraction"} <= w["baseline"].keys()
    assert "full_labels" in w
    printed = capsys.readouterr().out
    assert "cold start" in printed and "warm start" in printed
    # A deterministic stream of 7 repeating rows: the warm model knows it from the start.
    assert w["accuracy"] > report["accuracy"]

    # the same history as a file: the same warm run
    history = tmp_path / "history.csv"
    history.write_text("\n".join(data.read_text().splitlines()[:201]) + "\n")
    live = tmp_path / "live.csv"
    lines = data.read_text().splitlines()
    live.write_text("\n".join(lines[:1] + lines[201:]) + "\n")
    out2 = tmp_path / "r2.json"
    common = ["evaluate", "--stream", f"csv:{live}", "--target", "class", "--budget", "0.05"]
    assert (
        main(
            [
                *common,
                "--warm-start",
                f"csv:{history}",
                "--seeds",
                "2",
                "--quiet",
                "--json",
                str(out2),
            ]
        )
        == 0
    )
    w2 = json.loads(out2.read_text())["warm_start"]
    assert w2["accuracy_per_seed"] == w["accuracy_per_seed"]


def test_evaluate_from_a_model_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _csv(tmp_path)
    learner = ActiveLearner("hoeffding-tree", seed=0)
    learner.warm_start(parse_stream(f"csv:{data}", target="class").events())
    path = tmp_path / "m.salm"
    export_model(learner, path, KEY.encode())
    out = tmp_path / "r.json"
    args = ["evaluate", "--stream", f"csv:{data}", "--target", "class", "--seeds", "1"]
    args += ["--warm-start", f"model:{path}", "--quiet", "--json", str(out)]
    args += ["--model", "hoeffding-tree"]  # the saved model's
    monkeypatch.delenv("STREAM_AL_CHECKPOINT__KEY", raising=False)
    assert main(args) == 2  # the file cannot be checked without the key
    monkeypatch.setenv("STREAM_AL_CHECKPOINT__KEY", KEY)
    assert main(args) == 0
    w = json.loads(out.read_text())["warm_start"]
    assert w["history_events"] is None and w["accuracy"] > 0.9
    monkeypatch.setenv("STREAM_AL_CHECKPOINT__KEY", "another key")
    assert main(args) == 2


@pytest.mark.parametrize(
    ("warm", "message"),
    [("first:600", "leaves no live events"), ("first:0", "N >= 1"), ("bogus:1", "use one of")],
)
def test_evaluate_with_a_bad_warm_start_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], warm: str, message: str
) -> None:
    data = _csv(tmp_path)
    args = ["evaluate", "--stream", f"csv:{data}", "--target", "class", "--seeds", "1"]
    assert main([*args, "--warm-start", warm, "--quiet"]) == 2
    assert message in capsys.readouterr().err


def test_serve_refuses_a_first_warm_start_before_connecting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STREAM_AL_CHECKPOINT__KEY", KEY)
    monkeypatch.setenv("STREAM_AL_METRICS__PORT", "0")
    assert main(["serve", "--warm-start", "first:10", "--quiet"]) == 2
    assert "STREAM_AL_SERVICE__WARM_START" in capsys.readouterr().err
