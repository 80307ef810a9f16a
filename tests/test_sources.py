"""Data-source health: silent or failed sources are reported to the clients they feed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from nats.aio.client import Client as NatsClient

from mdbridge.natsserver import NatsServer
from schemas import STATUS_STREAM, status_subject
from schemas.subjects import STATUS_PREFIX
from schemas.timefmt import now_iso
from tests.support.market import put_directory
from tests.support.scrape import admin, scrape, value
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.wsclient import Frame, WsClient

SYMBOLS = ["600000.SH", "000001.SZ"]


@pytest.fixture
async def own_nc(fresh_nc: NatsClient) -> NatsClient:
    """A server of its own: other tests' sources must not show up here."""
    await put_directory(fresh_nc.jetstream(), SYMBOLS)
    return fresh_nc


@pytest.fixture
async def bridge(own_nc: NatsClient, fresh_nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    async with running_bridge(fresh_nats_server.url, source_timeout_s=0.6) as handle:
        yield handle


async def status(nc: NatsClient, source: str, event: str, **extra: Any) -> None:
    body = {"source": source, "event": event, "timestamp": now_iso(), **extra}
    await nc.jetstream().publish(status_subject(source), orjson.dumps(body))


def source_event(name: str) -> Any:
    def match(frame: Frame) -> bool:
        return bool(frame["type"] == "status" and frame["data"]["event"] == name)

    return match


async def no_frame(client: WsClient, predicate: Any, within: float) -> bool:
    try:
        await client.wait_for(predicate, within)
    except TimeoutError:
        return True
    return False


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
async def test_a_silent_source_is_reported_down_then_up(
    own_nc: NatsClient, bridge: BridgeHandle
) -> None:
    await status(own_nc, "feedA", "up")
    client = await WsClient.open(bridge.ws_url)
    await client.request("subscribe", {"symbol": "600000.SH", "snapshot": False})
    beats = 0
    started = time.monotonic()
    while time.monotonic() - started < 1.0:  # healthy: heartbeats well inside the timeout
        await status(own_nc, "feedA", "heartbeat")
        beats += 1
        await asyncio.sleep(0.1)
    assert await no_frame(client, source_event("source_down"), 0.1)
    down = await client.wait_for(source_event("source_down"), timeout=3)  # now silent
    assert down["data"]["source"] == "feedA"
    assert "silent" in down["data"]["reason"]
    await status(own_nc, "feedA", "heartbeat")
    up = await client.wait_for(source_event("source_up"), timeout=3)
    assert up["data"]["source"] == "feedA"
    await client.close()


async def test_a_failed_source_is_reported_only_to_the_markets_it_feeds(
    own_nc: NatsClient, bridge: BridgeHandle
) -> None:
    shanghai = await WsClient.open(bridge.ws_url)
    await shanghai.request("subscribe", {"symbol": "600000.SH", "snapshot": False})
    shenzhen = await WsClient.open(bridge.ws_url)
    await shenzhen.request("subscribe", {"symbol": "000001.SZ", "snapshot": False})

    async def beat() -> None:
        while True:
            await status(own_nc, "shOnly", "heartbeat", markets=["SH"])
            await asyncio.sleep(0.1)

    beating = asyncio.create_task(beat())
    await asyncio.sleep(0.3)
    beating.cancel()  # first: a heartbeat after "down" would rightly mean "up" again
    with contextlib.suppress(asyncio.CancelledError):
        await beating
    await status(own_nc, "shOnly", "down", markets=["SH"], reason="xtquant disconnected")
    down = await shanghai.wait_for(source_event("source_down"), timeout=3)
    assert down["data"] | {"since": None} == {
        "event": "source_down",
        "source": "shOnly",
        "reason": "xtquant disconnected",
        "since": None,
    }
    assert await no_frame(shenzhen, source_event("source_down"), 0.5)
    # A client that subscribes while the source is down is told at once.
    late = await WsClient.open(bridge.ws_url)
    await late.request("subscribe", {"symbol": "600000.SH", "snapshot": False})
    assert (await late.wait_for(source_event("source_down"), 2))["data"]["source"] == "shOnly"
    await status(own_nc, "shOnly", "up", markets=["SH"])
    assert (await shanghai.wait_for(source_event("source_up"), 3))["data"]["source"] == "shOnly"
    for client in (shanghai, shenzhen, late):
        await client.close()


@pytest.mark.parametrize("event", ["error", "disconnected", "down"])
async def test_every_reader_agrees_a_source_saying_error_is_down(
    own_nc: NatsClient, bridge: BridgeHandle, event: str
) -> None:
    source = f"feed-{event}"
    await status(own_nc, source, "up")
    client = await WsClient.open(bridge.ws_url)
    await client.request("subscribe", {"symbol": "600000.SH", "snapshot": False})
    await status(own_nc, source, event, reason="link lost")
    down = await client.wait_for(source_event("source_down"), timeout=3)
    assert down["data"]["source"] == source
    async with httpx.AsyncClient(base_url=bridge.http_url) as http:
        market = (await http.get("/v1/market/status")).json()
    rest_up = {s["source"]: s["up"] for s in market["sources"]}
    dashboard = (await admin(bridge.http_url, "/stats")).json()
    dashboard_up = {s["source"]: s["up"] for s in dashboard["sources"]}
    metric = value(await scrape(bridge.http_url), "mdbridge_source_up", source=source)
    assert rest_up[source] is False
    assert dashboard_up[source] is False
    assert metric == 0
    assert list(bridge.runtime.reliability.sources.states) == [source]
    consumers = await own_nc.jetstream().consumers_info(STATUS_STREAM)
    followers = [c for c in consumers if c.config.filter_subject == f"{STATUS_PREFIX}.>"]
    assert len(followers) == 1  # one reader of md.status.>, one meaning of down
    await client.close()
