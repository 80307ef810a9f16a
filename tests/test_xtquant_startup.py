"""Start-up against the real SDK's behaviour, through the stand-in: sector data downloaded
before listing (a fresh terminal has none), instrument details in one call, an initial
``get_full_tick`` snapshot so a halted instrument has a quote, the terminal's own previous
close and limit prices. And the stand-in itself: every function mdbridge calls has the real
``xtquant.xtdata`` signature."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import nats
import orjson
import pytest

from mdbridge.natsserver import NatsServer
from schemas import SYMBOLS_BUCKET, data_subject
from schemas.market import DataType
from services.provision import ensure_streams
from services.settings import AdapterSettings
from tests.support.adapters import eventually, last_payload, running_adapter
from tests.support.xtfake import FakeServer, fresh_server, xtdata

# The `def` lines of xtquant 250807.1.2's xtdata.py (pip download xtquant), verbatim.
REAL_SIGNATURES = {
    "connect": "(ip = '', port = None, remember_if_success = True)",
    "reconnect": "(ip = '', port = None, remember_if_success = True)",
    "disconnect": "()",
    "get_client": "()",
    "watch_xtquant_status": "(callback)",
    "subscribe_quote": "(stock_code, period='1d', start_time='', end_time='', count=0, "
    "callback=None)",
    "subscribe_quote2": "(stock_code, period='1d', start_time='', end_time='', count=0, "
    "dividend_type = None, callback=None)",
    "subscribe_whole_quote": "(code_list, callback = None)",
    "unsubscribe_quote": "(seq)",
    "run": "()",
    "download_sector_data": "()",
    "get_stock_list_in_sector": "(sector_name, real_timetag = -1)",
    "get_instrument_detail": "(stock_code, iscomplete = False)",
    "get_instrument_detail_list": "(stock_list, iscomplete = False)",
    "get_instrument_type": "(stock_code, variety_list = None)",
    "get_full_tick": "(code_list)",
    "get_holidays": "()",
    "get_trading_calendar": "(market, start_time = '', end_time = '')",
    "download_history_data2": "(stock_list, period, start_time='', end_time='', callback=None, "
    "incrementally = None)",
    "get_market_data_ex": "(field_list = [], stock_list = [], period = '1d', start_time = '', "
    "end_time = '', count = -1, dividend_type = 'none', fill_data = True)",
}


def _parameters(text: str) -> list[tuple[str, str | None]]:
    """(name, default source) of a `def` line's parameter list."""
    out: list[tuple[str, str | None]] = []
    for part in filter(None, (p.strip() for p in text.strip("()").split(","))):
        name, _, default = part.partition("=")
        out.append((name.strip(), default.strip() or None))
    return out


def test_the_stand_in_has_the_real_signatures() -> None:
    ours = {
        name
        for name, fn in vars(xtdata).items()
        if inspect.isfunction(fn) and not name.startswith("_") and fn.__module__ == xtdata.__name__
    }
    assert ours == set(REAL_SIGNATURES)
    for name, real in REAL_SIGNATURES.items():
        signature = inspect.signature(getattr(xtdata, name))
        mine = [
            (p.name, None if p.default is inspect.Parameter.empty else repr(p.default))
            for p in signature.parameters.values()
        ]
        assert mine == _parameters(real), name


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    with fresh_server() as server:
        yield server


def test_a_fresh_terminal_lists_a_sector_only_after_downloading_it(fake: FakeServer) -> None:
    assert xtdata.get_stock_list_in_sector("沪深ETF") == []
    xtdata.download_sector_data()
    assert xtdata.get_stock_list_in_sector("沪深ETF") == ["510300.SH", "159915.SZ"]
    assert xtdata.get_instrument_type("000001.SH") == {"index": True}
    assert xtdata.get_instrument_type("600000.SH") == {"stock": True}
    assert xtdata.get_instrument_type("510300.SH", ["etf", "index"]) == {"etf": True}
    assert xtdata.get_instrument_detail_list(["600000.SH", "999999.SH"])["999999.SH"] is None


def settings(url: str, **overrides: Any) -> AdapterSettings:
    base: dict[str, Any] = {
        "nats_url": url,
        "source_id": "xt",
        "calendar": "always_open",
        "xt_symbols": (),
        "xt_sectors": ("上证A股", "沪深ETF"),
    }
    return AdapterSettings(**(base | overrides))


async def test_start_up_downloads_sectors_snapshots_every_instrument_and_keeps_its_limits(
    fresh_nats_server: NatsServer, fake: FakeServer
) -> None:
    halted = fake.details["600519.SH"]
    halted["InstrumentStatus"] = 1  # suspended all day: it will never push a tick
    custom = fake.details["600000.SH"]
    custom["PreClose"], custom["UpStopPrice"], custom["DownStopPrice"] = 10.21, 11.24, 9.18
    nc = await nats.connect(fresh_nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js)
    try:
        async with running_adapter("xtquant", settings(fresh_nats_server.url)):
            await eventually(lambda: fake.live())
            quote_of = data_subject(DataType.QUOTE, "600519.SH")
            quote = await eventually(lambda: last_payload(js, "MD_QUOTE", quote_of))
            kv = await js.key_value(SYMBOLS_BUCKET)
            entry = await eventually(lambda: _kv(kv, "600000.SH"))
            etf = await eventually(lambda: last_payload(js, "MD_QUOTE", "md.quote.159915.SZ"))
    finally:
        await nc.close()
    names = [name for name, _ in fake.calls]
    assert names.index("download_sector_data") < names.index("get_stock_list_in_sector")
    first_subscription = min(i for i, name in enumerate(names) if name.startswith("subscribe"))
    assert "get_full_tick" in names[first_subscription:]
    # The halted instrument has a quote from the start: its last close, no trades, halted.
    assert quote["last_price"] == quote["prev_close"] == 1500.0
    assert (quote["volume"], quote["bids"], quote["asks"]) == (0, [], [])
    assert quote["phase"] == "halted"
    assert etf["prev_close"] == 2.105  # the ETF of the second sector too
    # The terminal's previous close and limits win (the board rule would say 11.23 / 9.19).
    assert (entry["prev_close"], entry["limit_up"], entry["limit_down"]) == (10.21, 11.24, 9.18)


async def _kv(kv: Any, key: str) -> dict[str, Any] | None:
    try:
        entry = await kv.get(key)
    except Exception:
        return None
    return orjson.loads(entry.value) if entry.value else None
