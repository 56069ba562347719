"""The throughput part of BENCHMARKS.md says what its results show, no more."""

from __future__ import annotations

from typing import Any

from throughput_report import _hotpath


def _result(decisions: dict[str, Any]) -> dict[str, Any]:
    phases = {"join labels": 1.0, "total": 1.0, "cpu": 1.0}
    return {
        "events": 20_000,
        "stream": "bag-of-words",
        "model": "auto",
        "load": [0.5],
        "rounds": {name: [{}, {}, {}] for name in decisions},
        "medians_us_per_event": {name: phases for name in decisions},
        "decisions": decisions,
    }


def test_the_hot_path_table_claims_equal_decisions_only_when_they_were() -> None:
    same = {"counts": [1, 2], "sha": "a"}
    other = {"counts": [1, 2], "sha": "b"}
    alike = "\n".join(_hotpath(_result({"before": same, "after": same})))
    assert "every decision and the learned model are equal across the checkouts" in alike
    differ = "\n".join(_hotpath(_result({"before": same, "mid": same, "after": other})))
    assert "equal across the checkouts" not in differ
    assert "before and mid decide alike; mid and after differ" in differ


def test_a_hot_path_table_measured_by_the_old_script_says_what_it_overcounts() -> None:
    same = {"counts": [1, 2], "sha": "a"}
    old = "\n".join(_hotpath(_result({"before": same, "after": same})))
    assert "counts the simulated labeler twice" in old
    new = "\n".join(_hotpath(_result({"before": same, "after": same}) | {"labeler_untimed": True}))
    assert "counts the simulated labeler twice" not in new
