"""Heartbeats both ways: status heartbeats to clients, pings and a watchdog for dead peers."""

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
from tests.support.waiting import until
from tests.support.wsclient import WsClient

SYMBOLS = ["600000.SH", "000001.SZ"]


@pytest.fixture
async def bridge(nc: NatsClient, nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    await put_directory(nc.jetstream(), SYMBOLS)
    async with running_bridge(
        nats_server.url,
        heartbeat_interval_s=0.2,
        ws_ping_interval_s=0.3,
        ws_ping_timeout_s=0.3,
        send_timeout_s=1.0,
    ) as handle:
        yield handle


async def test_heartbeats_carry_an_increasing_counter(bridge: BridgeHandle) -> None:
    client = await WsClient.open(bridge.ws_url)
    connected = await client.next()
    assert connected["data"]["heartbeat_interval_s"] == 0.2
    beats: list[int] = []
    while len(beats) < 3:
        frame = await client.wait_for(lambda f: f["type"] == "status", timeout=2)
        if frame["data"]["event"] == "heartbeat":
            beats.append(frame["data"]["counter"])
    assert beats == list(range(beats[0], beats[0] + 3))
    await client.close()


async def test_a_client_that_never_answers_pings_is_closed_and_cleaned_up(
    bridge: BridgeHandle,
) -> None:
    runtime = bridge.runtime
    before = runtime.hub.interest_count()
    silent = await SlowReader.open(bridge.ws_url)
    await silent.send("subscribe", {"symbol": "000001.SZ", "data_type": "depth"})
    assert await until(lambda: runtime.hub.interest_count() == before + 1, 5)
    # From here on it reads nothing: pings go unanswered (interval and timeout 0.3 s).
    assert await until(lambda: len(runtime.connections) == 0, 5)
    assert runtime.hub.interest_count() == before
    silent.close()


@pytest.mark.slow
async def test_a_client_that_stops_reading_during_a_flood_is_closed_and_cleaned_up(
    nc: NatsClient, bridge: BridgeHandle
) -> None:
    runtime = bridge.runtime
    stalled = await SlowReader.open(bridge.ws_url, rcvbuf=4096)
    await stalled.send("subscribe", {"symbol": "600000.SH", "snapshot": False})
    assert await until(lambda: runtime.hub.interest_count() >= 1, 5)
    subject = data_subject(DataType.QUOTE, "600000.SH")
    padding = {"padding": "x" * 4000}  # heavy in bytes, light in messages: buffers fill fast
    body = orjson.dumps(payload_for(DataType.QUOTE, "600000.SH", 10) | padding)

    async def flood() -> None:
        while True:
            for _ in range(50):
                await nc.publish(subject, body)
            await nc.flush()
            await asyncio.sleep(0.02)

    flooding = asyncio.create_task(flood())
    try:
        # Quotes conflate, so the queue never overflows: the writer blocks in send instead,
        # and the watchdog (send_timeout_s = 1) ends the connection.
        assert await until(lambda: len(runtime.connections) == 0, 10)
    finally:
        flooding.cancel()
    assert runtime.connections.stalled >= 1
    stalled.close()
