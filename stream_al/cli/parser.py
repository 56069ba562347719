"""The argument parser: one ``_add_*`` function per command group.

Every command's parser names the function that runs it (``func``); the learner and
stream options come from :mod:`stream_al.cli.options`, the readers of flag values from
:mod:`stream_al.cli.values`.

Examples
--------
>>> from stream_al.config import Settings
>>> args = build_parser(Settings()).parse_args(["evaluate", "--stream", "synth:stagger"])
>>> args.command, args.func.__name__, args.seeds, args.budget
('evaluate', 'cmd_evaluate', 3, 0.1)

"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from stream_al.cli.commands.bench import cmd_bench
from stream_al.cli.commands.demo import cmd_demo
from stream_al.cli.commands.evaluate import cmd_evaluate
from stream_al.cli.commands.info import cmd_metrics, cmd_models, cmd_settings, cmd_strategies
from stream_al.cli.commands.model import cmd_model
from stream_al.cli.commands.produce import cmd_produce
from stream_al.cli.commands.select import cmd_select
from stream_al.cli.commands.service import cmd_serve, cmd_worker
from stream_al.cli.commands.status import cmd_status
from stream_al.cli.options import add_learner_options, add_stream_options
from stream_al.cli.report import PROG
from stream_al.cli.values import (
    at_least,
    http_url,
    kafka_topic,
    non_negative,
    output_path,
    positive,
)
from stream_al.config import LearnerSettings, Settings
from stream_al.data.streams import ID_RULE

__all__ = ["build_parser", "config_file"]

Command = Callable[[argparse.Namespace, Settings], int]
_Commands = Any  # argparse's sub-parsers action (private type)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line that says what to fix, instead of argparse's usage dump.
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Version(argparse.Action):
    """``--version``: ``stream-al VERSION``, the version read only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        from stream_al import __version__

        print(f"{PROG} {__version__}")
        parser.exit(0)


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    """The whole command line; the flags' defaults are the ``settings`` in force."""
    parser = _Parser(
        prog=PROG,
        description="Streaming active learning: predict every event, ask humans for the "
        "few labels that teach the model most.",
        epilog="Settings also come from STREAM_AL_* environment variables; flags win.",
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    _add_demo(sub, settings.learner)
    _add_evaluate(sub, settings.learner)
    _add_bench(sub, settings.learner)
    _add_listings(sub)
    _add_serve(sub)
    _add_status(sub)
    _add_model(sub)
    _add_worker(sub)
    _add_produce(sub)
    _add_select(sub)
    return parser


def config_file(argv: Sequence[str]) -> str | None:
    """The ``--config`` file named in ``argv`` (read before parsing: it sets the defaults).

    >>> config_file(["serve", "--config", "a.toml"]), config_file(["model", "--config=b"])
    ('a.toml', 'b')
    """
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
    return None


def _command(
    sub: _Commands, name: str, func: Command | None, examples: Sequence[str], **kwargs: Any
) -> argparse.ArgumentParser:
    """A command's parser, its help ending in its ``examples``; it runs ``func``."""
    label = "example" if len(examples) == 1 else "examples"
    lines = "\n".join(f"  {line}" for example in examples for line in example.splitlines())
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        epilog=f"{label}:\n{lines}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        **kwargs,
    )
    if func is not None:
        parser.set_defaults(func=func)
    return parser


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML settings file")


def _add_quiet(parser: argparse.ArgumentParser, logs: bool = False) -> None:
    what = "log warnings and errors only" if logs else "no progress output"
    parser.add_argument("--quiet", action="store_true", help=what)


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="also show the Kafka client library's own log (hidden otherwise: stream-al "
        "says what went wrong itself)",
    )


def _add_demo(sub: _Commands, learner: LearnerSettings) -> None:
    demo = _command(
        sub,
        "demo",
        cmd_demo,
        (
            "stream-al demo",
            "stream-al demo --strategy variable-uncertainty --budget 0.05 --stream synth:sea-drift",
        ),
        help="run the whole loop in one process on a drifting stream",
        description="The whole loop embedded: a drifting stream, the active learner, the "
        "in-memory label queue and train log, a simulated labeler answering late.",
    )
    add_stream_options(demo, "synth:agrawal-drift")
    add_learner_options(demo, learner)
    demo.add_argument(
        "--delay",
        type=at_least(0),
        default=100,
        metavar="EVENTS",
        help="events before the simulated labeler answers (default 100)",
    )
    demo.add_argument(
        "--plot",
        type=output_path,
        metavar="PATH",
        help="learning-curve PNG (default stream-al-demo.png if matplotlib is installed)",
    )
    demo.add_argument("--no-plot", action="store_true", help="write no plot")
    _add_config(demo)
    _add_quiet(demo)


def _add_evaluate(sub: _Commands, learner: LearnerSettings) -> None:
    ev = _command(
        sub,
        "evaluate",
        cmd_evaluate,
        (
            'stream-al evaluate --stream csv:"$(scripts/elec2)" --target class --model '
            "hoeffding-tree --strategy split --budget 0.1 --seeds 3 --json out.json",
            'stream-al evaluate --stream csv:"$(scripts/elec2)" --target class --budget 0.05 '
            "--warm-start first:5000",
        ),
        help="prequential evaluation against random sampling and full labels",
        description="Test-then-train over every event, several seeds, with random sampling "
        "at the same budget and the model with every label on the same stream.",
    )
    add_stream_options(ev, None)
    add_learner_options(ev, learner)
    ev.add_argument(
        "--seeds", type=at_least(1), default=3, help="number of seeds (0, 1, ...; default 3)"
    )
    ev.add_argument(
        "--delay",
        type=at_least(0),
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
        "column --target), topic:NAME (labeled events in Kafka) or model:PATH (a model file); "
        + ID_RULE,
    )
    ev.add_argument("--json", type=output_path, metavar="PATH", help="write the report as JSON")
    ev.add_argument("--plot", type=output_path, metavar="PATH", help="write learning curves as PNG")
    _add_config(ev)
    _add_quiet(ev)
    _add_verbose(ev)


def _bench_learner(learner: LearnerSettings) -> LearnerSettings:
    """The settings with the benchmarks' default strategy, variable-uncertainty."""
    values = learner.model_dump()
    if values["strategy"] != "variable-uncertainty":  # its parameters were for another
        values["strategy_params"] = {}
    return LearnerSettings(**{**values, "strategy": "variable-uncertainty"})


def _add_bench(sub: _Commands, learner: LearnerSettings) -> None:
    bench = _command(
        sub,
        "bench",
        cmd_bench,
        (
            "stream-al bench engine --json engine.json",
            "stream-al bench throughput --events 100000 --json throughput.json",
            "stream-al bench throughput --deployed --scale-out --json deployed.json",
        ),
        help="benchmarks (ratios against a bare baseline: in process, or --deployed)",
        description="engine: the active learner against a bare River loop making the same "
        "predictions and learn calls. throughput: serve on real Kafka and Redis against a "
        "raw consume-decode-produce loop on the same topic (needs KAFKA_BOOTSTRAP and "
        "REDIS_URL, as `scripts/services up` prints them, or the STREAM_AL_* settings).",
    )
    bench.add_argument("which", choices=["engine", "throughput"], help="which benchmark")
    add_stream_options(bench, "synth:agrawal-drift")
    add_learner_options(bench, _bench_learner(learner))
    bench.add_argument(
        "--repeats",
        type=at_least(1),
        default=5,
        help="alternating rounds; medians are compared (default 5; also --deployed's rounds "
        "of the bare loop and serve)",
    )
    bench.add_argument("--json", type=output_path, metavar="PATH", help="write the result as JSON")
    _add_config(bench)
    _add_quiet(bench)
    _add_verbose(bench)
    t = bench.add_argument_group("throughput")
    t.add_argument(
        "--backend",
        choices=["kafka-python", "confluent"],
        help="Kafka client (default: the setting)",
    )
    t.add_argument(
        "--events",
        type=at_least(1),
        default=100_000,
        metavar="N",
        help="events to run through (default 100000)",
    )
    t.add_argument(
        "--batch", type=at_least(1), default=500, metavar="N", help="events per poll (default 500)"
    )
    t.add_argument(
        "--no-predictions",
        action="store_true",
        help="do not publish predictions (and the raw loop produces nothing)",
    )
    t.add_argument(
        "--deployed",
        action="store_true",
        help="as deployed: `stream-al serve` and `stream-al worker --oracle file:` as "
        "processes of their own, against the bare loop as a process of its own, events/s "
        "from the broker's timestamps, CPU per event of each process (both backends unless "
        "--backend names one)",
    )
    t.add_argument(
        "--scale-out",
        action="store_true",
        help="with --deployed: also two serve replicas on a topic of two partitions "
        "against one replica",
    )


def _add_listings(sub: _Commands) -> None:
    for name, func, what in (
        ("strategies", cmd_strategies, "list the query strategies"),
        ("models", cmd_models, "list the models"),
        ("settings", cmd_settings, "every setting (STREAM_AL_* variable) as a Markdown table"),
        ("metrics", cmd_metrics, "every Prometheus metric as a Markdown table"),
    ):
        _command(sub, name, func, [f"stream-al {name}"], help=what)


def _add_serve(sub: _Commands) -> None:
    serve = _command(
        sub,
        "serve",
        cmd_serve,
        [
            "STREAM_AL_CHECKPOINT__KEY=change-me-to-a-long-secret \\\n"
            "  STREAM_AL_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:9092 \\\n"
            "  STREAM_AL_REDIS__URL=redis://127.0.0.1:6379/0 stream-al serve"
        ],
        help="the service: events from Kafka, label queue in Redis",
        description="Consume the events topic, predict every event, queue the few worth a "
        "label in Redis, learn the labels workers return, checkpoint, expose metrics. "
        "Configured by STREAM_AL_* settings (see README).",
    )
    _add_config(serve)
    serve.add_argument("--replica", metavar="NAME", help="replica id (default: host name)")
    serve.add_argument("--no-predictions", action="store_true", help="publish no predictions")
    serve.add_argument(
        "--warm-start",
        metavar="SPEC",
        help="when no checkpoint exists yet, learn this first: csv:PATH (label column "
        "--target), topic:NAME (labeled events in Kafka) or model:PATH (a model file); " + ID_RULE,
    )
    serve.add_argument("--target", metavar="COLUMN", help="label column of a csv: warm start")
    _add_quiet(serve, logs=True)
    _add_verbose(serve)


def _add_status(sub: _Commands) -> None:
    status = _command(
        sub,
        "status",
        cmd_status,
        ("stream-al status", "stream-al status --count 0 --interval 5"),
        help="what a running serve is doing: events/s, labels asked, queue, accuracy, and "
        "whether each replica is ready",
        description="Read a running serve's /metrics (STREAM_AL_METRICS__HOST and __PORT, or "
        "--url) twice, --interval seconds apart, and print events/s, the fraction of events "
        "asked for a label, the label queue, the labels learned and the accuracy of the "
        "predictions on the last randomly asked items (an unbiased estimate) and on all "
        "labeled items; then, from Redis (STREAM_AL_REDIS__URL and __PREFIX), one line per "
        "serve replica: ready, not ready with the reason its /readyz gives, stopped, or "
        "silent (killed, hung, or cut off from Redis). Exit code 0 when the last reading "
        "shows a replica ready and none not ready, silent or unreadable (stopped ones aside); "
        "1 otherwise, also when Redis cannot be read; 2 when nothing answers at the metrics "
        "address.",
    )
    status.add_argument(
        "--url", type=http_url, metavar="URL", help="serve's metrics (default: the settings)"
    )
    status.add_argument(
        "--interval",
        type=positive,
        default=2.0,
        metavar="S",
        help="seconds between two readings (the rate's window; default 2)",
    )
    status.add_argument(
        "--count",
        type=at_least(0),
        default=1,
        metavar="N",
        help="print N lines, one every --interval (default 1; 0: until interrupted)",
    )
    status.add_argument(
        "--wait",
        type=non_negative,
        default=30.0,
        metavar="S",
        help="wait up to S seconds for a serve that is starting (default 30)",
    )
    _add_config(status)


def _add_model(sub: _Commands) -> None:
    model = _command(
        sub,
        "model",
        cmd_model,
        (
            "stream-al model export --out model.salm",
            "stream-al model import model.salm",
            "stream-al serve --warm-start model:model.salm",
        ),
        help="export the newest checkpoint to a model file, or import one for serve",
        description="A model file is a signed learner snapshot (signed with "
        "STREAM_AL_CHECKPOINT__KEY, like checkpoints). export writes the newest checkpoint "
        "in Redis to a file; import writes a file into Redis as the checkpoint serve starts "
        "from. import refuses a deployment that has checkpoints or a train log already "
        "unless --force (then stop every serve replica first).",
    )
    actions = model.add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=_Parser
    )
    export = _command(
        actions,
        "export",
        None,
        ["stream-al model export --out model.salm"],
        help="newest checkpoint -> model file",
    )
    export.add_argument(
        "--out", required=True, type=output_path, metavar="PATH", help="model file to write"
    )
    export.set_defaults(replica=None)
    imp = _command(
        actions,
        "import",
        None,
        ["stream-al model import model.salm --force"],
        help="model file -> the checkpoint serve starts from",
    )
    imp.add_argument("path", metavar="PATH", help="model file to read")
    imp.add_argument(
        "--force",
        action="store_true",
        help="replace existing checkpoints (the train log so far is not learned by the model)",
    )
    imp.add_argument("--replica", metavar="NAME", help="checkpoint under this replica id")
    for p in (export, imp):
        _add_config(p)


def _add_worker(sub: _Commands) -> None:
    worker = _command(
        sub,
        "worker",
        cmd_worker,
        (
            "stream-al worker --oracle file:truth.csv",
            "stream-al worker --oracle file:examples/sea.csv --target class",
            "stream-al worker --oracle terminal",
            "stream-al worker --oracle label-studio",
        ),
        help="label queued items with an oracle",
        description="Take items from the label queue, get each label from an oracle "
        "(file:PATH ground truth; terminal or web for a person; label-studio, a bridge to a "
        "Label Studio project), give it back.",
    )
    worker.add_argument(
        "--oracle",
        required=True,
        help="file:PATH, terminal, web (a labeling page; needs STREAM_AL_WORKER__WEB_TOKEN), "
        "or label-studio (a bridge to a Label Studio project; needs "
        "STREAM_AL_WORKER__LABEL_STUDIO_URL and _TOKEN)",
    )
    worker.add_argument(
        "--target",
        metavar="COLUMN",
        help="the label column of a file: oracle's CSV (default label; its id column is the "
        "item id): a labeled stream's CSV is its own truth",
    )
    _add_config(worker)
    worker.add_argument("--name", help="consumer name (default: host and pid)")
    worker.add_argument(
        "--tier", choices=["crowd", "expert"], help="which tier's items to label (default crowd)"
    )
    worker.add_argument(
        "--stale-seconds",
        type=positive,
        metavar="S",
        help="drop (and count) items queued more than S seconds ago",
    )
    worker.add_argument("--max-items", type=at_least(1), metavar="N", help="stop after N items")
    worker.add_argument(
        "--idle-exit",
        type=non_negative,
        metavar="SECONDS",
        help="stop when the queue stays empty this long",
    )
    _add_quiet(worker, logs=True)
    _add_verbose(worker)


def _add_produce(sub: _Commands) -> None:
    produce = _command(
        sub,
        "produce",
        cmd_produce,
        [
            "stream-al produce --stream synth:sea-drift --topic stream-al.events "
            "--limit 5000 --truth truth.csv"
        ],
        help="replay a stream into the events topic",
        description="Send a stream's events (without labels) to Kafka; ids are row numbers "
        f"(0, 1, ...) unless the stream has an id column ({ID_RULE}); --truth writes the "
        "labels a file: oracle reads, each before its event is sent.",
    )
    add_stream_options(produce, None)
    produce.add_argument("--topic", type=kafka_topic, help="events topic (default: the setting)")
    produce.add_argument("--limit", type=at_least(1), metavar="N", help="send N events")
    produce.add_argument("--rate", type=positive, metavar="PER_S", help="at most this many per s")
    produce.add_argument(
        "--truth", type=output_path, metavar="PATH", help="write an id,label CSV here"
    )
    produce.add_argument("--seed", type=int, default=0, help="seed of synthetic streams")
    produce.add_argument("--bootstrap", metavar="HOST:PORT", help="Kafka bootstrap servers")
    produce.add_argument(
        "--partitions",
        type=at_least(1),
        metavar="N",
        help="first create whichever of serve's topics do not exist (this events topic, the "
        "predictions and dead-letter topics of the settings), with N partitions each",
    )
    _add_config(produce)
    _add_quiet(produce)
    _add_verbose(produce)


def _add_select(sub: _Commands) -> None:
    select = _command(
        sub,
        "select",
        cmd_select,
        ["stream-al select --pool csv:history.csv --target label --k 100"],
        help="queue the most informative, diverse items of a historical pool",
        description="Rank a pool of unlabeled history with the current model (the newest "
        "checkpoint in Redis and the train log after it, or --model PATH), keep the most "
        "uncertain candidates and queue k of them chosen by a greedy k-center on their "
        "features, into the label queue serve uses. One pass over the pool, memory bounded "
        "by --candidates.",
    )
    select.add_argument(
        "--pool", required=True, metavar="SPEC", help=f"csv:PATH or topic:NAME; {ID_RULE}"
    )
    select.add_argument("--k", required=True, type=at_least(1), metavar="N", help="items to queue")
    select.add_argument(
        "--candidates",
        type=at_least(1),
        metavar="C",
        help="most uncertain rows kept for the diversity step (default: max(10 k, 1000))",
    )
    select.add_argument("--target", metavar="COLUMN", help="a label column of the pool to ignore")
    select.add_argument(
        "--id-column",
        metavar="COLUMN",
        help=(
            "item ids, never a feature (default: the id column, else the file name and row number)"
        ),
    )
    select.add_argument("--model", metavar="PATH", help="an exported model file to rank with")
    select.add_argument("--max-rows", type=at_least(1), metavar="N", help="read at most N rows")
    select.add_argument("--dry-run", action="store_true", help="rank and pick, queue nothing")
    select.add_argument("--json", type=output_path, metavar="PATH", help="write the report as JSON")
    _add_config(select)
    _add_quiet(select)
    _add_verbose(select)
