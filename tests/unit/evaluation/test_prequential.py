from __future__ import annotations

import math

import pytest

from stream_al.core.learner import ActiveLearner
from stream_al.core.spec import LearnerSpec
from stream_al.data.streams import parse_stream
from stream_al.evaluation.prequential import evaluate, mean_ci95, prequential


class _Spy(ActiveLearner):
    """Records the order of decide and learn calls (by event index in x)."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, int, object]] = []
        self.queried_at: list[bool] = []

    def decide(self, x, cost=1.0, may_query=True):  # type: ignore[no-untyped-def]
        d = super().decide(x, cost, may_query)
        self.calls.append(("decide", x["i"], d.prediction))
        self.queried_at.append(d.queried)
        return d

    def learn(self, x, y, prediction=None, random_slice=False):  # type: ignore[no-untyped-def,override]
        self.calls.append(("learn", x["i"], prediction))
        return super().learn(x, y, prediction)


def _was_queried(spy: _Spy, i: int) -> bool:
    return spy.queried_at[i]


def _data(n: int) -> list[tuple[dict[str, float], bool]]:
    return [({"i": i, "v": float(i % 5)}, i % 5 > 2) for i in range(n)]


@pytest.mark.parametrize("delay", [0, 1, 7])
def test_a_label_is_learned_exactly_delay_events_after_its_event(delay: int) -> None:
    spy = _Spy("gaussian-nb", "random", 0.3, seed=2)
    prequential(_data(500), spy, delay=delay)
    position = {}
    for k, (kind, i, _) in enumerate(spy.calls):
        position[(kind, i)] = k
    learned = [i for kind, i, _ in spy.calls if kind == "learn"]
    queried_due = [i for i in range(500) if i + delay < 500 and _was_queried(spy, i)]
    assert learned == queried_due and len(learned) > 0
    for i in learned:
        if delay == 0:
            assert position[("learn", i)] == position[("decide", i)] + 1
        else:
            if ("decide", i + delay) in position:
                assert position[("decide", i + delay - 1)] < position[("learn", i)]
                assert position[("learn", i)] < position[("decide", i + delay)]


def _lags(spy: _Spy) -> dict[int, int]:
    """How many events after its question each label was learned."""
    decided = learned = 0
    lags = {}
    for kind, i, _ in spy.calls:
        if kind == "decide":
            decided += 1
        else:
            learned += 1
            lags[i] = decided - i  # learned before event ``decided`` is decided
    return lags


def test_jittered_labels_come_back_between_delay_minus_and_plus_jitter() -> None:
    runs = []
    for seed in (3, 3, 4):
        spy = _Spy("gaussian-nb", "random", 0.3, seed=2)
        prequential(_data(2000), spy, delay=20, jitter=15, seed=seed)
        runs.append(_lags(spy))
    lags = list(runs[0].values())
    assert min(lags) >= 5 and max(lags) <= 35 and len(set(lags)) > 20
    order = list(runs[0])
    assert order != sorted(order)  # a quick answer overtakes a slow one
    assert runs[0] == runs[1] and runs[0] != runs[2]  # the seed decides the delays


@pytest.mark.parametrize("jitter", [-1, 21])
def test_jitter_beyond_the_delay_is_refused(jitter: int) -> None:
    with pytest.raises(ValueError, match="jitter"):
        prequential(_data(10), ActiveLearner("gaussian-nb"), delay=20, jitter=jitter)


def test_the_drift_monitor_gets_the_prediction_made_when_the_event_was_asked() -> None:
    spy = _Spy("gaussian-nb", "random", 0.5, seed=1)
    prequential(_data(300), spy, delay=20)
    asked = {i: p for kind, i, p in spy.calls if kind == "decide"}
    for kind, i, prediction in spy.calls:
        if kind == "learn":
            assert prediction == asked[i]


def test_labels_due_after_the_end_are_never_learned_but_still_counted() -> None:
    learner = ActiveLearner("gaussian-nb", "random", 0.2, seed=0)
    result = prequential(_data(400), learner, delay=10_000)
    assert result.labels == learner.n_queried > 0
    assert learner.n_learned == 0
    assert result.correct == 0  # a model without labels predicts nothing


def test_label_delay_costs_accuracy_on_a_drifting_stream() -> None:
    data = list(parse_stream("synth:sea-drift", n_events=8000).events(seed=0))
    spec = LearnerSpec(model="gaussian-nb", strategy="variable-uncertainty", budget=0.1)
    prompt = prequential(data, spec.build(0), delay=0)
    late = prequential(data, spec.build(0), delay=2000)
    assert late.accuracy < prompt.accuracy


def test_accuracy_is_over_every_event_and_the_curve_ends_at_the_total() -> None:
    learner = ActiveLearner("gaussian-nb", "random", 1.0, seed=0)
    data = _data(1000)
    result = prequential(data, learner, curve_points=10)
    assert result.n_events == 1000
    assert result.accuracy == pytest.approx(result.correct / 1000)
    assert len(result.curve) == 10
    assert result.curve[-1] == (1000, result.labels, pytest.approx(result.accuracy))


def test_negative_delay_is_refused() -> None:
    with pytest.raises(ValueError, match="delay"):
        prequential(_data(10), ActiveLearner("gaussian-nb"), delay=-1)


def test_mean_ci95_uses_students_t() -> None:
    mean, _, hi = mean_ci95([0.70, 0.72, 0.74])
    assert mean == pytest.approx(0.72)
    assert hi - mean == pytest.approx(4.303 * 0.02 / math.sqrt(3))
    assert mean_ci95([0.5]) == (0.5, 0.5, 0.5)
    with pytest.raises(ValueError):
        mean_ci95([])


def test_evaluate_reports_strategy_random_and_full_labels_over_seeds() -> None:
    spec = LearnerSpec(model="hoeffding-tree", strategy="split", budget=0.1)
    streams = {s: list(parse_stream("synth:sea-drift").events(s)) for s in range(3)}
    report = evaluate(streams.__getitem__, spec, seeds=3, delay=5)
    assert report["n_events"] == 20_000 and report["seeds"] == 3 and report["delay"] == 5
    lo, hi = report["accuracy_ci95"]
    assert lo <= report["accuracy"] <= hi
    assert len(report["accuracy_per_seed"]) == 3
    assert report["label_fraction"] == pytest.approx(0.1, rel=0.1)
    assert report["baseline"]["strategy"] == "random"
    assert report["baseline"]["label_fraction"] == pytest.approx(0.1, rel=0.1)
    assert report["full_labels"]["accuracy"] > report["baseline"]["accuracy"]
    assert report["curve"][-1][0] == 20_000
    assert report["curve"][-1][2] == pytest.approx(report["accuracy"])
