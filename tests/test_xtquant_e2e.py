"""xtquant-shaped data through the stand-in, the adapter, JetStream and the bridge to a client.

Every expected value below is written out by hand from the raw record, so the mapping is
checked field by field: lots vs shares, price ticks under binary noise, epoch ms to Shanghai
time, the phase in ``openInt``, zero-price levels, bars, Level-2 trades and books.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import nats
import orjson
import pytest

from mdbridge.natsserver import NatsServer
from schemas import SHANGHAI, SYMBOLS_BUCKET
from services.settings import AdapterSettings
from tests.support.adapters import eventually, running_adapter
from tests.support.framelog import FrameLog
from tests.support.servers import running_bridge
from tests.support.wsclient import Frame, WsClient
from tests.support.xtfake import (
    FakeServer,
    bar_record,
    fresh_server,
    l2quote_record,
    price,
    tick_record,
    transaction_record,
)

# Whole processes, end to end: not in `make test-fast`.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SYMBOLS = ("600000.SH", "000001.SZ", "510300.SH")
T0 = int(datetime(2026, 11, 20, 10, 0, 3, 120_000, tzinfo=SHANGHAI).timestamp() * 1000)
ISO0 = "2026-11-20T10:00:03.120+08:00"
# per symbol: tick + 6 bar periods + l2quote + l2transaction
SUBSCRIPTIONS = len(SYMBOLS) * 9


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    with fresh_server() as server:
        yield server


def settings(url: str, **overrides: Any) -> AdapterSettings:
    base: dict[str, Any] = {
        "nats_url": url,
        "source_id": "xt",
        "calendar": "always_open",
        "xt_symbols": SYMBOLS,
        "xt_level2": True,
        "status_interval_s": 0.3,
    }
    return AdapterSettings(**(base | overrides))


@pytest.fixture
async def client(fresh_nats_server: NatsServer, fake: FakeServer) -> AsyncIterator[FrameLog]:
    """The adapter running on the stand-in, a bridge, and a client of that bridge."""
    async with running_adapter("xtquant", settings(fresh_nats_server.url)):
        await eventually(lambda: len(fake.live()) == SUBSCRIPTIONS)
        async with running_bridge(fresh_nats_server.url) as bridge:
            ws = await WsClient.open(bridge.ws_url)
            try:
                await ws.wait_for(lambda f: f["data"].get("event") == "connected")
                yield FrameLog(ws, bridge.ws_url)
            finally:
                await ws.close()


async def subscribe(log: FrameLog, data_type: str, symbol: str, **extra: Any) -> None:
    data = {"symbol": symbol, "data_type": data_type, **extra}
    request_id = await log.ws.send("subscribe", data)
    reply = await log.find(lambda f: f.get("id") == request_id)
    assert [s["status"] for s in reply["data"]["subscriptions"]] == ["subscribed"], reply


def data_of(frame: Frame) -> dict[str, Any]:
    return dict(frame["data"])


async def next_data(
    log: FrameLog, type_: str, symbol: str, timestamp: str | None = None
) -> dict[str, Any]:
    frame = await log.find(
        lambda f: (
            f["type"] == type_
            and f["data"].get("symbol") == symbol
            and (timestamp is None or f["data"].get("timestamp") == timestamp)
        )
    )
    return data_of(frame)


BOOK_600000 = {  # lots, as the terminal sends them
    "bids": [(price(1036 - i), lots) for i, lots in enumerate([2429, 7127, 7146, 9111, 12189])],
    "asks": [(price(1037 + i), lots) for i, lots in enumerate([10929, 12401, 6671, 4555, 6708])],
}


def tick_600000(time_ms: int, last: int, lots: int, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "open_": price(1020),
        "high": price(1041),
        "low": price(1015),
        "last_close": 10.2,
        "lots": lots,
        "amount": lots * 100 * 10.3,
        **BOOK_600000,
    }
    return tick_record(time_ms, price(last), **(fields | extra))


async def test_ticks_become_quotes_and_depth_field_by_field(
    client: FrameLog, fake: FakeServer
) -> None:
    for data_type in ("quote", "depth"):
        await subscribe(client, data_type, "600000.SH")
    await subscribe(client, "quote", "510300.SH")
    await subscribe(client, "quote", "000001.SZ")

    raw = tick_600000(T0, 1037, 758613, pvolume=75861284, amount=786381234.5)
    assert raw["bidPrice"][0] == 10.36
    assert raw["askPrice"][0] != 10.37
    fake.push_ticks({"600000.SH": raw})
    quote = await next_data(client, "market_data", "600000.SH", ISO0)
    assert quote == {
        "symbol": "600000.SH",
        "timestamp": ISO0,
        "last_price": 10.37,
        "open": 10.2,
        "high": 10.41,
        "low": 10.15,
        "prev_close": 10.2,
        "change": 0.17,
        "change_percent": 1.67,
        "volume": 75861284,  # pvolume: shares
        "amount": 786381234.5,
        "bid_price": 10.36,
        "ask_price": 10.37,
        "bid_volume": 242900,  # lots x 100
        "ask_volume": 1092900,
        "bids": [[10.36, 242900], [10.35, 712700], [10.34, 714600], [10.33, 911100],
                 [10.32, 1218900]],
        "asks": [[10.37, 1092900], [10.38, 1240100], [10.39, 667100], [10.4, 455500],
                 [10.41, 670800]],
        "limit_up": 11.22,
        "limit_down": 9.18,
        "phase": "continuous",  # openInt 13 (stockStatus says 3)
        "source": "xt",
    }  # fmt: skip
    depth = await next_data(client, "depth_data", "600000.SH", ISO0)
    assert depth == {
        "symbol": "600000.SH",
        "timestamp": ISO0,
        "bids": quote["bids"],
        "asks": quote["asks"],
        "levels": 5,
        "source": "xt",
    }

    # No pvolume: lots x 100. An ETF: a 0.001 tick, its noise rounded away.
    etf = tick_record(
        T0 + 500,
        price(3913, 0.001),
        open_=price(3900, 0.001),
        high=price(3921, 0.001),
        low=price(3899, 0.001),
        last_close=3.912,
        lots=5021,
        pvolume=0,
        amount=1964717.3,
        bids=[(price(3912, 0.001), 30)],
        asks=[(price(3914, 0.001), 12), (0.0, 0)],
    )
    assert etf["lastPrice"] != 3.913
    fake.push_ticks({"510300.SH": etf})
    quote = await next_data(client, "market_data", "510300.SH", "2026-11-20T10:00:03.620+08:00")
    assert (quote["last_price"], quote["open"], quote["high"], quote["low"]) == (
        3.913,
        3.9,
        3.921,
        3.899,
    )
    assert (quote["prev_close"], quote["change"], quote["change_percent"]) == (3.912, 0.001, 0.03)
    assert (quote["volume"], quote["limit_up"], quote["limit_down"]) == (502100, 4.303, 3.521)
    assert quote["bids"] == [[3.912, 3000]]
    assert quote["asks"] == [[3.914, 1200]]
    assert quote["phase"] == "continuous"
    assert quote["timestamp"] == "2026-11-20T10:00:03.620+08:00"


async def test_limits_and_halts_reach_subscribers_as_status_events(
    client: FrameLog, fake: FakeServer
) -> None:
    await subscribe(client, "quote", "600000.SH")
    await subscribe(client, "depth", "600000.SH")  # two subscriptions, one event each
    market = FrameLog(await WsClient.open(client.url))  # a market-wide subscriber
    await subscribe(market, "trade", "*.SH")
    fake.push_ticks({"600000.SH": tick_600000(T0, 1037, 1000)})
    await next_data(client, "market_data", "600000.SH", ISO0)

    # Sealed at the limit: the ask side is empty, zero-price levels on the wire.
    sealed = tick_600000(
        T0 + 3000, 1122, 2000, bids=[(price(1122), 880), (price(1121), 35)], asks=[]
    )
    assert sealed["askPrice"] == [0.0] * 5
    fake.push_ticks({"600000.SH": sealed})
    status = await client.find(lambda f: f["type"] == "status" and f["data"]["event"] == "limit_up")
    assert status["data"] == {
        "event": "limit_up",
        "symbol": "600000.SH",
        "timestamp": "2026-11-20T10:00:06.120+08:00",
        "phase": "continuous",
        "last_price": 11.22,
        "limit_up": 11.22,
        "limit_down": 9.18,
        "source": "xt",
    }
    quote = await next_data(client, "market_data", "600000.SH", "2026-11-20T10:00:06.120+08:00")
    assert quote["asks"] == []
    assert (quote["ask_price"], quote["ask_volume"]) == (0.0, 0)
    assert quote["bids"] == [[11.22, 88000], [11.21, 3500]]
    wide = await market.find(lambda f: f["type"] == "status" and "symbol" in f["data"])
    assert wide["data"] == status["data"]
    await market.ws.close()

    fake.push_ticks({"600000.SH": tick_600000(T0 + 6000, 1122, 2000, open_int=17)})  # 临时停牌
    status = await client.find(lambda f: f["type"] == "status" and f["data"]["event"] == "halted")
    assert status["data"]["phase"] == "halted"
    fake.push_ticks({"600000.SH": tick_600000(T0 + 9000, 1100, 2500, open_int=13)})
    events = []
    for _ in range(2):
        status = await client.find(lambda f: f["type"] == "status" and "symbol" in f["data"])
        events.append(status["data"]["event"])
    assert events == ["resumed", "limit_cleared"]
    assert not [f for f in client.kept if f["type"] == "status" and "symbol" in f["data"]]


async def test_bars_trades_and_level2(client: FrameLog, fake: FakeServer) -> None:
    await subscribe(client, "kline", "600000.SH", frequency="1m")
    await subscribe(client, "kline", "600000.SH", frequency="1d")
    await subscribe(client, "trade", "600000.SH")
    await subscribe(client, "trade", "000001.SZ")
    await subscribe(client, "depth", "000001.SZ")

    # xtquant's own bars; an intraday bar's time is its end (10:01 ends the 10:00 minute), and
    # so is ours.
    bar_end = T0 - 3120 + 60_000
    raw_bar = bar_record(
        bar_end, price(1030), price(1041), price(1029), price(1037), 1234, 1277190.5, 10.2
    )
    assert "settelementPrice" in raw_bar  # sic
    fake.push_records("1m", {"600000.SH": [raw_bar]})
    bar = await next_data(client, "kline_data", "600000.SH", "2026-11-20T10:01:00.000+08:00")
    assert bar == {
        "symbol": "600000.SH",
        "timestamp": "2026-11-20T10:01:00.000+08:00",
        "start": "2026-11-20T10:00:00.000+08:00",
        "period": "1m",
        "open": 10.3,
        "high": 10.41,
        "low": 10.29,
        "close": 10.37,
        "volume": 123400,
        "amount": 1277190.5,
        "closed": False,
        "source": "xt",
    }
    nxt = bar_record(
        bar_end + 60_000, price(1037), price(1038), price(1036), price(1038), 10, 10370.0, 10.2
    )
    fake.push_records("1m", {"600000.SH": [nxt]})
    final = await client.find(lambda f: f["type"] == "kline_data" and f["data"]["closed"])
    assert data_of(final) == bar | {"closed": True}
    nxt_bar = await next_data(client, "kline_data", "600000.SH", "2026-11-20T10:02:00.000+08:00")
    assert nxt_bar["start"] == "2026-11-20T10:01:00.000+08:00"
    midnight = T0 - (10 * 3600 + 3) * 1000 - 120
    day = bar_record(
        midnight, price(1020), price(1041), price(1015), price(1037), 758613, 786381234.5, 10.2
    )
    fake.push_records("1d", {"600000.SH": [day]})
    daily = await next_data(client, "kline_data", "600000.SH", "2026-11-20T00:00:00.000+08:00")
    assert (daily["period"], daily["volume"], daily["close"]) == ("1d", 75861300, 10.37)

    # No Level-2 trades for 600000.SH: derived from consecutive ticks.
    await subscribe(client, "quote", "600000.SH")
    fake.push_ticks({"600000.SH": tick_600000(T0, 1037, 1000)})
    await next_data(
        client, "market_data", "600000.SH", ISO0
    )  # taken before the next: no conflation
    fake.push_ticks({"600000.SH": tick_600000(T0 + 3000, 1038, 1250, amount=1_289_500.0)})
    trade = await next_data(client, "trade_data", "600000.SH")
    assert trade == {
        "symbol": "600000.SH",
        "timestamp": "2026-11-20T10:00:06.120+08:00",
        "price": 10.38,
        "volume": 25000,
        "amount": 259500.0,  # the difference of the day's totals
        "direction": "buy",  # at the earlier ask (10.37) or above
        "trade_id": "20261120-v125000",
        "derived": True,
        "source": "xt",
    }

    # Level-2 for 000001.SZ: exchange trades (cancels skipped) and a 10-level book.
    fake.push_records(
        "l2transaction",
        {"000001.SZ": [
            transaction_record(T0 + 40, price(1139), 300, 3417.0, 5001, 1),
            transaction_record(T0 + 41, price(1139), 200, 0.0, 5002, 3),  # 撤单 (SZSE)
            transaction_record(T0 + 45, price(1138), 5, 5690.0, 5003, 2),  # volume in lots here
        ]},
    )  # fmt: skip
    first = await next_data(client, "trade_data", "000001.SZ")
    second = await next_data(client, "trade_data", "000001.SZ")
    assert first == {
        "symbol": "000001.SZ",
        "timestamp": "2026-11-20T10:00:03.160+08:00",
        "price": 11.39,
        "volume": 300,
        "amount": 3417.0,
        "direction": "buy",
        "trade_id": "20261120-5001",
        "derived": False,
        "source": "xt",
    }
    assert (second["trade_id"], second["direction"], second["volume"]) == (
        "20261120-5003",
        "sell",
        500,
    )
    book = tick_record(
        T0 + 100,
        price(1139),
        open_=price(1138),
        high=price(1140),
        low=price(1130),
        last_close=11.38,
        lots=900,
        amount=1_025_000.0,
        bids=[(price(1139 - i), 10 + i) for i in range(10)],
        asks=[(price(1140 + i), 20 + i) for i in range(8)],  # two empty levels
        levels=10,
    )
    fake.push_records("l2quote", {"000001.SZ": [l2quote_record(book)]})
    depth = await next_data(client, "depth_data", "000001.SZ", "2026-11-20T10:00:03.220+08:00")
    assert depth["levels"] == 10
    assert len(depth["bids"]) == 10
    assert len(depth["asks"]) == 8
    assert depth["bids"][9] == [11.3, 1900]
    assert depth["asks"][0] == [11.4, 2000]


async def test_one_thread_calls_xtdata_and_the_directory_comes_from_it(
    fresh_nats_server: NatsServer, fake: FakeServer
) -> None:
    async with running_adapter(
        "xtquant", settings(fresh_nats_server.url, xt_symbols=(), xt_sectors=("上证A股", "沪深ETF"))
    ):
        await eventually(lambda: fake.live())
        nc = await nats.connect(fresh_nats_server.url)
        try:
            kv = await nc.jetstream().key_value(SYMBOLS_BUCKET)
            entry = await eventually(lambda: _get(kv, "600123.SH"))
            etf = orjson.loads((await kv.get("510300.SH")).value or b"")
        finally:
            await nc.close()
    assert entry == {
        "symbol": "600123.SH",
        "code": "600123",
        "name": "*ST兰花",
        "market": "SH",
        "board": "main",
        "price_tick": 0.01,
        "prev_close": 4.0,
        "limit_up": 4.2,
        "limit_down": 3.8,
        "status": "listed",
        "is_st": True,
        "kind": "stock",
        "pinyin": "*STLH",
        "listed": "1999-11-10",
    }
    assert (etf["price_tick"], etf["limit_up"], etf["name"]) == (0.001, 4.303, "沪深300ETF")
    assert (etf["kind"], etf["is_st"]) == ("etf", False)
    callers = {thread for _, thread in fake.calls}
    assert len(callers) == 1
    assert threading.get_ident() not in callers
    assert fake.callback_threads
    assert threading.get_ident() not in fake.callback_threads
    names = [name for name, _ in fake.calls]
    assert names.index("watch_xtquant_status") < names.index("connect")  # before the client exists
    assert {"get_stock_list_in_sector", "get_instrument_detail", "subscribe_quote"} <= set(names)


async def _get(kv: Any, key: str) -> dict[str, Any] | None:
    try:
        entry = await kv.get(key)
    except Exception:
        return None
    return orjson.loads(entry.value) if entry.value else None
