"""Every request is answered, and ``/readyz`` says whether the bridge can serve (issue 14).

A stream at its ``max_consumers`` (filled by someone else's consumers) must not leave a
subscribe or a resume waiting in silence, nor cut the live feed of those already served.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy, ConsumerConfig

from mdbridge.natsserver import NatsServer
from schemas import DataType
from tests.support.market import publish, put_directory
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.wsclient import WsClient

SYMBOLS = ["600000.SH", "600519.SH", "000001.SZ", "300750.SZ"]
ANSWER_WITHIN_S = 5.0  # well under resume_timeout_s (30 s), which it used to take


@pytest.fixture
async def bridge(
    fresh_nc: NatsClient, fresh_nats_server: NatsServer
) -> AsyncIterator[BridgeHandle]:
    await put_directory(fresh_nc.jetstream(), SYMBOLS)
    async with running_bridge(fresh_nats_server.url, interest_debounce_s=0) as handle:
        yield handle


async def fill(nc: NatsClient, stream: str, room: int) -> list[str]:
    """Set the stream's max_consumers to what it holds plus ``room``; fill that with durables."""
    js = nc.jetstream()
    info = await js.stream_info(stream)
    config = info.config
    config.max_consumers = (info.state.consumer_count or 0) + room
    await js.update_stream(config)
    names = [f"filler{i}" for i in range(room)]
    for name in names:
        await js.add_consumer(stream, ConsumerConfig(durable_name=name, ack_policy=AckPolicy.NONE))
    return names


async def readyz(bridge: BridgeHandle) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(bridge.http_url + "/readyz")


async def test_a_full_stream_gets_coded_answers_and_keeps_live_subscribers(
    fresh_nc: NatsClient, bridge: BridgeHandle
) -> None:
    js = fresh_nc.jetstream()
    assert (await readyz(bridge)).status_code == 200
    watcher = await WsClient.open(bridge.ws_url)
    await watcher.request("subscribe", {"symbol": SYMBOLS[0], "snapshot": False})
    fillers = await fill(fresh_nc, "MD_QUOTE", 3)

    # A new subject replaces the shared consumer: the old one must go first to make room,
    # and neither subscriber may be left without data.
    newcomer = await WsClient.open(bridge.ws_url)
    reply = await newcomer.request("subscribe", {"symbol": SYMBOLS[1], "snapshot": False})
    assert reply["data"]["subscriptions"][0]["status"] == "subscribed"
    first = await publish(js, DataType.QUOTE, SYMBOLS[0], 10.0)
    second = await publish(js, DataType.QUOTE, SYMBOLS[1], 20.0)
    assert (await watcher.data())["metadata"]["seq"] == first
    assert (await newcomer.data())["metadata"]["seq"] == second

    # A resume needs a consumer of its own: none is free, so it is answered at once.
    start = reply["data"]["subscriptions"][0]["seq"]
    epoch = reply["data"]["subscriptions"][0]["epoch"]
    for i in range(3):
        await publish(js, DataType.QUOTE, SYMBOLS[2], 30 + i)
    resumer = await WsClient.open(bridge.ws_url)
    began = time.monotonic()
    await resumer.send(
        "subscribe",
        {"symbol": SYMBOLS[2], "resume_from": {"seq": start, "epoch": epoch}},
    )
    ended = await resumer.wait_for(
        lambda f: f["type"] == "status" and f["data"]["event"] == "subscription_ended",
        ANSWER_WITHIN_S,
    )
    assert time.monotonic() - began < ANSWER_WITHIN_S
    assert ended["data"]["code"] == "UNAVAILABLE"
    response = await readiness(bridge, 503)
    assert response.status_code == 503
    assert "MD_QUOTE" in response.json()["reason"]

    # Room again: ready again, and the watcher never lost its feed.
    await js.delete_consumer("MD_QUOTE", fillers[0])
    assert (await readiness(bridge, 200)).status_code == 200
    third = await publish(js, DataType.QUOTE, SYMBOLS[0], 10.5)
    assert (await watcher.data())["metadata"]["seq"] == third
    for client in (watcher, newcomer, resumer):
        await client.close()


async def readiness(bridge: BridgeHandle, status: int, timeout: float = 10.0) -> httpx.Response:
    """The first /readyz answer with ``status`` (it reads the broker every ROOM_CHECK_S)."""
    deadline = time.monotonic() + timeout
    while True:
        response = await readyz(bridge)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.2)


async def test_a_subscribe_that_finds_no_room_is_answered_and_retried(
    fresh_nc: NatsClient, bridge: BridgeHandle
) -> None:
    js = fresh_nc.jetstream()
    fillers = await fill(fresh_nc, "MD_TRADE", 1)
    client = await WsClient.open(bridge.ws_url)
    began = time.monotonic()
    reply = await client.request(
        "subscribe", {"symbol": SYMBOLS[3], "data_type": "trade", "snapshot": False}
    )
    assert time.monotonic() - began < ANSWER_WITHIN_S
    assert reply["type"] == "error"
    assert reply["data"]["code"] == "UNAVAILABLE"
    response = await readiness(bridge, 503)
    assert response.status_code == 503
    assert "MD_TRADE" in response.json()["reason"]
    await js.delete_consumer("MD_TRADE", fillers[0])
    reply = await client.request(
        "subscribe", {"symbol": SYMBOLS[3], "data_type": "trade", "snapshot": False}
    )
    assert reply["data"]["subscriptions"][0]["status"] == "subscribed"
    seq = await publish(js, DataType.TRADE, SYMBOLS[3], 40.0)
    assert (await client.data())["metadata"]["seq"] == seq
    # Its feed took the freed place: full again, so still not ready for the next resume...
    assert (await readiness(bridge, 503)).status_code == 503
    info = await js.stream_info("MD_TRADE")
    info.config.max_consumers = (info.config.max_consumers or 0) + 1
    await js.update_stream(info.config)
    assert (await readiness(bridge, 200)).status_code == 200  # ...until there is room
    await client.close()


async def test_a_snapshot_that_cannot_be_read_ends_the_subscription_with_a_code(
    fresh_nc: NatsClient, bridge: BridgeHandle
) -> None:
    js = fresh_nc.jetstream()
    await publish(js, DataType.DEPTH, SYMBOLS[0], 50.0)
    info = await js.stream_info("MD_DEPTH")
    info.config.allow_direct = False  # last-value reads now find no responder
    await js.update_stream(info.config)
    client = await WsClient.open(bridge.ws_url)
    began = time.monotonic()
    reply = await client.request("subscribe", {"symbol": SYMBOLS[0], "data_type": "depth"})
    assert reply["data"]["subscriptions"][0]["status"] == "subscribed"
    ended = await client.wait_for(
        lambda f: f["type"] == "status" and f["data"]["event"] == "subscription_ended",
        ANSWER_WITHIN_S,
    )
    assert time.monotonic() - began < ANSWER_WITHIN_S
    assert ended["data"]["code"] == "UNAVAILABLE"
    assert ended["data"]["subscription_id"] == reply["data"]["subscriptions"][0]["subscription_id"]
    listed = await client.request("list_subscriptions")
    assert listed["data"]["subscriptions"] == []  # nothing left half-joined
    await client.close()
