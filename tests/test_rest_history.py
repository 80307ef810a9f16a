"""REST K-line history on a real nats-server and uvicorn: the history stream plus the live one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest
from nats.aio.client import Client as NatsClient

from mdbridge.natsserver import NatsServer
from schemas import STREAM_BY_TYPE, DataType
from schemas.history import history_subject
from schemas.rest import KLineSeries
from services.calendar import TradingCalendar
from services.history.simbars import day_start_ms, trading_days_before
from tests.support.records import bar, provision, publish_bar, publish_payload
from tests.support.servers import BridgeHandle, running_bridge
from tests.support.wsclient import WsClient

SYMBOL = "609005.SH"  # not in the sim universe: sims on this server backfill theirs
BUSY = "609006.SH"  # a forming bar with many updates
TODAY = date(2026, 12, 4)  # a Friday


@pytest.fixture(scope="module")
async def bridge(nats_server: NatsServer) -> AsyncIterator[BridgeHandle]:
    await provision(nats_server.url, {SYMBOL: "历史一号", BUSY: "历史二号"})
    async with running_bridge(nats_server.url) as handle:
        yield handle


@pytest.fixture
async def http(bridge: BridgeHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=bridge.http_url, timeout=10) as client:
        yield client


async def get(http: httpx.AsyncClient, symbol: str = SYMBOL, **params: str | int) -> KLineSeries:
    response = await http.get(f"/v1/klines/{symbol}", params={"period": "1d", **params})
    assert response.status_code == 200, response.text
    return KLineSeries.model_validate(response.json())


async def test_history_then_the_forming_bar_paged_both_ways(
    nc: NatsClient, http: httpx.AsyncClient
) -> None:
    js = nc.jetstream()
    days = trading_days_before(TODAY, 300, TradingCalendar())
    for i, day in enumerate(days):  # the backfilled past
        payload = bar(SYMBOL, day_start_ms(day), 1500 + i, closed=True, period="1d")
        await publish_payload(js, history_subject("1d", SYMBOL), payload)
    # The live stream's last day: yesterday's final bar (also in history) and today's forming.
    yesterday = bar(SYMBOL, day_start_ms(days[-1]), 1799, closed=True, period="1d", volume=7)
    await publish_bar(js, yesterday)
    forming = bar(SYMBOL, day_start_ms(TODAY), 1801, closed=False, period="1d")
    forming_seq = await publish_bar(js, forming)

    latest = await get(http, limit=250)
    stamps = [item.data.timestamp for item in latest.items]
    assert len(stamps) == 250
    assert stamps == sorted(set(stamps))
    assert latest.items[-1].metadata.seq == forming_seq
    assert latest.items[-1].metadata.stream == "MD_KLINE"
    assert latest.items[-1].data.closed is False
    # A bar the history holds comes from there; after its newest, the live stream's.
    assert {item.metadata.stream for item in latest.items[:-1]} == {"MD_BAR_1D"}
    assert latest.items[-2].data.volume == 100
    meta = latest.metadata
    assert (meta.adjustment, meta.history_stream, meta.stream) == ("none", "MD_BAR_1D", "MD_KLINE")
    kline_last = (await js.stream_info(STREAM_BY_TYPE[DataType.KLINE])).state.last_seq
    assert meta.seq == kline_last  # resume the WebSocket from here
    assert meta.prev_end is not None
    assert meta.next_start is None

    older = await get(http, limit=250, end=meta.prev_end.isoformat())
    assert len(older.items) == 301 - 250
    assert older.metadata.prev_end is None  # the first page: nothing before it
    assert older.items[-1].data.timestamp < latest.items[0].data.timestamp

    pages, start = [], days[0].isoformat()
    for _ in range(10):
        page = await get(http, limit=100, start=start)
        pages += page.items
        if page.metadata.next_start is None:
            break
        start = page.metadata.next_start.isoformat()
    assert [i.data.timestamp for i in pages] == [*(i.data.timestamp for i in older.items), *stamps]
    assert [i.metadata.seq for i in pages][-1] == forming_seq


async def test_rest_then_websocket_continue_at_the_answers_seq(
    nc: NatsClient, http: httpx.AsyncClient, bridge: BridgeHandle
) -> None:
    js = nc.jetstream()
    minute = day_start_ms(TODAY) + 10 * 3600_000  # 10:00 of the day
    for i in range(5):  # 1m bars of the day, each closed
        await publish_bar(js, bar(SYMBOL, minute + i * 60_000, 1800 + i, closed=True))
    forming = await publish_bar(js, bar(SYMBOL, minute + 5 * 60_000, 1805, closed=False))
    answer = KLineSeries.model_validate(
        (await http.get(f"/v1/klines/{SYMBOL}", params={"period": "1m", "limit": 3})).json()
    )
    assert answer.items[-1].metadata.seq == forming
    position, epoch = answer.metadata.seq, answer.metadata.epoch
    later = [
        await publish_bar(js, bar(SYMBOL, minute + 5 * 60_000, 1806, closed=True)),
        await publish_bar(js, bar(SYMBOL, minute + 6 * 60_000, 1807, closed=False)),
    ]
    client = await WsClient.open(bridge.ws_url)
    await client.next()
    resume = {"seq": position, "epoch": epoch}
    request = {"symbol": SYMBOL, "data_type": "kline", "frequency": "1m", "resume_from": resume}
    await client.request("subscribe", request)
    got = [(await client.data())["metadata"]["seq"] for _ in later]
    notice = await client.wait_for(lambda f: f["data"].get("event") == "recovered")
    assert got == later  # exactly what came after the REST answer: nothing lost, nothing twice
    assert notice["data"]["recovered"] is True
    await client.close()


async def test_a_forming_bar_with_many_updates_is_read_without_scanning_them(
    nc: NatsClient, http: httpx.AsyncClient
) -> None:
    js = nc.jetstream()
    symbol = BUSY
    day = date(2026, 11, 2)
    past = trading_days_before(day, 10, TradingCalendar())
    for d in past:
        stored = bar(symbol, day_start_ms(d), 1400, closed=True, period="1d")
        await publish_payload(js, history_subject("1d", symbol), stored)
    last = 0
    for i in range(600):  # every snapshot of the day updates the day bar
        forming = bar(symbol, day_start_ms(day), 1400 + i / 100, closed=False, period="1d")
        last = await publish_bar(js, forming)
    answer = await get(http, symbol, limit=5, end=f"{day.isoformat()}T23:59:59+08:00")
    assert answer.items[-1].metadata.seq == last  # the latest version, at the stream's end
    quick = await get(http, symbol, limit=5)
    assert quick.items[-1].metadata.seq == last
    assert [i.metadata.stream for i in quick.items] == ["MD_BAR_1D"] * 4 + ["MD_KLINE"]
    assert quick.metadata.scanned < 50  # not the 600 updates
    assert answer.metadata.scanned >= 600  # a window with an end reads them (paging back)
