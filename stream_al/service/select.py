"""``stream-al select``: queue the most informative, diverse items of a historical pool.

The model is the deployment's current one (the newest checkpoint in Redis plus the train
log after it) or an exported model file; the ranking and the diversity are
:mod:`stream_al.data.pools`'s. The batch is queued through the same store call as the
stream's queries (:func:`~stream_al.service.routing.queue_request`), so tiers, priority bands and
consensus apply to it alike; a pool item queued or labeled already (by an earlier run, or
by the stream under the same id), or dropped unlabeled by the workers, is not queued again:
the next candidate takes its place, in a dry run as in a real one.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from stream_al.config import Settings
from stream_al.core.learner import ActiveLearner
from stream_al.core.pool import (
    Candidate,
    PoolRow,
    Ranked,
    diverse_batch,
    farthest_first,
    mean_pairwise_distance,
    rank_pool,
)
from stream_al.core.routing import Routing
from stream_al.data.pools import iter_csv_pool, parse_pool
from stream_al.io.base import TOMBSTONE, Unreadable, WrongType
from stream_al.io.checkpoints import restore_checkpoint
from stream_al.io.redis import RedisStore
from stream_al.schemas import MAX_ID_CHARS, Event
from stream_al.service.loop import LabelLoop
from stream_al.service.routing import queue_request

__all__ = ["SelectOptions", "current_learner", "pool_rows", "queue_batch", "select"]

log = logging.getLogger("stream_al.select")

REASON = "pool"


@dataclass(frozen=True)
class SelectOptions:
    """What ``stream-al select`` was asked (see its ``--help``)."""

    pool: str
    k: int
    candidates: int | None = None
    target: str | None = None
    id_column: str | None = None
    model: str | None = None
    max_rows: int | None = None
    dry_run: bool = False


def pool_rows(
    spec: str, settings: Settings, target: str | None, id_column: str | None
) -> Iterator[PoolRow]:
    """The rows of ``csv:PATH`` or ``topic:NAME`` (events as serve reads them; invalid
    ones, rows whose id no label can name and rows with more features than serve takes
    are skipped and logged)."""
    most, wide, unnamed = settings.service.max_features, 0, 0
    for n, (item_id, features) in enumerate(_pool_rows(spec, settings, target, id_column), 1):
        # A CSV's id cell is any text: an item queued under an id serve reads in no label
        # was labeled for nothing (the label dead-lettered, the item pending until it
        # expired).
        if not 1 <= len(item_id) <= MAX_ID_CHARS:
            unnamed += 1
            if unnamed <= 5:
                log.warning(
                    "select: skipped row %d: its id %s: a label names its item in 1 to %d "
                    "characters (fix the id column, or choose another with --id-column)",
                    n,
                    f"has {len(item_id)} characters, more than {MAX_ID_CHARS}"
                    if item_id
                    else "is empty",
                    MAX_ID_CHARS,
                )
            continue
        if len(features) <= most:
            yield item_id, features
            continue
        wide += 1  # labeled, it would slow serve as a wide event would
        if wide <= 5:
            log.warning(
                "select: skipped %s: %d features, more than STREAM_AL_SERVICE__MAX_FEATURES (%d)",
                item_id,
                len(features),
                most,
            )
    if wide:
        log.warning("select: skipped %d rows with more than %d features", wide, most)
    if unnamed:
        log.warning("select: skipped %d rows whose id no label can name", unnamed)


def _pool_rows(
    spec: str, settings: Settings, target: str | None, id_column: str | None
) -> Iterator[PoolRow]:
    pool = parse_pool(spec, check_rows=False)  # the command checked them; read, they are again
    if pool.kind == "csv":
        yield from iter_csv_pool(pool.name, id_column, [target] if target else [])
        return
    from stream_al.io.kafka import read_topic

    skipped = tombstones = 0
    for origin, raw in read_topic(settings.kafka, pool.name):
        if raw is TOMBSTONE:  # a compacted topic's deletes may be many: counted, not each said
            tombstones += 1
            continue
        if isinstance(raw, Unreadable):  # a record batch not read (corrupt, say): said
            skipped += 1
            log.warning("select: skipped %s: %s", origin, raw.reason)
            continue
        try:
            event = Event.model_validate_json(raw)
        except ValidationError as exc:
            skipped += 1
            if skipped <= 5:
                log.warning("select: skipped %s: %s", origin, exc.errors()[0]["msg"])
            continue
        yield event.id, dict(event.features)
    if skipped:
        log.warning("select: skipped %d invalid events of topic %s", skipped, pool.name)
    if tombstones:
        log.warning(
            "select: skipped the tombstones (deletes, no events) of topic %s: %d",
            pool.name,
            tombstones,
        )


def current_learner(store: RedisStore, key: bytes) -> tuple[ActiveLearner, str]:
    """The deployment's model now: its newest checkpoint and the train log after it."""
    checkpoint = store.newest()
    if checkpoint is None:
        raise ValueError(
            "no checkpoint in Redis under this prefix: run serve until it writes one, or "
            "give an exported model with --model PATH"
        )
    learner = restore_checkpoint(checkpoint, key)
    loop = LabelLoop(learner, store=store, dead_letters=_NoDeadLetters())
    replayed = loop.replay(checkpoint.train_log_id)
    return learner, f"checkpoint of {checkpoint.replica} + {replayed} train-log labels"


class _NoDeadLetters:
    def send(self, payload: str, key: str | None = None) -> None:  # pragma: no cover
        raise AssertionError("replaying the train log sends no dead letters")


def queue_batch(
    store: RedisStore,
    learner: ActiveLearner,
    ranked: Ranked,
    k: int,
    routing: Routing,
    label_ttl: float,
    now: float,
    dry_run: bool = False,
) -> tuple[list[Candidate], int]:
    """Queue ``k`` items in farthest-first order (``dry_run``: pick them as a real run would,
    queueing nothing); returns them and how many candidates were passed over (asked
    already: queued, labeled, or dropped unlabeled by the workers, as serve passes over)."""
    queued: list[Candidate] = []
    passed = 0
    order = farthest_first(ranked.candidates, ranked.stats)
    while len(queued) < k:
        chunk = [ranked.candidates[i] for _, i in zip(range(k - len(queued)), order, strict=False)]
        if not chunk:
            break
        # The enqueue refuses pending and labeled ids by itself (atomically, against serve
        # queueing the same id); an item the workers dropped it would queue again.
        asked = store.asked([c.item_id for c in chunk])
        fresh = [c for c in chunk if c.item_id not in asked]
        passed += len(chunk) - len(fresh)
        if dry_run:
            queued += fresh
            continue
        requests = [
            queue_request(
                item_id=c.item_id,
                features=c.features,
                prediction=c.prediction,
                proba=c.proba,
                score=c.score,
                reason=REASON,
                threshold=None,
                strategy=REASON,
                enqueued_at=now,
                model_version=learner.model_version,
                routing=routing,
                label_ttl=label_ttl,
                explanation={
                    "strategy": REASON,
                    "measure": learner.uncertainty,
                    "score": c.score,
                    "reason": "most uncertain of its region of the pool",
                    "pool": {"candidates": len(ranked.candidates), "scanned": ranked.scanned},
                },
                source="pool",
            )
            for c in fresh
        ]
        for candidate, ok in zip(fresh, store.enqueue_many(requests), strict=True):
            if isinstance(ok, WrongType):  # passed over: the next candidate takes its place
                log.warning("pool item %s not queued: %s", candidate.item_id, ok.reason)
            elif ok:
                queued.append(candidate)
            else:
                passed += 1
    return queued, passed


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def select(
    options: SelectOptions,
    settings: Settings,
    store: RedisStore | None,
    learner: ActiveLearner,
    say: Callable[[str], None] = lambda message: None,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Rank the pool, pick a diverse batch and queue it (nothing is queued when
    ``options.dry_run`` or ``store`` is None); returns the report."""
    started = time.perf_counter()
    candidates = options.candidates or max(10 * options.k, 1000)
    rows = pool_rows(options.pool, settings, options.target, options.id_column)

    def progress(scanned: int) -> None:
        rate = scanned / max(time.perf_counter() - started, 1e-9)
        say(f"select: scored {scanned:,} rows ({rate:,.0f}/s)")

    ranked = rank_pool(learner, rows, candidates, progress, max_rows=options.max_rows)
    scored = time.perf_counter() - started
    say(
        f"select: scored {ranked.scanned:,} rows; picking {options.k} of {len(ranked.candidates):,}"
    )
    routing, ttl = settings.service.routing(), settings.redis.label_ttl_seconds
    if store is None:  # --model with --dry-run: no Redis to ask what was asked already
        batch, duplicates = diverse_batch(ranked, options.k), 0
    elif options.dry_run:
        batch, duplicates = queue_batch(
            store, learner, ranked, options.k, routing, ttl, clock(), dry_run=True
        )
    else:
        service = settings.service
        room = service.max_queue_depth - store.queue_depth()
        if room < options.k:
            raise ValueError(
                f"the label queue has room for {max(room, 0)} items (max_queue_depth "
                f"{service.max_queue_depth}), not {options.k}: label or drain it first, or ask "
                "for fewer with --k"
            )
        batch, duplicates = queue_batch(store, learner, ranked, options.k, routing, ttl, clock())
    top = ranked.candidates[: options.k]
    return {
        "pool": options.pool,
        "k": options.k,
        "scanned": ranked.scanned,
        "unscored": ranked.unscored,
        "candidates": len(ranked.candidates),
        "queued": 0 if options.dry_run or store is None else len(batch),
        "already_queued_or_labeled": duplicates,
        "ids": [c.item_id for c in batch],
        "mean_score": _mean([c.score for c in batch]),
        "top_uncertainty_mean_score": _mean([c.score for c in top]),
        "mean_pairwise_distance": mean_pairwise_distance(batch, ranked.stats),
        "top_uncertainty_mean_pairwise_distance": mean_pairwise_distance(top, ranked.stats),
        "score_seconds": scored,
        "seconds": time.perf_counter() - started,
        "rows_per_s": ranked.scanned / max(scored, 1e-9),
        "peak_rss_mb": _peak_rss_mb(),
    }


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0
