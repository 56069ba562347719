"""``stream-al``: the command line.

Exit codes: 0 success, 2 bad usage or configuration (with a one-line message that says
what to fix), 1 a failure while running.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from stream_al.cli.console import Progress, percent, table
from stream_al.config import DriftSettings, LearnerSettings, Settings, load_settings
from stream_al.core.budget import validate_budget
from stream_al.core.models import MODELS
from stream_al.core.strategies import DROPPED, STRATEGIES
from stream_al.core.uncertainty import NAMES
from stream_al.data.streams import StreamSpec, parse_stream
from stream_al.runtime.logging import configure_logging

__all__ = ["main"]

PROG = "stream-al"


class UsageError(Exception):
    """Bad usage or configuration: exit code 2, one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line that says what to fix, instead of argparse's usage dump.
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _budget(text: str) -> float:
    try:
        return validate_budget(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"budget must be a fraction in (0, 1], e.g. 0.1 for 10% of events; got {text!r}"
        ) from None


def _factor(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {text!r}") from None
    if not value >= 1.0:
        raise argparse.ArgumentTypeError(f"must be a factor >= 1 (1 = no boost), got {text!r}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not value >= 0.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _positive(text: str) -> float:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def _strategy_param(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not sep or not name:
            raise ValueError
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected NAME=NUMBER, e.g. k=1.5, got {text!r}"
        ) from None


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _choice(registry: Sequence[str], what: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in registry:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {text!r}; choose one of: {', '.join(registry)}"
            )
        return text

    return parse


def _add_learner_options(p: argparse.ArgumentParser, defaults: LearnerSettings) -> None:
    g = p.add_argument_group("learner")
    g.add_argument(
        "--model",
        type=_choice(list(MODELS), "model"),
        default=defaults.model,
        help=f"model name (default {defaults.model}; see `stream-al models`)",
    )
    g.add_argument(
        "--strategy",
        type=_choice(list(STRATEGIES), "strategy"),
        default=defaults.strategy,
        help=f"query strategy (default {defaults.strategy}; see `stream-al strategies`)",
    )
    g.add_argument(
        "--budget",
        type=_budget,
        default=defaults.budget,
        help=f"fraction of events to label, in (0, 1] (default {defaults.budget})",
    )
    g.add_argument(
        "--window",
        type=_at_least(1),
        default=defaults.window,
        help=f"memory of the budget estimate in events (default {defaults.window})",
    )
    g.add_argument(
        "--uncertainty",
        type=_choice(list(NAMES), "uncertainty measure"),
        default=defaults.uncertainty,
        help=f"uncertainty measure (default {defaults.uncertainty})",
    )
    g.add_argument(
        "--drift-restart",
        choices=["warm", "reset", "none"],
        default=defaults.drift.restart,
        help=f"model restart on drift (default {defaults.drift.restart})",
    )
    g.add_argument(
        "--drift-boost",
        type=_factor,
        default=defaults.drift.boost_factor,
        metavar="FACTOR",
        help=f"budget multiplier after a drift (default {defaults.drift.boost_factor})",
    )
    g.add_argument("--no-drift", action="store_true", help="turn the drift monitor off")
    g.add_argument(
        "--label-free-drift",
        action="store_true",
        default=defaults.drift.label_free,
        help="also detect drift from every event's uncertainty, without labels",
    )
    g.add_argument(
        "--strategy-param",
        action="append",
        default=[],
        type=_strategy_param,
        metavar="NAME=VALUE",
        help="a strategy parameter, e.g. k=1.5 (repeatable; see `stream-al strategies`)",
    )
    g.add_argument(
        "--density",
        type=_non_negative,
        default=defaults.density_beta,
        metavar="BETA",
        help="weight scores by the recent stream's density^BETA (default "
        f"{defaults.density_beta:g} = off)",
    )
    g.add_argument(
        "--imbalance",
        type=_non_negative,
        default=defaults.imbalance,
        metavar="POWER",
        help=f"weight up rarely labeled predicted classes (default {defaults.imbalance:g} = off)",
    )
    g.add_argument(
        "--cost-power",
        type=_non_negative,
        default=defaults.cost_power,
        metavar="P",
        help=f"rank by score / cost^P (default {defaults.cost_power:g} = ignore cost)",
    )
    g.add_argument(
        "--unit",
        choices=["events", "cost"],
        default=defaults.unit,
        help=f"budget counted in events or in label cost (default {defaults.unit})",
    )
    g.add_argument(
        "--stop-after",
        type=_at_least(0),
        default=defaults.stop_after,
        metavar="N",
        help="stop asking after N labels without a random-slice accuracy gain (default 0 = never)",
    )
    g.add_argument(
        "--seed", type=int, default=defaults.seed, help=f"seed (default {defaults.seed})"
    )


def _add_stream_options(p: argparse.ArgumentParser, default: str | None) -> None:
    g = p.add_argument_group("stream")
    g.add_argument(
        "--stream",
        required=default is None,
        default=default,
        metavar="SPEC",
        help="csv:PATH, river:NAME (Phishing, Bananas, ImageSegments, Shuttle) or "
        "synth:NAME (sea-drift, agrawal-drift, hyperplane, rbf-drift, led-drift, "
        "stagger)" + (f"; default {default}" if default else ""),
    )
    g.add_argument("--target", metavar="COLUMN", help="label column of a csv: stream")
    g.add_argument(
        "--n-events",
        type=_at_least(1),
        metavar="N",
        help="use the first N events (synthetic streams: their length, default 20000)",
    )


def _learner_settings(args: argparse.Namespace, base: LearnerSettings) -> LearnerSettings:
    try:
        return _merge_learner_settings(args, base)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        raise UsageError(f"{where}: {message}" if where else message) from None


def _merge_learner_settings(args: argparse.Namespace, base: LearnerSettings) -> LearnerSettings:
    drift = DriftSettings(
        **{
            **base.drift.model_dump(),
            "enabled": base.drift.enabled and not args.no_drift,
            "label_free": args.label_free_drift,
            "restart": args.drift_restart,
            "boost_factor": args.drift_boost,
        }
    )
    return LearnerSettings(
        **{
            **base.model_dump(),
            "model": args.model,
            "strategy": args.strategy,
            "budget": args.budget,
            "window": args.window,
            "uncertainty": args.uncertainty,
            "seed": args.seed,
            "drift": drift,
            # The configured parameters belong to the configured strategy only.
            "strategy_params": {
                **(base.strategy_params if args.strategy == base.strategy else {}),
                **dict(args.strategy_param),
            },
            "density_beta": args.density,
            "imbalance": args.imbalance,
            "cost_power": args.cost_power,
            "stop_after": args.stop_after,
            "unit": args.unit,
        }
    )


def _stream(args: argparse.Namespace) -> StreamSpec:
    try:
        return parse_stream(args.stream, target=args.target, n_events=args.n_events)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _load(spec: StreamSpec) -> Callable[[int], list[Any]]:
    cache: dict[int, list[Any]] = {}

    def data(seed: int) -> list[Any]:
        key = seed if spec.depends_on_seed else 0
        if key not in cache:
            cache.clear()  # keep one stream in memory at a time
            cache[key] = list(spec.events(seed))
        return cache[key]

    return data


def _write_json(path: str, payload: dict[str, Any]) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def _plot(path: str | None, curves: dict[str, Any], title: str) -> None:
    """Write the learning curves to ``path`` (if given and matplotlib is installed)."""
    if path is None:
        return
    from stream_al.evaluation.plots import matplotlib_available, plot_learning_curves

    if not matplotlib_available():
        print(
            f"{PROG}: no plot: matplotlib is not installed (pip install 'stream-al[plot]')",
            file=sys.stderr,
        )
        return
    print(f"learning curves: {plot_learning_curves(curves, title, path)}")


# -- commands ----------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.evaluation.demo import run_demo

    learner = _learner_settings(args, settings.learner)
    spec = _stream(args)
    progress = Progress(enabled=not args.quiet)
    result = run_demo(learner, spec, delay=args.delay, progress=progress)
    strategy = learner.strategy
    print(
        f"stream-al demo: {spec.spec}, {result.run.n_events:,} events, {learner.model}, "
        f"{strategy} at budget {learner.budget:g}, labels answered after {args.delay} events"
    )
    print()
    runs = {
        f"{strategy} (this run)": result.run,
        "random, same budget": result.random,
        "full labels": result.full,
    }
    rows = [
        [name, percent(r.accuracy), f"{r.labels:,}", percent(r.label_fraction)]
        for name, r in runs.items()
    ]
    print(table(["", "accuracy", "labels", "label fraction"], rows))
    print()
    print(
        f"drifts detected: {result.run.drifts}   dead letters: {result.dead_letters}   "
        f"items still in the label queue: {result.queue_left}   "
        f"loop time: {result.run.seconds:.1f} s"
    )
    plot_path = args.plot
    if plot_path is None and not args.no_plot:
        from stream_al.evaluation.plots import matplotlib_available

        plot_path = "stream-al-demo.png" if matplotlib_available() else None
    curves = {strategy: result.run.curve, "random": result.random.curve}
    curves["full labels"] = result.full.curve
    _plot(plot_path, curves, f"stream-al demo: {spec.spec}, budget {learner.budget:g}")
    return 0


def _check_cost_column(data: list[Any], column: str) -> None:
    for n, (x, _) in enumerate(data):
        cost = x.get(column)
        if not isinstance(cost, int | float) or isinstance(cost, bool) or not cost > 0:
            where = "has no" if cost is None else f"has cost {cost!r} in its"
            raise UsageError(f"event {n} {where} column {column!r}; costs must be numbers > 0")


def _options(learner: LearnerSettings) -> dict[str, Any]:
    """The learner options beyond model, strategy and budget (for the JSON report)."""
    return {
        "strategy_params": dict(learner.strategy_params),
        "density_beta": learner.density_beta,
        "imbalance": learner.imbalance,
        "cost_power": learner.cost_power,
        "stop_after": learner.stop_after,
        "label_free_drift": learner.drift.label_free,
        "unit": learner.unit,
    }


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.evaluation.prequential import evaluate

    learner = _learner_settings(args, settings.learner)
    spec = _stream(args)
    warm = _warm_start(args) if args.warm_start else None
    if args.cost_column:
        _check_cost_column(_load(spec)(0), args.cost_column)
    progress = Progress(enabled=not args.quiet)
    options: dict[str, Any] = {
        "seeds": args.seeds,
        "delay": args.delay,
        "clock": time.perf_counter,
        "progress": lambda msg, *_: progress.update(f"evaluate {spec.spec}: {msg}", force=True),
        "cost_key": args.cost_column,
    }
    if warm is None:
        report = evaluate(_load(spec), learner.spec(), **options)
    else:
        report = _evaluate_warm(spec, learner, warm, settings, options)
    progress.done()
    report = {"stream": spec.spec, **report, "options": _options(learner)}
    lo, hi = report["accuracy_ci95"]
    blo, bhi = report["baseline"]["accuracy_ci95"]
    print(
        f"{spec.spec}: {report['n_events']:,} events, {learner.model}, budget {learner.budget:g}, "
        f"{args.seeds} seed(s), label delay {args.delay} events"
    )
    print(
        table(
            ["", "accuracy", "95% interval", "label fraction"],
            [
                [
                    learner.strategy,
                    percent(report["accuracy"], 2),
                    f"[{percent(lo, 2)}, {percent(hi, 2)}]",
                    percent(report["label_fraction"], 2),
                ],
                [
                    "random",
                    percent(report["baseline"]["accuracy"], 2),
                    f"[{percent(blo, 2)}, {percent(bhi, 2)}]",
                    percent(report["baseline"]["label_fraction"], 2),
                ],
                ["full labels", percent(report["full_labels"]["accuracy"], 2), "", "100.00%"],
            ],
        )
    )
    print(
        f"drifts detected: {report['drifts']:g} per run; {report['us_per_event']:.1f} µs per event"
    )
    if warm is not None:
        _print_warm(report, learner.strategy)
    if args.json:
        _write_json(args.json, report)
        print(f"report: {args.json}")
    curves = {learner.strategy: report["curve"], "random": report["baseline_curve"]}
    curves["full labels"] = report["full_labels_curve"]
    _plot(args.plot, curves, f"{spec.spec}: {learner.model}, budget {learner.budget:g}")
    return 0


def _warm_start(args: argparse.Namespace, kinds: Sequence[str] | None = None) -> Any:
    from stream_al.data.histories import KINDS, parse_warm_start

    try:
        return parse_warm_start(args.warm_start, args.target, kinds or KINDS)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _evaluate_warm(
    spec: StreamSpec, learner: LearnerSettings, warm: Any, settings: Settings, options: Any
) -> dict[str, Any]:
    from stream_al.errors import ModelFileError
    from stream_al.evaluation.warm_start import evaluate_warm_start

    key = settings.checkpoint.key
    try:
        return evaluate_warm_start(
            _load(spec),
            learner.spec(),
            warm,
            key=key.get_secret_value().encode() if key else None,
            kafka=settings.kafka,
            **options,
        )
    except (ValueError, ModelFileError) as exc:
        raise UsageError(str(exc)) from None


def _print_warm(report: dict[str, Any], strategy: str) -> None:
    w = report["warm_start"]
    print(f"{w['summary']}; the live stream is the {report['n_events']:,} events above")
    rows = []
    for name, cold, hot in (
        (strategy, report, w),
        ("random", report["baseline"], w["baseline"]),
        ("full labels", report["full_labels"], w["full_labels"]),
    ):
        lo, hi = hot["accuracy_ci95"]
        rows.append(
            [
                name,
                percent(cold["accuracy"], 2),
                percent(hot["accuracy"], 2),
                f"[{percent(lo, 2)}, {percent(hi, 2)}]",
                f"{(hot['accuracy'] - cold['accuracy']) * 100:+.2f} pts",
                percent(hot.get("label_fraction", 1.0), 2),
            ]
        )
    print(
        table(
            ["", "cold start", "warm start", "95% interval", "gain", "label fraction"],
            rows,
        )
    )


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    if args.which == "throughput":
        return _bench_throughput(args, settings)
    from stream_al.benchmarks.engine import bench_engine

    learner = _learner_settings(args, settings.learner)
    spec = _stream(args)
    progress = Progress(enabled=not args.quiet)
    data = list(spec.events(learner.seed))
    result = bench_engine(
        data,
        learner.spec(),
        repeats=args.repeats,
        seed=learner.seed,
        progress=lambda m: progress.update(m, force=True),
    )
    progress.done()
    result = {"benchmark": "engine", "stream": spec.spec, **result}
    print(
        f"engine: {result['engine_events_per_s']:,.0f} events/s "
        f"({result['engine_us_per_event']:.1f} µs/event); bare River loop: "
        f"{result['baseline_events_per_s']:,.0f} events/s "
        f"({result['baseline_us_per_event']:.1f} µs/event); ratio {result['ratio']:.3f}"
    )
    if args.json:
        _write_json(args.json, result)
        print(f"report: {args.json}")
    return 0


def _bench_throughput(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.benchmarks.throughput import bench_throughput, with_services

    bench_settings = with_services(settings, args.backend).model_copy(
        update={"learner": _learner_settings(args, settings.learner)}
    )
    progress = Progress(enabled=not args.quiet)
    result = bench_throughput(
        bench_settings,
        events=args.events,
        stream=args.stream,
        batch=args.batch,
        predictions=not args.no_predictions,
        progress=lambda m: progress.update(m),
    )
    progress.done()
    print(
        f"serve ({result['backend']}): {result['serve_events_per_s']:,.0f} events/s; raw loop: "
        f"{result['raw_consume_events_per_s']:,.0f} events/s; ratio {result['ratio']:.3f}; "
        f"decision latency p50 {result['decision_latency_p50_ms']:.1f} ms, p99 "
        f"{result['decision_latency_p99_ms']:.1f} ms; label to learned p99 "
        f"{result['label_to_learned_p99_ms']:.1f} ms"
    )
    if args.json:
        _write_json(args.json, result)
        print(f"report: {args.json}")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.errors import ConfigurationError
    from stream_al.service.serve import run_serve

    configure_logging(args.quiet)
    if args.replica:
        settings.service.replica_id = args.replica
    if args.warm_start:
        settings.service.warm_start = args.warm_start
    if args.target:
        settings.service.warm_start_target = args.target
    try:
        return run_serve(settings, publish_predictions=not args.no_predictions)
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None


def cmd_model(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.errors import CheckpointError, ModelFileError
    from stream_al.io.model_file import export_checkpoint, import_checkpoint
    from stream_al.io.redis import store_for

    if settings.checkpoint.key is None:
        raise UsageError(
            "STREAM_AL_CHECKPOINT__KEY is not set: model files are signed with the "
            "checkpoint key (the one serve uses)"
        )
    key = settings.checkpoint.key.get_secret_value().encode()
    replica = args.replica or settings.service.replica_id
    store = store_for(settings, replica)
    where = f"Redis prefix {settings.redis.prefix!r}"
    try:
        if args.action == "export":
            cp = export_checkpoint(store, args.out, key)
            print(
                f"exported the checkpoint of replica {cp.replica} (train log "
                f"{cp.train_log_id or 'empty'}) from {where} to {args.out}"
            )
        else:
            done = import_checkpoint(store, args.path, key, replica, force=args.force)
            replaced = f"; replaced {', '.join(done.replaced)}" if done.replaced else ""
            skipped = (
                f"; the {done.skipped_log_entries:,} train-log entries before it are not "
                "learned by it"
                if done.skipped_log_entries
                else ""
            )
            print(
                f"imported {args.path} into {where} as the checkpoint of replica "
                f"{done.replica}{replaced}{skipped}; serve starts from it"
            )
    except (ModelFileError, CheckpointError, OSError) as exc:
        raise UsageError(str(exc)) from None
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.errors import ConfigurationError
    from stream_al.labeling.run import run_worker

    configure_logging(args.quiet)
    if args.name:
        settings.worker.name = args.name
    if args.tier:
        settings.worker.tier = args.tier
    if args.stale_seconds:
        settings.worker.stale_seconds = args.stale_seconds
    try:
        return run_worker(settings, args.oracle, args.max_items, args.idle_exit)
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None


def cmd_select(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.data.pools import parse_pool
    from stream_al.errors import CheckpointError, ModelFileError
    from stream_al.io.model_file import import_model
    from stream_al.io.redis import store_for
    from stream_al.service.select import SelectOptions, current_learner, select

    try:
        parse_pool(args.pool)  # a wrong path is the first thing to hear about
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if settings.checkpoint.key is None:
        raise UsageError(
            "STREAM_AL_CHECKPOINT__KEY is not set: models and checkpoints are signed with it"
        )
    key = settings.checkpoint.key.get_secret_value().encode()
    options = SelectOptions(
        pool=args.pool,
        k=args.k,
        candidates=args.candidates,
        target=args.target,
        id_column=args.id_column,
        model=args.model,
        max_rows=args.max_rows,
        dry_run=args.dry_run,
    )
    progress = Progress(enabled=not args.quiet)
    try:
        if options.candidates is not None and options.candidates < options.k:
            raise ValueError(f"--candidates {options.candidates} is fewer than --k {options.k}")
        store = None if args.model and args.dry_run else store_for(settings, "select")
        if args.model:
            learner, origin = import_model(args.model, key), f"model file {args.model}"
        else:
            assert store is not None
            learner, origin = current_learner(store, key)
        progress.update(f"select: ranking with {learner.model_name} from {origin}", force=True)
        report = select(options, settings, store, learner, progress.update)
        progress.done()
    except (ValueError, CheckpointError, ModelFileError) as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        _write_json(args.json, report)
    verb = "picked (dry run)" if options.dry_run else "queued"
    print(
        f"{verb} {len(report['ids'])} of {report['scanned']:,} pool rows in "
        f"{report['seconds']:.1f} s; mean uncertainty {report['mean_score']:.3f} "
        f"(top-{options.k}: {report['top_uncertainty_mean_score']:.3f}); mean pairwise "
        f"distance {report['mean_pairwise_distance']:.2f} (top-{options.k}: "
        f"{report['top_uncertainty_mean_pairwise_distance']:.2f})"
        + (
            f"; {report['already_queued_or_labeled']} passed over (queued or labeled already)"
            if report["already_queued_or_labeled"]
            else ""
        )
    )
    return 0


def cmd_produce(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.data.produce import replay
    from stream_al.io.kafka import ensure_topics, producer_for

    spec = _stream(args)
    topic = args.topic or settings.kafka.events_topic
    kafka = settings.kafka.model_copy(update={"events_topic": topic})
    if args.bootstrap:
        kafka = kafka.model_copy(update={"bootstrap_servers": args.bootstrap})
    progress = Progress(enabled=not args.quiet)
    if args.partitions:
        ensure_topics(kafka, partitions=args.partitions)
    producer = producer_for(kafka)

    def send(key: str, value: str) -> None:
        producer.send(topic, key=key.encode(), value=value.encode())

    sent = replay(
        spec.events(args.seed),
        send,
        limit=args.limit,
        rate=args.rate,
        truth=args.truth,
        progress=lambda n: progress.update(f"produce: {n:,} events to {topic}"),
    )
    producer.flush()
    producer.close()
    progress.done()
    print(f"produced {sent:,} events to {topic}")
    if args.truth:
        print(f"truth (id,label) in {args.truth}")
    return 0


def cmd_strategies(args: argparse.Namespace, settings: Settings) -> int:
    import inspect

    for name, cls in STRATEGIES.items():
        if name in DROPPED:
            continue
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        params = [
            f"{p.name}={p.default!r}"
            for p in inspect.signature(cls).parameters.values()
            if p.name != "seed"
        ]
        print(f"{name:34s} {doc}")
        if params:
            print(f"{'':34s} parameters: {', '.join(params)}")
    print("\ndropped (still accepted by name, not recommended):")
    for name, why in DROPPED.items():
        print(f"{name:34s} {why}")
    return 0


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.cli.reference import markdown_table, settings_rows

    print(markdown_table(("variable", "default", "meaning"), settings_rows()))
    return 0


def cmd_metrics(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.cli.reference import markdown_table, metric_rows

    print(markdown_table(("metric", "type", "meaning"), metric_rows()))
    return 0


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.core.models import make_model

    for name in MODELS:
        print(f"{name:26s} {make_model(name)}")
    return 0


# -- parser ------------------------------------------------------------------------------


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Streaming active learning: predict every event, ask humans for the "
        "few labels that teach the model most.",
        epilog="Settings also come from STREAM_AL_* environment variables; flags win.",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    formatter = argparse.RawDescriptionHelpFormatter

    demo = sub.add_parser(
        "demo",
        help="run the whole loop in one process on a drifting stream",
        description="The whole loop embedded: a drifting stream, the active learner, the "
        "in-memory label queue and train log, a simulated labeler answering late.",
        epilog="example:\n  stream-al demo\n  stream-al demo --strategy variable-uncertainty "
        "--budget 0.05 --stream synth:sea-drift",
        formatter_class=formatter,
    )
    _add_stream_options(demo, "synth:agrawal-drift")
    _add_learner_options(demo, settings.learner)
    demo.add_argument(
        "--delay",
        type=_at_least(0),
        default=100,
        metavar="EVENTS",
        help="events before the simulated labeler answers (default 100)",
    )
    demo.add_argument(
        "--plot",
        metavar="PATH",
        help="learning-curve PNG (default stream-al-demo.png if matplotlib is installed)",
    )
    demo.add_argument("--no-plot", action="store_true", help="write no plot")
    demo.add_argument("--quiet", action="store_true", help="no progress output")
    demo.set_defaults(func=cmd_demo)

    ev = sub.add_parser(
        "evaluate",
        help="prequential evaluation against random sampling and full labels",
        description="Test-then-train over every event, several seeds, with random sampling "
        "at the same budget and the model with every label on the same stream.",
        epilog="example:\n  stream-al evaluate --stream csv:data/elec2.csv --target class "
        "--model hoeffding-tree --strategy split --budget 0.1 --seeds 3 --json out.json\n"
        "  stream-al evaluate --stream csv:data/elec2.csv --target class --budget 0.05 "
        "--warm-start first:5000",
        formatter_class=formatter,
    )
    _add_stream_options(ev, None)
    _add_learner_options(ev, settings.learner)
    ev.add_argument(
        "--seeds", type=_at_least(1), default=3, help="number of seeds (0, 1, ...; default 3)"
    )
    ev.add_argument(
        "--delay",
        type=_at_least(0),
        default=0,
        metavar="EVENTS",
        help="label delay in events (default 0)",
    )
    ev.add_argument(
        "--cost-column",
        metavar="COLUMN",
        help="a column holding each event's label cost (> 0; taken out of the features); "
        "with --unit cost the budget is spent in it",
    )
    ev.add_argument(
        "--warm-start",
        metavar="SPEC",
        help="also run warm-started and compare, same live stream and budget: first:N (the "
        "first N events of --stream are the history, the rest is live), csv:PATH (label "
        "column --target), topic:NAME (labeled events in Kafka) or model:PATH (a model file)",
    )
    ev.add_argument("--json", metavar="PATH", help="write the report as JSON")
    ev.add_argument("--plot", metavar="PATH", help="write learning curves as PNG")
    ev.add_argument("--quiet", action="store_true", help="no progress output")
    ev.set_defaults(func=cmd_evaluate)

    bench = sub.add_parser(
        "bench",
        help="benchmarks (ratios against a baseline in the same process)",
        description="engine: the active learner against a bare River loop making the same "
        "predictions and learn calls. throughput: serve on real Kafka and Redis against a "
        "raw consume-decode-produce loop on the same topic (needs KAFKA_BOOTSTRAP and "
        "REDIS_URL, as `scripts/services up` prints them, or the STREAM_AL_* settings).",
        epilog="examples:\n  stream-al bench engine --json engine.json\n"
        "  stream-al bench throughput --events 100000 --json throughput.json",
        formatter_class=formatter,
    )
    bench.add_argument("which", choices=["engine", "throughput"], help="which benchmark")
    _add_stream_options(bench, "synth:agrawal-drift")
    learner = settings.learner.model_dump()
    if learner["strategy"] != "variable-uncertainty":  # its parameters were for another
        learner["strategy_params"] = {}
    defaults = LearnerSettings(**{**learner, "strategy": "variable-uncertainty"})
    _add_learner_options(bench, defaults)
    bench.add_argument(
        "--repeats",
        type=_at_least(1),
        default=5,
        help="alternating rounds; medians are compared (default 5)",
    )
    bench.add_argument("--json", metavar="PATH", help="write the result as JSON")
    bench.add_argument("--quiet", action="store_true", help="no progress output")
    t = bench.add_argument_group("throughput")
    t.add_argument(
        "--backend",
        choices=["kafka-python", "confluent"],
        help="Kafka client (default: the setting)",
    )
    t.add_argument(
        "--events",
        type=_at_least(1),
        default=100_000,
        metavar="N",
        help="events to run through (default 100000)",
    )
    t.add_argument(
        "--batch", type=_at_least(1), default=500, metavar="N", help="events per poll (default 500)"
    )
    t.add_argument(
        "--no-predictions",
        action="store_true",
        help="do not publish predictions (and the raw loop produces nothing)",
    )
    bench.set_defaults(func=cmd_bench)

    strategies = sub.add_parser(
        "strategies",
        help="list the query strategies",
        epilog="example:\n  stream-al strategies",
        formatter_class=formatter,
    )
    strategies.set_defaults(func=cmd_strategies)
    models = sub.add_parser(
        "models",
        help="list the models",
        epilog="example:\n  stream-al models",
        formatter_class=formatter,
    )
    models.set_defaults(func=cmd_models)
    for name, func, what in (
        ("settings", cmd_settings, "every setting (STREAM_AL_* variable) as a Markdown table"),
        ("metrics", cmd_metrics, "every Prometheus metric as a Markdown table"),
    ):
        sub.add_parser(
            name, help=what, epilog=f"example:\n  stream-al {name}", formatter_class=formatter
        ).set_defaults(func=func)
    _add_service_commands(sub, formatter)
    _add_select_command(sub, formatter)
    return parser


def _add_select_command(sub: Any, formatter: type[argparse.HelpFormatter]) -> None:
    select = sub.add_parser(
        "select",
        help="queue the most informative, diverse items of a historical pool",
        description="Rank a pool of unlabeled history with the current model (the newest "
        "checkpoint in Redis and the train log after it, or --model PATH), keep the most "
        "uncertain candidates and queue k of them chosen by a greedy k-center on their "
        "features, into the label queue serve uses. One pass over the pool, memory bounded "
        "by --candidates.",
        epilog="example:\n  stream-al select --pool csv:history.csv --target label --k 100",
        formatter_class=formatter,
    )
    select.add_argument("--pool", required=True, metavar="SPEC", help="csv:PATH or topic:NAME")
    select.add_argument("--k", required=True, type=_at_least(1), metavar="N", help="items to queue")
    select.add_argument(
        "--candidates",
        type=_at_least(1),
        metavar="C",
        help="most uncertain rows kept for the diversity step (default: max(10 k, 1000))",
    )
    select.add_argument("--target", metavar="COLUMN", help="a label column of the pool to ignore")
    select.add_argument("--id-column", metavar="COLUMN", help="item ids (default: an id column)")
    select.add_argument("--model", metavar="PATH", help="an exported model file to rank with")
    select.add_argument("--max-rows", type=_at_least(1), metavar="N", help="read at most N rows")
    select.add_argument("--dry-run", action="store_true", help="rank and pick, queue nothing")
    select.add_argument("--json", metavar="PATH", help="write the report as JSON")
    select.add_argument("--config", metavar="FILE", help="TOML settings file")
    select.add_argument("--quiet", action="store_true", help="no progress output")
    select.set_defaults(func=cmd_select)


def _add_service_commands(sub: Any, formatter: type[argparse.HelpFormatter]) -> None:
    serve = sub.add_parser(
        "serve",
        help="the service: events from Kafka, label queue in Redis",
        description="Consume the events topic, predict every event, queue the few worth a "
        "label in Redis, learn the labels workers return, checkpoint, expose metrics. "
        "Configured by STREAM_AL_* settings (see README).",
        epilog="example:\n  STREAM_AL_CHECKPOINT__KEY=change-me "
        "STREAM_AL_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:9092 \\\n"
        "    STREAM_AL_REDIS__URL=redis://127.0.0.1:6379/0 stream-al serve",
        formatter_class=formatter,
    )
    serve.add_argument("--config", metavar="FILE", help="TOML settings file")
    serve.add_argument("--replica", metavar="NAME", help="replica id (default: host name)")
    serve.add_argument("--no-predictions", action="store_true", help="publish no predictions")
    serve.add_argument(
        "--warm-start",
        metavar="SPEC",
        help="when no checkpoint exists yet, learn this first: csv:PATH (label column "
        "--target), topic:NAME (labeled events in Kafka) or model:PATH (a model file)",
    )
    serve.add_argument("--target", metavar="COLUMN", help="label column of a csv: warm start")
    serve.add_argument("--quiet", action="store_true", help="log warnings and errors only")
    serve.set_defaults(func=cmd_serve)

    model = sub.add_parser(
        "model",
        help="export the newest checkpoint to a model file, or import one for serve",
        description="A model file is a signed learner snapshot (signed with "
        "STREAM_AL_CHECKPOINT__KEY, like checkpoints). export writes the newest checkpoint "
        "in Redis to a file; import writes a file into Redis as the checkpoint serve starts "
        "from. import refuses a deployment that has checkpoints or a train log already "
        "unless --force (then stop every serve replica first).",
        epilog="examples:\n  stream-al model export --out model.salm\n"
        "  stream-al model import model.salm\n"
        "  stream-al serve --warm-start model:model.salm",
        formatter_class=formatter,
    )
    actions = model.add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=_Parser
    )
    export = actions.add_parser(
        "export",
        help="newest checkpoint -> model file",
        epilog="example:\n  stream-al model export --out model.salm",
        formatter_class=formatter,
    )
    export.add_argument("--out", required=True, metavar="PATH", help="model file to write")
    imp = actions.add_parser(
        "import",
        help="model file -> the checkpoint serve starts from",
        epilog="example:\n  stream-al model import model.salm --force",
        formatter_class=formatter,
    )
    imp.add_argument("path", metavar="PATH", help="model file to read")
    imp.add_argument(
        "--force",
        action="store_true",
        help="replace existing checkpoints (the train log so far is not learned by the model)",
    )
    imp.add_argument("--replica", metavar="NAME", help="checkpoint under this replica id")
    for p in (export, imp):
        p.add_argument("--config", metavar="FILE", help="TOML settings file")
    export.set_defaults(replica=None)
    model.set_defaults(func=cmd_model)

    worker = sub.add_parser(
        "worker",
        help="label queued items with an oracle",
        description="Take items from the label queue, get each label from an oracle "
        "(file:PATH ground truth, or terminal for a person), give it back.",
        epilog="example:\n  stream-al worker --oracle file:truth.csv\n"
        "  stream-al worker --oracle terminal\n"
        "  stream-al worker --oracle label-studio",
        formatter_class=formatter,
    )
    worker.add_argument(
        "--oracle",
        required=True,
        help="file:PATH, terminal, web (a labeling page; needs STREAM_AL_WORKER__WEB_TOKEN), "
        "or label-studio (a bridge to a Label Studio project; needs "
        "STREAM_AL_WORKER__LABEL_STUDIO_URL and _TOKEN)",
    )
    worker.add_argument("--config", metavar="FILE", help="TOML settings file")
    worker.add_argument("--name", help="consumer name (default: host and pid)")
    worker.add_argument(
        "--tier", choices=["crowd", "expert"], help="which tier's items to label (default crowd)"
    )
    worker.add_argument(
        "--stale-seconds",
        type=_positive,
        metavar="S",
        help="drop (and count) items queued more than S seconds ago",
    )
    worker.add_argument("--max-items", type=_at_least(1), metavar="N", help="stop after N items")
    worker.add_argument(
        "--idle-exit",
        type=float,
        metavar="SECONDS",
        help="stop when the queue stays empty this long",
    )
    worker.add_argument("--quiet", action="store_true", help="log warnings and errors only")
    worker.set_defaults(func=cmd_worker)

    produce = sub.add_parser(
        "produce",
        help="replay a stream into the events topic",
        description="Send a stream's events (without labels) to Kafka; ids are row numbers "
        "(0, 1, ...) unless the stream has an id column; --truth writes the labels a file: "
        "oracle reads.",
        epilog="example:\n  stream-al produce --stream synth:sea-drift --topic stream-al.events "
        "--limit 5000 --truth truth.csv",
        formatter_class=formatter,
    )
    _add_stream_options(produce, None)
    produce.add_argument("--topic", help="events topic (default: the setting)")
    produce.add_argument("--limit", type=_at_least(1), metavar="N", help="send N events")
    produce.add_argument("--rate", type=float, metavar="PER_S", help="at most this many per s")
    produce.add_argument("--truth", metavar="PATH", help="write an id,label CSV here")
    produce.add_argument("--seed", type=int, default=0, help="seed of synthetic streams")
    produce.add_argument("--bootstrap", metavar="HOST:PORT", help="Kafka bootstrap servers")
    produce.add_argument(
        "--partitions",
        type=_at_least(1),
        metavar="N",
        help="create the topic with N partitions if it does not exist",
    )
    produce.add_argument("--config", metavar="FILE", help="TOML settings file")
    produce.add_argument("--quiet", action="store_true", help="no progress output")
    produce.set_defaults(func=cmd_produce)


def _config_file(argv: Sequence[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        settings = load_settings(_config_file(argv))
    except ValueError as exc:  # names the bad setting
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    parser = build_parser(settings)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args, settings))
    except UsageError as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): not a failure; keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        print(f"{PROG} {args.command}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
