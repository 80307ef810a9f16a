from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from pydantic import BaseModel

from schemas import (
    SHANGHAI,
    DepthData,
    QuoteData,
    SymbolInfo,
    TradeData,
    TradingPhase,
    limit_prices,
    round_to_tick,
)
from services.calendar import TradingCalendar
from services.sim.market import Snapshot, SymbolMarket
from services.sim.universe import build_universe

OPEN_DAY = int(datetime(2026, 11, 20, 9, 10, tzinfo=SHANGHAI).timestamp() * 1000)
INTERVAL_MS = 3000
AUCTIONS = {"opening_auction", "closing_auction"}


def real_day(
    market: SymbolMarket, day: int = 0, interval_ms: int = INTERVAL_MS
) -> Iterator[Snapshot]:
    """Step ``market`` through a trading day (09:10 to 15:10) on the calendar."""
    calendar = TradingCalendar()
    for start in [OPEN_DAY + day * 86_400_000]:
        for i in range(6 * 3600 * 1000 // interval_ms):
            ts = start + i * interval_ms + 7
            snapshot = market.step(ts, calendar.phase_at_ms(ts))
            if snapshot is not None:
                yield snapshot


def always_open(
    market: SymbolMarket, steps: int, start: int = OPEN_DAY, interval_ms: int = INTERVAL_MS
) -> Iterator[Snapshot]:
    for i in range(steps):
        snapshot = market.step(start + i * interval_ms, TradingPhase.CONTINUOUS)
        assert snapshot is not None
        yield snapshot


@pytest.fixture(scope="module")
def infos() -> list[SymbolInfo]:
    """SH and SZ main board, Maotai, ChiNext, STAR, BJ, and an ST name."""
    universe = build_universe(42, 600)
    wanted = {"600000.SH", "000001.SZ", "600519.SH", "300750.SZ", "688981.SH", "430047.BJ"}
    return [i for i in universe if i.symbol in wanted] + [i for i in universe if i.is_st][:1]


def prices_of(snapshot: Snapshot) -> list[float]:
    q = snapshot.quote
    prices = [q["last_price"], q["open"], q["high"], q["low"], q["bid_price"], q["ask_price"]]
    prices += [level[0] for level in q["bids"] + q["asks"]]
    prices += [t["price"] for t in snapshot.trades]
    return prices


def assert_exact_fields(payload: dict[str, Any], model: type[BaseModel]) -> None:
    assert set(payload) == set(model.model_fields), model.__name__
    model.model_validate(payload)


def test_same_seed_same_sequence(infos: list[SymbolInfo]) -> None:
    info = infos[0]
    first = list(always_open(SymbolMarket(info, seed=5), 300))
    again = list(always_open(SymbolMarket(info, seed=5), 300))
    other = list(always_open(SymbolMarket(info, seed=6), 300))
    assert first == again
    assert [s.quote["last_price"] for s in first] != [s.quote["last_price"] for s in other]
    assert first[0].quote["source"] == "sim"


def test_payloads_validate_and_respect_the_market_rules(infos: list[SymbolInfo]) -> None:
    slow = 30_000  # a coarser cadence walks the same rules through a whole day in fewer steps
    for info in infos:
        market = SymbolMarket(info, seed=42, source="simtest", interval_s=slow / 1000)
        previous: Snapshot | None = None
        trade_ids: set[str] = set()
        next_day = OPEN_DAY + 3 * 86_400_000  # always-open on the Monday after
        for snapshot in [*real_day(market, 0, slow), *always_open(market, 200, next_day, slow)]:
            quote, depth = snapshot.quote, snapshot.depth
            assert_exact_fields(quote, QuoteData)
            assert_exact_fields(depth, DepthData)
            for trade in snapshot.trades:
                assert_exact_fields(trade, TradeData)
                assert trade["volume"] > 0
                assert trade["volume"] % 100 == 0
                assert trade["direction"] in {"buy", "sell", "neutral"}
                assert trade["trade_id"] not in trade_ids
                trade_ids.add(trade["trade_id"])
                assert trade["amount"] == round(trade["price"] * trade["volume"], 2)
            assert quote["source"] == depth["source"] == "simtest"
            up, down = quote["limit_up"], quote["limit_down"]
            for price in prices_of(snapshot):
                assert price == 0 or down <= price <= up, (info.symbol, price)
                assert price == round_to_tick(price)
                assert len(repr(price).partition(".")[2]) <= 2, price
            for number in (quote["change"], quote["change_percent"], quote["amount"]):
                assert len(repr(number).partition(".")[2]) <= 2, number
            assert quote["volume"] % 100 == 0
            assert all(level[1] > 0 and level[1] % 100 == 0 for level in depth["bids"])
            assert all(level[1] > 0 and level[1] % 100 == 0 for level in depth["asks"])
            assert len(depth["bids"]) <= 5
            assert len(depth["asks"]) <= 5
            assert [lv[0] for lv in depth["bids"]] == sorted(
                (lv[0] for lv in depth["bids"]), reverse=True
            )
            assert [lv[0] for lv in depth["asks"]] == sorted(lv[0] for lv in depth["asks"])
            if depth["bids"] and depth["asks"]:
                if quote["phase"] in AUCTIONS:  # one level each side: the indicative match
                    assert (
                        depth["bids"]
                        == depth["asks"]
                        == [[quote["bid_price"], quote["bid_volume"]]]
                    )
                else:
                    assert depth["bids"][0][0] < depth["asks"][0][0]
            same_day = previous is not None and (
                previous.quote["timestamp"][:10] == quote["timestamp"][:10]
            )
            if previous is not None and same_day:
                assert quote["volume"] >= previous.quote["volume"]
                assert quote["amount"] >= previous.quote["amount"]
            if quote["volume"]:
                assert quote["low"] <= quote["last_price"] <= quote["high"]
            previous = snapshot


def test_trading_day_shape(infos: list[SymbolInfo]) -> None:
    snapshots = list(real_day(SymbolMarket(infos[0], seed=42)))
    phases = [s.quote["phase"] for s in snapshots]
    assert phases[0] == "opening_auction"
    assert "lunch_break" not in phases
    assert "pre_open" not in phases
    auction = [s for s in snapshots if s.quote["phase"] == "opening_auction"]
    assert all(s.quote["volume"] == 0 and not s.trades for s in auction)
    assert all(s.quote["open"] == 0 and s.quote["last_price"] > 0 for s in auction)
    matched = next(s for s in snapshots if s.quote["phase"] == "pre_continuous")
    assert len(matched.trades) == 1, "one opening trade at the auction match"
    assert matched.quote["open"] == matched.trades[0]["price"] == auction[-1].quote["last_price"]
    assert matched.quote["volume"] == matched.trades[0]["volume"]
    closing = [s for s in snapshots if s.quote["phase"] == "closing_auction"]
    assert closing
    assert all(not s.trades for s in closing)
    final = snapshots[-1]
    assert final.final
    assert final.quote["phase"] == "closed"
    assert len(final.trades) == 1
    assert sum(s.final for s in snapshots) == 1


def test_auctions_show_the_indicative_match_and_the_gaps_stay_quiet(
    infos: list[SymbolInfo],
) -> None:
    """集合竞价: best bid = best ask = the indicative price with the matched volume; that volume
    trades at 09:25 and 15:00; 09:25-09:30 shows the result once; no trade in a break."""
    snapshots = list(real_day(SymbolMarket(infos[0], seed=42)))
    by_phase: dict[str, list[Snapshot]] = {}
    for snapshot in snapshots:
        by_phase.setdefault(snapshot.quote["phase"], []).append(snapshot)
    for phase in AUCTIONS:
        for snapshot in by_phase[phase]:
            quote = snapshot.quote
            assert quote["bid_price"] == quote["ask_price"] > 0
            assert quote["bid_volume"] == quote["ask_volume"] > 0
    opening = [s.quote for s in by_phase["opening_auction"]]
    assert all(q["last_price"] == q["bid_price"] for q in opening)
    no_cancels = [q["bid_volume"] for q in opening if q["timestamp"][11:16] >= "09:20"]
    assert no_cancels == sorted(no_cancels), "from 09:20 the matched volume only grows"
    assert len(set(no_cancels)) > 1
    [result] = by_phase["pre_continuous"]  # the 09:25 result, then nothing until 09:30
    assert result.trades[0]["volume"] == opening[-1]["bid_volume"]
    assert result.trades[0]["price"] == opening[-1]["bid_price"]
    closing = [s.quote for s in by_phase["closing_auction"]]
    last_continuous = by_phase["continuous"][-1].quote["last_price"]
    assert all(q["last_price"] == last_continuous for q in closing), "no trade in the auction"
    [final_trade] = snapshots[-1].trades
    assert (final_trade["price"], final_trade["volume"]) == (
        closing[-1]["bid_price"],
        closing[-1]["bid_volume"],
    )
    times = [t["timestamp"][11:23] for s in snapshots for t in s.trades]
    assert times == sorted(times)
    assert [t for t in times if "09:25:01" < t < "09:30:00"] == []
    assert [t for t in times if "11:30:00" <= t < "13:00:00"] == []


def test_every_stock_trades_when_continuous_trading_opens(infos: list[SymbolInfo]) -> None:
    """The bell's first step (09:30, 13:00) always trades: the day's busiest second."""
    for info in infos:
        opens = [
            s
            for s in real_day(SymbolMarket(info, seed=42))
            if s.quote["timestamp"][11:19] in {"09:30:00", "13:00:00"}
        ]
        assert len(opens) == 2
        assert all(s.trades for s in opens), info.symbol


def test_a_new_day_rolls_prev_close_and_limits(infos: list[SymbolInfo]) -> None:
    info = infos[0]
    market = SymbolMarket(info, seed=42)
    day_one = list(real_day(market))
    assert market.pop_info_update() is None
    close = day_one[-1].quote["last_price"]
    day_two = list(real_day(market, day=3))  # the Monday: the weekend has no trades
    rolled = market.pop_info_update()
    assert rolled is not None
    assert market.pop_info_update() is None
    assert rolled.prev_close == close == day_two[0].quote["prev_close"]
    assert (rolled.limit_up, rolled.limit_down) == limit_prices(close, info.board)
    assert day_two[0].quote["volume"] == 0  # auction again; the day's totals restart
    assert day_two[-1].trades[0]["trade_id"].startswith("20261123-")


def test_sealed_limit_up_has_an_empty_ask_side(infos: list[SymbolInfo]) -> None:
    market = SymbolMarket(infos[0], seed=42)
    list(always_open(market, 5))
    market._lf = math.log(market._up) + 0.015  # white box: news pushed the fair value past it
    sealed = [s for s in always_open(market, 40, OPEN_DAY + 60_000) if s.quote["asks"] == []]
    assert sealed, "the fair value above the limit should seal it"
    quote = sealed[-1].quote
    assert quote["last_price"] == quote["bid_price"] == quote["limit_up"]
    assert quote["ask_price"] == 0
    assert quote["ask_volume"] == 0
    assert quote["bids"][0][1] > quote["bids"][1][1]  # the queue at the limit


def test_whole_market_step_is_fast_enough() -> None:
    """A loose bound (the report measures it properly): 5,400 symbols every 3 s must fit."""
    import time

    markets = [SymbolMarket(info, seed=1) for info in build_universe(1, 1000)]
    for market in markets:
        market.step(OPEN_DAY, TradingPhase.CONTINUOUS)
    started = time.perf_counter()
    for step in range(1, 4):
        for market in markets:
            market.step(OPEN_DAY + step * INTERVAL_MS, TradingPhase.CONTINUOUS)
    per_snapshot = (time.perf_counter() - started) / (3 * len(markets))
    assert per_snapshot < 150e-6, f"{per_snapshot * 1e6:.1f} us per snapshot"


def test_an_index_has_a_level_but_no_book_and_no_limits() -> None:
    info = next(i for i in build_universe(42, 300) if i.symbol == "000300.SH")
    market = SymbolMarket(info, seed=42)
    snapshots = list(real_day(market))
    assert market.bookless
    assert snapshots
    for snapshot in snapshots:
        quote = snapshot.quote
        assert (quote["limit_up"], quote["limit_down"]) == (0.0, 0.0)
        assert quote["bids"] == quote["asks"] == []
        assert quote["bid_price"] == 0.0
        assert 3000 < quote["last_price"] < 5000
        QuoteData.model_validate(quote)
    assert snapshots[-1].quote["volume"] > 0


def test_an_etf_trades_on_a_thousandth_grid_within_its_band() -> None:
    info = next(i for i in build_universe(42, 300) if i.symbol == "159915.SZ")
    market = SymbolMarket(info, seed=42)
    for snapshot in real_day(market):
        quote = snapshot.quote
        assert (quote["limit_up"], quote["limit_down"]) == (2.526, 1.684)  # ChiNext ETF: 20 %
        for price in filter(None, prices_of(snapshot)):  # 0: no open or low yet
            assert price == round_to_tick(price, 0.001)
            assert 1.684 <= price <= 2.526


def test_a_new_listing_trades_without_limits_for_five_days_then_has_them() -> None:
    today = datetime.fromtimestamp(OPEN_DAY / 1000, SHANGHAI).date()
    info = next(i for i in build_universe(42, 5400, today=today) if i.listed is not None)
    market = SymbolMarket(info, seed=42)
    limits = []
    for day in range(6):  # Friday, then Monday to Friday: the weekend does not count
        for snapshot in real_day(market, day=day + 2 * (day >= 1)):
            limits.append((day, snapshot.quote["limit_up"]))
    by_day = dict(limits)
    assert [by_day[d] for d in range(5)] == [0.0] * 5
    assert by_day[5] > 0  # the sixth trading day has the board's band
    assert by_day[5] == limit_prices(market.info.prev_close, info.board)[0]
