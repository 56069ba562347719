from __future__ import annotations

import pickle
import random

import pytest

from stream_al.config import load_settings
from stream_al.core.candidates import Candidates, ServedAt
from stream_al.core.digest import state_digest
from stream_al.core.drift import DriftReaction
from stream_al.core.models import make_model
from stream_al.core.spec import LearnerSpec
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


def _flipped(n: int, flip: int) -> list[tuple[dict[str, float], bool]]:
    """One feature; the class is ``a > 0.5`` for the first ``flip`` items, then the reverse."""
    rng = random.Random(3)
    xs = [rng.random() for _ in range(n)]
    return [({"a": a}, (a > 0.5) == (i < flip)) for i, a in enumerate(xs)]


# Challengers quick to start and to win, for short streams.
_REACTION = DriftReaction(challenger_every=10, challenger_min=20, challenger_max=200)


def _challenged(challengers: bool) -> tuple[Candidates, list[object]]:
    names = ("gaussian-nb", "hoeffding-tree")
    auto = Candidates(make_model, names, seed=0, z=50.0, challengers=challengers)
    auto.challenge(_REACTION)  # the learner's call
    members = []
    for x, y in _flipped(1_200, 400):
        auto.race(x, y, at_random=True)
        auto.members[auto.served].learn_one(x, y)
        members.append(auto.members[1])
    return auto, members


def test_a_candidate_that_does_not_serve_is_replaced_by_its_challenger() -> None:
    # The tuned tree split on the first concept; it does not serve (z = 50: the race never
    # switches), so only a challenger of its own can give it the second concept's cut.
    auto, members = _challenged(challengers=True)
    assert auto.served == 0
    assert members[399] is members[0]  # no challenger beats it on the first concept
    assert auto.members[1] is not members[0]
    probe = [({"a": a / 10}, a / 10 <= 0.5) for a in range(1, 10)]
    assert all(auto.members[1].predict_one(x) == y for x, y in probe)


def test_without_challengers_a_candidate_keeps_its_model() -> None:
    _, members = _challenged(challengers=False)
    assert all(m is members[0] for m in members)


def test_candidates_with_challengers_in_flight_resume_from_a_pickle() -> None:
    items = _flipped(900, 300)
    names = ("gaussian-nb", "hoeffding-tree")
    auto = Candidates(make_model, names, seed=0, z=50.0, challengers=True)
    auto.challenge(_REACTION)
    for x, y in items[:450]:
        auto.race(x, y, at_random=True)
    copy = pickle.loads(pickle.dumps(auto))
    for x, y in items[450:]:
        auto.race(x, y, at_random=True)
        copy.race(x, y, at_random=True)
    assert state_digest(copy) == state_digest(auto)


def test_the_learner_challenges_every_candidate_with_the_drift_reactions_settings() -> None:
    on = {"challengers": True}
    drift = DriftReaction(challenger_every=50, challenger_min=80)
    learner = LearnerSpec(model_params=on, drift=drift).build(0)
    assert learner._candidates is not None
    reaction = learner._candidates._challenge
    assert reaction is not None
    settings = (reaction.challenger_every, reaction.challenger_min, reaction.challenger_max)
    assert (*settings, reaction.challenger_z) == (50, 80, 500, 1.0)
    drift = DriftReaction(challenger_every=0)  # no challenger for the served one either
    learner = LearnerSpec(model_params=on, drift=drift).build(0)
    assert learner._candidates is not None and learner._candidates._challenge is None


def _challenged_at(budget: float) -> bool:
    learner = load_settings().learner.spec().build(0, budget=budget)
    assert learner._candidates is not None
    return learner._candidates._challenge is not None


def test_the_setting_turns_the_candidates_challengers_on(monkeypatch: pytest.MonkeyPatch) -> None:
    # auto: with every label only (budget 1), where they gained on the tuning half.
    assert [_challenged_at(b) for b in (0.1, 0.99, 1.0)] == [False, False, True]
    monkeypatch.setenv("STREAM_AL_LEARNER__SELECTION__CHALLENGERS", "true")
    assert [_challenged_at(b) for b in (0.1, 1.0)] == [True, True]
    monkeypatch.setenv("STREAM_AL_LEARNER__SELECTION__CHALLENGERS", "false")
    assert [_challenged_at(b) for b in (0.1, 1.0)] == [False, False]


def test_challengers_must_be_true_false_or_auto() -> None:
    with pytest.raises(ValueError, match="challengers must be true, false or 'auto'"):
        Candidates(make_model, ("gaussian-nb",), challengers="always")  # type: ignore[arg-type]
