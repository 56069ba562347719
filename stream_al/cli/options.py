"""The options several commands share: the learner's and the stream's.

The learner options are defined once, in :data:`LEARNER_OPTIONS`: each row names the
setting of :class:`~stream_al.config.LearnerSettings` a flag overrides (dotted for the
drift settings), how the flag's text is read and its help. From the table come the flags
(their defaults are the settings in force, their choices the setting's ``Literal``
values), the merge of the flags into the settings (:func:`learner_settings`) and the
options the evaluation report echoes (:func:`reported_options`).

Examples
--------
>>> import argparse
>>> from stream_al.config import LearnerSettings
>>> parser = argparse.ArgumentParser()
>>> add_learner_options(parser, LearnerSettings())
>>> args = parser.parse_args(["--budget", "0.05", "--no-drift", "--imbalance", "1"])
>>> learner = learner_settings(args, LearnerSettings())
>>> learner.budget, learner.drift.reaction().enabled, reported_options(learner)["imbalance"]
(0.05, False, 1.0)

"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ValidationError

from stream_al.cli import values
from stream_al.config import LearnerSettings
from stream_al.core.models import MODELS
from stream_al.core.strategies import STRATEGIES, StrategyParam
from stream_al.core.uncertainty import NAMES
from stream_al.data.streams import ID_RULE, StreamSpec, parse_stream
from stream_al.errors import ConfigurationError

__all__ = [
    "LEARNER_OPTIONS",
    "LearnerOption",
    "add_learner_options",
    "add_stream_options",
    "learner_settings",
    "reported_options",
    "stream_spec",
]


def _strategy_params(
    given: list[tuple[str, StrategyParam]], merged: dict[str, Any], base: LearnerSettings
) -> dict[str, StrategyParam]:
    # The configured parameters belong to the configured strategy only.
    kept = base.strategy_params if merged["strategy"] == base.strategy else {}
    return {**kept, **dict(given)}


@dataclass(frozen=True)
class LearnerOption:
    """One learner flag.

    Parameters
    ----------
    setting
        The field of ``LearnerSettings`` it overrides; ``drift.restart`` for a drift one.
    flag
        The flag, e.g. ``--budget``.
    help
        Its help; ``%(default)s`` stands for the setting in force.
    type
        Reads the flag's text (see :mod:`stream_al.cli.values`).
    metavar
        The value's name in the help.
    action
        ``store``, ``store_true``, ``store_false`` (a flag that turns a setting off) or
        ``append`` (a repeatable flag).
    report
        Whether the evaluation report's ``options`` echo it: under the setting's name if
        ``True``, under this key if a string.
    merge
        How the flag's value and the settings combine (default: the flag's value wins).

    """

    setting: str
    flag: str
    help: str
    type: Callable[[str], Any] | None = None
    metavar: str | None = None
    action: str = "store"
    report: bool | str = False
    merge: Callable[[Any, dict[str, Any], LearnerSettings], Any] | None = None

    @property
    def dest(self) -> str:
        """The attribute of the parsed arguments that holds the value."""
        return self.setting.replace(".", "_")

    @property
    def report_key(self) -> str | None:
        """The key of the value in the report's ``options`` (``None``: not echoed)."""
        if isinstance(self.report, str):
            return self.report
        return self.setting if self.report else None


LEARNER_OPTIONS: tuple[LearnerOption, ...] = (
    LearnerOption(
        "model",
        "--model",
        "model name (default %(default)s; see `stream-al models`)",
        type=values.choice(list(MODELS), "model"),
    ),
    LearnerOption(
        "strategy",
        "--strategy",
        "query strategy (default %(default)s; see `stream-al strategies`)",
        type=values.choice(list(STRATEGIES), "strategy"),
    ),
    LearnerOption(
        "budget",
        "--budget",
        "fraction of events to label, in (0, 1] (default %(default)s)",
        type=values.budget,
    ),
    LearnerOption(
        "window",
        "--window",
        "memory of the budget estimate in events (default %(default)s)",
        type=values.at_least(1),
    ),
    LearnerOption(
        "uncertainty",
        "--uncertainty",
        "uncertainty measure (default %(default)s)",
        type=values.choice(list(NAMES), "uncertainty measure"),
    ),
    LearnerOption(
        "drift.restart", "--drift-restart", "model restart on drift (default %(default)s)"
    ),
    LearnerOption(
        "drift.boost_factor",
        "--drift-boost",
        "budget multiplier after a drift (default %(default)s)",
        type=values.factor,
        metavar="FACTOR",
    ),
    LearnerOption(
        "drift.enabled", "--no-drift", "turn the drift monitor off", action="store_false"
    ),
    LearnerOption(
        "drift.label_free",
        "--label-free-drift",
        "also detect drift from every event's uncertainty, without labels",
        action="store_true",
        report="label_free_drift",
    ),
    LearnerOption(
        "strategy_params",
        "--strategy-param",
        "a strategy parameter, e.g. k=1.5, stratified=true or arms=random,split "
        "(repeatable; see `stream-al strategies`)",
        type=values.strategy_param,
        metavar="NAME=VALUE",
        action="append",
        report=True,
        merge=_strategy_params,
    ),
    LearnerOption(
        "density_beta",
        "--density",
        "weight scores by the recent stream's density^BETA (default %(default)g = off)",
        type=values.non_negative,
        metavar="BETA",
        report=True,
    ),
    LearnerOption(
        "imbalance",
        "--imbalance",
        "weight up rarely labeled predicted classes (default %(default)g = off)",
        type=values.non_negative,
        metavar="POWER",
        report=True,
    ),
    LearnerOption(
        "cost_power",
        "--cost-power",
        "rank by score / cost^P (default %(default)g = ignore cost)",
        type=values.non_negative,
        metavar="P",
        report=True,
    ),
    LearnerOption(
        "unit",
        "--unit",
        "budget counted in events or in label cost (default %(default)s)",
        report=True,
    ),
    LearnerOption(
        "stop_after",
        "--stop-after",
        "stop asking after N labels without a random-slice accuracy gain "
        "(default %(default)s = never)",
        type=values.at_least(0),
        metavar="N",
        report=True,
    ),
    LearnerOption("seed", "--seed", "seed (default %(default)s)", type=int),
)


def _get(values: dict[str, Any], setting: str) -> Any:
    for name in setting.split("."):
        values = values[name]
    return values


def _set(values: dict[str, Any], setting: str, value: Any) -> None:
    *parents, name = setting.split(".")
    for parent in parents:
        values = values[parent]
    values[name] = value


def _choices(setting: str) -> tuple[str, ...] | None:
    """The values a ``Literal`` setting allows (``None`` for other settings)."""
    model: Any = LearnerSettings
    *parents, name = setting.split(".")
    for parent in parents:
        model = model.model_fields[parent].annotation
    assert issubclass(model, BaseModel)
    annotation = model.model_fields[name].annotation
    return get_args(annotation) if get_origin(annotation) is Literal else None


def add_learner_options(parser: argparse.ArgumentParser, defaults: LearnerSettings) -> None:
    """The learner flags, in a ``learner`` group; ``defaults`` are the settings in force."""
    group = parser.add_argument_group("learner")
    current = defaults.model_dump()
    for option in LEARNER_OPTIONS:
        extra: dict[str, Any] = {}
        if option.action in ("store", "append"):
            extra = {"type": option.type, "metavar": option.metavar}
            extra["choices"] = _choices(option.setting)
        default = [] if option.action == "append" else _get(current, option.setting)
        group.add_argument(
            option.flag,
            dest=option.dest,
            action=option.action,
            default=default,
            help=option.help,
            **extra,
        )


def learner_settings(args: argparse.Namespace, base: LearnerSettings) -> LearnerSettings:
    """The settings ``base`` with the learner flags of ``args`` on top (the flags win).

    Raises
    ------
    ConfigurationError
        One line naming what is wrong (e.g. a parameter the strategy does not take).

    """
    merged = base.model_dump()
    for option in LEARNER_OPTIONS:
        value = getattr(args, option.dest)
        if option.merge is not None:
            value = option.merge(value, merged, base)
        _set(merged, option.setting, value)
    try:
        return LearnerSettings.model_validate(merged, context={"flags": True})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        raise ConfigurationError(f"{where}: {message}" if where else message) from None


def reported_options(learner: LearnerSettings) -> dict[str, Any]:
    """The learner options the evaluation report echoes (beyond model, strategy, budget)."""
    current = learner.model_dump()
    return {
        o.report_key: _get(current, o.setting) for o in LEARNER_OPTIONS if o.report_key is not None
    }


def add_stream_options(parser: argparse.ArgumentParser, default: str | None) -> None:
    """``--stream`` (required unless it has a ``default``), ``--target``, ``--n-events``."""
    group = parser.add_argument_group("stream")
    group.add_argument(
        "--stream",
        required=default is None,
        default=default,
        metavar="SPEC",
        help="csv:PATH, river:NAME (Phishing, Bananas, ImageSegments, Shuttle) or "
        "synth:NAME (sea-drift, agrawal-drift, hyperplane, rbf-drift, led-drift, "
        f"stagger); {ID_RULE}" + (f"; default {default}" if default else ""),
    )
    group.add_argument("--target", metavar="COLUMN", help="label column of a csv: stream")
    group.add_argument(
        "--n-events",
        type=values.at_least(1),
        metavar="N",
        help="use the first N events (synthetic streams: their length, default 20000)",
    )


def stream_spec(args: argparse.Namespace) -> StreamSpec:
    """The stream the stream options name (a wrong one is a :class:`ConfigurationError`)."""
    try:
        return parse_stream(args.stream, target=args.target, n_events=args.n_events)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
