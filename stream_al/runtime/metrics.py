"""Every Prometheus metric of stream-al, defined once (prefix ``stream_al_``, base units).

No label carries an item id; every counter's label set with known values is initialised
at start so that its series exists at zero before the first event (the accuracy gauge's
series appear with the first labeled item of their sample). The help text of each metric is
its documentation: ``stream-al metrics`` prints the table the README carries.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from stream_al.core.routing import TIERS

__all__ = ["EVENT_OUTCOMES", "LABEL_OUTCOMES", "SAMPLES", "Metrics"]

EVENT_OUTCOMES = ("queried", "not_queried", "invalid", "duplicate", "backpressure")
LABEL_OUTCOMES = ("learned", "orphaned", "invalid", "duplicate", "voted", "escalated")
DETECTORS = ("adwin", "challenger", "label-free")
SAMPLES = ("labeled", "random")  # the accuracy gauge's samples


@dataclass
class Metrics:
    """The metric objects of one process, on their own registry."""

    registry: CollectorRegistry
    events: Counter
    labels: Counter
    budget_target: Gauge
    budget_spent: Gauge
    threshold: Gauge
    drift_detections: Counter
    accuracy: Gauge
    queue_depth: Gauge
    stale_items: Gauge
    asking_stopped: Gauge
    agreement: Gauge
    pending_items: Gauge
    label_delay: Histogram
    batch_duration: Histogram
    consumer_lag: Gauge
    partitions_stalled: Gauge
    train_log_applied: Counter
    train_log_skipped: Counter
    model_features: Gauge
    features_ignored: Counter
    state_resets: Counter
    last_checkpoint: Gauge
    checkpoint_dir_failures: Counter
    replica_state_failures: Counter
    topics_missing: Gauge
    model_info: Gauge

    def collectors(self) -> list[Counter | Gauge | Histogram]:
        """Every metric object, in definition order."""
        return [v for v in vars(self).values() if isinstance(v, Counter | Gauge | Histogram)]

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> Metrics:
        reg = registry if registry is not None else CollectorRegistry()
        p = "stream_al_"
        metrics = cls(
            registry=reg,
            events=Counter(
                p + "events",
                "Events by outcome: queried, not_queried, invalid, duplicate (its item asked "
                "already: an event consumed again, predicted as queried, not asked again), "
                "backpressure (queue full).",
                ["outcome"],
                registry=reg,
            ),
            labels=Counter(
                p + "labels",
                "Labels this replica took from the label stream, each once, by outcome: "
                "learned (joined into the train log, which every replica learns), orphaned "
                "(no pending item), invalid, duplicate (already learned, or a repeated "
                "vote), voted (a consensus vote, more needed), escalated (the votes "
                "disagreed, or no other annotator took a copy in time: one expert decides).",
                ["outcome"],
                registry=reg,
            ),
            budget_target=Gauge(
                p + "budget_target_ratio",
                "The budget in force: B, or B times the boost after a drift.",
                registry=reg,
            ),
            budget_spent=Gauge(
                p + "budget_spent_ratio",
                "Estimated fraction of the recent events (or label cost) spent on labels.",
                registry=reg,
            ),
            threshold=Gauge(
                p + "uncertainty_threshold",
                "The strategy's confidence threshold (queries go below it).",
                registry=reg,
            ),
            drift_detections=Counter(
                p + "drift_detections",
                "Drift reactions: adwin (error rose), challenger (a challenger model took over), "
                "label-free (the uncertainty of all events rose).",
                ["detector"],
                registry=reg,
            ),
            accuracy=Gauge(
                p + "accuracy_ratio",
                "Accuracy of the predictions on the last 500 labeled items: labeled (all, "
                "biased to hard items) or random (the randomly asked, unbiased).",
                ["sample"],
                registry=reg,
            ),
            queue_depth=Gauge(
                p + "label_queue_depth",
                "Items in the label queue (waiting or held by a worker), by tier: only a "
                "worker of the tier takes its items (stream-al worker --tier expert).",
                ["tier"],
                registry=reg,
            ),
            stale_items=Gauge(
                p + "label_queue_stale_items",
                "Items workers dropped unlabeled because they waited longer than the "
                "staleness limit (a running count kept in Redis).",
                registry=reg,
            ),
            asking_stopped=Gauge(
                p + "asking_stopped",
                "1 while the stopping rule holds uncertainty queries back (0 otherwise).",
                registry=reg,
            ),
            agreement=Gauge(
                p + "annotator_agreement_ratio",
                "Per annotator, the share of its consensus votes that agreed with the consensus.",
                ["annotator"],
                registry=reg,
            ),
            pending_items=Gauge(
                p + "pending_items",
                "Queried items waiting for their label (not expired).",
                registry=reg,
            ),
            label_delay=Histogram(
                p + "label_delay_seconds",
                "Seconds from queued to labeled.",
                buckets=(1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 7 * 24 * 3600),
                registry=reg,
            ),
            batch_duration=Histogram(
                p + "batch_duration_seconds",
                "Seconds per turn of the serve loop (a batch of events, labels, learning).",
                buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                registry=reg,
            ),
            consumer_lag=Gauge(
                p + "consumer_lag_messages",
                "Events in the topic not yet consumed, per partition.",
                ["partition"],
                registry=reg,
            ),
            partitions_stalled=Gauge(
                p + "partitions_stalled",
                "Assigned partitions of the events topic that stopped being served: no event "
                "handed out for 30 s of polls while the broker holds events after the "
                "position (a record batch larger than the Kafka client takes in one answer, or "
                "one damaged in the broker's log). The log names each, once.",
                registry=reg,
            ),
            train_log_applied=Counter(
                p + "train_log_applied",
                "Train-log entries learned (replayed ones included).",
                registry=reg,
            ),
            train_log_skipped=Counter(
                p + "train_log_skipped",
                "Train-log entries that cannot be learned (a feature or label of another kind "
                "than the model learned, ...): skipped by every replica and replay alike, "
                "dead-lettered once in Redis.",
                registry=reg,
            ),
            model_features=Gauge(
                p + "model_features",
                "Distinct features the model has learned. Rising with every label: a feature "
                "name that changes per event (a timestamp or an id as a key), which grows the "
                "model and slows it for ever.",
                registry=reg,
            ),
            features_ignored=Counter(
                p + "features_ignored",
                "Feature values of events and labeled items the model ignored: their names "
                "came after the model had learned STREAM_AL_LEARNER__MAX_MODEL_FEATURES names. "
                "The event is decided and learned on the features the model knows. Rising: a "
                "feature name that changes per event (an id or a timestamp as a key), or a "
                "schema larger than the cap (raise it).",
                registry=reg,
            ),
            state_resets=Counter(
                p + "state_resets",
                "Times Redis came back without serve's state (restarted without "
                "persistence, or flushed): serve recreated its groups and restarted from "
                "the newest checkpoint it found.",
                registry=reg,
            ),
            last_checkpoint=Gauge(
                p + "last_checkpoint_timestamp_seconds",
                "Unix time of the last checkpoint.",
                registry=reg,
            ),
            checkpoint_dir_failures=Counter(
                p + "checkpoint_dir_failures",
                "Checkpoints not written to the checkpoint directory (a full or read-only "
                "volume): Redis has them and serving goes on, but the newest file there grows "
                "old, and a start after Redis lost its data would begin from it.",
                registry=reg,
            ),
            replica_state_failures=Counter(
                p + "replica_state_failures",
                "Times this replica's state (ready or not, and why) was not written to Redis, "
                "where stream-al status reads it every few seconds: status then shows the "
                "replica silent. Serving is not affected.",
                registry=reg,
            ),
            topics_missing=Gauge(
                p + "topics_missing",
                "Kafka topics serve needs that do not exist on a broker that does not create "
                "them (at start, or deleted while it runs): serve consumes nothing until they "
                "do, and /readyz names them and how to create them.",
                registry=reg,
            ),
            model_info=Gauge(
                p + "model_info",
                "The learner's configuration, as labels (value 1).",
                ["model", "strategy", "uncertainty"],
                registry=reg,
            ),
        )
        for outcome in EVENT_OUTCOMES:
            metrics.events.labels(outcome=outcome)
        for outcome in LABEL_OUTCOMES:
            metrics.labels.labels(outcome=outcome)
        for detector in DETECTORS:
            metrics.drift_detections.labels(detector=detector)
        for tier in TIERS:
            metrics.queue_depth.labels(tier=tier)
        return metrics
