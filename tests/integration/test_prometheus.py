"""A real Prometheus (Debian's, started here on a free loopback port) scrapes a running
`stream-al serve` on real Kafka and Redis; stream-al's metrics are read back through
Prometheus's HTTP API. And the metric names the alert rules and the Grafana dashboard use
are checked against a live /metrics scrape, not against a list.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.request import urlopen

import pytest

from stream_al.config import LearnerSettings
from tests.deploy_support import (
    ALERTS,
    PrometheusServer,
    alert_names,
    alert_rules,
    dashboard_exprs,
    exported_names,
    metric_names_in,
    promql_for_prometheus,
    require_tool,
    scrape_config,
)
from tests.integration.deployment import Deployment, Proc, wait_for

N = 600


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[PrometheusServer]:
    """A Prometheus server, not started yet (`.start(config)`); stopped by pid afterwards."""
    server = PrometheusServer(require_tool("prometheus"), tmp_path / "prometheus")
    try:
        yield server
    finally:
        server.stop()


def _running_loop(deployment: Deployment, tmp_path: Path) -> Proc:
    """serve with a worker labeling what it asks, on N events of a drifting stream."""
    truth = tmp_path / "truth.csv"
    deployment.settings["STREAM_AL_LEARNER__WINDOW"] = "200"
    deployment.produce_stream("synth:agrawal-drift", N, truth)
    serve = deployment.serve()
    deployment.worker(truth)
    return serve


def _decided(serve: Proc) -> float:
    return serve.metric("stream_al_events_total", outcome="queried") + serve.metric(
        "stream_al_events_total", outcome="not_queried"
    )


def test_prometheus_scrapes_serve_and_reads_its_metrics_back(
    deployment: Deployment, prometheus: PrometheusServer, tmp_path: Path
) -> None:
    serve = _running_loop(deployment, tmp_path)
    target = f"127.0.0.1:{serve.metrics_port}"
    prometheus.start(scrape_config([target], rule_files=[ALERTS]))

    wait_for(
        lambda: prometheus.value(f'up{{job="stream-al", instance="{target}"}}') == 1,
        60,
        what="Prometheus to scrape serve",
    )
    # Every event decided, seen through Prometheus (the same count serve itself exports).
    decided = 'sum(stream_al_events_total{job="stream-al", outcome=~"queried|not_queried"})'
    wait_for(lambda: (prometheus.value(decided) or 0) >= N, 120, what=f"{N} events via Prometheus")
    assert prometheus.value(decided) == _decided(serve) == N
    learned = 'stream_al_labels_total{job="stream-al", outcome="learned"}'
    wait_for(lambda: (prometheus.value(learned) or 0) > 0, 120, what="labels learned")
    [info] = prometheus.query('stream_al_model_info{job="stream-al"}')
    default_model = LearnerSettings().model  # the deployment runs the default learner
    assert info["metric"]["model"] == default_model and info["metric"]["instance"] == target
    target_ratio = prometheus.value('stream_al_budget_target_ratio{job="stream-al"}')
    assert target_ratio is not None and target_ratio >= 0.1
    wait_for(
        lambda: prometheus.value('stream_al_label_delay_seconds_count{job="stream-al"}'),
        60,
        what="a label delay observed",
    )

    # The shipped alert rules load and evaluate without error against the real series, and
    # none fires for this healthy service.
    def rules_evaluated() -> list[dict[str, object]] | None:
        rules = [r for g in prometheus.api("rules")["groups"] for r in g["rules"]]
        return rules if rules and all(r["health"] != "unknown" for r in rules) else None

    rules = wait_for(rules_evaluated, 60, what="every alert rule evaluated")
    assert len(rules) == len(alert_rules())
    assert {r["name"] for r in rules} == set(alert_names())
    assert all(r["health"] == "ok" and not r.get("lastError") for r in rules), rules
    firing = [a for a in prometheus.api("alerts")["alerts"] if a["state"] == "firing"]
    assert firing == []

    # Every dashboard query is valid PromQL for this Prometheus and the main panels have data.
    for expr in dashboard_exprs():
        if expr.startswith("label_values("):
            continue  # a Grafana function, not PromQL
        prometheus.query(promql_for_prometheus(expr))  # raises on a bad query
    for name in (
        "stream_al_events_total",
        "stream_al_budget_target_ratio",
        "stream_al_label_queue_depth",
        "stream_al_pending_items",
    ):
        assert prometheus.query(f'{name}{{job="stream-al"}}'), name
    assert serve.alive(), serve.output()


def test_every_metric_in_the_alerts_and_the_dashboard_is_exported_by_a_live_serve(
    deployment: Deployment, tmp_path: Path
) -> None:
    serve = _running_loop(deployment, tmp_path)
    wait_for(
        lambda: serve.metric("stream_al_labels_total", outcome="learned") > 0,
        120,
        what="labels learned",
    )
    # The names come from the samples and from each family's TYPE line.
    assert serve.metrics_port is not None
    with urlopen(f"http://127.0.0.1:{serve.metrics_port}/metrics", timeout=10) as r:
        exposition = r.read().decode()
    exported = exported_names(exposition)
    assert "stream_al_label_delay_seconds_bucket" in exported  # histograms' series

    used_in_alerts = metric_names_in([rule["expr"] for rule in alert_rules()])
    used_in_dashboard = metric_names_in(dashboard_exprs())
    assert len(used_in_alerts) >= 7 and len(used_in_dashboard) >= 10  # they do use metrics
    assert sorted(used_in_alerts - exported) == [], "alert rules use metrics serve lacks"
    assert sorted(used_in_dashboard - exported) == [], "the dashboard uses metrics serve lacks"
