from __future__ import annotations

import dataclasses

import pytest

from stream_al.errors import CheckpointError
from stream_al.io.checkpoints import make_checkpoint, restore_checkpoint
from tests.unit.stubs import trained_learner


def test_a_checkpoint_restores_the_same_learner() -> None:
    learner = trained_learner()
    cp = make_checkpoint(learner, "r1", "17-0", b"k", now=5.0)
    restored = restore_checkpoint(cp, b"k")
    assert restored.model_digest() == learner.model_digest()
    assert restored.n_events == learner.n_events
    assert cp.train_log_id == "17-0" and cp.created_at == 5.0


@pytest.mark.parametrize(
    "tamper",
    [
        lambda cp: dataclasses.replace(cp, data=cp.data[:-1] + bytes([cp.data[-1] ^ 1])),
        lambda cp: dataclasses.replace(cp, train_log_id="99-0"),
        lambda cp: dataclasses.replace(cp, signature="0" * 64),
    ],
)
def test_an_altered_checkpoint_is_refused_before_it_is_unpickled(tamper) -> None:  # type: ignore[no-untyped-def]
    cp = tamper(make_checkpoint(trained_learner(), "r1", "17-0", b"k", now=0.0))
    with pytest.raises(CheckpointError, match="bad signature"):
        restore_checkpoint(cp, b"k")
