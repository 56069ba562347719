"""Issue 16's strategies from the literature: the bandit (ALBL), the balanced incremental
quantile filter, OPAL's probabilistic gain and awareness of pending questions."""

from __future__ import annotations

import random
from collections import deque

import pytest

from stream_al.core.learner import ActiveLearner
from stream_al.core.opal import ProbabilisticGain, expected_gain
from stream_al.core.pending import LateLabels, PendingQuestions
from stream_al.core.strategies import QuantileFilter, StrategyBandit
from stream_al.data.streams import parse_stream


def _run_late(learner: ActiveLearner, data: list, delay: int) -> list[tuple]:
    """Decide every event; the labels of asked events come back ``delay`` events later."""
    waiting: deque = deque()
    trace = []
    for i, (x, y) in enumerate(data):
        while waiting and waiting[0][0] <= i:
            _, wx, wy, prediction = waiting.popleft()
            learner.learn(wx, wy, prediction)
        d = learner.decide(x)
        if d.queried:
            waiting.append((i + delay, x, y, d.prediction))
        trace.append((d.prediction, d.queried, d.reason, d.threshold, d.score))
    return trace


# -- the bandit ----------------------------------------------------------------------------


def test_the_bandit_keeps_random_sampling_at_its_floor_however_well_the_others_do() -> None:
    rng = random.Random(1)
    bandit = StrategyBandit(floor=0.1, seed=0)
    for _ in range(20_000):
        confidence = rng.random()
        asked, _ = bandit.ask(confidence, target=0.1)
        if asked:  # variable uncertainty finds every mistake, random none of the others
            bandit.answered(bandit.question(), correct=confidence >= 0.5)
    shares = dict(zip(bandit.arms, bandit.shares, strict=True))
    assert shares["random"] == pytest.approx(0.1, abs=0.02)  # pushed down, to its floor
    assert shares["random"] >= 0.1 - 1e-12
    assert sum(shares.values()) == pytest.approx(1.0)


def test_the_bandit_follows_random_sampling_when_uncertainty_finds_no_mistakes() -> None:
    rng = random.Random(2)
    bandit = StrategyBandit(seed=0)
    for _ in range(20_000):
        confidence = rng.random()
        asked, _ = bandit.ask(confidence, target=0.1)
        if asked:  # the model is sure and wrong: the mistakes are where it is confident
            bandit.answered(bandit.question(), correct=confidence < 0.9)
    shares = dict(zip(bandit.arms, bandit.shares, strict=True))
    assert shares["random"] > 0.5


def test_the_bandit_refuses_arms_it_cannot_mix() -> None:
    with pytest.raises(ValueError, match="two or more"):
        StrategyBandit(arms=("random",))
    with pytest.raises(ValueError, match="floor"):
        StrategyBandit(floor=0.6)


# -- the balanced incremental quantile filter --------------------------------------------


@pytest.mark.parametrize("budget", [0.02, 0.1])
def test_the_quantile_filter_spends_its_budget_on_a_learner(budget: float) -> None:
    data = list(parse_stream("synth:agrawal-drift", n_events=6000).events(seed=3))
    learner = ActiveLearner("hoeffding-tree", "quantile-filter", budget, seed=0)
    _run_late(learner, data, delay=0)
    assert 0.95 <= learner.n_queried / len(data) / budget <= 1.03


def test_the_quantile_filter_asks_more_after_a_deficit_with_tied_scores() -> None:
    # Every score the same (a one-leaf tree): a plain quantile would ask all or nothing.
    biqf = QuantileFilter(window=50)
    asked = 0
    for _ in range(2_000):
        biqf.observe(0.7)
        asked += biqf.ask(0.7, target=0.05)[0]
    assert asked / 2_000 == pytest.approx(0.05, abs=0.01)


# -- OPAL ----------------------------------------------------------------------------------


def test_opal_gain_is_largest_where_there_are_no_labels() -> None:
    assert expected_gain([0.0, 0.0]) > expected_gain([1.0, 1.0]) > expected_gain([6.0, 0.0])
    gain = ProbabilisticGain(bandwidth=0.5)
    rng = random.Random(0)
    for _ in range(400):  # events in two regions, equally dense ...
        for centre in (0.0, 10.0):
            x = {"a": centre + rng.gauss(0, 1), "b": rng.gauss(0, 1)}
            gain.observe(x)
    for _ in range(100):  # ... but labels in the first only
        gain.learn({"a": rng.gauss(0, 1), "b": rng.gauss(0, 1)}, "left")
    proba = {"left": 0.6, "right": 0.4}
    labeled, unlabeled = (
        gain.score({"a": 0.0, "b": 0.0}, proba),
        gain.score({"a": 10.0, "b": 0.0}, proba),
    )
    assert unlabeled > 2 * labeled


def test_an_opal_learner_checkpoints_and_replays_exactly() -> None:
    data = list(parse_stream("synth:agrawal-drift", n_events=4000).events(seed=4))
    original = ActiveLearner("hoeffding-tree", "quantile-filter", 0.1, seed=9, uncertainty="opal")
    _run_late(original, data[:2000], delay=0)
    restored = ActiveLearner.restore(original.snapshot())
    assert restored.model_digest() == original.model_digest()
    assert _run_late(restored, data[2000:], 0) == _run_late(original, data[2000:], 0)
    assert restored.model_digest() == original.model_digest()


# -- pending questions ---------------------------------------------------------------------


def test_a_pending_question_lowers_the_score_of_its_near_copies_only() -> None:
    pending = PendingQuestions(bandwidth=0.3)
    rng = random.Random(0)
    for step in range(30):
        pending.add({"a": rng.gauss(0, 1), "b": rng.gauss(0, 1)}, step)
    pending.add({"a": 0.5, "b": 0.5}, 30)
    near = pending.discount({"a": 0.5, "b": 0.51}, 1.0)
    far = pending.discount({"a": 8.0, "b": -8.0}, 1.0)
    assert near < 0.6 and far > 0.99
    pending.pop({"a": 0.5, "b": 0.5})  # answered: its near-copies count in full again
    assert pending.discount({"a": 0.5, "b": 0.51}, 1.0) > near


def test_pending_questions_are_forgotten_after_the_horizon() -> None:
    pending = PendingQuestions(bandwidth=0.3, horizon=10)
    pending.add({"a": 1.0}, step=0)
    pending.add({"a": 2.0}, step=11)
    assert len(pending) == 1 and pending.pop({"a": 1.0}) is None


def test_an_aware_learner_asks_fewer_near_copies_of_unanswered_questions() -> None:
    data = list(parse_stream("synth:hyperplane", n_events=3000).events(seed=5))
    asked = {}
    for aware in (False, True):
        learner = ActiveLearner(
            "logistic-regression",
            "variable-uncertainty",
            0.1,
            seed=0,
            late_labels=LateLabels(aware=aware),
        )
        _run_late(learner, data[:1000], delay=0)
        # Fresh events and near-copies of one item alternate; no label comes back.
        n = 0
        for i, (x, _) in enumerate(data[1000:2000]):
            copy = {k: v + 1e-3 * (i % 7) for k, v in data[999][0].items()}
            learner.decide(x)
            n += learner.decide(copy).queried
        asked[aware] = n
    assert asked[True] < asked[False] / 2


def test_an_aware_bandit_learner_with_late_labels_checkpoints_and_replays_exactly() -> None:
    data = list(parse_stream("synth:agrawal-drift", n_events=4000).events(seed=4))
    original = ActiveLearner(
        "hoeffding-tree", "bandit", 0.1, seed=9, late_labels=LateLabels(aware=True)
    )
    _run_late(original, data[:2000], delay=100)
    assert (
        original._flight is not None and len(original._flight.pending) > 0
    )  # questions in flight at the snapshot
    restored = ActiveLearner.restore(original.snapshot())
    assert restored.model_digest() == original.model_digest()
    assert _run_late(restored, data[2000:], 100) == _run_late(original, data[2000:], 100)
    assert restored.model_digest() == original.model_digest()
