"""Concept drift: an ADWIN monitor on the errors of labeled items, a challenger model, and
what to do on drift.

The monitor is fed the 0/1 error of the prediction made *when the item was asked* (not
a fresh prediction at label time, which would already have been nudged by later labels),
in the order labels are learned. All replicas of the service learn the same train log in
the same order, so they all detect the same drifts and make the same swaps.

Only a change *up* in the error rate is a drift: ADWIN also cuts its window when the
error falls (the model is learning), and restarting the model then throws the learning
away.

On a detection the reaction is configurable:

- **budget boost**: the budget is multiplied by ``boost_factor`` for ``boost_events``
  events, so the model gets labels of the new concept sooner; the sliding-window budget
  estimate pays the extra spending back afterwards.
- **model restart**: ``"reset"`` starts a fresh model; ``"warm"`` starts a fresh model and
  re-learns the most recent labeled examples that ADWIN still holds to belong to the
  current concept (its window after the cut), up to ``buffer_size`` of them; ``"none"``
  keeps the model.

A drift on a few labels is slow to prove, and one confined to a region the model is
unsure about anyway may never show in the error of the labeled items. So, beside the
monitor, a **challenger** runs: every ``challenger_every`` labels a fresh model starts
learning the labeled items; after ``challenger_min`` labels it replaces the current model
as soon as a one-sided McNemar test on the items both predicted says it is better
(``wins - losses > z * sqrt(wins + losses)``); after ``challenger_max`` labels without a
win it is dropped. A challenger also replaces a model whose early structure (a tree's
first splits, say) was chosen on too few labels.

Examples
--------
>>> monitor = DriftMonitor(delta=0.002)
>>> errors = [0] * 500 + [1] * 100
>>> [i for i, e in enumerate(errors) if monitor.update(bool(e))][:1]
[511]

"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Challenger", "ConfidenceMonitor", "DriftMonitor", "DriftReaction", "Restart"]

Restart = Literal["none", "reset", "warm"]

# ADWIN's delta under ``delta="auto"``: labels a strategy chose, and every label (see
# DriftReaction.delta). 0.05 was chosen on issue 16's tuning half (docs/design.md, "Drift").
ASKED_DELTA = 0.05
EVERY_LABEL_DELTA = 0.002


def _adwin(delta: float) -> Any:
    """River's ADWIN, imported on first use: ``river.drift`` imports scipy (through KSWIN),
    which the settings and the command line's help need not pay for."""
    from river.drift import ADWIN

    return ADWIN(delta=delta)


@dataclass(frozen=True, slots=True)
class DriftReaction:
    """How the learner reacts to a detected drift.

    Parameters
    ----------
    enabled
        Whether the error monitor runs at all.
    delta
        ADWIN confidence parameter: smaller values detect fewer, surer changes. ``"auto"``
        (:meth:`adwin_delta`): 0.05 when a strategy chooses the labels, for the items an
        uncertainty strategy asks show a drift as a smaller rise of their error than random
        items do; ADWIN's usual 0.002 when every event is labeled, for then that reason
        is gone (design.md, "Drift").
    boost_factor
        The budget is multiplied by this factor after a detection (1.0 disables).
    boost_events
        For how many events the boost lasts.
    restart
        ``"warm"``, ``"reset"`` or ``"none"`` (see the module docstring).
    buffer_size
        How many recent labeled examples are kept for a warm restart.
    challenger_every
        Labels between the end of one challenger and the start of the next (0: none).
    challenger_min
        Labels a challenger learns before it may replace the model.
    challenger_max
        Labels after which a challenger that has not won is dropped.
    challenger_z
        How sure the McNemar test must be (standard deviations) before a swap.
    label_free
        Also watch the uncertainty of *every* event (no labels needed, see
        :class:`ConfidenceMonitor`); a detection boosts the budget before labels can
        confirm the drift. Off by default: it costs an ADWIN update per event.
    label_free_delta
        ADWIN confidence parameter of that monitor.

    """

    enabled: bool = True
    delta: float | Literal["auto"] = "auto"
    boost_factor: float = 2.0
    boost_events: int = 500
    restart: Restart = "warm"
    buffer_size: int = 200
    challenger_every: int = 100
    challenger_min: int = 200
    challenger_max: int = 500
    challenger_z: float = 1.0
    label_free: bool = False
    label_free_delta: float = 0.0002

    def __post_init__(self) -> None:
        if self.delta != "auto" and not (
            isinstance(self.delta, (int, float)) and 0.0 < self.delta < 1.0
        ):
            raise ValueError(f"drift delta must be in (0, 1) or 'auto', got {self.delta!r}")
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
        if self.challenger_every < 0:
            raise ValueError(f"challenger_every must be >= 0, got {self.challenger_every!r}")
        if not 1 <= self.challenger_min <= self.challenger_max:
            raise ValueError(
                "challenger labels need 1 <= challenger_min <= challenger_max, got "
                f"{self.challenger_min!r} and {self.challenger_max!r}"
            )
        if self.challenger_z < 0:
            raise ValueError(f"challenger_z must be >= 0, got {self.challenger_z!r}")
        if not 0.0 < self.label_free_delta < 1.0:
            raise ValueError(f"label_free_delta must be in (0, 1), got {self.label_free_delta!r}")

    def adwin_delta(self, every_label: bool) -> float:
        """ADWIN's delta for a learner that labels every event or not (``delta`` unless
        ``"auto"``).

        >>> DriftReaction().adwin_delta(False), DriftReaction().adwin_delta(True)
        (0.05, 0.002)
        >>> DriftReaction(delta=0.01).adwin_delta(True)
        0.01

        """
        if self.delta != "auto":
            return float(self.delta)
        return EVERY_LABEL_DELTA if every_label else ASKED_DELTA

    @property
    def challenges(self) -> bool:
        """Whether a challenger runs (the reaction is on and ``challenger_every`` > 0)."""
        return self.enabled and self.challenger_every > 0

    def challenger(
        self,
        new_model: Callable[[], Any],
        predict: Callable[[Any, Any], Any],
        learn: Callable[[Any, Any, Any], None],
    ) -> Challenger:
        """A challenger with these ``challenger_*`` settings (see :class:`Challenger`)."""
        return Challenger(
            new_model,
            predict,
            learn,
            every=self.challenger_every,
            min_labels=self.challenger_min,
            max_labels=self.challenger_max,
            z=self.challenger_z,
        )


class DriftMonitor:
    """ADWIN on a 0/1 error sequence; a drift is a detected rise of the error rate.

    Parameters
    ----------
    delta
        ADWIN's confidence parameter.

    """

    def __init__(self, delta: float = 0.05):
        self.delta = delta
        self._adwin = _adwin(delta)
        self.detections = 0
        self.improvements = 0

    def update(self, error: bool) -> bool:
        """Add one error indicator; True when the error rate is detected to have risen."""
        adwin = self._adwin
        before = adwin.estimation
        adwin.update(1 if error else 0)
        if not adwin.drift_detected:
            return False
        if adwin.estimation > before:
            self.detections += 1
            return True
        self.improvements += 1  # the window was cut because the model got better
        return False

    @property
    def width(self) -> int:
        """How many of the latest observations ADWIN holds to share one distribution."""
        return int(self._adwin.width)

    @property
    def error_rate(self) -> float:
        """The error rate estimated over ADWIN's current window."""
        return float(self._adwin.estimation)


class ConfidenceMonitor:
    """ADWIN on the uncertainty of every event: a drift without waiting for labels.

    When the stream moves where the model has not been, its predictions get less sure
    long before enough labels arrive to show a rise in error. A detection is a rise of
    the mean uncertainty; a fall (the model learning) is not one. The learner resets the
    monitor when it replaces its model, whose confidence differs by construction.

    Examples
    --------
    >>> monitor = ConfidenceMonitor(delta=0.002)
    >>> scores = [0.1] * 2000 + [0.4] * 300
    >>> [i for i, s in enumerate(scores) if monitor.update(s)][:1]
    [2047]

    """

    def __init__(self, delta: float = 0.0002):
        self.delta = delta
        self._adwin = _adwin(delta)
        self.detections = 0

    def update(self, uncertainty: float) -> bool:
        """Add one event's uncertainty; True when its mean is detected to have risen."""
        adwin = self._adwin
        before = adwin.estimation
        adwin.update(uncertainty)
        if adwin.drift_detected and adwin.estimation > before:
            self.detections += 1
            return True
        return False

    def reset(self) -> None:
        self._adwin = _adwin(self.delta)


class Challenger:
    """A fresh model learning in the background, swapped in when it proves better.

    The learner calls :meth:`observe` for every labeled example, before the current model
    learns it, with whether the current model's prediction for it was right.

    Parameters
    ----------
    new_model
        Makes a fresh model.
    predict
        ``predict(model, x)``: a model's prediction.
    learn
        ``learn(model, x, y)``: teach a model one example.
    every, min_labels, max_labels, z
        See :class:`DriftReaction` (``challenger_*``).

    """

    def __init__(
        self,
        new_model: Callable[[], Any],
        predict: Callable[[Any, Any], Any],
        learn: Callable[[Any, Any, Any], None],
        every: int = 100,
        min_labels: int = 100,
        max_labels: int = 500,
        z: float = 1.0,
    ):
        self._new_model = new_model
        self._predict = predict
        self._learn = learn
        self.every = every
        self.min_labels = min_labels
        self.max_labels = max_labels
        self.z = z
        self.swaps = 0
        self._model: Any = None
        self._since = 0
        self._n = 0
        self._wins = 0
        self._losses = 0

    @property
    def active(self) -> bool:
        return self._model is not None

    def observe(self, x: Any, y: Any, incumbent_correct: bool) -> Any:
        """Teach the challenger ``(x, y)``; returns it when it should replace the model.

        The returned model has already learned ``(x, y)``.
        """
        self._since += 1
        if self._model is None:
            if self._since < self.every:
                return None
            self._model = self._new_model()
            self._n = self._wins = self._losses = 0
        model = self._model
        correct = self._predict(model, x) == y
        if correct and not incumbent_correct:
            self._wins += 1
        elif incumbent_correct and not correct:
            self._losses += 1
        self._learn(model, x, y)
        self._n += 1
        lead = self._wins - self._losses
        if (
            self._n >= self.min_labels
            and lead > 0
            and lead > self.z * math.sqrt(self._wins + self._losses)
        ):
            self.swaps += 1
            self._stop()
            return model
        if self._n >= self.max_labels:
            self._stop()
        return None

    def drop(self) -> None:
        """Give up the challenger in progress (the model it challenged was replaced)."""
        if self._model is not None:
            self._stop()

    def _stop(self) -> None:
        self._model = None
        self._since = 0

    def state(self) -> tuple[Any, ...]:
        """Everything but the callables: what the labeled items alone determine."""
        return (self._model, self._since, self._n, self._wins, self._losses, self.swaps)
