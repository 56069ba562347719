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
def test_a_greedy_asker_gets_exactly_the_budget_from_the_first_event(b: float) -> None:
    budget = EstimatedBudget(b, window=1000)
    start, _ = _always_ask(budget, [1.0] * 1000)
    assert start == pytest.approx(b * 1000, abs=1)  # no free cold start
    steady, _ = _always_ask(budget, [1.0] * 20_000)
    assert steady / 20_000 == pytest.approx(b, rel=0.02)


@pytest.mark.parametrize("n", [2_000, 5_000, 20_000])
@pytest.mark.parametrize("b", [0.01, 0.02, 0.05, 0.1, 0.2])
def test_the_label_fraction_of_a_whole_stream_is_the_budget_within_a_label(
    b: float, n: int
) -> None:
    labels, _ = _always_ask(EstimatedBudget(b, window=1000), [1.0] * n)
    assert abs(labels - b * n) <= 1


def test_in_cost_units_the_first_window_is_not_free_either() -> None:
    costs = [1.0, 9.0] * 1000  # mean cost 5
    _, spent = _always_ask(EstimatedBudget(0.1, window=1000, unit="cost"), costs)
    assert spent / sum(costs) == pytest.approx(0.1, rel=0.03)


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


@pytest.mark.parametrize("b", [0.02, 0.1])
def test_drift_boosts_are_paid_back_within_the_stream(b: float) -> None:
    budget, labels = EstimatedBudget(b, window=1000), 0
    for i in range(15_000):
        if i in (3000, 3600, 7000, 11_000):
            budget.boost(2.0, 500)
        ask = budget.allows()
        budget.record(ask)
        labels += ask
    assert abs(labels - b * 15_000) <= 1


def test_a_boost_spends_more_for_a_while() -> None:
    budget = EstimatedBudget(0.1, window=1000)
    _always_ask(budget, [1.0] * 3000)
    budget.boost(2.0, 500)
    during, _ = _always_ask(budget, [1.0] * 500)
    after, _ = _always_ask(budget, [1.0] * 500)
    assert during > 60 and after < 30


def test_a_snapshot_from_before_the_stream_totals_still_loads() -> None:
    budget = EstimatedBudget(0.1)
    state = (None, {k: getattr(budget, k) for k in EstimatedBudget.__slots__})
    del state[1]["_used"], state[1]["_total"], state[1]["_prior"]
    old = EstimatedBudget.__new__(EstimatedBudget)
    old.__setstate__(state)
    assert old.allows() in (True, False) and old.spent >= 0


def test_spent_in_cost_units_is_a_number_when_the_costs_round_to_nothing() -> None:
    # A window of 2 halves the decayed cost sum at each event: the smallest cost an event
    # may carry (5e-324 is > 0) halves to 0.0, and spent raised ZeroDivisionError, which
    # serve's gauges read each second (serve stopped) and each queried event's explanation.
    budget = EstimatedBudget(0.5, window=2, unit="cost")
    for labeled in (True, False, True, False):
        budget.record(labeled, 5e-324)
        assert budget.spent == 0.0
    budget.record(True, 1.0)
    assert 0.0 < budget.spent <= 1.0
