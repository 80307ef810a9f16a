"""Ack mode: durable consumers, cumulative acks, redelivery, flow control, clean-up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy
from nats.js.errors import NotFoundError

from bridge.recovery.ackmode import consumer_name
from mdbridge.natsserver import NatsServer
from schemas import DataType
from tests.support.market import publish, put_directory
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.wsclient import DATA_TYPES, Frame, WsClient

SYMBOLS = ["600000.SH", "600519.SH", "000001.SZ", "300750.SZ", "688981.SH", "430047.BJ"]


@pytest.fixture
async def bridge(nc: NatsClient, nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    await put_directory(nc.jetstream(), SYMBOLS)
    async with running_bridge(
        nats_server.url, ack_wait_s=1.0, ack_max_pending=5, ack_inactive_threshold_s=2.0
    ) as handle:
        yield handle


def ack_request(symbol: str, durable: str, **extra: object) -> dict[str, object]:
    return {"symbol": symbol, "ack": True, "durable": durable, "snapshot": False, **extra}


async def messages(client: WsClient, count: int, timeout: float = 5) -> list[Frame]:
    return [await client.data(timeout) for _ in range(count)]


async def no_data(client: WsClient, within: float) -> bool:
    try:
        await client.wait_for(lambda f: f["type"] in DATA_TYPES, within)
    except TimeoutError:
        return True
    return False


async def test_ack_mode_needs_a_durable_name_and_tick_frequency(bridge: BridgeHandle) -> None:
    client = await WsClient.open(bridge.ws_url)
    error = await client.request("subscribe", {"symbol": "600000.SH", "ack": True})
    assert error["type"] == "error"
    assert error["data"]["code"] == "BAD_REQUEST"
    assert "durable" in error["data"]["message"]
    error = await client.request(
        "subscribe", ack_request("600000.SH", "d1", frequency="1s") | {"snapshot": True}
    )
    assert error["data"]["code"] == "BAD_REQUEST"
    error = await client.request("ack", {"subscription_id": "quote:600000.SH:tick", "seq": 1})
    assert error["data"]["code"] == "UNKNOWN_SUBSCRIPTION"
    await client.close()


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
async def test_reconnecting_with_the_same_durable_continues_at_the_first_unacked(
    nc: NatsClient, bridge: BridgeHandle
) -> None:
    js = nc.jetstream()
    client = await WsClient.open(bridge.ws_url)
    reply = await client.request("subscribe", ack_request("000001.SZ", "book"))
    result = reply["data"]["subscriptions"][0]
    assert result["status"] == "subscribed"
    assert result["ack"] is True
    assert result["continued"] is False
    key = result["subscription_id"]
    assert key == "quote:000001.SZ:tick:ack:book"
    seqs = [await publish(js, DataType.QUOTE, "000001.SZ", 12 + i / 100) for i in range(5)]
    got = await messages(client, 5)
    assert [m["metadata"]["seq"] for m in got] == seqs
    assert all(m["metadata"]["delivered"] == 1 for m in got)
    assert all(m["metadata"]["subscription_id"] == key for m in got)
    await client.send("ack", {"subscription_id": key, "seq": seqs[2]})  # cumulative: 3 acked
    await client.request("ping")  # the ack is processed before the pong
    await client.close()
    later = [await publish(js, DataType.QUOTE, "000001.SZ", 13 + i / 100) for i in range(2)]

    again = await WsClient.open(bridge.ws_url)
    reply = await again.request("subscribe", ack_request("000001.SZ", "book"))
    assert reply["data"]["subscriptions"][0]["continued"] is True
    deliveries = {
        m["metadata"]["seq"]: m["metadata"]["delivered"] for m in await messages(again, 4)
    }
    assert sorted(deliveries) == [*seqs[3:], *later]  # the broker may interleave redeliveries
    assert deliveries[seqs[3]] == deliveries[seqs[4]] == 2
    await again.send("ack", {"subscription_id": key, "seq": later[-1]})
    assert await no_data(again, 1.6)  # all acked: nothing comes back after ack_wait
    listing = await again.request("list_subscriptions")
    assert listing["data"]["subscriptions"][0]["subscription_id"] == key
    await again.request("unsubscribe", {"subscription_ids": [key]})
    name = consumer_name("anonymous@127.0.0.1", "book", key)
    with pytest.raises(NotFoundError):  # unsubscribing on purpose removes the durable
        await js.consumer_info("MD_QUOTE", name)
    await again.close()


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
async def test_unacked_messages_are_redelivered_after_ack_wait(
    nc: NatsClient, bridge: BridgeHandle
) -> None:
    js = nc.jetstream()
    client = await WsClient.open(bridge.ws_url)
    await client.request("subscribe", ack_request("600519.SH", "redo"))
    seq = await publish(js, DataType.QUOTE, "600519.SH", 1700)
    first = await client.data()
    assert (first["metadata"]["seq"], first["metadata"]["delivered"]) == (seq, 1)
    again = await client.data(timeout=5)  # ack_wait is 1 s in this bridge
    assert (again["metadata"]["seq"], again["metadata"]["delivered"]) == (seq, 2)
    await client.send("ack", {"subscription_id": first["metadata"]["subscription_id"], "seq": seq})
    assert await no_data(client, 1.6)
    await client.close()


async def test_at_most_max_ack_pending_are_in_flight(nc: NatsClient, bridge: BridgeHandle) -> None:
    js = nc.jetstream()
    client = await WsClient.open(bridge.ws_url)
    reply = await client.request("subscribe", ack_request("688981.SH", "flow"))
    key = reply["data"]["subscriptions"][0]["subscription_id"]
    seqs = [await publish(js, DataType.QUOTE, "688981.SH", 50 + i / 100) for i in range(12)]
    got = await messages(client, 5)
    assert [m["metadata"]["seq"] for m in got] == seqs[:5]
    assert await no_data(client, 0.5)  # max_ack_pending is 5 in this bridge
    await client.send("ack", {"subscription_id": key, "seq": seqs[4]})
    got = await messages(client, 5)
    assert [m["metadata"]["seq"] for m in got] == seqs[5:10]
    await client.request("unsubscribe", {"subscription_ids": [key]})
    await client.close()


async def test_a_newer_connection_takes_the_durable_over(
    nc: NatsClient, bridge: BridgeHandle
) -> None:
    old = await WsClient.open(bridge.ws_url)
    await old.request("subscribe", ack_request("300750.SZ", "twin"))
    new = await WsClient.open(bridge.ws_url)
    await new.request("subscribe", ack_request("300750.SZ", "twin"))
    ended = await old.wait_for(
        lambda f: f["type"] == "status" and f["data"]["event"] == "subscription_ended"
    )
    assert "taken over" in ended["data"]["reason"]
    seq = await publish(nc.jetstream(), DataType.QUOTE, "300750.SZ", 210)
    assert (await new.data())["metadata"]["seq"] == seq
    listing = await old.request("list_subscriptions")
    assert listing["data"]["subscriptions"] == []
    await new.request("unsubscribe", {"symbols": ["300750.SZ"]})
    await old.close()
    await new.close()


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
async def test_durables_of_clients_that_never_return_are_removed_by_the_broker(
    nc: NatsClient, bridge: BridgeHandle
) -> None:
    js = nc.jetstream()
    client = await WsClient.open(bridge.ws_url)
    reply = await client.request("subscribe", ack_request("430047.BJ", "gone"))
    key = reply["data"]["subscriptions"][0]["subscription_id"]
    name = consumer_name("anonymous@127.0.0.1", "gone", key)
    info = await js.consumer_info("MD_QUOTE", name)
    assert info.config.inactive_threshold == pytest.approx(2.0)
    assert info.config.ack_policy == AckPolicy.EXPLICIT
    await client.close()
    for _ in range(100):  # inactive_threshold is 2 s in this bridge
        try:
            await js.consumer_info("MD_QUOTE", name)
        except NotFoundError:
            break
        await asyncio.sleep(0.1)
    with pytest.raises(NotFoundError):
        await js.consumer_info("MD_QUOTE", name)


async def test_an_ack_confirms_only_what_this_connection_delivered(
    nc: NatsClient, bridge: BridgeHandle
) -> None:
    js = nc.jetstream()
    client = await WsClient.open(bridge.ws_url)
    reply = await client.request("subscribe", ack_request("600000.SH", "safe"))
    key = reply["data"]["subscriptions"][0]["subscription_id"]
    seqs = [await publish(js, DataType.QUOTE, "600000.SH", 10 + i / 100) for i in range(3)]
    assert [m["metadata"]["seq"] for m in await messages(client, 3)] == seqs
    await client.close()  # nothing acked: the bridge hands the three back to the broker

    again = await WsClient.open(bridge.ws_url)
    await again.send("subscribe", ack_request("600000.SH", "safe"))
    await again.send("ack", {"subscription_id": key, "seq": seqs[-1]})  # before any delivery
    got = await messages(again, 3)
    assert sorted(m["metadata"]["seq"] for m in got) == seqs
    assert all(m["metadata"]["delivered"] == 2 for m in got)
    await again.request("unsubscribe", {"subscription_ids": [key]})
    await again.close()
