from __future__ import annotations

import itertools
import math

import pytest
from analysis import (
    Bound,
    aggregate,
    chance_below,
    fraction_to_match,
    interpolate,
    median_bounds,
    savings_ratio,
    wilcoxon,
)


def _line(strategy: str, budget: float, seed: int, acc: float, lf: float, **kw: object) -> dict:
    return {
        "stream": "s",
        "system": "stream-al",
        "model": "m",
        "strategy": strategy,
        "budget": budget,
        "seed": seed,
        "accuracy": acc,
        "label_fraction": lf,
        "us_per_event": 10.0,
        **kw,
    }


def test_aggregate_keeps_delays_apart_leaves_failures_out_and_spots_one_run() -> None:
    lines = [_line("split", 0.1, s, 0.7 + s / 100, 0.1) for s in range(3)]
    lines += [_line("split", 0.1, s, 0.6, 0.1, delay=500) for s in range(3)]
    lines.append({**_line("split", 0.1, 3, 0.0, 0.0), "error": "boom"})
    fast, late = aggregate(lines)
    assert (fast.delay, late.delay) == (0, 500)
    assert fast.seeds == 3 and fast.accuracy == pytest.approx(0.71)
    assert not fast.one_run and fast.half_ci95 > 0
    assert late.one_run  # every seed the same: one run, not an interval


def test_interpolation_is_linear_in_the_log_of_the_fraction_and_barely_extrapolates() -> None:
    curve = [(0.02, 0.60), (0.2, 0.80)]
    assert interpolate(curve, math.sqrt(0.02 * 0.2)) == pytest.approx(0.70)
    assert interpolate(curve, 0.021) == pytest.approx(0.60 + 0.2 * math.log(1.05) / math.log(10))
    assert interpolate(curve, 0.21) == pytest.approx(0.80)  # within 10% of the last point
    assert interpolate(curve, 0.019) == pytest.approx(0.60)
    assert interpolate(curve, 0.23) is None
    assert interpolate(curve, 0.017) is None
    assert interpolate([], 0.1) is None


def test_the_fraction_to_match_is_interpolated_on_the_log_scale() -> None:
    curve = [(0.02, 0.60), (0.05, 0.66), (0.1, 0.70), (0.2, 0.72)]
    found = fraction_to_match(curve, 0.68)  # halfway from 0.05 to 0.1 in accuracy
    assert found.kind == "exact"
    assert found.value == pytest.approx(math.sqrt(0.05 * 0.1))
    assert fraction_to_match(curve, 0.55) == Bound(0.02, "at_most")
    assert fraction_to_match(curve, 0.75) == Bound(0.2, "at_least")
    # Not monotone: the first crossing counts (the fewest labels that reach it).
    assert fraction_to_match([(0.02, 0.6), (0.05, 0.7), (0.1, 0.65), (0.2, 0.8)], 0.69).value < 0.05


def test_the_savings_ratio_is_labels_needed_over_randoms_labels() -> None:
    ours = [(0.021, 0.70), (0.052, 0.75), (0.104, 0.78), (0.206, 0.80)]
    # Random reaches 0.75 with 10% of the labels: we need 5.2%, a ratio of 0.52.
    assert savings_ratio(ours, (0.10, 0.75)).value == pytest.approx(0.52)
    # Random reaches 0.765 at 20%: we need sqrt(0.052 * 0.104) (halfway, log scale).
    ratio = savings_ratio(ours, (0.20, 0.765))
    assert ratio.value == pytest.approx(math.sqrt(0.052 * 0.104) / 0.20)
    assert savings_ratio(ours, (0.02, 0.65)) == Bound(pytest.approx(1.05), "at_most")
    assert savings_ratio(ours, (0.2, 0.9)) == Bound(pytest.approx(1.03), "at_least")
    with pytest.raises(ValueError):
        savings_ratio(ours, (0.0, 0.5))


def test_the_median_of_bounds_is_an_interval_unless_they_stay_off_the_middle() -> None:
    exact = [Bound(0.5), Bound(0.8), Bound(0.9)]
    assert median_bounds(exact) == (0.8, 0.8)
    assert median_bounds([*exact[:2], Bound(2.0, "at_least")]) == (0.8, 0.8)
    assert median_bounds([Bound(0.5, "at_most"), Bound(0.8), Bound(0.9)]) == (0.8, 0.8)
    low, high = median_bounds([Bound(0.5), Bound(1.1, "at_least"), Bound(1.2, "at_least")])
    assert (low, high) == (1.1, math.inf)
    assert median_bounds([Bound(0.4, "at_most"), Bound(0.6, "at_most"), Bound(0.9)]) == (0.0, 0.6)


def _exact_two_sided(d: list[float]) -> float:
    """Wilcoxon's exact p by enumerating every sign pattern (no ties, no zeros)."""
    ranks = {abs(x): r for r, x in enumerate(sorted(d, key=abs), 1)}
    w_plus = sum(ranks[abs(x)] for x in d if x > 0)
    total = len(d) * (len(d) + 1) / 2
    low = min(w_plus, total - w_plus)
    count = sum(
        1
        for signs in itertools.product((0, 1), repeat=len(d))
        if sum(r for r, s in zip(range(1, len(d) + 1), signs, strict=True) if s) <= low
    )
    return min(1.0, 2 * count / 2 ** len(d))


def test_wilcoxon_on_known_data() -> None:
    assert wilcoxon([0.01] * 5).p == pytest.approx(2 / 32)
    result = wilcoxon([0.01 * k for k in range(1, 11)])
    assert result.p == pytest.approx(2 / 1024)
    assert (result.n, result.wins, result.losses) == (10, 10, 0)
    assert result.mean == pytest.approx(0.055)
    d = [0.3, -0.1, 0.5, 0.8, -0.45, 1.1, 0.2, 0.65, -0.9, 1.3]
    assert wilcoxon(d).p == pytest.approx(_exact_two_sided(d))
    assert wilcoxon([-x for x in d]).p == pytest.approx(wilcoxon(d).p)  # symmetric


@pytest.mark.parametrize(("pairs", "alpha"), [(6, 0.05), (8, 0.05), (10, 0.05), (10, 0.01)])
def test_chance_below_is_the_share_of_sign_patterns_wilcoxon_calls_significantly_below(
    pairs: int, alpha: float
) -> None:
    # Every way the ranks 1..pairs can fall negative or positive, each as likely: the share
    # the test itself calls significant with the first side below.
    alarms = 0
    for signs in itertools.product((-1, 1), repeat=pairs):
        t = wilcoxon([s * r for s, r in zip(signs, range(1, pairs + 1), strict=True)])
        alarms += t.p < alpha and t.mean < 0
    assert chance_below(pairs, alpha) == pytest.approx(alarms / 2**pairs)
    assert 0 < chance_below(pairs, alpha) < alpha / 2


def test_wilcoxon_drops_zero_differences_and_says_p_1_when_nothing_differs() -> None:
    with_zeros = wilcoxon([0.0, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    assert with_zeros.p == pytest.approx(2 / 32) and with_zeros.n == 7
    nothing = wilcoxon([0.0] * 6)
    assert (nothing.p, nothing.wins, nothing.losses) == (1.0, 0, 0)
    with pytest.raises(ValueError):
        wilcoxon([])
