from __future__ import annotations

import random

import pytest
from river import naive_bayes

from stream_al.core.drift import DriftMonitor, DriftReaction
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


@pytest.mark.parametrize(
    "kwargs",
    [
        {"delta": 0.0},
        {"boost_factor": 0.5},
        {"boost_events": -1},
        {"restart": "again"},
        {"buffer_size": -5},
    ],
)
def test_bad_reactions_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        DriftReaction(**kwargs)  # type: ignore[arg-type]
