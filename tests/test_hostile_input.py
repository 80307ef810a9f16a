"""Hostile input: generated frames through one real connection, injection-looking symbols.

The fuzz test drives hypothesis from a worker thread while the event loop (bridge, clients,
publisher) keeps running here, so one connection sees every generated frame and a second
client's live feed is checked for gaps at the end.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import nats
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats.aio.client import Client as NatsClient

from mdbridge.natsserver import NatsServer, free_port
from schemas import STREAM_BY_TYPE, DataType, Envelope, ErrorCode, StatusEvent, data_subject
from services.provision import ensure_streams
from tests.support.hostile import INJECTIONS, SYMBOLS, VALID_FILTER, item
from tests.support.market import publish, put_directory
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.wsclient import Frame, WsClient

WATCHED = "000001.SZ"
REPLY_TYPES = {
    "error", "pong", "status", "subscribe", "unsubscribe", "modify", "list_subscriptions",
    "market_data", "kline_data", "trade_data", "depth_data",
}  # fmt: skip
CODES = {code.value for code in ErrorCode}
EVENTS = {event.value for event in StatusEvent}
MIN_FRAMES = 10_000


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def own_nats(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[NatsServer]:
    """A server of this module's own: a small, known symbol directory keeps it fast."""
    store = tmp_path_factory.mktemp("hostile")
    server = NatsServer(store_dir=store, port=free_port(), log_file=store / "nats.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def bridge(own_nats: NatsServer) -> AsyncIterator[BridgeHandle]:
    client = await nats.connect(own_nats.url)
    await ensure_streams(client.jetstream())
    await put_directory(client.jetstream(), SYMBOLS)
    overrides = {
        "frames_per_s": 10**6,
        "frame_burst": 10**6,
        "max_subscriptions": 50,
        "interest_debounce_s": 0,
    }
    async with running_bridge(own_nats.url, **overrides) as handle:
        yield handle
    await client.drain()


@pytest.fixture
async def js_client(own_nats: NatsServer) -> AsyncIterator[NatsClient]:
    client = await nats.connect(own_nats.url)
    yield client
    await client.drain()


# -- checks -------------------------------------------------------------------------------------


def check_reply(frame: Frame) -> None:
    """A reply is a valid envelope of a known type; an error has a stable, non-INTERNAL code."""
    frame.pop("_received", None)
    Envelope.model_validate(frame)
    assert frame["type"] in REPLY_TYPES, frame
    data = frame["data"]
    if frame["type"] == "error":
        assert data["code"] in CODES, frame
        assert data["code"] != ErrorCode.INTERNAL, frame  # an unexpected exception: a bug
        assert isinstance(data["message"], str)
        assert len(data["message"]) < 1000
    elif frame["type"] == "subscribe":
        for result in data["subscriptions"]:
            assert result["status"] in {"subscribed", "already_subscribed", "error"}, result
            assert result["status"] != "error" or result["code"] in CODES - {"INTERNAL"}, result
    elif frame["type"] == "status":
        assert data["event"] in EVENTS, frame


async def exchange(client: WsClient, batch: list[str | bytes], seen: Counter[str]) -> None:
    """Send a batch, then a ping marker; check every reply up to the marker's pong."""
    for entry in batch:
        await client.conn.send(entry)
    marker = f"\u2603marker-{next(_markers)}"
    await client.conn.send(orjson.dumps({"type": "ping", "id": marker, "data": {}}).decode())
    while True:
        reply = await client.next(timeout=30)
        check_reply(reply)
        seen[reply["type"]] += 1
        if reply["type"] == "error":
            seen["code:" + reply["data"]["code"]] += 1
        if reply["type"] == "pong" and reply.get("id") == marker:
            return


_markers = itertools.count(1)


@pytest.mark.slow
async def test_ten_thousand_generated_frames_through_one_connection(  # noqa: C901 (one flow, top to bottom: see pyproject)
    bridge: BridgeHandle, js_client: NatsClient
) -> None:
    loop = asyncio.get_running_loop()
    js = js_client.jetstream()
    victim = await WsClient.open(bridge.ws_url)
    await victim.next()
    watcher = await WsClient.open(bridge.ws_url)
    await watcher.request("subscribe", {"symbol": WATCHED, "snapshot": False})
    published: list[int] = []
    received: list[tuple[int, float]] = []
    stop = asyncio.Event()

    async def publish_steadily() -> None:
        while not stop.is_set():
            published.append(await publish(js, DataType.QUOTE, WATCHED, 10 + len(published) % 90))
            await asyncio.sleep(0.01)

    async def collect() -> None:
        while True:
            message = await watcher.data(timeout=60)
            received.append((message["metadata"]["seq"], time.monotonic()))

    publisher = asyncio.create_task(publish_steadily())
    collector = asyncio.create_task(collect())
    seen: Counter[str] = Counter()
    sent = 0

    @settings(
        max_examples=400,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(batch=st.lists(item, min_size=25, max_size=40))  # 400 x 25: at least 10,000
    def fuzz(batch: list[str | bytes]) -> None:
        nonlocal sent
        asyncio.run_coroutine_threadsafe(exchange(victim, batch, seen), loop).result(timeout=60)
        sent += len(batch)

    started = time.monotonic()
    await asyncio.to_thread(fuzz)
    fuzz_ended = time.monotonic()
    stop.set()
    await publisher
    last = published[-1]
    for _ in range(500):
        if received and received[-1][0] >= last:
            break
        await asyncio.sleep(0.01)
    collector.cancel()

    print(f"fuzz: {sent} frames in {fuzz_ended - started:.1f}s, replies {dict(seen)}")
    assert sent >= MIN_FRAMES, sent
    assert victim.conn.close_code is None  # still open
    assert (await victim.request("ping", {"end": True}))["data"] == {"end": True}
    assert seen["error"] > sent // 4, seen  # most frames were hostile and said so
    # the bystander got every message, in order, and while the fuzz ran
    assert [seq for seq, _ in received] == published
    assert sum(1 for _, at in received if started <= at <= fuzz_ended) > len(published) // 2
    # nothing but well-formed market-data subjects ever reached NATS
    for stream in STREAM_BY_TYPE.values():
        for consumer in await js.consumers_info(stream):
            config = consumer.config
            for subject in config.filter_subjects or [config.filter_subject or ""]:
                assert VALID_FILTER.fullmatch(subject), subject
    await victim.close()
    await watcher.close()


# -- injection-looking symbols, one by one, with their exact codes ------------------------------


# Case and surrounding white space aside, these name a listed symbol or market (issue 15).
ALIASES = {
    "*.SH\n": "*.SH", "600000.SH\n": "600000.SH", " 600000.SH": "600000.SH",
    "600000.sh": "600000.SH", "600000.SH\u2028": "600000.SH", "600000.SH ": "600000.SH",
}  # fmt: skip


@pytest.mark.parametrize("bad", [s for s in INJECTIONS if s not in ("", " ")])
async def test_injection_symbols_never_reach_a_subject(bridge: BridgeHandle, bad: str) -> None:
    client = await WsClient.open(bridge.ws_url)
    await client.next()
    reply = await client.request("subscribe", {"symbols": [bad, "600519.SH"], "snapshot": False})
    first, second = reply["data"]["subscriptions"]
    assert second["status"] == "subscribed"  # one bad symbol never fails the others
    channels = bridge.runtime.hub._channels.values()
    if bad in ALIASES:  # a spelling of a listed symbol: read as it, and said so
        assert first["status"] == "subscribed"
        assert (first["symbol"], first["requested"]) == (ALIASES[bad], bad)
        assert {c.symbol for c in channels} == {ALIASES[bad], "600519.SH"}
    else:
        assert first["status"] == "error"
        assert first["code"] == "UNKNOWN_SYMBOL"
        assert [c.symbol for c in channels] == ["600519.SH"]  # no channel for the bad one
    assert all(VALID_FILTER.fullmatch(c.subject) for c in channels)
    await client.close()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"symbol": "A" * 33}, "BAD_REQUEST"),
        ({"symbols": ["600000.SH"] * 501}, "BAD_REQUEST"),
        ({"symbols": "600000.SH"}, "BAD_REQUEST"),
        ({"symbol": ["600000.SH"]}, "BAD_REQUEST"),
        ({"symbol": "600000.SH", "data_type": "orders"}, "BAD_REQUEST"),
        ({"symbol": "600000.SH", "frequency": "1e999s"}, "BAD_REQUEST"),
        ({"symbol": "600000.SH", "durable": "../x"}, "BAD_REQUEST"),
        ({"symbol": "600000.SH", "filters": {"fields": ["x"] * 65}}, "BAD_REQUEST"),
        ({"symbol": "600000.SH", "unexpected": 1}, "BAD_REQUEST"),
    ],
)
async def test_malformed_subscriptions_get_stable_codes(
    bridge: BridgeHandle, data: dict[str, Any], code: str
) -> None:
    client = await WsClient.open(bridge.ws_url)
    await client.next()
    reply = await client.request("subscribe", data)
    assert reply["type"] == "error"
    assert reply["data"]["code"] == code
    assert (await client.request("ping", {}))["type"] == "pong"
    await client.close()


async def test_binary_frames_get_bad_request_and_the_session_lives(bridge: BridgeHandle) -> None:
    client = await WsClient.open(bridge.ws_url)
    await client.next()
    await client.conn.send(b'{"type":"ping"}')
    error = await client.next()
    assert error["data"]["code"] == "BAD_REQUEST"
    assert "binary" in error["data"]["message"]
    assert (await client.request("ping", {}))["type"] == "pong"
    await client.close()


@given(st.text(max_size=40), st.sampled_from(list(DataType)), st.text(max_size=6))
def test_data_subject_builds_only_valid_subjects(
    text: str, data_type: DataType, period: str
) -> None:
    try:
        subject = data_subject(data_type, text, period)
    except ValueError:
        return
    assert VALID_FILTER.fullmatch(subject), subject
