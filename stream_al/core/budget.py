"""Label budget: how much of the stream may be labeled, estimated over a sliding window.

The estimator is the one of Zliobaite, Bifet, Pfahringer and Holmes (2014): the labelling
spending is tracked as ``u_t = u_{t-1} (w - 1) / w + labeled_t``, which forgets old
spending, so a burst of queries (after a drift, say) is paid back by a quiet spell and
the fraction over the whole stream stays at B. A query is allowed while ``u_t / w < B``.

Two properties differ from the paper, on purpose:

- **No free cold start.** The paper starts from ``u_0 = 0``, so the first ``B w`` events
  are all asked (100 with B = 0.1 and w = 1000) and never paid back: +5% labels on a
  20,000-event stream, +45% on 2,000 events. Here the estimate starts as if the window
  before the first event had been spent at exactly B (``u_0 = B w``), so the spending is
  B from the first event and the total over any stream is ``B n`` within a label or two
  (plus whatever a drift boost at the very end has not paid back yet). See
  docs/design.md, "Budget".
- **Boosts are repaid.** A drift boost raises the target for a while; the window
  estimate alone forgets that spending instead of repaying it (each boost of a factor 2
  for 500 events left about +17 labels at B = 0.1, and a stream with several drifts
  ended 11% over its budget). So outside a boost a query is also refused while the
  labels of the whole stream so far exceed B times its events: the quiet spell after a
  boost lasts until the boost is paid back.
- **Centred spending.** A label is allowed when the spending *plus half of this label* is
  within the budget. The paper's strict ``u_t / w < B`` overshoots by half a label per
  window on average (+5% at B = 0.01 and w = 1000); counting half centres it on B.

In cost units each event carries a labelling cost (the event's ``cost`` field, default 1):
spending adds the cost of each labeled event and the allowance is ``B w`` times the mean
cost per event (estimated over the same window), so B is the fraction of the stream's
total labelling cost.

References
----------
Zliobaite, I., Bifet, A., Pfahringer, B., Holmes, G. (2014). Active Learning With
Drifting Streaming Data. IEEE Transactions on Neural Networks and Learning Systems 25(1).

"""

from __future__ import annotations

from typing import Literal

__all__ = ["BudgetUnit", "EstimatedBudget", "every_label", "validate_budget"]

BudgetUnit = Literal["events", "cost"]


def validate_budget(budget: float) -> float:
    """Return ``budget`` as a float if it lies in (0, 1], else raise ``ValueError``."""
    b = float(budget)
    if not 0.0 < b <= 1.0:
        raise ValueError(f"budget must be in (0, 1], got {budget!r}")
    return b


def every_label(budget: float) -> bool:
    """Whether ``budget`` labels every event: its labels are then a random sample, which
    the ``auto`` drift delta and candidate challengers follow (docs/design.md, "Drift").

    >>> every_label(1.0), every_label(0.999)
    (True, False)

    """
    return budget >= 1.0


class EstimatedBudget:
    """Sliding-window budget estimate (Zliobaite et al. 2014), in events or in label cost.

    Parameters
    ----------
    budget
        B, the fraction of events (or of label cost) that may be labeled, in (0, 1].
    window
        w, the memory of the spending estimate in events. Larger windows smooth the
        spending over longer stretches of the stream.
    unit
        ``"events"`` counts every label as 1; ``"cost"`` counts the event's cost.

    Examples
    --------
    A strategy that would ask for every label gets the budget from the first event on:

    >>> budget = EstimatedBudget(budget=0.1, window=100)
    >>> asked = []
    >>> for _ in range(3_000):
    ...     ask = budget.allows()
    ...     asked.append(ask)
    ...     budget.record(labeled=ask)
    >>> sum(asked[:100]), sum(asked) / 3000
    (10, 0.1)

    A boost raises the target for a number of events, e.g. after a drift:

    >>> budget.boost(factor=2.0, events=50)
    >>> budget.target
    0.2

    """

    __slots__ = (
        "_boost_factor",
        "_boost_left",
        "_by_cost",
        "_cost_seen",
        "_decay",
        "_events_seen",
        "_prior",
        "_spent",
        "_target",
        "_total",
        "_used",
        "budget",
        "unit",
        "window",
    )

    def __init__(self, budget: float = 0.1, window: int = 1000, unit: BudgetUnit = "events"):
        self.budget = validate_budget(budget)
        if int(window) < 1:
            raise ValueError(f"budget window must be at least 1 event, got {window!r}")
        if unit not in ("events", "cost"):
            raise ValueError(f"budget unit must be 'events' or 'cost', got {unit!r}")
        self.window = int(window)
        self.unit: BudgetUnit = unit
        self._by_cost = unit == "cost"
        self._decay = (self.window - 1) / self.window
        self._spent = 0.0
        # u_0 = B w: the window before the first event counts as spent at B and is
        # forgotten like any spending. It is kept apart from the labels really spent, in
        # units of the mean cost per event (not known yet in cost units), and less half a
        # label, so that the first event may be asked (centred spending, below).
        self._prior = max(0.0, self.budget * self.window - 0.5)
        # Decayed sums of costs and of events: their ratio is the recent mean cost.
        self._cost_seen = 0.0
        self._events_seen = 0.0
        self._boost_factor = 1.0
        self._boost_left = 0
        self._target = self.budget
        # The whole stream's label cost and event cost (events, in event units).
        self._used = 0.0
        self._total = 0.0

    def __setstate__(self, state: tuple[None, dict[str, object]]) -> None:
        slots: dict[str, object] = {"_prior": 0.0, "_used": 0.0, "_total": 0.0}  # older snapshots
        slots.update(state[1])
        for name, value in slots.items():
            setattr(self, name, value)

    @property
    def target(self) -> float:
        """The budget in force now: B, or B times the boost factor while a boost lasts."""
        return self._target

    @property
    def spent(self) -> float:
        """``u_t / w``: the estimated fraction of the recent stream spent on labels (the
        labels really asked: the start's ``u_0`` is left out)."""
        allowance = self.window * self._mean_cost(0.0, 0.0)
        # Costs so small that their decayed mean rounds to 0.0 (5e-324 halved, with a window
        # of 2): their spending rounds to 0.0 too. Dividing raised ZeroDivisionError.
        return self._spent / allowance if allowance > 0.0 else 0.0

    @property
    def boost_remaining(self) -> int:
        """Events left in the current boost (0 when none is active)."""
        return self._boost_left

    def _mean_cost(self, cost: float, events: float) -> float:
        if not self._by_cost:
            return 1.0
        decay = self._decay
        n = self._events_seen * decay + events
        return (self._cost_seen * decay + cost) / n if n > 0 else 1.0

    def allows(self, cost: float = 1.0) -> bool:
        """Whether the event about to be recorded may be labeled (see the module doc)."""
        if not self._by_cost:
            if (self._spent + self._prior) * self._decay + 0.5 > self._target * self.window:
                return False
            return self._boost_left > 0 or self._used <= self.budget * (self._total + 1.0)
        mean = self._mean_cost(cost, 1.0)
        spent = (self._spent + self._prior * mean) * self._decay
        if spent + 0.5 * cost > self._target * self.window * mean:
            return False
        return self._boost_left > 0 or self._used <= self.budget * (self._total + cost)

    def record(self, labeled: bool, cost: float = 1.0) -> None:
        """Account for one event: ``labeled`` tells whether it was queried."""
        decay = self._decay
        if self._by_cost:
            self._cost_seen = self._cost_seen * decay + cost
            self._events_seen = self._events_seen * decay + 1.0
        else:
            cost = 1.0
        self._prior *= decay
        self._spent = self._spent * decay + (cost if labeled else 0.0)
        self._total += cost
        if labeled:
            self._used += cost
        if self._boost_left > 0:
            self._boost_left -= 1
            if self._boost_left == 0:
                self._target = self.budget

    def boost(self, factor: float, events: int) -> None:
        """Multiply the budget by ``factor`` for the next ``events`` events."""
        if factor < 1.0:
            raise ValueError(f"boost factor must be >= 1, got {factor!r}")
        self._boost_factor = float(factor)
        self._boost_left = max(self._boost_left, int(events))
        if self._boost_left > 0:
            self._target = min(1.0, self.budget * self._boost_factor)

    def __repr__(self) -> str:
        return (
            f"EstimatedBudget(budget={self.budget}, window={self.window}, unit={self.unit!r}, "
            f"spent={self.spent:.4f})"
        )
