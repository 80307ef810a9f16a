from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest

from schemas import Board, Kind, Market, SymbolInfo, kind_of
from services.sim.universe import MAX_UNIVERSE, NAMED, build_universe

CODE_PATTERNS: dict[tuple[Market, Board], re.Pattern[str]] = {
    (Market.SH, Board.MAIN): re.compile(r"^60[0135]\d{3}$"),
    (Market.SH, Board.STAR): re.compile(r"^688\d{3}$"),
    (Market.SZ, Board.MAIN): re.compile(r"^00[012]\d{3}$"),
    (Market.SZ, Board.CHINEXT): re.compile(r"^30[01]\d{3}$"),
    (Market.BJ, Board.BJ): re.compile(r"^(43|83|87|92)\d{4}$"),
}
PCT = {Board.MAIN: "0.10", Board.CHINEXT: "0.20", Board.STAR: "0.20", Board.BJ: "0.30"}


def _limits(info: SymbolInfo) -> tuple[float, float]:
    pct = Decimal("0.05") if info.is_st and info.board is Board.MAIN else Decimal(PCT[info.board])
    prev = Decimal(str(info.prev_close))
    cent = Decimal("0.01")
    return (
        float((prev * (1 + pct)).quantize(cent, ROUND_HALF_UP)),
        float((prev * (1 - pct)).quantize(cent, ROUND_HALF_UP)),
    )


@pytest.fixture(scope="module")
def market() -> list[SymbolInfo]:
    return build_universe(42, 5400)


def test_deterministic_per_seed_and_small_is_a_prefix(market: list[SymbolInfo]) -> None:
    assert build_universe(42, 5400) == market
    assert build_universe(42, 300) == market[:300]
    assert build_universe(7, 300) != market[:300]


def test_named_symbols_come_first_with_their_names() -> None:
    assert [i.symbol for i in build_universe(1, 3)] == ["600000.SH", "000001.SZ", "600519.SH"]
    names = {info.symbol: info.name for info in build_universe(1, 300)}
    assert names["600000.SH"] == "浦发银行"
    assert names["000001.SZ"] == "平安银行"
    assert names["600519.SH"] == "贵州茅台"
    assert names["300750.SZ"] == "宁德时代"
    assert names["688981.SH"] == "中芯国际"
    assert names["430047.BJ"] == "诺思兰德"
    assert len(NAMED) >= 33
    assert {(m, b) for m, b in ((i.market, i.board) for i in build_universe(1, len(NAMED)))} == set(
        CODE_PATTERNS
    ), "the named symbols cover every board"


@pytest.mark.parametrize("size", [300, 5400])
def test_sizes_are_unique(size: int, market: list[SymbolInfo]) -> None:
    universe = market[:size]
    assert len(universe) == size
    assert len({i.symbol for i in universe}) == size
    assert len({i.name for i in universe}) == size


def test_codes_valid_per_board(market: list[SymbolInfo]) -> None:
    for info in market:
        if info.kind is not Kind.STOCK:
            continue
        assert info.symbol == f"{info.code}.{info.market.value}"
        assert CODE_PATTERNS[info.market, info.board].match(info.code), info
    boards = {info.board for info in market}
    assert boards == set(Board)
    assert any(info.code.startswith("92") for info in market)


def test_prices_and_limits_per_board_and_st(market: list[SymbolInfo]) -> None:
    st = [info for info in market if info.is_st]
    assert 20 < len(st) < 300
    assert all(info.name.startswith(("ST", "*ST")) for info in st)
    stocks = [info for info in market if info.kind is Kind.STOCK and info.listed is None]
    for index, info in enumerate(stocks):
        assert info.price_tick == 0.01
        assert 3.0 <= info.prev_close <= 200.0 or index < len(NAMED)
        assert (info.limit_up, info.limit_down) == _limits(info), info
        assert len(repr(info.prev_close).split(".")[1]) <= 2
    maotai = next(i for i in market if i.symbol == "600519.SH")
    assert 1000 < maotai.prev_close < 2500
    spdb = market[0]
    assert (spdb.limit_up, spdb.limit_down) == (11.22, 9.18)  # 10.20 +-10 %
    an_st = st[0]
    assert an_st.limit_up == pytest.approx(an_st.prev_close * 1.05, abs=0.006)


def test_size_bounds() -> None:
    assert build_universe(1, 0) == []
    assert len(build_universe(1, MAX_UNIVERSE)) == MAX_UNIVERSE
    with pytest.raises(ValueError, match="between"):
        build_universe(1, MAX_UNIVERSE + 1)


def test_the_major_indices_and_funds_are_in_the_default_universe_with_real_codes() -> None:
    universe = {info.symbol: info for info in build_universe(42, 300)}  # the default size
    indices = {
        "000001.SH": "上证指数", "000300.SH": "沪深300", "399001.SZ": "深证成指",
        "399006.SZ": "创业板指", "000688.SH": "科创50", "000016.SH": "上证50",
        "000905.SH": "中证500",
    }  # fmt: skip
    for symbol, name in indices.items():
        info = universe[symbol]
        assert (info.name, info.kind, info.limit_up, info.limit_down) == (name, Kind.INDEX, 0, 0)
    funds = {"510300.SH": "沪深300ETF", "510050.SH": "上证50ETF", "159915.SZ": "创业板ETF",
             "588000.SH": "科创50ETF"}  # fmt: skip
    for symbol, name in funds.items():
        info = universe[symbol]
        assert (info.name, info.kind, info.price_tick) == (name, Kind.ETF, 0.001)
        assert len(repr(info.limit_up).split(".")[1]) <= 3
    assert (universe["510300.SH"].limit_up, universe["510300.SH"].limit_down) == (4.303, 3.521)
    assert (universe["159915.SZ"].limit_up, universe["159915.SZ"].limit_down) == (2.526, 1.684)
    lofs = [i for i in universe.values() if i.kind is Kind.LOF]
    assert lofs
    assert all(i.price_tick == 0.001 for i in lofs)
    assert universe["000001.SZ"].name == "平安银行"
    assert universe["000001.SZ"].kind is Kind.STOCK
    for info in universe.values():
        assert kind_of(info.symbol) is info.kind  # the code ranges agree with the names


def test_new_listings_have_no_limits_on_their_first_day() -> None:
    today = date(2026, 11, 20)
    universe = build_universe(42, 5400, today=today)
    fresh = [i for i in universe if i.listed is not None]
    assert 5 < len(fresh) < 60
    assert all(i.listed == today and (i.limit_up, i.limit_down) == (0, 0) for i in fresh)
    assert all(i.kind is Kind.STOCK and not i.is_st for i in fresh)
