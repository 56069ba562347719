"""stream-al: streaming active learning. Predict every event with an online River model;
ask humans for the few labels that teach it most, within a label budget.

The library's entry point is :class:`ActiveLearner` (the service, ``stream-al serve``,
runs one on Kafka and Redis):

>>> from stream_al import ActiveLearner
>>> learner = ActiveLearner("gaussian-nb", "variable-uncertainty", budget=0.2, seed=0)
>>> decision = learner.decide({"x": 1.0})
>>> decision.queried  # the first events are asked: nothing is known yet
True
>>> _ = learner.learn({"x": 1.0}, "a", decision.prediction)
>>> learner.decide({"x": 1.1}).prediction
'a'

Attributes load on first use, so ``import stream_al`` (and ``stream-al --help``) does not
import River; ``stream_al.__version__`` is read from the installed package when asked.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stream_al.core.learner import ActiveLearner, Decision
    from stream_al.core.strategies import make_strategy

__all__ = ["ActiveLearner", "Decision", "__version__", "make_strategy"]

_LAZY = {
    "ActiveLearner": "stream_al.core.learner",
    "Decision": "stream_al.core.learner",
    "make_strategy": "stream_al.core.strategies",
}


def _version() -> str:
    """The installed distribution's version (importlib.metadata costs tens of
    milliseconds to import: read when asked for, not when stream_al is imported)."""
    from importlib import metadata

    try:
        return metadata.version("stream-al")
    except metadata.PackageNotFoundError:  # a source tree that was not installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    if name == "__version__":
        return _version()
    raise AttributeError(f"module 'stream_al' has no attribute {name!r}")
