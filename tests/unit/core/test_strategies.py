from __future__ import annotations

import pytest

from stream_al.core.learner import ActiveLearner
from stream_al.core.strategies import (
    QUERY_RANDOM,
    QUERY_UNCERTAIN,
    SKIP_CONFIDENT,
    SKIP_NOT_SAMPLED,
    STRATEGIES,
    FixedUncertainty,
    QueryStrategy,
    RandomizedVariableUncertainty,
    Split,
    VariableUncertainty,
    make_strategy,
)
from stream_al.streams import parse_stream
from tests.unit.stubs import NoisyClassifier

BUDGETS = [0.01, 0.05, 0.1, 0.2]


def _fraction(learner: ActiveLearner, n: int = 20_000) -> float:
    x = {"f": 1.0}
    for _ in range(n):
        decision = learner.decide(x)
        if decision.queried:
            learner.learn(x, True, decision.prediction)
    return learner.n_queried / n


@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("name", list(STRATEGIES))
def test_every_strategy_spends_its_budget_within_ten_percent(name: str, budget: float) -> None:
    # Confidence uniform in [0.5, 1): every strategy wants more labels than the budget
    # allows, so the realised fraction is the budget estimator's doing.
    learner = ActiveLearner(NoisyClassifier(seed=7), name, budget, seed=3)
    assert _fraction(learner) == pytest.approx(budget, rel=0.10)


@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize(
    "name", ["random", "variable-uncertainty", "randomized-variable-uncertainty", "split"]
)
def test_adaptive_strategies_spend_the_budget_with_a_real_model_on_a_drifting_stream(
    name: str, budget: float
) -> None:
    data = list(parse_stream("synth:agrawal-drift").events(seed=0))
    learner = ActiveLearner("hoeffding-tree", name, budget, seed=0)
    for x, y in data:
        decision = learner.decide(x)
        if decision.queried:
            learner.learn(x, y, decision.prediction)
    assert learner.n_queried / len(data) == pytest.approx(budget, rel=0.10)


def test_fixed_uncertainty_stays_under_budget_when_the_model_is_sure() -> None:
    # Its known weakness, documented: a confident model is never asked.
    strategy = FixedUncertainty(threshold=0.6)
    assert strategy.ask(confidence=0.95, target=0.1) == (False, SKIP_CONFIDENT)
    assert strategy.ask(confidence=0.55, target=0.1) == (True, QUERY_UNCERTAIN)
    assert strategy.threshold == 0.6


def test_variable_uncertainty_shrinks_after_a_query_and_grows_after_a_skip() -> None:
    strategy = VariableUncertainty(threshold=0.8, step=0.1)
    assert strategy.ask(0.5, 0.1) == (True, QUERY_UNCERTAIN)
    assert strategy.threshold == pytest.approx(0.72)
    assert strategy.ask(0.9, 0.1) == (False, SKIP_CONFIDENT)
    assert strategy.threshold == pytest.approx(0.792)


def test_randomized_variable_uncertainty_without_noise_is_variable_uncertainty() -> None:
    plain = VariableUncertainty()
    noiseless = RandomizedVariableUncertainty(delta=0.0, seed=1)
    confidences = [0.5 + 0.5 * ((i * 7919) % 1000) / 1000 for i in range(2000)]
    assert [plain.ask(c, 0.1) for c in confidences] == [noiseless.ask(c, 0.1) for c in confidences]


def test_randomized_noise_lets_some_confident_events_through() -> None:
    strategy = RandomizedVariableUncertainty(threshold=0.7, step=1e-9, delta=1.0, seed=2)
    asked = sum(strategy.ask(0.95, 0.1)[0] for _ in range(1000))
    assert 0 < asked < 1000


def test_split_with_only_random_decisions_never_uses_the_threshold() -> None:
    strategy = Split(random_fraction=1.0, seed=0)
    reasons = {strategy.ask(0.51, target=0.3)[1] for _ in range(500)}
    assert reasons == {QUERY_RANDOM, SKIP_NOT_SAMPLED}
    assert strategy.threshold == 1.0


def test_split_by_default_makes_half_its_decisions_at_random() -> None:
    strategy = Split(seed=3)
    assert strategy.random_fraction == 0.5
    reasons = [strategy.ask(0.9, target=0.1)[1] for _ in range(20_000)]
    random_part = sum(r in (QUERY_RANDOM, SKIP_NOT_SAMPLED) for r in reasons)
    assert random_part == pytest.approx(10_000, rel=0.05)
    assert reasons.count(QUERY_RANDOM) == pytest.approx(0.1 * random_part, rel=0.1)


def test_split_without_random_decisions_is_variable_uncertainty() -> None:
    split, plain = Split(random_fraction=0.0, seed=0), VariableUncertainty()
    confidences = [0.5 + 0.5 * ((i * 104729) % 997) / 997 for i in range(2000)]
    assert [split.ask(c, 0.1) for c in confidences] == [plain.ask(c, 0.1) for c in confidences]


def test_random_sampling_is_blind_to_confidence() -> None:
    sure, unsure = make_strategy("random", seed=5), make_strategy("random", seed=5)
    assert [sure.ask(0.99, 0.1) for _ in range(300)] == [unsure.ask(0.5, 0.1) for _ in range(300)]


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_every_strategy_satisfies_the_protocol_and_is_deterministic_given_a_seed(
    name: str,
) -> None:
    a, b = make_strategy(name, seed=11), make_strategy(name, seed=11)
    assert isinstance(a, QueryStrategy)
    assert a.name == name
    confidences = [0.5 + 0.5 * ((i * 31) % 100) / 100 for i in range(500)]
    assert [a.ask(c, 0.2) for c in confidences] == [b.ask(c, 0.2) for c in confidences]


def test_make_strategy_names_what_exists() -> None:
    with pytest.raises(ValueError, match="choose one of: random, fixed-uncertainty"):
        make_strategy("greedy")
    with pytest.raises(ValueError, match="has no parameter colour; it accepts: threshold, step"):
        make_strategy("variable-uncertainty", colour="red")
    assert make_strategy("split", random_fraction=0.5).random_fraction == 0.5  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("fixed-uncertainty", {"threshold": 0.0}),
        ("variable-uncertainty", {"step": 1.5}),
        ("randomized-variable-uncertainty", {"delta": -1.0}),
        ("split", {"random_fraction": 2.0}),
        ("random", {"oversampling": 0.5}),
    ],
)
def test_out_of_range_parameters_are_refused(name: str, params: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        make_strategy(name, **params)
