"""``stream-al evaluate``: prequential evaluation against random sampling and full labels,
cold and, with ``--warm-start``, warm-started."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stream_al.cli import report
from stream_al.cli.options import learner_settings, reported_options, stream_spec
from stream_al.config import LearnerSettings, Settings
from stream_al.core.types import Example
from stream_al.data.streams import StreamSpec
from stream_al.errors import ConfigurationError, ModelFileError
from stream_al.runtime.console import Progress

if TYPE_CHECKING:
    from stream_al.data.histories import WarmStart

__all__ = ["cmd_evaluate"]


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.evaluation.prequential import evaluate

    learner = learner_settings(args, settings.learner)
    spec = stream_spec(args)
    warm = _warm_start(args) if args.warm_start else None
    if args.cost_column:
        _check_cost_column(_events_by_seed(spec)(0), args.cost_column)
    progress = Progress(enabled=not args.quiet)
    options: dict[str, Any] = {
        "seeds": args.seeds,
        "delay": args.delay,
        "clock": time.perf_counter,
        "progress": lambda msg, *_: progress.update(f"evaluate {spec.spec}: {msg}", force=True),
        "cost_key": args.cost_column,
    }
    if warm is None:
        result = evaluate(_events_by_seed(spec), learner.spec(), **options)
    else:
        result = _evaluate_warm(spec, learner, warm, settings, options)
    progress.done()
    result = {"stream": spec.spec, **result, "options": reported_options(learner)}
    report.print_evaluation(result, learner, args.seeds, args.delay)
    if warm is not None:
        report.print_warm_start(result, learner.strategy, args.seeds)
    if args.json:
        report.write_report(args.json, result)
    curves = {learner.strategy: result["curve"], "random": result["baseline_curve"]}
    curves["full labels"] = result["full_labels_curve"]
    title = f"{spec.spec}: {learner.model}, budget {learner.budget:g}"
    report.plot_curves(args.plot, curves, title)
    return 0


def _events_by_seed(spec: StreamSpec) -> Callable[[int], list[Example]]:
    """The stream's events for a seed, read once per seed (one stream in memory at a time)."""
    cache: dict[int, list[Example]] = {}

    def data(seed: int) -> list[Example]:
        key = seed if spec.depends_on_seed else 0
        if key not in cache:
            cache.clear()
            cache[key] = list(spec.events(seed))
        return cache[key]

    return data


def _check_cost_column(data: list[Example], column: str) -> None:
    for n, (x, _) in enumerate(data):
        cost = x.get(column)
        if not isinstance(cost, int | float) or isinstance(cost, bool) or not cost > 0:
            where = "has no" if cost is None else f"has cost {cost!r} in its"
            raise ConfigurationError(
                f"event {n} {where} column {column!r}; costs must be numbers > 0"
            )


def _warm_start(args: argparse.Namespace) -> WarmStart:
    from stream_al.data.histories import parse_warm_start

    try:
        return parse_warm_start(args.warm_start, args.target)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


def _evaluate_warm(
    spec: StreamSpec,
    learner: LearnerSettings,
    warm: WarmStart,
    settings: Settings,
    options: dict[str, Any],
) -> dict[str, Any]:
    from stream_al.evaluation.warm_start import evaluate_warm_start

    key = settings.checkpoint.key
    try:
        return evaluate_warm_start(
            _events_by_seed(spec),
            learner.spec(),
            warm,
            key=key.get_secret_value().encode() if key else None,
            kafka=settings.kafka,
            **options,
        )
    except (ValueError, ModelFileError) as exc:
        raise ConfigurationError(str(exc)) from None
