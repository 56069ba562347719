from __future__ import annotations

import pytest

from stream_al.core.budget import EstimatedBudget, validate_budget


def _always_ask(budget: EstimatedBudget, costs: list[float]) -> tuple[int, float]:
    labels, spent = 0, 0.0
    for cost in costs:
        ask = budget.allows(cost)
        budget.record(ask, cost)
        labels += ask
        spent += cost if ask else 0.0
    return labels, spent


@pytest.mark.parametrize("b", [0.01, 0.05, 0.1, 0.2, 1.0])
def test_a_greedy_asker_gets_a_cold_start_then_exactly_the_budget(b: float) -> None:
    budget = EstimatedBudget(b, window=1000)
    cold = round(b * 1000)
    start, _ = _always_ask(budget, [1.0] * cold)
    assert start == cold  # the first B*w events are all asked
    _always_ask(budget, [1.0] * 5000)  # settle
    steady, _ = _always_ask(budget, [1.0] * 20_000)
    assert steady / 20_000 == pytest.approx(b, rel=0.02)


@pytest.mark.parametrize("b", [0.01, 0.05, 0.1, 0.2])
def test_over_a_20000_event_stream_the_cold_start_costs_about_five_percent(b: float) -> None:
    labels, _ = _always_ask(EstimatedBudget(b, window=1000), [1.0] * 20_000)
    assert b <= labels / 20_000 <= b * 1.07


def test_cost_unit_spends_a_fraction_of_the_total_cost_not_of_the_events() -> None:
    costs = [1.0, 9.0] * 20_000  # mean cost 5
    labels, spent = _always_ask(EstimatedBudget(0.1, window=1000, unit="cost"), costs)
    assert spent / sum(costs) == pytest.approx(0.1, rel=0.05)
    # The cheap events fit into the allowance far more often than the dear ones.
    assert labels / len(costs) > 0.1


def test_event_unit_ignores_cost() -> None:
    costs = [1.0, 9.0] * 20_000
    labels, _ = _always_ask(EstimatedBudget(0.1, window=1000, unit="events"), costs)
    assert labels / len(costs) == pytest.approx(0.1, rel=0.05)


def test_boost_raises_the_target_for_a_number_of_events_then_ends() -> None:
    budget = EstimatedBudget(0.1, window=100)
    _always_ask(budget, [1.0] * 1000)
    budget.boost(factor=3.0, events=200)
    assert budget.target == pytest.approx(0.3)
    labels, _ = _always_ask(budget, [1.0] * 200)
    assert labels > 0.2 * 200  # spending rises towards the boosted target
    assert budget.target == pytest.approx(0.1)
    assert budget.boost_remaining == 0


def test_spent_estimates_the_recent_label_fraction() -> None:
    budget = EstimatedBudget(0.2, window=500)
    _always_ask(budget, [1.0] * 5000)
    assert budget.spent == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.01, float("nan")])
def test_budget_outside_zero_one_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        validate_budget(bad)
    with pytest.raises(ValueError):
        EstimatedBudget(bad)


def test_bad_window_unit_and_boost_are_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        EstimatedBudget(0.1, window=0)
    with pytest.raises(ValueError, match="unit"):
        EstimatedBudget(0.1, unit="dollars")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="boost"):
        EstimatedBudget(0.1).boost(0.5, 10)
