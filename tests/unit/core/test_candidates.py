from __future__ import annotations

import pickle

import pytest

from stream_al.config import load_settings
from stream_al.core.candidates import Candidates, ServedAt
from stream_al.core.models import make_model
from stream_al.data.streams import parse_stream


def _race(served_at: ServedAt) -> Candidates:
    """Two candidates of one kind (they predict alike), the served one reported wrong at
    every question: a stale prediction, as a label that comes late brings back."""
    auto = Candidates(make_model, ("gaussian-nb",) * 2, seed=0, z=1.0, served_at=served_at)
    for x, y in parse_stream("synth:agrawal-drift", n_events=600).events(seed=1):
        auto.race(x, y, at_random=True, served_correct=False)
        auto.members[auto.served].learn_one(x, y)
    return auto


def test_judged_at_the_question_a_stale_served_model_loses_to_its_twin() -> None:
    assert _race("question").served == 1


def test_judged_at_the_label_the_served_model_ties_with_its_twin() -> None:
    auto = _race("label")
    assert auto.served == 0 and auto.selection.switches == 0


def test_served_at_must_be_question_or_label() -> None:
    with pytest.raises(ValueError, match="'question' or 'label'"):
        Candidates(make_model, ("gaussian-nb",), served_at="asked")  # type: ignore[arg-type]


def test_a_snapshot_made_before_served_at_existed_judges_at_the_question() -> None:
    auto = Candidates(make_model, ("gaussian-nb",), seed=0)
    del auto.__dict__["served_at"]  # as pickled by a version without the option
    assert pickle.loads(pickle.dumps(auto)).served_at == "question"


def test_the_setting_reaches_the_race(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAM_AL_LEARNER__SELECTION__SERVED_AT", "label")
    learner = load_settings().learner.spec().build(0)
    assert learner._candidates is not None and learner._candidates.served_at == "label"
    monkeypatch.setenv("STREAM_AL_LEARNER__SELECTION__SERVED_AT", "later")
    with pytest.raises(ValueError, match="STREAM_AL_LEARNER__SELECTION__SERVED_AT"):
        load_settings()
