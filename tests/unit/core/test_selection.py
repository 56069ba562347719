from __future__ import annotations

import random

import pytest

from stream_al.core.selection import ModelSelection


def _race(selection: ModelSelection, accuracies: list[float], n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    for _ in range(n):
        selection.observe([rng.random() < a for a in accuracies])


def test_a_clearly_better_candidate_takes_over_and_an_equal_one_does_not() -> None:
    better = ModelSelection(3, z=2.0, memory=1000)
    _race(better, [0.7, 0.7, 0.85], 500)
    assert better.served == 2 and better.switches == 1
    equal = ModelSelection(3, z=2.0, memory=1000)
    _race(equal, [0.7, 0.7, 0.7], 5000)
    assert equal.served == 0  # hysteresis: a tie never moves the served candidate


def test_forgetting_lets_a_change_of_the_stream_change_the_verdict() -> None:
    selection = ModelSelection(2, z=2.0, memory=300)
    _race(selection, [0.6, 0.9], 600)
    assert selection.served == 1
    _race(selection, [0.9, 0.6], 600, seed=1)
    assert selection.served == 0 and selection.switches == 2


def test_weights_count_as_evidence_and_lead_is_antisymmetric() -> None:
    selection = ModelSelection(2, z=10.0)
    selection.observe([True, False], weight=3.0)
    assert selection.lead(0, 1) == pytest.approx(3.0) == -selection.lead(1, 0)
    assert selection.spread(0, 1) == pytest.approx(9.0)
    selection.reset()
    assert selection.lead(0, 1) == 0.0 and selection.served == 0


@pytest.mark.parametrize(
    "kwargs", [{"n": 0}, {"n": 2, "z": -1.0}, {"n": 2, "memory": 0}, {"n": 2, "served": 2}]
)
def test_bad_parameters_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        ModelSelection(**kwargs)
