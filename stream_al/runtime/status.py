"""What a running ``stream-al serve`` says about itself, read from its ``/metrics``.

``stream-al status`` reads the endpoint twice, ``interval`` seconds apart, and reports
what a person watching the service wants to know: events per second, the fraction of
events asked for a label, the label queue, the labels learned and the accuracy of the
predictions on the last labeled items (the randomly asked ones are the unbiased
estimate; all labeled items lean to the hard ones). Every number comes from a metric of
``stream-al metrics``.

Examples
--------
>>> text = '''stream_al_events_total{outcome="queried"} 10
... stream_al_events_total{outcome="not_queried"} 90
... stream_al_labels_total{outcome="learned"} 8
... stream_al_label_queue_depth{tier="crowd"} 1
... stream_al_label_queue_depth{tier="expert"} 1
... stream_al_pending_items 2
... stream_al_accuracy_ratio{sample="random"} 0.75
... stream_al_budget_target_ratio 0.1
... '''
>>> later = text.replace(" 90", " 190").replace(" 10\\n", " 20\\n")
>>> status = Status.between(parse_metrics(text), parse_metrics(later), seconds=2.0)
>>> status.events, status.events_per_s, round(status.asked, 3), status.accuracy_random
(210, 55.0, 0.095, 0.75)
>>> status.queue_depth, status.queue_expert
(2, 1)

"""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Metrics", "Status", "metrics_url", "parse_metrics", "read_metrics"]

Metrics = Mapping[tuple[str, tuple[tuple[str, str], ...]], float]
"""Samples by ``(name, sorted labels)``."""


def metrics_url(host: str, port: int) -> str:
    """Where serve's metrics are, seen from this host (``0.0.0.0`` binds every address).

    >>> metrics_url("0.0.0.0", 9400)
    'http://127.0.0.1:9400/metrics'
    """
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{host}:{port}/metrics"


def parse_metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus text as samples by ``(name, sorted labels)``."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def read_metrics(
    url: str, timeout: float = 5.0
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Read ``url`` (raises ``OSError`` when nothing answers there)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return parse_metrics(response.read().decode())


def _sum(samples: Metrics, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def _gauge(samples: Metrics, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


@dataclass(frozen=True)
class Status:
    """A running serve, summed up (see the module docstring); None where nothing is
    known yet (no batch decided, no labeled item, no random one)."""

    events: int
    events_per_s: float
    asked: float
    budget: float | None
    queue_depth: int
    queue_expert: int
    pending: int
    learned: int
    accuracy_random: float | None
    accuracy_labeled: float | None

    @classmethod
    def between(cls, before: Metrics, after: Metrics, seconds: float) -> Status:
        """The status at ``after``, with the rates since ``before`` (``seconds`` earlier)."""
        events = _sum(after, "stream_al_events_total")
        asked = _sum(after, "stream_al_events_total", outcome="queried")
        rate = (events - _sum(before, "stream_al_events_total")) / seconds if seconds > 0 else 0.0
        return cls(
            events=int(events),
            events_per_s=rate,
            asked=asked / events if events else 0.0,
            # 0 until serve's first batch set it (no budget is 0): not known yet.
            budget=_gauge(after, "stream_al_budget_target_ratio") or None,
            queue_depth=int(_sum(after, "stream_al_label_queue_depth")),
            queue_expert=int(_sum(after, "stream_al_label_queue_depth", tier="expert")),
            pending=int(_gauge(after, "stream_al_pending_items") or 0),
            learned=int(_sum(after, "stream_al_labels_total", outcome="learned")),
            accuracy_random=_gauge(after, "stream_al_accuracy_ratio", sample="random"),
            accuracy_labeled=_gauge(after, "stream_al_accuracy_ratio", sample="labeled"),
        )
