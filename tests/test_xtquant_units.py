"""The xtquant adapter's pure parts: phase codes, price ticks, bar times, the inbox bound."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import SHANGHAI, TradingPhase, epoch_ms_to_iso, round_to_tick
from services.calendar import AlwaysOpen
from services.xtquant.bars import SourceBars
from services.xtquant.inbox import Inbox
from services.xtquant.normalize import Instrument, Normalizer, phase_of, shares, symbol_info
from tests.support.xtfake import SERVER, bar_record


def ms(hour: int, minute: int, second: int = 0) -> int:
    return int(datetime(2026, 11, 20, hour, minute, second, tzinfo=SHANGHAI).timestamp() * 1000)


@pytest.mark.parametrize(
    ("code", "when", "phase"),
    [
        (11, ms(9, 0), TradingPhase.PRE_OPEN),
        (12, ms(9, 20), TradingPhase.OPENING_AUCTION),
        (12, ms(9, 27), TradingPhase.PRE_CONTINUOUS),  # 12 covers 09:15-09:30; matched at 09:25
        (12, ms(14, 58), TradingPhase.CLOSING_AUCTION),
        (13, ms(10, 0), TradingPhase.CONTINUOUS),
        (14, ms(12, 0), TradingPhase.LUNCH_BREAK),
        (15, ms(15, 1), TradingPhase.CLOSED),
        (16, ms(10, 0), TradingPhase.VOLATILITY_BREAK),
        (17, ms(10, 0), TradingPhase.HALTED),
        (18, ms(14, 58), TradingPhase.CLOSING_AUCTION),
        (19, ms(10, 0), TradingPhase.INTRADAY_AUCTION),
        (20, ms(10, 0), TradingPhase.SUSPENDED_TO_CLOSE),
        (22, ms(15, 10), TradingPhase.AFTER_HOURS_FIXED_PRICE),
        (23, ms(15, 31), TradingPhase.CLOSED),
        (13.0, ms(10, 0), TradingPhase.CONTINUOUS),
    ],
)
def test_open_int_codes_are_phases(code: int, when: int, phase: TradingPhase) -> None:
    assert phase_of(code, when, TradingPhase.UNKNOWN) is phase


@pytest.mark.parametrize("code", [0, 10, 3, 24_000, None, "13"])
def test_other_open_int_values_fall_back_on_the_calendar(code: object) -> None:
    # 0/10: unknown; a future's open interest is no phase code at all
    assert phase_of(code, ms(10, 0), TradingPhase.LUNCH_BREAK) is TradingPhase.LUNCH_BREAK


@given(st.integers(1, 10_000_000), st.sampled_from(["0.01", "0.001"]), st.integers(-3, 3))
def test_the_fast_tick_rounding_is_round_to_tick(steps: int, tick: str, ulps: int) -> None:
    info = symbol_info("510300.SH", {"PriceTick": float(tick), "PreClose": 1.0})
    noisy = steps * float(tick)  # binary noise as the terminal sends it, then nudged
    for _ in range(abs(ulps)):
        noisy = float.__add__(noisy, noisy * (2**-52 if ulps > 0 else -(2**-52)))
    assert Instrument.of(info).price(noisy) == round_to_tick(noisy, Decimal(tick))


def test_prices_off_the_grid_round_half_up() -> None:
    inst = Instrument.of(symbol_info("600000.SH", {"PriceTick": 0.01, "PreClose": 10.0}))
    assert inst.price(10.005) == round_to_tick(10.005) == 10.01
    assert inst.price(0.0) == inst.price(None) == inst.price(float("nan")) == 0.0


def test_volume_is_shares() -> None:
    assert shares({"volume": 758613, "pvolume": 75861284}) == 75861284
    assert shares({"volume": 758613, "pvolume": 0}) == 75861300
    assert shares({"volume": 758613}) == 75861300
    assert shares({}) == 0


def test_directory_entries_fall_back_on_the_board_rule_without_limits() -> None:
    info = symbol_info(
        "300750.SZ",
        {"InstrumentName": "宁德时代", "PriceTick": 0.01, "PreClose": 250.0, "UpStopPrice": 0.0},
    )
    assert (info.limit_up, info.limit_down, info.board, info.is_st) == (
        300.0,
        200.0,
        "chinext",
        False,
    )
    assert symbol_info("600000.SH", {"InstrumentStatus": 1}).status == "suspended"


def test_kinds_and_their_limit_rules_from_the_instrument_detail_and_type() -> None:
    def info(symbol: str, name: str, prev: float, types: set[str], **detail: Any) -> Any:
        base = {"InstrumentName": name, "PreClose": prev, "TradingDay": "20261120"}
        return symbol_info(symbol, base | detail, types)

    index = info("000001.SH", "上证指数", 3300.0, {"index"}, UpStopPrice=3630.0)
    assert (index.kind, index.limit_up, index.limit_down) == ("index", 0.0, 0.0)  # none, ever
    st = info("600123.SH", "*ST兰花", 4.0, {"stock"}, PriceTick=0.01)
    assert (st.kind, st.is_st, st.limit_up, st.limit_down) == ("stock", True, 4.2, 3.8)
    lof = info("161005.SZ", "富国天惠", 2.3, {"fund", "lof"})
    assert (lof.kind, lof.price_tick, lof.limit_up, lof.limit_down) == ("lof", 0.001, 2.53, 2.07)
    etf = info("588000.SH", "科创50ETF", 1.0, {"fund", "etf"}, UpStopPrice=1.2, DownStopPrice=0.8)
    assert (etf.kind, etf.limit_up, etf.limit_down) == ("etf", 1.2, 0.8)  # the terminal's 20 %
    fresh = info("301999.SZ", "新股科技", 30.0, {"stock"}, OpenDate="20261116")
    assert (fresh.limit_up, fresh.limit_down, str(fresh.listed)) == (0.0, 0.0, "2026-11-16")
    sixth_day = info("301998.SZ", "次新科技", 30.0, {"stock"}, OpenDate="20261113")
    assert (sixth_day.limit_up, sixth_day.limit_down) == (36.0, 24.0)  # Fri..Fri: day 6
    by_code = info("159915.SZ", "创业板ETF", 2.105, set())  # no type flags: the code range
    assert (by_code.kind, by_code.price_tick) == ("etf", 0.001)


@pytest.mark.parametrize(
    ("period", "xt_time", "start", "label"),
    [
        # the opening auction's bar folds into the first minute, labelled 09:31
        ("1m", ms(9, 30), ms(9, 30), ms(9, 31)),
        ("1m", ms(9, 31), ms(9, 30), ms(9, 31)),
        ("1m", ms(11, 30), ms(11, 29), ms(11, 30)),
        ("1m", ms(13, 1), ms(13, 0), ms(13, 1)),
        ("1m", ms(15, 0), ms(14, 59), ms(15, 0)),
        ("5m", ms(9, 35), ms(9, 30), ms(9, 35)),
        ("30m", ms(13, 30), ms(13, 0), ms(13, 30)),
        ("60m", ms(10, 30), ms(9, 30), ms(10, 30)),
        ("60m", ms(11, 30), ms(10, 30), ms(11, 30)),
        ("60m", ms(14, 0), ms(13, 0), ms(14, 0)),
        ("60m", ms(15, 0), ms(14, 0), ms(15, 0)),
        ("1d", ms(0, 0), ms(0, 0), ms(0, 0)),
    ],
)
def test_xtquant_bar_times_are_bar_ends(period: str, xt_time: int, start: int, label: int) -> None:
    norm = Normalizer("xt", AlwaysOpen())
    norm.set_directory([symbol_info("600000.SH", {"PriceTick": 0.01, "PreClose": 10.0})])
    mapped = norm.bar("600000.SH", period, bar_record(xt_time, 10, 10, 10, 10, 1, 1000.0, 10))
    assert mapped is not None
    assert mapped[0] == start
    assert mapped[1]["timestamp"] == epoch_ms_to_iso(label)  # labelled as xtquant labels it
    assert mapped[1]["start"] == epoch_ms_to_iso(start)


def test_a_later_bar_finalizes_the_one_before() -> None:
    bars = SourceBars()
    first = {"symbol": "600000.SH", "period": "1m", "volume": 100, "closed": False}
    assert [e.closed for e in bars.update(ms(10, 0), first)] == [False]
    assert [e.closed for e in bars.update(ms(10, 0), first | {"volume": 200})] == [False]
    events = bars.update(ms(10, 1), first | {"volume": 5})
    assert [(e.start_ms, e.closed, e.payload["volume"]) for e in events] == [
        (ms(10, 0), True, 200),
        (ms(10, 1), False, 5),
    ]
    assert bars.update(ms(10, 0), first) == []  # history pushed again after a resubscribe
    assert [(e.start_ms, e.closed) for e in bars.close("600000.SH")] == [(ms(10, 1), True)]


async def test_the_inbox_conflates_snapshots_and_bounds_items() -> None:
    loop = asyncio.get_running_loop()
    inbox = Inbox(loop, max_items=100)
    wakeups = 0
    original = loop.call_soon_threadsafe
    finished = asyncio.Event()

    def producer() -> None:
        for i in range(5000):  # a whole market pushed far faster than it is taken
            inbox.offer_snapshots("tick", {f"{i % 5:06d}.SH": {"time": i}})
            inbox.offer_items("l2transaction", {"000001.SZ": [{"time": i}]})
        original(finished.set)  # not counted

    def counting(callback: object, *args: object) -> object:
        nonlocal wakeups
        wakeups += 1
        return original(callback, *args)  # type: ignore[arg-type]

    loop.call_soon_threadsafe = counting  # type: ignore[method-assign,assignment]
    try:
        threading.Thread(target=producer).start()
        await finished.wait()
    finally:
        del loop.call_soon_threadsafe
    assert await inbox.wait(1.0)
    batch = inbox.take()
    assert {key: raw["time"] for key, raw in batch.snapshots.items()} == {
        ("tick", f"{k:06d}.SH"): 4995 + k for k in range(5)
    }
    assert [raw["time"] for _, _, raw in batch.items] == list(range(4900, 5000))
    assert (inbox.conflated, inbox.dropped, inbox.received) == (4995, 4900, 10000)
    assert wakeups == 1  # one loop callback for the whole burst, not one per push
    assert not await inbox.wait(0.05)
    assert len(inbox.take()) == 0


def test_the_stand_in_has_the_sdk_shapes() -> None:
    detail = SERVER.details["600000.SH"]
    assert list(detail)[:3] == ["ExchangeID", "InstrumentID", "InstrumentName"]
    assert isinstance(detail["CreateDate"], str)
