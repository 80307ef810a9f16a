"""xtquant daily history through the stand-in into MD_BAR_1D: downloaded, unadjusted, once."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import nats
import orjson
import pytest
from nats.js.errors import NotFoundError

from mdbridge.natsserver import NatsServer
from schemas import SHANGHAI
from schemas.history import history_stream, history_subject
from services.calendar import TradingCalendar
from services.history.simbars import day_start_ms, trading_days_before
from services.kline import session_minute_of_day
from services.settings import AdapterSettings
from services.xtquant.history import final_bars
from services.xtquant.normalize import Normalizer, symbol_info
from tests.support.adapters import eventually, running_adapter
from tests.support.xtfake import FakeServer, bar_record, fresh_server, instrument_detail

SYMBOLS = ("600000.SH", "000001.SZ")


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    with fresh_server() as server:
        yield server


def daily_records(days: int, base: float) -> list[dict[str, Any]]:
    today = datetime.now(SHANGHAI).date()
    records = []
    for i, day in enumerate(trading_days_before(today, days, TradingCalendar())):
        close = round(base + i / 100, 2)
        records.append(
            bar_record(day_start_ms(day), close - 0.05, close + 0.1, close - 0.1, close,
                       1000 + i, (1000 + i) * 100 * close, close - 0.01)
        )  # fmt: skip
    return records


def minute_records(days: int) -> list[dict[str, Any]]:
    """1m bars as xtquant stamps them: by their END (09:31 is the 09:30-09:31 bar)."""
    today = datetime.now(SHANGHAI).date()
    records = []
    for day in trading_days_before(today, days, TradingCalendar()):
        for index in range(240):
            end = day_start_ms(day) + (session_minute_of_day(index) + 1) * 60_000
            records.append(bar_record(end, 10, 10.1, 9.9, 10.05, 10, 10_050.0, 10))
    return records


async def stored(url: str, symbol: str, period: str = "1d") -> list[tuple[str, bytes]]:
    client = await nats.connect(url)
    js = client.jetstream()
    subject = history_subject(period, symbol)
    try:
        info = await js.stream_info(history_stream(period), subjects_filter=subject)
    except NotFoundError:  # not provisioned yet
        info = None
    count = (info.state.subjects or {}).get(subject, 0) if info is not None else 0
    out = []
    if count:
        sub = await js.subscribe(subject, ordered_consumer=True)
        for _ in range(count):
            msg = await sub.next_msg(timeout=5)
            out.append(((msg.headers or {}).get("Nats-Msg-Id", ""), msg.data))
    # close, not drain: everything wanted is read, and draining an ordered consumer waits
    # on its heartbeats (it timed out once under a full suite's load)
    await client.close()
    return out


async def test_the_adapter_downloads_daily_history_once(
    fake: FakeServer, fresh_nats_server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake.history["1d"] = {"600000.SH": daily_records(260, 10.0)}
    fake.history["1d"]["000001.SZ"] = daily_records(30, 11.0)  # a young listing: all it has
    records = fake.history["1d"]["600000.SH"]
    fake.history["1m"] = {"600000.SH": minute_records(2)}
    settings = AdapterSettings(
        nats_url=fresh_nats_server.url, source_id="xt", calendar="always_open",
        xt_symbols=SYMBOLS, history_backfill_days=250, history_progress_every=1,
        xt_history_minute_days=3,
    )  # fmt: skip
    url = fresh_nats_server.url
    with caplog.at_level(logging.INFO, logger="services.xtquant.history"):
        async with running_adapter("xtquant", settings):
            await eventually(lambda: _count(url, "000001.SZ", 30), timeout=20)
            await eventually(lambda: _count(url, "600000.SH", 250), timeout=20)
            await eventually(lambda: _count(url, "600000.SH", 480, "1m"), timeout=20)
    assert "xtquant history 1d: 1/2 symbols" in caplog.text  # a progress line per N symbols
    stored_1m = [orjson.loads(data) for _, data in await stored(url, "600000.SH", "1m")]
    assert len(stored_1m) == 480  # two whole sessions on our grid
    ends = [bar["timestamp"][11:16] for bar in stored_1m]  # labelled by their end, as xtquant
    starts = [bar["start"][11:16] for bar in stored_1m]
    assert (ends[0], ends[119], ends[120], ends[239]) == ("09:31", "11:30", "13:01", "15:00")
    assert (starts[0], starts[119], starts[120], starts[239]) == (
        "09:30",
        "11:29",
        "13:00",
        "14:59",
    )
    first = await stored(url, "600000.SH")
    bars = [orjson.loads(data) for _, data in first]
    assert [b["timestamp"] for b in bars] == [
        datetime.fromtimestamp(r["time"] / 1000, SHANGHAI).isoformat(timespec="milliseconds")
        for r in records[-250:]
    ]
    last, raw = bars[-1], records[-1]
    assert (last["close"], last["volume"], last["closed"]) == (
        raw["close"],
        raw["volume"] * 100,
        True,
    )
    assert last["source"] == "xt"
    threads = {name: tid for name, tid in fake.calls}
    assert threads["download_history_data2"] == threads["get_market_data_ex"] == threads["connect"]

    async with running_adapter("xtquant", settings):  # a restart: nothing new, nothing twice
        await eventually(lambda: ("get_market_data_ex", threads["connect"]) in fake.calls)
        time.sleep(0.5)  # noqa: ASYNC251 - let a wrong second backfill publish, if any
    assert await stored(url, "600000.SH") == first


async def _count(url: str, symbol: str, want: int, period: str = "1d") -> bool:
    return len(await stored(url, symbol, period)) >= want


def test_todays_daily_bar_is_stored_only_after_the_close() -> None:
    info = symbol_info("600000.SH", instrument_detail("600000.SH", "浦发银行", 10.2, 0.01, 0.1))
    norm = Normalizer("xt", TradingCalendar())
    norm.set_directory([info])
    today = datetime(2026, 12, 4, tzinfo=SHANGHAI)
    record = bar_record(int(today.timestamp() * 1000), 10, 10.3, 9.9, 10.1, 500, 505_000, 10.2)
    at = [int(today.replace(hour=h, minute=m).timestamp() * 1000) for h, m in ((14, 0), (15, 6))]
    assert list(final_bars(norm, "600000.SH", "1d", [record], at[0])) == []
    ((start, payload),) = final_bars(norm, "600000.SH", "1d", [record], at[1])
    assert (start, payload["closed"], payload["volume"]) == (record["time"], True, 50_000)
