"""``stream-al bench engine|throughput``: ratios against a bare baseline, in process or
(``throughput --deployed``) as processes of their own."""

from __future__ import annotations

import argparse

from stream_al.cli import report
from stream_al.cli.commands import kafka_not_there
from stream_al.cli.options import learner_settings, stream_spec
from stream_al.config import Settings
from stream_al.errors import ConfigurationError
from stream_al.runtime.console import Progress

__all__ = ["cmd_bench"]


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    if args.which == "throughput":
        return _throughput(args, settings)
    return _engine(args, settings)


def _engine(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.benchmarks.engine import bench_engine

    learner = learner_settings(args, settings.learner)
    spec = stream_spec(args)
    progress = Progress(enabled=not args.quiet)
    result = bench_engine(
        list(spec.events(learner.seed)),
        learner.spec(),
        repeats=args.repeats,
        seed=learner.seed,
        progress=lambda m: progress.update(m, force=True),
    )
    progress.done()
    result = {"benchmark": "engine", "stream": spec.spec, **result}
    report.print_engine(result)
    if args.json:
        report.write_report(args.json, result)
    return 0


def _throughput(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.benchmarks.throughput import bench_throughput, with_services

    bench_settings = with_services(settings, args.backend).model_copy(
        update={"learner": learner_settings(args, settings.learner)}
    )
    _check_backends(args, bench_settings)
    _check_broker(bench_settings)
    if args.deployed:
        return _deployed(args, bench_settings)
    if args.scale_out:
        raise ConfigurationError("--scale-out runs with --deployed")
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
    report.print_throughput(result)
    if args.json:
        report.write_report(args.json, result)
    return 0


def _check_backends(args: argparse.Namespace, settings: Settings) -> None:
    """Every Kafka client the benchmark runs is installed: a missing confluent-kafka is said
    at once, as a bad setting (exit 2), not as a traceback's last line after the events
    were produced."""
    from stream_al.io.backends import kafka_backend

    if args.backend:
        names, asked = [args.backend], f"--backend {args.backend}"
    elif args.deployed:
        names = ["kafka-python", "confluent"]
        asked = "--deployed without --backend (both backends; --backend kafka-python runs one)"
    else:
        names, asked = (
            [settings.kafka.backend],
            f"STREAM_AL_KAFKA__BACKEND={settings.kafka.backend}",
        )
    for name in names:
        try:
            kafka_backend(settings.kafka.model_copy(update={"backend": name}))
        except ConfigurationError:
            raise ConfigurationError(
                f"{asked} needs confluent-kafka: from a checkout, pip install -e '.[fast]' "
                "(or scripts/setup fast,plot)"
            ) from None


def _check_broker(settings: Settings) -> None:
    """A broker answers where the benchmark will produce its events: else said at once,
    naming the address and where it came from (exit 2), not as ``failed:
    NoBrokersAvailable``."""
    from stream_al.errors import BrokerUnavailable
    from stream_al.io.kafka import producer_for

    try:
        producer_for(settings.kafka).close()
    except BrokerUnavailable as exc:
        raise kafka_not_there(
            exc, ", else KAFKA_BOOTSTRAP (as scripts/services up prints it)"
        ) from None


def _deployed(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.benchmarks.deployed import bench_deployed

    if args.no_predictions:
        raise ConfigurationError(
            "--deployed measures serve by its predictions: drop --no-predictions"
        )
    progress = Progress(enabled=not args.quiet)
    result = bench_deployed(
        settings,
        events=args.events,
        stream=args.stream,
        batch=args.batch,
        backends=[args.backend] if args.backend else ["kafka-python", "confluent"],
        scale_out=args.scale_out,
        repeats=args.repeats,
        progress=lambda m: progress.update(m, force=True),
    )
    progress.done()
    report.print_deployed(result)
    if args.json:
        report.write_report(args.json, result)
    return 0
