"""A-share symbol rules: format, market, board, kind and price-limit band. Pure functions.

Price limits (涨跌幅限制): main board ±10 % (ST and *ST ±5 %), ChiNext and STAR ±20 %, BJ
±30 %; ETFs and LOFs ±10 % (±20 % for those tracking ChiNext or STAR indices: the terminal's
own limits say so); indices have none; a new listing has none for its first trading days
(five on SH/SZ since the 2023 registration reform, the first day on BJ). No limit is written
as limit_up = limit_down = 0.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

# [0-9], not \d: \d also matches other scripts' digits ("６００００0.SH").
SYMBOL_RE = re.compile(r"^([0-9]{6})\.(SH|SZ|BJ)$")
MARKET_WILDCARD_RE = re.compile(r"^\*\.(SH|SZ|BJ)$")


class Market(StrEnum):
    SH = "SH"
    SZ = "SZ"
    BJ = "BJ"


class Kind(StrEnum):
    """What an instrument is; decides whether it has a book and a price limit."""

    STOCK = "stock"
    INDEX = "index"  # no book, no trades, no limits
    ETF = "etf"  # 0.001 tick
    LOF = "lof"  # listed open-ended fund, 0.001 tick


class Board(StrEnum):
    """Listing board; decides the daily price-limit band (funds and indices: their market's
    board, ``main`` on SH/SZ, ``bj`` on BJ)."""

    MAIN = "main"
    CHINEXT = "chinext"  # 创业板, 300xxx/301xxx
    STAR = "star"  # 科创板, 688xxx/689xxx
    BJ = "bj"  # 北交所


LIMIT_PCT: dict[Board, Decimal] = {
    Board.MAIN: Decimal("0.10"),
    Board.CHINEXT: Decimal("0.20"),
    Board.STAR: Decimal("0.20"),
    Board.BJ: Decimal("0.30"),
}
ST_LIMIT_PCT = Decimal("0.05")
FUND_LIMIT_PCT = Decimal("0.10")
# Trading days from the listing day (day 1) that have no price limit.
NEW_LISTING_FREE_DAYS: dict[Board, int] = {
    Board.MAIN: 5,
    Board.CHINEXT: 5,
    Board.STAR: 5,
    Board.BJ: 1,
}
FUND_TICK = 0.001
STOCK_TICK = 0.01

# Code prefixes per market of the instruments that are not stocks.
_INDEX_PREFIXES = {"SH": ("000",), "SZ": ("399",), "BJ": ("899",)}
_ETF_PREFIXES = {"SH": ("510", "511", "512", "513", "515", "516", "517", "518", "560",
                        "561", "562", "563", "588", "589"),
                 "SZ": ("159",)}  # fmt: skip
_LOF_PREFIXES = {"SH": ("501", "502", "506"), "SZ": ("16",)}


def is_symbol(text: str) -> bool:
    # fullmatch: ``$`` alone would also accept a trailing newline ("600000.SH\n").
    return SYMBOL_RE.fullmatch(text) is not None


def is_market_wildcard(text: str) -> bool:
    return MARKET_WILDCARD_RE.fullmatch(text) is not None


def board_of(symbol: str) -> Board:
    code, market = symbol.split(".")
    if market == Market.BJ:
        return Board.BJ
    if code.startswith(("300", "301")):
        return Board.CHINEXT
    if code.startswith(("688", "689")):
        return Board.STAR
    return Board.MAIN


def kind_of(symbol: str) -> Kind:
    """The kind by code range (a terminal's own classification is better when it has one)."""
    code, market = symbol.split(".")
    if code.startswith(_INDEX_PREFIXES.get(market, ())):
        return Kind.INDEX
    if code.startswith(_ETF_PREFIXES.get(market, ())):
        return Kind.ETF
    if code.startswith(_LOF_PREFIXES.get(market, ())):
        return Kind.LOF
    return Kind.STOCK


def default_tick(kind: Kind) -> float:
    return FUND_TICK if kind in (Kind.ETF, Kind.LOF) else STOCK_TICK


def has_price_limit(kind: Kind, board: Board, listing_day: int | None = None) -> bool:
    """False for an index, and for a stock in its first days (``listing_day`` 1 = listed
    today; None: listed long ago)."""
    if kind is Kind.INDEX:
        return False
    if kind is Kind.STOCK and listing_day is not None:
        return listing_day > NEW_LISTING_FREE_DAYS[board]
    return True


def limit_pct(kind: Kind, board: Board, *, st: bool = False) -> Decimal:
    """The band's percent for an instrument that has one."""
    if kind in (Kind.ETF, Kind.LOF):
        return FUND_LIMIT_PCT
    return ST_LIMIT_PCT if st and board is Board.MAIN else LIMIT_PCT[board]


def allowed_limit_pcts(kind: Kind, board: Board) -> frozenset[Decimal]:
    """Every band an instrument of this kind and board may show (0: none), e.g. to check a
    source's quotes without knowing its ST list or listing dates."""
    if kind is Kind.INDEX:
        return frozenset({Decimal(0)})
    if kind in (Kind.ETF, Kind.LOF):
        return frozenset({FUND_LIMIT_PCT, LIMIT_PCT[Board.CHINEXT]})
    pcts = {LIMIT_PCT[board], Decimal(0)}  # 0: a new listing
    if board is Board.MAIN:
        pcts.add(ST_LIMIT_PCT)
    return frozenset(pcts)


def round_to_tick(price: float | Decimal, tick: float | Decimal = Decimal("0.01")) -> float:
    """Round half-up to the price tick and return a float with no binary noise.

    ``round_to_tick(11.370000000000001)`` is ``11.37``: the shortest repr of the
    nearest double, so JSON carries exactly the tick's decimals.
    """
    tick_d = Decimal(str(tick))
    steps = (Decimal(str(price)) / tick_d).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return float(steps * tick_d)


def limit_prices(
    prev_close: float,
    board: Board,
    *,
    st: bool = False,
    tick: float = 0.01,
    kind: Kind = Kind.STOCK,
    listing_day: int | None = None,
) -> tuple[float, float]:
    """(limit_up, limit_down) from the previous close, rounded half-up to the tick; (0, 0)
    for an instrument without a limit (an index, a stock in its first days)."""
    if not has_price_limit(kind, board, listing_day):
        return 0.0, 0.0
    return band_prices(prev_close, limit_pct(kind, board, st=st), tick)


def band_prices(prev_close: float, pct: Decimal, tick: float = 0.01) -> tuple[float, float]:
    """(up, down) of a ``pct`` band around ``prev_close``, rounded half-up to the tick."""
    base = Decimal(str(prev_close))
    return (
        round_to_tick(base * (1 + pct), tick),
        round_to_tick(base * (1 - pct), tick),
    )


def limits_fit_rule(symbol: str, prev_close: float, limit_up: float, limit_down: float) -> bool:
    """Whether a quote's limits are a band its kind and board allow (ST ±5 % and a new
    listing's none included; an index none only), within a tick of the rounding."""
    kind, board = kind_of(symbol), board_of(symbol)
    allowed = allowed_limit_pcts(kind, board)
    if limit_up == 0 and limit_down == 0:
        return Decimal(0) in allowed
    if prev_close <= 0:
        return True  # nothing to measure against
    tick = default_tick(kind)
    for pct in allowed - {Decimal(0)}:
        up, down = band_prices(prev_close, pct, tick)
        if abs(up - limit_up) <= tick * 1.01 and abs(down - limit_down) <= tick * 1.01:
            return True
    return False
