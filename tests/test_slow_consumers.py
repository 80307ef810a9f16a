"""Slow consumers: quotes conflate (with a notice and a count), other types end with 4009."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest
from nats.aio.client import Client as NatsClient

from bridge.settings import BridgeSettings
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


async def steady(nc: NatsClient, symbols: list[str], per_s: float, seconds: float) -> int:
    """Padded quotes (~1.3 kB) at ``per_s`` per symbol: ~0.5 MB/s for two symbols."""
    bodies = [
        (
            data_subject(DataType.QUOTE, s),
            orjson.dumps(payload_for(DataType.QUOTE, s, 10) | {"padding": "x" * 1000}),
        )
        for s in symbols
    ]
    loop = asyncio.get_running_loop()
    began, sent = loop.time(), 0
    while (elapsed := loop.time() - began) < seconds:
        while sent < elapsed * per_s:
            for subject, body in bodies:
                await nc.publish(subject, body)
            sent += 1
        await nc.flush()
        await asyncio.sleep(0.01)
    return sent * len(bodies)


def freshness_bound_ms(settings: BridgeSettings, read_bytes_per_s: float) -> float:
    """docs/protocol.md, "Slow consumers": the age of what a slow reader reads, at most."""
    in_flight = settings.send_buffer_bytes + settings.batch_max_bytes + KERNEL_SLACK_BYTES
    return settings.queue_max_age_ms + 1000 * in_flight / read_bytes_per_s


KERNEL_SLACK_BYTES = 64 * 1024  # the client's receive window and one socket write past lowat
READ_RATE = 40_000  # bytes/s: finding 3's reader


async def test_a_slow_reader_gets_the_notice_first_and_data_no_older_than_the_bound(
    nc: NatsClient, nats_server: NatsServer
) -> None:
    symbols = ["600000.SH", "600519.SH"]
    await put_directory(nc.jetstream(), symbols)
    async with running_bridge(nats_server.url, send_buffer_bytes=16 * 1024) as bridge:
        reader = await SlowReader.open(bridge.ws_url, rcvbuf=4096)
        await reader.send("subscribe", {"symbols": symbols, "snapshot": False}, "sub")
        publishing = asyncio.create_task(steady(nc, symbols, 200, 8.0))  # ~10x the read rate
        frames = await reader.read_paced(READ_RATE, 7.0)
        await publishing
        reader.close()
    kinds = [
        "notice" if f["type"] == "status" and f["data"]["event"] == "slow_consumer" else f["type"]
        for _, f in frames
    ]
    assert "notice" in kinds, kinds[:20]
    first_notice = kinds.index("notice")
    notice = frames[first_notice][1]["data"]
    assert notice["action"] == "conflated"
    assert notice["reason"] == "age"
    assert sum(notice["conflated"].values()) > 0
    # The notice came ahead of the conflated data: it is near the start, not behind the backlog.
    data_before = sum(1 for k in kinds[:first_notice] if k == "market_data")
    assert data_before < 100, f"{data_before} data frames before the notice"
    ages = [
        at - f["metadata"]["broker_ms"]
        for at, f in frames[first_notice:]
        if f["type"] == "market_data"
    ]
    assert len(ages) > 20
    bound = freshness_bound_ms(bridge.settings, READ_RATE)
    ages.sort()
    print(
        f"slow reader at {READ_RATE} B/s: {len(ages)} data frames after the notice, age p50 "
        f"{ages[len(ages) // 2]:.0f} ms max {ages[-1]:.0f} ms, bound {bound:.0f} ms"
    )
    assert ages[-1] <= bound, f"data {ages[-1]:.0f} ms old, bound {bound:.0f} ms"
