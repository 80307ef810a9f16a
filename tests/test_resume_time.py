"""Resume from an instant: every message the stream stored since, then live, exactly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from mdbridge.client import MarketDataClient
from mdbridge.client.messages import DataMessage, StatusMessage
from mdbridge.natsserver import NatsServer
from schemas import SHANGHAI, DataType, data_subject
from tests.support.market import publish, put_directory
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.wsclient import DATA_TYPES, Frame, WsClient

SYMBOL, OTHER, CLIENT_SYMBOL = "609007.SH", "609008.SH", "609009.SH"


@pytest.fixture
async def bridge(nc: NatsClient, nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    await put_directory(nc.jetstream(), [SYMBOL, OTHER, CLIENT_SYMBOL])
    async with running_bridge(nats_server.url) as handle:
        yield handle


async def stored_since(js: JetStreamContext, symbol: str, instant: datetime) -> list[int]:
    """The truth: the subject's stream sequences from ``instant`` (JetStream by start time)."""
    subject = data_subject(DataType.QUOTE, symbol)
    last = (await js.get_last_msg("MD_QUOTE", subject)).seq
    sub = await js.subscribe(
        subject,
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=instant),
    )
    seqs: list[int] = []
    try:
        while not seqs or seqs[-1] < (last or 0):
            seqs.append((await sub.next_msg(timeout=5)).metadata.sequence.stream)
    finally:
        await sub.unsubscribe()
    return seqs


async def an_instant_between(js: JetStreamContext, symbol: str, before: int) -> datetime:
    for i in range(before):
        await publish(js, DataType.QUOTE, symbol, 50 + i / 100)
    await asyncio.sleep(0.05)
    instant = datetime.now(UTC)
    await asyncio.sleep(0.05)
    return instant


async def test_resume_from_a_time_replays_the_stream_from_that_instant_then_live(
    nc: NatsClient, bridge: BridgeHandle
) -> None:
    js = nc.jetstream()
    instant = await an_instant_between(js, SYMBOL, 5)
    for i in range(20):  # interleaved with another symbol's, which must not appear
        await publish(js, DataType.QUOTE, SYMBOL, 51 + i / 100)
        await publish(js, DataType.QUOTE, OTHER, 3 + i / 100)

    async def keep_publishing() -> list[int]:  # live messages while the replay runs
        seqs = []
        for i in range(30):
            seqs.append(await publish(js, DataType.QUOTE, SYMBOL, 52 + i / 100))
            await asyncio.sleep(0.005)
        return seqs

    client = await WsClient.open(bridge.ws_url)
    await client.next()  # connected
    live = asyncio.create_task(keep_publishing())
    since = instant.astimezone(SHANGHAI).isoformat()  # "2026-12-05T13:00:00.123+08:00"
    reply = await client.request("subscribe", {"symbol": SYMBOL, "resume_from": {"time": since}})
    assert reply["data"]["subscriptions"][0]["status"] == "subscribed"
    frames: list[Frame] = []
    while True:
        frame = await client.wait_for(
            lambda f: f["type"] in DATA_TYPES or f["data"].get("event") == "recovered", 10
        )
        if frame["type"] == "status":
            recovered = frame
            break
        frames.append(frame)
    replayed = len(frames)
    last_live = (await live)[-1]
    while not frames[replayed:] or frames[-1]["metadata"]["seq"] < last_live:
        frames.append(await client.data())
    await client.close()
    seqs = [f["metadata"]["seq"] for f in frames]
    assert seqs == await stored_since(js, SYMBOL, instant)  # no gap, no duplicate, in order
    assert all(f["metadata"]["subject"] == f"md.quote.{SYMBOL}" for f in frames)
    assert not any(f["metadata"].get("snapshot") for f in frames)
    notice = recovered["data"]
    assert (notice["recovered"], notice["mode"]) == (True, "replay")
    assert notice["replay_complete"] is True
    assert notice["replayed"] == replayed >= 20
    assert notice["seq"] >= seqs[replayed - 1]  # a resume point covering the replay


async def test_before_the_retained_history_the_replay_starts_at_the_oldest(
    nc: NatsClient, bridge: BridgeHandle
) -> None:
    js = nc.jetstream()
    seq = await publish(js, DataType.QUOTE, OTHER, 4.0)
    client = await WsClient.open(bridge.ws_url)
    await client.next()
    ancient = {"time": "2001-01-01T09:30:00"}  # naive: Shanghai
    await client.request("subscribe", {"symbol": OTHER, "resume_from": ancient})
    first = await client.wait_for(lambda f: f["type"] in DATA_TYPES, 10)
    assert first["metadata"]["seq"] <= seq
    notice = await client.wait_for(lambda f: f["data"].get("event") == "recovered", 10)
    assert notice["data"]["recovered"] is False
    assert "no longer retained" in notice["data"]["reason"]
    bad = await client.request(
        "subscribe", {"symbol": OTHER, "resume_from": {"time": since_text(), "seq": 1}}
    )
    assert bad["type"] == "error"
    await client.close()


def since_text() -> str:
    return datetime.now(SHANGHAI).isoformat()


async def test_the_python_client_replays_since_an_instant(
    nc: NatsClient, bridge: BridgeHandle
) -> None:
    js = nc.jetstream()
    instant = await an_instant_between(js, CLIENT_SYMBOL, 3)
    after = [await publish(js, DataType.QUOTE, CLIENT_SYMBOL, 60 + i / 100) for i in range(4)]
    async with MarketDataClient(bridge.ws_url) as client:
        await client.subscribe(CLIENT_SYMBOL, since=instant)
        got: list[int] = []
        while True:
            message = await client.recv(5)
            if isinstance(message, StatusMessage) and message.event == "recovered":
                break
            if isinstance(message, DataMessage):
                got.append(message.seq)
        assert got == after
        live = await publish(js, DataType.QUOTE, CLIENT_SYMBOL, 61)
        while not isinstance(message := await client.recv(5), DataMessage):
            pass
        assert message.seq == live
