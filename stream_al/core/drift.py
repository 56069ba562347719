"""Concept drift: an ADWIN monitor on the errors of labeled items, and what to do on drift.

The monitor is fed the 0/1 error of the prediction made *when the item was asked* (not
a fresh prediction at label time, which would already have been nudged by later labels),
in the order labels are learned. All replicas of the service learn the same train log in
the same order, so they all detect the same drifts.

On a detection the reaction is configurable:

- **budget boost**: the budget is multiplied by ``boost_factor`` for ``boost_events``
  events, so the model gets labels of the new concept sooner; the sliding-window budget
  estimate pays the extra spending back afterwards.
- **model restart**: ``"reset"`` starts a fresh model; ``"warm"`` starts a fresh model and
  re-learns the most recent labeled examples that ADWIN still holds to belong to the
  current concept (its window after the cut), up to ``buffer_size`` of them; ``"none"``
  keeps the model.

Examples
--------
>>> monitor = DriftMonitor(delta=0.002)
>>> errors = [0] * 500 + [1] * 100
>>> [i for i, e in enumerate(errors) if monitor.update(bool(e))][:1]
[511]

"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from river import drift

__all__ = ["DriftMonitor", "DriftReaction", "Restart"]

Restart = Literal["none", "reset", "warm"]


@dataclass(frozen=True, slots=True)
class DriftReaction:
    """How the learner reacts to a detected drift.

    Parameters
    ----------
    enabled
        Whether the error monitor runs at all.
    delta
        ADWIN confidence parameter: smaller values detect fewer, surer changes.
    boost_factor
        The budget is multiplied by this factor after a detection (1.0 disables).
    boost_events
        For how many events the boost lasts.
    restart
        ``"warm"``, ``"reset"`` or ``"none"`` (see the module docstring).
    buffer_size
        How many recent labeled examples are kept for a warm restart.

    """

    enabled: bool = True
    delta: float = 0.002
    boost_factor: float = 2.0
    boost_events: int = 500
    restart: Restart = "warm"
    buffer_size: int = 500

    def __post_init__(self) -> None:
        if not 0.0 < self.delta < 1.0:
            raise ValueError(f"drift delta must be in (0, 1), got {self.delta!r}")
        if self.boost_factor < 1.0:
            raise ValueError(f"drift boost factor must be >= 1, got {self.boost_factor!r}")
        if self.boost_events < 0:
            raise ValueError(f"drift boost events must be >= 0, got {self.boost_events!r}")
        if self.restart not in ("none", "reset", "warm"):
            raise ValueError(
                f"drift restart must be 'none', 'reset' or 'warm', got {self.restart!r}"
            )
        if self.buffer_size < 0:
            raise ValueError(f"drift buffer size must be >= 0, got {self.buffer_size!r}")


class DriftMonitor:
    """ADWIN on a 0/1 error sequence.

    Parameters
    ----------
    delta
        ADWIN's confidence parameter.

    """

    def __init__(self, delta: float = 0.002):
        self.delta = delta
        self._adwin = drift.ADWIN(delta=delta)
        self.detections = 0

    def update(self, error: bool) -> bool:
        """Add one error indicator; True when a drift is detected at this point."""
        adwin = self._adwin
        adwin.update(1 if error else 0)
        if adwin.drift_detected:
            self.detections += 1
            return True
        return False

    @property
    def width(self) -> int:
        """How many of the latest observations ADWIN holds to share one distribution."""
        return int(self._adwin.width)

    @property
    def error_rate(self) -> float:
        """The error rate estimated over ADWIN's current window."""
        return float(self._adwin.estimation)
