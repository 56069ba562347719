from __future__ import annotations

import itertools
import multiprocessing
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from protocol import (
    FULL,
    FULL_DRIFT,
    N_EVENTS,
    REPORTING,
    STREAM,
    STREAMS,
    TUNED_TREE,
    TUNED_TREE_DRIFT_DELTA,
    TUNING,
    BenchStream,
    Plan,
    csv_name,
    default_learner,
    export,
    jobs_for,
    split_halves,
    write_csv,
)

# The halves as the rule dealt them when it was committed (before any run). A change here
# means results already reported would move between halves: that must not happen.
PINNED_REPORTING = {
    "hyperplane-20f-fast",
    "hyperplane-50f-slow",
    "led",
    "rbf-5c-moving-slow",
    "rbf-10c-moving",
    "sea-abrupt",
    "sine-gradual-noise",
    "stagger",
    "agrawal-abrupt",
    "agrawal-static",
    "mixed-abrupt",
    "waveform-noise",
    "randomtree-5c-deep",
    "elec2",
    "image-segments",
}


def test_the_split_is_the_one_committed_before_any_run() -> None:
    halves = split_halves(STREAMS)
    assert {n for n, h in halves.items() if h == REPORTING} == PINNED_REPORTING
    assert {n for n, h in halves.items() if h == TUNING} == {s.name for s in STREAMS} - (
        PINNED_REPORTING
    )


def test_the_split_depends_on_names_only_not_on_order() -> None:
    halves = split_halves(STREAMS)
    assert split_halves(reversed(STREAMS)) == halves
    assert split_halves(sorted(STREAMS, key=lambda s: s.about)) == halves


def test_the_halves_are_balanced_and_every_family_is_spread_over_both() -> None:
    halves = split_halves(STREAMS)
    assert len(STREAMS) >= 24
    count = Counter(halves.values())
    assert abs(count[REPORTING] - count[TUNING]) <= 1
    for family in {s.family for s in STREAMS}:
        members = [halves[s.name] for s in STREAMS if s.family == family]
        if len(members) >= 2:
            assert {REPORTING, TUNING} <= set(members), family
        per = Counter(members)
        assert abs(per[REPORTING] - per[TUNING]) <= 1, family


def test_streams_are_deterministic_per_seed_and_capped() -> None:
    for stream in STREAMS:
        if stream.path_option:
            continue
        first = list(stream.events(seed=1, n=40))
        assert first == list(stream.events(seed=1, n=40)), stream.name
        assert len(first) == 40
        other = list(stream.events(seed=2, n=40))
        assert (first == other) == stream.recorded, stream.name
    assert sum(1 for _ in STREAM["phishing"].events(seed=0)) == 1250  # shorter: whole
    assert sum(1 for _ in STREAM["sea-abrupt"].events(seed=0)) == N_EVENTS


def test_elec2_is_read_from_the_path_given(tmp_path: Path) -> None:
    path = tmp_path / "elec2.csv"
    path.write_text("period,nswprice,class\n0.0,0.05,UP\n0.02,0.06,DOWN\n")
    assert list(STREAM["elec2"].events(path=path)) == [
        ({"period": 0.0, "nswprice": 0.05}, "UP"),
        ({"period": 0.02, "nswprice": 0.06}, "DOWN"),
    ]
    with pytest.raises(ValueError, match="--elec2"):
        next(STREAM["elec2"].events())


def test_a_changed_definition_is_a_new_file_and_recorded_streams_share_one(tmp_path: Path) -> None:
    sea = STREAM["sea-abrupt"]
    assert csv_name(sea, 3) == csv_name(sea, 3) != csv_name(sea, 4)
    changed = BenchStream(sea.name, sea.family, sea.about + ", noise 20%", sea.make)
    assert csv_name(changed, 3) != csv_name(sea, 3)
    bananas = STREAM["bananas"]
    assert csv_name(bananas, 0) == csv_name(bananas, 7)
    small = [BenchStream("tiny", "t", "x", lambda seed, n: STREAM["stagger"].make(seed, n))]
    csvs = export([STREAM["phishing"], *small], 2, tmp_path)
    assert csvs["phishing", 0] == csvs["phishing", 1]
    assert csvs["tiny", 0] != csvs["tiny", 1]
    assert len(csvs["tiny", 0].read_text().splitlines()) == N_EVENTS + 1


def test_jobs_follow_the_plan(tmp_path: Path) -> None:
    plan = Plan()
    csvs = {("sea-abrupt", s): tmp_path / f"sea-s{s}.csv" for s in range(10)}
    ours = jobs_for("stream-al", csvs, plan)
    model, default = default_learner()
    active = [j for j in ours if j["strategy"] in (default, "random")]
    assert len(active) == 10 * 4 * 2 * 2  # seeds x budgets x delays x strategies
    assert {j["delay"] for j in active} == {0, 500}
    assert {j["budget"] for j in active} == {0.02, 0.05, 0.1, 0.2}
    refs = [j for j in ours if j["strategy"] in (FULL, FULL_DRIFT)]
    assert len(refs) == 40 and {j["delay"] for j in refs} == {0}
    # the default model's references and today's tuned tree's, with and without drift
    assert {(j["model"], j["strategy"]) for j in refs} == {
        (m, s) for m in (model, TUNED_TREE) for s in (FULL, FULL_DRIFT)
    }
    assert {j["model"] for j in active} == {model}
    # today's tuned tree keeps the drift reaction it had; the default's follows the code
    pinned = {(j["model"], j["strategy"]) for j in refs if "drift_delta" in j}
    assert pinned == {(TUNED_TREE, FULL_DRIFT)}
    assert {j["drift_delta"] for j in refs if "drift_delta" in j} == {TUNED_TREE_DRIFT_DELTA}
    moa = jobs_for("moa", csvs, plan)
    assert {j["seed"] for j in moa} == set(range(5)) and {j["delay"] for j in moa} == {0}
    assert {j["budget"] for j in moa} == {0.02, 0.1}
    assert {j["model"] for j in moa} == {"hoeffding-tree", "hoeffding-tree-default"}
    assert len(moa) == 5 * 2 * 2 * 5  # seeds x budgets x models x strategies
    river = jobs_for("river", csvs, plan)
    full = [j for j in river if j["strategy"] == FULL]
    assert {j["seed"] for j in full} == set(range(10)) and len(full) == 20
    sampler = [j for j in river if j["strategy"] == "EntropySampler"]
    assert {j["calibration_csv"] for j in sampler} == {str(csvs["sea-abrupt", 0])}
    assert len(jobs_for("scikit-activeml", csvs, plan)) == 5 * 2 * 2 * 4
    keys = [tuple(sorted((k, str(v)) for k, v in j.items())) for j in itertools.chain(ours, moa)]
    assert len(keys) == len(set(keys))


def _export_while_another_does(path: Path, barrier: Any) -> None:
    def events() -> Iterator[tuple[dict[str, float], int]]:
        yield {"x": 1.0}, 0
        barrier.wait(timeout=60)  # both runs have their file open now
        yield {"x": 2.0}, 1

    write_csv(events(), path)


def test_two_runs_exporting_one_stream_into_the_cache_at_once_both_finish(
    tmp_path: Path,
) -> None:
    # Two tune runs started together shared one temporary file: the second rename failed.
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    path = tmp_path / "s.csv"
    runs = [ctx.Process(target=_export_while_another_does, args=(path, barrier)) for _ in "ab"]
    for run in runs:
        run.start()
    for run in runs:
        run.join(120)
    assert [run.exitcode for run in runs] == [0, 0]
    assert path.read_text().splitlines() == ["x,target", "1.0,0", "2.0,1"]
    assert not list(tmp_path.glob("*.tmp"))
