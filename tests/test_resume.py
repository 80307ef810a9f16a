"""Resume from the broker: replay after ``seq``, then live, with no gap and no duplicate."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from nats.aio.client import Client as NatsClient

from mdbridge.natsserver import NatsServer
from schemas import DataType, data_subject
from tests.support.invariants import Received, check, stream_truth
from tests.support.market import payload_for, publish, put_directory
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.wsclient import DATA_TYPES, Frame, WsClient

SYMBOLS = ["600000.SH", "600519.SH", "000001.SZ", "300750.SZ", "688981.SH"]
DATA_SEQ = re.compile(r'"subject":"md\.quote\.600000\.SH","seq":(\d+)')


@pytest.fixture
async def bridge(nc: NatsClient, nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    await put_directory(nc.jetstream(), SYMBOLS)
    async with running_bridge(nats_server.url) as handle:
        yield handle


async def connect(bridge: BridgeHandle) -> tuple[WsClient, dict[str, str]]:
    client = await WsClient.open(bridge.ws_url)
    connected = await client.next()
    return client, connected["data"]["epochs"]


async def start_position(bridge: BridgeHandle, symbol: str) -> tuple[int, str]:
    """Subscribe on a connection that then goes away: its start position and epoch."""
    client, epochs = await connect(bridge)
    reply = await client.request("subscribe", {"symbol": symbol, "snapshot": False})
    await client.close()
    return reply["data"]["subscriptions"][0]["seq"], epochs["MD_QUOTE"]


def is_recovered(frame: Frame) -> bool:
    return bool(frame["type"] == "status" and frame["data"]["event"] == "recovered")


async def collect_until_recovered(
    client: WsClient, timeout: float = 30
) -> tuple[list[Frame], Frame]:
    data: list[Frame] = []
    while True:
        frame = await client.wait_for(lambda f: f["type"] in DATA_TYPES or is_recovered(f), timeout)
        if is_recovered(frame):
            return data, frame
        data.append(frame)


def received(frames: list[Frame]) -> list[Received]:
    return [
        Received(
            f["metadata"]["subject"], f["metadata"]["seq"], bool(f["metadata"].get("snapshot"))
        )
        for f in frames
    ]


async def test_resume_replays_what_was_missed_then_continues_live(
    nc: NatsClient, bridge: BridgeHandle
) -> None:
    js = nc.jetstream()
    first, epochs = await connect(bridge)
    await first.request("subscribe", {"symbol": "600000.SH", "snapshot": False})
    seen = [await publish(js, DataType.QUOTE, "600000.SH", 10 + i / 100) for i in range(3)]
    assert [(await first.data())["metadata"]["seq"] for _ in seen] == seen
    await first.close()
    missed = []
    for i in range(40):  # interleaved with another symbol's messages, which must not appear
        missed.append(await publish(js, DataType.QUOTE, "600000.SH", 10.5 + i / 100))
        await publish(js, DataType.QUOTE, "600519.SH", 1500 + i)

    second, _ = await connect(bridge)
    reply = await second.request(
        "subscribe",
        {"symbol": "600000.SH", "resume_from": {"seq": seen[-1], "epoch": epochs["MD_QUOTE"]}},
    )
    assert reply["data"]["subscriptions"][0]["status"] == "subscribed"
    replayed, status = await collect_until_recovered(second)
    assert [m["metadata"]["seq"] for m in replayed] == missed
    assert all(m["metadata"]["subject"] == "md.quote.600000.SH" for m in replayed)
    assert all("snapshot" not in m["metadata"] for m in replayed)
    assert status["data"]["recovered"] is True
    assert status["data"]["replayed"] == len(missed)
    assert status["data"]["seq"] >= missed[-1]
    assert status["data"]["subscription_id"] == "quote:600000.SH:tick"
    live = await publish(js, DataType.QUOTE, "600000.SH", 11)
    assert (await second.data())["metadata"]["seq"] == live
    await second.close()


async def test_nothing_missed_resumes_without_replay(nc: NatsClient, bridge: BridgeHandle) -> None:
    js = nc.jetstream()
    position, epoch = await start_position(bridge, "300750.SZ")  # a resume point already
    again, _ = await connect(bridge)
    await again.request(
        "subscribe", {"symbol": "300750.SZ", "resume_from": {"seq": position, "epoch": epoch}}
    )
    replayed, status = await collect_until_recovered(again)
    assert replayed == []
    assert status["data"]["recovered"] is True
    assert status["data"]["replayed"] == 0
    live = await publish(js, DataType.QUOTE, "300750.SZ", 200)
    assert (await again.data())["metadata"]["seq"] == live
    await again.close()


async def test_live_messages_during_catch_up_merge_without_gap_or_duplicate(
    nc: NatsClient, bridge: BridgeHandle
) -> None:
    js = nc.jetstream()
    start, epoch = await start_position(bridge, "000001.SZ")
    subject = data_subject(DataType.QUOTE, "000001.SZ")
    body = orjson.dumps(payload_for(DataType.QUOTE, "000001.SZ", 12))
    for _ in range(3000):  # history to replay
        await nc.publish(subject, body)
    await nc.flush()

    async def keep_publishing() -> None:
        for i in range(300):
            await publish(js, DataType.QUOTE, "000001.SZ", 12 + i % 50 / 100)

    publisher = asyncio.create_task(keep_publishing())
    again, _ = await connect(bridge)
    await again.request(
        "subscribe", {"symbol": "000001.SZ", "resume_from": {"seq": start, "epoch": epoch}}
    )
    frames, status = await collect_until_recovered(again)
    await publisher
    truth = await stream_truth(js, "MD_QUOTE", subject, start + 1)
    end = truth[-1][1]
    while not frames or frames[-1]["metadata"]["seq"] < end:
        frames.append(await again.data())
    report = check(received(frames), truth, start, end, "resume during live traffic")
    assert report.ok, str(report)
    assert report.expected >= 3300
    assert status["data"]["recovered"] is True
    await again.close()


async def test_changed_epoch_gives_recovered_false_and_a_snapshot(
    nc: NatsClient, bridge: BridgeHandle
) -> None:
    latest = await publish(nc.jetstream(), DataType.QUOTE, "688981.SH", 50)
    client, _ = await connect(bridge)
    await client.request(
        "subscribe",
        {"symbol": "688981.SH", "resume_from": {"seq": 1, "epoch": "2001-01-01T00:00:00+00:00"}},
    )
    frames, status = await collect_until_recovered(client)
    assert status["data"]["recovered"] is False
    assert "epoch" in status["data"]["reason"]
    assert [f["metadata"]["seq"] for f in frames] == [latest]
    assert frames[0]["metadata"]["snapshot"] is True
    await client.close()


async def test_throttled_subscription_resumes_with_the_latest_value(
    nc: NatsClient, bridge: BridgeHandle
) -> None:
    js = nc.jetstream()
    client, epochs = await connect(bridge)
    seqs = [await publish(js, DataType.QUOTE, "600519.SH", 1600 + i) for i in range(5)]
    await client.request(
        "subscribe",
        {
            "symbol": "600519.SH",
            "frequency": "1s",
            "resume_from": {"seq": seqs[0], "epoch": epochs["MD_QUOTE"]},
        },
    )
    frames, status = await collect_until_recovered(client)
    assert [f["metadata"]["seq"] for f in frames] == [seqs[-1]]
    assert status["data"]["mode"] == "latest"
    await client.close()


async def test_market_wildcard_resume_replays_every_symbol_of_the_market(
    nc: NatsClient, bridge: BridgeHandle
) -> None:
    js = nc.jetstream()
    start, epoch = await start_position(bridge, "*.SZ")
    sz = []
    for i in range(20):
        sz.append(await publish(js, DataType.QUOTE, "000001.SZ", 12 + i / 100))
        await publish(js, DataType.QUOTE, "600000.SH", 10 + i / 100)
        sz.append(await publish(js, DataType.QUOTE, "300750.SZ", 200 + i))
    again, _ = await connect(bridge)
    await again.request(
        "subscribe", {"symbol": "*.SZ", "resume_from": {"seq": start, "epoch": epoch}}
    )
    frames, status = await collect_until_recovered(again)
    assert [f["metadata"]["seq"] for f in frames] == sz
    assert status["data"]["replayed"] == len(sz)
    await again.close()


async def test_history_no_longer_retained_gives_recovered_false(
    fresh_nats_server: NatsServer, fresh_nc: NatsClient
) -> None:
    js = fresh_nc.jetstream()
    await put_directory(js, SYMBOLS)
    first = await publish(js, DataType.QUOTE, "600000.SH", 10)
    for i in range(5):
        await publish(js, DataType.QUOTE, "600000.SH", 10.1 + i / 100)
    await js.purge_stream("MD_QUOTE", keep=2)  # history before the last two is gone
    async with running_bridge(fresh_nats_server.url) as bridge:
        client, epochs = await connect(bridge)
        await client.request(
            "subscribe",
            {"symbol": "600000.SH", "resume_from": {"seq": first, "epoch": epochs["MD_QUOTE"]}},
        )
        frames, status = await collect_until_recovered(client)
        assert status["data"]["recovered"] is False
        assert "no longer retained" in status["data"]["reason"]
        assert frames
        assert frames[-1]["metadata"]["snapshot"] is True
        await client.close()


@pytest.mark.slow
async def test_a_resume_of_100k_messages_is_complete_and_quick(
    fresh_nats_server: NatsServer, fresh_nc: NatsClient
) -> None:
    nc = fresh_nc
    js = nc.jetstream()
    await put_directory(js, SYMBOLS)
    subject = data_subject(DataType.QUOTE, "600000.SH")
    body = orjson.dumps(payload_for(DataType.QUOTE, "600000.SH", 10))
    total = 100_000
    for i in range(total):
        await nc.publish(subject, body, headers={"Nats-Msg-Id": f"r{i}"})
        if i % 2000 == 1999:
            await nc.flush()
    await nc.flush()
    for _ in range(100):  # core publishes are stored asynchronously
        if (await js.stream_info("MD_QUOTE")).state.messages == total:
            break
        await asyncio.sleep(0.1)
    assert (await js.stream_info("MD_QUOTE")).state.messages == total
    async with running_bridge(fresh_nats_server.url) as bridge:
        client, epochs = await connect(bridge)
        started = time.perf_counter()
        await client.send(
            "subscribe",
            {"symbol": "600000.SH", "resume_from": {"seq": 0, "epoch": epochs["MD_QUOTE"]}},
        )
        seqs: list[int] = []
        status: dict[str, Any] = {}
        while not status:  # the data frames' seqs by pattern: parsing them all would be slow
            raw = str(await asyncio.wait_for(client.conn.recv(), 30))
            seqs += map(int, DATA_SEQ.findall(raw))
            if '"event":"recovered"' in raw:
                frames = orjson.loads(raw)
                for frame in frames["data"] if frames["type"] == "batch" else [frames]:
                    status = frame["data"] if is_recovered(frame) else status
        elapsed = time.perf_counter() - started
        assert seqs == list(range(1, total + 1))  # all, once each, in order
        assert status["replayed"] == total
        print(f"resumed {total} messages in {elapsed:.2f}s: {total / elapsed:,.0f} msg/s")
        assert elapsed < 60  # a sanity bound; the rate is measured in docs/benchmarks.md
        await client.close()
