"""Slow consumers: quotes conflate (with a notice and a count), other types end with 4009."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest
from nats.aio.client import Client as NatsClient

from mdbridge.natsserver import NatsServer
from schemas import DataType, data_subject
from tests.support.market import payload_for, put_directory
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.slowreader import SlowReader
from tests.support.wsclient import WsClient

SYMBOLS = ["600000.SH", "600519.SH", "000001.SZ"]


@pytest.fixture
async def bridge(nc: NatsClient, nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    await put_directory(nc.jetstream(), SYMBOLS)
    async with running_bridge(nats_server.url, queue_max_bytes=8192) as handle:
        yield handle


async def burst(nc: NatsClient, data_type: DataType, symbols: list[str], count: int) -> None:
    bodies = [
        (data_subject(data_type, s, "1m"), orjson.dumps(payload_for(data_type, s, 10)))
        for s in symbols
    ]
    for i in range(count):
        subject, body = bodies[i % len(bodies)]
        await nc.publish(subject, body)
    await nc.flush()


async def test_overflow_of_trades_ends_with_slow_consumer_status_and_4009(
    nc: NatsClient, bridge: BridgeHandle
) -> None:
    client = await WsClient.open(bridge.ws_url)
    await client.request(
        "subscribe", {"symbol": "000001.SZ", "data_type": "trade", "snapshot": False}
    )
    await burst(nc, DataType.TRADE, ["000001.SZ"], 3000)
    notice = await client.wait_for(
        lambda f: f["type"] == "status" and f["data"]["event"] == "slow_consumer", timeout=10
    )
    assert notice["data"]["action"] == "closed"
    await client.conn.wait_closed()
    assert client.conn.close_code == 4009


async def test_a_stalled_reader_gets_quotes_conflated_with_one_notice_and_a_count(
    nc: NatsClient, bridge: BridgeHandle
) -> None:
    stalled = await SlowReader.open(bridge.ws_url, rcvbuf=4096)
    await stalled.send(
        "subscribe", {"symbols": ["600000.SH", "600519.SH"], "snapshot": False}, "sub"
    )
    await asyncio.sleep(0.3)
    for _ in range(5):  # several MB of quotes while it reads nothing
        await burst(nc, DataType.QUOTE, ["600000.SH", "600519.SH"], 2000)
    await asyncio.sleep(0.5)
    await stalled.send("list_subscriptions", {}, "list")
    frames = []
    while (frame := await stalled.recv(timeout=5)) is not None and frame.get("id") != "list":
        frames.append(frame)
    assert frame is not None
    notices = [f for f in frames if f["type"] == "status" and f["data"]["event"] == "slow_consumer"]
    assert len(notices) == 1  # rate-limited: one per slow_consumer_notice_s (5 s)
    assert notices[0]["data"]["action"] == "conflated"
    conflated = notices[0]["data"]["conflated"]
    assert set(conflated) <= {"quote:600000.SH:tick", "quote:600519.SH:tick"}
    assert sum(conflated.values()) > 0
    dropped = sum(row["dropped"] for row in frame["data"]["subscriptions"])
    assert dropped >= sum(conflated.values())
    data = [f for f in frames if f["type"] == "market_data"]
    assert len(data) < 10_000  # conflated: far fewer than were published
    stalled.close()
