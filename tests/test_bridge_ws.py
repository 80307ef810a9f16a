"""The WebSocket core against a real nats-server, a real uvicorn and a real client."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from nats.aio.client import Client as NatsClient

from mdbridge.natsserver import NatsServer
from schemas import DataType, QuoteData
from tests.support.market import publish, put_directory
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.wsclient import WsClient

SYMBOLS = ["600000.SH", "600519.SH", "000001.SZ", "300750.SZ", "688981.SH", "430047.BJ"]


@pytest.fixture
async def bridge(nc: NatsClient, nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    await put_directory(nc.jetstream(), SYMBOLS)
    async with running_bridge(nats_server.url, max_subscriptions=5) as handle:
        yield handle


@pytest.fixture
async def client(bridge: BridgeHandle) -> AsyncIterator[WsClient]:
    ws = await WsClient.open(bridge.ws_url)
    yield ws
    await ws.close()


async def test_first_frame_is_connected_status_with_limits_and_epochs(client: WsClient) -> None:
    first = await client.next()
    assert first["type"] == "status"
    assert first["data"]["event"] == "connected"
    assert first["data"]["limits"]["max_subscriptions"] == 5
    assert set(first["data"]["epochs"]) >= {"MD_QUOTE", "MD_KLINE", "MD_TRADE", "MD_DEPTH"}
    assert first["timestamp"].endswith("+08:00")


async def test_snapshot_first_then_live_updates(nc: NatsClient, client: WsClient) -> None:
    js = nc.jetstream()
    snap_seq = await publish(js, DataType.QUOTE, "600000.SH", 10.01)
    reply = await client.request("subscribe", {"symbol": "600000.SH", "data_type": "quote"})
    result = reply["data"]["subscriptions"][0]
    assert result["status"] == "subscribed"
    assert result["subscription_id"] == "quote:600000.SH:tick"
    assert result["epoch"]
    snapshot = await client.data()
    assert snapshot["metadata"]["snapshot"] is True
    assert snapshot["metadata"]["seq"] == snap_seq
    assert snapshot["data"]["last_price"] == 10.01
    live_seqs = [await publish(js, DataType.QUOTE, "600000.SH", 10.02 + i / 100) for i in range(3)]
    received = [await client.data() for _ in live_seqs]
    assert [m["metadata"]["seq"] for m in received] == live_seqs
    assert all("snapshot" not in m["metadata"] for m in received)
    QuoteData.model_validate(received[-1]["data"])
    assert received[-1]["metadata"]["subject"] == "md.quote.600000.SH"
    assert received[-1]["metadata"]["subscription_id"] == "quote:600000.SH:tick"


@pytest.mark.parametrize(
    ("data_type", "message_type", "frequency"),
    [
        ("quote", "market_data", None),
        ("kline", "kline_data", "1m"),
        ("trade", "trade_data", None),
        ("depth", "depth_data", None),
    ],
)
async def test_every_data_type_is_delivered(
    nc: NatsClient, client: WsClient, data_type: str, message_type: str, frequency: str | None
) -> None:
    request = {"symbol": "000001.SZ", "data_type": data_type, "snapshot": False}
    if frequency:
        request["frequency"] = frequency
    reply = await client.request("subscribe", request)
    assert reply["data"]["subscriptions"][0]["status"] == "subscribed"
    seq = await publish(nc.jetstream(), DataType(data_type), "000001.SZ", 12.34)
    message = await client.data()
    assert message["type"] == message_type
    assert message["metadata"]["seq"] == seq
    assert message["data"]["symbol"] == "000001.SZ"


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
async def test_throttled_subscription_delivers_only_the_latest_per_interval(
    nc: NatsClient, client: WsClient
) -> None:
    js = nc.jetstream()
    reply = await client.request(
        "subscribe",
        {"symbol": "600519.SH", "data_type": "quote", "frequency": "500ms", "snapshot": False},
    )
    assert reply["data"]["subscriptions"][0]["subscription_id"] == "quote:600519.SH:500ms"
    seqs = [await publish(js, DataType.QUOTE, "600519.SH", 1500 + i) for i in range(10)]
    message = await client.data(timeout=3)
    # conflation: the burst arrives as its newest value, not ten messages
    assert message["metadata"]["seq"] == seqs[-1]
    assert message["data"]["last_price"] == 1509
    with pytest.raises(TimeoutError):
        await client.data(timeout=0.8)


@pytest.mark.slow  # over a second on an idle machine: not in make test-fast
async def test_modify_changes_frequency_without_reconnecting(
    nc: NatsClient, client: WsClient
) -> None:
    js = nc.jetstream()
    await client.request("subscribe", {"symbol": "300750.SZ", "snapshot": False})
    reply = await client.request(
        "modify", {"subscription_id": "quote:300750.SZ:tick", "frequency": "1s"}
    )
    assert reply["type"] == "modify"
    assert reply["data"]["subscription_id"] == "quote:300750.SZ:1s"
    assert reply["data"]["previous_id"] == "quote:300750.SZ:tick"
    started = time.monotonic()
    for i in range(5):
        await publish(js, DataType.QUOTE, "300750.SZ", 200 + i)
    message = await client.data(timeout=3)
    assert message["metadata"]["subscription_id"] == "quote:300750.SZ:1s"
    assert message["data"]["last_price"] == 204
    assert time.monotonic() - started < 3
    listing = await client.request("list_subscriptions")
    assert [row["subscription_id"] for row in listing["data"]["subscriptions"]] == [
        "quote:300750.SZ:1s"
    ]


async def test_list_subscriptions_counts_what_was_sent(nc: NatsClient, client: WsClient) -> None:
    await client.request("subscribe", {"symbols": ["600000.SH", "688981.SH"], "snapshot": False})
    seq = await publish(nc.jetstream(), DataType.QUOTE, "688981.SH", 55.5)
    await client.data()
    listing = await client.request("list_subscriptions")
    rows = {row["subscription_id"]: row for row in listing["data"]["subscriptions"]}
    assert set(rows) == {"quote:600000.SH:tick", "quote:688981.SH:tick"}
    star = rows["quote:688981.SH:tick"]
    assert star["messages"] == 1
    assert star["bytes"] > 100
    assert star["last_seq"] == seq
    assert star["dropped"] == 0
    assert star["created_at"].endswith("+08:00")
    assert star["last_update"] is not None
    assert rows["quote:600000.SH:tick"]["messages"] == 0


async def test_unsubscribe_stops_delivery(nc: NatsClient, client: WsClient) -> None:
    js = nc.jetstream()
    await client.request("subscribe", {"symbols": ["600000.SH", "000001.SZ"], "snapshot": False})
    reply = await client.request("unsubscribe", {"symbols": ["600000.SH"], "data_type": "quote"})
    assert reply["data"] == {"removed": ["quote:600000.SH:tick"], "not_found": []}
    await publish(js, DataType.QUOTE, "600000.SH", 10.5)
    kept = await publish(js, DataType.QUOTE, "000001.SZ", 11.5)
    message = await client.data()
    assert message["metadata"]["seq"] == kept
    assert message["data"]["symbol"] == "000001.SZ"


async def test_unknown_symbols_get_suggestions_and_do_not_fail_the_others(
    client: WsClient,
) -> None:
    reply = await client.request(
        "subscribe", {"symbols": ["600000", "浦发银行", "600001.SH", "PFYH", "600519.SH"]}
    )
    results = {r["symbol"]: r for r in reply["data"]["subscriptions"]}
    assert results["600519.SH"]["status"] == "subscribed"
    for bad in ["600000", "浦发银行", "600001.SH", "PFYH"]:
        assert results[bad]["status"] == "error"
        assert results[bad]["code"] == "UNKNOWN_SYMBOL"
        assert "600000.SH" in results[bad]["suggestions"], bad


async def test_subscription_limit_reports_its_value(client: WsClient) -> None:
    reply = await client.request("subscribe", {"symbols": SYMBOLS, "snapshot": False})
    statuses = [r["status"] for r in reply["data"]["subscriptions"]]
    assert statuses == ["subscribed"] * 5 + ["error"]
    assert reply["data"]["subscriptions"][5]["code"] == "SUBSCRIPTION_LIMIT"
    assert reply["data"]["limit"] == {"name": "max_subscriptions", "value": 5}
    error = await client.wait_for(lambda f: f["type"] == "error")
    assert error["data"]["code"] == "SUBSCRIPTION_LIMIT"
    assert error["data"]["limit"] == {"name": "max_subscriptions", "value": 5}


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"type": "teleport", "id": "x"}', "unknown message type"),
        ('{"type": "subscribe", "id": "x", "data": {}}', "exactly one of"),
        ('{"type": "subscribe", "id": "x", "data": {"symbol": 600000}}', "symbol"),
        ('{"type": "subscribe", "id": "x", "data": {"symbol": "600000.SH", "frequency": "2h"}}',
         "frequency"),
        ('{"type": "modify", "id": "x", "data": {}}', "subscription_id"),
    ],
)  # fmt: skip
async def test_malformed_frames_get_bad_request_and_the_connection_survives(
    client: WsClient, raw: str, needle: str
) -> None:
    await client.conn.send(raw)
    error = await client.wait_for(lambda f: f["type"] == "error")
    assert error["data"]["code"] == "BAD_REQUEST"
    assert needle in error["data"]["message"]
    pong = await client.request("ping", {"n": 1})
    assert pong["type"] == "pong"
    assert pong["data"] == {"n": 1}


async def test_oversized_frame_closes_with_1008(bridge: BridgeHandle) -> None:
    client = await WsClient.open(bridge.ws_url)
    await client.conn.send('{"type":"ping","data":{"pad":"' + "x" * 70_000 + '"}}')
    await client.conn.wait_closed()
    assert client.conn.close_code == 1008


async def test_disconnect_frees_every_subscription_and_interest(
    bridge: BridgeHandle, nc: NatsClient
) -> None:
    hub = bridge.runtime.hub
    assert hub.interest_count() == 0
    clients = [await WsClient.open(bridge.ws_url) for _ in range(3)]
    for ws in clients:
        reply = await ws.request(
            "subscribe", {"symbols": ["600000.SH", "000001.SZ"], "data_type": "quote"}
        )
        assert len(reply["data"]["subscriptions"]) == 2
    await clients[0].request("subscribe", {"symbol": "600519.SH", "data_type": "depth"})
    assert hub.interest_count() == 3  # shared: three subjects, not seven subscriptions
    assert hub.channel_count() == 3
    for ws in clients:
        await ws.close()
    for _ in range(100):
        if hub.interest_count() == 0 and len(bridge.runtime.connections) == 0:
            break
        await asyncio.sleep(0.05)
    assert hub.interest_count() == 0
    assert hub.channel_count() == 0
    assert len(bridge.runtime.connections) == 0


async def test_a_many_symbol_subscribe_costs_one_consumer_update(
    bridge: BridgeHandle, client: WsClient
) -> None:
    hub = bridge.runtime.hub
    before = hub.feed_reconfigurations()
    reply = await client.request("subscribe", {"symbols": SYMBOLS[:5], "data_type": "trade"})
    assert [r["status"] for r in reply["data"]["subscriptions"]] == ["subscribed"] * 5
    assert hub.feed_reconfigurations() - before == 1


async def test_health_and_readiness(bridge: BridgeHandle) -> None:
    async with httpx.AsyncClient(base_url=bridge.http_url) as http:
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["ready"] is True
        assert ready.json()["symbols"] >= len(SYMBOLS)


async def test_publish_to_client_latency_is_well_under_100ms(
    nc: NatsClient, client: WsClient
) -> None:
    """Well under 100 ms, with generous headroom (timing lives in docs/benchmarks.md)."""
    js = nc.jetstream()
    await client.request("subscribe", {"symbol": "600000.SH", "snapshot": False})
    latencies = []
    for i in range(300):
        sent = time.time()
        await publish(js, DataType.QUOTE, "600000.SH", 10 + (i % 50) / 100)
        message = await client.data()
        latencies.append((message["_received"] - sent) * 1000)
    p50 = statistics.median(latencies)
    p99 = statistics.quantiles(latencies, n=100)[98]
    assert p50 < 50, f"p50 {p50:.1f} ms"
    assert p99 < 100, f"p99 {p99:.1f} ms"
