from __future__ import annotations

import random
from typing import Literal

import pytest
from river import naive_bayes

from stream_al.core.drift import Challenger, DriftMonitor, DriftReaction
from stream_al.core.learner import ActiveLearner


def _errors(rate: float, n: int, rng: random.Random) -> list[bool]:
    return [rng.random() < rate for _ in range(n)]


def test_monitor_detects_a_jump_in_the_error_rate_soon_after_it_happens() -> None:
    rng = random.Random(0)
    monitor = DriftMonitor(delta=0.002)
    before = [monitor.update(e) for e in _errors(0.1, 2000, rng)]
    after = [monitor.update(e) for e in _errors(0.6, 500, rng)]
    assert not any(before)
    assert any(after[:200])
    assert monitor.detections >= 1
    assert monitor.error_rate > 0.4


def test_a_falling_error_rate_is_not_a_drift() -> None:
    rng = random.Random(2)
    monitor = DriftMonitor(delta=0.002)
    fired = [monitor.update(e) for e in _errors(0.6, 2000, rng) + _errors(0.1, 2000, rng)]
    assert not any(fired)
    assert monitor.improvements >= 1 and monitor.detections == 0


def test_monitor_is_quiet_on_a_stationary_error_rate() -> None:
    rng = random.Random(1)
    monitor = DriftMonitor(delta=0.002)
    assert not any(monitor.update(e) for e in _errors(0.3, 5000, rng))


def _learner(restart: str, boost: float = 1.0, buffer_size: int = 300) -> ActiveLearner:
    reaction = DriftReaction(
        restart=restart,  # type: ignore[arg-type]
        boost_factor=boost,
        boost_events=100,
        buffer_size=buffer_size,
        challenger_every=0,  # these tests look at the restart alone
    )
    return ActiveLearner(naive_bayes.GaussianNB(), "random", 0.1, drift=reaction, seed=0)


def _drive_to_drift(learner: ActiveLearner) -> tuple[int, int]:
    """Feed right predictions, then wrong ones, until the monitor fires.

    Returns (examples learned before the drift example, ADWIN width after it).
    """
    rng = random.Random(3)
    for i in range(3000):
        x = {"a": rng.gauss(0, 1)}
        y = i % 2 == 0
        wrong = i >= 1000
        if learner.learn(x, y, (not y) if wrong else y):
            return i, learner._monitor.width  # type: ignore[union-attr]
    raise AssertionError("no drift detected")


def _examples_seen(model: naive_bayes.GaussianNB) -> int:
    return int(sum(model.class_counts.values()))


def test_examples_seen_counts_learned_examples() -> None:
    model = naive_bayes.GaussianNB()
    for i in range(3):
        model.learn_one({"a": float(i)}, i % 2 == 0)
    assert _examples_seen(model) == 3


def test_reset_restarts_from_a_fresh_model_that_knows_only_the_new_example() -> None:
    learner = _learner("reset")
    before = learner.model
    _drive_to_drift(learner)
    assert learner.model is not before
    assert _examples_seen(learner.model) == 1
    assert learner.n_drifts == 1


def test_warm_restart_relearns_the_examples_adwin_kept_in_its_window() -> None:
    learner = _learner("warm", buffer_size=10_000)
    _, width = _drive_to_drift(learner)
    # The window after the cut, the drift example included, is what the new model knows.
    assert _examples_seen(learner.model) == width
    assert width < 1000  # the old concept was cut away


def test_warm_restart_is_bounded_by_the_buffer() -> None:
    learner = _learner("warm", buffer_size=5)
    _drive_to_drift(learner)
    assert _examples_seen(learner.model) == 6  # five buffered + the drift example


def test_no_restart_keeps_the_model() -> None:
    learner = _learner("none")
    before = learner.model
    i, _ = _drive_to_drift(learner)
    assert learner.model is before
    assert _examples_seen(learner.model) == i + 1


def test_drift_boosts_the_budget_for_the_configured_number_of_events() -> None:
    learner = _learner("none", boost=3.0)
    _drive_to_drift(learner)
    assert learner.budget.target == pytest.approx(0.3)
    for _ in range(100):
        learner.decide({"a": 0.0})
    assert learner.budget.target == pytest.approx(0.1)


def test_disabled_monitor_never_fires() -> None:
    learner = ActiveLearner("gaussian-nb", "random", 0.1, drift=DriftReaction(enabled=False))
    for i in range(2000):
        assert not learner.learn({"a": float(i % 7)}, i % 2 == 0, i >= 500)
    assert learner.n_drifts == 0


class _Constant:
    """A 'model' that always predicts one class and counts what it learns."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.learned = 0


def _challenger(every: int = 10, min_labels: int = 20, max_labels: int = 60) -> Challenger:
    return Challenger(
        new_model=lambda: _Constant(True),
        predict=lambda model, x: model.answer,
        learn=lambda model, x, y: setattr(model, "learned", model.learned + 1),
        every=every,
        min_labels=min_labels,
        max_labels=max_labels,
        z=1.0,
    )


def test_a_challenger_that_beats_the_model_replaces_it_after_min_labels() -> None:
    challenger = _challenger()
    winners = [challenger.observe({}, True, incumbent_correct=False) for _ in range(29)]
    # It starts on the 10th label and may win once it has learned 20.
    assert all(w is None for w in winners[:-1])
    assert winners[-1] is not None and winners[-1].learned == 20
    assert challenger.swaps == 1 and not challenger.active


def test_a_challenger_that_does_not_win_is_dropped_after_max_labels() -> None:
    challenger = _challenger()
    results = [challenger.observe({}, True, incumbent_correct=True) for _ in range(9 + 60)]
    assert all(r is None for r in results)
    assert not challenger.active and challenger.swaps == 0
    challenger.observe({}, True, incumbent_correct=True)
    assert not challenger.active  # the next one waits `every` labels again


def test_a_tie_never_swaps() -> None:
    challenger = _challenger(max_labels=1000)
    for i in range(500):
        truth = i % 2 == 0  # the challenger (always True) and the model take turns being right
        assert challenger.observe({}, truth, incumbent_correct=not truth) is None


def test_learner_swaps_in_a_better_challenger() -> None:
    reaction = DriftReaction(delta=0.002, challenger_every=20, challenger_min=50, restart="none")
    learner = ActiveLearner("gaussian-nb", "random", 0.1, drift=reaction, seed=0)
    rng = random.Random(5)
    for _ in range(400):
        x = {"a": rng.gauss(0, 1)}
        y = x["a"] > 0
        learner.learn(x, y, prediction=not y)  # the model was always wrong when asked
    assert learner.n_swaps >= 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"delta": 0.0},
        {"delta": "often"},
        {"delta": 1.0},
        {"boost_factor": 0.5},
        {"boost_events": -1},
        {"restart": "again"},
        {"buffer_size": -5},
        {"challenger_every": -1},
        {"challenger_min": 0},
        {"challenger_min": 600, "challenger_max": 500},
        {"challenger_z": -1.0},
    ],
)
def test_bad_reactions_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        DriftReaction(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("delta", "budget", "used"),
    [("auto", 0.1, 0.05), ("auto", 0.999, 0.05), ("auto", 1.0, 0.002), (0.01, 1.0, 0.01)],
)
def test_the_monitors_delta_follows_every_label_when_auto(
    delta: float | Literal["auto"], budget: float, used: float
) -> None:
    # Every label makes the labels a random sample: ADWIN's usual delta; a strategy's
    # choice shows a drift as a smaller rise of the error (docs/design.md, "Drift").
    learner = ActiveLearner("gaussian-nb", "random", budget, drift=DriftReaction(delta=delta))
    assert learner._monitor is not None and learner._monitor.delta == used
