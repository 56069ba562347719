"""``stream-al produce``: replay a stream into the events topic."""

from __future__ import annotations

import argparse
import sys

from stream_al.cli.commands import kafka_not_there
from stream_al.cli.options import stream_spec
from stream_al.config import Settings
from stream_al.errors import BrokerUnavailable
from stream_al.runtime.console import Progress

__all__ = ["cmd_produce"]


def cmd_produce(args: argparse.Namespace, settings: Settings) -> int:
    from stream_al.data.produce import replay
    from stream_al.io.kafka import ensure_topics, producer_for
    from stream_al.service.loop import read_event

    spec = stream_spec(args)
    topic = args.topic or settings.kafka.events_topic
    kafka = settings.kafka.model_copy(update={"events_topic": topic})
    if args.bootstrap:
        kafka = kafka.model_copy(update={"bootstrap_servers": args.bootstrap})
    progress = Progress(enabled=not args.quiet)
    try:
        if args.partitions:
            ensure_topics(kafka, partitions=args.partitions)
        producer = producer_for(kafka)
    except BrokerUnavailable as exc:
        raise kafka_not_there(exc, " (or --bootstrap HOST:PORT)") from None

    service = settings.service
    refused: list[tuple[str, str]] = []  # (id, why) of events serve will dead-letter

    def send(key: str, value: str) -> None:
        # Sent all the same (serve dead-letters each with its reason, nothing is lost), but
        # said: an empty row's event has no features, an id column may hold 300 characters.
        why = read_event(value, service.max_event_bytes, service.max_features)
        if isinstance(why, str):
            if not refused:
                print(f"warning: serve will dead-letter event {key!r}: {why}", file=sys.stderr)
            refused.append((key, why))
        producer.send(topic, key=key.encode(), value=value.encode())

    sent = replay(
        spec.events(args.seed),
        send,
        ids=spec.ids(),
        limit=args.limit,
        rate=args.rate,
        truth=args.truth,
        progress=lambda n: progress.update(f"produce: {n:,} events to {topic}"),
    )
    producer.flush()
    producer.close()
    progress.done()
    print(f"produced {sent:,} events to {topic}")
    if refused:
        print(
            f"warning: serve will dead-letter {len(refused):,} of them (the first: "
            f"{refused[0][0]!r}); its dead-letter topic names each one's reason",
            file=sys.stderr,
        )
    if args.truth:
        print(f"truth (id,label) in {args.truth}")
    return 0
