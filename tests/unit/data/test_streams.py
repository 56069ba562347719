from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from river.datasets import synth

from stream_al.data.streams import RIVER_DATASETS, SYNTH_STREAMS, parse_stream, read_csv


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_numbers_become_floats_text_stays_text_and_blanks_are_missing(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "size,colour,score,label\n1,red,0.5,yes\n2.5,blue,,no\n3,7,nan,yes\n4,green,1e3,\n",
    )
    rows = read_csv(path, "label")
    assert rows == [
        ({"size": 1.0, "colour": "red", "score": 0.5}, "yes"),
        ({"size": 2.5, "colour": "blue"}, "no"),
        ({"size": 3.0, "colour": "7"}, "yes"),  # a column with text anywhere stays text
    ]  # the unlabeled row is left out; nan is a missing value


def test_csv_target_keeps_its_text(tmp_path: Path) -> None:
    path = _csv(tmp_path, "x,class\n0.1,1\n0.2,0\n")
    assert [y for _, y in parse_stream(f"csv:{path}", target="class").events()] == ["1", "0"]


def test_csv_spec_errors_say_what_to_fix(tmp_path: Path) -> None:
    path = _csv(tmp_path, "x,class\n0.1,1\n")
    with pytest.raises(ValueError, match="no such file"):
        parse_stream(f"csv:{tmp_path}/missing.csv", target="class")
    with pytest.raises(ValueError, match=r"target column 'label' is not in .*: x, class"):
        parse_stream(f"csv:{path}", target="label")
    with pytest.raises(ValueError, match="needs --target"):
        parse_stream(f"csv:{path}")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty"):
        parse_stream(f"csv:{empty}", target="x")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("elec2.csv", "not of the form"),
        ("kafka:events", "unknown stream kind"),
        ("river:Elec2", "choose one of: Phishing"),
        ("synth:sine", "choose one of: sea-drift"),
    ],
)
def test_bad_specs_are_refused(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_stream(spec)


@pytest.mark.parametrize("name", list(SYNTH_STREAMS))
def test_synthetic_streams_have_the_asked_length_and_depend_on_the_seed(name: str) -> None:
    spec = parse_stream(f"synth:{name}", n_events=3000)
    a, b = list(spec.events(seed=0)), list(spec.events(seed=0))
    assert len(a) == 3000
    assert a == b
    assert list(spec.events(seed=1)) != a
    assert len({y for _, y in a}) >= 2


def test_agrawal_drift_changes_concept_in_the_middle() -> None:
    data = list(parse_stream("synth:agrawal-drift").events(seed=0))
    assert len(data) == 20_000
    first = sum(y for _, y in data[:9000]) / 9000
    second = sum(y for _, y in data[11000:]) / 9000
    assert first > second + 0.1  # function 1 labels ~38% positive, function 4 ~20%


@pytest.mark.parametrize("name", list(SYNTH_STREAMS))
def test_long_synthetic_streams_start_without_overflow(name: str) -> None:
    # River's ConceptDriftStream overflowed math.exp for a drift 500,000 events away.
    events = parse_stream(f"synth:{name}", n_events=1_000_000).events(seed=0)
    assert len(list(itertools.islice(events, 100))) == 100


def test_agrawal_drift_draws_the_same_examples_as_rivers_concept_drift_stream() -> None:
    ours = list(parse_stream("synth:agrawal-drift").events(seed=2))
    river = synth.ConceptDriftStream(
        stream=synth.Agrawal(classification_function=1, seed=2),
        drift_stream=synth.Agrawal(classification_function=4, seed=2),
        position=10_000,
        width=1000,
        seed=2,
    )
    assert ours == list(itertools.islice(river, 20_000))


@pytest.mark.parametrize("name", list(RIVER_DATASETS))
def test_river_datasets_are_read_offline(name: str) -> None:
    data = list(parse_stream(f"river:{name}", n_events=50).events())
    assert len(data) == 50
    assert all(isinstance(x, dict) and x for x, _ in data)
