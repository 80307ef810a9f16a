"""A true trading calendar: the exchange holidays from xtquant on the adapter host, from the
chinese-calendar library elsewhere, MDBRIDGE_HOLIDAYS over both; shared in KV ``md_calendar``
so the adapters, the quality monitor and the bridge's market status agree; on a holiday the
xtquant adapter's silent-feed logic stays quiet."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any, cast

import httpx
import nats
import pytest
from nats.js.api import StorageType

from bridge.market.statusboard import StatusBoard
from bridge.rest.marketstatus import market_status
from mdbridge.natsserver import NatsServer
from schemas import SHANGHAI, TradingPhase
from schemas.tradingcalendar import HolidaySource, HolidayYear
from services.holidays import (
    by_year,
    calendar_bucket,
    library_holidays,
    local_holidays,
    publish_holidays,
    read_calendar,
)
from services.provision import ensure_streams
from services.publisher import Publisher
from services.quality import QualityMonitor, QualitySettings
from services.settings import AdapterSettings
from services.xtquant.adapter import XtQuantAdapter
from tests.support.adapters import eventually, running_adapter
from tests.support.servers import running_bridge
from tests.support.xtfake import FakeServer, fresh_server

NATIONAL_DAY = date(2026, 10, 1)  # a Thursday
EXTRA = date(2026, 11, 20)  # a Friday the terminal (in these tests) says is closed


def ms(day: date, hour: int = 10) -> int:
    return int(datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI).timestamp() * 1000)


def test_the_library_knows_the_exchange_holidays_and_the_override_wins() -> None:
    year = library_holidays()[2026]
    assert {NATIONAL_DAY, date(2026, 1, 1), date(2026, 10, 2)} <= year
    assert all(day.weekday() < 5 for day in year)  # a weekend is closed anyway
    assert date(2026, 11, 20) not in year
    assert local_holidays((EXTRA,)) == {EXTRA}
    assert NATIONAL_DAY in local_holidays()


async def test_a_weaker_source_never_replaces_a_stronger_one(
    fresh_nats_server: NatsServer,
) -> None:
    nc = await nats.connect(fresh_nats_server.url)
    try:
        kv = await calendar_bucket(nc.jetstream(), StorageType.MEMORY, 1)
        assert await publish_holidays(kv, library_holidays(), HolidaySource.LIBRARY) > 20
        assert (await read_calendar(kv, [2026]))[2026].source == HolidaySource.LIBRARY
        terminal = by_year([NATIONAL_DAY, EXTRA])
        assert await publish_holidays(kv, terminal, HolidaySource.XTQUANT) == 1
        assert await publish_holidays(kv, library_holidays(), HolidaySource.LIBRARY) == 0
        year = (await read_calendar(kv, [2026]))[2026]
        assert (year.source, year.holidays) == (HolidaySource.XTQUANT, [NATIONAL_DAY, EXTRA])
        await publish_holidays(kv, by_year([EXTRA]), HolidaySource.SETTINGS)
        assert (await read_calendar(kv, [2026]))[2026].holidays == [EXTRA]
    finally:
        await nc.close()


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    with fresh_server() as server:
        yield server


async def test_xtquant_holidays_make_the_calendar_and_silence_on_one_is_no_fault(
    fresh_nats_server: NatsServer, fake: FakeServer
) -> None:
    fake.holidays = (*fake.holidays, int(EXTRA.strftime("%Y%m%d")))
    settings = AdapterSettings(
        nats_url=fresh_nats_server.url,
        source_id="xt",
        calendar="real",
        xt_symbols=("600000.SH", "000001.SZ"),
        xt_silence_s=0.2,
    )
    nc = await nats.connect(fresh_nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js)
    publisher = Publisher(js)
    now = [ms(EXTRA) / 1000]  # the adapter's wall clock: 10:00 on the terminal's holiday
    adapter = XtQuantAdapter(settings, clock=lambda: now[0])
    stop = asyncio.Event()
    task = asyncio.create_task(adapter.run(js, publisher, stop))
    try:
        await asyncio.wait_for(adapter.ready.wait(), 10)
        assert adapter.calendar.phase_at_ms(ms(EXTRA)) is TradingPhase.CLOSED
        assert adapter.calendar.phase_at_ms(ms(date(2026, 11, 19))) is TradingPhase.CONTINUOUS
        assert adapter.calendar.phase_at_ms(ms(NATIONAL_DAY)) is TradingPhase.CLOSED
        kv = await calendar_bucket(js, StorageType.FILE, 1)
        shared = (await read_calendar(kv, [2026]))[2026]
        assert shared.source == HolidaySource.XTQUANT
        assert EXTRA in shared.holidays
        # Nothing pushed for five times xt_silence_s at 10:00 on the holiday: no fault ...
        await asyncio.sleep(1.0)
        assert adapter.resubscribes == 0
        # ... the same silence at 10:00 on a trading day is one (the test can fail).
        now[0] = ms(date(2026, 11, 19)) / 1000
        await eventually(lambda: adapter.resubscribes >= 1, timeout=5)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await nc.close()


async def test_the_override_beats_the_terminal(
    fresh_nats_server: NatsServer, fake: FakeServer
) -> None:
    settings = AdapterSettings(
        nats_url=fresh_nats_server.url,
        source_id="xt",
        calendar="real",
        xt_symbols=("600000.SH",),
        holidays=(EXTRA,),
    )
    async with running_adapter("xtquant", settings):
        await eventually(lambda: fake.live())
        nc = await nats.connect(fresh_nats_server.url)
        try:
            kv = await calendar_bucket(nc.jetstream(), StorageType.FILE, 1)
            year = (await read_calendar(kv, [2026]))[2026]
        finally:
            await nc.close()
    assert (year.source, year.holidays) == (HolidaySource.SETTINGS, [EXTRA])
    assert "get_holidays" not in [name for name, _ in fake.calls]


async def test_the_monitor_and_the_market_status_read_the_shared_calendar(
    fresh_nats_server: NatsServer,
) -> None:
    nc = await nats.connect(fresh_nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js)
    try:
        kv = await calendar_bucket(js, StorageType.FILE, 1)
        today = datetime.now(SHANGHAI).date()
        years = by_year([NATIONAL_DAY, EXTRA])
        years.setdefault(today.year, frozenset())  # the market status looks at today's year
        await publish_holidays(kv, years, HolidaySource.XTQUANT)
        monitor = QualityMonitor(js, QualitySettings(nats_url=fresh_nats_server.url))
        await monitor.start()
        try:
            assert monitor.calendar.phase_at_ms(ms(EXTRA)) is TradingPhase.CLOSED
            assert monitor.calendar.phase_at_ms(ms(date(2026, 11, 19))) is TradingPhase.CONTINUOUS
        finally:
            await monitor.close()
        async with (
            running_bridge(fresh_nats_server.url) as bridge,
            httpx.AsyncClient(base_url=bridge.http_url, timeout=10) as http,
        ):
            status = (await http.get("/v1/market/status")).json()
        assert status["calendar_source"] == "xtquant"
        assert status["trading_day"] is (today.weekday() < 5 and today not in years[today.year])
    finally:
        await nc.close()
    board = StatusBoard(cast(Any, None), source_timeout_s=5.0)
    year = HolidayYear(
        year=2026, holidays=[NATIONAL_DAY], source=HolidaySource.LIBRARY, updated=datetime.now()
    )
    closed = market_status(board, nats_connected=True, epochs={}, today=NATIONAL_DAY, holidays=year)
    assert (closed["trading_day"], closed["phase"]) == (False, TradingPhase.CLOSED)
    assert closed["calendar_source"] == "chinese-calendar"
    open_day = market_status(
        board, nats_connected=True, epochs={}, today=date(2026, 11, 19), holidays=year
    )
    assert (open_day["trading_day"], open_day["phase"]) == (True, TradingPhase.UNKNOWN)
    unknown = market_status(board, nats_connected=True, epochs={}, today=date(2026, 11, 19))
    assert unknown["trading_day"] is None
