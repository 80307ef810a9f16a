"""The Prometheus rules shipped for the Helm chart, its Grafana dashboard and its autoscaler
name only metrics that really exist."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import yaml
from nats.aio.client import Client as NatsClient

from mdbridge.natsserver import NatsServer
from schemas import DataType, data_subject, status_subject
from services.metrics import AdapterMetrics
from services.publisher import Publisher
from tests.support.market import payload_for, put_directory
from tests.support.scrape import scrape
from tests.support.servers import running_bridge
from tests.support.wsclient import WsClient

CHART = Path(__file__).parent.parent / "helm" / "mdbridge"
RULES = CHART / "files" / "prometheus" / "mdbridge-rules.yaml"
DASHBOARD = CHART / "files" / "grafana" / "mdbridge.json"
HPA = CHART / "templates" / "bridge" / "hpa.yaml"
SYMBOL = "600050.SH"


def _rules() -> list[dict[str, object]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_rule_is_complete() -> None:
    rules = _rules()
    assert len(rules) >= 10
    names = [rule["alert"] for rule in rules]
    assert len(set(names)) == len(names)
    for rule in rules:
        assert isinstance(rule["expr"], str)
        labels = rule["labels"]
        assert isinstance(labels, dict)
        assert labels["severity"] in {"info", "warning", "critical"}
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        assert annotations["summary"]


async def test_rule_expressions_use_metrics_from_live_scrapes(
    nc: NatsClient, nats_server: NatsServer
) -> None:
    js = nc.jetstream()
    await put_directory(js, [SYMBOL])
    await js.publish(status_subject("rules-src"), orjson.dumps({"event": "heartbeat"}))
    publisher = Publisher(js)
    adapter = AdapterMetrics(publisher, "rules-test")
    async with running_bridge(nats_server.url) as bridge:
        client = await WsClient.open(bridge.ws_url)
        await client.request("subscribe", {"symbol": SYMBOL, "snapshot": False})
        for price in (10.0, 10.01):
            subject = data_subject(DataType.QUOTE, SYMBOL)
            body = payload_for(DataType.QUOTE, SYMBOL, price)
            await publisher.publish(subject, body, f"rules-{price}")
            await publisher.flush()
            await client.data()
        exported = {name for name, _ in await scrape(bridge.http_url)}
        await client.close()
    text = adapter.render().decode()
    exported |= set(re.findall(r"^(mdbridge_\w+?)(?:\{| )", text, re.MULTILINE))
    adapter.close()
    used = {name for rule in _rules() for name in re.findall(r"mdbridge_\w+", str(rule["expr"]))}
    assert used, "no metric referenced"
    assert used <= exported, f"not exported: {sorted(used - exported)}"
    charted = set(re.findall(r"mdbridge_\w+", DASHBOARD.read_text() + HPA.read_text()))
    assert len(charted) >= 6
    assert charted <= exported, f"not exported: {sorted(charted - exported)}"
