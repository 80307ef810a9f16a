"""The chart's monitoring: the shipped rule file as a PrometheusRule, the Grafana dashboard,
the scrape targets; every PromQL expression parses. (tests/test_rules.py checks the metric
names they use against live scrapes.)"""

from __future__ import annotations

import json
from typing import Any

import promql_parser
import pytest
import yaml

from tests.support.deploy import CHART, RELEASE, Manifest, documents, find, render, validate

RULES = CHART / "files" / "prometheus" / "mdbridge-rules.yaml"


@pytest.fixture(scope="module")
def docs() -> list[Manifest]:
    monitoring = {
        "serviceMonitor": {"enabled": True},
        "prometheusRule": {"enabled": True},
        "grafanaDashboard": {"enabled": True},
    }
    return documents(render({"metrics": monitoring}))


def metric_names(expr: str) -> set[str]:
    found: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            found.add(str(node.name))
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def test_prometheus_rule_carries_the_shipped_rules(docs: list[Manifest]) -> None:
    rule = find(docs, "PrometheusRule", RELEASE)
    validate(rule)
    assert rule["spec"] == yaml.safe_load(RULES.read_text(encoding="utf-8"))
    rules = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    assert {"MdbridgeSourceDown", "MdbridgeHighLatency", "MdbridgeSlowConsumers"} <= {
        r["alert"] for r in rules
    }
    for r in rules:
        assert metric_names(r["expr"]), r["alert"]  # parses, and watches a metric


def test_dashboard_is_grafana_json_with_valid_queries(docs: list[Manifest]) -> None:
    config = find(docs, "ConfigMap", f"{RELEASE}-dashboard")
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config["data"]["mdbridge.json"])
    assert dashboard["uid"] == "mdbridge-overview"
    targets = [t for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(targets) >= 6
    for target in targets:
        assert metric_names(target["expr"].replace("$namespace", "md")), target["expr"]


def test_bridges_and_adapters_are_scraped(docs: list[Manifest]) -> None:
    service_monitor = find(docs, "ServiceMonitor", f"{RELEASE}-bridge")
    pod_monitor = find(docs, "PodMonitor", f"{RELEASE}-adapters")
    for monitor in (service_monitor, pod_monitor):
        validate(monitor)
    adapter = find(docs, "Deployment", f"{RELEASE}-adapter-primary")
    container = adapter["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [{"name": "metrics", "containerPort": 9464, "protocol": "TCP"}]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["MDBRIDGE_METRICS_PORT"] == "9464"
    assert pod_monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    labels = adapter["spec"]["template"]["metadata"]["labels"]
    assert pod_monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_monitoring_is_off_by_default() -> None:
    kinds = {doc["kind"] for doc in documents(render())}
    assert not kinds & {"PrometheusRule", "ServiceMonitor", "PodMonitor"}
