"""REST and WebSocket never disagree: same seq, same data, under live updates."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from nats.aio.client import Client as NatsClient

from mdbridge.natsserver import NatsServer
from schemas import DataType
from tests.support.market import publish, put_directory
from tests.support.records import bar, publish_bar
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.wsclient import WsClient

QUOTED = "601888.SH"
BARRED = "600900.SH"
MINUTE = 60_000


@pytest.fixture
async def bridge(nc: NatsClient, nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    await put_directory(nc.jetstream(), [QUOTED, BARRED])
    async with running_bridge(nats_server.url) as handle:
        yield handle


async def _collect(client: WsClient, until_seq: int, into: dict[int, dict[str, Any]]) -> None:
    while not into or max(into) < until_seq:
        message = await client.data(timeout=10)
        into[message["metadata"]["seq"]] = message


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
async def test_rest_quote_equals_the_websocket_message_with_the_same_seq(
    nc: NatsClient, bridge: BridgeHandle
) -> None:
    js = nc.jetstream()
    await publish(js, DataType.QUOTE, QUOTED, 80.0)
    ws = await WsClient.open(bridge.ws_url)
    reply = await ws.request("subscribe", {"symbol": QUOTED})
    assert reply["data"]["subscriptions"][0]["status"] == "subscribed"
    pushed: dict[int, dict[str, Any]] = {}
    done = asyncio.Event()
    last_seq = 0

    async def keep_publishing() -> None:
        nonlocal last_seq
        for i in range(120):
            last_seq = await publish(js, DataType.QUOTE, QUOTED, 80 + (i % 40) / 100)
            await asyncio.sleep(0.005)
        done.set()

    publisher = asyncio.create_task(keep_publishing())
    seen: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=bridge.http_url) as http:
        while not done.is_set():
            response = await http.get(f"/v1/quotes/{QUOTED}")
            assert response.status_code == 200
            seen.append(response.json())
    await publisher
    await _collect(ws, last_seq, pushed)
    await ws.close()

    distinct = {body["metadata"]["seq"] for body in seen}
    assert len(distinct) >= 5, "the REST reads should have landed on many live values"
    for body in seen:
        message = pushed[body["metadata"]["seq"]]  # KeyError: REST saw a value /ws never pushed
        assert body["data"] == message["data"]
        assert body["metadata"]["subject"] == message["metadata"]["subject"]


async def test_every_rest_kline_equals_the_bar_pushed_over_websocket(
    nc: NatsClient, bridge: BridgeHandle
) -> None:
    js = nc.jetstream()
    ws = await WsClient.open(bridge.ws_url)
    reply = await ws.request(
        "subscribe", {"symbol": BARRED, "data_type": "kline", "frequency": "1m", "snapshot": False}
    )
    assert reply["data"]["subscriptions"][0]["status"] == "subscribed"
    first_minute = (int(time.time() * 1000) // MINUTE - 30) * MINUTE
    pushed: dict[int, dict[str, Any]] = {}
    during: list[dict[str, Any]] = []
    last_seq = 0
    async with httpx.AsyncClient(base_url=bridge.http_url) as http:
        for minute in range(12):
            start = first_minute + minute * MINUTE
            for step in range(4):  # three updates, then the closing version
                payload = bar(BARRED, start, 30 + minute / 10 + step / 100, closed=step == 3)
                last_seq = await publish_bar(js, payload)
            if minute % 3 == 0:  # read while the bars are still being written
                during.append((await http.get(f"/v1/klines/{BARRED}")).json())
        await _collect(ws, last_seq, pushed)
        final = (await http.get(f"/v1/klines/{BARRED}", params={"limit": 100})).json()
    await ws.close()

    for body in during:
        assert body["items"]
        for item in body["items"]:
            assert item["data"] == pushed[item["metadata"]["seq"]]["data"]
    last_pushed: dict[str, dict[str, Any]] = {}
    for seq in sorted(pushed):
        last_pushed[pushed[seq]["data"]["timestamp"]] = pushed[seq]
    assert len(final["items"]) == len(last_pushed) == 12
    for item in final["items"]:
        message = last_pushed[item["data"]["timestamp"]]
        assert item["metadata"]["seq"] == message["metadata"]["seq"]
        assert item["data"] == message["data"]
        assert item["data"]["closed"] is True
