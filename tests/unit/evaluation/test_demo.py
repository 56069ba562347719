from __future__ import annotations

import pytest

from stream_al.config import LearnerSettings
from stream_al.data.streams import parse_stream
from stream_al.evaluation.demo import run_demo
from stream_al.evaluation.prequential import prequential


@pytest.mark.parametrize("delay", [0, 1, 37])
def test_the_embedded_loop_makes_exactly_the_prequential_decisions(delay: int) -> None:
    # Events through JSON, the pending store, the label queue, the label stream and the
    # train log must change nothing about what is learned when.
    settings = LearnerSettings(model="hoeffding-tree", strategy="split", budget=0.1, seed=2)
    stream = parse_stream("synth:sea-drift", n_events=3000)
    reference = prequential(list(stream.events(2)), settings.spec().build(2), delay)
    result = run_demo(settings, stream, delay=delay)
    assert result.run.correct == reference.correct
    assert result.run.labels == reference.labels
    assert result.run.drifts == reference.drifts
    assert result.run.curve == reference.curve
    assert result.dead_letters == 0
    # Every asked item is answered unless its answer was due after the end.
    assert result.queue_left <= delay
