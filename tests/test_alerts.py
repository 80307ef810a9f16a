"""Alerts fire when a threshold is crossed: in the log, on md.alerts and in /admin/alerts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from bridge.observe.alerts import AlertBook, Thresholds, check_alerts
from mdbridge.natsserver import NatsServer
from schemas import status_subject
from tests.support.market import put_directory
from tests.support.scrape import admin, scrape, value
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.wsclient import WsClient

SYMBOLS = ["600030.SH"]


class AlertFeed:
    """What a backend service subscribed to md.alerts receives."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    async def on_message(self, msg: Msg) -> None:
        self.alerts.append(orjson.loads(msg.data))
        self._changed.set()

    async def wait_for(self, type_: str, state: str, timeout: float = 10.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                for alert in self.alerts:
                    if alert["type"] == type_ and alert["state"] == state:
                        return alert
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
async def alerts(nc: NatsClient) -> AsyncIterator[AlertFeed]:
    feed = AlertFeed()
    sub = await nc.subscribe("md.alerts", cb=feed.on_message)
    yield feed
    await sub.unsubscribe()


@pytest.fixture
async def bridge(nc: NatsClient, nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    await put_directory(nc.jetstream(), SYMBOLS)
    async with running_bridge(
        nats_server.url,
        monitor_interval_s=0.1,
        monitor_window_s=5.0,
        alert_max_connections=1,
        alert_max_error_rate_percent=5.0,
        alert_min_requests=5,
    ) as handle:
        yield handle


async def test_crossing_thresholds_fires_alerts_and_recovery_resolves_them(
    bridge: BridgeHandle, alerts: AlertFeed, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bridge.observe.alerts")
    first = await WsClient.open(bridge.ws_url)
    second = await WsClient.open(bridge.ws_url)  # two connections: above the limit of 1
    fired = await alerts.wait_for("connections", "firing")
    assert fired["severity"] == "warning"
    assert fired["metrics"] == {"connections": 2, "threshold": 1}
    assert "2 connections" in fired["message"]

    for _ in range(10):  # every request fails: 100% > 5%
        assert (await first.request("not_a_request"))["type"] == "error"
    errors = await alerts.wait_for("error_rate", "firing")
    assert errors["metrics"]["error_rate_percent"] > 5.0
    assert errors["metrics"]["requests"] >= 5

    view = (await admin(bridge.http_url, "/alerts")).json()
    active = {a["type"]: a for a in view["active"]}
    assert {"connections", "error_rate"} <= set(active)
    assert view["thresholds"]["max_connections"] == 1
    assert view["thresholds"]["max_latency_ms"] == 100.0
    logged = [r.alert for r in caplog.records if r.levelno == logging.ERROR and hasattr(r, "alert")]
    assert {a["type"] for a in logged} >= {"connections", "error_rate"}
    assert sum(a["type"] == "connections" for a in logged) == 1  # logged once, not per sample

    await second.close()
    resolved = await alerts.wait_for("connections", "resolved")
    assert resolved["resolved_at"]
    view = (await admin(bridge.http_url, "/alerts")).json()
    assert "connections" not in {a["type"] for a in view["active"]}
    assert ("connections", "resolved") in {(a["type"], a["state"]) for a in view["recent"]}
    samples = await scrape(bridge.http_url)
    assert value(samples, "mdbridge_alerts_fired_total", type="connections") == 1
    assert value(samples, "mdbridge_alerts_active") >= 1  # error_rate is still in the window
    await first.close()


async def test_memory_and_silent_source_alerts(
    nc: NatsClient, nats_server: NatsServer, alerts: AlertFeed
) -> None:
    js = nc.jetstream()
    await js.publish(
        status_subject("alert-src"), orjson.dumps({"source": "alert-src", "event": "down"})
    )
    async with running_bridge(
        nats_server.url, monitor_interval_s=0.1, alert_max_memory_mb=1.0
    ) as bridge:
        memory = await alerts.wait_for("memory", "firing")
        assert memory["severity"] == "critical"
        assert memory["metrics"]["memory_usage_mb"] > 1.0
        down = await alerts.wait_for("source_down:alert-src", "firing")
        assert down["severity"] == "critical"
        await js.publish(
            status_subject("alert-src"),
            orjson.dumps({"source": "alert-src", "event": "heartbeat"}),
        )
        await alerts.wait_for("source_down:alert-src", "resolved")
        sources = (await admin(bridge.http_url, "/status")).json()["sources"]
        assert {s["source"]: s["up"] for s in sources}["alert-src"] is True


def _sample(**changes: Any) -> dict[str, Any]:
    quiet = {
        "connections": 3,
        "latency_p95_ms": 4.0,
        "latency_samples": 500,
        "error_rate_percent": 0.0,
        "requests_in_window": 1000,
        "memory_usage_mb": 80.0,
    }
    return quiet | changes


def test_conditions_follow_design_md_thresholds() -> None:
    t = Thresholds()  # 1000 connections, 100 ms, 5 %, 512 MB
    assert check_alerts(t, _sample(), {"sim": True}, nats_connected=True) == []
    assert [c[0] for c in check_alerts(t, _sample(latency_p95_ms=150.0), {}, True)] == ["latency"]
    few = _sample(latency_p95_ms=150.0, latency_samples=3)  # too few samples to judge
    assert check_alerts(t, few, {}, True) == []
    assert [c[0] for c in check_alerts(t, _sample(error_rate_percent=6.0), {}, True)] == [
        "error_rate"
    ]
    idle = _sample(error_rate_percent=50.0, requests_in_window=2)
    assert check_alerts(t, idle, {}, True) == []
    assert [c[0] for c in check_alerts(t, _sample(memory_usage_mb=600.0), {}, True)] == ["memory"]
    assert [c[0] for c in check_alerts(t, _sample(connections=1001), {}, True)] == ["connections"]
    found = check_alerts(t, _sample(), {"sim": False, "xt": True}, nats_connected=False)
    assert [c[0] for c in found] == ["nats_disconnected", "source_down:sim"]


async def test_an_alert_fires_once_while_its_condition_holds() -> None:
    published: list[bytes] = []

    async def publish(body: bytes) -> None:
        published.append(body)

    book = AlertBook(Thresholds(max_connections=1), publish)
    for _ in range(3):
        await book.evaluate(_sample(connections=5), {}, nats_connected=True)
    assert [orjson.loads(b)["state"] for b in published] == ["firing"]
    await book.evaluate(_sample(connections=1), {}, nats_connected=True)
    assert [orjson.loads(b)["state"] for b in published] == ["firing", "resolved"]
    assert book.fired == {"connections": 1}
    assert [a.state for a in book.recent] == ["firing", "resolved"]
