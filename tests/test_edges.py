"""Promises at the edges of the protocol, each on a real bridge (issue 15).

Resume ahead of the stream, request ids on every error, ping echoing anything, filtered
frames that keep their published schema, modify of a kline period, quote frequency ``1m``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import nats
import orjson
import pytest
from nats.aio.client import Client as NatsClient
from websockets.exceptions import ConnectionClosed

from bridge.rest.asyncapi import asyncapi_document
from mdbridge.natsserver import NatsServer
from schemas import DataType
from services.provision import ensure_streams
from tests.support.framecheck import FrameSchemaError, check_frame
from tests.support.market import publish, put_directory
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.tokens import SECRET, token
from tests.support.wsclient import Frame, WsClient

SYMBOLS = ["600000.SH", "600519.SH", "000001.SZ"]


@pytest.fixture(scope="module")
async def bridge(nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    client = await nats.connect(nats_server.url)
    await ensure_streams(client.jetstream())
    await put_directory(client.jetstream(), SYMBOLS)
    async with running_bridge(
        nats_server.url, interest_debounce_s=0, max_frame_bytes=2048
    ) as handle:
        yield handle
    await client.drain()


async def open_client(bridge: BridgeHandle) -> tuple[WsClient, Frame]:
    client = await WsClient.open(bridge.ws_url)
    connected = await client.next()
    assert connected["data"]["event"] == "connected"
    return client, connected


def is_status(event: str) -> Callable[[Frame], bool]:
    return lambda f: f["type"] == "status" and f["data"]["event"] == event


# -- 1. resume ahead of the stream -------------------------------------------------------------


async def test_resume_ahead_of_the_stream_answers_a_snapshot(
    bridge: BridgeHandle, nc: NatsClient
) -> None:
    js = nc.jetstream()
    seq = await publish(js, DataType.QUOTE, "600000.SH", 10.5)
    client, connected = await open_client(bridge)
    epoch = connected["data"]["epochs"]["MD_QUOTE"]
    ahead = seq + 1_000_000
    reply = await client.request(
        "subscribe", {"symbol": "600000.SH", "resume_from": {"seq": ahead, "epoch": epoch}}
    )
    assert reply["data"]["subscriptions"][0]["status"] == "subscribed"
    snapshot = await client.data()
    assert snapshot["metadata"]["snapshot"] is True
    assert snapshot["metadata"]["seq"] >= seq
    recovered = await client.wait_for(is_status("recovered"))
    data = recovered["data"]
    assert data["recovered"] is False
    assert data["mode"] == "snapshot"
    assert "ahead" in data["reason"]
    assert data["seq"] < ahead  # a position in the stream the client can resume from
    live = await publish(js, DataType.QUOTE, "600000.SH", 10.6)
    frame = await client.data()
    assert frame["metadata"]["seq"] == live  # and live data flows at once
    await client.close()


# -- 3. request ids on every error ----------------------------------------------------------


async def test_every_error_carries_the_request_id(bridge: BridgeHandle) -> None:
    client, _ = await open_client(bridge)
    frames: list[dict[str, Any]] = [
        {"type": "subscribe", "id": "bad-data", "data": "600000.SH"},
        {"data": {}, "id": "no-type"},
        {"type": "subscribe", "id": 7, "data": {"symbol": 5}},
        {"type": "nope", "id": "unknown-type", "data": {}},
    ]
    for frame in frames:
        await client.conn.send(orjson.dumps(frame).decode())
        error = await client.wait_for(lambda f: f["type"] == "error")
        assert error["data"]["code"] == "BAD_REQUEST", error
        assert error.get("id") == frame["id"], error
    await client.close()


async def test_rate_limited_errors_carry_the_dropped_frame_id(
    nats_server: NatsServer, bridge: BridgeHandle
) -> None:
    async with running_bridge(nats_server.url, frames_per_s=1, frame_burst=1) as tight:
        client, _ = await open_client(tight)
        for n in range(3):
            await client.conn.send(orjson.dumps({"type": "ping", "id": f"p{n}"}).decode())
        limited = await client.wait_for(lambda f: f["type"] == "error")
        assert limited["data"]["code"] == "RATE_LIMITED"
        assert limited["id"] in {"p1", "p2"}
        await client.close()


async def test_oversized_frame_gets_frame_too_large_then_1008(bridge: BridgeHandle) -> None:
    client, _ = await open_client(bridge)
    big = orjson.dumps({"type": "ping", "id": "big", "data": {"x": "y" * 4096}}).decode()
    await client.conn.send(big)
    error = await client.wait_for(lambda f: f["type"] == "error")
    assert error["data"]["code"] == "FRAME_TOO_LARGE"
    with pytest.raises(ConnectionClosed):
        await client.next(5)
    assert client.conn.close_code == 1008


# -- 4. ping echoes anything ----------------------------------------------------------------


@pytest.mark.parametrize("data", ["hello", 42, [1, "two"], {"n": 1}, None])
async def test_ping_echoes_any_data(bridge: BridgeHandle, data: object) -> None:
    client, _ = await open_client(bridge)
    await client.conn.send(orjson.dumps({"type": "ping", "id": "pg", "data": data}).decode())
    pong = await client.reply("pg")
    assert pong["type"] == "pong"
    assert pong["data"] == data
    await client.close()


# -- 5. filtered frames keep the published schema ------------------------------------------


async def test_filtered_frames_keep_their_identity_fields_and_schema(
    bridge: BridgeHandle, nc: NatsClient
) -> None:
    js = nc.jetstream()
    client, _ = await open_client(bridge)
    reply = await client.request(
        "subscribe",
        {"symbol": "600519.SH", "filters": {"fields": ["last_price"]}, "snapshot": False},
    )
    assert reply["data"]["subscriptions"][0]["status"] == "subscribed"
    kline = await client.request(
        "subscribe",
        {
            "symbol": "600519.SH",
            "data_type": "kline",
            "filters": {"fields": ["close"]},
            "snapshot": False,
        },
    )
    assert kline["data"]["subscriptions"][0]["status"] == "subscribed"
    await publish(js, DataType.QUOTE, "600519.SH", 11.0)
    await publish(js, DataType.KLINE, "600519.SH", 11.0)
    seen: dict[str, Frame] = {}
    while len(seen) < 2:
        frame = await client.data()  # the client checks each frame against /asyncapi.json
        seen[frame["type"]] = frame
    assert set(seen["market_data"]["data"]) == {"symbol", "timestamp", "last_price"}
    assert set(seen["kline_data"]["data"]) == {"symbol", "timestamp", "period", "closed", "close"}
    await client.close()


async def test_unknown_filter_field_is_refused(bridge: BridgeHandle) -> None:
    client, _ = await open_client(bridge)
    reply = await client.request(
        "subscribe", {"symbol": "600519.SH", "filters": {"fields": ["last_price", "lastprice"]}}
    )
    assert reply["type"] == "error"
    assert reply["data"]["code"] == "BAD_REQUEST"
    assert "'lastprice'" in reply["data"]["message"]
    listed = await client.request("list_subscriptions")
    assert listed["data"]["subscriptions"] == []
    await client.close()


async def test_frame_check_refuses_a_frame_that_breaks_the_schema() -> None:
    broken: dict[str, Any] = {
        "type": "market_data",
        "timestamp": "2026-11-20T09:30:03.123+08:00",
        "data": {"symbol": "600000.SH", "last_price": 1.0},  # no timestamp
        "metadata": {"subscription_id": "x", "subject": "md.quote.600000.SH", "seq": 1,
                     "broker_ms": 1},
    }  # fmt: skip
    with pytest.raises(FrameSchemaError):
        check_frame(broken)
    check_frame(broken | {"data": broken["data"] | {"timestamp": broken["timestamp"]}})


async def test_the_checked_document_is_the_one_the_bridge_serves(bridge: BridgeHandle) -> None:
    async with httpx.AsyncClient(base_url=bridge.http_url) as http:
        served = (await http.get("/asyncapi.json")).json()
    assert served == orjson.loads(orjson.dumps(asyncapi_document()))


# -- 2. replays do not feed the latency monitor ---------------------------------------------


async def test_replayed_messages_are_marked_and_not_sampled_for_latency(
    bridge: BridgeHandle, nc: NatsClient
) -> None:
    js = nc.jetstream()
    start = await publish(js, DataType.QUOTE, "000001.SZ", 10.0)
    for n in range(40):
        await publish(js, DataType.QUOTE, "000001.SZ", 10.0 + n / 100)
    await asyncio.sleep(1.5)  # the history is now 1.5 s old
    sampler = bridge.app.state.observability.sampler
    client, connected = await open_client(bridge)
    epoch = connected["data"]["epochs"]["MD_QUOTE"]
    await client.request(
        "subscribe", {"symbol": "000001.SZ", "resume_from": {"seq": start, "epoch": epoch}}
    )
    replayed: list[Frame] = []
    while True:
        frame = await client.wait_for(
            lambda f: f["type"] == "market_data" or is_status("recovered")(f)
        )
        if frame["type"] == "status":
            break
        replayed.append(frame)
    assert len(replayed) == 40
    assert all(f["metadata"]["replayed"] is True for f in replayed)
    live = await publish(js, DataType.QUOTE, "000001.SZ", 11.0)
    frame = await client.data()
    assert frame["metadata"]["seq"] == live
    assert "replayed" not in frame["metadata"]
    await asyncio.sleep(0.05)
    broker_ms = [sample[1] for sample in sampler.window]
    assert broker_ms, "the live message was not sampled"
    assert max(broker_ms) < 1000, max(broker_ms)  # the 1.5 s old history never counted
    await client.close()


# -- 8. modify of a kline period is a fresh subscribe ---------------------------------------


async def test_modify_kline_period_sends_a_snapshot_and_a_seq(
    bridge: BridgeHandle, nc: NatsClient
) -> None:
    js = nc.jetstream()
    await publish(js, DataType.KLINE, "600000.SH", 10.0, period="1m")
    five = await publish(js, DataType.KLINE, "600000.SH", 10.2, period="5m")
    client, _ = await open_client(bridge)
    reply = await client.request("subscribe", {"symbol": "600000.SH", "data_type": "kline"})
    old_id = reply["data"]["subscriptions"][0]["subscription_id"]
    assert (await client.data())["metadata"]["snapshot"] is True
    modified = await client.request("modify", {"subscription_id": old_id, "frequency": "5m"})
    data = modified["data"]
    assert data["subscription_id"] == "kline:600000.SH:5m"
    assert data["previous_id"] == old_id
    assert isinstance(data["seq"], int)
    assert data["seq"] >= five
    snapshot = await client.data()
    assert snapshot["metadata"]["subscription_id"] == "kline:600000.SH:5m"
    assert snapshot["metadata"]["snapshot"] is True
    assert snapshot["metadata"]["seq"] == five
    live = await publish(js, DataType.KLINE, "600000.SH", 10.3, period="5m")
    frame = await client.data()
    assert frame["metadata"]["seq"] == live
    await client.close()


# -- 9. one time format, integer expiry, "1m" as a throttle ----------------------------------

MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00$")


async def test_subscription_times_have_milliseconds_and_1m_is_60s(
    bridge: BridgeHandle, nc: NatsClient
) -> None:
    await publish(nc.jetstream(), DataType.QUOTE, "600519.SH", 12.0)
    client, _ = await open_client(bridge)
    reply = await client.request("subscribe", {"symbol": "600519.SH", "frequency": "1m"})
    result = reply["data"]["subscriptions"][0]
    assert result["status"] == "subscribed"
    assert result["frequency"] == "60s"
    assert result["subscription_id"] == "quote:600519.SH:60s"
    await client.data()  # the snapshot: last_update is set once something was sent
    again = await client.request("subscribe", {"symbol": "600519.SH", "frequency": "60s"})
    assert again["data"]["subscriptions"][0]["status"] == "already_subscribed"
    rows = (await client.request("list_subscriptions"))["data"]["subscriptions"]
    assert MILLIS.match(rows[0]["created_at"]), rows[0]
    assert MILLIS.match(rows[0]["last_update"]), rows[0]
    await client.close()


async def test_authenticated_expires_at_is_an_integer(nats_server: NatsServer) -> None:
    async with running_bridge(nats_server.url, auth_enabled=True, auth_secret=SECRET) as secured:
        client = await WsClient.open(
            secured.ws_url, additional_headers={"Authorization": f"Bearer {token('eve')}"}
        )
        await client.next()  # connected
        authenticated = await client.wait_for(is_status("authenticated"))
        expires_at = authenticated["data"]["expires_at"]
        assert type(expires_at) is int
        assert expires_at > time.time()
        await client.close()
