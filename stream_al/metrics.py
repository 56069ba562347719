"""Every Prometheus metric of stream-al, defined once (prefix ``stream_al_``, base units).

No label carries an item id; every label set is initialised at start so that its series
exists at zero before the first event.

=====================================================  =====================================
metric                                                 meaning
=====================================================  =====================================
``stream_al_events_total{outcome}``                    events by outcome: queried, not_queried,
                                                       invalid, duplicate, backpressure
``stream_al_labels_total{outcome}``                    labels by outcome: learned, orphaned,
                                                       invalid, duplicate
``stream_al_budget_target_ratio``                      the budget in force (B, or boosted)
``stream_al_budget_spent_ratio``                       estimated fraction spent (window)
``stream_al_uncertainty_threshold``                    the strategy's confidence threshold
``stream_al_drift_detections_total{detector}``         adwin: error rose; challenger: a
                                                       challenger model replaced the model
``stream_al_accuracy_ratio{sample}``                   accuracy of predictions on the last
                                                       500 labeled items: all of them
                                                       (``labeled``, biased towards hard
                                                       items) or the randomly asked ones
                                                       (``random``, unbiased)
``stream_al_label_queue_depth``                        items in the label queue
``stream_al_pending_items``                            items waiting for their label
``stream_al_label_delay_seconds``                      from queued to labeled (histogram)
``stream_al_batch_duration_seconds``                   one loop over a batch (histogram)
``stream_al_consumer_lag_messages{partition}``         events not yet consumed, per partition
``stream_al_train_log_applied_total``                  train-log entries learned
``stream_al_last_checkpoint_timestamp_seconds``        when the last checkpoint was written
``stream_al_model_info{model,strategy,uncertainty}``   1, with the learner's configuration
=====================================================  =====================================
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["EVENT_OUTCOMES", "LABEL_OUTCOMES", "Metrics"]

EVENT_OUTCOMES = ("queried", "not_queried", "invalid", "duplicate", "backpressure")
LABEL_OUTCOMES = ("learned", "orphaned", "invalid", "duplicate")
DETECTORS = ("adwin", "challenger")
SAMPLES = ("labeled", "random")


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
    pending_items: Gauge
    label_delay: Histogram
    batch_duration: Histogram
    consumer_lag: Gauge
    train_log_applied: Counter
    last_checkpoint: Gauge
    model_info: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> Metrics:
        reg = registry if registry is not None else CollectorRegistry()
        p = "stream_al_"
        metrics = cls(
            registry=reg,
            events=Counter(p + "events", "Events by outcome.", ["outcome"], registry=reg),
            labels=Counter(p + "labels", "Labels by outcome.", ["outcome"], registry=reg),
            budget_target=Gauge(p + "budget_target_ratio", "Label budget in force.", registry=reg),
            budget_spent=Gauge(
                p + "budget_spent_ratio", "Estimated fraction of events labeled.", registry=reg
            ),
            threshold=Gauge(
                p + "uncertainty_threshold", "Confidence threshold of the strategy.", registry=reg
            ),
            drift_detections=Counter(
                p + "drift_detections",
                "Drift reactions by detector.",
                ["detector"],
                registry=reg,
            ),
            accuracy=Gauge(
                p + "accuracy_ratio",
                "Accuracy on the last 500 labeled items, by sample.",
                ["sample"],
                registry=reg,
            ),
            queue_depth=Gauge(p + "label_queue_depth", "Items in the label queue.", registry=reg),
            pending_items=Gauge(
                p + "pending_items", "Items waiting for their label.", registry=reg
            ),
            label_delay=Histogram(
                p + "label_delay_seconds",
                "Seconds from queued to labeled.",
                buckets=(1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 7 * 24 * 3600),
                registry=reg,
            ),
            batch_duration=Histogram(
                p + "batch_duration_seconds",
                "Seconds per loop over a batch.",
                buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                registry=reg,
            ),
            consumer_lag=Gauge(
                p + "consumer_lag_messages",
                "Events not yet consumed.",
                ["partition"],
                registry=reg,
            ),
            train_log_applied=Counter(
                p + "train_log_applied", "Train-log entries learned.", registry=reg
            ),
            last_checkpoint=Gauge(
                p + "last_checkpoint_timestamp_seconds",
                "Unix time of the last checkpoint.",
                registry=reg,
            ),
            model_info=Gauge(
                p + "model_info",
                "The learner's configuration (always 1).",
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
        return metrics
