"""The chart's Prometheus rules and Grafana dashboard: valid PromQL on mdbridge's metrics."""

from __future__ import annotations

import json
from typing import Any

import promql_parser
import pytest

from tests.support.deploy import RELEASE, Manifest, documents, find, render

# The bridge's metric names these artefacts rely on (the metrics issue defines them; the
# integrator reconciles both lists when it lands).
METRICS = {
    "mdbridge_connections_active",
    "mdbridge_messages_out_total",
    "mdbridge_broker_to_socket_latency_seconds_bucket",
    "mdbridge_slow_consumer_closes_total",
    "mdbridge_source_up",
}


@pytest.fixture(scope="module")
def docs() -> list[Manifest]:
    monitoring = {"prometheusRule": {"enabled": True}, "grafanaDashboard": {"enabled": True}}
    return documents(render({"metrics": monitoring}, namespace="md-test"))


def selectors(expr: str) -> list[promql_parser.VectorSelector]:
    found: list[promql_parser.VectorSelector] = []

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def test_alert_rules_parse_and_use_known_metrics(docs: list[Manifest]) -> None:
    rule = find(docs, "PrometheusRule", RELEASE)
    rules = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    assert {r["alert"] for r in rules} >= {"MdbridgeSourceDown", "MdbridgeLatencyHigh"}
    used: set[str] = set()
    for r in rules:
        for selector in selectors(r["expr"]):
            used.add(str(selector.name))
            # Scoped to the release's namespace, so two releases never mix.
            assert 'namespace="md-test"' in str(selector.matchers), r["alert"]
    assert used == METRICS


def test_latency_alert_uses_the_configured_threshold() -> None:
    values = {"metrics": {"prometheusRule": {"enabled": True, "latencyP99Seconds": 0.25}}}
    rule = find(documents(render(values)), "PrometheusRule", RELEASE)
    latency = next(r for g in rule["spec"]["groups"] for r in g["rules"] if "Latency" in r["alert"])
    assert latency["expr"].rstrip().endswith("> 0.25")


def test_dashboard_is_grafana_json_on_known_metrics(docs: list[Manifest]) -> None:
    config = find(docs, "ConfigMap", f"{RELEASE}-dashboard")
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config["data"]["mdbridge.json"])
    assert dashboard["uid"] == "mdbridge-overview"
    targets = [t for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(targets) >= 5
    used = {str(s.name) for t in targets for s in selectors(t["expr"].replace("$namespace", "x"))}
    assert used == METRICS


def test_monitoring_is_off_by_default() -> None:
    kinds = {doc["kind"] for doc in documents(render())}
    assert not kinds & {"PrometheusRule", "ServiceMonitor"}
