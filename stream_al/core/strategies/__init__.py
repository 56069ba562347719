"""Query strategies: given the model's confidence on an event, ask for its label or not.

Every strategy is a :class:`~.base.QueryStrategy` (:mod:`.base`) and implements one
method, ``ask``, called only while the budget allows a query (the budget gate sits in
front of all of them, as in Zliobaite et al. 2014, so threshold adaptation pauses while
the budget is exhausted). The choices behind them are in docs/design.md, "Strategies".

============================== ============================================================
``random``                     ask with probability B: unbiased, blind to the model
``fixed-uncertainty``          ask when confidence < a fixed threshold
``variable-uncertainty``       the threshold shrinks after each query and grows after each
                               skip, so the strategy spends the budget on the least
                               confident events whatever the model's confidence level is
``randomized-variable-...``    the same with the threshold randomised by N(1, delta) noise,
                               so confident regions (where a drift may hide) still get labels
``split``                      a fraction v of the decisions random, the rest variable
                               uncertainty (:mod:`.zliobaite`: these five are Zliobaite et
                               al.'s)
``moving-average``             ask when the uncertainty is above its exponential moving
                               mean plus k standard deviations (:mod:`.moving_average`)
``quantile-filter``            ask when the uncertainty is in the top B of the recent
                               events, balanced to spend B (:mod:`.quantile_filter`)
``bandit``                     a bandit over strategies, random sampling among them, learns
                               from the answers which to follow (:mod:`.bandit`)
============================== ============================================================

Examples
--------
>>> strategy = make_strategy("variable-uncertainty", seed=0)
>>> strategy.ask(confidence=0.55, target=0.1)
(True, 'uncertain')

"""

from __future__ import annotations

import inspect
import math
from typing import Any

from stream_al.core.strategies.bandit import StrategyBandit
from stream_al.core.strategies.base import (
    QUERY_RANDOM,
    QUERY_UNCERTAIN,
    SKIP_CONFIDENT,
    SKIP_NOT_SAMPLED,
    QueryStrategy,
)
from stream_al.core.strategies.moving_average import MovingAverage
from stream_al.core.strategies.quantile_filter import QuantileFilter
from stream_al.core.strategies.zliobaite import (
    FixedUncertainty,
    RandomizedVariableUncertainty,
    RandomSampling,
    Split,
    VariableUncertainty,
)

__all__ = [
    "DROPPED",
    "QUERY_RANDOM",
    "QUERY_UNCERTAIN",
    "SKIP_CONFIDENT",
    "SKIP_NOT_SAMPLED",
    "STRATEGIES",
    "FixedUncertainty",
    "MovingAverage",
    "QuantileFilter",
    "QueryStrategy",
    "RandomSampling",
    "RandomizedVariableUncertainty",
    "Split",
    "StrategyBandit",
    "StrategyParam",
    "VariableUncertainty",
    "make_strategy",
]

# Strategies that cannot hold the budget, with why: `stream-al strategies` lists them apart
# and recommends none of them. They are still built by name, so configurations and
# checkpoints that use them keep working.
DROPPED: dict[str, str] = {
    "fixed-uncertainty": "spends at most B, not B: once the model is sure of itself it stops "
    "asking (with the leaf measure of a one-leaf tree it asked 1-2 labels in 15,000 "
    "events); variable-uncertainty is its budget-holding form",
    "moving-average": "its threshold (mean + k sd of the scores) sets the fraction, not the "
    "budget: it spent 6-10% at B = 0.1; variable-uncertainty holds B on any score",
}

STRATEGIES: dict[str, type[QueryStrategy]] = {
    cls.name: cls
    for cls in (
        RandomSampling,
        FixedUncertainty,
        VariableUncertainty,
        RandomizedVariableUncertainty,
        Split,
        MovingAverage,
        QuantileFilter,
        StrategyBandit,
    )
}


StrategyParam = bool | float | list[str]
"""A strategy parameter as settings and flags give it; :func:`make_strategy` types it by
the parameter's annotation (``1.0`` for a flag is true, ``300.0`` for a count is 300)."""


def make_strategy(name: str, seed: int | None = None, **params: Any) -> QueryStrategy:
    """Build the strategy registered under ``name``.

    ``seed`` is passed to strategies that draw random numbers; ``params`` override the
    documented defaults and are checked against the strategy's parameters.
    """
    try:
        cls = STRATEGIES[name]
    except KeyError:
        known = ", ".join(STRATEGIES)
        raise ValueError(f"unknown strategy {name!r}; choose one of: {known}") from None
    accepted = inspect.signature(cls).parameters
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(
            f"strategy {name!r} has no parameter {', '.join(unknown)}; "
            f"it accepts: {', '.join(p for p in accepted if p != 'seed') or 'nothing'}"
        )
    params = {key: _typed(name, accepted[key], value) for key, value in params.items()}
    if "seed" in accepted:
        params["seed"] = seed
    return cls(**params)


def _typed(strategy: str, param: inspect.Parameter, value: Any) -> Any:
    """``value`` as the type ``param`` is annotated with (a setting's JSON or a command
    line's number), or a ValueError naming the strategy, the parameter and what it takes.

    >>> _typed("split", inspect.signature(Split).parameters["stratified"], 1.0)
    True
    >>> _typed("bandit", inspect.signature(StrategyBandit).parameters["memory"], 300.0)
    300

    """
    kind, where = str(param.annotation), f"strategy {strategy!r} parameter {param.name}"
    # A command line's text that is no number or flag comes as a list of names.
    given = (
        ",".join(map(str, value)) if isinstance(value, list) and kind != "Sequence[str]" else value
    )
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "bool":
        if isinstance(value, bool) or (number and value in (0, 1)):
            return bool(value)
        raise ValueError(f"{where} is true or false (1 or 0), got {given!r}")
    if kind == "Sequence[str]":
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ValueError(f"{where} is a list of strategy names, got {given!r}")
    if value is None and "None" in kind:
        return None
    if not (number and math.isfinite(value)):
        raise ValueError(f"{where} is a finite number, got {given!r}")
    if kind.startswith("int"):
        if not float(value).is_integer():
            raise ValueError(f"{where} is a whole number, got {given!r}")
        return int(value)
    return float(value)
