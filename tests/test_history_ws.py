"""``subscribe`` a K-line with ``"history": N``: closed bars, then live, seamless at a minute
boundary (real nats-server, real uvicorn, a real WebSocket client)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import orjson
import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from mdbridge.natsserver import NatsServer
from schemas import SHANGHAI, DataType, data_subject
from schemas.history import history_subject
from tests.support.market import put_directory
from tests.support.records import bar, publish_bar, publish_payload
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.wsclient import DATA_TYPES, Frame, WsClient

SYMBOLS = ["609001.SH", "609002.SH", "609003.SH", "609004.SH"]  # not in the sim universe
DELAYS = (-1.0, 0.0, 0.02)
MINUTE = 60_000
M0 = int(datetime(2026, 12, 4, 10, 0, tzinfo=SHANGHAI).timestamp() * 1000)


@pytest.fixture
async def bridge(nc: NatsClient, nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    await put_directory(nc.jetstream(), SYMBOLS)
    async with running_bridge(nats_server.url) as handle:
        yield handle


class Market:
    """One symbol's 1m bars as an adapter publishes them: updates, the final, its history copy."""

    def __init__(self, js: JetStreamContext, symbol: str) -> None:
        self.js, self.symbol = js, symbol
        self.last: dict[int, dict[str, Any]] = {}  # bar start → its last published version
        self.volume = 100

    async def update(self, minute: int, *, closed: bool = False) -> int:
        self.volume += 100
        start = M0 + minute * MINUTE
        payload = bar(self.symbol, start, 10 + minute / 100, closed=closed, volume=self.volume)
        seq = await publish_bar(self.js, payload)
        if closed:
            await publish_payload(self.js, history_subject("1m", self.symbol), payload)
        self.last[start] = payload
        return seq


async def stored_after(js: JetStreamContext, subject: str, after: int, last: int) -> list[int]:
    sub = await js.subscribe(
        subject,
        ordered_consumer=True,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1
        ),
    )
    seqs: list[int] = []
    try:
        while not seqs or seqs[-1] < last:
            seqs.append((await sub.next_msg(timeout=5)).metadata.sequence.stream)
    finally:
        await sub.unsubscribe()
    return seqs


def start_of(frame: Frame) -> int:
    return int(datetime.fromisoformat(frame["data"]["timestamp"]).timestamp() * 1000)


# -1: minute 30 ends before the subscribe; otherwise while it is served (after delay_s)
@pytest.mark.parametrize("delay_s", DELAYS)
async def test_history_then_live_without_a_seam_at_a_minute_boundary(  # noqa: C901
    nc: NatsClient, bridge: BridgeHandle, delay_s: float
) -> None:
    js = nc.jetstream()
    symbol = SYMBOLS[DELAYS.index(delay_s)]  # each case its own subjects
    market = Market(js, symbol)
    for minute in range(30):  # the past: history only, the last few in the live stream too
        if minute >= 25:
            await market.update(minute)
        await market.update(minute, closed=True)
    for _ in range(3):
        await market.update(30)

    async def the_boundary() -> int:  # minute 30 ends while the client subscribes
        await asyncio.sleep(max(delay_s, 0))
        for _ in range(8):
            await market.update(30)
            await asyncio.sleep(0.003)
        await market.update(30, closed=True)
        last = 0
        for _ in range(8):
            last = await market.update(31)
            await asyncio.sleep(0.003)
        return last

    client = await WsClient.open(bridge.ws_url)
    await client.next()  # connected
    boundary = asyncio.create_task(the_boundary())
    if delay_s < 0:
        await asyncio.wait({boundary})
    request = {"symbol": symbol, "data_type": "kline", "frequency": "1m", "history": 20}
    reply = await client.request("subscribe", request)
    assert reply["data"]["subscriptions"][0]["status"] == "subscribed"
    first: list[Frame] = []
    while True:
        frame = await client.wait_for(
            lambda f: f["type"] in DATA_TYPES or f["data"].get("event") == "recovered", 10
        )
        if frame["type"] == "status":
            notice = frame["data"]
            break
        first.append(frame)
    last_seq = await boundary
    live: list[Frame] = []
    while notice["seq"] < last_seq and (not live or live[-1]["metadata"]["seq"] < last_seq):
        live.append(await client.data())
    await client.close()

    history = [f for f in first if f["metadata"].get("history")]
    forming = [f for f in first if f["metadata"].get("snapshot")]
    assert len(history) == 20
    assert len(history) + len(forming) == len(first)
    assert all(f["data"]["closed"] for f in history)
    starts = [start_of(f) for f in history + forming]
    assert starts == list(range(starts[0], starts[0] + len(starts) * MINUTE, MINUTE))
    assert starts[-1] in (M0 + 30 * MINUTE, M0 + 31 * MINUTE)  # the seam fell either side
    assert (notice["mode"], notice["recovered"], notice["replayed"]) == ("history", True, 20)
    # After the notice: exactly the stream's updates past its seq, no gap, none twice.
    subject = data_subject(DataType.KLINE, symbol, "1m")
    after = await stored_after(js, subject, notice["seq"], last_seq) if live else []
    assert [f["metadata"]["seq"] for f in live] == after
    if delay_s < 0:
        assert (starts[-1], live) == (M0 + 31 * MINUTE, [])  # all of it came as history
    assert all(f["metadata"]["seq"] <= notice["seq"] for f in forming)
    # Folding everything in by bar start gives exactly what was published last per bar.
    bars: dict[int, dict[str, Any]] = {}
    for frame in first + live:
        bars[start_of(frame)] = frame["data"]
    assert list(bars) == list(range(starts[0], M0 + 32 * MINUTE, MINUTE))
    assert all(bars[start] == market.last[start] for start in bars)


async def test_history_is_refused_where_it_cannot_apply(bridge: BridgeHandle) -> None:
    client = await WsClient.open(bridge.ws_url)
    await client.next()
    for request in (
        {"symbol": SYMBOLS[0], "data_type": "quote", "history": 5},
        {"symbol": "*.SH", "data_type": "kline", "history": 5},
        {"symbol": SYMBOLS[0], "data_type": "kline", "history": 1001},
        {"symbols": SYMBOLS, "data_type": "kline", "history": 4000},
    ):
        reply = await client.request("subscribe", request)
        assert reply["type"] == "error", request
        assert reply["data"]["code"] == "BAD_REQUEST"
    await client.close()


def test_a_history_frame_is_not_a_resume_point() -> None:
    from mdbridge.client.messages import data_message
    from mdbridge.client.state import SubscriptionState

    state = SubscriptionState("kline:600036.SH:1m", "600036.SH", "kline", "1m", last_seq=50)
    frame = {"type": "kline_data", "data": {}, "metadata": {"seq": 9000, "history": True}}
    assert state.accept(data_message(orjson.loads(orjson.dumps(frame))))
    assert state.last_seq == 50


async def test_the_python_client_takes_history_first(nc: NatsClient, bridge: BridgeHandle) -> None:
    from mdbridge.client import MarketDataClient
    from mdbridge.client.messages import DataMessage, StatusMessage

    js = nc.jetstream()
    symbol = SYMBOLS[3]
    market = Market(js, symbol)
    for minute in range(40, 45):
        await market.update(minute, closed=True)
    forming = await market.update(45)
    async with MarketDataClient(bridge.ws_url) as client:
        await client.subscribe(symbol, "kline", frequency="1m", history=3)
        got: list[DataMessage] = []
        while True:
            message = await client.recv(5)
            if isinstance(message, StatusMessage) and message.event == "recovered":
                break
            if isinstance(message, DataMessage):
                got.append(message)
        assert [m.history for m in got] == [True, True, True, False]
        assert got[-1].seq == forming
        state = client.subscriptions[f"kline:{symbol}:1m"]
        assert state.last_seq >= forming  # the notice's seq: the position, not a history seq
        live = await market.update(45)
        while not isinstance(message := await client.recv(5), DataMessage):
            pass
        assert (message.seq, message.history) == (live, False)
